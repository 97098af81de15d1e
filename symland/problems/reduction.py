r"""Exact reduction of a teacher-student problem to the span of its weights.

The loss depends on the weights only through the Gram matrix of $[W; V]$, and
is invariant under rotations of the input directions orthogonal to the
teacher.  If the teacher is supported on a set $S$ of input coordinates
(true for the orthonormal preset) and $d > |S| + n$, every configuration is
equivalent, by a rotation of the complement of $S$, to one whose students lie
in the coordinates $S$ plus the first $n$ coordinates outside $S$.  The reduced
problem in those $m = |S| + n$ coordinates has the same teacher (exactly: a
column selection) and the same loss; lifting back places the reduced weights
in those coordinates and zeros elsewhere, again exactly, in any precision.

The Hessian of the full problem at a lifted point is block diagonal: the
reduced Hessian, and $2 S_{WW}$ (see :meth:`TeacherStudent.gram_gradient`) once
for each of the $d - m$ unused directions.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..numerics.mpcontext import thread_mp
from .teacher_student import TeacherStudent

__all__ = ["DimensionReduction", "reduce_dimension"]


@dataclasses.dataclass
class DimensionReduction:
    """A full problem, its reduction to ``coords`` and the maps between them."""

    full: TeacherStudent
    reduced: TeacherStudent
    coords: np.ndarray  # full-space input coordinates kept, in reduced order

    @property
    def unused(self) -> int:
        """Number of input directions dropped (``d - m``)."""
        return self.full.d - len(self.coords)

    def reduce(self, theta):
        """Reduced float64 parameters of a full-space start (rotating the students' complement part)."""
        full, red = self.full, self.reduced
        params = full.unpack(theta)
        W, a = params.W, params.a
        S = self.coords[: red.d - full.n]
        comp = np.setdiff1d(np.arange(full.d), S)
        Wc = W[:, comp]
        # orthonormal basis of the students' complement part; its coordinates are exact up to rounding
        q, _ = np.linalg.qr(Wc.T)
        Wr = np.zeros((full.n, red.d))
        Wr[:, : len(S)] = W[:, S]
        k = min(q.shape[1], full.n)
        Wr[:, len(S): len(S) + k] = Wc @ q[:, :k]
        return red.pack(Wr, a if red.train_output else None)

    def lift(self, theta_r):
        """Full-space parameters from reduced ones: exact placement (float64 or mpmath object arrays)."""
        full, red = self.full, self.reduced
        theta_r = np.asarray(theta_r)
        nd = red.n * red.d
        Wr = theta_r[:nd].reshape(red.n, red.d)
        obj = theta_r.dtype == object
        W = np.zeros((full.n, full.d), dtype=object if obj else float)
        if obj:
            W.fill(thread_mp.mpf(0))
        W[:, self.coords] = Wr
        parts = [W.ravel()]
        if full.train_output:
            parts.append(theta_r[nd:])
        return np.concatenate(parts)


def reduce_dimension(problem: TeacherStudent):
    """The :class:`DimensionReduction` of ``problem``, or ``None`` when ``d <= |S| + n``
    or the problem is not plain (biases, another teacher activation or GLU units: the
    Hessian of the dropped directions, $2S_{WW}$, is that of plain problems).

    ``S`` is the set of input coordinates on which the teacher is supported.
    """
    if not problem.is_plain:
        return None
    V = problem.teacher_weights
    S = np.flatnonzero(np.any(V != 0, axis=0))
    m = len(S) + problem.n
    if problem.d <= m:
        return None
    comp = np.setdiff1d(np.arange(problem.d), S)
    coords = np.concatenate([S, comp[: problem.n]])
    reduced = TeacherStudent(problem.activation, V[:, coords], problem.teacher_output, n=problem.n,
                             train_output=problem.train_output, student_output=problem.student_output)
    return DimensionReduction(problem, reduced, coords)
