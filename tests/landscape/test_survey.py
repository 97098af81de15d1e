"""Multi-start surveys, canonical forms and deduplication modulo the symmetry group.

Expected values come from an independent mpmath evaluation of the erf loss
(the Saad & Solla kernel written out here, not symland's kernels) and its
gradient by high-precision finite differences (``mpmath.diff``).
"""

import concurrent.futures
import dataclasses
import json
import re

import mpmath

from symland.numerics.mpcontext import MPReal
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import symland
from symland import TeacherStudent, canonical_form, deduplicate, refine, same_point
from symland.errors import ConvergenceError, ShapeError
from symland.landscape.survey import SurveyResult, random_starts, survey
from symland.landscape.symmetry import invariant_key

ERF42 = TeacherStudent.orthonormal("erf", 4, 2)


# ---------------------------------------------------------------------------
# independent reference: L = 1/2 sum_pq alpha_p alpha_q (2/pi) asin(G_pq / sqrt((1+G_pp)(1+G_qq)))
# ---------------------------------------------------------------------------
def erf_loss_mp(theta, n, V, b):
    theta = [mpmath.mpf(x) for x in theta]
    d = V.shape[1]
    U = [theta[i * d:(i + 1) * d] for i in range(n)] + [[mpmath.mpf(x) for x in row] for row in V]
    alpha = theta[n * d:n * d + n] + [-mpmath.mpf(x) for x in b]
    G = [[mpmath.fsum(x * y for x, y in zip(u, v)) for v in U] for u in U]
    P = len(U)
    return mpmath.fsum(alpha[p] * alpha[q] * 2 / mpmath.pi * mpmath.asin(G[p][q] / mpmath.sqrt((1 + G[p][p]) * (1 + G[q][q])))
                       for p in range(P) for q in range(P)) / 2


def erf_gradient_norm_mp(theta, n, V, b):
    theta = [mpmath.mpf(x) for x in theta]
    g = []
    for j in range(len(theta)):
        def f(t, j=j):
            th = list(theta)
            th[j] = t
            return erf_loss_mp(th, n, V, b)
        g.append(mpmath.diff(f, theta[j]))
    return mpmath.sqrt(mpmath.fsum(x * x for x in g))


def closed_form_minimum():
    r"""The minimum the erf n=2, k=4 surveys find: w_1 = v_2, a_1 = 1; w_2 = (v_1 + v_3 + v_4)/sqrt 15, a_2 = 3."""
    s = 1 / mpmath.sqrt(15)
    return [0, 1, 0, 0, s, 0, s, s, 1, 3]


def strip(d):
    d = dict(d)
    d.pop("seconds", None)
    return d


# ---------------------------------------------------------------------------
# surveys
# ---------------------------------------------------------------------------
def test_minimize_survey_finds_the_closed_form_minimum():
    res = survey(ERF42, starts=4, seed=0, dps=30, workers=1)
    assert isinstance(res, SurveyResult)
    assert res.starts == 4 and not res.failures
    (cp, count), = res.points  # every start reaches one orbit
    assert count == 4 and res.start_indices == [[0, 1, 2, 3]]
    with mpmath.workdps(40):
        ref = erf_loss_mp(closed_form_minimum(), 2, ERF42.teacher_weights, ERF42.teacher_output)
        assert abs(cp.loss - ref) < mpmath.mpf(10) ** -28
        # the closed form is critical (independent finite differences) ...
        assert erf_gradient_norm_mp(closed_form_minimum(), 2, ERF42.teacher_weights, ERF42.teacher_output) < 1e-30
    # ... and the surveyed point is in its orbit
    with mpmath.workdps(30):
        star = np.array([mpmath.mpf(x) for x in closed_form_minimum()], dtype=object)
    assert same_point(ERF42, cp, star, tol=1e-25)
    assert cp.kind == "minimum" and cp.index == 0
    table = res.table()
    assert "0.0202965886569769277780" in table and "minimum" in table


