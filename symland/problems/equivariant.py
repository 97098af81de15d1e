r"""Equivariant students: a teacher-student problem restricted to weights tied by a group acting on
the input.

**Setting.**  A group $G$ of permutations of the $d$ input coordinates ($P_h$ the permutation matrix
of $h \in G$) acts on a student of $n = m|G|$ neurons arranged in $m$ orbits, neuron $(j, h)$ of
orbit $j$ carrying $w_{(j,h)} = P_h w_j$ and output weight $a_j$: the network
$f(x) = \sum_j a_j\sum_{h\in G} s(w_j\cdot P_h^\top x)$ is $G$-invariant, $f(P_g x) = f(x)$ (weight sharing,
as in a one-layer CNN with global pooling when $G$ is the cyclic shifts).  Its parameters are
$\varphi = (w_1, \dots, w_m, a_1, \dots, a_m)$ (``a`` only with trained outputs), and the embedding
$\theta = E\varphi$ into the unconstrained student is linear with one 1 per row of $E$.

**The constrained landscape** is the landscape of the protocol with
$L_G(\varphi) = L(E\varphi)$, $\nabla L_G = E^\top\nabla L$, $\nabla^2 L_G = E^\top\nabla^2 L\,E$, in every
precision context (and on balls where the problem has a ball form): exact, since $E$ has entries
0 and 1.  When the teacher is $G$-invariant too (its neurons closed under $P_h$ with equal outputs),
$G$ acts on $\theta$ by symmetries of $L$ and the equivariant subspace is its fixed-point subspace,
so every critical point of $L_G$ is a critical point of $L$ (symmetric criticality); the Hessian
of $L$ there can have negative directions that $L_G$ cannot see: the constraint *blocks* descent.
"""

from __future__ import annotations

import itertools

import numpy as np

from ..errors import DomainError, ShapeError
from ..numerics.precision import FLOAT64, Precision
from .protocol import Evaluation, Landscape
from .teacher_student import TeacherStudent

__all__ = ["EquivariantStudent", "cyclic_group", "orbit"]


def cyclic_group(d: int) -> list:
    """The cyclic shifts of ``d`` coordinates, as permutations ``p`` with $(P x)_i = x_{p[i]}$."""
    return [tuple((i + s) % d for i in range(d)) for s in range(d)]


def orbit(v, group) -> np.ndarray:
    r"""The rows $P_h v$, $h \in$ ``group`` (a teacher made of one orbit is $G$-invariant)."""
    v = np.asarray(v, dtype=float)
    return np.array([[v[p[i]] for i in range(len(v))] for p in group])


def _check_group(group, d):
    perms = [tuple(int(i) for i in p) for p in group]
    for p in perms:
        if sorted(p) != list(range(d)):
            raise DomainError(f"argument group: {p} is not a permutation of range({d})")
    closed = set(perms)
    if len(closed) != len(perms) or tuple(range(d)) not in closed:
        raise DomainError("argument group must list distinct permutations including the identity")
    for p, q in itertools.product(perms, perms):
        if tuple(p[q[i]] for i in range(d)) not in closed:
            raise DomainError("argument group is not closed under composition")
    return perms


