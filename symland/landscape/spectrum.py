r"""The spectrum of a symmetric high-precision matrix (a Hessian) with rigorous error bounds, fast.

:func:`hessian_spectrum` returns every eigenvalue $\mu_k$ of a symmetric mpmath matrix $H$
(size $N$) with an error bound $\varepsilon_k$: $|\lambda_k(H) - \mu_k| \le \varepsilon_k$ for the
$k$-th smallest eigenvalue $\lambda_k(H)$, proven in ball arithmetic (python-flint ``arb``).
The cost is one float64 eigendecomposition and a few $N \times N$ ball matrix products per
iteration, instead of an mpmath eigendecomposition ($O(N^3)$ Python-level operations, minutes at
$N = 400$).

**Refinement** (Ogita & Aishima, "Iterative refinement for symmetric eigenvalue decomposition",
Japan J. Indust. Appl. Math. 35 (2018) 1007-1035, algorithm RefSyEv).  From the float64
eigenvectors $\hat X$, repeat with $R = I - \hat X^\top\hat X$ and $S = \hat X^\top H\hat X$ in ball
arithmetic at the working precision:
$\tilde\lambda_i = s_{ii} / (1 - r_{ii})$,
$\delta = 2(\|S - \tilde D\|_F + \|H\|_2\|R\|_F)$,
$\tilde E_{ij} = (s_{ij} + \tilde\lambda_j r_{ij}) / (\tilde\lambda_j - \tilde\lambda_i)$ when
$|\tilde\lambda_i - \tilde\lambda_j| > \delta$, else $r_{ij}/2$, and
$\hat X \leftarrow \hat X + \hat X\tilde E$ ($\tilde E$ rounded to float64: it is a correction, its
relative accuracy $u = 2^{-53}$ suffices).  Each step roughly doubles the correct digits, also
for multiple eigenvalues (the symmetric points of a landscape have many); it stops when
$\|R\|_F$ and $\|S - \tilde D\|_F / \|H\|$ are below $10^{-\text{dps}}$, or stall.  Eigenvalues
that agree within $\delta$ form a cluster; each cluster's basis is rotated to its Ritz vectors
(mpmath ``eigsy`` of the small block), so that $S$ is diagonal to the working precision.

**Bounds** (from the final basis $B = \hat X$, whatever the refinement achieved).  With
$e \ge \|B^\top B - I\|_\infty$ ($< 1/2$ required), $M = B^\top H B$ has the inertia of $H$
(Sylvester) and $\lambda_k(M) = \vartheta_k\lambda_k(H)$ with $\vartheta_k \in [1 - e, 1 + e]$
(Ostrowski).  With $M = D + F$ ($D$ its diagonal, sorted: $\mu$) and
$f = \max_i\sum_{j\ne i}|M_{ij}| \ge \|F\|_2$, Weyl gives $|\lambda_k(M) - \mu_k| \le f$, so
$\varepsilon_k = (f + |\mu_k|\,e) / (1 - e)$.  Every quantity is an upper bound computed in ball
arithmetic, so $\varepsilon_k$ is rigorous *for the given matrix* $H$ (how accurately $H$ is the
true Hessian is the caller's business).  When the refinement converged, $f$ and $e$ are near
$10^{-\text{dps}}$ and every eigenvalue, large or zero, is known to about ``dps`` digits
(absolute, relative to $\|H\|$).
"""

from __future__ import annotations

import contextlib
import dataclasses
import math

import numpy as np

from ..errors import ConvergenceError, ShapeError
from ..numerics.ball import as_ball, ball_precision, flint, identity_matrix, is_ball, midpoint_mpf, upper_float
from ..numerics.precision import GUARD_DIGITS
from ..numerics.mpcontext import thread_mp

__all__ = ["Spectrum", "hessian_spectrum"]

