r"""Teacher-student problems: loss, gradient and Hessian from kernel partials.

Setting (``DESIGN.md``): input $x \sim N(0, I_d)$, student
$f(x) = \sum_{i=1}^n a_i s(w_i\cdot x)$, teacher $f^*(x) = \sum_{r=1}^k b_r s(v_r\cdot x)$,
loss $L = \tfrac12 E_x[(f(x) - f^*(x))^2]$.

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
multiple of the identity (see :meth:`TeacherStudent.hessian`), so nothing of
size $P^2 d^2$ beyond the result itself is ever formed.

One assembly serves both precisions: float64 numpy arrays, or numpy object
arrays of ``mpmath.mpf`` at ``dps`` digits (plus guard digits).
"""

from __future__ import annotations

import mpmath
import numpy as np

from ..kernels.activation import Activation
from ..kernels.registry import activation
from ..numerics.precision import check_dps, zeros
from ..errors import DomainError, ShapeError
from ..kernels.evaluate import diagonal_evaluator, partial_evaluator
from ..kernels.partials import singular_at_alignment

__all__ = ["TeacherStudent"]

_GUARD = 10
#: pairs with D < _NEAR * a * b get D recomputed from residual vectors (float64)
_NEAR = 1e-6
#: squared angle below which a float64 Hessian of a non-smooth kernel is computed in mpmath
_FLOAT_ALIGNED = 1e-12


