r"""Teacher-student problems with biases and/or different teacher and student activations.

Setting (``DESIGN.md`` conventions, extended): input $x \sim N(0, I_d)$,
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
assembly serves float64 and mpmath object arrays.

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
derivatives) and raises :class:`~symland.errors.NoClosedFormError`.
``unpack`` returns three arrays,
so helpers written for ``(W, a)`` (symmetry deduplication) do not see biases.
"""

from __future__ import annotations

import mpmath
import numpy as np
import sympy

from ..kernels import means as _bias
from ..kernels.activation import Activation
from ..kernels.registry import activation
from ..errors import DomainError, ShapeError
from .teacher_student import (
    TeacherStudent,
    _as_float_array,
    _as_mp_array,
    _Precision,
)

__all__ = ["GeneralTeacherStudent"]

#: first- and second-order multi-indices in (a, b, c, mu1, mu2)
_E = [tuple(int(k == j) for k in range(5)) for j in range(5)]
_PAIR2 = [(k, l) for k in range(5) for l in range(k, 5)]
_DIAG1 = [(1, 0), (0, 1)]
_DIAG2 = [((2, 0), 0, 0), ((1, 1), 0, 1), ((0, 2), 1, 1)]


def _add(x, y):
    return tuple(u + v for u, v in zip(x, y))


def _mixed_evaluator(s: Activation, t: Activation):
    """``index -> evaluator`` of zero-mean cross-kernel partials from :mod:`symland.kernels.cross`, or None."""
    try:
        from ..kernels.cross import cross_partial_evaluator
    except ImportError:  # the mixed-activation module is optional
        return None
    return cross_partial_evaluator


def _mixed_method(s, t):
    try:
        from ..kernels.cross import cross_method
    except ImportError:
        return "quadrature"
    return cross_method(s, t)


def pair_kernel_source(s, t, zero_means: bool) -> str:
    """Which path the pair (s, t) takes in a problem.

    ``"closed form with means"`` (:mod:`symland.kernels.means`); with zero means and no
    such form, ``"symland.kernels.cross: <its method>"``; else ``"1-D quadrature with means"``
    (one activation has a closed-form mean function; kinks allowed) or
    ``"2-D quadrature with means"`` (smooth activations only), see
    :func:`symland.kernels.means.mean_kernel_method`.
    """
    s, t = activation(s), activation(t)
    if _bias.mean_kernel_expr(s, t) is not None:
        return "closed form with means"
    if zero_means and _mixed_evaluator(s, t) is not None:
        return f"symland.kernels.cross: {_mixed_method(s, t)}"
    return f"{_bias.mean_kernel_method(s, t)} with means"


