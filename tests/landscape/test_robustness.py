"""A survey never ends on one bad start or one hard point, never floods warnings, classifies
dead relu units, keeps finished work on an interrupt, and validates its arguments.

Regressions: ``symland survey --activation relu --k 3 --n 3`` ended in a scipy traceback ("array
must not contain infs or NaNs") from a start that reached the exactly aligned zero-loss minimum;
a relu k = n = 20 survey lost every result to mpmath's "tridiag_eigen: no convergence"; every
relu survey printed dozens of LinAlgWarnings; dead units were "failed starts"; refine(max_iter=-1)
returned a non-critical point as classified, gradient_flow(t_max < 0) ran gradient ascent.
"""

import math
import warnings

import mpmath
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import symland
from symland import TeacherStudent, gradient_flow, minimize, newton, refine
from symland.errors import DomainError, SymlandError
from symland.landscape import critical, survey as survey_module
from symland.landscape.survey import SurveyInterrupted, survey

RELU33 = TeacherStudent.orthonormal("relu", k=3, n=3)


def test_relu_k3_n3_survey_completes_without_warnings():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = survey(RELU33, starts=20, seed=0, dps=30, workers=1, progress=False)
    assert [w for w in caught if issubclass(w.category, (RuntimeWarning, UserWarning))] == []
    # the exactly aligned zero-loss minimum is found; its loss is reported as noise, not digits
    best = res.points[0][0]
    assert best.kind == "minimum" and abs(best.loss) < mpmath.mpf(10) ** -50
    assert best.loss_string().startswith("0 (|x| < ")
    assert res.converged + len(res.failures) == 20


def test_a_failing_mpmath_eigensolver_does_not_change_the_classification(monkeypatch):
    # the spectrum is float64 eigenvectors refined in ball arithmetic; mpmath's eigsy only rotates
    # clusters of equal eigenvalues and may fail there (QL iteration) without changing the answer
    p = TeacherStudent.orthonormal("erf", k=2, n=2)
    start = p.pack([[1.1, 0.1], [0.05, 0.9]], [1.0, 1.0])
    ref = refine(p, start, dps=30)
    with mpmath.workdps(40):
        H = p.hessian(ref.theta, dps=40)
        independent = sorted(mpmath.eigsy(mpmath.matrix(H.tolist()), eigvals_only=True))

    def broken(self, *args, **kwargs):
        raise RuntimeError("tridiag_eigen: no convergence to an eigenvalue after 90 iterations")

    monkeypatch.setattr(mpmath.MPContext, "eigsy", broken)
    cp = refine(p, start, dps=30)
    assert (cp.index, cp.nullity, cp.kind) == (ref.index, ref.nullity, ref.kind)
    for x, err, y in zip(cp.eigenvalues, cp.eigenvalue_errors, independent):
        assert abs(x - y) <= err + mpmath.mpf(10) ** -29 * max(1, abs(y))
        assert err < 1e-28  # the rounding of the reported value to 30 digits included


def test_one_failing_point_never_ends_a_survey(monkeypatch):
    p = TeacherStudent.orthonormal("erf", k=2, n=2)
    real = critical.refine
    calls = []

    def flaky(problem, theta, dps, *a, **k):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("an unexpected failure in one point")
        return real(problem, theta, dps, *a, **k)

    monkeypatch.setattr(critical, "refine", flaky)
    # batch=False: each start is refined on its own (the batched default refines each orbit once)
    res = survey(p, starts=4, seed=1, dps=25, workers=1, progress=False, batch=False)
    assert len(res.failures) == 1 and "RuntimeError: an unexpected failure" in res.failures[0].reason
    assert sum(c for _, c in res.points) == 3


