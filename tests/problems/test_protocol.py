"""The landscape protocol: a landscape written in the test (two decoupled double wells, every
critical point known by hand) goes through the solvers, refine, classify, survey and certify.

L(x, y) = (x^2 - 1)^2 + 2 (y^2 - 4)^2.  dL/dx = 4x(x^2 - 1), dL/dy = 8y(y^2 - 4): critical points
x in {0, 1, -1}, y in {0, 2, -2} (9 points).  d2L/dx2 = 12x^2 - 4 (-4 at 0, 8 at +-1),
d2L/dy2 = 24y^2 - 32 (-32 at 0, 64 at +-2): the index is the number of zero coordinates, and
L(0, 0) = 1 + 32 = 33, L(+-1, 0) = 32, L(0, +-2) = 1, L(+-1, +-2) = 0.  Symmetry: sign flips of x
and y (orbit representative |x|, |y|).
"""

from __future__ import annotations

import numpy as np
import pytest

import symland
from symland.landscape.survey import survey
from symland.problems.protocol import Evaluation, Landscape


class DoubleWells(Landscape):
    num_params = 2
    name = "double-wells"
    loss_statement = "(x^2 - 1)^2 + 2 (y^2 - 4)^2"

    def check_theta(self, theta, prec=symland.numerics.precision.FLOAT64):
        if np.shape(theta) != (2,):
            raise symland.ShapeError(f"argument theta must have shape (2,), got {np.shape(theta)}")
        return prec.array(theta, "theta", (2,))

    def evaluate(self, theta, prec, order):
        x, y = self.check_theta(theta, prec)
        with prec:
            one, four = prec.num(1), prec.num(4)
            u, v = x * x - one, y * y - four
            loss = u * u + 2 * v * v
            grad = np.array([4 * x * u, 8 * y * v], dtype=object if prec.mp else float)
            H = prec.zeros((2, 2))
            H[0, 0], H[1, 1] = 12 * x * x - 4, 24 * y * y - 32
        return Evaluation(prec.finalize(loss), prec.finalize(grad) if order else None,
                          prec.finalize(H) if order > 1 else None)

    def canonical(self, theta):
        return np.abs(np.array([float(v) for v in theta]))

    def missing_ball_form(self):
        return ""


@pytest.fixture(scope="module")
def wells():
    return DoubleWells()


def test_an_abstract_landscape_needs_both_methods():
    class Half(Landscape):
        num_params = 1

        def check_theta(self, theta, prec=None):
            return theta

    with pytest.raises(TypeError):
        Half()


def test_machinery_refuses_what_is_not_a_landscape():
    with pytest.raises(symland.DomainError, match="landscape"):
        symland.minimize(object(), np.zeros(2))


def test_solvers_and_refine_reach_the_hand_derived_points(wells):
    res = symland.minimize(wells, np.array([0.8, 1.7]))
    assert res.converged and abs(res.theta[0] - 1) < 1e-8 and abs(res.theta[1] - 2) < 1e-8
    flow = symland.gradient_flow(wells, np.array([-0.5, 2.5]), t_max=1e4)
    assert flow.converged and np.allclose(flow.theta, [-1, 2], atol=1e-8)
    saddle = symland.newton(wells, np.array([0.05, 1.9]))
    assert saddle.converged and np.allclose(saddle.theta, [0, 2], atol=1e-10)
    cp = symland.refine(wells, saddle.theta, dps=40)
    assert cp.digits >= 39 and cp.kind == "saddle" and cp.index == 1 and cp.nullity == 0
    assert abs(cp.loss - 1) < 1e-38  # L(0, 2) = 1 by hand
    top = symland.refine(wells, np.array([1e-3, -2e-3]), dps=40)
    assert top.kind == "maximum" and top.index == 2 and abs(top.loss - 33) < 1e-37


def test_survey_merges_by_the_landscape_orbit_and_reports_isotropy(wells):
    res = survey(wells, starts=24, seed=3, dps=30, solver="newton", workers=1)
    losses = sorted(round(float(cp.loss), 12) for cp, _ in res.points)
    # only hand-derived losses, one row per orbit of the sign flips
    assert set(losses) <= {0.0, 1.0, 32.0, 33.0} and len(losses) == len(set(losses))
    assert sum(c for _, c in res.points) + len(res.failures) == 24
    table = res.table(10)
    assert "isotropy" in table and "(x^2 - 1)^2" in table
    assert res.to_dict()["landscape"] == "double-wells"


def test_certify_a_landscape_of_the_protocol(wells):
    cert = symland.certify(wells, np.array([1.0 + 1e-9, -2.0]), dps=40)
    assert cert.certified and cert.kind == "minimum" and cert.index == 0
    lo, hi = cert.to_dict()["loss"]
    assert float(lo) <= 0.0 <= float(hi)  # L(1, -2) = 0 by hand
    saddle = symland.certify(wells, np.array([1.0, 0.0]), dps=40)
    assert saddle.certified and saddle.index == 1


def test_a_landscape_without_a_ball_form_is_refused_by_certify():
    class NoBalls(DoubleWells):
        def missing_ball_form(self):
            return "the test landscape has no ball form"

    with pytest.raises(symland.NoClosedFormError, match="no ball form"):
        symland.certify(NoBalls(), np.array([1.0, 2.0]))
