r"""Critical points in fixed-point subspaces of isotropy groups (relu, $k = n$, orthonormal teacher).

Setting (Safran & Shamir 2018; Arjevani & Field 2021): teacher $V = I_k$ ($d = k$),
$f^*(x) = \sum_r s(x_r)$, student $f(x) = \sum_i s(w_i\cdot x)$ with output weights
fixed to 1, loss $L(W) = \tfrac12 E_{x\sim N(0, I_k)}[(f - f^*)^2]$, parameters
$\theta = \operatorname{vec}(W)$ (row-major, ``TeacherStudent.orthonormal(act, k, k,
train_output=False)``).

**Symmetry.** $S_k\times S_k$ acts by $(\pi, \rho)\cdot W = P_\pi W P_\rho^\top$:
$\pi$ permutes the student neurons (rows), $\rho$ the input coordinates (columns),
which permutes the orthonormal teacher onto itself; $L$ is invariant.  The
*diagonal* Young subgroup $\Delta(S_{m_1}\times\dots\times S_{m_r})$ — pairs $(\pi, \pi)$
with $\pi$ preserving the blocks $B_1, \dots, B_r$ of sizes $m_1 + \dots + m_r = k$ —
permutes the index pairs $(i, j)$; its fixed-point subspace is spanned by the
indicator vectors of the orbits of index pairs:

* $(i, i)$ with $i \in B_p$: one scalar ``d{p}`` (diagonal of block $p$);
* $(i, j)$, $i \ne j$ both in $B_p$ ($m_p \ge 2$): one scalar ``o{p}``;
* $(i, j)$ with $i \in B_p$, $j \in B_q$, $p \ne q$: one scalar ``c{p}{q}``.

So $\theta = P s$ with a 0/1 integer matrix $P$ whose columns have disjoint supports,
e.g. $\Delta S_k$: $W = \alpha I + \beta(J - I)$; $\Delta(S_{k-1}\times S_1)$: five scalars.

**Symmetric criticality.** The action is orthogonal and $L$ invariant, so
$\nabla L(gW) = g\nabla L(W)$; at $\theta = Ps$ the gradient is itself fixed by the
group, i.e. lies in $\operatorname{range} P$, and $P^\top\nabla L(Ps) = 0$ (the gradient of
the reduced loss $s\mapsto L(Ps)$) implies $\nabla L(Ps) = 0$.  Critical points of the
reduced problem are critical points of the full landscape; this is checked, not
assumed: every returned point is refined with :func:`symland.landscape.critical.refine` in
the full space and its full gradient norm at ``dps + 15`` digits is reported.

**Search** (:func:`symmetric_critical_points`): multi-start damped Newton on the
reduced gradient $P^\top\nabla L$ with the reduced Hessian $P^\top\nabla^2L\,P$ in
float64, then Newton (chord) iterations in mpmath on the reduced gradient, then
full-space :func:`~symland.landscape.critical.refine`.  Points are merged modulo
$S_k\times S_k$ (:func:`symland.landscape.symmetry.same_point`), also across isotropy types.
No completeness is claimed: a multi-start search finds the critical points
whose Newton basins the starts hit.

**Classification** (:func:`classify_hessian`): the full Hessian $H$ is evaluated
in mpmath (``hessian_dps`` digits) and rounded to float64, $H_f$.  By Weyl's
inequality every eigenvalue of $H$ lies within
$\varepsilon_H = \|H - H_f\|_F + 8\,n\,u\,\|H_f\|_2$ ($u = 2^{-53}$; the second term
bounds the backward error of LAPACK's symmetric eigensolver) of the matching
float64 eigenvalue, so when no float64 eigenvalue has modulus below $\varepsilon_H$
the inertia (index, nullity 0) is decided by them.  Otherwise (e.g. at
points with identical neurons, which have exact zero modes) the inertia is
computed, for $n \le 64$, from a symmetric $LDL^\top$ factorisation of $H$ in
mpmath with Bunch–Parlett pivoting (Sylvester's law of inertia), pivots below
$10^{3-\text{hessian\_dps}}\,n\,\|H\|$ counting as zero; for larger $n$ (cubic
cost in mpmath is prohibitive) the ambiguous eigenvalues are decided by
mpmath Rayleigh–Ritz values on their float64 eigenvectors (error
$\|R\|^2/\text{gap}$, so the sign is reliable when the ambiguous cluster is
separated from the rest of the spectrum by a gap far above $\|R\|$).  The smallest
eigenvalues are Rayleigh quotients $\theta = y^\top Hy$ in mpmath of the float64
eigenvectors $y$ (one per cluster of equal float eigenvalues: the symmetry makes
eigenvalues multiple), with the rigorous bound $|\lambda - \theta| \le \|Hy - \theta y\|$
for some eigenvalue $\lambda$ and the Kato–Temple estimate $\|Hy - \theta y\|^2/\text{gap}$.
"""

from __future__ import annotations

import dataclasses
import math
import re
import sys
import time

import mpmath
import numpy as np

from ..kernels.registry import activation as _activation
from ..numerics.precision import check_dps
from ..errors import (
    ConvergenceError,
    DomainError,
    NoClosedFormError,
    ShapeError,
)
from ..problems.teacher_student import TeacherStudent

__all__ = [
    "FixedPointSubspace",
    "fixed_point_subspace",
    "parse_isotropy",
    "ISOTROPY_TYPES",
    "DEFAULT_ISOTROPIES",
    "SymmetricCriticalPoint",
    "SymmetricSearch",
    "symmetric_critical_points",
    "classify_hessian",
    "reduced_newton",
    "young_type",
    "compare_with_survey",
]

_GUARD = 15
_UNIT_ROUNDOFF = 2.0 ** -53

