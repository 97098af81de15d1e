r"""Teacher-student problems with biases and/or different teacher and student activations.

Setting (loss factor 1/2, input $x \sim N(0, I_d)$, "erf" is erf(z/sqrt 2)):
student $f(x) = \sum_i a_i\,s(w_i\cdot x + \beta_i)$, teacher
$f^*(x) = \sum_r b_r\,t(v_r\cdot x + \beta^*_r)$, loss $L = \tfrac12E[(f - f^*)^2]$.
Pre-activations of units $p, q$ are jointly Gaussian with means
$(\beta_p, \beta_q)$ and covariance from the Gram matrix $G = UU^\top$, so

.. math:: L = \tfrac12\sum_i a_i^2\varphi_s(G_{ii}, \beta_i)
   + \sum_{i<j} a_ia_j\kappa_{ss}(G_{ii}, G_{jj}, G_{ij}, \beta_i, \beta_j)
   - \sum_{i,r} a_ib_r\kappa_{st}(G_{ii}, G_{rr}, G_{ir}, \beta_i, \beta^*_r) + L_{tt},

with the kernels with means of :mod:`symland.kernels.means` ($\kappa_{st}(a, b, c, \mu_1, \mu_2) = E[s(u)t(v)]$,
$\varphi_s(t, m) = E[s(u)^2]$, $u \sim N(m, t)$).

Gradient and Hessian: every term is $P(o)\,\kappa(y(x))$ with $P$ a product of
output weights and $y = (G_{ii}, G_{jj}, G_{ij}, \beta_i, \beta_j)$ (or
$(G_{ii}, \beta_i)$ for $\varphi$) a quadratic function of the term's local
parameters $x = (w_i, \beta_i, a_i, w_j, \beta_j, a_j)$; the chain rule gives
$\nabla_x\kappa = J^\top\kappa_y$ and
$\nabla_x^2\kappa = J^\top\kappa_{yy}J + \sum_k\kappa_{y_k}\nabla_x^2y_k$
($\nabla^2 G_{ii} = 2I$, $\nabla^2_{w_iw_j}G_{ij} = I$), and the product rule
adds the output weights.  The local gradients and Hessians of all terms are
computed at once (vectorised over terms) and scattered into $\theta$.  One
assembly serves float64, mpmath object arrays and python-flint balls
(:class:`~symland.numerics.ball.BallPrecision`: the closed forms with means compiled to ``arb``,
:func:`~symland.kernels.means.ball_mean_partials_evaluator`; quadrature pairs and cross kernels
raise :class:`~symland.errors.NoClosedFormError`).

Parameters: ``theta = [W.ravel(), a, beta]`` ($a$ omitted when the output
weights are fixed, $\beta$ omitted when ``bias=False``).

Student-teacher kernels: the closed form with means of :mod:`symland.kernels.means`
when the pair has one; otherwise, with zero means (no trained biases and zero
teacher biases), the cross kernels of :mod:`symland.kernels.cross` (closed form or its
own quadrature, which allows kinked activations); otherwise quadrature with
means (:func:`symland.kernels.means.mean_kernel_method`): one-dimensional, split at the
kink, when either activation has a closed-form mean function (relu, selu, erf,
... with any partner, kinked or not), two-dimensional on classical derivatives
for two smooth activations without one (tanh, sigmoid, softplus, silu).

Limitations: no precision boosting near aligned pairs (the $\sqrt D$ denominators
of kinked kernels with means lose about $\tfrac12\log_{10}(ab/D)$ digits, and
exactly aligned pairs raise :class:`~symland.errors.DomainError`); a kinked
user-defined activation without a closed-form mean function, paired with a
partner that has none either, has no path (quadrature would need classical
derivatives) and raises :class:`~symland.errors.NoClosedFormError`; no
:meth:`~symland.problems.teacher_student.TeacherStudent.gram_gradient`.
"""

from __future__ import annotations

import numpy as np
import sympy

