"""Display of results: survey points with named fields (still (point, count) pairs), terminal text,
HTML and LaTeX tables that carry the correct digits, and the shared defaults of CLI and API."""

from __future__ import annotations

import inspect
import pickle
import re

import numpy as np

import symland
from symland.cli.main import build_parser
from symland.cli.points import survey_merge
from symland.landscape.deflation import deflated_survey
from symland.landscape.survey import SurveyPoint, survey


def _survey():
    return survey(symland.TeacherStudent.orthonormal("erf", 4, 2), starts=3, dps=30, workers=1)


def test_survey_points_are_named_pairs():
    res = _survey()
    sp = res.points[0]
    cp, count = sp  # still a pair
    assert isinstance(sp, SurveyPoint) and sp.point is cp and sp.count == count == 3
    assert sp.starts == (0, 1, 2) and sp.index == cp.index == 0 and sp.kind == "minimum" and sp.loss == cp.loss
    back = pickle.loads(pickle.dumps(sp))
    assert back.starts == sp.starts and back.count == 3 and back.point.loss == cp.loss


def test_html_and_latex_carry_the_correct_digits():
    res = _survey()
    cp = res.points[0].point
    digits = cp.loss_string(20)
    for text in (res._repr_html_(), res._repr_latex_(), cp._repr_html_(), cp._repr_latex_(), str(cp)):
        assert digits in text
    assert res._repr_html_().startswith("<table>") and "&#x27;erf&#x27;" in res._repr_html_()  # escaped
    latex = res._repr_latex_()
    assert latex.count(r"\begin{tabular}") == 1 and r"\#" in latex  # '#' escaped
    assert len(re.findall(r"\\\\", latex)) == 1 + len(res.points)  # header + one row per point


def test_certificate_displays():
    problem = symland.TeacherStudent.orthonormal("erf", 4, 2)
    cert = symland.certify(problem, _survey().points[0].point.theta, dps=30)
    assert cert.certified and "minimum" in cert._repr_html_() and "lambda\\_min" in cert._repr_latex_()


def test_cli_and_api_agree_on_survey_defaults():
    args = build_parser().parse_args(["survey"])
    params = inspect.signature(survey).parameters
    for name in ("starts", "seed", "dps", "solver", "gtol"):
        assert getattr(args, name) == params[name].default, name
    assert survey_merge(args) == params["merge"].default == "orbit"
    saddles = build_parser().parse_args(["survey", "--saddles"])
    assert survey_merge(saddles) == inspect.signature(deflated_survey).parameters["merge"].default == "function"
    assert survey_merge(build_parser().parse_args(["survey", "--saddles", "--merge", "orbit"])) == "orbit"
    assert np.isfinite(args.gtol)
