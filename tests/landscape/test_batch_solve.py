r"""Tests of the batched solvers (symland/landscape/batch_solve.py).

References: the single-start solvers :func:`symland.newton` and :func:`symland.minimize` run on the
same starts, and the single-point gradient at every returned point.  Two end points are "the same"
when they compute the same function: $\tfrac12E[(f_1 - f_2)^2] < 10^{-14}$, evaluated by a second
teacher-student problem whose teacher is the other end point (this is blind to the model's
symmetries: permutations, sign flips of erf neurons, rescalings of relu neurons).
Loss $L = \tfrac12E[(f - f^*)^2]$, "erf" is erf(z/sqrt 2).
"""

from __future__ import annotations

import functools

import numpy as np
import pytest

from symland.errors import DomainError, ShapeError
from symland.landscape import batch_solve
from symland.landscape import critical
from symland.landscape.batch_solve import solve_batch
from symland.landscape.survey import random_starts
from symland.problems.teacher_student import TeacherStudent

GTOL = 1e-10


@functools.lru_cache(maxsize=None)
def _problem(act):
    return TeacherStudent.orthonormal("erf", 2, 2) if act == "erf" else TeacherStudent.orthonormal("relu", 3, 3)


def _function_distance(p, t1, t2):
    r"""$\tfrac12E[(f_{t_1} - f_{t_2})^2]$: the loss of student ``t1`` against the teacher ``t2``."""
    other = p.unpack(t2)
    q = TeacherStudent(p.activation.name, other.W, other.a, n=p.n)
    mine = p.unpack(t1)
    return q.loss(q.pack(mine.W, mine.a))


def _check_bookkeeping(p, res):
    """Never converged when it is not: every flag agrees with the single-point gradient at the point."""
    for j in range(len(res)):
        gn = float(np.linalg.norm(p.gradient(res.theta[j])))
        assert res.gradient_norm[j] == pytest.approx(gn, rel=1e-6, abs=1e-15)
        assert bool(res.converged[j]) == (gn <= GTOL), (j, res.reason[j], gn)
        assert res.loss[j] == pytest.approx(p.loss(res.theta[j]), rel=1e-12, abs=1e-15)
        if res.converged[j]:
            assert res.reason[j] == "gradient below gtol"


@pytest.mark.parametrize("act, starts", [("erf", 12), ("relu", 8)])
def test_newton_reaches_the_end_points_of_symland_newton(act, starts):
    p = _problem(act)
    Th = random_starts(p, starts, seed=1)
    res = solve_batch(p, Th, method="newton", gtol=GTOL)
    _check_bookkeeping(p, res)
    assert res.converged.sum() >= 4
    for j, th in enumerate(Th):
        ref = critical.newton(p, th, gtol=GTOL)
        assert bool(res.converged[j]) == ref.converged, (j, res.reason[j], ref.message)
        if ref.converged:
            assert abs(int(res.iterations[j]) - ref.iterations) <= 1
            assert res.loss[j] == pytest.approx(ref.loss, rel=1e-9, abs=1e-14)
            assert _function_distance(p, res.theta[j], ref.theta) < 1e-14


@pytest.mark.parametrize("act, starts", [("erf", 12), ("relu", 12)])
def test_trust_region_reaches_the_end_points_of_symland_minimize(act, starts):
    p = _problem(act)
    Th = random_starts(p, starts, seed=1)
    res = solve_batch(p, Th, method="trust", gtol=GTOL)
    _check_bookkeeping(p, res)
    both = 0
    for j, th in enumerate(Th):
        ref = critical.minimize(p, th, gtol=GTOL)
        if ref.converged:
            assert res.converged[j], (j, res.reason[j])
            both += 1
            assert res.loss[j] == pytest.approx(ref.loss, rel=1e-9, abs=1e-14)
            assert _function_distance(p, res.theta[j], ref.theta) < 1e-14
    assert both >= 4


def test_lbfgs_then_newton_reaches_the_end_points_of_symland_minimize():
    p = _problem("erf")
    Th = random_starts(p, 12, seed=1)
    res = solve_batch(p, Th, method="lbfgs", gtol=GTOL)
    _check_bookkeeping(p, res)
    both = 0
    for j, th in enumerate(Th):
        ref = critical.minimize(p, th, gtol=GTOL)
        if ref.converged and res.converged[j]:
            both += 1
            assert _function_distance(p, res.theta[j], ref.theta) < 1e-14
    assert both >= 6


