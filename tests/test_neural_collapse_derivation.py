"""derivations/neural_collapse.py: the --small run passes its checks, and a wrong DNC reduction makes
it fail (its assertions can fail)."""

from __future__ import annotations

import runpy
from pathlib import Path

import pytest

import symland
from conftest import full_run
from symland.numerics.mpcontext import thread_mp
from symland.problems.deep_ufm import DNCPoint

SCRIPT = Path(__file__).resolve().parents[1] / "derivations" / "neural_collapse.py"


def load():
    return runpy.run_path(str(SCRIPT), run_name="neural_collapse_under_test")


@pytest.mark.slow
def test_small_run_checks_every_claim(capsys):
    # reduced form: the cross-entropy sweep and the prevalence (SYMLAND_FULL=1: every part)
    parts = ["A", "A'", "B", "C"] if full_run() else ["A", "C"]
    assert load()["main"](["--small", "--starts", "4", "--dps", "25", "--parts", *parts]) == 0
    out = capsys.readouterr().out
    assert "every claim checked" in out and "FAIL" not in out
    assert "K=4: DNC stops being optimal at depth L = 3" in out


def test_a_wrong_reduction_is_caught(monkeypatch, capsys):
    # a DNC loss off by 1e-3: refinement of the constructed point must contradict it
    original = symland.DeepUFM.dnc

    def wrong(self, dps=None):
        d = original(self, dps)
        return DNCPoint(d.theta, d.loss + (thread_mp.mpf(1) / 1000 if dps else 1e-3),
                        d.m, d.scales, d.loss_at_zero)

    monkeypatch.setattr(symland.DeepUFM, "dnc", wrong)
    assert load()["main"](["--small", "--starts", "2", "--dps", "25", "--parts", "A'"]) == 1
    assert "FAIL" in capsys.readouterr().out