def _as_float_array(x, name, shape=None, ndim=None):
    try:
        arr = np.array(x, dtype=float)
    except (TypeError, ValueError):
        raise ShapeError(f"argument {name} must be a numeric array, got {type(x).__name__}") from None
    if ndim is not None and arr.ndim != ndim:
        raise ShapeError(f"argument {name} must be {ndim}-dimensional, got shape {arr.shape}")
    if shape is not None and arr.shape != tuple(shape):
        raise ShapeError(f"argument {name} must have shape {tuple(shape)}, got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise DomainError(f"argument {name} must be finite; it has NaN or inf entries")
    return arr


def _as_mp_array(x, name, shape):
    arr = np.array(x, dtype=object)
    if arr.shape != tuple(shape):
        raise ShapeError(f"argument {name} must have shape {tuple(shape)}, got {arr.shape}")
    flat = arr.reshape(-1)
    for k, v in enumerate(flat):
        try:
            flat[k] = mpmath.mpf(v)
        except (TypeError, ValueError):
            raise DomainError(f"argument {name}: entry {k} ({v!r}) is not a real number") from None
        if not mpmath.isfinite(flat[k]):
            raise DomainError(f"argument {name} must be finite; entry {k} is {flat[k]}")
    return flat.reshape(arr.shape)


class _Precision:
    """Numeric context: float64 (``dps=None``) or mpmath at ``dps`` digits."""

    def __init__(self, dps):
        self.dps = None if dps is None else check_dps(dps)
        self.mp = self.dps is not None

    def __enter__(self):
        if self.mp:
            self._ctx = mpmath.workdps(self.dps + _GUARD)
            self._ctx.__enter__()
        else:
            self._ctx = np.errstate(all="ignore")
            self._ctx.__enter__()
        return self

    def __exit__(self, *exc):
        return self._ctx.__exit__(*exc)

    def zeros(self, shape):
        return zeros(shape, self.mp)

    def finalize(self, x):
        """Round to the requested precision (mpmath) or pass through (float64)."""
        if not self.mp:
            return x
        with mpmath.workdps(self.dps):
            if isinstance(x, np.ndarray):
                return np.vectorize(lambda v: +v, otypes=[object])(x) if x.size else x
            return +x


_FLOAT = _Precision(None)


def _differs(teacher_activation, student_activation):
    """True when a teacher activation is given and is not the student's."""
    if teacher_activation is None or student_activation is None:
        return False
    return activation(teacher_activation).name != activation(student_activation).name


class TeacherStudent:
    r"""Two-layer teacher-student regression under Gaussian input.

    Parameters
    ----------
    activation : str or Activation
        Shared activation of teacher and student (``"erf"`` is erf(z/sqrt 2)).
    teacher_weights : array (k, d)
        Teacher input weights $V$ (rows $v_r$).
    teacher_output : array (k,), optional
        Teacher output weights $b$ (default all ones).
    n : int
        Number of student neurons.
    train_output : bool
        Train the student's output weights $a$ (default).  With ``False`` they
        are fixed to ``student_output`` (default all ones; the Safran & Shamir
        setting) and the parameters are $W$ only.
    student_output : array (n,), optional
        Fixed output weights used when ``train_output=False``.
    glus : int
        Number $m$ of gated linear units $g_j(x) = c_j s(w_j\cdot x) + (v_j\cdot x)s'(w_j\cdot x)$
        added to the student (default 0; ``n = 0`` is allowed when ``glus >= 1``).  Their
        terms are in :mod:`symland.problems.glu`.

    Parameters are packed as ``theta = [W.ravel(), a]`` (row-major $W$), or
    ``theta = W.ravel()`` when the output weights are fixed; with GLU units
    ``[W.ravel(), a (if trained), glu_c (m), glu_w.ravel() (m d), glu_v.ravel() (m d)]``.
    Loss is $L = \tfrac12 E[(f - f^*)^2]$.
    """

    def __new__(cls, activation_name=None, *args, bias=False, teacher_activation=None, teacher_bias=None,
                **kwargs):
        # Biases (student or teacher) and a teacher activation different from the student's need
        # kernels with means and cross kernels E[s(u) t(v)]: that general assembly lives in its own module.
        if cls is TeacherStudent and (bias or teacher_bias is not None
                                      or _differs(teacher_activation, activation_name)):
            if kwargs.get("glus"):
                raise ShapeError("glus: GLU units are not supported together with biases or a "
                                 "different teacher activation")
            from .biased import GeneralTeacherStudent
            return super().__new__(GeneralTeacherStudent)
        return super().__new__(cls)

    def __init__(self, activation_name, teacher_weights, teacher_output=None, n=None,
                 train_output=True, student_output=None, bias=False, teacher_activation=None, glus=0):
        self.activation: Activation = activation(activation_name)
        V = _as_float_array(teacher_weights, "teacher_weights", ndim=2)
        k, d = V.shape
        if k < 1 or d < 1:
            raise ShapeError(f"teacher_weights must have at least one row and column, got {V.shape}")
        b = np.ones(k) if teacher_output is None else _as_float_array(teacher_output, "teacher_output", shape=(k,))
        if n is None:
            raise ShapeError("n (number of student neurons) is required")
        if isinstance(glus, bool) or not isinstance(glus, (int, np.integer)) or glus < 0:
            raise ShapeError(f"glus must be a non-negative integer, got {glus!r}")
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < (0 if glus else 1):
            raise ShapeError(f"n must be a positive integer (or 0 when glus >= 1), got {n!r}")
        self.teacher_weights = V
        self.teacher_output = b
        self.n, self.k, self.d = int(n), k, d
        # a zero-norm teacher neuron with s(0) = 0 is the zero function: drop it from the sums
        # (its kernel partials may be undefined, e.g. relu, but it contributes nothing)
        keep = np.ones(k, dtype=bool)
        if self.activation.vanishes_at_zero:
            keep = np.linalg.norm(V, axis=1) > 0
        self._V, self._b, self._k = V[keep], b[keep], int(np.count_nonzero(keep))
        self.train_output = bool(train_output)
        if student_output is None:
            self.student_output = np.ones(self.n)
        else:
            self.student_output = _as_float_array(student_output, "student_output", shape=(self.n,))
        self._teacher_constant = {}
        self.glus = int(glus)
        if self.glus:
            from . import glu

            glu.check_activation(self.activation)
            # the ordinary neurons with the teacher, evaluated by the plain assembly
            self._plain = TeacherStudent(self.activation, V, b, n=max(self.n, 1), train_output=self.train_output,
                                         student_output=self.student_output if self.n else None)

    def __getstate__(self):
        # compiled kernels are rebuilt on first use; they do not pickle (process pools, dask)
        state = self.__dict__.copy()
        state.pop("_fast", None)
        return state

    # ------------------------------------------------------------------
    @classmethod
    def orthonormal(cls, activation_name, k, n, d=None, train_output=True, student_output=None, **options):
        r"""Orthonormal teacher: $V$ = first ``k`` rows of $I_d$ (default ``d = k``), $b = 1$.

        ``options`` go to the constructor (``glus``, ``bias``, ``teacher_activation``, ``teacher_bias``).
        """
        d = k if d is None else d
        if d < k:
            raise ShapeError(f"orthonormal teacher needs d >= k, got d={d}, k={k}")
        return cls(activation_name, np.eye(d)[:k], np.ones(k), n=n, train_output=train_output,
                   student_output=student_output, **options)

    @property
    def num_params(self) -> int:
        """Length of the packed parameter vector."""
        return self.n * self.d + (self.n if self.train_output else 0) + self.glus * (1 + 2 * self.d)

    def __repr__(self):
        glus = f", glus={self.glus}" if self.glus else ""
        return (f"TeacherStudent({self.activation.name!r}, n={self.n}, k={self.k}, d={self.d}, "
                f"train_output={self.train_output}{glus})")

    # ------------------------------------------------------------------
    def pack(self, W, a=None, glu_c=None, glu_w=None, glu_v=None):
        """Flat parameter vector from student weights ``W`` (n, d) and output weights ``a`` (n,).

        With GLU units also ``glu_c`` (m,), ``glu_w`` (m, d), ``glu_v`` (m, d) (all required).
        """
        if self.glus:
            if self.n == 0 and W is None:
                W = np.zeros((0, self.d))
            if self.n == 0 and a is None and self.train_output:
                a = np.zeros(0)
            plain = TeacherStudent.pack(self._plain_view(), W, a)
            for name, val in (("glu_c", glu_c), ("glu_w", glu_w), ("glu_v", glu_v)):
                if val is None:
                    raise ShapeError(f"argument {name} is required: the problem has glus={self.glus}")
            c = _as_float_array(glu_c, "glu_c", shape=(self.glus,))
            gw = _as_float_array(glu_w, "glu_w", shape=(self.glus, self.d))
            gv = _as_float_array(glu_v, "glu_v", shape=(self.glus, self.d))
            return np.concatenate([plain, c, gw.ravel(), gv.ravel()])
        for name, val in (("glu_c", glu_c), ("glu_w", glu_w), ("glu_v", glu_v)):
            if val is not None:
                raise ShapeError(f"argument {name} must be omitted: the problem has no GLU units (glus=0)")
        W = _as_float_array(W, "W", shape=(self.n, self.d))
        if self.train_output:
            if a is None:
                raise ShapeError("argument a (student output weights) is required when train_output=True")
            a = _as_float_array(a, "a", shape=(self.n,))
            return np.concatenate([W.ravel(), a])
        if a is not None:
            a = _as_float_array(a, "a", shape=(self.n,))
            if not np.array_equal(a, self.student_output):
                raise ShapeError("argument a must be omitted (or equal the fixed student_output) "
                                 "when train_output=False")
        return W.ravel().copy()

    def _plain_view(self):
        """A shallow copy with glus = 0 (shapes of the ordinary part; n may be 0)."""
        view = object.__new__(TeacherStudent)
        view.__dict__.update(self.__dict__)
        view.glus = 0
        return view

    def unpack(self, theta):
        """``(W, a)`` from a flat parameter vector (``a`` is the fixed one if not trained).

        With GLU units: ``(W, a, glu_c, glu_w, glu_v)``.
        """
        if self.glus:
            from .glu import split_theta

            if np.asarray(theta).dtype == object:  # mpmath numbers: keep every digit (no re-rounding)
                theta = np.asarray(theta)
                if theta.shape != (self.num_params,):
                    raise ShapeError(f"argument theta must have shape {(self.num_params,)}, got {theta.shape}")
            else:
                theta = self._check_theta(theta, None)
            W, a, c, gw, gv = split_theta(self, theta)
            if a is None:
                a = self.student_output.copy()
            return W, a, c, gw, gv
        theta = self._check_theta(theta, None)
        nd = self.n * self.d
        W = theta[:nd].reshape(self.n, self.d)
        a = theta[nd:] if self.train_output else self.student_output.copy()
        return W, a

    def _check_theta(self, theta, prec):
        if prec is not None and prec.mp:
            return _as_mp_array(theta, "theta", (self.num_params,))
        return _as_float_array(theta, "theta", shape=(self.num_params,))

    # ------------------------------------------------------------------
    def _units(self, theta, prec):
        """Stacked units U (P, d) and signed output weights alpha (P,) in the precision."""
        theta = self._check_theta(theta, prec)
        nd = self.n * self.d
        W = theta[:nd].reshape(self.n, self.d)
        if prec.mp:
            V = _as_mp_array(self._V, "teacher_weights", (self._k, self.d))
            b = _as_mp_array(self._b, "teacher_output", (self._k,))
            a = theta[nd:] if self.train_output else _as_mp_array(self.student_output, "student_output", (self.n,))
        else:
            V, b = self._V, self._b
            a = theta[nd:] if self.train_output else self.student_output
        U = np.concatenate([W, V], axis=0)
        alpha = np.concatenate([a, -b])
        return U, alpha

    def _gram(self, U, rows, prec):
        """Gram block G[rows, :] with stable D = G_ii G_qq - G_iq^2."""
        if prec.mp:
            with mpmath.workprec(2 * mpmath.mp.prec + 20):
                G = U[rows] @ U.T
                g_all = np.array([sum(u * u for u in row) for row in U], dtype=object)
                A = g_all[rows][:, None] * np.ones((1, len(U)), dtype=object)
                B = np.ones((len(rows), 1), dtype=object) * g_all[None, :]
                D = A * B - G * G
            return (np.vectorize(lambda v: +v, otypes=[object])(x) for x in (A, B, G, D))
        G = U[rows] @ U.T
        g_all = np.einsum("pd,pd->p", U, U)
        A = np.broadcast_to(g_all[rows][:, None], G.shape)
        B = np.broadcast_to(g_all[None, :], G.shape)
        D = A * B - G * G
        near = D < _NEAR * A * B
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

    def _partials(self, indices, A, B, G, D, prec, offdiag_mask, what):
        """Evaluate kernel partials on the block; diagonal (self) entries are set to 0.

        Self pairs (where ``offdiag_mask`` is False) are evaluated at a harmless covariance and overwritten, because the
        diagonal of the loss uses $\\varphi(t) = \\kappa(t, t, t)$ instead.
        """
        out = {}
        mp = prec.mp
        diag = np.nonzero(~offdiag_mask)
        zero = mpmath.mpf(0) if mp else 0.0
        G_ = G.copy()
        D_ = D.copy()
        G_[diag] = zero
        D_[diag] = mpmath.mpf(1) if mp else 1.0
        if mp:
            A_, B_ = np.array(A, dtype=object), np.array(B, dtype=object)
            A_[diag] = mpmath.mpf(1)
            B_[diag] = mpmath.mpf(1)
        else:
            A_, B_ = A, B
        for idx in indices:
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
        if val.dtype == object:
            bad = np.vectorize(lambda v: not mpmath.isfinite(v), otypes=[bool])(val) & mask
        else:
            bad = ~np.isfinite(val) & mask
        if not np.any(bad):
            return
        i, q = (int(v) for v in np.argwhere(bad)[0])
        unit = self._unit_name(q)
        if A[i, q] == 0 or B[i, q] == 0:
            zero = f"student neuron {i}" if A[i, q] == 0 else unit
            reason = (f"{zero} has zero norm, where the {self.activation.name} "
                      f"kernel partial {idx} is undefined")
        elif D[i, q] == 0:
            reason = (f"student neuron {i} and {unit} are exactly aligned (c**2 = a*b), where the "
                      f"{self.activation.name} kernel partial {idx} is singular")
        else:
            reason = f"kernel partial {idx} is not finite for student neuron {i} and {unit}"
        raise DomainError(f"cannot evaluate the {what}: {reason}")

    def _unit_name(self, q):
        return f"student neuron {q}" if q < self.n else f"teacher neuron {q - self.n}"

    def _diag(self, m, t, prec, what):
        val = np.array(diagonal_evaluator(self.activation, m, prec.mp)(t), dtype=object if prec.mp else float)
        ok = (np.vectorize(mpmath.isfinite, otypes=[bool])(val) if prec.mp else np.isfinite(val))
        if not np.all(ok):
            i = int(np.flatnonzero(~ok)[0])
            raise DomainError(f"cannot evaluate the {what}: phi^({m}) of {self.activation.name} is not "
                              f"finite for student neuron {i} (zero norm?)")
        return val

    # ------------------------------------------------------------------
    def _teacher_term(self, U, alpha, prec):
        key = prec.dps
        if key not in self._teacher_constant and self._k == 0:
            self._teacher_constant[key] = prec.zeros(()) [()]
        if key not in self._teacher_constant:
            k = self._k
            rows = np.arange(self.n, self.n + k)
            A, B, G, D = self._gram(U, rows, prec)
            mask = np.ones(G.shape, dtype=bool)
            mask[np.arange(k), rows] = False
            K = self._partials([(0, 0, 0)], A, B, G, D, prec, mask, "loss")[(0, 0, 0)]
            phi = self._diag(0, np.array([A[r, self.n + r] for r in range(k)], dtype=A.dtype), prec, "loss")
            K[np.arange(k), rows] = phi
            ab = alpha[self.n:]
            self._teacher_constant[key] = 0.5 * (ab @ (K[:, self.n:] @ ab))
        return self._teacher_constant[key]

    def _aligned_limit(self, theta, dps, aligned, prec):
        r"""Hessian at exactly aligned pairs of a non-smooth kernel, as a limit.

        The second kernel partials are infinite at $D = 0$, but the loss is
        $C^2$ there: their singular part enters as
        $\sqrt{ab}\,k''(\rho)\nabla\rho\nabla\rho^\top$ with $\nabla\rho \to 0$, so
        the Hessian is continuous and the limit equals the Hessian at a point
        moved by $\varepsilon = 10^{-(dps+5)}$ (relative) orthogonally to each
        aligned student, up to $O(\varepsilon)$; the nearby evaluation uses the
        extra digits of :meth:`_alignment_digits`.  Loss and gradient are
        those at ``theta`` itself.
        """
        if self.d == 1:
            raise DomainError("cannot evaluate the Hessian: with d = 1 every pair of neurons is aligned and "
                              f"the {self.activation.name} Hessian is singular there")
        exact = self._check_theta(theta, prec)
        loss, grad = self._evaluate(exact, dps, 1)
        with mpmath.workdps(2 * dps + 40):
            moved = np.array([mpmath.mpf(v) for v in exact], dtype=object)
            eps = mpmath.mpf(10) ** (-(dps + 5))
            # move one neuron of each aligned pair (the student, or the lower-numbered student),
            # each along its own direction, so that no two moved neurons stay aligned
            movers = sorted({i for i, q in aligned if q >= self.n or i < q})
            for rank, i in enumerate(movers):
                w = moved[i * self.d:(i + 1) * self.d]
                # a fixed direction, different per neuron, orthogonalised against w_i
                e = np.array([mpmath.mpf(1) / (j + 2 + 3 * i) ** (1 + (i % 3)) for j in range(self.d)],
                             dtype=object)
                nw2 = mpmath.fsum(x * x for x in w)
                e = e - (mpmath.fsum(x * y for x, y in zip(e, w)) / nw2) * w
                ne = mpmath.sqrt(mpmath.fsum(x * x for x in e))
                if ne == 0:
                    e = np.array([mpmath.mpf(j == 0) for j in range(self.d)], dtype=object)
                    e = e - (mpmath.fsum(x * y for x, y in zip(e, w)) / nw2) * w
                    ne = mpmath.sqrt(mpmath.fsum(x * x for x in e))
                # distinct distances too: in d = 2 all orthogonal directions coincide
                moved[i * self.d:(i + 1) * self.d] = w + ((rank + 1) * eps * mpmath.sqrt(nw2) / ne) * e
            H = self._evaluate(moved, 2 * dps + 20, 2, limit=True)[2]
        return [loss, grad, prec.finalize(H)]

    def _alignment_digits(self, A, B, D, mask):
        r"""Extra digits the mpmath Hessian needs near aligned pairs.

        Second kernel partials of non-smooth activations (ReLU) grow like
        $D^{-1/2}$ as a pair aligns and cancel in the chain rule, losing
        about $\tfrac12\log_{10}(ab/D)$ digits; the Hessian is then evaluated
        with that many more digits (the loss at the given inputs is unchanged).
        """
        worst = None
        for (i, q) in zip(*np.nonzero(mask)):
            if A[i, q] > 0 and B[i, q] > 0 and D[i, q] > 0:
                r = D[i, q] / (A[i, q] * B[i, q])
                worst = r if worst is None or r < worst else worst
        if worst is None or worst > mpmath.mpf("1e-6"):
            return 0
        return int(-mpmath.log10(worst) / 2) + 5

    def _evaluate(self, theta, dps, order, boosted=False, limit=False):
        """Loss (order 0), + gradient (1), + Hessian (2) in one pass."""
        if self.glus:
            from .glu import evaluate

            return evaluate(self, theta, dps, order)
        prec = _Precision(dps)
        with prec:
            U, alpha = self._units(theta, prec)
            n, P = self.n, self.n + self._k
            rows = np.arange(n)
            A, B, G, D = self._gram(U, rows, prec)
            mask = np.ones((n, P), dtype=bool)
            mask[rows, rows] = False
            if not prec.mp and order >= 2 and singular_at_alignment(self.activation):
                # float64 loses ~eps/angle in the chain-rule cancellation near aligned pairs:
                # below an angle of ~1e-6 compute the Hessian in mpmath (precision boosted) instead
                with np.errstate(all="ignore"):
                    ratio = np.where(mask & (A > 0) & (B > 0), D / np.where(A * B > 0, A * B, 1.0), np.inf)
                if np.min(ratio) < _FLOAT_ALIGNED:
                    res = self._evaluate(theta, 20, order)
                    return [np.array(r, dtype=float) if isinstance(r, np.ndarray) else float(r) for r in res]
            singular = order >= 2 and singular_at_alignment(self.activation)
            if prec.mp and singular and not boosted and not limit:
                aligned = [(int(i), int(q)) for i, q in zip(*np.nonzero(mask))
                           if D[i, q] == 0 and A[i, q] > 0 and B[i, q] > 0]
                if aligned:
                    return self._aligned_limit(theta, dps, aligned, prec)
            if prec.mp and singular and not boosted:
                extra = self._alignment_digits(A, B, D, mask)
                if extra:
                    exact_theta = self._check_theta(theta, prec)
                    res = self._evaluate(exact_theta, dps + extra, order, boosted=True)
                    return [prec.finalize(r) for r in res]
            what = ["loss", "gradient", "Hessian"][order]
            idx = [(0, 0, 0)]
            if order >= 1:
                idx += [(1, 0, 0), (0, 0, 1)]
            if order >= 2:
                idx += [(2, 0, 0), (1, 1, 0), (1, 0, 1), (0, 0, 2)]
            kp = self._partials(idx, A, B, G, D, prec, mask, what)
            g_self = np.array([A[i, i] for i in range(n)], dtype=A.dtype)
            phi = [self._diag(m, g_self, prec, what) for m in range(order + 1)]
            K = kp[(0, 0, 0)]
            K[rows, rows] = phi[0]
            a = alpha[:n]
            Ka = K @ alpha  # (n,)
            # L = 1/2 sum_{p,q} alpha_p alpha_q K_pq with K symmetric:
            #   = 1/2 a^T K_WW a + a^T K_WV alpha_V + teacher constant
            loss = 0.5 * (a @ (K[:, :n] @ a)) + a @ (K[:, n:] @ alpha[n:]) + self._teacher_term(U, alpha, prec)
            result = [prec.finalize(loss)]
            if order == 0:
                return result
            Kav, Kcv = kp[(1, 0, 0)], kp[(0, 0, 1)]
            aa = a[:, None] * alpha[None, :]
            S = 0.5 * aa * Kcv
            S[rows, rows] = 0.5 * a * a * phi[1] + (aa * Kav).sum(axis=1)
            gW = 2 * (S @ U)
            grad = gW.ravel()
            if self.train_output:
                grad = np.concatenate([grad, Ka])
            result.append(prec.finalize(grad))
            self._last_gram_gradient = prec.finalize(S[:, :n])
            if order == 1:
                return result
            result.append(prec.finalize(self._hessian(U, alpha, kp, phi, S, K, prec)))
            return result

    def _hessian(self, U, alpha, kp, phi, S, K, prec):
        """Hessian written block by block into one preallocated array (both precisions).

        Blocks as in :meth:`hessian`; temporaries are at most $n^2 d$ (plus one
        $d \\times n \\times d$ slab), the identity part $2S_{ij}I$ is added on the
        diagonal entries only.
        """
        n, d = self.n, self.d
        nd = n * d
        N = nd + (n if self.train_output else 0)
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
        if not self.train_output:
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
    def loss(self, theta, dps=None):
        r"""$L(\theta) = \tfrac12 E[(f - f^*)^2]$: float, or mpmath number at ``dps`` digits."""
        return self._evaluate(theta, dps, 0)[0]

    def gram_gradient(self, theta, dps=None):
        r"""Student block $S_{WW}$ of $\partial L/\partial G$ (symmetric convention, $\nabla_U L = 2SU$).

        At a critical point, perturbing every student by $\varepsilon_i e$ along
        a unit vector $e$ orthogonal to all weight vectors changes the loss by
        $\varepsilon^\top S_{WW}\varepsilon$ to second order, so the Hessian
        restricted to those directions is $2S_{WW}$ (used for problems reduced
        to the span of the weights).
        """
        if self.glus:
            raise ShapeError("gram_gradient is defined for problems without GLU units (glus=0)")
        self._evaluate(theta, dps, 1)
        return self._last_gram_gradient

    def loss_and_gradient(self, theta, dps=None):
        """``(loss, gradient)`` from one evaluation of the kernels."""
        if dps is None and self.activation.has_closed_form and not self.glus:
            fast = self._float_loss_and_gradient(theta)
            if fast is not None:
                return fast
        loss, grad = self._evaluate(theta, dps, 1)
        return loss, grad

    def _float_loss_and_gradient(self, theta):
        """Lean float64 path of :meth:`_evaluate` (order 1) for closed-form kernels.

        Same formulas, fewer temporaries and checks; returns ``None`` (so the
        general path runs and raises the precise error) whenever a pair is
        nearly aligned or a value is not finite.
        """
        cache = self.__dict__.get("_fast")
        if cache is None:
            act = self.activation
            fns = [partial_evaluator(act, i, False, raw=True) for i in ((0, 0, 0), (1, 0, 0), (0, 0, 1))]
            phis = [diagonal_evaluator(act, m, False) for m in (0, 1)]
            U = np.concatenate([np.zeros((self.n, self.d)), self._V])
            alpha = np.concatenate([np.zeros(self.n), -self._b])
            cache = self._fast = (fns, phis, U, alpha, np.arange(self.n))
        fns, phis, U0, alpha0, idx = cache
        theta = _as_float_array(theta, "theta", shape=(self.num_params,))
        n, nd = self.n, self.n * self.d
        U, alpha = U0.copy(), alpha0.copy()
        U[:n] = theta[:nd].reshape(n, self.d)
        alpha[:n] = a = theta[nd:] if self.train_output else self.student_output
        shape = (n, len(U))
        with np.errstate(all="ignore"):
            G = U[:n] @ U.T
            g = np.einsum("pd,pd->p", U, U)
            A, B = g[:n, None], g[None, :]
            D = A * B - G * G
            G[idx, idx] = 0.0
            D[idx, idx] = 1.0
            if np.any(D < _NEAR * A * B):
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
        loss = 0.5 * (a @ (K[:, :n] @ a)) + a @ (K[:, n:] @ alpha[n:]) + self._teacher_term(U, alpha, _FLOAT)
        aa = a[:, None] * alpha[None, :]
        S = 0.5 * aa * Kc
        S[idx, idx] = 0.5 * a * a * phi1 + (aa * Ka).sum(axis=1)
        grad = (2 * (S @ U)).ravel()
        if self.train_output:
            grad = np.concatenate([grad, Kalpha])
        return float(loss), grad

    def gradient(self, theta, dps=None):
        r"""$\nabla_\theta L$ (shape ``(num_params,)``; object array of mpf when ``dps`` is given)."""
        return self.loss_and_gradient(theta, dps)[1]

    def hessian(self, theta, dps=None):
        r"""$\nabla^2_\theta L$ (shape ``(num_params, num_params)``).

        Blocks, with $C^{xy}_{iq} = a_i\alpha_q\,\partial_x\partial_y\kappa(G_{ii}, G_{qq}, G_{iq})$:
        $\partial^2 L/\partial w_i\partial w_j = w_i(4C^{ab}_{ij}w_j + 2C^{ac}_{ij}w_i)^\top
        + w_j(2C^{ac}_{ji}w_j + C^{cc}_{ij}w_i)^\top + 2S_{ij}I$ for $i \ne j$;
        $\partial^2 L/\partial w_i^2 = (4\sum_q C^{aa}_{iq} + 2a_i^2\varphi'')w_iw_i^\top
        + 2(w_i r_i^\top + r_i w_i^\top) + \sum_q C^{cc}_{iq}u_qu_q^\top + 2S_{ii}I$,
        $r_i = \sum_q C^{ac}_{iq}u_q$;
        $\partial^2 L/\partial a_i\partial a_j = K_{ij}$; and
        $\partial^2 L/\partial a_i\partial w_j = 2a_j\kappa_a(j,i)w_j + a_j\kappa_c(j,i)w_i$ ($i\ne j$).
        """
        return self._evaluate(theta, dps, 2)[2]
