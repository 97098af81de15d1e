"""derivations/safran_shamir_survey.py: Safran & Shamir's experiment (fraction of starts in spurious minima).

The script's own check recomputes each spurious minimum's loss by the hand-written arc-cosine
kernel; these tests run it on small k, check its bookkeeping against a survey run here, check the
Xavier-uniform starts against their definition, and check that the script fails when the
independent loss disagrees.
"""

from __future__ import annotations

import runpy
from pathlib import Path

import mpmath
import numpy as np

SCRIPT = Path(__file__).resolve().parents[1] / "derivations" / "safran_shamir_survey.py"


def load():
    return runpy.run_path(str(SCRIPT), run_name="safran_shamir_survey_under_test")


def test_xavier_uniform_starts():
    mod = load()
    S = mod["xavier_starts"](9, 400, 0)
    lim = np.sqrt(3 / 9)
    assert S.shape == (400, 81) and np.all(np.abs(S) <= lim)
    assert abs(S.var() - 1 / 9) < 0.01  # U(-l, l) has variance l^2 / 3 = 1/k
    assert np.array_equal(mod["xavier_starts"](9, 3, 0), S[:3])  # start j does not depend on how many follow


def test_small_run_accounts_for_every_start_and_checks_each_minimum(capsys):
    mod = load()
    code = mod["main"](["--k-min", "7", "--k-max", "8", "--starts", "30", "--workers", "1"])
    out = capsys.readouterr().out
    assert code == 0 and "PASS: every start accounted for" in out
    rows = [line.split() for line in out.splitlines() if line[:3].strip() in ("7", "8") and len(line.split()) == 10]
    assert [int(r[0]) for r in rows] == [7, 8]
    for r in rows:
        starts, glob, spur, saddle, degen, failed = (int(x) for x in (r[1], r[2], r[3], r[5], r[6], r[7]))
        assert starts == 30 and glob + spur + saddle + degen + failed == 30
        assert abs(float(r[4]) - spur / 30) < 1e-3


def test_a_disagreeing_independent_loss_fails_the_run(capsys):
    mod = load()
    true_loss = mod["relu_loss_by_hand"]
    # the script looks the checker up in its globals at call time: replace it there
    mod["main"].__globals__["relu_loss_by_hand"] = lambda W, dps=60: true_loss(W, dps) + mpmath.mpf("1e-12")
    try:
        code = mod["main"](["--k-min", "9", "--k-max", "9", "--starts", "20", "--workers", "1"])
    finally:
        mod["main"].__globals__["relu_loss_by_hand"] = true_loss
    out = capsys.readouterr().out
    assert code == 1 and "FAIL: k=9: loss" in out and "disagrees with the hand-written loss" in out
