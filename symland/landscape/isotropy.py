r"""The isotropy group of a point: its stabiliser in $S_n \times S_k$, named as ``symland symmetric`` names it.

For a plain :class:`~symland.problems.teacher_student.TeacherStudent` whose teacher is
permutation-symmetric (:func:`permutation_symmetric_teacher`: $VV^\top = I$, equal output weights),
$S_k$ acts on input space by the orthogonal map $Q_\tau$ with $Q_\tau v_r = v_{\tau(r)}$ that fixes
the complement of the teacher span, and $S_n$ permutes the student neurons.  A transposition $\tau$
lies in the projection of the stabiliser onto $S_k$ when a permutation of the students undoes it:
the rows $(w_i\cdot V^\top, a_i)$ with two columns exchanged are the same rows permuted, and the
permutation keeps the Gram matrix of the components orthogonal to the teacher span
(:func:`teacher_young_type`, after :func:`~symland.landscape.symmetry.canonical_form`, so every point of
an orbit gets the same answer; the catalog stores the same type).

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
from .symmetry import canonical_form

__all__ = ["IsotropyType", "isotropy_type", "symmetric_teacher_scale", "permutation_symmetric_teacher",
           "teacher_young_type", "transposition_blocks", "union_find_blocks"]


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
    if not permutation_symmetric_teacher(problem):
        return IsotropyType((), copies)
    return IsotropyType(teacher_young_type(problem, th, tol), copies)


def transposition_blocks(k: int, swap_fixes) -> tuple:
    """Block sizes (descending) of the Young subgroup generated by the transpositions of ``range(k)``
    that fix a point: ``swap_fixes(perm)`` says whether the permutation ``perm`` (an index array,
    the identity with two entries exchanged) fixes it.  Fixing transpositions compose within a
    group, so "swappable" is an equivalence; its classes (union-find) are the blocks."""
    def joined(r, s):
        perm = np.arange(k)
        perm[[r, s]] = perm[[s, r]]
        return swap_fixes(perm)

    return union_find_blocks(k, joined)


def union_find_blocks(k, joined) -> tuple:
    """Block sizes (descending) of the classes of the equivalence generated by ``joined(r, s)``."""
    parent = list(range(k))

    def find(i):
        while parent[i] != i:
            i = parent[i]
        return i

    for r in range(k):
        for s in range(r + 1, k):
            if find(r) != find(s) and joined(r, s):
                parent[find(s)] = find(r)
    sizes = {}
    for r in range(k):
        sizes[find(r)] = sizes.get(find(r), 0) + 1
    return tuple(sorted(sizes.values(), reverse=True))


def _student_matching(F, G, P, tol) -> bool:
    r"""Whether a permutation $\sigma$ of the students has $F_{\sigma(i)} = G_i$ (feature rows) and
    $P_{\sigma(i)\sigma(j)} = P_{ij}$ (within ``tol``): a backtracking search over the candidates."""
    n = F.shape[0]
    close = lambda x, y: np.max(np.abs(x - y)) <= tol  # noqa: E731
    candidates = [[j for j in range(n) if close(F[j], G[i])] for i in range(n)]
    sigma, used = [], set()

    def extend(i):
        if i == n:
            return True
        for j in candidates[i]:
            if j not in used and all(abs(P[j, sigma[m]] - P[i, m]) <= tol for m in range(i)) \
                    and abs(P[j, j] - P[i, i]) <= tol:
                sigma.append(j)
                used.add(j)
                if extend(i + 1):
                    return True
                sigma.pop()
                used.discard(j)
        return False

    return extend(0)


def permutation_symmetric_teacher(problem) -> bool:
    """Plain, $VV^\top = I$, equal $b_r$, and equal output weights when they are fixed."""
    if not problem.is_plain:
        return False
    V, b = problem.teacher_weights, problem.teacher_output
    equal = lambda x: np.ptp(x) <= 1e-12 * max(1.0, float(np.max(np.abs(x))))  # noqa: E731
    return (np.allclose(V @ V.T, np.eye(problem.k), rtol=0, atol=1e-12) and equal(b)
            and (problem.train_output or equal(problem.student_output)))


def teacher_young_type(problem, theta, tol: float = 1e-8) -> tuple:
    r"""Block sizes (descending) of the largest Young subgroup of teacher permutations that the
    stabiliser of ``theta`` contains (a teacher problem symmetric under permutations of its neurons).

    A transposition $	au = (r\,s)$ of teacher neurons (realised by the orthogonal map exchanging
    $v_r, v_s$ and fixing their complement) lies in it when some permutation $\sigma$ of the
    students undoes it: the rows $(w_i \cdot V^	op, a_i)$ with columns $r, s$ exchanged are the
    rows $\sigma(i)$ of the same matrix, and $\sigma$ keeps the Gram matrix of the components
    orthogonal to the teacher span (so a rotation of that complement completes the map).  Taken
    after :func:`~symland.landscape.symmetry.canonical_form` (scales and signs), the answer is the
    same for every point of an orbit.  The transpositions that lie in it join teacher neurons into
    the blocks.  For $n = k$ and $W$ in the fixed space of a diagonal Young subgroup
    $\Delta(S_{m_1}	imes\dots)$ (the Safran-Shamir families) this is its type, as
    :func:`~symland.symmetric.subspace.young_type` of $W$ in the teacher basis gives it for that
    representative; unlike it, the answer does not change when the students are permuted.
    """
    theta = canonical_form(problem, np.array([float(v) for v in theta]))
    params = problem.unpack(theta)
    W, a = np.asarray(params.W, dtype=float), np.asarray(params.a, dtype=float)
    M = W @ problem.teacher_weights.T
    P = W @ W.T - M @ M.T  # Gram of the components orthogonal to the teacher span (V V^T = I)
    F = np.hstack([M, a[:, None]])
    scale = max(1.0, float(np.max(np.abs(F))), float(np.max(np.abs(P))))

    def lifts(r, s):
        G = F.copy()
        G[:, [r, s]] = G[:, [s, r]]
        return _student_matching(F, G, P, tol * scale)

    return union_find_blocks(problem.k, lifts)



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
