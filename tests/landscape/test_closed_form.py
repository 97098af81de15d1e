"""Closed forms of refined critical points (symland.closed_form / cp.closed_form).

Independent references: the erf k = 4, n = 2 minimum's loss 1/2 - 9 asin(1/6)/pi (the form quoted
in the issue that asked for recognition, typed by hand) and the copy-average module's exact
scalars (a symbolic group ansatz, another route); attention as PCA by hand (Sigma = diag(2, 1),
L = 3: R = [3 - 2 * 5/7] / 2 = 11/14); a non-critical point with rational coordinates must fail
the proof; a relu spurious minimum (no closed form known) must not be claimed."""

from __future__ import annotations

import dataclasses

import mpmath
import numpy as np
import pytest
import sympy

import symland
from symland.landscape.survey import survey


@pytest.fixture(scope="module")
def erf_minimum():
    problem = symland.TeacherStudent.orthonormal("erf", 4, 2)
    res = survey(problem, starts=3, dps=50, workers=1)
    return problem, res.points[0][0]


def test_erf_copy_average_minimum_is_recognised_and_proven(erf_minimum):
    problem, cp = erf_minimum
    cf = cp.closed_form(problem, eigenvalues=False)
    assert cf.proven and cf.loss_status == "derived" and not cf.unrecognised
    # 1/2 - 9 asin(1/6)/pi, written with atan(1/sqrt(35)) = asin(1/6): both lie in (-pi/2, pi/2) and
    # tan(asin(1/6)) = (1/6) / sqrt(1 - 1/36) = 1/sqrt(35)
    assert sympy.simplify(sympy.tan(sympy.asin(sympy.Rational(1, 6))) - 1 / sympy.sqrt(35)) == 0
    expected = sympy.Rational(1, 2) - 9 * sympy.atan(1 / sympy.sqrt(35)) / sympy.pi
    assert symland.prove_zero(cf.loss - expected)
    # the coordinates agree with the copy-average ansatz: groups [3, 1], g = sqrt(15)/15 and 1, a = 3 and 1
    ca = symland.copy_average("erf", 4, 2, dps=30, follow=False, progress=False)
    best = ca.configurations[0]
    assert list(best.partition) == [3, 1]
    values = {sympy.nsimplify(v) for v in cf.theta}
    assert {sympy.sqrt(15) / 15, 3, 1, 0} <= values | {0}
    assert set(best.g_exact) <= values and set(best.a_exact) <= values
    with mpmath.workdps(60):
        assert abs(mpmath.mpf(sympy.N(cf.loss, 60)) - cp.loss) < mpmath.mpf(10) ** -45


def test_attention_point_by_hand():
    p = symland.AttentionPCA(np.diag([2.0, 1.0]), L=3)
    cp = symland.refine(p, np.array([0.8, 0.01]), dps=50)
    cf = symland.closed_form(p, cp)
    assert cf.proven and cf.loss == sympy.Rational(11, 14)
    assert sympy.simplify(cf.theta[0] ** 4 - sympy.Rational(3, 14)) == 0 and cf.theta[1] == 0


def test_a_non_critical_point_with_exact_coordinates_is_not_proven(erf_minimum):
    problem, cp = erf_minimum
    with mpmath.workdps(60):
        theta = np.array([mpmath.mpf(1) / 2] * 4 + [mpmath.mpf(1) / 3] * 4 + [mpmath.mpf(1), mpmath.mpf(2)],
                         dtype=object)
        fake = dataclasses.replace(cp, theta=theta, loss=problem.loss(theta, dps=50), eigenvalues=None)
    cf = symland.closed_form(problem, fake)
    assert not cf.proven and "not proven zero" in cf.proof and cf.loss_status != "derived"


def test_relu_spurious_minimum_resists_and_says_so():
    problem = symland.TeacherStudent.orthonormal("relu", 6, 6, train_output=False)
    search = symland.symmetric_critical_points("relu", k=6, isotropy="S_{k-1}xS_1", dps=40, starts=6,
                                               classify=False)
    point = min((q for q in search.points if q.loss > 1e-20), key=lambda q: q.loss)
    cp = symland.refine(problem, np.array([float(v) for v in point.theta]), dps=40)
    cf = symland.closed_form(problem, cp, eigenvalues=False)
    assert not cf.proven and cf.loss_status != "derived" and "theta[0]" in cf.unrecognised


def test_too_few_digits_are_refused(erf_minimum):
    problem, cp = erf_minimum
    with pytest.raises(symland.DomainError, match="at least 30"):
        symland.closed_form(problem, dataclasses.replace(cp, digits=20))
