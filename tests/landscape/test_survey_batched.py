"""The batched float64 stage of :func:`symland.landscape.survey.survey` (the default).

Expected values come from the per-start path (``batch=False``: scipy trust-exact / damped Newton
per start, then refinement per start), an independent route to the same critical points.
"""

import mpmath
import numpy as np
import pytest

import symland
from symland import TeacherStudent
from symland.errors import ConvergenceError, DomainError
from symland.landscape.survey import BATCHED_SOLVERS, survey

ERF42 = TeacherStudent.orthonormal("erf", 4, 2)


def _losses(res, digits=25):
    return sorted((mpmath.nstr(cp.loss, digits), cp.index) for cp, _ in res.points)


# gd is checked against the textbook loop below: on erf with trained outputs its plateaus take
# hundreds of thousands of steps per start, too slow for the per-start path here
@pytest.mark.parametrize("solver", sorted(set(BATCHED_SOLVERS) - {"gd"}))
def test_batched_and_per_start_surveys_find_the_same_points(solver):
    kw = dict(starts=8, seed=3, workers=1, solver=solver)
    batched, single = survey(ERF42, **kw), survey(ERF42, batch=False, **kw)
    assert _losses(batched) == _losses(single) and batched.points
    for res in (batched, single):
        assert sum(c for _, c in res.points) + len(res.failures) == 8


def test_one_refinement_per_orbit_of_float_end_points(monkeypatch):
    real, calls = symland.landscape.critical.refine, []

    def counting(problem, theta, dps=50, **kw):
        calls.append(1)
        return real(problem, theta, dps, **kw)

    monkeypatch.setattr(symland.landscape.critical, "refine", counting)
    res = survey(ERF42, starts=12, seed=0, workers=1)
    counted = sum(c for _, c in res.points)
    assert counted + len(res.failures) == 12
    # 12 starts reach few orbits: each orbit is refined once, and its count holds all its starts
    assert len(calls) == len(res.points) < 12
    assert sorted(j for idx in res.start_indices for j in idx) == [
        j for j in range(12) if j not in {f.start for f in res.failures}]
    shared = [o for o in res.outcomes if o.seconds == 0.0]
    assert len(shared) == 12 - len(calls) and all(o.solver_converged for o in shared)


def test_a_failed_shared_refinement_fails_every_start_of_the_orbit(monkeypatch):
    def failing(problem, theta, dps=50, **kw):
        raise ConvergenceError("forced failure", ["1.0"])

    monkeypatch.setattr(symland.landscape.critical, "refine", failing)
    res = survey(ERF42, starts=5, seed=0, workers=1)
    assert res.points == [] and sorted(f.start for f in res.failures) == list(range(5))
    assert all(f.stage == "refine" and "forced failure" in f.reason for f in res.failures)


def test_batched_stage_reports_progress(capsys):
    survey(ERF42, starts=3, seed=0, workers=1, progress=True)
    err = capsys.readouterr().err
    assert "float64 stage (trust, batched) on 3 starts" in err
    assert "starts converged" in err and err.strip().splitlines()[-1].startswith("survey: 3/3 starts done")


def test_batch_flag_is_validated():
    with pytest.raises(DomainError, match="batch"):
        survey(ERF42, starts=2, batch="yes")


def test_solvers_without_a_batched_form_run_per_start():
    res = survey(ERF42, starts=2, seed=0, workers=1, solver="flow")
    assert res.points and all(o.seconds > 0 for o in res.outcomes)


def test_lbfgs_survey_and_its_single_start_form():
    from symland.landscape.batch_solve import lbfgs_newton, solve_batch
    from symland.landscape.survey import random_starts

    starts = random_starts(ERF42, 4, seed=1)
    batch = solve_batch(ERF42, starts, method="lbfgs")
    for j, th in enumerate(starts):
        one = lbfgs_newton(ERF42, th)
        assert one.converged == batch.converged[j] and np.array_equal(one.theta, batch.theta[j])
    res = survey(ERF42, starts=4, seed=1, workers=1, solver="lbfgs")
    single = survey(ERF42, starts=4, seed=1, workers=1, solver="lbfgs", batch=False)
    assert _losses(res) == _losses(single) and res.points
    with pytest.raises(symland.errors.ShapeError, match="theta0"):
        lbfgs_newton(ERF42, starts)