from ..errors import DomainError, NoClosedFormError
from ..kernels import means as _means
from ..kernels.activation import Activation
from ..kernels.cross import cross_method, cross_partial_evaluator
from ..kernels.registry import activation
from ..numerics.ball import may_be_zero
from ..numerics.precision import Precision
from ..numerics.symbols import z
from .gram import WHAT, Evaluation, finite, gram_block, per_precision
from .params import Layout

__all__ = ["MeansAssembly", "pair_kernel_source"]

#: first- and second-order multi-indices in (a, b, c, mu1, mu2)
_E = [tuple(int(k == j) for k in range(5)) for j in range(5)]
_PAIR2 = [(k, l) for k in range(5) for l in range(k, 5)]
_DIAG1 = [(1, 0), (0, 1)]
_DIAG2 = [((2, 0), 0, 0), ((1, 1), 0, 1), ((0, 2), 1, 1)]


def _add(x, y):
    return tuple(u + v for u, v in zip(x, y))


def _uses_cross(s, t, zero_means: bool) -> bool:
    """True when the pair (s, t) takes :mod:`symland.kernels.cross` (zero means, no closed form with means)."""
    return zero_means and _means.mean_kernel_expr(s, t) is None


def pair_kernel_source(s, t, zero_means: bool) -> str:
    """Which path the pair (s, t) takes in a problem.

    ``"closed form with means"`` (:mod:`symland.kernels.means`); with zero means and no
    such form, ``"symland.kernels.cross: <its method>"``; else ``"1-D quadrature with means"``
    (one activation has a closed-form mean function; kinks allowed) or
    ``"2-D quadrature with means"`` (smooth activations only), see
    :func:`symland.kernels.means.mean_kernel_method`.
    """
    s, t = activation(s), activation(t)
    if _means.mean_kernel_expr(s, t) is not None:
        return "closed form with means"
    if zero_means:
        return f"symland.kernels.cross: {cross_method(s, t)}"
    return f"{_means.mean_kernel_method(s, t)} with means"