#: named isotropy types: block sizes of the diagonal Young subgroup as a function of k
ISOTROPY_TYPES = {
    "S_k": lambda k: (k,),
    "S_{k-1}xS_1": lambda k: (k - 1, 1),
    "S_{k-2}xS_2": lambda k: (k - 2, 2),
    "S_{k-2}xS_1xS_1": lambda k: (k - 2, 1, 1),
    "S_{k-3}xS_3": lambda k: (k - 3, 3),
    "S_{k-3}xS_2xS_1": lambda k: (k - 3, 2, 1),
}

#: isotropy types searched by default (largest group first)
DEFAULT_ISOTROPIES = ("S_k", "S_{k-1}xS_1", "S_{k-2}xS_2", "S_{k-2}xS_1xS_1")


def _check_k(k):
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 2:
        raise ShapeError(f"k must be an integer >= 2 (teacher = student neurons), got {k!r}")
    return int(k)


def parse_isotropy(k, isotropy) -> tuple:
    """Block sizes of a diagonal Young subgroup from a name, a string ``"4,1,1"`` or a tuple.

    Names: the keys of :data:`ISOTROPY_TYPES` (``"S_k"``, ``"S_{k-1}xS_1"``, ...),
    also written ``"diag(S_{k-1}xS_1)"``, with ``x`` or ``*``.  Explicit sizes must be
    positive integers summing to ``k``.  Returned in the given order (block 1 first).
    """
    k = _check_k(k)
    if isinstance(isotropy, str):
        name = isotropy.strip().replace(" ", "").replace("*", "x").replace("×", "x")
        m = re.fullmatch(r"(?:diag|Delta|Δ)\((.*)\)", name)
        if m:
            name = m.group(1)
        if name in ISOTROPY_TYPES:
            blocks = ISOTROPY_TYPES[name](k)
        elif re.fullmatch(r"\d+(,\d+)*", name):
            blocks = tuple(int(v) for v in name.split(","))
        elif re.fullmatch(r"S_?\{?\d+\}?(xS_?\{?\d+\}?)*", name):
            blocks = tuple(int(v) for v in re.findall(r"\d+", name))
        else:
            raise ShapeError(f"isotropy {isotropy!r} is not understood: use one of {', '.join(ISOTROPY_TYPES)}, "
                             "explicit block sizes like '4,1,1' or 'S_4xS_1xS_1'")
    else:
        try:
            blocks = tuple(int(v) for v in isotropy)
        except TypeError:
            raise ShapeError(f"isotropy must be a name, a string or a sequence of block sizes, "
                             f"got {isotropy!r}") from None
    if not blocks or any(b < 1 for b in blocks):
        raise ShapeError(f"isotropy {isotropy!r} for k={k}: block sizes must be positive integers, got {blocks}")
    if sum(blocks) != k:
        raise ShapeError(f"isotropy {isotropy!r}: block sizes {blocks} must sum to k={k}")
    return blocks


def _label(blocks) -> str:
    return "x".join(f"S_{b}" for b in blocks)


@dataclasses.dataclass(frozen=True)
class FixedPointSubspace:
    r"""Fixed-point subspace $\{\theta = Ps\}$ of a diagonal Young subgroup of $S_k\times S_k$.

    ``P`` is a ``(k*k, dim)`` integer (0/1) matrix, row index $ik + j$ for $W_{ij}$;
    ``names[c]`` names scalar ``c``; ``block_of[i]`` is the block of neuron/coordinate $i$.
    """

    k: int
    blocks: tuple
    P: np.ndarray
    names: tuple
    block_of: tuple
    label: str

    @property
    def dim(self) -> int:
        """Number of free scalars."""
        return self.P.shape[1]

    @property
    def counts(self) -> np.ndarray:
        """Orbit sizes (column sums of ``P``): $P^\\top P = \\operatorname{diag}(\\text{counts})$."""
        return self.P.sum(axis=0)

    def description(self) -> str:
        """Readable description of $W(s)$, block by block."""
        k = self.k
        starts = np.cumsum((0,) + self.blocks[:-1])
        parts = [f"diag({self.label}) acting on W (k={k}) by W -> P_pi W P_pi^T, pi preserving the blocks"]
        for p, (b, s0) in enumerate(zip(self.blocks, starts), start=1):
            rng = f"{{{s0}}}" if b == 1 else f"{{{s0}..{s0 + b - 1}}}"
            parts.append(f"block {p} = neurons/coordinates {rng} (size {b})")
        entries = []
        for p, b in enumerate(self.blocks, start=1):
            entries.append(f"W[block {p}, block {p}] = d{p} I" + (f" + o{p} (J - I)" if b > 1 else ""))
            for q in range(1, len(self.blocks) + 1):
                if q != p:
                    entries.append(f"W[block {p}, block {q}] = c{p}{q} J")
        parts.append("; ".join(entries))
        parts.append(f"{self.dim} scalars: {', '.join(self.names)}")
        return "\n".join(parts)

    def lift(self, s):
        """$\\theta = Ps$ (float64 array, or object array of mpf when ``s`` holds mpf)."""
        s = np.asarray(s)
        if s.shape != (self.dim,):
            raise ShapeError(f"argument s must have shape ({self.dim},) for {self.label}, got {s.shape}")
        if s.dtype == object:
            return np.array([s[c] for c in self._column_of], dtype=object)
        return self.P @ np.asarray(s, dtype=float)

    @property
    def _column_of(self):
        return tuple(int(np.flatnonzero(row)[0]) for row in self.P)

    def project(self, theta):
        """Coordinates of the orthogonal projection of ``theta`` on the subspace: $(P^\\top P)^{-1}P^\\top\\theta$.

        For mpf input the sums are taken at the current mpmath precision (use ``mpmath.workdps``).
        """
        theta = np.asarray(theta)
        if theta.shape != (self.k * self.k,):
            raise ShapeError(f"argument theta must have shape ({self.k * self.k},), got {theta.shape}")
        cnt = self.counts
        if theta.dtype == object:
            return np.array([mpmath.fsum(theta[self.P[:, c] == 1]) / int(cnt[c]) for c in range(self.dim)],
                            dtype=object)
        return (self.P.T @ theta) / cnt

    def matrix(self, s):
        """$W(s)$ as a ``(k, k)`` array."""
        return self.lift(s).reshape(self.k, self.k)

    def generators(self):
        """Permutations generating the group: adjacent transpositions inside each block."""
        gens = []
        for i in range(self.k - 1):
            if self.block_of[i] == self.block_of[i + 1]:
                perm = np.arange(self.k)
                perm[[i, i + 1]] = perm[[i + 1, i]]
                gens.append(perm)
        return gens

    def symbolic_matrix(self):
        """$W(s)$ as a SymPy matrix in the scalar symbols."""
        import sympy

        syms = sympy.symbols(self.names, real=True)
        cols = self._column_of
        return sympy.Matrix(self.k, self.k, [syms[c] for c in cols]), syms


