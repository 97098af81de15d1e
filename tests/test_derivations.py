"""The derivation scripts run and pass (exit code 0), and they do detect a wrong closed form."""

from __future__ import annotations

import os
import runpy
import subprocess
import sys
from pathlib import Path

import symland
from symland.numerics import symbols

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "derivations" / "kernel_closed_forms.py"


def test_kernel_closed_forms_script_passes():
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True, env=env, timeout=600, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = proc.stdout
    assert "FAIL" not in out
    for name in ["erf", "erf_plain", "relu", "linear", "quadratic"]:
        assert f"{name}: derived kappa == symland kernel_expr" in out
    assert "Sheppard" in out and "LaTeX:" in out


class _Fake:
    def __init__(self, kernel_expr):
        self.kernel_expr = kernel_expr


def test_kernel_closed_forms_script_detects_a_wrong_kernel(monkeypatch):
    """With a wrong quadratic kernel (ab + 3c^2) the polynomial derivation reports a failure."""
    ns = runpy.run_path(str(SCRIPT), run_name="kernel_closed_forms_under_test")
    real = symland.activation
    wrong = symbols.a_ * symbols.b_ + 3 * symbols.c_**2

    def fake(name):
        return _Fake(wrong) if name == "quadratic" else real(name)

    monkeypatch.setattr(symland, "activation", fake)
    ns["derive_polynomials"]()
    assert any("quadratic: derived kappa == symland kernel_expr" in f for f in ns["FAILURES"])
    assert not any(f.startswith("linear") for f in ns["FAILURES"])
