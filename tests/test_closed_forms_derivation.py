"""derivations/closed_forms.py: small cases recognised and proven, and its consistency assertion fails
on a wrong symbolic loss."""

from __future__ import annotations

import runpy
from pathlib import Path

import sympy

import symland

SCRIPT = Path(__file__).resolve().parents[1] / "derivations" / "closed_forms.py"


def load():
    return runpy.run_path(str(SCRIPT), run_name="closed_forms_under_test")


def test_small_cases_are_proven(capsys):
    script = load()
    erf = script["erf_copy_average"]([3], 50)
    one = script["relu_one_neuron"]([2], 50)
    assert erf[0].proven and one[0].proven and not script["FAILURES"]
    assert "agrees" in capsys.readouterr().out


def test_a_wrong_symbolic_loss_is_a_failure(capsys):
    script = load()
    problem = symland.TeacherStudent.orthonormal("erf", 3, 2)
    res = symland.copy_average("erf", 3, 2, dps=50, follow=False, progress=False)
    best = res.configurations[0]
    cp = symland.refine(problem, best.theta, dps=50)
    script["report"]("wrong", problem, cp, best.loss_exact + sympy.Rational(1, 10**30), 50)
    assert script["FAILURES"] and "DISAGREES" in capsys.readouterr().out