def test_newton_survey_distinct_points_sorted_and_counted():
    res = survey(ERF42, starts=6, seed=0, dps=30, solver="newton", workers=1)
    losses = [cp.loss for cp, _ in res.points]
    assert losses == sorted(losses)
    assert len(res.points) >= 2
    assert sum(c for _, c in res.points) == res.converged == res.starts - len(res.failures)
    assert sorted(j for idx in res.start_indices for j in idx) == [
        j for j in range(res.starts) if j not in {f.start for f in res.failures}]
    for cp, _ in res.points:
        # independent check: the loss at the reported parameters and their criticality
        with mpmath.workdps(40):
            ref = erf_loss_mp(cp.theta, 2, ERF42.teacher_weights, ERF42.teacher_output)
            assert abs(cp.loss - ref) < mpmath.mpf(10) ** -27
            assert erf_gradient_norm_mp(cp.theta, 2, ERF42.teacher_weights, ERF42.teacher_output) < 1e-20
    for i, (p, _) in enumerate(res.points):
        for q, _ in res.points[i + 1:]:
            assert not same_point(ERF42, p, q)
    # the saddle with loss < 2/3: index > 0
    assert any(cp.index > 0 and cp.loss < 0.6 for cp, _ in res.points)
    # merge="function": the a = 0 points (f = 0, loss 2/3) collapse into one row
    f0 = [(cp, c) for cp, c in res.points if abs(cp.loss - mpmath.mpf(2) / 3) < 1e-25]
    if len(f0) > 1:
        merged = deduplicate(ERF42, f0, merge="function")
        assert len(merged) == 1 and merged[0][1] == sum(c for _, c in f0)


def test_serial_and_process_pool_give_identical_results():
    serial = survey(ERF42, starts=4, seed=3, dps=30, workers=1)
    with concurrent.futures.ProcessPoolExecutor(2) as ex:
        pooled = survey(ERF42, starts=4, seed=3, dps=30, executor=ex)
    assert json.dumps(strip(serial.to_dict())) == json.dumps(strip(pooled.to_dict()))
    assert serial.table() == pooled.table()


def test_thread_pool_matches_serial():
    # mpmath's precision is process-global: run_start serialises the mp stage with a lock
    serial = survey(ERF42, starts=3, seed=5, dps=30, workers=1)
    with concurrent.futures.ThreadPoolExecutor(3) as ex:
        threaded = survey(ERF42, starts=3, seed=5, dps=30, executor=ex)
    assert json.dumps(strip(serial.to_dict())) == json.dumps(strip(threaded.to_dict()))


def test_dask_executor_matches_serial():
    distributed = pytest.importorskip("distributed")
    serial = survey(ERF42, starts=3, seed=1, dps=30, workers=1)
    with distributed.Client(processes=False, n_workers=1, threads_per_worker=2, dashboard_address=None) as client:
        res = survey(ERF42, starts=3, seed=1, dps=30, executor=client.get_executor())
    assert res.table() == serial.table()
    assert json.dumps(strip(res.to_dict())) == json.dumps(strip(serial.to_dict()))


def test_to_dict_is_json_with_all_digits():
    res = survey(ERF42, starts=2, seed=0, dps=35, workers=1)
    d = json.loads(json.dumps(res.to_dict()))
    assert d["starts"] == 2 and d["dps"] == 35 and d["failed"] == 0
    (pt,) = d["points"]
    assert isinstance(pt["loss"], str)
    assert len(re.sub(r"^0\.0*", "", pt["loss"]).replace(".", "")) == 35  # 35 significant digits
    with mpmath.workdps(40):
        ref = erf_loss_mp(closed_form_minimum(), 2, ERF42.teacher_weights, ERF42.teacher_output)
        assert abs(mpmath.mpf(pt["loss"]) - ref) < mpmath.mpf(10) ** -33
    assert pt["count"] == 2 and len(pt["theta_canonical"]) == ERF42.num_params