#: float64 unit roundoff
_U = 2.0 ** -53
#: eigenvalues closer than this many float64 roundoffs of ||H|| are refined as one cluster
CLUSTER_RESOLUTION = 1e4
#: FLINT threads for the N x N ball products of large spectra (1.5x faster on 2 cores at N = 400)
PRODUCT_THREADS = 2
#: smallest N whose products are threaded
THREADED_FROM = 128
#: largest number of refinement steps (each roughly doubles the correct digits)
MAX_REFINEMENT_STEPS = 10


@dataclasses.dataclass(frozen=True)
class Spectrum:
    r"""Eigenvalues ``values`` (mpmath numbers, ascending) and rigorous ``errors`` (floats):
    $|\lambda_k(H) - \text{values}_k| \le \text{errors}_k$, after ``steps`` refinement steps;
    ``largest_cluster``: the largest group of eigenvalues equal to the refinement's resolution;
    ``method``: one line for reports."""

    values: list
    errors: list
    steps: int
    largest_cluster: int
    method: str


@contextlib.contextmanager
def _product_threads(N):
    """FLINT's matrix products on :data:`PRODUCT_THREADS` threads for N >= :data:`THREADED_FROM`
    (inside :func:`~symland.numerics.ball.ball_precision`, which holds the python-flint lock;
    restored on exit).  The products are exact integer block products, so the balls do not depend
    on the thread count (checked: identical midpoints and radii with 1 and 2 threads)."""
    if N < THREADED_FROM:
        yield
        return
    saved = flint.ctx.threads
    flint.ctx.threads = PRODUCT_THREADS
    try:
        yield
    finally:
        flint.ctx.threads = saved


def _float_matrix(M) -> np.ndarray:
    """Midpoints of an ``arb_mat`` as a float64 array."""
    return np.array([[float(x.mid()) for x in row] for row in M.tolist()])


def _refinement_step(Hb, X, hnorm):
    r"""One RefSyEv step (module docstring): ``(X_new, lam, delta, residual)`` with
    $\tilde\lambda$ (floats), the cluster resolution $\max(\delta, 10^4 u\|H\|)$ and the relative
    residual $\max(\|R\|_F, \|S - \tilde D\|_F/\|H\|)$ of the *input* basis ($S - \tilde D$ restricted
    to pairs in different clusters).

    The numerators $s_{ij} + \tilde\lambda_j r_{ij} = (\lambda_i - \lambda_j)f_{ji} + O(\|F\|^2)$ for
    $\hat X = X(I + F)$ are formed from the float64 midpoints of $S$ and $R$ (each computed in
    ball arithmetic): their absolute error $u\|F\||\lambda|$ is a relative error
    $u|\lambda|/|\lambda_i - \lambda_j| \le u\|H\|/\delta$, so the step still gains a factor of
    about $u\|H\|/\delta$."""
    N = Hb.nrows()
    R = identity_matrix(N) - X.transpose() * X
    S = X.transpose() * (Hb * X)
    Rf, Sf = _float_matrix(R), _float_matrix(S)
    lam = np.diag(Sf) / (1 - np.diag(Rf))
    off = Sf - np.diag(np.diag(Sf))
    r_norm = float(np.linalg.norm(Rf))
    delta = 2 * (float(np.linalg.norm(off)) + hnorm * r_norm)
    gap = lam[None, :] - lam[:, None]
    # pairs closer than the float64 resolution of the numerators stay in one cluster (rotated in
    # high precision at the end), so the residual measures only the coupling between clusters
    delta = max(delta, CLUSTER_RESOLUTION * _U * hnorm)
    separated = np.abs(gap) > delta
    residual = max(r_norm, float(np.linalg.norm(np.where(separated, off, 0.0))) / max(hnorm, 1e-300))
    with np.errstate(divide="ignore", invalid="ignore"):
        E = np.where(separated, (Sf + lam[None, :] * Rf) / np.where(separated, gap, 1.0), Rf / 2)
    X_new = (X + X * flint.arb_mat(N, N, [float(v) for v in E.ravel()])).mid()
    return X_new, lam, delta, residual


