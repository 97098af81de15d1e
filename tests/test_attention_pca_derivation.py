"""derivations/attention_pca.py: the --small run passes its checks, and a wrong derived index makes
it fail (its assertions can fail)."""

from __future__ import annotations

import runpy
from pathlib import Path

import symland

SCRIPT = Path(__file__).resolve().parents[1] / "derivations" / "attention_pca.py"


def load():
    return runpy.run_path(str(SCRIPT), run_name="attention_pca_under_test")


def test_small_run_checks_every_claim(capsys):
    assert load()["main"](["--small", "--dps", "30", "--starts", "4"]) == 0
    out = capsys.readouterr().out
    assert "every claim checked" in out and "FAIL" not in out


def test_a_wrong_derivation_is_caught(monkeypatch, capsys):
    # claim that the origin of softmax attention is a minimum: classification must contradict it
    monkeypatch.setattr(symland.AttentionPCA, "_origin_index", lambda self: 0)
    assert load()["main"](["--small", "--dps", "30", "--starts", "0"]) == 1
    assert "FAIL" in capsys.readouterr().out