class EquivariantStudent(Landscape):
    r"""The constrained landscape $L_G(\varphi) = L(E\varphi)$ of a plain teacher-student ``problem``
    (module docstring) for the permutation ``group`` (a list of permutations of ``range(d)``, e.g.
    :func:`cyclic_group`); ``problem.n`` must be a multiple of ``|group|``."""

    name = "equivariant-student"

    def __init__(self, problem, group):
        if not isinstance(problem, TeacherStudent) or not problem.is_plain or problem.glus:
            raise DomainError("argument problem must be a plain TeacherStudent (no biases, one activation, no GLUs)")
        self.problem, d = problem, problem.d
        self.group = _check_group(group, d)
        G = len(self.group)
        if problem.n % G:
            raise ShapeError(f"argument problem: n = {problem.n} is not a multiple of |G| = {G}")
        self.orbits = problem.n // G
        self.loss_statement = problem.loss_statement + f", student tied by a group of {G} input permutations"
        m = self.orbits
        self.num_params = m * d + (m if problem.train_output else 0)
        # theta index -> phi index: w_(j,h)[i] = (P_h w_j)[i] = w_j[p_h[i]]
        index = []
        for j in range(m):
            for p in self.group:
                index.extend(j * d + p[i] for i in range(d))
        if problem.train_output:
            index.extend(m * d + j for j in range(m) for _ in range(G))
        self.index = np.array(index)
        self.E = np.zeros((problem.num_params, self.num_params), dtype=int)
        self.E[np.arange(problem.num_params), self.index] = 1

    def __repr__(self):
        return f"EquivariantStudent({self.problem!r}, |G|={len(self.group)}, orbits={self.orbits})"

    def embed(self, phi) -> np.ndarray:
        """$\\theta = E\\varphi$ (same kind of numbers as ``phi``)."""
        return np.asarray(phi)[self.index]

    def restrict(self, theta) -> np.ndarray:
        """The orbit average $(E^\\top E)^{-1}E^\\top\\theta$ (the projection onto the equivariant subspace)."""
        theta = np.asarray(theta, dtype=float)
        return (self.E.T @ theta) / self.E.sum(axis=0)

    def check_theta(self, theta, prec: Precision = FLOAT64):
        if np.shape(theta) != (self.num_params,):
            raise ShapeError(f"argument theta must have shape ({self.num_params},), got {np.shape(theta)}")
        return prec.array(theta, "theta", (self.num_params,))

    def evaluate(self, theta, prec: Precision, order: int) -> Evaluation:
        """$L$, $E^\\top\\nabla L$, $E^\\top\\nabla^2 L\\,E$ at $E\\varphi$ (sums of entries: exact)."""
        with prec:
            phi = self.check_theta(theta, prec)
        ev = self.problem.evaluate(self.embed(phi), prec, order)
        grad = None if ev.gradient is None else self.E.T @ ev.gradient
        hess = None if ev.hessian is None else self.E.T @ ev.hessian @ self.E
        return Evaluation(ev.loss, grad, hess)

    def missing_ball_form(self) -> str:
        return self.problem.missing_ball_form()

    def exact_loss_and_gradient(self, theta) -> tuple:
        loss, grad = self.problem.exact_loss_and_gradient(list(self.embed(np.array(list(theta), dtype=object))))
        return loss, [sum((grad[k] for k in np.nonzero(self.E[:, q])[0]), 0) for q in range(self.num_params)]

    def zero_modes(self, theta, tol: float = 1e-8) -> dict:
        """Rescaling of each orbit $(w_j, a_j) \to (t w_j, t^{-p} a_j)$ for a positively homogeneous
        activation of degree $p$ with trained outputs: one zero mode per orbit with $w_j, a_j \ne 0$."""
        if self.problem.activation.homogeneity_degree is None or not self.problem.train_output:
            return {}
        d, m = self.problem.d, self.orbits
        th = np.array([float(v) for v in theta])
        count = sum(1 for j in range(m) if np.linalg.norm(th[j * d:(j + 1) * d]) > tol and abs(th[m * d + j]) > tol)
        return {"rescaling": count} if count else {}

    def canonical(self, theta) -> np.ndarray:
        """Shifting an orbit's representative, $w_j \to P_g w_j$, only permutes the orbit's neurons: per
        orbit the lexicographically largest $P_g w_j$ (rounded to 8 digits), then orbits sorted."""
        d, m = self.problem.d, self.orbits
        th = np.array([float(v) for v in theta])
        a = th[m * d:] if self.problem.train_output else np.zeros(m)
        reps = []
        for j in range(m):
            w = th[j * d:(j + 1) * d]
            best = max((tuple(np.round([w[q[i]] for i in range(d)], 8)) for q in self.group))
            reps.append(best + (round(float(a[j]), 8),))
        reps.sort(reverse=True)
        out = [x for r in reps for x in r[:d]]
        return np.array(out + ([r[d] for r in reps] if self.problem.train_output else []))

    def random_start(self, rng):
        """One orbit representative per orbit, $w_j \\sim N(0, I_d/d)$ (and $a_j \\sim N(0, 1)$)."""
        w = rng.normal(0.0, 1.0 / np.sqrt(self.problem.d), size=self.orbits * self.problem.d)
        return np.concatenate([w, rng.normal(size=self.orbits)]) if self.problem.train_output else w