def _clusters(lam, delta):
    """Groups of indices whose ``lam`` agree within ``delta`` (chained, in ascending order)."""
    order = np.argsort(lam)
    groups, current = [], [int(order[0])]
    for a, b in zip(order[:-1], order[1:]):
        if lam[b] - lam[a] <= delta:
            current.append(int(b))
        else:
            groups.append(current)
            current = [int(b)]
    groups.append(current)
    return groups


def _cluster_rotation(M, groups, hnorm, floor):
    r"""The block-diagonal rotation (an ``arb_mat``, or ``None``) that takes each cluster's columns to
    the Ritz vectors of its block of $M = X^\top H X$ (mpmath ``eigsy`` on the block), for the
    clusters whose eigenvalues are distinct at the refinement's resolution: a block within
    ``floor`` $\cdot\|H\|$ of a multiple of the identity (an exactly multiple eigenvalue, as
    symmetries make them) is left as it is, its off-diagonal entries widening the bounds by less
    than that."""
    N = M.nrows()
    U = None
    for g in groups:
        if len(g) < 2:
            continue
        first = M[g[0], g[0]]
        spread = max(upper_float(abs(M[i, j] - (first if i == j else 0))) for i in g for j in g)
        if spread <= floor * hnorm:
            continue
        T = thread_mp.matrix([[(midpoint_mpf(M[i, j]) + midpoint_mpf(M[j, i])) / 2 for j in g] for i in g])
        try:
            _, V = thread_mp.eigsy(T)
        except (RuntimeError, ZeroDivisionError, ValueError):
            # mpmath's QL iteration can fail on a clustered block: leave it unrotated (the bounds
            # then include its off-diagonal entries, of the size of the cluster's spread)
            continue
        if U is None:
            U = [[1 if i == j else 0 for j in range(N)] for i in range(N)]
        for a, i in enumerate(g):
            for b, j in enumerate(g):
                U[i][j] = as_ball(V[a, b])
    return None if U is None else flint.arb_mat(U)


def _abs_upper(M) -> np.ndarray:
    """Floats >= |every entry| of an ``arb_mat`` (|mid| + rad, rounded up by a factor 1 + 4u)."""
    return np.array([[abs(float(x.mid())) + float(x.rad()) for x in row] for row in M.tolist()]) * (1 + 4 * _U)


def _row_sum_bound(A) -> np.ndarray:
    """Upper bounds of the row sums of a nonnegative float matrix: the float64 sums times
    $1 + 2Nu$ (the rounding error of a sum of $N$ nonnegative terms is below $(N-1)u/(1-(N-1)u)$ of it)."""
    return A.sum(axis=1) * (1 + 2 * A.shape[1] * _U) + 1e-300


def _bounds(Hb, B, groups=(), hnorm=0.0, floor=0.0):
    r"""``(mu, err)``: sorted diagonal of $M = B^\top H B$ and the rigorous errors
    $\varepsilon_k = (f + |\mu_k| e)/(1 - e)$ (module docstring, "bounds"), after rotating the
    ``groups`` (clusters) whose blocks of $M$ are not multiples of the identity to ``floor``
    (:func:`_cluster_rotation`; then $B$ and $M$ are recomputed)."""
    N = Hb.nrows()
    M = B.transpose() * (Hb * B)
    U = _cluster_rotation(M, groups, hnorm, floor)
    if U is not None:
        B = (B * U).mid()
        M = B.transpose() * (Hb * B)
    e = float(np.max(_row_sum_bound(_abs_upper(B.transpose() * B - identity_matrix(N)))))
    if not e < 0.5:
        raise ConvergenceError(f"the eigenvector basis is not proven well conditioned (||B^T B - I|| <= {e:.3g})")
    A = _abs_upper(M)
    diag_rad = np.array([float(M[i, i].rad()) for i in range(N)]) * (1 + 4 * _U)
    np.fill_diagonal(A, 0.0)
    f = float(np.max(_row_sum_bound(A) + diag_rad)) * (1 + 4 * _U)
    centres = sorted((M[i, i].mid() for i in range(N)), key=float)
    one_minus_e = 1 - flint.arb(e)
    mu = [midpoint_mpf(c) for c in centres]
    err = [upper_float((flint.arb(f) + abs(c) * e) / one_minus_e) for c in centres]
    return mu, err