def fixed_point_subspace(k, isotropy="S_k") -> FixedPointSubspace:
    """The fixed-point subspace of $\\Delta(S_{m_1}\\times\\dots\\times S_{m_r})$ (see the module docstring)."""
    k = _check_k(k)
    blocks = parse_isotropy(k, isotropy)
    block_of = np.repeat(np.arange(len(blocks)), blocks)
    keys, names = {}, []
    cols = np.empty(k * k, dtype=int)
    for i in range(k):
        for j in range(k):
            p, q = int(block_of[i]), int(block_of[j])
            key = ("d", p) if i == j else (("o", p) if p == q else ("c", p, q))
            if key not in keys:
                keys[key] = len(keys)
                names.append(f"{key[0]}{p + 1}" + (f"{q + 1}" if key[0] == "c" else ""))
            cols[i * k + j] = keys[key]
    # order the scalars: per block d, o; then couplings c_pq
    order = sorted(range(len(names)), key=lambda c: (names[c][0] == "c", names[c][1:], names[c][0] != "d"))
    remap = {old: new for new, old in enumerate(order)}
    P = np.zeros((k * k, len(names)), dtype=np.int64)
    for r, c in enumerate(cols):
        P[r, remap[int(c)]] = 1
    return FixedPointSubspace(k=k, blocks=blocks, P=P, names=tuple(names[c] for c in order),
                              block_of=tuple(int(b) for b in block_of), label=_label(blocks))


def young_type(W, tol=1e-20) -> tuple:
    r"""Block sizes (descending) of the largest diagonal Young subgroup fixing ``W``.

    Neurons $i \sim j$ when the simultaneous swap of rows and columns $i, j$
    leaves $W$ unchanged (within ``tol`` relative); transpositions fixing $W$
    compose, so $\sim$ is an equivalence and its classes are the blocks.
    """
    W = np.asarray(W)
    k = W.shape[0]
    scale = max(1.0, max(float(abs(x)) for x in W.ravel()))
    parent = list(range(k))

    def find(i):
        while parent[i] != i:
            i = parent[i]
        return i

    for i in range(k):
        for j in range(i + 1, k):
            if find(i) == find(j):
                continue
            perm = np.arange(k)
            perm[[i, j]] = perm[[j, i]]
            diff = W[np.ix_(perm, perm)] - W
            if max(float(abs(x)) for x in diff.ravel()) <= tol * scale:
                parent[find(j)] = find(i)
    sizes = {}
    for i in range(k):
        sizes[find(i)] = sizes.get(find(i), 0) + 1
    return tuple(sorted(sizes.values(), reverse=True))


# ---------------------------------------------------------------------------
# reduced Newton iterations
# ---------------------------------------------------------------------------
def _reduced(problem, sub, s):
    theta = sub.lift(s)
    g = problem.gradient(theta)
    return theta, sub.P.T @ g


def _reduced_hessian(problem, sub, s):
    r"""$P^\top\nabla^2L(Ps)P$ in float64 by central differences of the reduced gradient.

    Step $h = 10^{-5}\max(1, |s_c|)$ (error $O(h^2)$, about 1e-10 relative).  Used
    instead of the analytic Hessian because near aligned relu pairs the float64
    Hessian is recomputed in mpmath (seconds at k = 20), and the reduced
    Newton iteration only needs a few correct digits of its Jacobian.
    """
    m = sub.dim
    H = np.empty((m, m))
    for c in range(m):
        h = 1e-5 * max(1.0, abs(float(s[c])))
        e = np.zeros(m)
        e[c] = h
        H[:, c] = (_reduced(problem, sub, s + e)[1] - _reduced(problem, sub, s - e)[1]) / (2 * h)
    return (H + H.T) / 2


