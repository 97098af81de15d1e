"""Tests of symland.channels.channel: the tangent-neuron map, the loss along a channel and its rate,
splitting lines, detection and the GLU limit.

Independent references: pointwise network outputs with scipy's erf (not the
SymPy-lambdified activation), Monte Carlo, and input-space Gauss-Hermite
quadrature of the rate formulas (``rate_constants``, which never touches the
dual kernel) against coefficients measured from high-precision kernel losses.
"""

import json
import math
import pathlib
import runpy

import mpmath
import numpy as np
import pytest
from scipy.special import erf

from symland.channels.channel import (
    ChannelThresholds, channel_expansion, channel_loss, channel_point, channel_problem, detect, extract_glu,
    glu_limit, rate_constants, splitting_comparison,
)
from symland.channels.survey import survey
from symland.channels.training import Trajectory, adam, flow_trajectory, sgd
from symland.cli.main import main
from symland.errors import DomainError, ShapeError
from symland.landscape.critical import newton, refine
from symland.landscape.survey import random_starts
from symland.problems.teacher_student import TeacherStudent

DERIVATIONS = pathlib.Path(__file__).resolve().parents[2] / "derivations"

# erf (= erf(z/sqrt 2)), teacher V = I_2, b = (1, 1/2); a single GLU unit (n = 0 ordinary neurons)
GLU = TeacherStudent("erf", np.eye(2), [1.0, 0.5], n=0, glus=1)
#: a GLU minimum found by minimize + refine from a random start (rounded; refined in the fixture)
GLU_MIN = [-0.47035216, -0.53211, 0.23425, 0.66326, 0.47627]


def s(z, k=0):
    """erf(z / sqrt 2) and its derivatives, written out by hand."""
    g = math.sqrt(2 / math.pi) * np.exp(-z * z / 2)
    return [erf(z / math.sqrt(2)), g, -z * g, (z * z - 1) * g][k]


@pytest.fixture(scope="module")
def glu_min():
    cp = refine(GLU, newton(GLU, np.array(GLU_MIN)).theta, dps=40)
    assert cp.kind == "minimum" and cp.gradient_norm < 1e-35
    return cp


def generic_point():
    return GLU.pack(None, None, glu_c=[0.4], glu_w=[[0.6, -0.3]], glu_v=[[0.5, 0.7]])


def test_channel_point_output_tends_to_the_glu_with_the_derived_first_order_term():
    th = generic_point()
    big = channel_problem(GLU)
    assert big.n == 2 and big.glus == 0
    x = np.random.default_rng(0).normal(size=(50, 2))
    c, w, v = 0.4, np.array([0.6, -0.3]), np.array([0.5, 0.7])
    glu = c * s(x @ w) + (x @ v) * s(x @ w, 1)
    h = 0.5 * (x @ v) ** 2 * s(x @ w, 2)
    for eps in (1e-2, 1e-3):
        params = big.unpack(channel_point(GLU, th, eps))
        W, a = params.W, params.a
        assert np.allclose(W, [w + eps * v, w]) and np.allclose(a, [1 / eps, c - 1 / eps])
        pair = s(x @ W.T) @ a
        # pair = GLU + eps h + O(eps^2): the remainder over eps^2 stays bounded
        assert np.max(np.abs(pair - glu - eps * h)) < 2 * eps ** 2 * np.max(np.abs(x @ v) ** 3)