def test_lbfgs_relu_ends_at_critical_points_with_bookkeeping():
    p = _problem("relu")
    res = solve_batch(p, random_starts(p, 6, seed=3), method="lbfgs", gtol=GTOL)
    _check_bookkeeping(p, res)
    assert res.converged.sum() >= 3


@pytest.mark.parametrize("method", ["newton", "trust", "lbfgs"])
def test_non_converging_and_unevaluable_starts_are_marked_failed(method):
    p = _problem("relu")
    Th = random_starts(p, 4, seed=2)
    Th[2, 3:6] = 0.0  # student neuron 1 of start 2 has zero norm: its relu gradient is undefined
    res = solve_batch(p, Th, method=method, gtol=GTOL, max_iter=1, newton_iter=0)
    assert not res.converged.any()
    assert res.failed == [0, 1, 2, 3]
    assert "cannot evaluate the start" in res.reason[2] and "zero norm" in res.reason[2]
    assert np.isnan(res.gradient_norm[2])
    assert list(res.start_errors) == [2] and "row 2" in res.start_errors[2]
    for j in (0, 1, 3):
        assert "maximum iterations" in res.reason[j]
        assert res.gradient_norm[j] > GTOL
        assert res.gradient_norm[j] == pytest.approx(np.linalg.norm(p.gradient(res.theta[j])), rel=1e-9)
    flows = res.flow_results()
    assert [f.converged for f in flows] == [False] * 4 and flows[0].message == res.reason[0]


@pytest.mark.parametrize("method", ["newton", "trust", "lbfgs"])
def test_a_gradient_just_above_gtol_is_not_converged(method):
    """Points part-way to convergence (two trust-region iterations), re-solved with gtol at 0.9 times their
    smallest gradient norm and no iterations left: every start must be reported as not converged (the
    closest one 1.1x above gtol)."""
    p = _problem("erf")
    ends = solve_batch(p, random_starts(p, 6, seed=6), method="trust", gtol=GTOL, max_iter=2).theta
    gn = np.array([np.linalg.norm(p.gradient(t)) for t in ends])
    assert gn.min() > 1e-8
    gtol = 0.9 * float(gn.min())
    res = solve_batch(p, ends, method=method, gtol=gtol, max_iter=0, newton_iter=0)
    assert not res.converged.any(), res.reason
    assert all("maximum iterations" in r for r in res.reason)
    assert np.allclose(res.gradient_norm, gn, rtol=1e-9)


def test_a_failing_start_does_not_change_the_others():
    p = _problem("erf")
    Th = random_starts(p, 5, seed=4)
    alone = solve_batch(p, Th, method="trust", gtol=GTOL)
    mixed = solve_batch(p, np.concatenate([Th[:2], np.full((1, p.num_params), 1e200), Th[2:]]), method="trust",
                        gtol=GTOL)
    assert not mixed.converged[2]
    keep = [0, 1, 3, 4, 5]
    assert np.array_equal(mixed.converged[keep], alone.converged)
    assert np.max(np.abs(mixed.theta[keep] - alone.theta)) < 1e-12


def test_hessian_chunks_give_the_same_result(monkeypatch):
    p = _problem("erf")
    Th = random_starts(p, 6, seed=5)
    whole = solve_batch(p, Th, method="newton", gtol=GTOL)
    monkeypatch.setattr(batch_solve, "HESSIAN_BUDGET", 1)  # one start per Hessian chunk
    chunked = solve_batch(p, Th, method="newton", gtol=GTOL)
    assert np.array_equal(whole.converged, chunked.converged)
    assert np.max(np.abs(whole.theta - chunked.theta)) < 1e-12


def test_argument_checks():
    p = _problem("erf")
    Th = random_starts(p, 2, seed=0)
    with pytest.raises(DomainError, match="method"):
        solve_batch(p, Th, method="bfgs")
    with pytest.raises(DomainError, match="gtol"):
        solve_batch(p, Th, gtol=0.0)
    with pytest.raises(DomainError, match="max_iter"):
        solve_batch(p, Th, max_iter=-1)
    with pytest.raises(DomainError, match="problem"):
        solve_batch("erf", Th)
    with pytest.raises(ShapeError, match="Theta0"):
        solve_batch(p, Th[0])
    bad = Th.copy()
    bad[1, 0] = np.nan
    with pytest.raises(DomainError, match=r"Theta0.*row 1"):
        solve_batch(p, bad)
