"""The blocking phenomenon on one concrete teacher (d = 6, cyclic shifts, relu, teacher seed 1):
a constrained minimum with loss > 0 is a saddle of the unconstrained network. Independent checks:
the full float64 Hessian's eigenvalues (numpy) at the embedded point, and the decrease of the loss
along the escape direction computed here, not by the report."""

from __future__ import annotations

import numpy as np
import pytest

import symland
from symland.landscape.equivariant_report import equivariant_report
from symland.problems.equivariant import EquivariantStudent, cyclic_group


@pytest.fixture(scope="module")
def report():
    d, G = 6, cyclic_group(6)
    v0 = np.random.default_rng(1).normal(size=d)
    V = np.array([[v0[p[i]] for i in range(d)] for p in G])
    eq = EquivariantStudent(symland.TeacherStudent("relu", V, np.ones(d), n=d, train_output=False), G)
    return equivariant_report(eq, starts=30, dps=25)


def test_a_blocked_minimum(report):
    blocked = [r for r in report.rows if r.blocked]
    assert len(blocked) == 1
    row = blocked[0]
    assert row.loss > 0.1 and row.full_index == 4 and row.certificate == "certified full index 4"
    assert row.escape_kind == "minimum" and row.escape_loss < 1e-20 and row.full_gradient < 1e-20
    assert "1 of 3" in report.table()


def test_the_escape_direction_descends(report):
    eq = report.eq
    row = next(r for r in report.rows if r.blocked)
    # rebuild the constrained minimum and look at the full Hessian with numpy
    res = symland.survey(eq, starts=30, dps=25, workers=1)
    cp = next(p for p, _ in res.points if abs(p.loss - row.loss) < 1e-15)
    theta = np.array([float(v) for v in eq.embed(cp.theta)])
    w, Q = np.linalg.eigh(eq.problem.hessian(theta))
    assert int(np.sum(w < -1e-8)) == 4
    u = Q[:, 0]
    L0 = eq.problem.loss(theta)
    assert eq.problem.loss(theta + 1e-3 * u) < L0 and eq.problem.loss(theta - 1e-3 * u) < L0
    # and inside the constrained space the same point is a minimum (d directions)
    assert np.min(np.linalg.eigvalsh(eq.hessian(np.array([float(v) for v in cp.theta])))) > 0