def test_loss_along_the_channel_matches_quadrature_coefficients_at_a_generic_point():
    th = generic_point()
    ex = channel_expansion(GLU, th, dps=30)
    q = rate_constants(GLU, th)
    # C0 = L_GLU (kernel assembly of the GLU problem, and input-space quadrature)
    assert abs(ex.coefficients[0] - ex.loss_glu) < 1e-25
    assert abs(float(ex.loss_glu) - q["loss_glu"]) < 1e-13
    # not a critical point: the rate is 1, C1 = E[r h]
    assert ex.rate == 1
    assert abs(float(ex.coefficients[1]) - q["C1"]) < 1e-12 and abs(q["C1"]) > 1e-3
    assert abs(float(ex.coefficients[2]) - q["C2"]) < 1e-11
    # the measured expansion predicts the loss at a new eps: L(eps) - (C0 + C1 eps + C2 eps^2) = O(eps^3)
    eps = mpmath.mpf("2e-4")
    with mpmath.workdps(30):
        pred = ex.coefficients[0] + ex.coefficients[1] * eps + ex.coefficients[2] * eps ** 2
        assert abs(channel_loss(GLU, th, eps, dps=30) - pred) < 10 * eps ** 3


def test_glu_loss_against_monte_carlo():
    th = generic_point()
    x = np.random.default_rng(1).normal(size=(400_000, 2))
    f = 0.4 * s(x @ [0.6, -0.3]) + (x @ [0.5, 0.7]) * s(x @ [0.6, -0.3], 1)
    per = 0.5 * (f - s(x[:, 0]) - 0.5 * s(x[:, 1])) ** 2
    assert abs(per.mean() - GLU.loss(th)) < 5 * per.std() / np.sqrt(len(per))


def test_rate_two_at_an_erf_glu_minimum(glu_min):
    """At a GLU critical point C1 = -|v|^2/2 E[r s'] = 0 for odd s, so L - L_GLU = C2 eps^2."""
    theta = glu_min.theta
    ex = channel_expansion(GLU, theta, dps=30)
    q = rate_constants(GLU, np.array([float(t) for t in theta]))
    assert abs(ex.loss_glu - glu_min.loss) < 1e-28
    assert abs(ex.coefficients[0] - glu_min.loss) < 1e-25
    assert abs(ex.coefficients[1]) < 1e-20  # the O(eps) term vanishes
    assert ex.rate == 2
    assert abs(float(ex.constant) - q["C2"]) < 1e-11 and q["C2"] > 0  # loss approaches from above
    assert abs(q["C1"]) < 1e-12 and abs(q["E_r_sprime"]) < 1e-12
    # direct check of the rate on the losses themselves: (L(eps) - L_GLU) / eps^2 -> C2
    for e in ("1e-3", "1e-5"):
        eps = mpmath.mpf(e)
        with mpmath.workdps(40):
            ratio = (channel_loss(GLU, theta, eps, dps=40) - glu_min.loss) / eps ** 2
        assert abs(ratio - ex.constant) < 20 * eps


def test_channel_against_the_splitting_line_can_go_either_way(glu_min):
    """The finite parts (input weights, the pair's summed output) of channel and line, by hand: at
    eps -> 0 the channel's are (w, w, c), the line's (w*, w*, c*).  At the GLU minimum v != 0 moves
    the optimum, so the channel does not run along the line; a GLU with v = 0 sitting on the split
    critical point does."""
    out = splitting_comparison(GLU, glu_min.theta, eps_values=("1e-1", "1e-2", "1e-3"))
    assert out["line"] is not None, out
    c, w = float(glu_min.theta[0]), np.array([float(t) for t in glu_min.theta[1:3]])
    ws, cs = np.array(out["line"]["w"]), out["line"]["c"]
    hand = np.linalg.norm(np.concatenate([w - ws, w - ws, [c - cs]])) / max(1.0, np.linalg.norm(
        np.concatenate([ws, ws, [cs]])))
    assert abs(out["finite_distance_limit"] - hand) < 1e-12 and hand > 1e-3 and not out["runs_along_line"]
    d = [r["finite_distance"] for r in out["rows"]]
    assert abs(d[2] - hand) < 2e-2 * abs(d[0] - hand) + 1e-12  # D(eps) -> D(0) linearly in eps (eps 100x smaller)
    # v = 0 on the split critical point: the channel's finite part is the line's at every eps
    on_line = GLU.pack(None, None, glu_c=[cs], glu_w=[ws], glu_v=[[0.0, 0.0]])
    small = TeacherStudent("erf", np.eye(2), [1.0, 0.5], n=1)
    split = small.pack(np.array([ws]), np.array([cs]))
    again = splitting_comparison(GLU, on_line, split_theta=split)
    assert again["runs_along_line"] and max(r["finite_distance"] for r in again["rows"]) < 1e-12