def reduced_newton(problem, sub, s0, gtol=1e-11, max_iter=100):
    r"""Damped Newton on $g_s = P^\top\nabla L(Ps)$ with $H_s = P^\top\nabla^2L(Ps)P$ (float64, $H_s$ by
    central differences of $g_s$, see :func:`_reduced_hessian`).

    Finds saddles as well as minima of the reduced loss.  Pseudo-inverse step
    (eigenvalues of $H_s$ below $10^{-10}\|H_s\|$ dropped), backtracking on $|g_s|$.
    Returns ``(s, |g_s|, converged)``; raises :class:`~symland.errors.DomainError`
    when an iterate reaches a configuration where the kernel is undefined.
    """
    s = np.array(s0, dtype=float)
    _, g = _reduced(problem, sub, s)
    gn = float(np.linalg.norm(g))
    for _ in range(max_iter):
        if gn <= gtol:
            return s, gn, True
        lam, Q = np.linalg.eigh(_reduced_hessian(problem, sub, s))
        keep = np.abs(lam) > 1e-10 * max(np.max(np.abs(lam)), 1e-300)
        step = -Q[:, keep] @ ((Q[:, keep].T @ g) / lam[keep])
        t = 1.0
        while t > 1e-6:
            trial = s + t * step
            try:
                _, gt = _reduced(problem, sub, trial)
            except DomainError:
                gt = None
            if gt is not None and np.all(np.isfinite(gt)) and float(np.linalg.norm(gt)) < (1 - 1e-4 * t) * gn:
                break
            t *= 0.5
        else:
            return s, gn, False
        s, g = trial, gt
        gn = float(np.linalg.norm(g))
    return s, gn, gn <= gtol


def _mp_reduced_newton(problem, sub, s, dps, max_iter=16):
    r"""Chord-Newton on the reduced gradient in mpmath at ``dps + 15`` digits.

    The reduced Hessian is the float64 one at the start (relative error ~1e-10),
    so each step shrinks the error by about that factor.  Returns the mpf
    scalars with $|P^\top\nabla L| \le 10^{-(dps+5)}$ or raises ConvergenceError.
    """
    work = dps + _GUARD
    lam, Q = np.linalg.eigh(_reduced_hessian(problem, sub, np.array(s, dtype=float)))
    keep = np.abs(lam) > 1e-10 * max(np.max(np.abs(lam)), 1e-300)
    hist = []
    with mpmath.workdps(work):
        tol = mpmath.mpf(10) ** (-(dps + 5))
        sm = np.array([mpmath.mpf(float(v)) for v in s], dtype=object)
        for _ in range(max_iter + 1):
            g = problem.gradient(sub.lift(sm), dps=work)
            gs = np.array([mpmath.fsum(g[sub.P[:, c] == 1]) for c in range(sub.dim)], dtype=object)
            gn = mpmath.sqrt(mpmath.fsum(v * v for v in gs))
            hist.append(mpmath.nstr(gn, 5))
            if gn <= tol:
                return sm, gn
            if len(hist) > 3 and gn > mpmath.mpf(hist[-3]):
                break
            gf = np.array([float(v) for v in gs])
            # float step, then one mp residual correction would need mp H; the chord step suffices
            scale = max(float(max(abs(v) for v in gs)), 1e-300)
            step = -Q[:, keep] @ ((Q[:, keep].T @ (gf / scale)) / lam[keep])
            sm = sm + np.array([mpmath.mpf(float(v)) * scale for v in step], dtype=object)
    raise ConvergenceError(f"reduced mpmath Newton in {sub.label} did not reach |P^T grad| <= 1e-{dps + 5}",
                           hist)


# ---------------------------------------------------------------------------
# classification
# ---------------------------------------------------------------------------
def _ldl_inertia(H, zero_tol):
    """``(negative, zero, positive)`` pivot counts of a symmetric LDL^T of mp matrix ``H`` (Bunch-Parlett).

    Complete pivoting: a 1x1 pivot on the largest diagonal entry when it is at
    least $\\alpha = (1+\\sqrt{17})/8$ times the largest off-diagonal one, else a 2x2
    pivot on that off-diagonal entry (whose determinant is then negative: one
    negative and one positive eigenvalue).  Pivots are chosen on a float64
    mirror of the Schur complement; the elimination itself is in mpmath.
    Sylvester's law of inertia: the pivot signs are the eigenvalue signs.
    """
    A = np.array(H, dtype=object).copy()
    Af = np.array(A, dtype=float)
    n = A.shape[0]
    alpha = (1 + math.sqrt(17)) / 8
    neg = zero = pos = 0

    def swap(i, j):  # symmetric permutation of rows/columns i and j (inertia unchanged)
        if i != j:
            for M in (A, Af):
                M[[i, j], :] = M[[j, i], :]
                M[:, [i, j]] = M[:, [j, i]]

    j = 0
    ref = float(np.max(np.abs(Af))) if n else 0.0
    while j < n:
        if np.max(np.abs(Af[j:, j:])) < 1e-6 * ref:
            # the Schur complement has cancelled far below float64 resolution of the mirror:
            # re-read it from the mpmath values (float64 keeps full relative precision of small numbers)
            Af[j:, j:] = np.array(A[j:, j:], dtype=float)
            ref = float(np.max(np.abs(Af[j:, j:])))
        T = np.abs(Af[j:, j:])
        diag = np.diag(T).copy()
        np.fill_diagonal(T, 0.0)
        r = int(np.argmax(diag))
        oi, oj = np.unravel_index(int(np.argmax(T)), T.shape)
        omax = T[oi, oj]
        if diag[r] <= zero_tol and omax <= zero_tol:
            zero += n - j
            break
        if diag[r] >= alpha * omax:
            swap(j, j + r)
            d = A[j, j]
            neg += d < 0
            pos += d > 0
            col = A[j + 1:, j].copy()
            A[j + 1:, j + 1:] -= np.outer(col, col / d)
            colf = Af[j + 1:, j].copy()
            Af[j + 1:, j + 1:] -= np.outer(colf, colf / Af[j, j])
            j += 1
        else:
            swap(j, j + oi)
            oj2 = oj if oj != 0 else oi  # where the partner landed after the first swap
            swap(j + 1, j + oj2)
            neg += 1
            pos += 1
            E = A[j:j + 2, j:j + 2]
            det = E[0, 0] * E[1, 1] - E[0, 1] * E[1, 0]
            Einv = np.array([[E[1, 1], -E[0, 1]], [-E[1, 0], E[0, 0]]], dtype=object) / det
            C = A[j + 2:, j:j + 2].copy()
            A[j + 2:, j + 2:] -= C @ Einv @ C.T
            Ef = Af[j:j + 2, j:j + 2]
            Cf = Af[j + 2:, j:j + 2].copy()
            Af[j + 2:, j + 2:] -= Cf @ np.linalg.inv(Ef) @ Cf.T
            j += 2
    return neg, zero, pos


