"""Saddle-free Newton: repelled by a saddle where Newton's method is attracted to it, quadratic
convergence near a nondegenerate minimum, a descent step always, and the survey solver "sfn".

Independent references: the erf k = 4, n = 2 copy-average saddle [2, 2] (index 2) and minimum
[3, 1] from the symbolic group ansatz (symland.copy_average), and the step formula written out by
hand on a diagonal Hessian."""

from __future__ import annotations

import numpy as np
import pytest

import symland
from symland.landscape.saddle_free import (MeanFieldParticles, saddle_free_newton, saddle_free_step,
                                          wasserstein_saddle_free_newton)
from symland.landscape.survey import survey


@pytest.fixture(scope="module")
def erf_points():
    problem = symland.TeacherStudent.orthonormal("erf", 4, 2)
    ca = symland.copy_average("erf", 4, 2, dps=30, follow=False)
    by_kind = {c.kind: c for c in ca.configurations}
    return problem, by_kind["saddle"], by_kind["minimum"]


def test_step_by_hand():
    H = np.diag([2.0, -3.0, 0.0])
    g = np.array([1.0, 1.0, 1.0])
    # -(H^2 + delta)^(-1/2) g = -(1/sqrt(4 + d), 1/sqrt(9 + d), 1/sqrt(d)) elementwise
    np.testing.assert_allclose(saddle_free_step(H, g, 0.25), -np.array([1 / 2.0616, 1 / 3.0414, 2.0]), rtol=1e-4)
    rng = np.random.default_rng(0)
    A = rng.standard_normal((5, 5))
    H, g = A + A.T, rng.standard_normal(5)
    assert g @ saddle_free_step(H, g, 1e-3) < 0  # a descent direction, even with negative curvature


def test_repelled_by_a_saddle_that_attracts_newton(erf_points):
    problem, saddle, minimum = erf_points
    start = np.array([float(v) for v in saddle.theta]) + 1e-3 * np.random.default_rng(1).standard_normal(10)
    newton_end = symland.refine(problem, symland.newton(problem, start).theta, dps=30)
    assert newton_end.kind == "saddle" and newton_end.index == 2
    res = saddle_free_newton(problem, start)
    assert res.converged
    end = symland.refine(problem, res.theta, dps=30)
    assert end.kind == "minimum" and abs(end.loss - minimum.loss) < 1e-25


def test_newton_near_a_minimum(erf_points):
    """Near a nondegenerate minimum the step is Newton's step up to delta / lambda_min^2 (delta =
    |g|^2), so the iteration converges like Newton's method: 1e-4 away, four steps reach |g| < 1e-12."""
    problem, _, minimum = erf_points
    theta = np.array([float(v) for v in minimum.theta]) + 1e-4 * np.random.default_rng(2).standard_normal(10)
    H, g = problem.hessian(theta), problem.gradient(theta)
    lam_min = float(np.min(np.abs(np.linalg.eigvalsh(H))))
    delta = float(g @ g)
    newton_step = -np.linalg.solve(H, g)
    sfn = saddle_free_step(H, g, delta)
    assert np.linalg.norm(sfn - newton_step) <= delta / lam_min**2 * np.linalg.norm(newton_step)
    res = saddle_free_newton(problem, theta, gtol=1e-12, max_iter=4)
    assert res.converged and res.iterations <= 4


def test_survey_with_the_saddle_free_solver_finds_only_minima():
    res = survey(symland.TeacherStudent.orthonormal("erf", 4, 2), starts=6, dps=30, solver="sfn", workers=1)
    assert res.points and all(p.kind == "minimum" for p in res.points)


def test_bad_arguments():
    problem = symland.TeacherStudent.orthonormal("erf", 2, 1)
    with pytest.raises(symland.DomainError, match="delta0"):
        saddle_free_newton(problem, np.zeros(3) + 0.1, delta0=0)
    with pytest.raises(symland.DomainError, match="solver"):
        survey(problem, starts=1, solver="sgd")


def test_particle_coordinates_and_the_wasserstein_gradient(erf_points):
    """Particles (w_i, a~_i = n a_i): the particle loss's gradient and Hessian against central
    differences of L(W, a~/n); n times the particle gradient is the gradient of the first variation
    E[(f - f*) a~ s(w.x)] at the particle, i.e. (n dL/dw_i, dL/da_i) in the standard coordinates."""
    problem = erf_points[0]
    part = MeanFieldParticles(problem)
    theta = np.array([0.6, 0.1, -0.2, 0.3, 0.2, 0.5, 0.4, -0.1, 1.3, 0.7])
    var = part.to_particles(theta)
    g, H = part.gradient(var), part.hessian(var)
    h = 1e-6
    for j in range(10):
        e = np.eye(10)[j] * h
        fd = (problem.loss((var + e) * part.scale) - problem.loss((var - e) * part.scale)) / (2 * h)
        assert abs(fd - g[j]) < 1e-8
        col = (part.gradient(var + e) - part.gradient(var - e)) / (2 * h)
        assert np.max(np.abs(col - H[:, j])) < 1e-7
    n, std = problem.n, problem.gradient(theta)
    np.testing.assert_allclose(n * g[:8], n * std[:8], rtol=1e-12)
    np.testing.assert_allclose(n * g[8:], std[8:], rtol=1e-12)


def test_wasserstein_form_escapes_the_saddle(erf_points):
    problem, saddle, minimum = erf_points
    start = np.array([float(v) for v in saddle.theta]) + 1e-3 * np.random.default_rng(1).standard_normal(10)
    res = wasserstein_saddle_free_newton(problem, start)
    end = symland.refine(problem, res.theta, dps=30)
    assert res.converged and end.kind == "minimum" and abs(end.loss - minimum.loss) < 1e-25
    with pytest.raises(symland.DomainError, match="trained output"):
        wasserstein_saddle_free_newton(symland.TeacherStudent.orthonormal("erf", 2, 2, train_output=False),
                                       np.full(4, 0.3))