def hessian_spectrum(H, dps: int) -> Spectrum:
    r"""Eigenvalues of the symmetric matrix ``H`` with rigorous error bounds, refined to about ``dps``
    digits (module docstring); ``H`` is symmetrised, $(H + H^\top)/2$.  ``H``: mpmath numbers (the
    bounds hold for that matrix) or python-flint balls, e.g. from
    :func:`~symland.problems.enclosure.enclose` (the bounds hold for every matrix in the balls, in
    particular the exact Hessian)."""
    H = np.asarray(H, dtype=object)
    if H.ndim != 2 or H.shape[0] != H.shape[1]:
        raise ShapeError(f"argument H must be a square matrix, got shape {H.shape}")
    N = H.shape[0]
    if N == 0:
        return Spectrum([], [], 0, 0, "empty matrix")
    balls = is_ball(H.flat[0])
    if balls:  # an enclosure of the Hessian: the bounds then hold for every matrix in it
        if not all(v.is_finite() for v in H.flat):
            raise ShapeError("argument H has non-finite balls")
        Hf = np.array([[float(v.mid()) for v in row] for row in H])
    else:
        Hf = np.array(H, dtype=float)  # correctly rounded entries, whatever context they belong to
    if not np.all(np.isfinite(Hf)):
        raise ShapeError("argument H has non-finite entries (or entries beyond the float64 range)")
    Hf = (Hf + Hf.T) / 2
    lam, Q = np.linalg.eigh(Hf)
    hnorm = float(max(abs(lam[0]), abs(lam[-1])))
    # balls carry their own error bounds: dps + 5 working digits in all suffice (not dps + GUARD_DIGITS)
    total = max(16 + GUARD_DIGITS, dps + 5)
    with ball_precision(total - GUARD_DIGITS), thread_mp.workdps(dps + 5), _product_threads(N):
        Hb = flint.arb_mat(N, N, list(H.ravel()) if balls else [as_ball(v, "H") for v in H.ravel()])
        Hb = (Hb + Hb.transpose()) * flint.arb(0.5)  # the symmetric part, enclosed
        X = flint.arb_mat(N, N, [float(v) for v in Q.ravel()])
        target = 10.0 ** (-dps)
        best_residual, best = math.inf, None
        digits = 16.0  # correct digits of the current basis (float64 eigenvectors)
        for steps in range(1, MAX_REFINEMENT_STEPS + 1):
            # the step from a basis with d correct digits yields about 2d: compute with that many
            # (ball_precision adds GUARD_DIGITS: 2d + 5 digits in all)
            with ball_precision(int(min(total, max(16 + GUARD_DIGITS, 2 * digits + 5))) - GUARD_DIGITS):
                X_new, lam_x, delta, residual = _refinement_step(Hb, X, hnorm)
            improved = residual < 0.25 * best_residual
            if residual < best_residual:
                best_residual, best = residual, (X, lam_x, delta)
            if not improved:
                break
            digits = -2 * math.log10(max(residual, 1e-300))  # of X_new: a step squares the error
            X = X_new
            if residual ** 2 * 1e3 <= target:  # the new basis is accurate to dps digits: no check step
                best = (X, lam_x, delta)
                break
        X, lam_x, delta = best
        groups = _clusters(lam_x, delta)
        # a cluster spread below 10^(5 - dps) |H| only widens the bounds within the last 5 digits
        mu, err = _bounds(Hb, X, groups, hnorm, max(1e5 * target, 100 * best_residual ** 2))
    largest = max(len(g) for g in groups)
    return Spectrum(mu, err, steps, largest,
                    f"float64 eigenvectors refined in {steps} ball-arithmetic steps (Ogita-Aishima), eigenvalues "
                    "enclosed by Sylvester, Ostrowski and Weyl")