#: largest Hessian dimension whose inertia is computed by an mpmath LDL^T (cubic cost in mpmath)
_LDL_MAX = 64


def _mp_orthonormal(Qf):
    """Columns of the float matrix ``Qf`` as mpf, re-orthonormalised (modified Gram-Schmidt, twice)."""
    cols = []
    for c in range(Qf.shape[1]):
        v = np.array([mpmath.mpf(float(x)) for x in Qf[:, c]], dtype=object)
        for _ in range(2):
            for q in cols:
                v = v - mpmath.fsum(a * b for a, b in zip(q, v)) * q
        v = v / mpmath.sqrt(mpmath.fsum(x * x for x in v))
        cols.append(v)
    return np.array(cols, dtype=object).T.reshape(Qf.shape[0], len(cols))


def classify_hessian(H, n_eig=4, hessian_dps=30, method="auto"):
    r"""Index, nullity and smallest eigenvalues of a symmetric mpmath Hessian ``H`` (see module docstring).

    ``method``: ``"auto"`` (float64 eigenvalues certified by Weyl's bound; if some
    are ambiguous, mpmath $LDL^\top$ inertia for dimension <= 64, else mpmath
    Rayleigh–Ritz on the ambiguous float eigenvectors, whose Ritz values are
    accurate to $\|R\|^2/\text{gap}$), ``"ldl"`` (always $LDL^\top$) or ``"eigsy"``
    (full mpmath eigendecomposition; only sensible for small matrices).  Returns a dict
    with ``index``, ``nullity``, ``method`` (what decided the inertia),
    ``weyl_bound``, ``eigenvalues`` (list of dicts: ``value`` mpf, ``multiplicity``
    of the float cluster, ``bound`` $\|Hy-\theta y\|$, ``estimate`` Kato–Temple) and
    ``float_spectrum`` (float64 eigenvalues, ascending).
    """
    if method not in ("auto", "ldl", "eigsy"):
        raise ValueError(f"method must be 'auto', 'ldl' or 'eigsy', got {method!r}")
    H = np.asarray(H, dtype=object)
    n = H.shape[0]
    with mpmath.workdps(hessian_dps + 10):
        Hm = np.vectorize(mpmath.mpf, otypes=[object])(H)
        Hf = np.array(Hm, dtype=float)
        Hf = (Hf + Hf.T) / 2
        lam, Q = np.linalg.eigh(Hf)
        hnorm = float(max(abs(lam[0]), abs(lam[-1]), 1e-300))
        diff = Hm - Hf.astype(object)
        weyl = float(mpmath.sqrt(mpmath.fsum(v * v for v in diff.ravel()))) + 8 * n * _UNIT_ROUNDOFF * hnorm
        zero_tol = 10.0 ** (3 - hessian_dps) * n * hnorm
        out = {"weyl_bound": weyl, "float_spectrum": lam}
        if method == "eigsy":
            ev = sorted(mpmath.eigsy(mpmath.matrix(Hm.tolist()), eigvals_only=True))
            out["index"] = sum(1 for v in ev if v < -zero_tol)
            out["nullity"] = sum(1 for v in ev if abs(v) <= zero_tol)
            out["method"] = "mpmath eigsy (full mp eigendecomposition)"
            out["mp_spectrum"] = ev
        elif method == "auto" and np.min(np.abs(lam)) > weyl:
            out["index"] = int(np.count_nonzero(lam < 0))
            out["nullity"] = 0
            out["method"] = "float64 eigenvalues of the rounded mp Hessian, certified by Weyl's bound"
        elif method == "ldl" or (method == "auto" and n <= _LDL_MAX):
            neg, zero, _ = _ldl_inertia(Hm, zero_tol)
            out["index"], out["nullity"] = neg, zero
            out["method"] = "inertia of an mpmath LDL^T (Bunch-Parlett pivoting), Sylvester's law"
        else:
            amb = np.flatnonzero(np.abs(lam) <= weyl)
            Y = _mp_orthonormal(Q[:, amb])
            HY = Hm @ Y
            ritz = sorted(mpmath.eigsy(mpmath.matrix((Y.T @ HY).tolist()), eigvals_only=True))
            neg = int(np.count_nonzero(lam < -weyl)) + sum(1 for v in ritz if v < -zero_tol)
            out["index"] = neg
            out["nullity"] = sum(1 for v in ritz if abs(v) <= zero_tol)
            out["method"] = (f"float64 eigenvalues certified by Weyl's bound, {len(amb)} ambiguous ones decided by "
                             "mpmath Rayleigh-Ritz on their float64 eigenvectors")
        # smallest eigenvalues: one Rayleigh quotient per float cluster
        clusters = []
        i = 0
        ctol = max(1e-9 * hnorm, 4 * weyl)
        while i < n and len(clusters) < n_eig:
            j = i + 1
            while j < n and lam[j] - lam[j - 1] <= ctol:
                j += 1
            clusters.append((i, j))
            i = j
        eigs = []
        for ci, (i, j) in enumerate(clusters):
            y = np.array([mpmath.mpf(float(v)) for v in Q[:, i]], dtype=object)
            y = y / mpmath.sqrt(mpmath.fsum(v * v for v in y))
            Hy = Hm @ y
            theta = mpmath.fsum(a * b for a, b in zip(y, Hy))
            r = Hy - theta * y
            rn = mpmath.sqrt(mpmath.fsum(v * v for v in r))
            gaps = []
            if i > 0:
                gaps.append(float(theta) - lam[i - 1])
            if j < n:
                gaps.append(lam[j] - float(theta))
            gap = max(min(gaps) - weyl, 1e-300) if gaps else float("inf")
            eigs.append({"value": theta, "multiplicity": j - i, "bound": rn, "estimate": rn * rn / gap})
        out["eigenvalues"] = eigs
    return out


