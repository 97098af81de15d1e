r"""NTK order parameters along a training path (:mod:`symland.channels.training`).

:func:`ntk_along` evaluates :func:`symland.landscape.ntk.ntk_order_parameters` at every record of a
:class:`~symland.channels.training.Trajectory` (gradient flow, SGD or Adam; population or sample
loss), on the population: trace, Frobenius norm, target and residual alignment and the largest
eigenvalue of the NTK operator, together with

* the **loss rate** $-dL/d\log t$ (flow; SGD/Adam: per log step), by centred differences of the
  recorded population losses in $\log t$ (records at $t > 0$ only);
* the **residual structure** $\max_r |E[(f - f^*)\,s(v_r\cdot x)]| / (E[(f - f^*)^2]\,E[s(v_r\cdot x)^2])^{1/2}$:
  the largest correlation of the residual with one teacher unit, by closed-form kernels (1 when the
  residual is a multiple of one teacher unit, 0 when it is orthogonal to all of them).

Each event is located where its quantity changes fastest in $\log t$: the alignment jump (largest
increase of the target alignment), the loss-rate collapse (largest drop of the loss rate after its
peak) and the appearance of residual structure (largest increase of the residual structure).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..errors import DomainError
from ..kernels.evaluate import kernel
from ..landscape.ntk import ntk_order_parameters
from ..problems.teacher_student import TeacherStudent

__all__ = ["NTKPath", "ntk_along"]


@dataclasses.dataclass
class NTKPath:
    """Per-record arrays (float64) and the located events (times, or ``None``)."""

    times: np.ndarray
    losses: np.ndarray
    trace: np.ndarray
    frobenius: np.ndarray
    target_alignment: np.ndarray
    residual_alignment: np.ndarray
    top_eigenvalue: np.ndarray
    loss_rate: np.ndarray
    residual_structure: np.ndarray
    events: dict

    def to_dict(self) -> dict:
        out = {k: [float(x) for x in getattr(self, k)] for k in
               ("times", "losses", "trace", "frobenius", "target_alignment", "residual_alignment",
                "top_eigenvalue", "loss_rate", "residual_structure")}
        out["events"] = {k: (None if v is None else float(v)) for k, v in self.events.items()}
        return out


def _residual_structure(problem, theta) -> float:
    r"""Largest correlation of the residual with one teacher unit (module docstring):
    $E[(f - f^*)s(v_r\cdot x)] = \sum_p \alpha_p\kappa(u_p, v_r)$ over all units $u_p$ with signed
    outputs $\alpha$, $E[s(v_r\cdot x)^2] = \kappa(v_r, v_r)$, $E[(f - f^*)^2] = 2L$."""
    n, d = problem.n, problem.d
    W = np.asarray(theta[:n * d], float).reshape(n, d)
    a = np.asarray(theta[n * d:], float) if problem.train_output else problem.student_output
    act, V, b = problem.activation, problem.teacher_weights, problem.teacher_output
    units = np.concatenate([W, V])
    alpha = np.concatenate([a, -b])
    r_sq = 2 * problem.loss(theta)
    if r_sq <= 0:
        return 0.0
    best = 0.0
    for v in V:
        cov = float(np.sum(alpha * kernel(act, np.sum(units * units, axis=1), v @ v, units @ v)))
        var = float(kernel(act, v @ v, v @ v, v @ v))
        best = max(best, abs(cov) / np.sqrt(r_sq * var))
    return float(best)


def _event(log_t, values, kind):
    """Time where ``values`` changes fastest in log t (``kind`` "rise" or "drop"), or None."""
    if len(values) < 3:
        return None
    slope = np.gradient(values, log_t)
    k = int(np.argmax(slope if kind == "rise" else -slope))
    return float(np.exp(log_t[k]))


def ntk_along(problem, trajectory, every: int = 1) -> NTKPath:
    """The order parameters at every ``every``-th record of ``trajectory`` (module docstring)."""
    if not isinstance(problem, TeacherStudent) or not problem.is_plain:
        raise DomainError("argument problem must be a plain TeacherStudent (the NTK order parameters need it)")
    if not hasattr(trajectory, "thetas") or trajectory.thetas.shape[1] != problem.num_params:
        raise DomainError(f"argument trajectory must be a Trajectory of this problem ({problem.num_params} "
                          "parameters)")
    if isinstance(every, bool) or not isinstance(every, int) or every < 1:
        raise DomainError(f"argument every must be a positive integer, got {every!r}")
    keep = [i for i in range(0, len(trajectory.times), every) if trajectory.times[i] > 0]
    if len(keep) < 3:
        raise DomainError("argument trajectory: fewer than 3 records at t > 0")
    t = np.asarray(trajectory.times, float)[keep]
    cols = {k: [] for k in ("trace", "frobenius", "target_alignment", "residual_alignment", "top_eigenvalue",
                            "residual_structure", "losses")}
    for i in keep:
        th = trajectory.thetas[i]
        o = ntk_order_parameters(problem, th, top=1)
        cols["trace"].append(o.trace)
        cols["frobenius"].append(o.frobenius)
        cols["target_alignment"].append(o.target_alignment)
        cols["residual_alignment"].append(o.residual_alignment)
        cols["top_eigenvalue"].append(o.eigenvalues[0])
        cols["residual_structure"].append(_residual_structure(problem, th))
        cols["losses"].append(problem.loss(th))
    arrays = {k: np.array(v, dtype=float) for k, v in cols.items()}
    log_t = np.log(t)
    rate = -np.gradient(arrays["losses"], log_t)
    peak = int(np.argmax(rate))
    after = rate[peak:]
    collapse = _event(log_t[peak:], after, "drop") if len(after) >= 3 else None
    events = {"alignment_jump": _event(log_t, arrays["target_alignment"], "rise"),
              "loss_rate_collapse": collapse,
              "residual_structure": _event(log_t, arrays["residual_structure"], "rise")}
    return NTKPath(t, arrays["losses"], arrays["trace"], arrays["frobenius"], arrays["target_alignment"],
                   arrays["residual_alignment"], arrays["top_eigenvalue"], rate, arrays["residual_structure"],
                   events)
