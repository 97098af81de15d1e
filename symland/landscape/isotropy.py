r"""The isotropy group of a point: its stabiliser in $S_n \times S_k$, named as ``symland symmetric`` names it.

For a :class:`~symland.problems.teacher_student.TeacherStudent` whose teacher is
permutation-symmetric (orthogonal rows of one norm, $VV^\top = cI$, equal output weights, equal
teacher biases), $S_k$ acts on input space by the orthogonal map $Q_\tau$ with
$Q_\tau v_r = v_{\tau(r)}$ that fixes the complement of the teacher span, and $S_n$ permutes the
student neurons.  $(\sigma, \tau)$ fixes $(W, a)$ when $Q_\tau w_i = w_{\sigma(i)}$ and
$a_i = a_{\sigma(i)}$ (and $\beta_i = \beta_{\sigma(i)}$).  In the coordinates
$m_{ir} = w_i\cdot v_r / c$ and $p_i = |w_i - \sum_r m_{ir} v_r|$, $\tau$ permutes the columns of
$m$, so $\tau$ lies in the projection of the stabiliser onto $S_k$ iff permuting the columns of $m$
by $\tau$ maps the multiset of rows $(m_{i\cdot}, a_i, \beta_i, p_i)$ onto itself (the orthogonal
parts, of equal norm, are matched by a rotation of the complement when they span at most
one direction per class; :func:`isotropy_type` compares their norms only).

Transpositions in that projection generate a Young subgroup $S_{\lambda_1}\times\cdots$ (two
transpositions $(r\,r')$, $(r'\,r'')$ give $(r\,r'')$, so "swappable" is an equivalence): its block
sizes $\lambda$, descending, are the teacher-side isotropy type.  For $n = k$ and a point of the
fixed-point subspace of the diagonal Young subgroup $\Delta S_\lambda$ (:mod:`symland.symmetric`),
the type contains $\lambda$'s blocks: each block of the subspace lies inside a block of the type.
Student neurons that are exact copies ($w_i = w_j$, $a_i = a_j$) add a factor $S_m$ acting on the
students alone, listed separately.  A teacher that is not permutation-symmetric has the trivial
teacher-side group.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..problems.teacher_student import TeacherStudent

__all__ = ["IsotropyType", "isotropy_type", "symmetric_teacher_scale", "transposition_blocks"]


@dataclasses.dataclass(frozen=True)
class IsotropyType:
    """``teacher_blocks``: Young block sizes of the teacher-side stabiliser (descending; ``()`` when
    the teacher is not permutation-symmetric); ``copies``: sizes (descending, each >= 2) of groups of
    identical student neurons.  ``str()`` is the name: ``"S_5xS_1"``, with ``" + copies S_2"``."""

    teacher_blocks: tuple
    copies: tuple = ()

    @property
    def name(self) -> str:
        if self.teacher_blocks and max(self.teacher_blocks) > 1:
            teacher = "x".join(f"S_{b}" for b in self.teacher_blocks)
        else:
            teacher = "trivial"
        if self.copies:
            teacher += " + copies " + "x".join(f"S_{m}" for m in self.copies)
        return teacher

    def __str__(self):
        return self.name

    def contains(self, blocks) -> bool:
        """Does the teacher-side group contain the Young subgroup with ``blocks`` (a partition of k, in
        the order of the teacher neurons)?  Only the sizes are known here, so: can every block of
        ``blocks`` be placed inside a block of this type (first-fit by size, which is exact when the
        sizes nest, as they do for the types ``symland symmetric`` searches)?"""
        free = sorted(self.teacher_blocks, reverse=True)
        for b in sorted(blocks, reverse=True):
            for j, f in enumerate(free):
                if f >= b:
                    free[j] -= b
                    break
            else:
                return False
        return True


def symmetric_teacher_scale(problem: TeacherStudent, tol: float = 1e-12) -> float | None:
    """``c`` with $VV^\\top = cI$ and equal teacher outputs and biases, else ``None``."""
    V, b = problem.teacher_weights, problem.teacher_output
    G = V @ V.T
    c = float(np.mean(np.diag(G)))
    scale = max(1.0, abs(c))
    if c <= 0 or np.abs(G - c * np.eye(len(G))).max() > tol * scale:
        return None
    if np.ptp(b) > tol * max(1.0, float(np.abs(b).max())) or np.ptp(problem.teacher_bias) > tol:
        return None
    return c


def isotropy_type(problem, theta, tol: float = 1e-8) -> IsotropyType:
    """The stabiliser of ``theta`` in $S_n \\times S_k$ (module docstring), compared within ``tol``
    relative to the largest entry; plain and biased teacher-student problems (GLU units: their
    parameters are compared too, as part of the neuron's features)."""
    if not isinstance(problem, TeacherStudent):
        raise TypeError("isotropy_type is for TeacherStudent problems; other landscapes have problem.isotropy")
    th = np.array([float(v) for v in theta])
    P = problem.unpack(th)
    W, a = np.asarray(P.W, dtype=float), np.asarray(P.a, dtype=float)
    extra = [a[:, None]]
    if P.beta is not None:
        extra.append(np.asarray(P.beta, dtype=float)[:, None])
    feats_all = np.concatenate([W] + extra, axis=1)
    scale = max(1.0, float(np.abs(feats_all).max()) if feats_all.size else 1.0)
    copies = _copy_sizes(feats_all, tol * scale)
    c = symmetric_teacher_scale(problem, tol)
    if c is None or problem.glus:
        return IsotropyType((), copies)
    V = problem.teacher_weights
    M = W @ V.T / c
    perp = np.linalg.norm(W - M @ V, axis=1)[:, None]
    rest = np.concatenate(extra + [perp], axis=1)
    base = np.concatenate([M, rest], axis=1)

    def swap_fixes(perm):
        return _same_rows(np.concatenate([M[:, perm], rest], axis=1), base, tol * scale)

    return IsotropyType(transposition_blocks(M.shape[1], swap_fixes), copies)


def transposition_blocks(k: int, swap_fixes) -> tuple:
    """Block sizes (descending) of the Young subgroup generated by the transpositions of ``range(k)``
    that fix a point: ``swap_fixes(perm)`` says whether the permutation ``perm`` (an index array,
    the identity with two entries exchanged) fixes it.  Fixing transpositions compose within a
    group, so "swappable" is an equivalence; its classes (union-find) are the blocks."""
    parent = list(range(k))

    def find(i):
        while parent[i] != i:
            i = parent[i]
        return i

    for r in range(k):
        for s in range(r + 1, k):
            if find(r) == find(s):
                continue
            perm = np.arange(k)
            perm[[r, s]] = perm[[s, r]]
            if swap_fixes(perm):
                parent[find(s)] = find(r)
    sizes = {}
    for r in range(k):
        sizes[find(r)] = sizes.get(find(r), 0) + 1
    return tuple(sorted(sizes.values(), reverse=True))


def _same_rows(A, B, tol) -> bool:
    """Are the rows of ``A`` a permutation of the rows of ``B`` (entries within ``tol``)?  Greedy
    matching on the table of close pairs (exact when closeness is transitive at this tolerance)."""
    close = np.abs(A[:, None, :] - B[None, :, :]).max(axis=2) <= tol
    used = np.zeros(len(B), dtype=bool)
    for i in range(len(A)):
        free = np.flatnonzero(close[i] & ~used)
        if not free.size:
            return False
        used[free[0]] = True
    return True


def _copy_sizes(F, tol) -> tuple:
    """Sizes (>= 2, descending) of groups of identical rows of ``F`` (within ``tol``)."""
    n = len(F)
    used, out = [False] * n, []
    for i in range(n):
        if used[i]:
            continue
        group = [j for j in range(i, n) if not used[j] and np.abs(F[j] - F[i]).max() <= tol]
        for j in group:
            used[j] = True
        if len(group) > 1:
            out.append(len(group))
    return tuple(sorted(out, reverse=True))