def test_detect_a_channel_point_and_recover_the_glu(glu_min):
    big = channel_problem(GLU)
    theta = np.array([float(t) for t in glu_min.theta])
    end = channel_point(GLU, theta, 0.02)
    det = detect(big, end)
    assert det.kind == "channel" and len(det.pairs) == 1
    p = det.pairs[0]
    assert {p.i, p.j} == {0, 1}
    gp, th = extract_glu(big, det)
    # extracted GLU computes the pair's function up to O(eps^2) (midpoint rule), so its loss is close
    assert abs(gp.loss(th) - big.loss(end)) < 5e-3
    lim = glu_limit(big, det, dps=30)
    assert abs(lim.point.loss - glu_min.loss) < 1e-25  # the same GLU minimum
    assert lim.loss_gap > 0  # the channel point is still above the GLU loss
    assert lim.distance < 0.05


def test_detect_finite_minimum_and_trend():
    prob = TeacherStudent.orthonormal("erf", 3, 2)
    fin = prob.pack(np.array([[0, 1, 0], [1, 0, 1]]) / np.array([[1], [math.sqrt(3)]]), [1.0, 2.0])
    assert detect(prob, fin).kind == "finite"
    theta = np.array(GLU_MIN)
    big = channel_problem(GLU)
    # a path moving out along the channel (eps decreasing): trend tests pass
    path = np.array([channel_point(GLU, theta, e) for e in (0.05, 0.04, 0.03, 0.02)])
    assert detect(big, trajectory=path).kind == "channel"
    # the same path reversed (leaving the channel): rejected by the growth test, with the reason
    det = detect(big, trajectory=path[::-1])
    assert det.kind == "finite" and "trend" in det.candidates[0]["reason"]
    # thresholds are honoured: with big = 100 a pair with |a| = 50 is not a channel
    assert detect(big, path[-1], thresholds=ChannelThresholds(big=100)).kind == "finite"


def test_bad_input():
    with pytest.raises(DomainError, match="eps"):
        channel_point(GLU, generic_point(), 0)
    with pytest.raises(ShapeError, match="GLU"):
        channel_problem(TeacherStudent.orthonormal("erf", 2, 2))
    with pytest.raises(DomainError, match="unit"):
        rate_constants(GLU, generic_point(), unit=1)
    with pytest.raises(ShapeError, match="trajectory"):
        detect(channel_problem(GLU), trajectory=np.zeros((3, 5)))


def test_survey_reports_a_channel_end_point_with_its_glu_limit(glu_min):
    """A start deep in the channel (float stage stops at once: gtol above its gradient) is reported as a
    channel with the refined GLU limit, not as a flat minimum; a finite start stays a point."""
    big = channel_problem(GLU)
    theta = np.array([float(t) for t in glu_min.theta])
    chan = channel_point(GLU, theta, 0.02)
    assert np.linalg.norm(big.gradient(chan)) < 0.5
    res = survey(big, starts=np.array([chan]), workers=1, dps=30, gtol=0.5)
    assert res.points == [] and res.failures == [] and res.converged == 0
    (ch, count, idx), = res.channels
    assert count == 1 and idx == [0]
    assert abs(ch.limit.point.loss - glu_min.loss) < 1e-25 and ch.limit.point.kind == "minimum"
    table = res.table()
    assert "1 in channels to infinity" in table and "channel" in table
    assert mpmath.nstr(glu_min.loss, 20) in table
    d = json.loads(json.dumps(res.to_dict()))
    assert d["channels"][0]["glu_limit"]["glu_point"]["loss"].startswith(mpmath.nstr(glu_min.loss, 25)[:25])