def test_an_interrupt_during_the_refinements_keeps_every_start_of_the_finished_orbits(monkeypatch):
    import symland.landscape.survey as survey_module
    from symland.landscape.survey import SurveyInterrupted

    newton_run = survey(ERF42, starts=10, seed=0, workers=1, solver="newton")
    assert len(newton_run.points) >= 2  # Newton ends at several orbits (minima and saddles)
    real, seen = survey_module.run_start, []

    def interrupt_second(*args, **kwargs):
        seen.append(1)
        if len(seen) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(survey_module, "run_start", interrupt_second)
    with pytest.raises(SurveyInterrupted) as info:
        survey(ERF42, starts=10, seed=0, workers=1, solver="newton")
    partial = info.value.result
    first = [o for o in partial.outcomes if o.point is not None]
    # the first refined orbit and every start that shares it are kept; the rest are marked interrupted
    assert len(partial.points) == 1 and partial.points[0].count == len(first) >= 1
    assert all(f.stage == "interrupted" for f in partial.failures)
    assert len(first) + len(partial.failures) == 10


def test_lbfgs_is_refused_for_other_landscapes_before_any_start_runs():
    ufm = symland.DeepUFM(2, 1, 2, activation="linear", loss="mse")
    with pytest.raises(DomainError, match="solver.*TeacherStudent"):
        survey(ufm, starts=2, solver="lbfgs", workers=1)
    res = survey(ufm, starts=2, seed=0, workers=1)  # other landscapes keep the per-start path
    assert res.points and all(o.seconds > 0 for o in res.outcomes)


def _plain_gradient_descent(problem, theta, eta, steps, gtol=0.0):
    """Reference: the textbook loop with the single-point gradient (no batching, no Newton), at most
    ``steps`` steps, stopping once |grad| <= gtol."""
    losses = [problem.loss(theta)]
    for _ in range(steps):
        g = problem.gradient(theta)
        if np.linalg.norm(g) <= gtol:
            break
        theta = theta - eta * g
        losses.append(problem.loss(theta))
    return theta, np.array(losses)


def test_stable_step_is_the_largest_grid_step_that_lowers_every_loss():
    from symland.landscape.batch_solve import STEP_GRID, stable_step
    from symland.landscape.survey import random_starts

    p = TeacherStudent.orthonormal("relu", 3, 3, train_output=False)
    starts = random_starts(p, 3, seed=2)
    eta = stable_step(p, starts)
    i = STEP_GRID.index(eta)
    for th in starts:
        _, losses = _plain_gradient_descent(p, th, eta, 300)
        assert np.all(np.diff(losses) <= 1e-12 * np.maximum(1, np.abs(losses[:-1])))
    if i > 0:  # the next larger step makes some start's loss rise within 300 steps
        rises = [np.any(np.diff(_plain_gradient_descent(p, th, STEP_GRID[i - 1], 300)[1]) > 0) for th in starts]
        assert any(rises)


def test_gradient_descent_survey_ends_where_plain_gradient_descent_ends():
    from symland.landscape.batch_solve import gradient_descent_newton, solve_batch
    from symland.landscape.survey import random_starts

    p = TeacherStudent.orthonormal("relu", 3, 3, train_output=False)
    starts = random_starts(p, 3, seed=5)
    res = solve_batch(p, starts, method="gd", step=0.25)
    assert res.converged.all()
    for j, th in enumerate(starts):
        end, _ = _plain_gradient_descent(p, th, 0.25, 20000, gtol=1e-9)
        assert np.linalg.norm(p.gradient(end)) <= 1e-9  # the textbook loop got there by itself
        assert np.abs(end - res.theta[j]).max() < 1e-6
    one = gradient_descent_newton(p, starts[0], step=0.25)
    assert np.array_equal(one.theta, res.theta[0])
    out = survey(p, starts=starts, workers=1, solver="gd")
    assert sum(c for _, c in out.points) == 3 and all(cp.index == 0 for cp, _ in out.points)


def test_the_batched_stage_reports_progress_while_it_runs(monkeypatch):
    import symland.landscape.batch_solve as batch_solve
    from symland.landscape.survey import random_starts

    monkeypatch.setattr(batch_solve, "PROGRESS_SECONDS", 0.0)
    lines = []
    res = batch_solve.solve_batch(ERF42, random_starts(ERF42, 3, seed=0), method="trust", progress=lines.append)
    assert len(lines) >= res.iterations.max()  # one line per iteration when the interval is 0
    assert lines[0].startswith("float64 stage (trust): 0 of 3 starts converged, 3 running")
    with pytest.raises(DomainError, match="progress"):
        batch_solve.solve_batch(ERF42, random_starts(ERF42, 1), progress="yes")
