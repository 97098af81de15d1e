r"""End points where the loss is not differentiable: dead units of relu-like networks.

For an activation with $s(0) = 0$ that is positively homogeneous of degree 1 (relu, leaky relu,
abs), a unit with $w_i = 0$ contributes nothing, and along $w_i = t u$ ($|u| = 1$, $t \to 0^+$)
the loss changes at the one-sided rate

.. math:: \partial^+_{u} L = a_i\,g(u), \qquad g(u) = E[s(u\cdot x)\,r(x)], \quad
          r = f_{-i} - f^*,

($f_{-i}$ the network without unit $i$), while $\partial L/\partial a_i = 0$ there.  So a point
with dead units $D$ whose other parameters are a critical point of the network without them is
a local minimum of the non-smooth loss when (i) that reduced critical point is a minimum and
(ii) $a_i\,g(u) > 0$ for every unit $u$ and $i \in D$ (then $L$ grows linearly away from
$w_i = 0$); it is not a minimum when $a_i g(u) < 0$ for some $u$.  $g$ is a sum of dual kernels,
$g(u) = \sum_j a_j\kappa(1, |w_j|^2, u\cdot w_j) - \sum_r b_r\kappa(1, |v_r|^2, u\cdot v_r)$; its
minimum over the sphere is found numerically (float64, many starts), which is evidence, not a
proof, and is reported as such.  A survey classifies such end points as ``"non-smooth minimum"``
instead of failed starts (every relu network has them: 10-40 % of one-neuron starts).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import scipy.optimize

from ..kernels.evaluate import kernel
from ..numerics.mpcontext import thread_mp
from ..numerics.precision import Precision
from ..problems.teacher_student import TeacherStudent
from .critical import refine
from .point import CriticalPoint

__all__ = ["DeadUnits", "dead_unit_point", "DEAD_TOL"]

#: a unit counts as dead when |w_i| <= DEAD_TOL * max(1, max_j |w_j|) at the float64 end point
DEAD_TOL = 1e-6


@dataclasses.dataclass
class DeadUnits:
    """Evidence for a non-smooth end point: the dead units, the minimum over the unit sphere of
    the one-sided rate $a_i g(u)$ for each (positive: $L$ grows away from $w_i = 0$), and the
    refined critical point of the network without them (``None`` when every unit is dead)."""

    units: list
    min_rates: list
    reduced: CriticalPoint | None
    method: str = "min over u of a_i g(u): float64, 16 starts on the sphere + BFGS (evidence, not a proof)"


def _applies(problem) -> bool:
    act = problem.activation
    return (isinstance(problem, TeacherStudent) and problem.is_plain and act.homogeneity_degree == 1
            and act.vanishes_at_zero)


def _min_rate(problem, W, a, i, rng):
    """min over unit u of a_i g(u) (float64 kernels), by BFGS from 16 random points of the sphere."""
    others = [j for j in range(len(W)) if j != i]
    V, b = problem.teacher_weights, problem.teacher_output

    def rate(x):
        u = x / np.linalg.norm(x)
        g = sum(a[j] * kernel(problem.activation, 1.0, W[j] @ W[j], u @ W[j]) for j in others)
        g -= sum(b[r] * kernel(problem.activation, 1.0, V[r] @ V[r], u @ V[r]) for r in range(len(V)))
        return float(a[i] * g)

    best = np.inf
    for x0 in rng.normal(size=(16, problem.d)):
        res = scipy.optimize.minimize(rate, x0, method="BFGS", options={"gtol": 1e-10})
        best = min(best, float(res.fun), rate(x0))
    return best


def dead_unit_point(problem, theta, dps: int):
    """``(CriticalPoint, DeadUnits)`` for a float64 end point with dead units that passes the
    test of the module docstring, or ``None`` (no dead unit, not applicable, or the test fails).

    The returned point has the dead units' ``w_i = 0`` exactly, the other parameters refined to
    ``dps`` digits on the reduced network, ``kind = "non-smooth minimum"``, and ``index``,
    ``nullity`` and ``eigenvalues`` of the reduced Hessian (the full Hessian does not exist).
    """
    if not _applies(problem):
        return None
    params = problem.unpack(np.asarray(theta, dtype=float))
    W = np.array(params.W, dtype=float)
    a = np.array(params.a if problem.train_output else problem.student_output, dtype=float)
    norms = np.linalg.norm(W, axis=1)
    dead = [i for i in range(problem.n) if norms[i] <= DEAD_TOL * max(1.0, norms.max())]
    if not dead:
        return None
    alive = [i for i in range(problem.n) if i not in dead]
    reduced = None
    if alive:
        sub = TeacherStudent(problem.activation, problem.teacher_weights, problem.teacher_output, n=len(alive),
                             train_output=problem.train_output,
                             student_output=None if problem.train_output else a[alive])
        reduced = refine(sub, sub.pack(W[alive], a[alive] if problem.train_output else None), dps)
        if reduced.kind != "minimum":
            return None
        Wr = np.array(sub.unpack(reduced.theta_float()).W, dtype=float)
        W = np.zeros_like(W)
        W[alive] = Wr
        if problem.train_output:
            a[alive] = np.array(sub.unpack(reduced.theta_float()).a, dtype=float)
    rng = np.random.default_rng(0)
    rates = [_min_rate(problem, W, a, i, rng) for i in dead]
    if not all(r > 0 for r in rates):
        return None
    cp = _assemble_point(problem, reduced, alive, dead, a, dps)
    return cp, DeadUnits(dead, rates, reduced)


def _assemble_point(problem, reduced, alive, dead, a, dps):
    """The full-network point: reduced parameters lifted, dead units at w = 0 with a_i = sign(a_i)
    (the loss is flat in a dead unit's output weight: only its sign matters)."""
    n, d = problem.n, problem.d
    W = np.zeros((n, d), dtype=object)
    out = np.array([float(np.sign(a[i])) if i in dead else a[i] for i in range(n)], dtype=object)
    sub_W = sub_a = None
    if reduced is not None:
        k = len(alive)
        sub_W = reduced.theta[: k * d].reshape(k, d)
        sub_a = reduced.theta[k * d:] if problem.train_output else None
    W.fill(0)
    for r, i in enumerate(alive):
        W[i] = sub_W[r]
        if problem.train_output:
            out[i] = sub_a[r]
    theta = np.concatenate([W.ravel(), out if problem.train_output else np.array([], dtype=object)])
    prec = Precision(dps)
    with prec:
        theta = prec.array(theta, "theta")
    theta = prec.finalize(theta)
    loss = problem.loss(theta, dps=dps)
    return CriticalPoint(theta=theta, loss=loss, gradient_norm=reduced.gradient_norm if reduced else prec.finalize(thread_mp.mpf(0)),
                         dps=dps, digits=reduced.digits if reduced else dps, iterations=0, history=[],
                         eigenvalues=reduced.eigenvalues if reduced else [], index=reduced.index if reduced else 0,
                         nullity=reduced.nullity if reduced else 0,
                         predicted_nullity=reduced.predicted_nullity if reduced else 0,
                         zero_mode_sources=reduced.zero_mode_sources if reduced else {},
                         kind="non-smooth minimum", threshold=reduced.threshold if reduced else None,
                         spectrum_method="reduced network without the dead units (the full Hessian does not exist)")