def test_failures_are_counted_not_reported(monkeypatch):
    # relu: a zero-norm neuron makes the gradient undefined -> DomainError in the solver stage
    relu = TeacherStudent.orthonormal("relu", 2, 2)
    bad = relu.pack(np.array([[0.0, 0.0], [1.0, 0.5]]), np.array([1.0, 1.0]))
    res = survey(relu, starts=np.array([bad]), workers=1)
    assert res.points == [] and len(res.failures) == 1
    f = res.failures[0]
    assert f.start == 0 and f.stage == "solver" and "DomainError" in f.reason and "zero norm" in f.reason
    assert res.to_dict()["failed"] == 1

    # a refinement that raises ConvergenceError (forced for start 1) is a failure of that start only
    real = symland.landscape.critical.refine
    target = random_starts(ERF42, 3, seed=0)[1]
    calls = {}

    def flaky(problem, theta, dps=50, **kw):
        if "start" not in calls and np.allclose(theta, symland.landscape.critical.minimize(problem, target).theta):
            calls["start"] = 1
            raise ConvergenceError("forced failure", ["1.0"])
        return real(problem, theta, dps, **kw)

    monkeypatch.setattr(symland.landscape.critical, "refine", flaky)
    res = survey(ERF42, starts=3, seed=0, workers=1, batch=False)  # per-start solver: start 1 ends at `target`
    assert [(f.start, f.stage) for f in res.failures] == [(1, "refine")]
    assert "forced failure" in res.failures[0].reason
    assert sum(c for _, c in res.points) == 2 and 1 not in res.start_indices[0]
    assert "failed start 1" in res.table()


def test_failures_through_a_process_pool():
    relu = TeacherStudent.orthonormal("relu", 2, 2)
    bad = [relu.pack(np.array([[0.0, 0.0], [1.0, 0.5]]), np.array([1.0, 1.0])),
           relu.pack(np.array([[1.0, 0.5], [0.0, 0.0]]), np.array([1.0, -1.0]))]
    res = survey(relu, starts=np.array(bad), workers=2)
    assert res.points == [] and [f.start for f in res.failures] == [0, 1]


def test_progress_lines(capsys):
    survey(ERF42, starts=2, seed=0, workers=1, progress=True)
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == "survey: 2/2 starts done, 1 distinct critical points, 0 failed"
    survey(ERF42, starts=1, seed=0, workers=1, progress=False)
    assert capsys.readouterr().err == ""


def test_random_starts_documented_initialisation():
    p = TeacherStudent.orthonormal("erf", 2, 40, d=50)
    S = random_starts(p, 20, seed=7)
    W = S[:, : 40 * 50]
    a = S[:, 40 * 50:]
    # W_il ~ N(0, 1/d): 40000 samples, variance within ~4 standard errors
    assert abs(W.var() * 50 - 1) < 4 * np.sqrt(2 / W.size) * 1.0
    assert abs(a.var() - 1) < 4 * np.sqrt(2 / a.size) + 0.02
    # start j does not depend on how many starts are drawn; it is child j of SeedSequence(seed)
    assert np.array_equal(random_starts(p, 3, seed=7)[2], S[2])
    child = np.random.SeedSequence(7).spawn(3)[1]
    rng = np.random.default_rng(child)
    assert np.array_equal(S[1, : 40 * 50], rng.normal(0, 1 / np.sqrt(50), size=(40, 50)).ravel())


def test_bad_arguments():
    with pytest.raises(ValueError, match="solver"):
        survey(ERF42, starts=1, solver="bfgs", workers=1)
    with pytest.raises(ShapeError, match="starts"):
        survey(ERF42, starts=0, workers=1)
    with pytest.raises(ShapeError, match="starts"):
        survey(ERF42, starts=np.zeros((2, 3)), workers=1)
    with pytest.raises(ValueError, match="workers"):
        survey(ERF42, starts=1, workers=0)


