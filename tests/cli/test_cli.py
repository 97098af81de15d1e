"""The ``symland`` command line, run as a subprocess (``python -m symland``).

Expected numbers come from an independent mpmath evaluation of the erf loss
(the Saad & Solla kernel written out here) or from the Python API.
"""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import mpmath
import numpy as np
import sympy

from symland import TeacherStudent, minimize, refine
from symland.landscape.survey import random_starts


S15 = 1 / np.sqrt(15)
NEAR_MIN = {"W": [[0.01, 1.0, 0.0, 0.0], [S15, 0.0, S15 + 1e-3, S15]], "a": [1.0, 3.001]}


COMMANDS = {
    "kernel": ["kernel", "erf", "--json"],
    "loss": ["loss", "--json", "--dps", "30", "--seed", "3"],
    "critical": ["critical", "--json", "--dps", "30"],
    "survey": ["survey", "--starts", "4", "--json", "--workers", "1"],
    "unknown": ["survey", "--activation", "nosuch", "--workers", "1"],
}


ROOT = Path(__file__).resolve().parents[2]


def run(*args, timeout=300):
    """``python -m symland ARGS`` with this checkout's package first on the path."""
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-m", "symland", *args], capture_output=True, text=True,
                          timeout=timeout, env=env)


def significant_digits(s):
    mant = s.lower().split("e")[0].lstrip("-").replace(".", "").lstrip("0")
    return len(mant)


def erf_loss_mp(W, a, V, b):
    """1/2 sum_pq alpha_p alpha_q (2/pi) asin(G_pq / sqrt((1+G_pp)(1+G_qq))), U = [W; V], alpha = [a; -b]."""
    U = [[mpmath.mpf(x) for x in row] for row in list(W) + list(V)]
    alpha = [mpmath.mpf(x) for x in a] + [-mpmath.mpf(x) for x in b]
    G = [[mpmath.fsum(x * y for x, y in zip(u, v)) for v in U] for u in U]
    P = len(U)
    return mpmath.fsum(alpha[p] * alpha[q] * 2 / mpmath.pi
                       * mpmath.asin(G[p][q] / mpmath.sqrt((1 + G[p][p]) * (1 + G[q][q])))
                       for p in range(P) for q in range(P)) / 2


def minimum_loss():
    """Loss at the erf n=2, k=4 minimum w_1 = v_2, a_1 = 1, w_2 = (v_1 + v_3 + v_4)/sqrt 15, a_2 = 3."""
    with mpmath.workdps(60):
        s = 1 / mpmath.sqrt(15)
        return erf_loss_mp([[0, 1, 0, 0], [s, 0, s, s]], [1, 3], np.eye(4), np.ones(4))


def test_kernel_erf_json_matches_the_saad_solla_formula():
    r = run(*COMMANDS["kernel"])
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["name"] == "erf" and out["method"] == "closed form"
    a, b, c = sympy.symbols("a b c", real=True)
    kernel = sympy.sympify(out["kernel"], locals={"a": a, "b": b, "c": c})
    ref = 2 / sympy.pi * sympy.asin(c / sympy.sqrt((1 + a) * (1 + b)))
    for point in [(1, 1, 0.3), (0.5, 2.0, -0.7), (3.0, 0.2, 0.1)]:
        sub = dict(zip((a, b, c), point))
        assert abs(float(kernel.subs(sub)) - float(ref.subs(sub))) < 1e-14


def test_loss_json_all_digits_and_value():
    r = run(*COMMANDS["loss"])
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert significant_digits(out["loss"]) >= 20
    # the documented random student of `symland loss`: default_rng(seed), W ~ N(0, 1/d), a ~ N(0, 1)
    rng = np.random.default_rng(3)
    W = rng.normal(size=(2, 4)) / 2.0
    a = rng.normal(size=2)
    with mpmath.workdps(40):
        ref = erf_loss_mp(W, a, np.eye(4), np.ones(4))
        assert abs(mpmath.mpf(out["loss"]) - ref) < mpmath.mpf(10) ** -28


def test_critical_json_refines_to_the_minimum():
    r = run(*COMMANDS["critical"])
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["kind"] == "minimum" and out["index"] == 0 and out["dps"] == 30
    assert out["float_solver"]["solver"] == "minimize"
    assert significant_digits(out["loss"]) == 30
    assert mpmath.mpf(out["gradient_norm"]) < 1e-28
    with mpmath.workdps(40):
        assert abs(mpmath.mpf(out["loss"]) - minimum_loss()) < mpmath.mpf(10) ** -28
        # the printed parameters are critical: the loss there is the same number
        th = [mpmath.mpf(x) for x in out["theta"]]
        W = [th[0:4], th[4:8]]
        assert abs(erf_loss_mp(W, th[8:], np.eye(4), np.ones(4)) - minimum_loss()) < mpmath.mpf(10) ** -28
    assert len(out["eigenvalues"]) == 10 and all(float(v) > 0 for v in out["eigenvalues"])


