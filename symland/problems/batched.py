r"""Batched float64 evaluation of one teacher-student problem at many parameter vectors.

Setting (as everywhere in symland): input $x \sim N(0, I_d)$, student
$f(x) = \sum_i a_i s(w_i\cdot x + \beta_i)$ (plus GLU units), teacher
$f^*(x) = \sum_r b_r t(v_r\cdot x + \beta^*_r)$, loss $L = \tfrac12 E_x[(f(x) - f^*(x))^2]$;
"erf" is erf(z/sqrt 2).

For one :class:`~symland.problems.teacher_student.TeacherStudent` and a batch
$\Theta \in \mathbb R^{B\times P}$ of packed parameter vectors (rows $\theta_b$, the layout of
:mod:`symland.problems.params`), :class:`BatchedTeacherStudent` returns the losses $L(\theta_b)$
$(B,)$, gradients $(B, P)$ and Hessians $(B, P, P)$ with the batch as one more numpy axis: every
array of the single-point assemblies gains a leading axis of length $B$ and every operation acts
on all rows at once (stacked ``matmul``, broadcasting), so the per-call Python and numpy
overhead of :meth:`~symland.problems.teacher_student.TeacherStudent.loss_and_gradient` is paid
once per batch instead of once per point.  The formulas are those of the assemblies, per kind:

* **plain** (one activation, no biases, no GLU units; trained or fixed output weights): the Gram
  form of :mod:`symland.problems.gram`.  With $U_b = [W_b; V]$, $\alpha_b = [a_b; -b]$,
  $G_b = W_bU_b^\top$ and kernel partials at $(G_{ii}, G_{qq}, G_{iq})$,

  .. math:: L_b = \tfrac12 a_b^\top K_{WW}a_b + a_b^\top K_{WV}\alpha_V + L_{VV},\quad
            \nabla_W L_b = 2S_bU_b,\quad \partial L_b/\partial a = K_b\alpha_b,

  $S_{iq} = \tfrac12 a_i\alpha_q\kappa_c$ ($q \ne i$),
  $S_{ii} = \tfrac12 a_i^2\varphi'(G_{ii}) + \sum_{q\ne i} a_i\alpha_q\kappa_a$, and the Hessian
  blocks of :meth:`~symland.problems.gram.GramAssembly.hessian_matrix` (rank-one terms plus
  $2S_{ij}I$), all as stacked arrays (:class:`_GramBatch`);
* **biases or a teacher activation $t \ne s$**: the local chain rule of
  :mod:`symland.problems.means_assembly` (per term $P(o)\kappa(y(x))$,
  $\nabla_x = J^\top\kappa_y$, $\nabla_x^2 = J^\top\kappa_{yy}J + \sum_k\kappa_{y_k}\nabla^2 y_k$),
  with the terms of all rows flattened into one axis of length $B\cdot m$ (:class:`_MeansBatch`);
* **GLU units**: the plain part batched as above plus the GLU pair terms of
  :mod:`symland.problems.glu`, flattened over rows and pairs (:class:`_GluBatch`).

Kernel values come from the same compiled elementwise evaluators as the single-point engine
(:func:`~symland.kernels.evaluate.partial_evaluator` and friends, including their per-entry
corrections near alignment and at zero variance), so every row agrees with
``problem.loss_and_gradient(theta_b)`` / ``problem.hessian(theta_b)`` to rounding.

**Rows the batch does not take.**  The single-point engine changes method for a few
configurations: a Hessian of a kinked kernel (relu) with a pair within $D/(ab) < 10^{-12}$ of
alignment (ball or mpmath evaluation), GLU pairs of a kinked kernel near alignment (mpmath with
more digits), and every value that is not finite (a zero-norm neuron where the kernel is
undefined, exactly aligned kinked pairs).  Such rows are detected with vectorised tests and
evaluated by the single-point engine itself, one by one; a row whose single-point evaluation
raises gives a :class:`~symland.errors.DomainError` naming the argument ``Theta`` and the row
(or, with ``on_error="mask"``, NaN results and the message in ``errors[row]``).  The Means and GLU
helpers raise on a non-finite kernel value anywhere in the flattened batch; the batch is then
bisected until the offending rows are isolated, so the other rows stay batched.
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np
import sympy

from ..errors import DomainError, ShapeError, SymlandError
from ..kernels.evaluate import CANCELLATION_THRESHOLD, diagonal_evaluator, partial_evaluator
from ..kernels.partials import diagonal_expr, kernel_partial_expr, singular_at_alignment
from ..numerics.compile import compile_mpmath, compile_numpy
from ..numerics.mpcontext import thread_mp
from ..numerics.precision import ALIGNMENT_THRESHOLD, FLOAT64, gram_determinant
from ..numerics.symbols import KERNEL_ARGS, t_
from .glu import glu_pair_sum
from .glu_assembly import _BOOST_BELOW, GluAssembly
from .gram import NEAR, WHAT, GramAssembly
from .means_assembly import MeansAssembly
from .teacher_student import TeacherStudent

__all__ = ["BatchedTeacherStudent", "BatchedEvaluation", "batched_evaluate", "check_batch", "MEMORY_BUDGET"]

#: bytes of temporaries one batched call may use; larger batches are evaluated in chunks of rows
MEMORY_BUDGET = 256 * 2**20
#: entries of the stacked pair arrays per row chunk of the plain loss and gradient (keeps them in cache)
CACHE_ENTRIES = 1 << 14
#: Hessian entries per row chunk of the plain Hessian (its temporaries are a few times this)
HESSIAN_CACHE_ENTRIES = 1 << 16
#: squared angle below which a float64 Hessian of a kinked kernel leaves the batch (as in gram.py)
_FLOAT_ALIGNED = 1e-12
#: the Hessian multi-indices (a, b, c) of the plain assembly, in its order
_FIRST = ((0, 0, 0), (1, 0, 0), (0, 0, 1))
_SECOND = ((2, 0, 0), (1, 1, 0), (1, 0, 1), (0, 0, 2))


@dataclasses.dataclass(frozen=True, eq=False)
class BatchedEvaluation:
    """Results for a batch of ``B`` rows: ``loss`` (B,), ``gradient`` (B, P) and ``hessian`` (B, P, P)
    up to the order asked (``None`` above it).  ``errors`` maps the rows that could not be evaluated
    (only with ``on_error="mask"``; their results are NaN) to the reason."""

    loss: np.ndarray
    gradient: np.ndarray | None = None
    hessian: np.ndarray | None = None
    errors: dict = dataclasses.field(default_factory=dict)


def check_batch(Theta, num_params: int, name: str = "Theta") -> np.ndarray:
    r"""``Theta`` as a float64 array of shape ``(B, num_params)``, ``B >= 1``, every entry finite.

    :class:`~symland.errors.ShapeError` for a wrong shape or a non-numeric argument,
    :class:`~symland.errors.DomainError` for complex, NaN or infinite entries, naming ``name``
    and the first offending row and entry.
    """
    if isinstance(Theta, (str, bytes)):
        raise ShapeError(f"argument {name} must be a numeric array of shape (B, {num_params}), got a string")
    try:
        complex_entries = bool(np.iscomplexobj(Theta))
    except (TypeError, ValueError):  # ragged nesting: refused below
        complex_entries = False
    if complex_entries:
        raise DomainError(f"argument {name} must be real; it has complex entries")
    try:
        arr = np.array(Theta, dtype=float)
    except (TypeError, ValueError):
        raise ShapeError(f"argument {name} must be a numeric array of shape (B, {num_params}), "
                         f"got {type(Theta).__name__}") from None
    if arr.ndim != 2 or arr.shape[1] != num_params or arr.shape[0] < 1:
        raise ShapeError(f"argument {name} must have shape (B, {num_params}) with B >= 1 (one parameter vector "
                         f"per row), got shape {arr.shape}")
    bad = ~np.isfinite(arr)
    if bad.any():
        r, c = (int(v) for v in np.argwhere(bad)[0])
        raise DomainError(f"argument {name} must be finite; row {r} has entry {c} = {arr[r, c]}")
    return arr


def _scatter(out, rows, index, values):
    """``out[rows[t], index[t, l]] += values[t, l]`` (and the same with two index axes for Hessians),
    as one ``bincount`` over flat indices (``out`` is C-contiguous, ``(B, M)`` or ``(B, M, M)``)."""
    M = out.shape[1]
    if out.ndim == 2:
        flat = rows[:, None] * M + index
    else:
        flat = rows[:, None, None] * (M * M) + index[:, :, None] * M + index[:, None, :]
    out += np.bincount(flat.ravel(), weights=values.ravel(), minlength=out.size).reshape(out.shape)
    return out


def _gram_blocks(W, U):
    r"""Stacked Gram blocks of the batch: ``G`` $= W_bU_b^\top$ (B, n, P), ``g`` $= |u_p|^2$ (B, P) and
    ``D`` $= G_{ii}G_{qq} - G_{iq}^2$ (B, n, P), clipped at 0.

    As :func:`symland.problems.gram.gram_block` in float64: pairs (not self pairs) with
    $D < 10^{-6}G_{ii}G_{qq}$ get $D = |w_i|^2\,|u_q - (G_{iq}/|w_i|^2)w_i|^2$ from the residual vector.
    """
    n = W.shape[1]
    G = np.matmul(W, U.transpose(0, 2, 1))
    g = np.einsum("bpd,bpd->bp", U, U)
    A, Bq = g[:, :n, None], g[:, None, :]
    AB = A * Bq
    D = AB - G * G
    near = D < NEAR * AB
    ar = np.arange(n)
    near[:, ar, ar] = False
    if near.any():
        bb, ii, qq = np.nonzero(near)
        gi = g[bb, ii]
        ui = W[bb, ii]
        coef = np.where(gi > 0, G[bb, ii, qq] / np.where(gi > 0, gi, 1.0), 0.0)
        r = U[bb, qq] - coef[:, None] * ui
        D[bb, ii, qq] = gi * np.einsum("md,md->m", r, r)
    np.maximum(D, 0.0, out=D)
    return G, g, D


def _full(v, shape):
    """A writeable float64 array of ``shape`` from a compiled kernel's result (which may be a scalar
    for a constant partial, a broadcastable array, or one of its own inputs)."""
    if np.ndim(v) == 0 or np.shape(v) != shape or not v.flags.writeable:
        return np.array(np.broadcast_to(v, shape), dtype=float)
    return v


@functools.lru_cache(maxsize=None)
def _joint_kernel(act, indices):
    """The safe forms of the partials ``indices`` compiled into one float64 function (common
    subexpressions shared), or ``None`` for an activation without a closed-form kernel."""
    if not act.has_closed_form:
        return None
    exprs = [kernel_partial_expr(act, index) for index in indices]
    return sympy.lambdify(KERNEL_ARGS, exprs, modules=["scipy", "numpy"], cse=True)


#: relative error (against the larger of the entry and its size at a generic angle) up to which the
#: float64 safe form of a partial counts as accurate near alignment (:func:`_safe_near_alignment`)
_SAFE_TOLERANCE = 1e-13


@functools.lru_cache(maxsize=None)
def _safe_near_alignment(act, index) -> bool:
    r"""True when the float64 safe form of the partial stays accurate in absolute terms as a pair
    (anti-)aligns, so the batch may keep it where the single-point engine recomputes the entry.

    Measured once per activation and index, as
    :func:`~symland.kernels.evaluate.cancels_near_alignment` measures cancellation: at $a = 1$,
    $b = 2$, $c = \pm\sqrt2(1 - \delta)$, $\delta = 10^{-3}, 10^{-5}, 10^{-7}$, the float64 safe form
    against the same form at 40 digits; the error must stay below ``1e-13`` times the larger of the
    exact entry and the partial's size at $c = \pm\sqrt{ab}/2$.  relu's value and $\kappa_c$ pass
    (they cancel to small entries, but their terms are bounded, so the error stays at the rounding
    of $\sqrt{ab}$); safe forms whose terms grow like $D^{-k/2}$ while cancelling (relu_pow2,
    relu_pow3) fail and keep the single-point treatment."""
    expr = kernel_partial_expr(act, index)
    f, g = compile_numpy(expr), compile_mpmath(expr)
    a, b = 1.0, 2.0
    with thread_mp.workdps(40):
        A, Bm = thread_mp.mpf(a), thread_mp.mpf(b)
        for sign in (1, -1):
            C = sign * thread_mp.sqrt(A * Bm) / 2
            scale = abs(g(A, Bm, C, A * Bm - C * C))
            for delta in (1e-3, 1e-5, 1e-7):
                c = sign * 2.0**0.5 * (1 - delta)
                D = float(gram_determinant(a, b, c))
                with np.errstate(all="ignore"):
                    got = float(np.asarray(f(a, b, c, D)))
                C = thread_mp.mpf(c)
                ref = g(A, Bm, C, A * Bm - C * C)
                if not (thread_mp.isfinite(ref) and abs(got - ref) <= _SAFE_TOLERANCE * max(scale, abs(ref))):
                    return False
    return True


class _KernelSet:
    r"""Kernel partials ``indices`` on stacked pair arrays, as the single-point engine evaluates them.

    Closed forms: the safe forms compiled together (:func:`_joint_kernel`); the entries where the
    single-point evaluator (:func:`~symland.kernels.evaluate.partial_evaluator`) corrects the safe
    form are recomputed by that evaluator itself, on just those entries: zero variance ($a = 0$ or
    $b = 0$), and, for kinked or homogeneous activations (where it corrects), pairs near
    (anti-)alignment: $D < 0.25\,ab$ as in the single-point engine, except for the partials whose
    float64 safe form stays accurate there (:func:`_safe_near_alignment`: relu's value and first
    partials), which are recomputed only below $D < 10^{-6}ab$.  (The single-point engine recomputes
    relu's value and $\kappa_c$ near anti-alignment in mpmath to full relative accuracy of the small
    entry; in a loss or gradient the float64 entry's error is that of rounding $O(\sqrt{ab})$ terms,
    as everywhere else in the sum, and the recomputation would cost ~0.1 ms per entry.)
    Activations without a closed form use the single-point evaluators throughout.
    """

    def __init__(self, act, indices):
        self.act, self.indices = act, tuple(indices)
        self.joint = _joint_kernel(act, self.indices)
        self.exact = [partial_evaluator(act, index, False, raw=True) for index in self.indices]
        corrected = singular_at_alignment(act) or act.homogeneity_degree is not None
        self.ratio = [0.0 if not corrected else
                      (ALIGNMENT_THRESHOLD if _safe_near_alignment(act, index) else CANCELLATION_THRESHOLD)
                      for index in self.indices] if self.joint is not None else []

    def __call__(self, A, Bq, G, D, offdiag):
        """Values on ``(A, Bq, G, D)`` (broadcasting to ``offdiag.shape``); ``offdiag`` marks real pairs."""
        shape = offdiag.shape
        if self.joint is None:
            return [_full(f(A, Bq, G, D), shape) for f in self.exact]
        out = [_full(v, shape) for v in self.joint(A, Bq, G, D)]
        out = [v.copy() if (v is G or v is D) else v for v in out]
        zero = ((A == 0) | (Bq == 0)) & offdiag if (not A.all() or not Bq.all()) else None
        masks = {}
        for ratio in set(self.ratio):
            fix = zero
            if ratio:
                near = (D < ratio * (A * Bq)) & offdiag
                if near.any():
                    near &= (A > 0) & (Bq > 0)
                    fix = near if fix is None else (fix | near)
            masks[ratio] = fix if fix is not None and fix.any() else None
        for k, (v, f) in enumerate(zip(out, self.exact)):
            fix = masks[self.ratio[k]]
            if fix is not None:
                where = np.nonzero(fix)
                args = [np.ascontiguousarray(np.broadcast_to(x, shape)[where]) for x in (A, Bq, G, D)]
                v[where] = _full(f(*args), args[0].shape)
        return out


class _DiagonalSet:
    r"""$\varphi^{(m)}(t)$, $m = 0..$ ``order``, $\varphi(t) = E[s(u)^2]$, $u \sim N(0, t)$, on a stacked
    array of squared norms: closed forms compiled together, the entries at $t = 0$ (where the single-point
    evaluator puts $s(0)^2$) and activations without a closed form by
    :func:`~symland.kernels.evaluate.diagonal_evaluator` itself."""

    def __init__(self, act, order):
        self.exact = [diagonal_evaluator(act, m, False) for m in range(order + 1)]
        self.joint = None
        if act.has_closed_form:
            self.joint = sympy.lambdify((t_,), [diagonal_expr(act, m) for m in range(order + 1)],
                                        modules=["scipy", "numpy"], cse=True)

    def __call__(self, t):
        if self.joint is None or not t.all():
            return [_full(f(t), t.shape) for f in self.exact]
        return [_full(v, t.shape) for v in self.joint(t)]


# ---------------------------------------------------------------------------
# plain: the Gram assembly with a batch axis
# ---------------------------------------------------------------------------
class _GramBatch:
    """The plain assembly (:class:`~symland.problems.gram.GramAssembly`) over a batch of rows."""

    def __init__(self, asm: GramAssembly):
        self.asm = asm
        self.act = asm.activation
        self.n, self.d, self.k = asm.n, asm.d, asm.k
        self.train = asm.layout.train_output
        self.size = asm.layout.size
        self.V, self.b = asm.V, asm.b
        self.a_fixed = np.asarray(asm.student_output, dtype=float)
        self.singular = singular_at_alignment(self.act)
        self._kernels = {}
        self._diagonals = {}
        self._masks = {}

    def kernels(self, order):
        ks = self._kernels.get(order)
        if ks is None:
            idx = _FIRST[:1] if order == 0 else (_FIRST if order == 1 else _FIRST + _SECOND)
            ks = self._kernels[order] = _KernelSet(self.act, idx)
        return ks

    def bytes_per_row(self, order):
        n, P, d = self.n, self.n + self.k, self.d
        per = 32 * n * P + 4 * P * d
        if order >= 2:
            per += 16 * n * P + 4 * self.size * self.size + 3 * n * n * d + 3 * n * d * d
        return 8 * per

    def diagonals(self, order):
        ds = self._diagonals.get(order)
        if ds is None:
            ds = self._diagonals[order] = _DiagonalSet(self.act, order)
        return ds

    def _offdiag(self, B):
        """Boolean ``(B, n, P)`` mask of the pairs that are not self pairs (cached per ``B``)."""
        mask = self._masks.get(B)
        if mask is None:
            mask = np.ones((B, self.n, self.n + self.k), dtype=bool)
            mask[:, np.arange(self.n), np.arange(self.n)] = False
            if len(self._masks) > 8:
                self._masks.clear()
            self._masks[B] = mask
        return mask

    def units(self, Th):
        """``W`` (B, n, d), ``a`` (B, n), ``U = [W; V]`` (B, P, d), ``alpha = [a; -b]`` (B, P)."""
        B, n, d, k = len(Th), self.n, self.d, self.k
        W = Th[:, :n * d].reshape(B, n, d)
        U = np.empty((B, n + k, d))
        U[:, :n] = W
        U[:, n:] = self.V
        alpha = np.empty((B, n + k))
        if self.train:
            alpha[:, :n] = Th[:, n * d:n * d + n]
        else:
            alpha[:, :n] = self.a_fixed
        alpha[:, n:] = -self.b
        return W, U, alpha

    def evaluate(self, Th, order):
        """``(loss, gradient, hessian, trouble)``: ``trouble`` marks the rows left to the single-point
        engine.  Loss and gradient are computed in row chunks of about :data:`CACHE_ENTRIES` pair
        entries, Hessians in chunks of about :data:`HESSIAN_CACHE_ENTRIES` entries, so that the stacked
        arrays stay in cache."""
        B = len(Th)
        if order == 2:
            per = max(1, HESSIAN_CACHE_ENTRIES // max(1, self.size * self.size))
        else:
            per = max(1, CACHE_ENTRIES // max(1, self.n * (self.n + self.k)))
        if B <= per:
            return self._evaluate(Th, order)
        loss, trouble = np.empty(B), np.empty(B, dtype=bool)
        grad = np.empty((B, self.size)) if order else None
        hess = np.empty((B, self.size, self.size)) if order == 2 else None
        for s0 in range(0, B, per):
            sl = slice(s0, s0 + per)
            loss[sl], g, h, trouble[sl] = self._evaluate(Th[sl], order)
            if order:
                grad[sl] = g
            if order == 2:
                hess[sl] = h
        return loss, grad, hess, trouble

    def _evaluate(self, Th, order):
        n, d = self.n, self.d
        B = len(Th)
        ar = np.arange(n)
        with np.errstate(all="ignore"):
            W, U, alpha = self.units(Th)
            a = alpha[:, :n]
            G, g, D = _gram_blocks(W, U)
            A, Bq = g[:, :n, None], g[:, None, :]
            offdiag = self._offdiag(B)
            trouble = np.zeros(B, dtype=bool)
            if order >= 2 and self.singular:
                # the single-point engine computes these Hessians in ball / mpmath arithmetic
                ok = (A > 0) & (Bq > 0) & offdiag
                ratio = np.where(ok, D / np.where(ok, A * Bq, 1.0), np.inf)
                trouble |= ratio.reshape(B, -1).min(axis=1) < _FLOAT_ALIGNED
            # self pairs: evaluated at a harmless covariance, then overwritten (phi on the diagonal)
            G[:, ar, ar] = 0.0
            D[:, ar, ar] = 1.0
            vals = self.kernels(order)(A, Bq, G, D, offdiag)
            kp = dict(zip(self.kernels(order).indices, vals))
            # self-pair entries: K's is replaced by phi, S's diagonal is rebuilt below, so only the
            # partials summed over q (kappa_a) or entering the Hessian are zeroed there
            for index, v in kp.items():
                if index not in ((0, 0, 0), (0, 0, 1)) or order >= 2:
                    v[:, ar, ar] = 0.0
            phi = self.diagonals(order)(g[:, :n])
            K = kp[(0, 0, 0)]
            K[:, ar, ar] = phi[0]
            Kalpha = np.matmul(K, alpha[:, :, None])[:, :, 0]
            # L = 1/2 a^T K_WW a + a^T K_WV alpha_V + L_VV = 1/2 a^T (K alpha + K_WV alpha_V) + L_VV
            if self.k:
                KV = np.matmul(K[:, :, n:], alpha[:, n:, None])[:, :, 0]
                KV += Kalpha
            else:
                KV = Kalpha
            KV *= a
            loss = 0.5 * KV.sum(axis=1) + self.asm.teacher_constant(FLOAT64)
            trouble |= ~np.isfinite(loss)
            if order == 0:
                return loss, None, None, trouble
            Ka, Kc = kp[(1, 0, 0)], kp[(0, 0, 1)]
            aa = a[:, :, None] * alpha[:, None, :]
            S = aa * Kc
            S *= 0.5
            if order >= 2:
                weighted = aa * Ka
            else:
                weighted = Ka
                weighted *= aa
            S[:, ar, ar] = 0.5 * a * a * phi[1] + weighted.sum(axis=2)
            grad = np.empty((B, self.size))
            gW = grad[:, :n * d].reshape(B, n, d)
            np.matmul(S, U, out=gW)
            gW *= 2.0
            if self.train:
                grad[:, n * d:] = Kalpha
            trouble |= ~np.isfinite(grad).all(axis=1)
            hess = None
            if order >= 2:
                hess = self.hessian(W, U, alpha, kp, phi, S, K)
                trouble |= ~np.isfinite(hess.reshape(B, -1)).all(axis=1)
        return loss, grad, hess, trouble

    def hessian(self, W, U, alpha, kp, phi, S, K):
        r"""Stacked :meth:`~symland.problems.gram.GramAssembly.hessian_matrix`: with
        $C^{xy}_{iq} = a_i\alpha_q\partial_x\partial_y\kappa$,
        $\partial^2L/\partial w_i\partial w_j = w_i(4C^{ab}_{ij}w_j + 2C^{ac}_{ij}w_i)^\top
        + w_j(2C^{ac}_{ji}w_j + C^{cc}_{ij}w_i)^\top + 2S_{ij}I$ ($i \ne j$ and, plus the diagonal
        terms $(4\sum_qC^{aa}_{iq} + 2a_i^2\varphi'')w_iw_i^\top + 2(w_ir_i^\top + r_iw_i^\top)
        + \sum_q C^{cc}_{iq}u_qu_q^\top$, $r_i = \sum_q C^{ac}_{iq}u_q$, for $i = j$);
        $\partial^2L/\partial a_i\partial a_j = K_{ij}$,
        $\partial^2 L/\partial a_i\partial w_j = 2a_j\kappa_a(j,i)w_j + a_j\kappa_c(j,i)w_i$ ($i\ne j$)."""
        B, n, d = W.shape
        nd, N = n * d, self.size
        a = alpha[:, :n]
        ar, ad = np.arange(n), np.arange(d)
        aa = a[:, :, None] * alpha[:, None, :]
        Caa, Cab = aa * kp[(2, 0, 0)], aa * kp[(1, 1, 0)]
        Cac, Ccc = aa * kp[(1, 0, 1)], aa * kp[(0, 0, 2)]
        X = 4 * Cab[:, :, :n, None] * W[:, None, :, :] + 2 * Cac[:, :, :n, None] * W[:, :, None, :]
        Y = 2 * Cac[:, :, :n].transpose(0, 2, 1)[:, :, :, None] * W[:, None, :, :] + Ccc[:, :, :n, None] * W[:, :, None, :]
        out = np.zeros((B, N, N))
        # H[b, i, x, j, y] = W[b, i, x] X[b, i, j, y] + W[b, j, x] Y[b, i, j, y]
        H5 = W[:, :, :, None, None] * X[:, :, None, :, :]
        H5 += W.transpose(0, 2, 1)[:, None, :, :, None] * Y[:, :, None, :, :]
        del X, Y
        H5[:, :, ad, :, ad] += 2 * S[None, :, :, :n]  # identity part 2 S_ij I (x == y)
        cuu = 4 * Caa.sum(axis=2) + 2 * a * a * phi[2]
        r = np.matmul(Cac, U)
        Wc, Wr = W[:, :, :, None], W[:, :, None, :]
        blocks = cuu[:, :, None, None] * Wc * Wr + 2 * (Wc * r[:, :, None, :] + r[:, :, :, None] * Wr)
        blocks += np.matmul(U.transpose(0, 2, 1)[:, None] * Ccc[:, :, None, :], U[:, None])
        H5[:, ar, :, ar, :] += blocks.transpose(1, 0, 2, 3)
        out[:, :nd, :nd] = H5.reshape(B, nd, nd)
        del H5, blocks
        if not self.train:
            return out
        Ka, Kc = kp[(1, 0, 0)], kp[(0, 0, 1)]
        M = (2 * (a[:, :, None] * Ka[:, :, :n])[:, :, :, None] * W[:, :, None, :]
             + (a[:, :, None] * Kc[:, :, :n])[:, :, :, None] * W[:, None, :, :])
        Ka_alpha = np.matmul(Ka, alpha[:, :, None])[:, :, 0]
        M[:, ar, ar, :] = (2 * (a * phi[1] + Ka_alpha)[:, :, None] * W
                           + np.matmul(Kc * alpha[:, None, :], U))
        Mf = M.transpose(0, 1, 3, 2).reshape(B, nd, n)
        out[:, :nd, nd:] = Mf
        out[:, nd:, :nd] = Mf.transpose(0, 2, 1)
        out[:, nd:, nd:] = K[:, :, :n]
        return out


# ---------------------------------------------------------------------------
# biases / mixed activations: the means assembly with terms of all rows flattened
# ---------------------------------------------------------------------------
class _Names:
    """Lazy pair names of a flattened batch (only built for an error message)."""

    def __init__(self, fn):
        self.fn = fn

    def __getitem__(self, p):
        return self.fn(int(p))


class _MeansBatch:
    """The assembly with means (:class:`~symland.problems.means_assembly.MeansAssembly`) over a batch:
    each kind of term (self, student pair, student-teacher pair) of all rows in one flat axis."""

    def __init__(self, asm: MeansAssembly):
        self.asm = asm
        self.n, self.d, self.k = asm.n, asm.d, asm.k
        self.size = asm.layout.size
        self.offsets = asm.layout.offsets()
        self.index = asm._index_map()  # (n, d + 2): global index of (w_i, beta_i, a_i); size = dump slot
        self.a_fixed = np.asarray(asm.student_output, dtype=float)

    def bytes_per_row(self, order):
        n, k, L = self.n, self.k, self.d + 2
        terms = n + n * (n - 1) // 2 + n * k
        per = terms * (20 + 6 * L) + 4 * n * (n + k)
        if order >= 2:
            per += terms * 12 * L * L + 3 * (self.size + 1) ** 2
        return 8 * per

    def evaluate(self, Th, order):
        asm, n, d, k = self.asm, self.n, self.d, self.k
        B, N = len(Th), self.size
        what = WHAT[order]
        with np.errstate(all="ignore"):
            W = Th[:, :n * d].reshape(B, n, d)
            a = Th[:, self.offsets["a"]] if "a" in self.offsets else np.broadcast_to(self.a_fixed, (B, n))
            beta = Th[:, self.offsets["beta"]] if "beta" in self.offsets else np.zeros((B, n))
            V, bt, tb = asm.V, asm.b, asm.tb
            U = np.empty((B, n + k, d))
            U[:, :n] = W
            U[:, n:] = V
            G, g, D = _gram_blocks(W, U)
            grad = np.zeros((B, N + 1)) if order >= 1 else None
            hess = np.zeros((B, N + 1, N + 1)) if order >= 2 else None
            loss = np.full(B, float(asm.teacher_constant(FLOAT64)))
            s, tact = asm.activation, asm.teacher_activation
            rows_n = np.repeat(np.arange(B), n)

            def add(loc, rows, index, m):
                nonlocal loss
                loss = loss + loc[0].reshape(B, m).sum(axis=1)
                if order >= 1:
                    _scatter(grad, rows, index, loc[1])
                if order >= 2:
                    _scatter(hess, rows, index, loc[2])

            # self terms 1/2 a_i^2 phi(|w_i|^2, beta_i); local x = (w_i, beta_i, a_i)
            L1 = d + 2
            T = n * B
            val, gk, Hk = asm._diag_values(s, order, g[:, :n].reshape(T), beta.reshape(T).copy(), FLOAT64, what)
            J = np.zeros((T, 2, L1))
            J[:, 0, :d] = 2 * W.reshape(T, d)
            J[:, 1, d] = 1.0
            af = np.ascontiguousarray(a).reshape(T)
            P = 0.5 * af * af
            dP = np.zeros((T, L1))
            dP[:, d + 1] = af
            d2P = np.zeros((T, L1, L1))
            d2P[:, d + 1, d + 1] = 1.0
            loc = asm._local(val, gk, Hk, J, [(0, (0, d), (0, d), 2)], P, dP, d2P, order, FLOAT64)
            add(loc, rows_n, np.tile(self.index, (B, 1)), n)
            # student pairs i < j: a_i a_j kappa_ss; x = (w_i, beta_i, a_i, w_j, beta_j, a_j)
            if n > 1:
                ii, jj = np.triu_indices(n, 1)
                m = len(ii)
                T = B * m
                args = tuple(x.reshape(T) for x in (g[:, ii], g[:, jj], G[:, ii, jj], D[:, ii, jj])) + (
                    np.ascontiguousarray(beta[:, ii]).reshape(T), np.ascontiguousarray(beta[:, jj]).reshape(T))
                names = _Names(lambda p: (f"row {p // m}: student neuron {ii[p % m]}", f"student neuron {jj[p % m]}"))
                val, gk, Hk = asm._pair_values(s, s, order, args, FLOAT64, not asm.layout.bias, what, names)
                L2 = 2 * L1
                Wi, Wj = W[:, ii].reshape(T, d), W[:, jj].reshape(T, d)
                J = np.zeros((T, 5, L2))
                J[:, 0, :d] = 2 * Wi
                J[:, 1, L1:L1 + d] = 2 * Wj
                J[:, 2, :d] = Wj
                J[:, 2, L1:L1 + d] = Wi
                J[:, 3, d] = 1.0
                J[:, 4, L1 + d] = 1.0
                ai, aj = np.ascontiguousarray(a[:, ii]).reshape(T), np.ascontiguousarray(a[:, jj]).reshape(T)
                P = ai * aj
                dP = np.zeros((T, L2))
                dP[:, d + 1] = aj
                dP[:, L1 + d + 1] = ai
                d2P = np.zeros((T, L2, L2))
                d2P[:, d + 1, L1 + d + 1] = 1.0
                d2P[:, L1 + d + 1, d + 1] = 1.0
                ident = [(0, (0, d), (0, d), 2), (1, (L1, L1 + d), (L1, L1 + d), 2),
                         (2, (0, d), (L1, L1 + d), 1), (2, (L1, L1 + d), (0, d), 1)]
                loc = asm._local(val, gk, Hk, J, ident, P, dP, d2P, order, FLOAT64)
                index = np.tile(np.concatenate([self.index[ii], self.index[jj]], axis=1), (B, 1))
                add(loc, np.repeat(np.arange(B), m), index, m)
            # student-teacher pairs: -a_i b_r kappa_st; x = (w_i, beta_i, a_i)
            if k:
                ii, rr = (x.ravel() for x in np.meshgrid(np.arange(n), np.arange(k), indexing="ij"))
                m = len(ii)
                T = B * m
                qq = n + rr
                args = tuple(x.reshape(T) for x in (g[:, ii], g[:, qq], G[:, ii, qq], D[:, ii, qq])) + (
                    np.ascontiguousarray(beta[:, ii]).reshape(T), np.tile(tb[rr], B))
                names = _Names(lambda p: (f"row {p // m}: student neuron {ii[p % m]}", f"teacher neuron {rr[p % m]}"))
                val, gk, Hk = asm._pair_values(s, tact, order, args, FLOAT64, asm._zero_means_st, what, names)
                J = np.zeros((T, 5, L1))
                J[:, 0, :d] = 2 * W[:, ii].reshape(T, d)
                J[:, 2, :d] = np.tile(V[rr], (B, 1))
                J[:, 3, d] = 1.0
                btr = np.tile(bt[rr], B)
                P = -np.ascontiguousarray(a[:, ii]).reshape(T) * btr
                dP = np.zeros((T, L1))
                dP[:, d + 1] = -btr
                d2P = np.zeros((T, L1, L1))
                loc = asm._local(val, gk, Hk, J, [(0, (0, d), (0, d), 2)], P, dP, d2P, order, FLOAT64)
                add(loc, np.repeat(np.arange(B), m), np.tile(self.index[ii], (B, 1)), m)
        return _trimmed(loss, grad, hess, N, order, ~np.isfinite(loss))


# ---------------------------------------------------------------------------
# GLU units: the plain part batched, GLU pair terms flattened over rows and pairs
# ---------------------------------------------------------------------------
class _GluBatch:
    """The GLU assembly (:class:`~symland.problems.glu_assembly.GluAssembly`) over a batch of rows."""

    def __init__(self, asm: GluAssembly):
        self.asm = asm
        self.act = asm.activation
        self.layout = asm.layout
        self.n, self.d, self.m = asm.layout.n, asm.layout.d, asm.layout.glus
        self.size = asm.layout.size
        self.offsets = asm.layout.offsets()
        self.plain = _GramBatch(asm.gram) if self.n else None
        self.nplain = asm.gram.layout.size
        self.a_fixed = np.asarray(asm.student_output, dtype=float)
        self.singular = singular_at_alignment(self.act)

    def bytes_per_row(self, order):
        P = self.n + self.asm.gram.k
        pairs = self.m * P + self.m * (self.m - 1) // 2 + self.m
        L = 2 + 4 * self.d
        per = pairs * (40 + 4 * L) + (self.plain.bytes_per_row(order) // 8 if self.plain else 0)
        if order >= 2:
            per += pairs * 6 * L * L + 3 * (self.size + 1) ** 2
        return 8 * per

    def _boosted_rows(self, Th, order):
        r"""Rows the single-point engine evaluates in mpmath with more digits: a kinked kernel and a GLU
        gate $w_j$ with another unit at $D/(ab)$ below ``_BOOST_BELOW[order]`` (from the residual of the
        unit against $w_j$), or exactly aligned (which the single-point engine refuses)."""
        B, n, d, m = len(Th), self.n, self.d, self.m
        W = Th[:, :n * d].reshape(B, n, d)
        Wg = Th[:, self.offsets["glu_w"]].reshape(B, m, d)
        V = self.asm.gram.V
        others = np.concatenate([W, np.broadcast_to(V, (B,) + V.shape), Wg], axis=1)  # (B, O, d)
        A = np.einsum("bjd,bjd->bj", Wg, Wg)  # (B, m)
        Bo = np.einsum("bod,bod->bo", others, others)  # (B, O)
        C = np.matmul(Wg, others.transpose(0, 2, 1))  # (B, m, O)
        ok = (A[:, :, None] > 0) & (Bo[:, None, :] > 0)
        own = n + V.shape[0] + np.arange(m)
        ok[:, np.arange(m), own] = False
        coef = np.where(ok, C / np.where(A[:, :, None] > 0, A[:, :, None], 1.0), 0.0)
        r = others[:, None, :, :] - coef[..., None] * Wg[:, :, None, :]
        ratio = np.einsum("bjod,bjod->bjo", r, r) / np.where(Bo[:, None, :] > 0, Bo[:, None, :], 1.0)
        ratio = np.where(ok, ratio, np.inf).reshape(B, -1)
        worst = ratio.min(axis=1) if ratio.shape[1] else np.full(B, np.inf)
        return worst < _BOOST_BELOW[order]

    def evaluate(self, Th, order):
        asm, act, what = self.asm, self.act, WHAT[order]
        B, n, d, m, N = len(Th), self.n, self.d, self.m, self.size
        with np.errstate(all="ignore"):
            trouble = self._boosted_rows(Th, order) if self.singular else np.zeros(B, dtype=bool)
            grad = np.zeros((B, N + 1)) if order >= 1 else None
            hess = np.zeros((B, N + 1, N + 1)) if order >= 2 else None
            if self.plain is not None:
                loss, g0, h0, t0 = self.plain.evaluate(np.ascontiguousarray(Th[:, :self.nplain]), order)
                loss = loss.copy()
                trouble |= t0
                if order >= 1:
                    grad[:, :self.nplain] = g0
                if order >= 2:
                    hess[:, :self.nplain, :self.nplain] = h0
            else:
                loss = np.full(B, float(asm.gram.teacher_constant(FLOAT64)))
            c = Th[:, self.offsets["glu_c"]]
            Wg = Th[:, self.offsets["glu_w"]].reshape(B, m, d)
            Vg = Th[:, self.offsets["glu_v"]].reshape(B, m, d)
            W = Th[:, :n * d].reshape(B, n, d)
            a = Th[:, self.offsets["a"]] if "a" in self.offsets else np.broadcast_to(self.a_fixed, (B, n))
            Vt, bt = asm.gram.V, asm.gram.b
            Up = np.concatenate([W, np.broadcast_to(Vt, (B,) + Vt.shape)], axis=1)
            alp = np.concatenate([a, np.broadcast_to(-bt, (B, len(bt)))], axis=1)

            def add(kind, scalars, X, index, p):
                nonlocal loss
                names = _Names(lambda t: f"row {t // p}: GLU pair {t % p}")
                val, gl, hl = glu_pair_sum(kind, act, order, False, scalars, X, names, what)
                loss = loss + np.asarray(val, dtype=float).reshape(B, p).sum(axis=1)
                idx = np.where(index >= 0, index, N)
                rows = np.repeat(np.arange(B), p)
                if order >= 1:
                    _scatter(grad, rows, np.tile(idx, (B, 1)), gl)
                if order >= 2:
                    _scatter(hess, rows, np.tile(idx, (B, 1)), hl)

            struct = asm.structure
            if "gp" in struct:  # GLU x plain unit
                jj, qq, index = struct["gp"]
                p = len(jj)
                X = np.stack([Wg[:, jj], Vg[:, jj], Up[:, qq]], axis=2).reshape(B * p, 3, d)
                add("gp", [c[:, jj].reshape(-1), alp[:, qq].reshape(-1)], X, index, p)
            if "gg" in struct:  # two distinct GLUs
                jj, ll, index = struct["gg"]
                p = len(jj)
                X = np.stack([Wg[:, jj], Vg[:, jj], Wg[:, ll], Vg[:, ll]], axis=2).reshape(B * p, 4, d)
                add("gg", [c[:, jj].reshape(-1), c[:, ll].reshape(-1)], X, index, p)
            jj, _, index = struct["self"]  # each GLU with itself
            X = np.stack([Wg, Vg], axis=2).reshape(B * m, 2, d)
            add("self", [np.ascontiguousarray(c).reshape(-1)], X, index, m)
        return _trimmed(loss, grad, hess, N, order, trouble | ~np.isfinite(loss))



def _trimmed(loss, grad, hess, N, order, trouble):
    """The first ``N`` gradient and Hessian entries (the padding dropped) and the rows with a non-finite
    result flagged in ``trouble``: ``(loss, grad, hess, trouble)``."""
    if order >= 1:
        grad = grad[:, :N]
        trouble |= ~np.isfinite(grad).all(axis=1)
    if order >= 2:
        hess = np.ascontiguousarray(hess[:, :N, :N])
        trouble |= ~np.isfinite(hess.reshape(len(hess), -1)).all(axis=1)
    return loss, grad, hess, trouble

# ---------------------------------------------------------------------------
# the public driver
# ---------------------------------------------------------------------------
class BatchedTeacherStudent:
    r"""Loss, gradient and Hessian of one :class:`~symland.problems.teacher_student.TeacherStudent`
    at a batch of parameter vectors ``Theta`` (B, P), in float64 (module docstring).

    ``kind`` is ``"plain"``, ``"means"`` (biases or a teacher activation other than the
    student's) or ``"glu"``.  Every method validates ``Theta`` (:func:`check_batch`) and raises a
    :class:`~symland.errors.DomainError` naming ``Theta`` and the row where a row cannot be
    evaluated; :meth:`evaluate` with ``on_error="mask"`` instead returns NaN for such rows and the
    reasons in ``errors``.  Batches whose temporaries would exceed :data:`MEMORY_BUDGET` are
    evaluated in chunks of rows (the results are the same).
    """

    def __init__(self, problem):
        if not isinstance(problem, TeacherStudent):
            raise DomainError(f"argument problem must be a TeacherStudent, got {type(problem).__name__}")
        self.problem = problem
        asm = problem._assembly
        if isinstance(asm, GramAssembly):
            self.kind, self._engine = "plain", _GramBatch(asm)
        elif isinstance(asm, MeansAssembly):
            self.kind, self._engine = "means", _MeansBatch(asm)
        elif isinstance(asm, GluAssembly):
            self.kind, self._engine = "glu", _GluBatch(asm)
        else:  # a future assembly: say so rather than compute something else
            raise DomainError(f"argument problem: {problem!r} uses the assembly {type(asm).__name__}, which has "
                              "no batched form in symland.problems.batched")
        self.num_params = problem.num_params
        #: rows handed to the single-point engine so far (configurations the batch leaves to it)
        self.single_rows = 0

    def __repr__(self):
        return f"BatchedTeacherStudent({self.problem!r}, kind={self.kind!r})"

    def check(self, Theta, name="Theta"):
        """``Theta`` validated (:func:`check_batch`) as a float64 array ``(B, num_params)``."""
        return check_batch(Theta, self.num_params, name)

    # ------------------------------------------------------------------
    def evaluate(self, Theta, order: int = 1, on_error: str = "raise") -> BatchedEvaluation:
        """Losses (``order`` 0), + gradients (1), + Hessians (2) of every row of ``Theta``.

        ``on_error="raise"`` (default): a row that cannot be evaluated raises its
        :class:`~symland.errors.DomainError`, prefixed with ``argument Theta, row r``;
        ``"mask"``: its results are NaN and the message is in ``errors[r]``.
        """
        if isinstance(order, bool) or order not in (0, 1, 2):
            raise DomainError(f"argument order must be 0, 1 or 2, got {order!r}")
        if on_error not in ("raise", "mask"):
            raise DomainError(f"argument on_error must be 'raise' or 'mask', got {on_error!r}")
        Th = self.check(Theta)
        B, N = Th.shape
        loss = np.empty(B)
        grad = np.empty((B, N)) if order >= 1 else None
        hess = np.empty((B, N, N)) if order >= 2 else None
        errors = {}
        chunk = max(1, MEMORY_BUDGET // max(1, self._engine.bytes_per_row(order)))
        for s0 in range(0, B, chunk):
            self._evaluate_rows(Th, s0, min(B, s0 + chunk), order, on_error, loss, grad, hess, errors)
        return BatchedEvaluation(loss, grad, hess, errors)

    def _evaluate_rows(self, Th, start, stop, order, on_error, loss, grad, hess, errors):
        """Batched evaluation of rows ``start:stop`` into the outputs; bisected where an engine raises."""
        rows = slice(start, stop)
        try:
            lo, g, h, trouble = self._engine.evaluate(Th[rows], order)
        except SymlandError:
            if stop - start > 1:
                mid = (start + stop) // 2
                self._evaluate_rows(Th, start, mid, order, on_error, loss, grad, hess, errors)
                self._evaluate_rows(Th, mid, stop, order, on_error, loss, grad, hess, errors)
                return
            lo, g, h, trouble = np.full(1, np.nan), None, None, np.ones(1, dtype=bool)
        loss[rows] = lo
        if order >= 1 and g is not None:
            grad[rows] = g
        if order >= 2 and h is not None:
            hess[rows] = h
        for t in np.flatnonzero(trouble):
            self._single(Th, start + int(t), order, on_error, loss, grad, hess, errors)

    def _single(self, Th, r, order, on_error, loss, grad, hess, errors):
        """Row ``r`` by the single-point engine (the configurations the batch leaves to it)."""
        self.single_rows += 1
        try:
            ev = self.problem.evaluate(Th[r], FLOAT64, order)
            vals = [ev.loss, ev.gradient, ev.hessian][:order + 1]
            if not all(np.all(np.isfinite(v)) for v in vals):
                raise DomainError(f"cannot evaluate the {WHAT[order]}: a value is not finite in float64")
        except SymlandError as exc:
            msg = f"argument Theta, row {r}: {exc}"
            if on_error == "raise":
                if isinstance(exc, DomainError):
                    raise type(exc)(msg) from exc
                raise  # a property of the problem (e.g. no closed form), not of the row
            errors[r] = msg
            loss[r] = np.nan
            if order >= 1:
                grad[r] = np.nan
            if order >= 2:
                hess[r] = np.nan
            return
        loss[r] = float(ev.loss)
        if order >= 1:
            grad[r] = ev.gradient
        if order >= 2:
            hess[r] = ev.hessian

    # ------------------------------------------------------------------
    def loss(self, Theta):
        r"""$L(\theta_b) = \tfrac12E[(f - f^*)^2]$ per row, shape ``(B,)``."""
        return self.evaluate(Theta, 0).loss

    def loss_and_gradient(self, Theta):
        r"""``(loss (B,), gradient (B, P))``: $L(\theta_b)$ and $\nabla_\theta L(\theta_b)$ per row."""
        ev = self.evaluate(Theta, 1)
        return ev.loss, ev.gradient

    def gradient(self, Theta):
        r"""$\nabla_\theta L(\theta_b)$ per row, shape ``(B, P)``."""
        return self.evaluate(Theta, 1).gradient

    def hessian(self, Theta):
        r"""$\nabla^2_\theta L(\theta_b)$ per row, shape ``(B, P, P)``."""
        return self.evaluate(Theta, 2).hessian


def batched_evaluate(problem, Theta, order: int = 1, on_error: str = "raise") -> BatchedEvaluation:
    """:meth:`BatchedTeacherStudent.evaluate` of ``problem`` (a new batched view each call; keep a
    :class:`BatchedTeacherStudent` to evaluate one problem repeatedly)."""
    return BatchedTeacherStudent(problem).evaluate(Theta, order, on_error)