# ---------------------------------------------------------------------------
# symmetry: canonical form, same_point, deduplicate
# ---------------------------------------------------------------------------
def _theta(p, seed):
    rng = np.random.default_rng(seed)
    W = rng.normal(size=(p.n, p.d)) / np.sqrt(p.d)
    return p.pack(W, rng.normal(size=p.n)) if p.train_output else p.pack(W)


def _transform(p, theta, perm, signs, Q=None):
    params = p.unpack(theta)
    W, a = params.W, params.a
    W = (W * np.asarray(signs)[:, None])[perm]
    a = (a * np.asarray(signs))[perm]
    if Q is not None:
        W = W @ Q.T
    return p.pack(W, a)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10**6), perm=st.permutations(range(3)),
       signs=st.lists(st.sampled_from([1.0, -1.0]), min_size=3, max_size=3))
def test_canonical_form_invariant_and_idempotent(seed, perm, signs):
    p = TeacherStudent.orthonormal("erf", 2, 3, d=2)
    th = _theta(p, seed)
    c = canonical_form(p, th)
    assert np.allclose(canonical_form(p, c), c, atol=1e-13)  # idempotent
    assert np.allclose(canonical_form(p, _transform(p, th, list(perm), signs)), c, atol=1e-12)
    assert abs(p.loss(c) - p.loss(th)) < 1e-13
    assert np.all(p.unpack(c).a > 0)  # sign convention for odd s with trained outputs
    assert invariant_key(p, th) == invariant_key(p, _transform(p, th, list(perm), signs))


def test_canonical_form_fixes_rotations_of_the_teacher_complement():
    p = TeacherStudent.orthonormal("erf", 2, 3, d=6)  # 4 directions orthogonal to the teacher
    th = _theta(p, 11)
    rng = np.random.default_rng(0)
    Q = np.eye(6)
    Q[2:, 2:] = np.linalg.qr(rng.normal(size=(4, 4)))[0]  # O(4) on the complement (maybe a reflection)
    rotated = _transform(p, th, [2, 0, 1], [1, -1, 1], Q)
    assert abs(p.loss(rotated) - p.loss(th)) < 1e-13
    c1, c2 = canonical_form(p, th), canonical_form(p, rotated)
    assert np.allclose(c1, c2, atol=1e-12)
    W = p.unpack(c1).W
    # neuron i's complement part lies in the span of the first i+1 complement directions
    assert np.allclose(W[0, 3:], 0, atol=1e-13) and np.allclose(W[1, 4:], 0, atol=1e-13)
    assert W[0, 2] > 0 and W[1, 3] > 0


def test_canonical_form_rescaling_for_relu():
    p = TeacherStudent.orthonormal("relu", 2, 3)
    th = _theta(p, 4)
    params = p.unpack(th)
    W, a = params.W, params.a
    t = np.array([0.3, 2.0, 5.0])
    scaled = p.pack(W * t[:, None], a / t)  # (w, a) -> (t w, a / t): relu is 1-homogeneous
    assert abs(p.loss(scaled) - p.loss(th)) < 1e-13
    c = canonical_form(p, scaled)
    assert np.allclose(c, canonical_form(p, th), atol=1e-12)
    params = p.unpack(c)
    Wc, ac = params.W, params.a
    assert np.allclose(np.abs(ac), np.linalg.norm(Wc, axis=1))  # balanced |a_i| = |w_i|
    assert same_point(p, th, scaled, tol=1e-10)
    # relu is not odd: a sign flip is not a symmetry and is not merged
    assert not same_point(p, th, _transform(p, th, [0, 1, 2], [-1, 1, 1]), tol=1e-10)


def test_canonical_form_fixed_outputs_only_permutes_equal_output_weights():
    p = TeacherStudent.orthonormal("erf", 2, 3, train_output=False, student_output=[2.0, 1.0, 2.0])
    for seed in range(5):
        th = _theta(p, seed)
        c = canonical_form(p, th)
        assert abs(p.loss(c) - p.loss(th)) < 1e-13  # a wrong permutation would change the loss
        W = th.reshape(3, 2)
        swapped = W[[2, 1, 0]].ravel()  # neurons 0 and 2 share a_i = 2
        assert np.allclose(canonical_form(p, swapped), c, atol=1e-12)
        assert not same_point(p, th, W[[1, 0, 2]].ravel(), tol=1e-10)


