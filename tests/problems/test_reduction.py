"""Exact reduction of d > |supp V| + n problems to the span of the weights."""

import mpmath
import numpy as np
import pytest

import symland
from symland.landscape.critical import minimize, refine
from symland.problems.reduction import reduce_dimension


@pytest.fixture(params=["erf", "relu"])
def full_problem(request):
    return symland.TeacherStudent.orthonormal(request.param, k=2, n=2, d=7)


def test_no_reduction_when_small():
    assert reduce_dimension(symland.TeacherStudent.orthonormal("erf", k=3, n=2, d=5)) is None


def test_reduce_preserves_loss_of_rotated_start(full_problem):
    red = reduce_dimension(full_problem)
    assert red.reduced.d == 4 and red.unused == 3
    rng = np.random.default_rng(0)
    for _ in range(3):
        theta = full_problem.pack(rng.normal(size=(2, 7)), rng.normal(size=2))
        # the reduced start is a rotation of the complement: same Gram, same loss
        assert full_problem.loss(theta) == pytest.approx(red.reduced.loss(red.reduce(theta)), rel=1e-13)


def test_lift_is_exact_in_high_precision(full_problem):
    red = reduce_dimension(full_problem)
    rng = np.random.default_rng(1)
    theta_r = red.reduced.pack(rng.normal(size=(2, 4)), rng.normal(size=2))
    with mpmath.workdps(50):
        lifted = red.lift(np.array([mpmath.mpf(v) for v in theta_r], dtype=object))
        diff = full_problem.loss(lifted, dps=40) - red.reduced.loss(theta_r, dps=40)
    assert diff == 0


def test_full_hessian_is_reduced_plus_gram_block(full_problem):
    """Full float64 Hessian spectrum at a lifted point = reduced spectrum + 2 S_WW per unused direction."""
    red = reduce_dimension(full_problem)
    rng = np.random.default_rng(2)
    theta_r = red.reduced.pack(rng.normal(size=(2, 4)), rng.normal(size=2))
    full_eigs = np.linalg.eigvalsh(full_problem.hessian(red.lift(theta_r)))
    red_eigs = np.linalg.eigvalsh(red.reduced.hessian(theta_r))
    S = red.reduced.gram_gradient(theta_r)
    # independent check of S: second difference of the loss along a direction orthogonal to everything
    e = np.zeros(7)
    e[6] = 1.0
    eps = np.array([0.3, -0.7])
    h = 1e-4
    th = red.lift(theta_r)

    def moved(t):
        params = full_problem.unpack(th)
        W, a = params.W, params.a
        return full_problem.pack(W + t * np.outer(eps, e), a)

    second = (full_problem.loss(moved(h)) - 2 * full_problem.loss(th) + full_problem.loss(moved(-h))) / h**2
    assert second == pytest.approx(2 * eps @ S @ eps, rel=1e-5)
    expected = np.sort(np.concatenate([red_eigs] + [np.linalg.eigvalsh(2 * S)] * red.unused))
    np.testing.assert_allclose(np.sort(full_eigs), expected, atol=1e-10 * np.abs(full_eigs).max())


def test_refine_reduced_matches_full_space():
    prob = symland.TeacherStudent.orthonormal("erf", k=2, n=1, d=6)
    rng = np.random.default_rng(5)
    start = minimize(prob, prob.pack(rng.normal(size=(1, 6)) / 2, rng.normal(size=1)), gtol=1e-8)
    assert start.converged
    cp_red = refine(prob, start.theta, dps=30)
    cp_full = refine(prob, start.theta, dps=30, reduce=False)
    assert cp_red.reduction is not None and cp_full.reduction is None
    assert abs(cp_red.loss - cp_full.loss) < mpmath.mpf(10) ** -28
    assert cp_red.gradient_norm < mpmath.mpf(10) ** -25
    assert (cp_red.index, cp_red.nullity, cp_red.kind) == (cp_full.index, cp_full.nullity, cp_full.kind)
    np.testing.assert_allclose(sorted(float(v) for v in cp_red.eigenvalues),
                               sorted(float(v) for v in cp_full.eigenvalues), atol=1e-12)