def test_cli_channel_from_weights_and_trajectory(tmp_path, capsys, glu_min):
    theta = [float(t) for t in glu_min.theta]
    f = tmp_path / "glu.json"
    f.write_text(json.dumps({"glu_c": [theta[0]], "glu_w": [theta[1:3]], "glu_v": [theta[3:5]],
                             "V": [[1, 0], [0, 1]], "b": [1.0, 0.5]}))
    assert main(["channel", "--weights", str(f), "--json", "--dps", "30", "--eps", "1e-2", "1e-4"]) == 0
    out = json.loads(capsys.readouterr().out)
    an = out["analysis"]
    with mpmath.workdps(40):
        assert an["rate"] == 2 and abs(mpmath.mpf(out["glu_point"]["loss"]) - glu_min.loss) < 1e-28
    assert abs(float(an["constant"]) - float(an["quadrature"]["C2"])) < 1e-11
    assert [r["eps"] for r in an["loss_along_channel"]] == ["1e-2", "1e-4"]
    assert an["splitting"]["rows"][1]["finite_distance"] > 1e-3 and not an["splitting"]["runs_along_line"]
    # trajectory file: a path moving out along the channel
    path = np.array([channel_point(GLU, theta, e) for e in (0.05, 0.04, 0.03, 0.02)])
    tr = Trajectory("flow", np.arange(4.0), path, np.zeros(4), np.zeros(4), np.zeros(4), {})
    tf = tmp_path / "traj.npz"
    tr.save(tf)
    with np.load(tf) as z:
        arrays = {k: z[k] for k in z.files}
    np.savez(tf, V=np.eye(2), b=np.array([1.0, 0.5]), **arrays)
    assert main(["channel", "--trajectory", str(tf), "--dps", "30"]) == 0
    text = capsys.readouterr().out
    assert "end point: channel" in text and "GLU critical point: loss " + mpmath.nstr(glu_min.loss, 20) in text
    assert main(["channel", "--weights", str(tmp_path / "missing.json")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_derivation_runs_at_reduced_size(capsys, tmp_path):
    """derivations/channels.py --small: its own asserts (measured rate constants vs quadrature) pass."""
    mod = runpy.run_path(str(DERIVATIONS / "channels.py"))
    mod["main"](["--small", "--plot-dir", str(tmp_path)])
    out = capsys.readouterr().out
    assert "measured p = 2" in out and "measured p = 1" in out
    assert "fraction ending in channels:" in out
    pytest.importorskip("matplotlib")
    assert (tmp_path / "trajectory.png").exists() and (tmp_path / "channel_loss.png").exists()


def test_detect_linear_unit_drift_is_not_a_channel():
    """|a_i| -> inf, |w_i| -> 0 with a_i w_i fixed: one neuron tends to a linear unit, not a GLU pair."""
    prob = TeacherStudent.orthonormal("erf", 3, 2)
    u = np.array([0.3, -0.2, 0.1])
    path = np.array([prob.pack(np.array([u / t, [1.0, 0.0, 0.0]]), [t, 1.0]) for t in (2.0, 4.0, 8.0, 16.0)])
    det = detect(prob, trajectory=path)
    assert det.kind == "linear" and det.pairs == []
    (lin,) = det.linear_units
    assert lin["i"] == 0 and np.allclose([float(x) for x in lin["a_times_w"]], u)
    # the output really is close to the linear unit a s'(0) (w . x) = sqrt(2/pi) (u . x)
    x = np.random.default_rng(0).normal(size=(1000, 3))
    assert np.max(np.abs(16.0 * s(x @ (u / 16.0)) - math.sqrt(2 / math.pi) * (x @ u))) < 1e-3
    # reversed (shrinking output weight): not a drift
    assert detect(prob, trajectory=path[::-1][:2]).kind == "finite"


def test_detect_pair_with_a_sign_flipped_neuron_for_odd_activation(glu_min):
    """erf is odd: (w_j, a_j) and (-w_j, -a_j) are the same neuron, so a channel pair may show up with
    w_i ~ -w_j and same-sign output weights (seen in gradient flow); detection must still find it."""
    big = channel_problem(GLU)
    theta = np.array([float(t) for t in glu_min.theta])
    path = np.array([channel_point(GLU, theta, e) for e in (0.05, 0.04, 0.03, 0.02)])
    ref = detect(big, trajectory=path)
    flipped = path.copy()
    W_idx = big.unpack(np.arange(big.num_params, dtype=float))  # positions of W[1] and a[1] in theta
    cols = np.concatenate([W_idx.W[1], [W_idx.a[1]]]).astype(int)
    flipped[:, cols] *= -1
    params = big.unpack(flipped[-1])
    Wf, af = params.W, params.a
    assert af[0] * af[1] > 0 and np.linalg.norm(Wf[0] + Wf[1]) < np.linalg.norm(Wf[0] - Wf[1])
    # the same function: independent pointwise check with scipy's erf
    x = np.random.default_rng(1).normal(size=(200, 2))
    params = big.unpack(path[-1])
    W0, a0 = params.W, params.a
    f0 = s(x @ W0.T) @ a0
    assert np.allclose(f0, s(x @ Wf.T) @ af, atol=1e-12)
    det = detect(big, trajectory=flipped)
    assert det.kind == "channel" and len(det.pairs) == 1
    p, q = det.pairs[0], ref.pairs[0]
    assert abs(p.c - q.c) < 1e-12 and np.allclose(p.w, q.w) and np.allclose(p.v, q.v)
    assert abs(big.loss(det.theta) - big.loss(flipped[-1])) < 1e-14
    assert abs(glu_limit(big, det, dps=30).point.loss - glu_min.loss) < 1e-25


def test_adam_and_sgd_trajectories_population_and_finite_sample_are_detected_as_channels():
    """Detection on Adam and SGD paths (issue 5, part 4), in the derivation's near-GLU-teacher setting.

    A short gradient flow brings seed 0 to the channel's entrance (|a| ~ 2, still 'finite' for the
    detector); Adam and SGD with momentum then follow the channel outward, on the population loss and
    on finite samples (Adam full batch N = 20000; SGD mini-batches of 500 from N = 5000).  Every path
    must be detected as a channel, and the refined GLU limits must all be the same GLU minimum,
    lying below the loss reached (the channel descends to it).
    """
    script = runpy.run_path(str(DERIVATIONS / "channels.py"))  # the derivation's near-GLU teacher
    V, b = script["glu_teacher"](**script["GLU_TEACHER"])
    prob = TeacherStudent("erf", V, b, n=2)
    entrance = flow_trajectory(prob, random_starts(prob, 1, seed=0)[0], t_max=1e4, records=20).theta
    thresholds = ChannelThresholds(big=2)
    assert detect(prob, entrance, thresholds=thresholds).kind == "finite"
    runs = [(adam, {"lr": 1e-3, "steps": 3000}),
            (adam, {"lr": 1e-3, "steps": 3000, "samples": 20000, "seed": 1}),
            (sgd, {"lr": 0.2, "steps": 5000, "momentum": 0.9}),
            (sgd, {"lr": 0.2, "steps": 5000, "momentum": 0.9, "samples": 5000, "batch_size": 500, "seed": 2})]
    limits = []
    for opt, kw in runs:
        path = opt(prob, entrance, record_every=100, **kw)
        det = detect(prob, trajectory=path.thetas, thresholds=thresholds)
        assert det.kind == "channel", (opt.__name__, kw, det)
        a = prob.unpack(path.theta).a
        assert a.min() < -2 and a.max() > 2 and abs(a.sum()) < 1  # |a_i| grow, a_i + a_j bounded
        lim = glu_limit(prob, det, dps=25)
        assert lim.point.kind == "minimum" and lim.loss_gap > 0 and lim.distance < 0.05
        limits.append(lim.point.loss)
    assert max(limits) - min(limits) < 1e-20
