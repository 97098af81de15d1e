r"""The plain teacher-student assembly: loss, gradient and Hessian through the Gram matrix.

Setting: input $x \sim N(0, I_d)$, student $f(x) = \sum_{i=1}^n a_i s(w_i\cdot x)$, teacher
$f^*(x) = \sum_{r=1}^k b_r s(v_r\cdot x)$ (one activation, no biases; "erf" is
erf(z/sqrt 2)), loss $L = \tfrac12 E_x[(f(x) - f^*(x))^2]$.

Stack all units, $U = [W; V] \in \mathbb R^{P\times d}$ ($P = n + k$) with
signed output weights $\alpha = [a; -b]$, Gram matrix $G = UU^\top$.  Then

.. math:: L = \tfrac12 \sum_p \alpha_p^2\,\varphi(G_{pp})
            + \sum_{p<q} \alpha_p\alpha_q\,\kappa(G_{pp}, G_{qq}, G_{pq}),

with $\varphi(t) = \kappa(t, t, t)$.  Gradient and Hessian follow from the
chain rule through the Gram entries ($\partial G_{pp}/\partial u_p = 2u_p$,
$\partial G_{pq}/\partial u_p = u_q$): with
$S_{pq} = \tfrac12\alpha_p\alpha_q\kappa_c$ ($p\ne q$),
$S_{pp} = \tfrac12\alpha_p^2\varphi' + \sum_{q\ne p}\alpha_p\alpha_q\kappa_a$,

.. math:: \nabla_{W} L = 2\,S_{W,:}\,U, \qquad \partial L/\partial a_i = (K\alpha)_i,

and every Hessian block is a sum of rank-one terms $u_p (\ldots)^\top$ plus a
multiple of the identity (see :meth:`GramAssembly.hessian_matrix`), so nothing of
size $P^2 d^2$ beyond the result itself is ever formed.

One assembly serves every member of the precision context
(:class:`~symland.numerics.precision.Precision`): float64 numpy arrays, numpy object arrays of
``mpmath.mpf`` at ``dps`` digits plus guard digits, or numpy object arrays of python-flint
``arb`` balls (:class:`~symland.numerics.ball.BallPrecision`).  With balls, ``theta`` may be a
box (one ball per parameter) and every result is an enclosure valid for every point of the box;
pairs where no finite enclosure exists (zero-norm neurons, kinked kernels at aligned neurons)
raise :class:`~symland.errors.DomainError`.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..errors import DomainError, NoClosedFormError
from ..kernels.activation import Activation
from ..kernels.evaluate import ball_diagonal_evaluator, ball_partial_evaluator, diagonal_evaluator, partial_evaluator
from ..kernels.partials import singular_at_alignment
from ..numerics.ball import BallPrecision, is_ball, may_be_zero
from ..numerics.mpcontext import localize, thread_mp
from ..numerics.precision import FLOAT64, Precision, alignment_digits, exact_products
from .params import Layout
from .protocol import Evaluation

__all__ = ["Evaluation", "GramAssembly", "gram_block", "near_ratio", "finite", "per_precision", "WHAT"]

#: pairs with D < NEAR * a * b get D recomputed from residual vectors (float64)
NEAR = 1e-6
#: squared angle below which a float64 Hessian of a non-smooth kernel is computed in mpmath
_FLOAT_ALIGNED = 1e-12
#: name of the result of each order, for error messages
WHAT = ("loss", "gradient", "Hessian")


def _finite_number(v) -> bool:
    return bool(v.is_finite()) if is_ball(v) else bool(thread_mp.isfinite(v))


def finite(x, mp: bool):
    """Elementwise finiteness of a float64 array, or of an object array of mpf or arb balls (``mp``)."""
    if mp:
        return np.array([_finite_number(v) for v in np.ravel(x)], dtype=bool).reshape(np.shape(x))
    return np.isfinite(x)


def per_precision(cache: dict, prec: Precision, compute):
    """``compute(prec)`` evaluated inside the context of ``prec`` and kept in ``cache`` per precision.

    A race between threads can only compute the same value twice (never store another one).
    mpmath values are handed out as numbers of the calling thread's context (:func:`localize`):
    the cached ones belong to the context of the thread that computed them, whose precision
    that thread may be changing.
    """
    key = (prec.kind, prec.dps, prec.guard)
    value = cache.get(key)
    if value is None:
        with prec:
            value = compute(prec)
        cache[key] = value
    return localize(value) if prec.mp else value


def gram_block(U, rows, prec: Precision):
    r"""Gram block $G$ = ``U[rows] @ U.T`` with ``A`` = $G_{ii}$, ``B`` = $G_{qq}$ and a stable $D = AB - G^2$.

    mpmath: every product at doubled precision (exact), rounded once.  float64: pairs with
    $D < 10^{-6}AB$ get $D = |u_i|^2\,|u_q - (G_{iq}/|u_i|^2)u_i|^2$ from the residual vector;
    self pairs (``q == rows[i]``) keep $D = 0$.  Balls: every product a rigorous ball, and
    $D$ the ball of :meth:`~symland.numerics.ball.BallPrecision.gram_determinant` (clipped at 0).
    """
    if prec.ball:
        G = U[rows] @ U.T
        g_all = np.array([prec.dot(row, row) for row in U], dtype=object)
        A = g_all[rows][:, None] * np.ones((1, len(U)), dtype=object)
        B = np.ones((len(rows), 1), dtype=object) * g_all[None, :]
        D = np.frompyfunc(prec.gram_determinant, 3, 1)(A, B, G)
        return A, B, G, np.asarray(D, dtype=object)
    if prec.mp:
        with exact_products():
            G = U[rows] @ U.T
            g_all = np.array([sum(u * u for u in row) for row in U], dtype=object)
            A = g_all[rows][:, None] * np.ones((1, len(U)), dtype=object)
            B = np.ones((len(rows), 1), dtype=object) * g_all[None, :]
            D = A * B - G * G
        return tuple(np.vectorize(lambda v: +v, otypes=[object])(x) for x in (A, B, G, D))
    G = U[rows] @ U.T
    g_all = np.einsum("pd,pd->p", U, U)
    A = np.broadcast_to(g_all[rows][:, None], G.shape)
    B = np.broadcast_to(g_all[None, :], G.shape)
    D = A * B - G * G
    near = D < NEAR * A * B
    near[np.arange(len(rows)), rows] = False  # self pairs: D = 0 exactly, handled by phi
    if np.any(near):
        ii, qq = np.nonzero(near)
        ui, uq = U[rows][ii], U[qq]
        gi = g_all[rows][ii]
        with np.errstate(all="ignore"):
            coef = np.where(gi > 0, G[ii, qq] / np.where(gi > 0, gi, 1.0), 0.0)
        r = uq - coef[:, None] * ui
        D = D.copy()
        D[ii, qq] = gi * np.einsum("md,md->m", r, r)
    return A, B, G, np.maximum(D, 0.0)


def near_ratio(A, B, D, mask):
    r"""Smallest $D/(AB)$ over the pairs in ``mask`` with $A, B, D > 0$ (``None`` if there is none)."""
    worst = None
    for (i, q) in zip(*np.nonzero(mask)):
        if A[i, q] > 0 and B[i, q] > 0 and D[i, q] > 0:
            r = D[i, q] / (A[i, q] * B[i, q])
            worst = r if worst is None or r < worst else worst
    return worst


class GramAssembly:
    r"""Loss, gradient and Hessian of the plain problem (module docstring) at any precision.

    ``layout`` is ``theta = [W.ravel(), a (if trained)]``.  A zero-norm teacher neuron with
    $s(0) = 0$ is the zero function: it is dropped from the sums (its kernel partials may be
    undefined, e.g. relu, but it contributes nothing); ``V``, ``b``, ``k`` are the teacher units kept.
    The teacher constant $\tfrac12 b^\top K_{VV} b$ is cached per precision, and the compiled
    float64 kernels of :meth:`fast_loss_and_gradient` once; both are rebuilt on first use
    after pickling and a race between threads only repeats the work.
    """

    def __init__(self, act: Activation, teacher_weights, teacher_output, layout: Layout, student_output):
        self.activation = act
        keep = np.ones(len(teacher_output), dtype=bool)
        if act.vanishes_at_zero:
            keep = np.linalg.norm(teacher_weights, axis=1) > 0
        self.V, self.b = teacher_weights[keep], teacher_output[keep]
        self.k = int(np.count_nonzero(keep))
        self.layout = layout
        self.n, self.d = layout.n, layout.d
        self.student_output = student_output
        self._teacher_constant = {}
        self._fast = None

    def __getstate__(self):
        # compiled kernels are rebuilt on first use; they do not pickle (process pools, dask)
        state = self.__dict__.copy()
        state["_fast"] = None
        # python-flint balls do not pickle: cached ball constants are recomputed on first use
        state["_teacher_constant"] = {key: v for key, v in self._teacher_constant.items() if not is_ball(v)}
        return state

    # ------------------------------------------------------------------
    def units(self, theta, prec: Precision):
        """Stacked units U (P, d) and signed output weights alpha (P,) in the working precision."""
        parts = self.layout.split(self.layout.check(theta, prec))
        V, b, a = self.teacher(prec) + (parts.get("a"),)
        if a is None:
            a = prec.array(self.student_output, "student_output") if prec.mp else self.student_output
        return np.concatenate([parts["W"], V], axis=0), np.concatenate([a, -b])

    def teacher(self, prec: Precision):
        """Teacher weights and output weights as arrays of ``prec`` (mpf at the working precision)."""
        if not prec.mp:
            return self.V, self.b
        return prec.array(self.V, "teacher_weights"), prec.array(self.b, "teacher_output")

    def partials(self, indices, A, B, G, D, prec, offdiag_mask, what):
        """Evaluate kernel partials on the block; diagonal (self) entries are set to 0.

        Self pairs (where ``offdiag_mask`` is False) are evaluated at a harmless covariance and
        overwritten, because the diagonal of the loss uses $\\varphi(t) = \\kappa(t, t, t)$ instead.
        """
        out = {}
        mp = prec.mp
        diag = np.nonzero(~offdiag_mask)
        zero, one = prec.num(0), prec.num(1)
        G_ = G.copy()
        D_ = D.copy()
        G_[diag] = zero
        D_[diag] = one
        if mp:
            A_, B_ = np.array(A, dtype=object), np.array(B, dtype=object)
            A_[diag] = one
            B_[diag] = one
        else:
            A_, B_ = A, B
        for idx in indices:
            if prec.ball:
                val = ball_partial_evaluator(self.activation, idx)(A_, B_, G_, D_)
            else:
                val = partial_evaluator(self.activation, idx, mp, raw=not mp)(A_, B_, G_, D_)
            if mp:
                val = np.array(val, dtype=object)
                self._check_finite(val, offdiag_mask, A, B, D, idx, what)
            else:
                if (np.ndim(val) == 0 or np.shape(val) != G.shape or not val.flags.writeable
                        or any(val is x for x in (A_, B_, G_, D_))):
                    val = np.array(np.broadcast_to(val, G.shape), dtype=float)
                val[diag] = 0.0
                if not np.isfinite(val).all():
                    self._check_finite(val, offdiag_mask, A, B, D, idx, what)
            val[diag] = zero
            out[idx] = val
        return out

    def _check_finite(self, val, mask, A, B, D, idx, what):
        bad = ~finite(val, val.dtype == object) & mask
        if not np.any(bad):
            return
        i, q = (int(v) for v in np.argwhere(bad)[0])
        unit = self._unit_name(q)
        if may_be_zero(A[i, q]) or may_be_zero(B[i, q]):
            zero = f"student neuron {i}" if may_be_zero(A[i, q]) else unit
            reason = (f"{zero} has zero norm, where the {self.activation.name} "
                      f"kernel partial {idx} is undefined")
            if is_ball(A[i, q]):
                reason = f"{zero} may have zero norm in the box of parameters (no rigorous enclosure there)"
        elif is_ball(D[i, q]) and may_be_zero(D[i, q]):
            reason = (f"student neuron {i} and {unit} may be aligned in the box of parameters (the ball of "
                      f"a*b - c**2 contains 0), where the {self.activation.name} kernel partial {idx} is singular")
        elif D[i, q] == 0:
            reason = (f"student neuron {i} and {unit} are exactly aligned (c**2 = a*b), where the "
                      f"{self.activation.name} kernel partial {idx} is singular")
        else:
            reason = f"kernel partial {idx} is not finite for student neuron {i} and {unit}"
        raise DomainError(f"cannot evaluate the {what}: {reason}")

    def _unit_name(self, q):
        return f"student neuron {q}" if q < self.n else f"teacher neuron {q - self.n}"

    def diagonal(self, m, t, prec, what):
        r"""$\varphi^{(m)}(t)$ on an array of squared norms, finite or a :class:`DomainError`."""
        evaluator = ball_diagonal_evaluator(self.activation, m) if prec.ball else diagonal_evaluator(self.activation, m, prec.mp)
        val = np.array(evaluator(t), dtype=object if prec.mp else float)
        ok = finite(val, prec.mp)
        if not np.all(ok):
            i = int(np.flatnonzero(~ok)[0])
            raise DomainError(f"cannot evaluate the {what}: phi^({m}) of {self.activation.name} is not "
                              f"finite for student neuron {i} (zero norm?)")
        return val

    # ------------------------------------------------------------------
    def teacher_constant(self, prec: Precision):
        r"""$\tfrac12\sum_{r,q} b_r b_q\,\kappa(G_{rr}, G_{qq}, G_{rq})$ over teacher units ($\varphi$ on the
        diagonal), at the working precision of ``prec`` (computed in its context; cached per precision)."""
        return per_precision(self._teacher_constant, prec, self._teacher_sum)

    def _teacher_sum(self, prec: Precision):
        if self.k == 0:
            return prec.zeros(())[()]
        V, b = self.teacher(prec)
        rows = np.arange(self.k)
        A, B, G, D = gram_block(V, rows, prec)
        mask = np.ones(G.shape, dtype=bool)
        mask[rows, rows] = False
        K = self.partials([(0, 0, 0)], A, B, G, D, prec, mask, "loss")[(0, 0, 0)]
        K[rows, rows] = self.diagonal(0, np.array([A[r, r] for r in rows], dtype=A.dtype), prec, "loss")
        return 0.5 * (b @ (K @ b))

    def _aligned_limit(self, theta, prec: Precision, aligned):
        r"""Hessian at exactly aligned pairs of a non-smooth kernel, as a limit.

        The second kernel partials are infinite at $D = 0$, but the loss is
        $C^2$ there: their singular part enters as
        $\sqrt{ab}\,k''(\rho)\nabla\rho\nabla\rho^\top$ with $\nabla\rho \to 0$, so
        the Hessian is continuous and the limit equals the Hessian at a point
        moved by $\varepsilon = 10^{-(dps+5)}$ (relative) orthogonally to each
        aligned student, up to $O(\varepsilon)$; the nearby evaluation takes the
        extra digits of :func:`~symland.numerics.precision.alignment_digits` (power 1/2).
        Loss and gradient are those at ``theta`` itself.
        """
        if self.d == 1:
            raise DomainError("cannot evaluate the Hessian: with d = 1 every pair of neurons is aligned and "
                              f"the {self.activation.name} Hessian is singular there")
        dps = prec.dps
        exact = self.layout.check(theta, prec)
        first = self.evaluate(exact, prec, 1)
        with thread_mp.workdps(2 * dps + 40):
            moved = np.array([thread_mp.mpf(v) for v in exact], dtype=object)
            eps = thread_mp.mpf(10) ** (-(dps + 5))
            # move one neuron of each aligned pair (the student, or the lower-numbered student),
            # each along its own direction, so that no two moved neurons stay aligned
            movers = sorted({i for i, q in aligned if q >= self.n or i < q})
            for rank, i in enumerate(movers):
                w = moved[i * self.d:(i + 1) * self.d]
                # a fixed direction, different per neuron, orthogonalised against w_i
                e = np.array([thread_mp.mpf(1) / (j + 2 + 3 * i) ** (1 + (i % 3)) for j in range(self.d)],
                             dtype=object)
                nw2 = thread_mp.fsum(x * x for x in w)
                e = e - (thread_mp.fsum(x * y for x, y in zip(e, w)) / nw2) * w
                ne = thread_mp.sqrt(thread_mp.fsum(x * x for x in e))
                if ne == 0:
                    e = np.array([thread_mp.mpf(j == 0) for j in range(self.d)], dtype=object)
                    e = e - (thread_mp.fsum(x * y for x, y in zip(e, w)) / nw2) * w
                    ne = thread_mp.sqrt(thread_mp.fsum(x * x for x in e))
                # distinct distances too: in d = 2 all orthogonal directions coincide
                moved[i * self.d:(i + 1) * self.d] = w + ((rank + 1) * eps * thread_mp.sqrt(nw2) / ne) * e
            H = self._evaluate(moved, Precision(2 * dps + 20), 2, limit=True).hessian
        return dataclasses.replace(first, hessian=prec.finalize(H))

    def evaluate(self, theta, prec: Precision, order: int) -> Evaluation:
        """Loss (order 0), + gradient and $S_{WW}$ (1), + Hessian (2) in one pass, rounded to ``prec``."""
        return self._evaluate(theta, prec, order)

    def _evaluate(self, theta, prec: Precision, order, boosted=False, limit=False) -> Evaluation:
        with prec:
            U, alpha = self.units(theta, prec)
            n, P = self.n, self.n + self.k
            rows = np.arange(n)
            A, B, G, D = gram_block(U, rows, prec)
            mask = np.ones((n, P), dtype=bool)
            mask[rows, rows] = False
            singular = order >= 2 and singular_at_alignment(self.activation)
            if not prec.mp and singular:
                # float64 loses ~eps/angle in the chain-rule cancellation near aligned pairs:
                # below an angle of ~1e-6 compute the Hessian in mpmath (precision boosted) instead
                with np.errstate(all="ignore"):
                    ratio = np.where(mask & (A > 0) & (B > 0), D / np.where(A * B > 0, A * B, 1.0), np.inf)
                if np.min(ratio) < _FLOAT_ALIGNED:
                    return self._near_aligned_float(theta, order, float(np.min(ratio)))
            if prec.mp and not prec.ball and singular and not boosted and not limit:
                aligned = [(int(i), int(q)) for i, q in zip(*np.nonzero(mask))
                           if D[i, q] == 0 and A[i, q] > 0 and B[i, q] > 0]
                if aligned:
                    return self._aligned_limit(theta, prec, aligned)
            if prec.mp and not prec.ball and singular and not boosted:
                # second partials of a kinked kernel grow like D^(-1/2) and cancel in the chain rule
                extra = alignment_digits(near_ratio(A, B, D, mask), 0.5)
                if extra:
                    exact_theta = self.layout.check(theta, prec)
                    return self._evaluate(exact_theta, prec.boosted(extra), order, boosted=True).finalized(prec)
            what = WHAT[order]
            idx = [(0, 0, 0)]
            if order >= 1:
                idx += [(1, 0, 0), (0, 0, 1)]
            if order >= 2:
                idx += [(2, 0, 0), (1, 1, 0), (1, 0, 1), (0, 0, 2)]
            kp = self.partials(idx, A, B, G, D, prec, mask, what)
            g_self = np.array([A[i, i] for i in range(n)], dtype=A.dtype)
            phi = [self.diagonal(m, g_self, prec, what) for m in range(order + 1)]
            K = kp[(0, 0, 0)]
            K[rows, rows] = phi[0]
            a = alpha[:n]
            Ka = K @ alpha  # (n,)
            # L = 1/2 sum_{p,q} alpha_p alpha_q K_pq with K symmetric:
            #   = 1/2 a^T K_WW a + a^T K_WV alpha_V + teacher constant
            loss = 0.5 * (a @ (K[:, :n] @ a)) + a @ (K[:, n:] @ alpha[n:]) + self.teacher_constant(prec)
            if order == 0:
                return Evaluation(prec.finalize(loss))
            Kav, Kcv = kp[(1, 0, 0)], kp[(0, 0, 1)]
            aa = a[:, None] * alpha[None, :]
            S = 0.5 * aa * Kcv
            S[rows, rows] = 0.5 * a * a * phi[1] + (aa * Kav).sum(axis=1)
            grad = (2 * (S @ U)).ravel()
            if self.layout.train_output:
                grad = np.concatenate([grad, Ka])
            hess = None if order == 1 else prec.finalize(self.hessian_matrix(U, alpha, kp, phi, S, K, prec))
            return Evaluation(prec.finalize(loss), prec.finalize(grad), hess, prec.finalize(S[:, :n]))

    def _near_aligned_float(self, theta, order, ratio) -> Evaluation:
        r"""Float64 results near an aligned pair of a kinked kernel ($0 \le D/(ab) =$ ``ratio``
        $< 10^{-12}$), where float64 loses $\sim u\,ab/D$ in the chain-rule cancellation: the
        midpoints of a ball evaluation at $17 + \tfrac32\log_{10}(ab/D)$ digits (the digits the
        enclosure of a kinked Hessian loses there; one retry with the digits still lacking) when the
        activation's partials compile to ``arb`` -- 5-7x faster than mpmath for a Hessian --, else
        (no ``arb`` form, an exactly aligned pair) mpmath at 20 digits, boosted and taken as a limit
        by the mpmath path itself."""
        digits = 17 + alignment_digits(ratio, 1.5, threshold=_FLOAT_ALIGNED)
        for _ in range(2):
            try:
                ev = self._evaluate(theta, BallPrecision(digits), order)
            except (NoClosedFormError, DomainError):
                break
            short = ev.digits_short(order, 17)
            if short <= 0:
                return ev.midpoints(order).as_float()
            digits += short + 5
        return self._evaluate(theta, Precision(20), order).as_float()

    def hessian_matrix(self, U, alpha, kp, phi, S, K, prec):
        r"""Hessian written block by block into one preallocated array (both precisions).

        Blocks, with $C^{xy}_{iq} = a_i\alpha_q\,\partial_x\partial_y\kappa(G_{ii}, G_{qq}, G_{iq})$:
        $\partial^2 L/\partial w_i\partial w_j = w_i(4C^{ab}_{ij}w_j + 2C^{ac}_{ij}w_i)^\top
        + w_j(2C^{ac}_{ji}w_j + C^{cc}_{ij}w_i)^\top + 2S_{ij}I$ for $i \ne j$;
        $\partial^2 L/\partial w_i^2 = (4\sum_q C^{aa}_{iq} + 2a_i^2\varphi'')w_iw_i^\top
        + 2(w_i r_i^\top + r_i w_i^\top) + \sum_q C^{cc}_{iq}u_qu_q^\top + 2S_{ii}I$,
        $r_i = \sum_q C^{ac}_{iq}u_q$;
        $\partial^2 L/\partial a_i\partial a_j = K_{ij}$; and
        $\partial^2 L/\partial a_i\partial w_j = 2a_j\kappa_a(j,i)w_j + a_j\kappa_c(j,i)w_i$ ($i\ne j$).
        Temporaries are at most $n^2 d$ (plus one $d \times n \times d$ slab); the identity part
        $2S_{ij}I$ is added on the diagonal entries only.
        """
        n, d = self.n, self.d
        nd = n * d
        N = self.layout.size
        W = U[:n]
        a = alpha[:n]
        aa = a[:, None] * alpha[None, :]
        Caa, Cab = aa * kp[(2, 0, 0)], aa * kp[(1, 1, 0)]
        Cac, Ccc = aa * kp[(1, 0, 1)], aa * kp[(0, 0, 2)]
        ss = slice(0, n)
        X = 4 * Cab[:, ss, None] * W[None, :, :] + 2 * Cac[:, ss, None] * W[:, None, :]
        Y = 2 * Cac[:, ss].T[:, :, None] * W[None, :, :] + Ccc[:, ss, None] * W[:, None, :]
        out = prec.zeros((N, N))
        H = out[:nd, :nd].reshape(n, d, n, d)  # a view: (i, a, j, b)
        WT = W.T
        ar = np.arange(d)
        for i in range(n):  # per-i slabs keep temporaries at n d^2
            Hi = H[i]
            np.multiply(W[i][:, None, None], X[i][None, :, :], out=Hi)
            Hi += WT[:, :, None] * Y[i][None, :, :]
            Hi[ar, :, ar] += 2 * S[i, :n]  # identity part 2 S_ij I on the a == b diagonal only
        cuu = 4 * Caa.sum(axis=1) + 2 * a * a * phi[2]
        r = Cac @ U
        for i in range(n):
            H[i, :, i, :] += (cuu[i] * np.outer(W[i], W[i]) + 2 * (np.outer(W[i], r[i]) + np.outer(r[i], W[i]))
                              + (Ccc[i][:, None] * U).T @ U)
        if not self.layout.train_output:
            return out
        Ka, Kc = kp[(1, 0, 0)], kp[(0, 0, 1)]
        M = (2 * (a[:, None] * Ka[:, ss])[:, :, None] * W[:, None, :]
             + (a[:, None] * Kc[:, ss])[:, :, None] * W[None, :, :])
        M[np.arange(n), np.arange(n), :] = 2 * (a * phi[1] + Ka @ alpha)[:, None] * W + (Kc * alpha[None, :]) @ U
        Mf = M.transpose(0, 2, 1).reshape(nd, n)
        out[:nd, nd:] = Mf
        out[nd:, :nd] = Mf.T
        out[nd:, nd:] = K[:, :n]
        return out

    # ------------------------------------------------------------------
    def _fast_kernels(self):
        cache = self._fast
        if cache is None:
            act = self.activation
            fns = [partial_evaluator(act, i, False, raw=True) for i in ((0, 0, 0), (1, 0, 0), (0, 0, 1))]
            phis = [diagonal_evaluator(act, m, False) for m in (0, 1)]
            U = np.concatenate([np.zeros((self.n, self.d)), self.V])
            alpha = np.concatenate([np.zeros(self.n), -self.b])
            cache = self._fast = (fns, phis, U, alpha, np.arange(self.n))
        return cache

    def fast_loss_and_gradient(self, theta):
        """Lean float64 path of :meth:`evaluate` (order 1) for closed-form kernels.

        Same formulas, fewer temporaries and checks; returns ``None`` (so the
        general path runs and raises the precise error) whenever a pair is
        nearly aligned or a value is not finite, and for kernels without a closed form.
        """
        if not self.activation.has_closed_form:
            return None
        fns, phis, U0, alpha0, idx = self._fast_kernels()
        theta = self.layout.check(theta)
        n, nd = self.n, self.n * self.d
        U, alpha = U0.copy(), alpha0.copy()
        U[:n] = theta[:nd].reshape(n, self.d)
        alpha[:n] = a = theta[nd:] if self.layout.train_output else self.student_output
        shape = (n, len(U))
        with np.errstate(all="ignore"):
            G = U[:n] @ U.T
            g = np.einsum("pd,pd->p", U, U)
            A, B = g[:n, None], g[None, :]
            D = A * B - G * G
            G[idx, idx] = 0.0
            D[idx, idx] = 1.0
            if np.any(D < NEAR * A * B):
                return None
            vals = []
            for f in fns:
                v = f(A, B, G, D)
                if np.ndim(v) == 0 or np.shape(v) != shape or v is G or v is D:
                    v = np.array(np.broadcast_to(v, shape), dtype=float)
                vals.append(v)
            K, Ka, Kc = vals
            t = g[:n]
            phi0, phi1 = phis[0](t), phis[1](t)
        K[idx, idx] = phi0
        Ka[idx, idx] = 0.0
        if not (np.isfinite(K).all() and np.isfinite(Ka).all() and np.isfinite(Kc).all()
                and np.isfinite(phi1).all()):
            return None
        Kalpha = K @ alpha
        loss = 0.5 * (a @ (K[:, :n] @ a)) + a @ (K[:, n:] @ alpha[n:]) + self.teacher_constant(FLOAT64)
        aa = a[:, None] * alpha[None, :]
        S = 0.5 * aa * Kc
        S[idx, idx] = 0.5 * a * a * phi1 + (aa * Ka).sum(axis=1)
        grad = (2 * (S @ U)).ravel()
        if self.layout.train_output:
            grad = np.concatenate([grad, Kalpha])
        return float(loss), grad