# ---------------------------------------------------------------------------
# results
# ---------------------------------------------------------------------------
@dataclasses.dataclass
class SymmetricCriticalPoint:
    r"""A critical point found in a fixed-point subspace, refined in the full space and classified.

    ``isotropy``: label of the first (largest) searched subspace that found it;
    ``found_in``: every searched subspace label that found it (merged modulo
    $S_k\times S_k$); ``young``: block sizes of the largest diagonal Young subgroup
    fixing the representative ``W``; ``scalars``: ``{name: mpf}`` in ``subspace``;
    ``theta``: full-space parameters (mpf, ``dps`` digits); ``loss``;
    ``gradient_norm``: full-space $|\nabla L|$ at ``theta`` (mpmath, ``dps + 15`` digits);
    ``reduced_gradient_norm``; ``index``, ``nullity``, ``kind``; ``eigenvalues``
    (smallest, see :func:`classify_hessian`); ``index_method``; ``starts``: number
    of starts that converged to it; ``function_class``: points with equal class compute the same
    network function with equal index and nullity (``symland.landscape.symmetry`` ``merge="function"``), e.g.
    two points of one critical manifold of identical neurons.
    """

    k: int
    isotropy: str
    subspace: FixedPointSubspace
    scalars: dict
    theta: np.ndarray
    loss: mpmath.mpf
    gradient_norm: mpmath.mpf
    reduced_gradient_norm: mpmath.mpf
    dps: int
    digits: int
    found_in: list
    young: tuple
    starts: int = 1
    index: int | None = None
    nullity: int | None = None
    kind: str | None = None
    eigenvalues: list | None = None
    index_method: str | None = None
    weyl_bound: float | None = None
    function_class: int | None = None

    @property
    def W(self):
        """Student weights (k, k), mpf entries."""
        return self.theta.reshape(self.k, self.k)

    def smallest_eigenvalue(self):
        return None if not self.eigenvalues else self.eigenvalues[0]["value"]

    def to_dict(self) -> dict:
        """JSON-ready: every number a decimal string with all digits computed."""
        def s(x, d=None):
            return mpmath.nstr(x, d or self.dps, strip_zeros=False)

        return {
            "k": self.k,
            "isotropy": self.isotropy,
            "found_in": list(self.found_in),
            "young_type": list(self.young),
            "subspace": self.subspace.label,
            "scalars": {n: s(v) for n, v in self.scalars.items()},
            "loss": s(self.loss),
            "gradient_norm": mpmath.nstr(self.gradient_norm, 5),
            "reduced_gradient_norm": mpmath.nstr(self.reduced_gradient_norm, 5),
            "dps": self.dps,
            "digits": self.digits,
            "index": self.index,
            "nullity": self.nullity,
            "kind": self.kind,
            "index_method": self.index_method,
            "smallest_eigenvalues": None if self.eigenvalues is None else [
                {"value": s(e["value"], 30), "multiplicity": e["multiplicity"],
                 "bound": mpmath.nstr(e["bound"], 3), "estimate": mpmath.nstr(e["estimate"], 3)}
                for e in self.eigenvalues],
            "starts": self.starts,
            "function_class": self.function_class,
            "W": [[s(v) for v in row] for row in self.W],
        }


@dataclasses.dataclass
class SymmetricSearch:
    """Result of :func:`symmetric_critical_points`: distinct points sorted by loss, and bookkeeping."""

    problem: TeacherStudent
    k: int
    activation: str
    dps: int
    subspaces: list
    points: list
    starts: dict  # label -> number of starts
    converged: dict  # label -> starts whose reduced Newton converged and refined
    failures: dict  # label -> list of reasons
    seconds: float

    def by_isotropy(self, label):
        return [p for p in self.points if p.isotropy == label]

    def table(self, digits=25) -> str:
        lines = [f"{self.activation} teacher-student, k = n = {self.k}, V = I, output weights 1; "
                 f"loss = 1/2 E[(f - f*)^2]",
                 f"{'isotropy':<16} {'loss':<{digits + 8}} {'index':>5} {'null':>4}  {'lambda_min':<14} "
                 f"{'kind':<18} {'fn':>3}  {'found in'}"]
        for p in self.points:
            lm = mpmath.nstr(p.smallest_eigenvalue(), 8) if p.eigenvalues else "-"
            lines.append(f"{p.isotropy:<16} {mpmath.nstr(p.loss, digits):<{digits + 8}} {p.index!s:>5} "
                         f"{p.nullity!s:>4}  {lm:<14} {p.kind!s:<18} {p.function_class!s:>3}  {', '.join(p.found_in)}")
        lines.append("(fn: rows with equal fn compute the same network function with equal index and nullity, "
                     "e.g. points of one manifold of identical neurons; lambda_min: smallest Hessian eigenvalue)")
        return "\n".join(lines)

    def to_dict(self):
        return {"k": self.k, "activation": self.activation, "dps": self.dps,
                "convention": "loss = 1/2 E[(f - f*)^2], x ~ N(0, I_k), V = I_k, output weights 1",
                "subspaces": [{"label": s.label, "blocks": list(s.blocks), "dim": s.dim,
                               "scalars": list(s.names), "description": s.description()} for s in self.subspaces],
                "starts": self.starts, "converged": self.converged,
                "failures": {k: len(v) for k, v in self.failures.items()},
                "seconds": round(self.seconds, 3),
                "points": [p.to_dict() for p in self.points]}