class MeansAssembly:
    r"""Loss, gradient and Hessian with biases and/or a teacher activation $t$ other than $s$.

    ``teacher_bias`` $\beta^*$ (k,); ``layout`` is ``theta = [W.ravel(), a (if trained),
    beta (if bias)]``.  A zero-norm teacher neuron is the constant $t(\beta^*_r)$: dropped from
    the sums when that constant is 0, refused otherwise (constant teacher units are not
    supported).  ``V``, ``b``, ``tb``, ``k`` are the teacher units kept.
    """

    def __init__(self, act: Activation, teacher_act: Activation, teacher_weights, teacher_output, teacher_bias,
                 layout: Layout, student_output):
        self.activation, self.teacher_activation = act, teacher_act
        V, b, tb = teacher_weights, teacher_output, teacher_bias
        zero = np.linalg.norm(V, axis=1) == 0
        for r in np.flatnonzero(zero):
            # a zero-norm teacher neuron is the constant t(beta*_r): allowed only when that constant is 0
            val = teacher_act.expr.subs(z, sympy.nsimplify(tb[r]))
            if sympy.simplify(val) != 0:
                raise DomainError(
                    f"argument teacher_weights: teacher neuron {r} has zero norm, so it is the constant "
                    f"t({tb[r]}) = {val}; constant teacher units are not supported (give it a nonzero weight)")
        keep = ~zero
        self.V, self.b, self.tb, self.k = V[keep], b[keep], tb[keep], int(np.count_nonzero(keep))
        self.layout = layout
        self.n, self.d = layout.n, layout.d
        self.student_output = student_output
        self._zero_means_st = not layout.bias and not np.any(self.tb != 0)
        self._teacher_constant = {}

    # ------------------------------------------------------------------
    def _index_map(self):
        """Global parameter index of (w_i[0..d-1], beta_i, a_i) per student; N (= dump slot) if fixed."""
        n, d, N = self.n, self.d, self.layout.size
        off = self.layout.offsets()
        idx = np.full((n, d + 2), N, dtype=np.intp)
        idx[:, :d] = np.arange(n * d).reshape(n, d)
        if "a" in off:
            idx[:, d + 1] = np.arange(N)[off["a"]]
        if "beta" in off:
            idx[:, d] = np.arange(N)[off["beta"]]
        return idx

    def teacher(self, prec: Precision):
        """Teacher weights, output weights and biases as arrays of ``prec`` (mpf at the working precision)."""
        if not prec.mp:
            return self.V, self.b, self.tb
        return tuple(prec.array(x, name) for x, name in ((self.V, "teacher_weights"), (self.b, "teacher_output"),
                                                          (self.tb, "teacher_bias")))

    def _parts(self, theta, prec):
        parts = self.layout.split(self.layout.check(theta, prec))
        a = parts.get("a")
        if a is None:
            a = prec.array(self.student_output, "student_output") if prec.mp else self.student_output
        beta = parts["beta"] if "beta" in parts else prec.zeros(self.n)
        return (parts["W"], a, beta) + self.teacher(prec)

    # -- kernel values on batches of pairs -----------------------------
    def _pair_values(self, s, t, order, args, prec, zero_means, what, units):
        """Kernel value, gradient (m, 5) and Hessian (m, 5, 5) in (a, b, c, mu1, mu2) for a batch of pairs."""
        mp = prec.mp
        m = len(args[0])
        if prec.ball and _uses_cross(s, t, zero_means):
            raise NoClosedFormError(f"the cross kernel of ({s.name}, {t.name}) has no ball-arithmetic form in "
                                    "symland (no closed form with means for the pair)")
        if _uses_cross(s, t, zero_means):
            def ev(index):
                if index[3] or index[4]:  # means are fixed at zero: these partials never enter
                    return prec.zeros(m)
                return cross_partial_evaluator(s, t, index[:3], mp)(*args[:4])
        else:
            wanted = [(0, 0, 0, 0, 0)] + (list(_E) if order >= 1 else []) + (
                [_add(_E[k], _E[l]) for k, l in _PAIR2] if order >= 2 else [])
            evaluator = (_means.ball_mean_partials_evaluator(s, t, tuple(wanted)) if prec.ball
                         else _means.mean_partials_evaluator(s, t, tuple(wanted), mp))
            got = dict(zip(wanted, evaluator(*args)))

            def ev(index):
                return got[index]

        def checked(index):
            v = np.array(ev(index), dtype=object if mp else float)
            ok = finite(v, mp)
            if not np.all(ok):
                p = int(np.flatnonzero(~ok)[0])
                A, B, G, D = (x[p] for x in args[:4])
                i, q = units[p]
                reason = ("zero norm" if may_be_zero(A) or may_be_zero(B) else
                          ("units that may be exactly aligned within the box" if prec.ball else
                           "exactly aligned units") + " (c**2 = a*b), where the kernel is singular"
                          if may_be_zero(D) else
                          "a non-finite kernel value")
                raise DomainError(f"cannot evaluate the {what}: kernel partial {index} of ({s.name}, {t.name}) "
                                  f"for {i} and {q}: {reason}")
            return v

        val = checked((0, 0, 0, 0, 0))
        g = H = None
        if order >= 1:
            g = prec.zeros((m, 5))
            for k in range(5):
                g[:, k] = checked(_E[k])
        if order >= 2:
            H = prec.zeros((m, 5, 5))
            for k, l in _PAIR2:
                H[:, k, l] = H[:, l, k] = checked(_add(_E[k], _E[l]))
        return val, g, H

    def _diag_values(self, s, order, t, mu, prec, what):
        mp = prec.mp

        def ev(index):
            evaluator = (_means.ball_mean_diagonal_evaluator(s, index) if prec.ball
                         else _means.mean_diagonal_evaluator(s, index, mp))
            v = np.array(evaluator(t, mu), dtype=object if mp else float)
            ok = finite(v, mp)
            if not np.all(ok):
                i = int(np.flatnonzero(~ok)[0])
                raise DomainError(f"cannot evaluate the {what}: the diagonal E[s(u)^2] of {s.name} (partial "
                                  f"{index}) is not finite for unit {i} (zero norm?)")
            return v

        val = ev((0, 0))
        m = len(t)
        g = H = None
        if order >= 1:
            g = prec.zeros((m, 2))
            for k, idx in enumerate(_DIAG1):
                g[:, k] = ev(idx)
        if order >= 2:
            H = prec.zeros((m, 2, 2))
            for idx, k, l in _DIAG2:
                H[:, k, l] = H[:, l, k] = ev(idx)
        return val, g, H

    # -- local chain rule ------------------------------------------------
    @staticmethod
    def _local(val, g, H, J, ident, P, dP, d2P, order, prec):
        """Value, gradient and Hessian in local variables of $P\\,\\kappa(y(x))$.

        ``J`` (m, Y, L): Jacobian of y; ``ident``: list of (k, rows, cols, scale)
        with $\\nabla^2 y_k$ = scale * identity on the (rows, cols) block.
        """
        out = [P * val]
        if order == 0:
            return out
        gx = np.matmul(J.transpose(0, 2, 1), g[:, :, None])[:, :, 0]  # (m, L)
        out.append(P[:, None] * gx + val[:, None] * dP)
        if order == 1:
            return out
        Hx = np.matmul(np.matmul(J.transpose(0, 2, 1), H), J)
        for k, rows, cols, scale in ident:
            for r, c in zip(range(*rows), range(*cols)):
                Hx[:, r, c] += scale * g[:, k]
        Hx = P[:, None, None] * Hx + dP[:, :, None] * gx[:, None, :] + gx[:, :, None] * dP[:, None, :]
        Hx = Hx + val[:, None, None] * d2P
        out.append(Hx)
        return out

    def _scatter(self, idx, local, grad, hess, order):
        if order >= 1:
            np.add.at(grad, idx, local[1])
        if order >= 2:
            np.add.at(hess, (idx[:, :, None], idx[:, None, :]), local[2])

    # ------------------------------------------------------------------
    def teacher_constant(self, prec: Precision):
        r"""$L_{tt} = \tfrac12\sum_r b_r^2\varphi_t(|v_r|^2, \beta^*_r) + \sum_{r<q} b_rb_q\kappa_{tt}$ at the working
        precision of ``prec`` (computed in its context; cached per precision)."""
        return per_precision(self._teacher_constant, prec, self._teacher_sum)

    def _teacher_sum(self, prec: Precision):
        k, t = self.k, self.teacher_activation
        V, bt, tb = self.teacher(prec)
        total = prec.zeros(())[()]
        if k:
            gt = np.array([sum(x * x for x in row) for row in V], dtype=V.dtype)
            dv = self._diag_values(t, 0, gt, tb, prec, "loss")[0]
            total = total + 0.5 * sum(bt[r] ** 2 * dv[r] for r in range(k))
            if k > 1:
                A, B, G, D = gram_block(V, np.arange(k), prec)
                rr, qq = np.triu_indices(k, 1)
                args = (A[rr, qq], B[rr, qq], G[rr, qq], D[rr, qq], tb[rr], tb[qq])
                units = [(f"teacher neuron {r}", f"teacher neuron {q}") for r, q in zip(rr, qq)]
                vals = self._pair_values(t, t, 0, args, prec, not np.any(self.tb != 0), "loss", units)[0]
                total = total + sum(bt[r] * bt[q] * v for r, q, v in zip(rr, qq, vals))
        return total

    def evaluate(self, theta, prec: Precision, order: int) -> Evaluation:
        """Loss (order 0), + gradient (1), + Hessian (2) by the local chain rule of the module docstring."""
        what = WHAT[order]
        with prec:
            W, a, beta, V, bt, tb = self._parts(theta, prec)
            n, d, k, N = self.n, self.d, self.k, self.layout.size
            U = np.concatenate([W, V], axis=0)
            A, B, G, D = gram_block(U, np.arange(n), prec)
            idx = self._index_map()
            grad = prec.zeros(N + 1)
            hess = prec.zeros((N + 1, N + 1)) if order >= 2 else None
            loss = self.teacher_constant(prec)
            s, tact = self.activation, self.teacher_activation
            one = prec.num(1)
            # --- self terms: 1/2 a_i^2 phi(|w_i|^2, beta_i); local x = (w_i, beta_i, a_i)
            L1 = d + 2
            tii = np.array([A[i, i] for i in range(n)], dtype=A.dtype)
            val, g, H = self._diag_values(s, order, tii, beta, prec, what)
            J = prec.zeros((n, 2, L1))
            J[:, 0, :d] = 2 * W
            J[:, 1, d] = one
            P = 0.5 * a * a
            dP = prec.zeros((n, L1))
            dP[:, d + 1] = a
            d2P = prec.zeros((n, L1, L1))
            d2P[:, d + 1, d + 1] = one
            loc = self._local(val, g, H, J, [(0, (0, d), (0, d), 2)], P, dP, d2P, order, prec)
            loss = loss + loc[0].sum()
            self._scatter(idx, loc, grad, hess, order)
            # --- student-student pairs i < j: a_i a_j kappa_ss; x = (w_i, beta_i, a_i, w_j, beta_j, a_j)
            if n > 1:
                ii, jj = np.triu_indices(n, 1)
                m = len(ii)
                args = (A[ii, jj], B[ii, jj], G[ii, jj], D[ii, jj], beta[ii], beta[jj])
                units = [(f"student neuron {i}", f"student neuron {j}") for i, j in zip(ii, jj)]
                val, g, H = self._pair_values(s, s, order, args, prec, not self.layout.bias, what, units)
                L2 = 2 * L1
                J = prec.zeros((m, 5, L2))
                J[:, 0, :d] = 2 * W[ii]
                J[:, 1, L1:L1 + d] = 2 * W[jj]
                J[:, 2, :d] = W[jj]
                J[:, 2, L1:L1 + d] = W[ii]
                J[:, 3, d] = one
                J[:, 4, L1 + d] = one
                P = a[ii] * a[jj]
                dP = prec.zeros((m, L2))
                dP[:, d + 1] = a[jj]
                dP[:, L1 + d + 1] = a[ii]
                d2P = prec.zeros((m, L2, L2))
                d2P[:, d + 1, L1 + d + 1] = one
                d2P[:, L1 + d + 1, d + 1] = one
                ident = [(0, (0, d), (0, d), 2), (1, (L1, L1 + d), (L1, L1 + d), 2),
                         (2, (0, d), (L1, L1 + d), 1), (2, (L1, L1 + d), (0, d), 1)]
                loc = self._local(val, g, H, J, ident, P, dP, d2P, order, prec)
                loss = loss + loc[0].sum()
                self._scatter(np.concatenate([idx[ii], idx[jj]], axis=1), loc, grad, hess, order)
            # --- student-teacher pairs: -a_i b_r kappa_st; x = (w_i, beta_i, a_i)
            if k:
                ii, rr = (x.ravel() for x in np.meshgrid(np.arange(n), np.arange(k), indexing="ij"))
                m = len(ii)
                qq = n + rr
                args = (A[ii, qq], B[ii, qq], G[ii, qq], D[ii, qq], beta[ii], tb[rr])
                units = [(f"student neuron {i}", f"teacher neuron {r}") for i, r in zip(ii, rr)]
                val, g, H = self._pair_values(s, tact, order, args, prec, self._zero_means_st, what, units)
                J = prec.zeros((m, 5, L1))
                J[:, 0, :d] = 2 * W[ii]
                J[:, 2, :d] = V[rr]
                J[:, 3, d] = one
                P = -a[ii] * bt[rr]
                dP = prec.zeros((m, L1))
                dP[:, d + 1] = -bt[rr]
                d2P = prec.zeros((m, L1, L1))
                loc = self._local(val, g, H, J, [(0, (0, d), (0, d), 2)], P, dP, d2P, order, prec)
                loss = loss + loc[0].sum()
                self._scatter(idx[ii], loc, grad, hess, order)
            return Evaluation(prec.finalize(loss), None if order < 1 else prec.finalize(grad[:N]),
                              None if order < 2 else prec.finalize(hess[:N, :N]))