@pytest.fixture(scope="module")
def minimum_and_saddle():
    start_min = ERF42.pack(np.array([[0.05, 1.0, 0.0, 0.02], [0.3, 0.0, 0.2, 0.25]]), np.array([1.1, 2.9]))
    s6 = 1 / np.sqrt(6)
    start_saddle = ERF42.pack(np.array([[s6, 0, s6 + 0.01, 0], [0, s6, 0, s6]]), np.array([2.0, 2.01]))
    cp_min = refine(ERF42, symland.landscape.critical.newton(ERF42, start_min).theta, 30)
    cp_saddle = refine(ERF42, symland.landscape.critical.newton(ERF42, start_saddle).theta, 30)
    return cp_min, cp_saddle


def _copy(cp, theta):
    return dataclasses.replace(cp, theta=np.array(theta, dtype=object))


def test_dedup_merges_symmetric_copies_not_different_points(minimum_and_saddle):
    cp_min, cp_saddle = minimum_and_saddle
    assert cp_min.index == 0 and cp_saddle.index == 2
    W, a = cp_min.theta[:8].reshape(2, 4), cp_min.theta[8:]
    # permuted and (erf is odd) sign-flipped copy: exact in mpmath
    flipped = np.concatenate([(-W[::-1]).ravel(), -a[::-1]])
    # teacher symmetry: swap input coordinates 0 and 2 (v_0 <-> v_2, b_0 = b_2)
    teacher_perm = np.concatenate([W[:, [2, 1, 0, 3]].ravel(), a])
    copies = [cp_min, cp_saddle, _copy(cp_min, flipped), _copy(cp_min, teacher_perm), _copy(cp_saddle, cp_saddle.theta)]
    assert same_point(ERF42, cp_min, _copy(cp_min, flipped))
    assert same_point(ERF42, cp_min, _copy(cp_min, teacher_perm))
    assert not same_point(ERF42, cp_min, cp_saddle)
    out = deduplicate(ERF42, copies)
    assert [(round(float(cp.loss), 12), c) for cp, c in out] == [
        (round(float(cp_min.loss), 12), 3), (round(float(cp_saddle.loss), 12), 2)]
    # a small perturbation of a copy is a different point at the default (precision-derived) tolerance
    moved = flipped.copy()
    moved[0] += mpmath.mpf("1e-6")
    assert not same_point(ERF42, cp_min, _copy(cp_min, moved))
    # counts of (point, count) pairs add up
    again = deduplicate(ERF42, out + [(cp_min, 4)])
    assert [c for _, c in again] == [7, 2]


def test_canonical_form_mp_keeps_precision(minimum_and_saddle):
    cp_min, _ = minimum_and_saddle
    c = canonical_form(ERF42, cp_min)
    assert c.dtype == object and all(isinstance(x, MPReal) for x in c)
    with mpmath.workdps(40):
        ref = erf_loss_mp(closed_form_minimum(), 2, ERF42.teacher_weights, ERF42.teacher_output)
        assert abs(ERF42.loss(c, dps=30) - ref) < mpmath.mpf(10) ** -28
    assert all(x == y for x, y in zip(canonical_form(ERF42, c, dps=30), c))


def test_survey_refuses_problems_with_biases_or_glus_clearly():
    """The symmetry merge knows (W, a) only: biased and GLU problems are refused naming the argument."""
    for problem in (TeacherStudent("relu", np.eye(2), n=1, bias=True),
                    TeacherStudent.orthonormal("erf", 2, 1, glus=1)):
        with pytest.raises(ShapeError, match="problem: survey supports TeacherStudent"):
            symland.survey(problem, starts=2, workers=1)