def _kind(loss, index, nullity, dps):
    if index is None:
        return None
    if nullity:
        return "degenerate" if index == 0 else "saddle"
    if index > 0:
        return "saddle"
    return "global minimum" if abs(loss) < mpmath.mpf(10) ** (-(dps - 5)) else "spurious minimum"


def _problem(act, k):
    act = _activation(act)
    if not act.has_closed_form:
        raise NoClosedFormError(f"activation {act.name!r} has no closed-form kernel; symmetric_critical_points "
                                "refines to 50 digits in k^2 parameters and needs a closed-form kernel "
                                "(e.g. relu, erf)")
    return TeacherStudent.orthonormal(act, k, k, train_output=False)


def _default_starts(sub, starts, rng):
    """Random reduced starts: scalars ~ N(0, 1) / sqrt(k) off the diagonal blocks, N(0, 1) on ``d``."""
    out = []
    for _ in range(starts):
        s = np.empty(sub.dim)
        for c, name in enumerate(sub.names):
            s[c] = rng.normal() if name[0] == "d" else rng.normal() / math.sqrt(sub.k)
        out.append(s)
    return out


def _embed_start(sub, W):
    """Project a (k, k) matrix of a previous k onto the subspace coordinates (continuation starts)."""
    W = np.asarray(W, dtype=float)
    if W.shape == (sub.k, sub.k):
        return sub.project(W.ravel())
    return None