def test_critical_from_weights_file(tmp_path):
    path = tmp_path / "near_min.json"
    path.write_text(json.dumps(NEAR_MIN))
    r = run("critical", "--weights", str(path), "--dps", "40")
    assert r.returncode == 0, r.stderr
    m = re.search(r"loss\s+= (\S+)", r.stdout)
    assert m and significant_digits(m.group(1)) == 40
    with mpmath.workdps(50):
        assert abs(mpmath.mpf(m.group(1)) - minimum_loss()) < mpmath.mpf(10) ** -38
    assert "kind          = minimum" in r.stdout and "refined directly" in r.stdout


def test_survey_json_best_loss_matches_a_direct_refine():
    r = run(*COMMANDS["survey"])
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["starts"] == 4 and out["dps"] == 30 and out["activation"] == "erf"
    assert (out["n"], out["k"], out["d"]) == (2, 4, 4)
    losses = [mpmath.mpf(p["loss"]) for p in out["points"]]
    assert losses == sorted(losses)
    assert sum(p["count"] for p in out["points"]) == out["converged"] == 4 - out["failed"]
    for p in out["points"]:
        assert isinstance(p["loss"], str) and significant_digits(p["loss"]) >= 20
    # direct refinement of start 0 through the Python API
    prob = TeacherStudent.orthonormal("erf", 4, 2)
    start = random_starts(prob, 4, seed=0)[0]
    cp = refine(prob, minimize(prob, start).theta, 30)
    best = out["points"][0]
    assert 0 in best["starts"]
    with mpmath.workdps(30):
        assert best["loss"] == mpmath.nstr(cp.loss, 30, strip_zeros=False)
    with mpmath.workdps(40):
        assert abs(mpmath.mpf(best["loss"]) - minimum_loss()) < mpmath.mpf(10) ** -28


def test_unknown_activation_exits_2_and_lists_known():
    r = run(*COMMANDS["unknown"])
    assert r.returncode == 2
    assert "symland survey: error: unknown activation 'nosuch'; known activations:" in r.stderr
    for name in ("erf", "relu", "tanh", "quadratic"):
        assert name in r.stderr
    assert "Traceback" not in r.stderr


def test_missing_weights_file_is_a_clear_error(tmp_path):
    missing = tmp_path / "nothere.npz"
    r = run("critical", "--weights", str(missing))
    assert r.returncode == 2
    assert "no such file" in r.stderr and str(missing) in r.stderr
    assert "Traceback" not in r.stderr


def test_kernel_reports_the_path_with_means():
    """`symland kernel NAME` says how the kernel with means (biases) is evaluated."""
    paths = {}
    for name in ("relu", "selu", "tanh"):
        r = run("kernel", name, "--json")
        assert r.returncode == 0, r.stderr
        out = json.loads(r.stdout)
        paths[name] = out["with_means"]
    assert paths["relu"].startswith("closed form")
    assert paths["selu"].startswith("1-D quadrature") and "split at the kink" in paths["selu"]
    assert paths["tanh"].startswith("2-D quadrature")


def test_survey_no_batch_runs_each_start_alone_and_finds_the_same_points():
    batched, single = run(*COMMANDS["survey"]), run(*COMMANDS["survey"], "--no-batch")
    assert batched.returncode == 0 and single.returncode == 0, batched.stderr + single.stderr
    b, s = json.loads(batched.stdout), json.loads(single.stdout)
    assert [p["loss"] for p in b["points"]] == [p["loss"] for p in s["points"]]
    assert sum(p["count"] for p in s["points"]) == s["converged"] == 4 - s["failed"]


def test_survey_saddles_lists_the_copy_average_saddle_with_its_index():
    # reference: symland.copy_average derives the [3, 2] configuration of erf k = 5, n = 2 in closed form
    import symland

    saddle = [c for c in symland.copy_average("erf", 5, 2, dps=30).configurations if c.partition == (3, 2)][0]
    r = run("survey", "--activation", "erf", "--k", "5", "--n", "2", "--saddles", "--starts", "4", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["solver"] == "deflated" and out["merge"] == "function"
    with mpmath.workdps(40):
        assert any(p["index"] == saddle.index == 1 and abs(mpmath.mpf(p["loss"]) - saddle.loss) < 1e-25
                   for p in out["points"])