class GeneralTeacherStudent(TeacherStudent):
    r"""Teacher-student regression with trained biases and/or a different teacher activation.

    Parameters (beyond :class:`~symland.problems.teacher_student.TeacherStudent`)
    ----------
    bias : bool
        Train student biases $\beta$ (neurons $s(w_i\cdot x + \beta_i)$).
    teacher_activation : str or Activation, optional
        Teacher activation $t$ (default: the student's).
    teacher_bias : array (k,), optional
        Teacher biases $\beta^*$ (default zeros).

    Loss $L = \tfrac12E[(f - f^*)^2]$; ``theta = [W.ravel(), a, beta]``.
    """

    def __init__(self, activation_name, teacher_weights, teacher_output=None, n=None, train_output=True,
                 student_output=None, bias=False, teacher_activation=None, teacher_bias=None):
        super().__init__(activation_name, teacher_weights, teacher_output, n=n, train_output=train_output,
                         student_output=student_output)
        self.bias = bool(bias)
        self.teacher_activation = self.activation if teacher_activation is None else activation(teacher_activation)
        k = self.k
        tb = np.zeros(k) if teacher_bias is None else _as_float_array(teacher_bias, "teacher_bias", shape=(k,))
        self.teacher_bias = tb
        V, b = self.teacher_weights, self.teacher_output
        zero = np.linalg.norm(V, axis=1) == 0
        keep = ~zero
        for r in np.flatnonzero(zero):
            # a zero-norm teacher neuron is the constant t(beta*_r): allowed only when that constant is 0
            val = self.teacher_activation.expr.subs(_bias.z, sympy.nsimplify(tb[r]))
            if sympy.simplify(val) != 0:
                raise DomainError(
                    f"argument teacher_weights: teacher neuron {r} has zero norm, so it is the constant "
                    f"t({tb[r]}) = {val}; constant teacher units are not supported (give it a nonzero weight)")
        self._V, self._b, self._tb, self._k = V[keep], b[keep], tb[keep], int(np.count_nonzero(keep))
        self._zero_means_st = not self.bias and not np.any(self._tb != 0)

    # ------------------------------------------------------------------
    @property
    def num_params(self) -> int:
        """Length of ``theta = [W.ravel(), a (if trained), beta (if bias)]``."""
        return self.n * self.d + (self.n if self.train_output else 0) + (self.n if self.bias else 0)

    def __repr__(self):
        return (f"GeneralTeacherStudent({self.activation.name!r}, teacher_activation="
                f"{self.teacher_activation.name!r}, n={self.n}, k={self.k}, d={self.d}, "
                f"train_output={self.train_output}, bias={self.bias})")

    def pack(self, W, a=None, beta=None):
        """Flat ``theta`` from ``W`` (n, d), output weights ``a`` (n,) and biases ``beta`` (n,)."""
        theta = super().pack(W, a)
        if self.bias:
            if beta is None:
                raise ShapeError("argument beta (student biases) is required when bias=True")
            return np.concatenate([theta, _as_float_array(beta, "beta", shape=(self.n,))])
        if beta is not None and np.any(_as_float_array(beta, "beta", shape=(self.n,)) != 0):
            raise ShapeError("argument beta must be omitted (or zero) when bias=False")
        return theta

    def unpack(self, theta):
        """``(W, a, beta)`` from ``theta`` (fixed ``a`` / zero ``beta`` when not trained)."""
        theta = self._check_theta(theta, None)
        nd = self.n * self.d
        W = theta[:nd].reshape(self.n, self.d)
        off = nd + (self.n if self.train_output else 0)
        a = theta[nd:off].copy() if self.train_output else self.student_output.copy()
        beta = theta[off:off + self.n].copy() if self.bias else np.zeros(self.n)
        return W, a, beta

    def gram_gradient(self, theta, dps=None):
        raise NotImplementedError("gram_gradient is defined for problems without biases and with one activation")

    # ------------------------------------------------------------------
    def _index_map(self):
        """Global parameter index of (w_i[0..d-1], beta_i, a_i) per student; N (= dump slot) if fixed."""
        n, d, N = self.n, self.d, self.num_params
        nd = n * d
        idx = np.full((n, d + 2), N, dtype=np.intp)
        idx[:, :d] = np.arange(nd).reshape(n, d)
        if self.train_output:
            idx[:, d + 1] = nd + np.arange(n)
        if self.bias:
            idx[:, d] = nd + (n if self.train_output else 0) + np.arange(n)
        return idx

    def _parts(self, theta, prec):
        theta = self._check_theta(theta, prec)
        n, d = self.n, self.d
        nd = n * d
        W = theta[:nd].reshape(n, d)
        off = nd + (n if self.train_output else 0)
        if prec.mp:
            V = _as_mp_array(self._V, "teacher_weights", (self._k, d))
            bt = _as_mp_array(self._b, "teacher_output", (self._k,))
            tb = _as_mp_array(self._tb, "teacher_bias", (self._k,))
            a = theta[nd:off] if self.train_output else _as_mp_array(self.student_output, "student_output", (n,))
            beta = theta[off:] if self.bias else prec.zeros(n)
        else:
            V, bt, tb = self._V, self._b, self._tb
            a = theta[nd:off] if self.train_output else self.student_output
            beta = theta[off:] if self.bias else np.zeros(n)
        return W, a, beta, V, bt, tb

    # -- kernel values on batches of pairs -----------------------------
    def _pair_values(self, s, t, order, args, prec, zero_means, what, units):
        """Kernel value, gradient (m, 5) and Hessian (m, 5, 5) in (a, b, c, mu1, mu2) for a batch of pairs."""
        mp = prec.mp
        m = len(args[0])
        if _bias.mean_kernel_expr(s, t) is None and zero_means and _mixed_evaluator(s, t) is not None:
            def ev(index):
                if index[3] or index[4]:  # means are fixed at zero: these partials never enter
                    return prec.zeros(m)
                return _mixed_evaluator(s, t)(s, t, index[:3], mp)(*args[:4])
        else:
            wanted = [(0, 0, 0, 0, 0)] + (list(_E) if order >= 1 else []) + (
                [_add(_E[k], _E[l]) for k, l in _PAIR2] if order >= 2 else [])
            got = dict(zip(wanted, _bias.mean_partials_evaluator(s, t, tuple(wanted), mp)(*args)))

            def ev(index):
                return got[index]

        def checked(index):
            v = np.array(ev(index), dtype=object if mp else float)
            ok = np.vectorize(mpmath.isfinite, otypes=[bool])(v) if mp else np.isfinite(v)
            if not np.all(ok):
                p = int(np.flatnonzero(~ok)[0])
                A, B, G, D = (x[p] for x in args[:4])
                i, q = units[p]
                reason = ("zero norm" if A == 0 or B == 0 else
                          "exactly aligned units (c**2 = a*b), where the kernel is singular" if D == 0 else
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
            v = np.array(_bias.mean_diagonal_evaluator(s, index, mp)(t, mu), dtype=object if mp else float)
            ok = np.vectorize(mpmath.isfinite, otypes=[bool])(v) if mp else np.isfinite(v)
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
    def _teacher_term(self, V, bt, tb, prec):
        key = prec.dps
        if key in self._teacher_constant:
            return self._teacher_constant[key]
        k, t = self._k, self.teacher_activation
        total = prec.zeros(())[()]
        if k:
            gt = np.array([sum(x * x for x in row) for row in V], dtype=V.dtype)
            dv = self._diag_values(t, 0, gt, tb, prec, "loss")[0]
            total = total + 0.5 * sum(bt[r] ** 2 * dv[r] for r in range(k))
            if k > 1:
                U = V
                A, B, G, D = self._gram(U, np.arange(k), prec)
                rr, qq = np.triu_indices(k, 1)
                args = (A[rr, qq], B[rr, qq], G[rr, qq], D[rr, qq], tb[rr], tb[qq])
                units = [(f"teacher neuron {r}", f"teacher neuron {q}") for r, q in zip(rr, qq)]
                vals = self._pair_values(t, t, 0, args, prec, not np.any(self._tb != 0), "loss", units)[0]
                total = total + sum(bt[r] * bt[q] * v for r, q, v in zip(rr, qq, vals))
        self._teacher_constant[key] = total
        return total

    def _evaluate(self, theta, dps, order):
        prec = _Precision(dps)
        what = ["loss", "gradient", "Hessian"][order]
        with prec:
            W, a, beta, V, bt, tb = self._parts(theta, prec)
            n, d, k, N = self.n, self.d, self._k, self.num_params
            U = np.concatenate([W, V], axis=0)
            A, B, G, D = self._gram(U, np.arange(n), prec)
            idx = self._index_map()
            grad = prec.zeros(N + 1)
            hess = prec.zeros((N + 1, N + 1)) if order >= 2 else None
            loss = self._teacher_term(V, bt, tb, prec)
            s, tact = self.activation, self.teacher_activation
            one = mpmath.mpf(1) if prec.mp else 1.0
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
                val, g, H = self._pair_values(s, s, order, args, prec, not self.bias, what, units)
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
            result = [prec.finalize(loss)]
            if order >= 1:
                result.append(prec.finalize(grad[:N]))
            if order >= 2:
                result.append(prec.finalize(hess[:N, :N]))
            return result

    # ------------------------------------------------------------------
    def loss(self, theta, dps=None):
        r"""$L = \tfrac12E[(f - f^*)^2]$: float, or mpmath number at ``dps`` digits."""
        return self._evaluate(theta, dps, 0)[0]

    def loss_and_gradient(self, theta, dps=None):
        """``(loss, gradient)`` from one evaluation of the kernels."""
        loss, grad = self._evaluate(theta, dps, 1)
        return loss, grad

    def gradient(self, theta, dps=None):
        r"""$\nabla_\theta L$, ``theta = [W.ravel(), a, beta]``."""
        return self._evaluate(theta, dps, 1)[1]

    def hessian(self, theta, dps=None):
        r"""$\nabla^2_\theta L$ by the local chain rule of the module docstring."""
        return self._evaluate(theta, dps, 2)[2]
