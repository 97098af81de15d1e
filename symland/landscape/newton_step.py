r"""Linear algebra of one Newton step $H\,\delta = -g$ on a (possibly degenerate) Hessian.

* :func:`pseudo_inverse_step` — float64 step $-\sum_{|\lambda_j| > rel\,\|H\|}
  q_j (q_j^\top g)/\lambda_j$ from an eigendecomposition $H = Q\Lambda Q^\top$
  (near-null directions dropped).
* :func:`null_basis` — eigenvectors with $|\lambda| \le rel\,\|H\|$ (the numerical null space).
* :func:`gauge_fixed_step` — float64 step constrained orthogonal to a null basis $N$
  (bordered system $\begin{pmatrix}H & N\\ N^\top & 0\end{pmatrix}$).
* :func:`refined_solve` — mixed precision: float64 LU of the (bordered) Hessian, residuals
  in mpmath, iterated until the residual is at the working precision.
"""

from __future__ import annotations

import warnings

import numpy as np
import scipy.linalg

from ..numerics.mpcontext import thread_mp

__all__ = ["mp_norm", "pseudo_inverse_step", "null_basis", "gauge_fixed_step", "refined_solve"]


def mp_norm(v):
    """Euclidean norm of a vector of mpmath numbers at the current mpmath precision."""
    return thread_mp.sqrt(thread_mp.fsum(x * x for x in v))


def pseudo_inverse_step(lam, Q, g, rel):
    r"""$-Q_+\,\Lambda_+^{-1}Q_+^\top g$ over the eigenpairs with $|\lambda| > rel\,\max|\lambda|$ (float64)."""
    keep = np.abs(lam) > rel * max(np.max(np.abs(lam)), 1e-300)
    return -Q[:, keep] @ ((Q[:, keep].T @ g) / lam[keep])


def null_basis(H, rel=1e-9):
    """``(N, lam)``: eigenvectors of the symmetric float64 ``H`` with |lambda| <= rel * ||H||, and all eigenvalues."""
    lam, Q = np.linalg.eigh(H)
    scale = max(np.max(np.abs(lam)), 1e-300)
    return Q[:, np.abs(lam) <= rel * scale], lam


def _bordered(Hf, border):
    """``(A, m)``: the bordered matrix [[H, N], [N^T, 0]] and the number m of constraints (0: ``A = H``)."""
    m = 0 if border is None else border.shape[1]
    if not m:
        return Hf, 0
    return np.block([[Hf, border], [border.T, np.zeros((m, m))]]), m


def gauge_fixed_step(Hf, null, g):
    r"""Float64 solution of $H\delta = -g$ with $N^\top\delta = 0$ (``null`` = $N$; plain solve when empty).

    The matrix is ill-conditioned by design near degenerate critical points (the border only
    removes the directions below ``null_rel``); the step is an estimate that the mpmath solve
    refines, so scipy's ``LinAlgWarning`` is not raised for it (it flooded every relu survey).
    """
    A, m = _bordered(Hf, null)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", scipy.linalg.LinAlgWarning)
        if m:
            return scipy.linalg.solve(A, np.concatenate([-g, np.zeros(m)]))[: len(g)]
        return scipy.linalg.solve(Hf, -g, assume_a="sym")


def refined_solve(Hf, Hmp, rhs, border=None, steps=6):
    """Solve ``H x = rhs`` (mp vector) by float64 LU + iterative refinement with mp residuals.

    ``Hmp`` is None when the float64 Hessian is accurate enough (then one float solve).  ``border`` (P x m float) adds
    the gauge constraint ``border^T x = 0`` as a bordered system.
    """
    P = len(rhs)
    A, m = _bordered(Hf, border)
    lu = scipy.linalg.lu_factor(A)
    if Hmp is None:
        # the float64 Hessian is the matrix: one float solve has its relative accuracy (kappa u)
        rhs_f = np.array([float(v) for v in rhs])
        scale = float(np.max(np.abs(rhs_f))) if rhs_f.size else 0.0
        if scale == 0.0:
            return np.array([thread_mp.mpf(0)] * P, dtype=object)
        dx = scipy.linalg.lu_solve(lu, np.concatenate([rhs_f / scale, np.zeros(m)]))[:P]
        return np.array([thread_mp.mpf(float(v)) * scale for v in dx], dtype=object)
    Hexact = Hmp if Hmp is not None else Hf.astype(object)
    if m:
        Bo = border.astype(object)
    x = np.array([thread_mp.mpf(0)] * P, dtype=object)
    mu = np.array([thread_mp.mpf(0)] * m, dtype=object)
    r = rhs.copy()
    rc = np.zeros(m)
    for _ in range(steps):
        full_r = np.concatenate([np.array([float(v) for v in r]), rc])
        if not np.any(full_r):
            break
        dx = scipy.linalg.lu_solve(lu, full_r)
        x = x + np.array([thread_mp.mpf(v) for v in dx[:P]], dtype=object)
        if m:
            mu = mu + np.array([thread_mp.mpf(v) for v in dx[P:]], dtype=object)
        r = rhs - Hexact @ x - (Bo @ mu if m else 0)
        if m:
            rc = -np.array([float(v) for v in (Bo.T @ x)])
        rn = float(mp_norm(r))
        if rn <= 10.0 ** (-thread_mp.dps + 2) * max(1.0, float(mp_norm(rhs))):
            break
    return x
