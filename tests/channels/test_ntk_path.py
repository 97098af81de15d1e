"""NTK order parameters along a training path: each record equals the closed form at that point, the
residual structure equals its definition with the sine kernel written out by hand,
and the event locator finds a planted step."""

from __future__ import annotations

import math

import numpy as np
import pytest

import symland
from symland.channels.ntk_path import _event, ntk_along
from symland.channels.training import flow_trajectory, sgd


@pytest.fixture(scope="module")
def sine_path():
    p = symland.TeacherStudent("sin", np.diag([1.0, 2.0]), np.ones(2), n=2)
    rng = np.random.default_rng(0)
    tr = flow_trajectory(p, p.pack(rng.normal(0, 0.3, (2, 2)), rng.normal(0, 0.1, 2)), t_max=1e3, records=25)
    return p, tr, ntk_along(p, tr)


def test_records_equal_the_closed_form(sine_path):
    p, tr, path = sine_path
    i = len(path.times) // 2
    j = int(np.argmin(np.abs(tr.times - path.times[i])))
    o = symland.ntk_order_parameters(p, tr.thetas[j], top=1)
    assert path.target_alignment[i] == o.target_alignment and path.top_eigenvalue[i] == o.eigenvalues[0]
    assert np.all(np.diff(path.times) > 0) and np.all(np.isfinite(path.loss_rate))


def test_residual_structure_by_hand(sine_path):
    """E[r s(v_r.x)] with x ~ N(0, I_2): the residual is a sum of sines of projections; for the
    teacher unit v = 2 e_2 and each unit u, E[sin(u.x) sin(v.x)] = e^{-(|u|^2+|v|^2)/2} sinh(u.v)
    (written out by hand), so the correlation needs no symland kernel."""
    p, tr, path = sine_path
    i = len(path.times) // 2  # mid-training: the residual is not yet 0
    th = tr.thetas[int(np.argmin(np.abs(tr.times - path.times[i])))]
    assert p.loss(th) > 1e-3
    W, a = th[:4].reshape(2, 2), th[4:]
    units, alpha = np.concatenate([W, p.teacher_weights]), np.concatenate([a, -p.teacher_output])

    def k(u, v):
        return math.exp(-(u @ u + v @ v) / 2) * math.sinh(u @ v)

    best = 0.0
    for v in p.teacher_weights:
        cov = sum(al * k(u, v) for al, u in zip(alpha, units))
        best = max(best, abs(cov) / math.sqrt(2 * p.loss(th) * k(v, v)))
    assert 0 < best <= 1 and abs(path.residual_structure[i] - best) < 1e-10


def test_event_locator_on_a_planted_step():
    log_t = np.linspace(0, 10, 101)
    values = 1 / (1 + np.exp(-(log_t - 4.0) * 5))
    assert abs(math.log(_event(log_t, values, "rise")) - 4.0) < 0.11
    assert abs(math.log(_event(log_t, 1 - values, "drop")) - 4.0) < 0.11


def test_refusals(sine_path):
    p, tr, _ = sine_path
    with pytest.raises(symland.DomainError, match="every"):
        ntk_along(p, tr, every=0)
    other = symland.TeacherStudent.orthonormal("erf", 3, 3)
    with pytest.raises(symland.DomainError, match="trajectory"):
        ntk_along(other, tr)


def test_an_sgd_path_on_a_finite_sample():
    """The order parameters are population quantities at the recorded parameters, whatever optimiser
    and objective produced them: on an SGD path of the sample loss each record equals the closed form."""
    p = symland.TeacherStudent.orthonormal("erf", 2, 2)
    tr = sgd(p, p.pack(np.array([[0.3, 0.1], [0.0, 0.4]]), np.array([0.5, 0.5])), lr=0.05, steps=200,
             samples=500, batch_size=50, seed=1, record_every=20)
    path = ntk_along(p, tr)
    j = int(np.argmin(np.abs(tr.times - path.times[-1])))
    assert path.trace[-1] == symland.ntk_order_parameters(p, tr.thetas[j]).trace