def test_an_interrupt_keeps_the_finished_starts(monkeypatch):
    p = TeacherStudent.orthonormal("erf", k=2, n=2)
    real = survey_module.run_start
    seen = []

    def interrupt_third(*args, **kwargs):
        seen.append(1)
        if len(seen) == 3:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(survey_module, "run_start", interrupt_third)
    with pytest.raises(SurveyInterrupted) as info:
        survey(p, starts=5, seed=1, dps=25, workers=1, progress=False, batch=False)
    partial = info.value.result
    assert sum(c for _, c in partial.points) == 2
    assert sorted(f.start for f in partial.failures if f.stage == "interrupted") == [2, 3, 4]
    assert isinstance(info.value, KeyboardInterrupt)


def test_dead_relu_units_are_non_smooth_minima():
    """relu, k = 2 orthonormal, n = 1: w -> 0 with a < 0 is a minimum of the non-smooth loss with
    loss 1/2 E[f*^2] = 1/2 (2 kappa(1,1,1) + 2 kappa(1,1,0)) = 1/2 (1 + 1/pi) (relu kernel
    kappa(1,1,1) = 1/2, kappa(1,1,0) = 1/(2 pi))."""
    p = TeacherStudent.orthonormal("relu", k=2, n=1)
    res = survey(p, starts=12, seed=1, dps=30, workers=1, progress=False)  # starts 8-11 end at dead units
    assert res.failures == []
    kinds = {cp.kind: cp for cp, _ in res.points}
    dead = kinds["non-smooth minimum"]
    with mpmath.workdps(40):
        assert abs(dead.loss - (1 + 1 / mpmath.pi) / 2) < mpmath.mpf(10) ** -29
    W = p.unpack(dead.theta_float()).W
    assert np.all(W == 0) and p.unpack(dead.theta_float()).a[0] == -1.0


def test_arguments_are_validated():
    p = TeacherStudent.orthonormal("erf", k=2, n=2)
    th = p.pack([[1.0, 0.2], [0.1, 0.9]], [1.0, 1.0])
    with pytest.raises(DomainError, match="max_iter"):
        refine(p, th, dps=30, max_iter=-1)
    with pytest.raises(DomainError, match="t_max"):
        gradient_flow(p, th, t_max=-1.0)
    with pytest.raises(DomainError, match="gtol"):
        minimize(p, th, gtol=0.0)
    with pytest.raises(DomainError, match="max_iter"):
        newton(p, th, max_iter=0)
    with pytest.raises(DomainError, match="complex"):
        p.loss(th + 1j)
    with pytest.raises(SymlandError, match="dps"):
        p.loss(th, dps=10**9)


_BAD = st.one_of(st.just(-1), st.just(0), st.just(-1.5), st.just(float("nan")), st.just(float("inf")),
                 st.just(-float("inf")), st.just("x"), st.just(None), st.just(True), st.just(2.5))


@settings(max_examples=60, deadline=None, derandomize=True)
@given(st.sampled_from(["refine.max_iter", "minimize.gtol", "minimize.max_iter", "newton.gtol",
                        "newton.max_iter", "gradient_flow.t_max", "gradient_flow.gtol"]), _BAD)
def test_fuzz_bad_arguments_raise_the_documented_error(target, value):
    p = TeacherStudent.orthonormal("erf", k=2, n=1)
    th = p.pack([[1.0, 0.2]], [1.0])
    fn_name, arg = target.split(".")
    fn = {"refine": refine, "minimize": minimize, "newton": newton, "gradient_flow": gradient_flow}[fn_name]
    valid = (arg == "max_iter" and isinstance(value, int) and not isinstance(value, bool)
             and value >= (0 if fn_name == "refine" else 1)) or (
        arg != "max_iter" and isinstance(value, (int, float)) and not isinstance(value, bool)
        and math.isfinite(value) and value > 0)
    kwargs = {arg: value}
    if fn_name == "refine":
        kwargs["dps"] = 20
    if valid:
        return  # only bad values are fuzzed here; good ones are exercised everywhere else
    with pytest.raises(DomainError, match=arg):
        fn(p, th, **kwargs)