def symmetric_critical_points(activation="relu", k=6, isotropy=None, dps=50, starts=40, seed=0,
                              extra_starts=None, classify=True, n_eig=4, hessian_dps=30,
                              classify_method="auto", progress=None, problem=None) -> SymmetricSearch:
    r"""Critical points of the $k = n$ orthonormal-teacher problem with diagonal Young isotropy.

    ``isotropy``: one isotropy (a name of :data:`ISOTROPY_TYPES`, a string like ``"4,1,1"`` or a
    tuple of block sizes, see :func:`parse_isotropy`) or a list of them; subspaces with the
    same multiset of block sizes are searched once.
    For each isotropy (default :data:`DEFAULT_ISOTROPIES`, largest group first):
    ``starts`` random reduced starts (seed ``seed``; scalars $d_p \sim N(0,1)$,
    others $N(0, 1/k)$) plus ``extra_starts`` (dict label -> list of scalar
    vectors, or a list of scalar vectors / (k, k) matrices projected on each
    subspace) run through :func:`reduced_newton` (float64); converged ones are
    polished by mpmath Newton on the reduced gradient, lifted, refined in the
    full space by :func:`symland.landscape.critical.refine` to ``dps`` digits, and merged
    modulo $S_k\times S_k$.  With ``classify`` the full Hessian at
    ``hessian_dps`` digits gives index, nullity and the ``n_eig`` smallest
    eigenvalue clusters (:func:`classify_hessian`).  Progress on stderr
    (default: when stderr is a terminal).
    """
    from ..landscape.critical import refine
    from ..landscape.symmetry import same_point

    t0 = time.perf_counter()
    k = _check_k(k)
    dps = check_dps(dps)
    hessian_dps = check_dps(hessian_dps)
    if isinstance(starts, bool) or not isinstance(starts, (int, np.integer)) or starts < 0:
        raise ShapeError(f"starts must be a non-negative integer, got {starts!r}")
    prob = problem if problem is not None else _problem(activation, k)
    act_name = prob.activation.name
    if isotropy is None:
        isotropies = [iso for iso in DEFAULT_ISOTROPIES if min(ISOTROPY_TYPES[iso](k)) >= 1]
    elif isinstance(isotropy, (str, tuple)) and not (isinstance(isotropy, tuple) and isotropy and
                                                      not isinstance(isotropy[0], (int, np.integer))):
        isotropies = [isotropy]
    else:
        isotropies = list(isotropy)
    subs, seen = [], set()
    for iso in isotropies:
        sub = fixed_point_subspace(k, iso)
        key = tuple(sorted(sub.blocks))
        if key not in seen:  # e.g. S_{k-1}xS_1 and S_{k-2}xS_2 coincide at k = 3
            seen.add(key)
            subs.append(sub)
    show = sys.stderr.isatty() if progress is None else bool(progress)
    rng = np.random.default_rng(seed)
    points: list[SymmetricCriticalPoint] = []
    n_starts, n_conv, failures = {}, {}, {}
    for sub in subs:
        cand = _default_starts(sub, starts, rng)
        extra = extra_starts.get(sub.label, []) if isinstance(extra_starts, dict) else (extra_starts or [])
        for e in extra:
            e = np.asarray(e, dtype=float)
            if e.shape == (sub.dim,):
                cand.append(e)
            else:
                pe = _embed_start(sub, e)
                if pe is not None:
                    cand.append(pe)
        n_starts[sub.label] = len(cand)
        n_conv[sub.label] = 0
        failures[sub.label] = []
        found_here = []  # (s float, point) for quick duplicate detection within the subspace
        for j, s0 in enumerate(cand):
            try:
                s, gn, ok = reduced_newton(prob, sub, s0)
            except (DomainError, np.linalg.LinAlgError, ZeroDivisionError) as exc:
                failures[sub.label].append(f"start {j}: {type(exc).__name__}: {exc}")
                continue
            if not ok:
                failures[sub.label].append(f"start {j}: float Newton stopped at |P^T grad| = {gn:.3g}")
                continue
            dup = next((p for sf, p in found_here if np.max(np.abs(sf - s)) < 1e-7 * max(1, np.max(np.abs(s)))),
                       None)
            if dup is not None:
                dup.starts += 1
                n_conv[sub.label] += 1
                continue
            try:
                point = _polish(prob, sub, s, dps, refine)
            except (ConvergenceError, DomainError, np.linalg.LinAlgError, ZeroDivisionError) as exc:
                failures[sub.label].append(f"start {j}: {type(exc).__name__}: {exc}")
                continue
            n_conv[sub.label] += 1
            match = None
            for q in points:
                if abs(q.loss - point.loss) <= mpmath.mpf(10) ** (-(dps // 2)) * max(1, abs(q.loss)) and \
                        same_point(prob, q.theta, point.theta, tol=10.0 ** (-(dps // 3))):
                    match = q
                    break
            if match is not None:
                match.starts += 1
                if sub.label not in match.found_in:
                    match.found_in.append(sub.label)
                found_here.append((s, match))
                continue
            points.append(point)
            found_here.append((s, point))
            if show:
                print(f"symmetric k={k} {sub.label}: start {j + 1}/{len(cand)}: new point, loss "
                      f"{mpmath.nstr(point.loss, 12)} ({len(points)} distinct)", file=sys.stderr, flush=True)
        if show:
            print(f"symmetric k={k} {sub.label}: {n_conv[sub.label]}/{len(cand)} starts converged, "
                  f"{len(failures[sub.label])} failed", file=sys.stderr, flush=True)
    if classify:
        for i, p in enumerate(points):
            if show:
                print(f"symmetric k={k}: classifying point {i + 1}/{len(points)} (Hessian {k * k}x{k * k} at "
                      f"{hessian_dps} digits)", file=sys.stderr, flush=True)
            _classify_point(prob, p, n_eig, hessian_dps, classify_method)
    points.sort(key=lambda p: p.loss)
    if classify and points:
        # points on one critical manifold (e.g. identical neurons sharing their weight in different ratios)
        # compute the same function without being related by S_k x S_k: label them with one class
        from ..landscape.symmetry import _group

        for cls, members in enumerate(_group(prob, points, merge="function"), start=1):
            for i in members:
                points[i].function_class = cls
    return SymmetricSearch(problem=prob, k=k, activation=act_name, dps=dps, subspaces=subs, points=points,
                           starts=n_starts, converged=n_conv, failures=failures,
                           seconds=time.perf_counter() - t0)


def _polish(prob, sub, s, dps, refine):
    """mpmath reduced Newton, lift, full-space refine and full-gradient check."""
    sm, rg = _mp_reduced_newton(prob, sub, s, dps)
    theta = sub.lift(sm)
    cp = refine(prob, theta, dps=dps, classify_point=False)
    work = dps + _GUARD
    with mpmath.workdps(work):
        g = prob.gradient(cp.theta, dps=work)
        gn = mpmath.sqrt(mpmath.fsum(v * v for v in g))
    if gn > mpmath.mpf(10) ** (5 - dps):
        raise ConvergenceError(f"full-space gradient {mpmath.nstr(gn, 3)} at the lifted point of {sub.label} is "
                               f"above 1e-{dps - 5}", cp.history)
    with mpmath.workdps(work):
        scal = sub.project(cp.theta)
    with mpmath.workdps(dps):
        scalars = {n: +v for n, v in zip(sub.names, scal)}
        young = young_type(cp.theta.reshape(sub.k, sub.k), tol=10.0 ** (-(dps // 2)))
        return SymmetricCriticalPoint(
            k=sub.k, isotropy=sub.label, subspace=sub, scalars=scalars, theta=cp.theta, loss=cp.loss,
            gradient_norm=+gn, reduced_gradient_norm=+rg, dps=dps, digits=cp.digits, found_in=[sub.label],
            young=young)


def _classify_point(prob, p, n_eig, hessian_dps, method):
    H = prob.hessian(p.theta, dps=hessian_dps)
    res = classify_hessian(H, n_eig=n_eig, hessian_dps=hessian_dps, method=method)
    p.index, p.nullity = res["index"], res["nullity"]
    p.eigenvalues = res["eigenvalues"]
    p.index_method = res["method"]
    p.weyl_bound = res["weyl_bound"]
    p.kind = _kind(p.loss, p.index, p.nullity, p.dps)
    return res


# ---------------------------------------------------------------------------
# comparison with a multi-start survey
# ---------------------------------------------------------------------------
def compare_with_survey(search: SymmetricSearch, starts=20, seed=0, dps=30, workers=1, progress=None):
    r"""Random starts (:func:`symland.landscape.survey.survey`, fixed outputs) matched to the symmetric points.

    Returns ``{"matched": [(symmetric point, survey count)], "unmatched": [(CriticalPoint, count)],
    "failures": int, "starts": int, "survey": SurveyResult}``; a survey point matches a
    symmetric point when :func:`symland.landscape.symmetry.same_point` holds (modulo $S_k\times S_k$).
    """
    from ..landscape.survey import survey
    from ..landscape.symmetry import same_point

    prob = search.problem
    res = survey(prob, starts=starts, seed=seed, dps=dps, workers=workers, progress=progress)
    counts = {id(p): 0 for p in search.points}
    unmatched = []
    for cp, count in res.points:
        hit = None
        for p in search.points:
            if abs(float(p.loss - cp.loss)) <= 1e-10 * max(1.0, abs(float(p.loss))) and \
                    same_point(prob, cp.theta, p.theta, tol=10.0 ** (-min(12, cp.digits // 2))):
                hit = p
                break
        if hit is None:
            unmatched.append((cp, count))
        else:
            counts[id(hit)] += count
    return {"matched": [(p, counts[id(p)]) for p in search.points], "unmatched": unmatched,
            "failures": len(res.failures), "starts": res.starts, "survey": res}
