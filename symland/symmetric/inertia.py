r"""Inertia and smallest eigenvalues of a symmetric mpmath matrix (a Hessian at many digits).

**Method** (:func:`classify_hessian`): the Hessian $H$ is given
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

import math

import numpy as np

from ..numerics.mpcontext import thread_mp
from ..numerics.precision import GUARD_DIGITS

__all__ = ["classify_hessian"]

#: float64 unit roundoff u
_UNIT_ROUNDOFF = 2.0 ** -53


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
        v = np.array([thread_mp.mpf(float(x)) for x in Qf[:, c]], dtype=object)
        for _ in range(2):
            for q in cols:
                v = v - thread_mp.fsum(a * b for a, b in zip(q, v)) * q
        v = v / thread_mp.sqrt(thread_mp.fsum(x * x for x in v))
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
    with thread_mp.workdps(hessian_dps + GUARD_DIGITS):
        Hm = np.vectorize(lambda v: thread_mp.mpf(v), otypes=[object])(H)
        Hf = np.array(Hm, dtype=float)
        Hf = (Hf + Hf.T) / 2
        lam, Q = np.linalg.eigh(Hf)
        hnorm = float(max(abs(lam[0]), abs(lam[-1]), 1e-300))
        diff = Hm - Hf.astype(object)
        weyl = float(thread_mp.sqrt(thread_mp.fsum(v * v for v in diff.ravel()))) + 8 * n * _UNIT_ROUNDOFF * hnorm
        zero_tol = 10.0 ** (3 - hessian_dps) * n * hnorm
        out = {"weyl_bound": weyl, "float_spectrum": lam}
        if method == "eigsy":
            ev = sorted(thread_mp.eigsy(thread_mp.matrix(Hm.tolist()), eigvals_only=True))
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
            ritz = sorted(thread_mp.eigsy(thread_mp.matrix((Y.T @ HY).tolist()), eigvals_only=True))
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
            y = np.array([thread_mp.mpf(float(v)) for v in Q[:, i]], dtype=object)
            y = y / thread_mp.sqrt(thread_mp.fsum(v * v for v in y))
            Hy = Hm @ y
            theta = thread_mp.fsum(a * b for a, b in zip(y, Hy))
            r = Hy - theta * y
            rn = thread_mp.sqrt(thread_mp.fsum(v * v for v in r))
            gaps = []
            if i > 0:
                gaps.append(float(theta) - lam[i - 1])
            if j < n:
                gaps.append(lam[j] - float(theta))
            gap = max(min(gaps) - weyl, 1e-300) if gaps else float("inf")
            eigs.append({"value": theta, "multiplicity": j - i, "bound": rn, "estimate": rn * rn / gap})
        out["eigenvalues"] = eigs
    return out
