r"""Splitting lines: lines of critical points made by splitting one neuron in two.

Let $\theta^*$ be a critical point of an $(n-1)$-neuron student with trained output weights
(loss $L = \tfrac12E[(f - f^*)^2]$, input $x \sim N(0, I_d)$).  Splitting neuron $i$ —
$(a, w) = (a_i, w_i)$ — into two neurons with the same input weight $w$ and output weights
$\lambda a$ and $(1 - \lambda)a$ leaves the network function unchanged, so

.. math:: \theta(\lambda) = (\ldots, w_i = w, a_i = \lambda a, \ldots,
          w_n = w, a_n = (1 - \lambda) a), \qquad \lambda \in \mathbb R,

is a line of critical points of the $n$-neuron student (the copy is appended as neuron
$n$, the last one).  Its tangent $d\theta/d\lambda = a(e_{a_i} - e_{a_n})$ is an eigenvector
of the Hessian with eigenvalue 0.

**Hessian along the line.**  Use coordinates $A = a_i + a_n$, $\lambda = a_i/A$, the mean
shift $\mu$ and the difference $\zeta$ of the two input weights,
$w_i = w + \mu + (1 - \lambda)\zeta$, $w_n = w + \mu - \lambda\zeta$.  The first-order
terms in $\zeta$ cancel, $a_i(1 - \lambda) - a_n\lambda = A\lambda(1-\lambda) - A(1-\lambda)\lambda = 0$,
so $\partial f/\partial\zeta = 0$ on the whole manifold $\zeta = 0$ and

.. math:: f = f_{n-1}(A, w + \mu, \ldots) + \tfrac12\lambda(1-\lambda)A\,
          \zeta^\top s''(w\cdot x)\,xx^\top\zeta + O(\zeta^3).

Hence $\partial^2L/\partial\zeta\,\partial y = 0$ for every other coordinate $y$, the loss
does not depend on $\lambda$ at $\zeta = 0$, and at $\theta(\lambda)$ the Hessian in these
coordinates is block diagonal:

.. math:: \nabla^2 L \cong \operatorname{diag}\bigl(\nabla^2L_{n-1}(\theta^*),\; 0,\;
          \lambda(1-\lambda)\,a\,M\bigr), \qquad
          M = E\bigl[(f_{n-1} - f^*)(x)\, s''(w\cdot x)\, xx^\top\bigr].

$M$ is taken from the $(n-1)$-neuron Hessian block of $w_i$:
$\partial^2L_{n-1}/\partial w_i^2 = a^2E[s'(w\cdot x)^2xx^\top] + aM$ with
$E[s'(w\cdot x)^2xx^\top] = \psi(T)I + 2\psi'(T)ww^\top$, $T = |w|^2$,
$\psi(t) = E[s'(u)^2]$ (:func:`symland.problems.glu.psi_evaluator`).  The coordinate change is
invertible when $a \ne 0$, so by Sylvester's law of inertia

* index$(\lambda)$ = index$(\nabla^2L_{n-1})$ + #negative eigenvalues of $\lambda(1-\lambda)aM$,
* nullity$(\lambda)$ = nullity$(\nabla^2L_{n-1})$ + 1 + #zero eigenvalues of $\lambda(1-\lambda)aM$
  (all $d$ of them at $\lambda \in \{0, 1\}$).

Inside $(0, 1)$ the sign of the $\zeta$ block is that of $aM$, outside it is reversed: for a
minimum $\theta^*$ with $aM$ positive definite the line is positive semi-definite on
$[0, 1]$ and a line of saddles outside (Fukumizu & Amari 2000; Şimşek et al. 2021).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..errors import DomainError, ShapeError
from ..landscape.critical import symmetric_eigenvalues
from ..numerics.arguments import check_positive
from ..numerics.mpcontext import MPReal, thread_mp, to_result
from ..numerics.precision import Precision, check_dps
from ..problems.glu import psi_evaluator
from ..problems.teacher_student import TeacherStudent

__all__ = ["SplittingLine", "Segment", "splitting_line"]


@dataclasses.dataclass
class Segment:
    """A piece of the line: ``lo < lam < hi`` (or the single point ``lo == hi``).

    ``index``/``nullity`` are the predicted Hessian inertia; ``kind`` is
    ``"positive semi-definite"`` (index 0) or ``"indefinite"``.
    """

    lo: object
    hi: object
    index: int
    nullity: int
    kind: str


@dataclasses.dataclass
class SplittingLine:
    r"""The line $\theta(\lambda)$ of critical points from splitting neuron ``neuron``.

    Attributes: ``base`` ((n-1)-neuron problem), ``base_theta`` (mpmath array), ``problem``
    (the n-neuron problem), ``neuron``, ``a``, ``w`` (split neuron, mpmath), ``M`` ($d\times d$
    numpy object array), ``aM_eigenvalues`` (ascending eigenvalues of $aM$), ``base_eigenvalues``
    (of $\nabla^2L_{n-1}$), ``threshold`` (eigenvalues with modulus below it count as 0;
    at least twice the Weyl bound when ``spectrum_method`` says mpmath's eigensolver failed and
    float64 eigenvalues were used),
    ``dps``.
    """

    base: TeacherStudent
    base_theta: np.ndarray
    problem: TeacherStudent
    neuron: int
    a: MPReal
    w: np.ndarray
    M: np.ndarray
    aM_eigenvalues: list
    base_eigenvalues: list
    threshold: MPReal
    dps: int
    spectrum_method: str = ""

    # -- the line ------------------------------------------------------
    def theta(self, lam, dps=None):
        """n-neuron parameters at ``lam`` (float64, or mpmath object array at ``dps``)."""
        n1, d = self.base.n, self.base.d
        prec = Precision(dps or self.dps)
        with prec:
            lam = thread_mp.mpf(lam)
            W = self.base_theta[: n1 * d].reshape(n1, d)
            a = self.base_theta[n1 * d:].copy()
            a[self.neuron] = lam * self.a
            W2 = np.concatenate([W, W[self.neuron][None, :]])
            a2 = np.concatenate([a, np.array([(1 - lam) * self.a], dtype=object)])
            th = np.concatenate([W2.ravel(), a2])
        if dps is None:
            return np.array([float(v) for v in th])
        return prec.finalize(th)

    def direction(self, lam=None, dps=None):
        r"""$d\theta/d\lambda = a(e_{a_i} - e_{a_n})$ (independent of $\lambda$): the flat direction."""
        N = self.problem.num_params
        n1, d = self.base.n, self.base.d
        v = np.array([thread_mp.mpf(0)] * N, dtype=object)
        v[(n1 + 1) * d + self.neuron] = self.a
        v[(n1 + 1) * d + n1] = -self.a
        return np.array([float(x) for x in v]) if dps is None else Precision(dps).finalize(v)

    def difference_basis(self, lam):
        r"""$N\times d$ matrix $Q$: $\theta(\lambda) + Q\zeta$ moves $w_i$ by $(1-\lambda)\zeta$ and
        $w_n$ by $-\lambda\zeta$.

        Columns are exact at ``dps`` digits (mpmath object array).
        """
        N = self.problem.num_params
        d = self.base.d
        with Precision(self.dps):
            lam = thread_mp.mpf(lam)
            Q = np.empty((N, d), dtype=object)
            Q.fill(thread_mp.mpf(0))
            for k in range(d):
                Q[self.neuron * d + k, k] = 1 - lam
                Q[self.base.n * d + k, k] = -lam
        return Precision(self.dps).finalize(Q)

    def difference_hessian(self, lam):
        r"""$\lambda(1-\lambda)\,a\,M$: the Hessian restricted to the difference direction $\zeta$."""
        prec = Precision(self.dps)
        with prec:
            lam = thread_mp.mpf(lam)
            out = (lam * (1 - lam) * self.a) * self.M
        return prec.finalize(out)

    # -- inertia -------------------------------------------------------
    def _count(self, values):
        neg = sum(1 for v in values if v < -self.threshold)
        zero = sum(1 for v in values if abs(v) <= self.threshold)
        return neg, zero

    def inertia(self, lam):
        """Predicted ``(index, nullity)`` of the n-neuron Hessian at ``theta(lam)``."""
        with Precision(self.dps):
            lam = thread_mp.mpf(lam)
            f = lam * (1 - lam)
            block = [f * v for v in self.aM_eigenvalues]
            bneg, bzero = self._count(self.base_eigenvalues)
            if abs(f) <= self.threshold:
                neg, zero = 0, len(block)
            else:
                neg, zero = self._count(block)
        return bneg + neg, bzero + 1 + zero

    def segments(self):
        """The line cut at $\\lambda = 0, 1$: five :class:`Segment` with their inertia and kind."""
        out = []
        pieces = [(-thread_mp.inf, thread_mp.mpf(0), thread_mp.mpf(-1)), (0, 0, 0), (0, 1, thread_mp.mpf(1) / 2),
                  (1, 1, 1), (1, thread_mp.inf, thread_mp.mpf(2))]
        for lo, hi, probe in pieces:
            idx, nul = self.inertia(probe)
            out.append(Segment(lo, hi, idx, nul, "positive semi-definite" if idx == 0 else "indefinite"))
        return to_result(out, self.dps)

    def table(self) -> str:
        """One line per segment."""
        rows = []
        for s in self.segments():
            where = f"lambda = {s.lo}" if s.lo == s.hi else f"{s.lo} < lambda < {s.hi}"
            rows.append(f"{where:>22}: index {s.index}, nullity {s.nullity}, {s.kind}")
        return "\n".join(rows)


def splitting_line(problem: TeacherStudent, theta, neuron: int, dps: int = 40, tol=None) -> SplittingLine:
    r"""The splitting line of neuron ``neuron`` of the critical point ``theta`` of ``problem``.

    ``problem`` is the $(n-1)$-neuron :class:`~symland.TeacherStudent` (trained output weights,
    no GLU units); ``theta`` its critical point (e.g. ``refine(...).theta``; the gradient must
    be below ``tol``, default $10^{-dps/2}$).  Everything is computed at ``dps`` digits; see
    the module docstring for the formulas.
    """
    prec = Precision(check_dps(dps))
    dps = prec.dps
    if not isinstance(problem, TeacherStudent) or not (problem.is_plain or problem.glus):
        raise ShapeError("problem must be a plain TeacherStudent (no biases or mixed activations)")
    if getattr(problem, "glus", 0):
        raise ShapeError("problem must not have GLU units: the line splits an ordinary neuron")
    if not problem.train_output:
        raise ShapeError("problem must train its output weights (train_output=True): splitting a neuron "
                         "moves output weight between the copies")
    if isinstance(neuron, bool) or not isinstance(neuron, (int, np.integer)) or not 0 <= neuron < problem.n:
        raise ShapeError(f"neuron must be an integer in 0..{problem.n - 1}, got {neuron!r}")
    if tol is not None:
        check_positive(tol, "tol")
    work = prec.work_dps
    with prec:
        th = problem.check_theta(theta, Precision(work))
        g = problem.gradient(th, dps=work)
        gn = thread_mp.sqrt(thread_mp.fsum(x * x for x in g))
        tol = thread_mp.mpf(10) ** (-(dps // 2)) if tol is None else thread_mp.mpf(tol)
        if not gn <= tol:
            raise DomainError(f"theta is not a critical point of problem: |grad| = {thread_mp.nstr(gn, 5)} > "
                              f"tol = {thread_mp.nstr(tol, 3)} (refine it first)")
        n1, d = problem.n, problem.d
        W = th[: n1 * d].reshape(n1, d)
        a = th[n1 * d + neuron]
        w = W[neuron]
        if a == 0:
            raise DomainError(f"neuron {neuron} has output weight a = 0: splitting it gives a single point, "
                              "not a line")
        H = problem.hessian(th, dps=work)
        Hii = H[neuron * d:(neuron + 1) * d, neuron * d:(neuron + 1) * d]
        T = np.array([thread_mp.fsum(x * x for x in w)], dtype=object)
        psi0 = psi_evaluator(problem.activation, 0, True)(T)[0]
        psi1 = psi_evaluator(problem.activation, 1, True)(T)[0]
        M = np.empty((d, d), dtype=object)
        for r in range(d):
            for s in range(d):
                gauss = psi0 * (1 if r == s else 0) + 2 * psi1 * w[r] * w[s]
                M[r, s] = (Hii[r, s] - a * a * gauss) / a
        aM = a * M
        aM = (aM + aM.T) / 2
        methods = []  # (method, largest rigorous error bound of an eigenvalue)
        mu = sorted(symmetric_eigenvalues(aM, methods)) if d else []
        lam = sorted(symmetric_eigenvalues(H, methods))
        hnorm = max([abs(v) for v in lam] + [abs(v) for v in mu] + [thread_mp.mpf(1)])
        thr = hnorm * (thread_mp.mpf(10) ** (-(dps // 2)) + 10 * gn)
        bound = max((m[1] for m in methods if m[1] is not None), default=0)
        thr = max(thr, 2 * thread_mp.mpf(bound))  # an eigenvalue is only known to its error bound
    r = prec.finalize
    big = TeacherStudent(problem.activation, problem.teacher_weights, problem.teacher_output, n=n1 + 1)
    return SplittingLine(
        base=problem, base_theta=r(th), problem=big, neuron=int(neuron), a=r(a), w=r(w), M=r(M),
        aM_eigenvalues=[r(v) for v in mu], base_eigenvalues=[r(v) for v in lam], threshold=r(thr), dps=dps,
        spectrum_method="; ".join(sorted({m[0] for m in methods})))

