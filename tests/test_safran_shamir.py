"""derivations/safran_shamir.py: certified spurious minima of relu networks (Safran & Shamir, ICML 2018).

The script's own assertions are independent of symland's assembly where it matters: the loss at a
certificate's centre is recomputed from the relu kernel written out by hand (80-digit mpmath).
These tests check that it passes at k = 6 (and k = 6..8, slow), and that its assertion fails when
no spurious minimum is certified."""

from __future__ import annotations

import runpy
from pathlib import Path

import pytest

import symland

SCRIPT = Path(__file__).resolve().parents[1] / "derivations" / "safran_shamir.py"


def load():
    return runpy.run_path(str(SCRIPT), run_name="safran_shamir_under_test")


def test_k6_spurious_minimum_is_certified(capsys):
    ns = load()
    assert ns["main"](["--k-max", "6"]) == 0
    out = capsys.readouterr().out
    assert "FAIL" not in out and "inside" in out
    line = [ln for ln in out.splitlines() if ln.strip().startswith("6  S_5xS_1     minimum")][0]
    # the k = 6 spurious minimum: loss enclosure strictly above 0 (the global minimum has loss 0)
    assert "[0.0250805810024630104" in line


def test_the_assertion_fails_without_a_certified_minimum(capsys, monkeypatch):
    ns = load()

    def refuse(problem, point, dps=50, **kw):
        return symland.Certificate(False, "failed", "refused by the test")

    monkeypatch.setitem(ns["main"].__globals__["symland"].__dict__, "certify", refuse)
    try:
        assert ns["main"](["--k-max", "6"]) == 1
    finally:
        monkeypatch.undo()
    assert "FAIL: k = 6: no certified spurious local minimum" in capsys.readouterr().out


@pytest.mark.slow
def test_small_run_k6_to_k8(capsys):
    assert load()["main"](["--small"]) == 0
    out = capsys.readouterr().out
    assert "FAIL" not in out
    for k in (6, 7, 8):
        assert any(ln.strip().startswith(f"{k}  S_{k - 1}xS_1     minimum") for ln in out.splitlines())
