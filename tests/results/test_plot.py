"""Plots render headless into valid PNG/SVG files, and the data each one drew equals an independent
computation: the spectrum against numpy.linalg.eigvalsh of the float64 Hessian; the channel's loss
gaps against the loss of the channel network evaluated at that eps; the plane's values against
problem.loss at the parameter vector rebuilt by hand from the plane's basis; the survey's markers
against the result's points; the training curves against the trajectory."""

from __future__ import annotations

import numpy as np
import pytest

import symland
from symland.channels.channel import channel_point, channel_problem
from symland.channels.training import flow_trajectory
from symland.landscape.survey import survey
from symland.results.plot import plot_channel, plot_plane, plot_spectrum, plot_survey, plot_training, save

pytest.importorskip("matplotlib")  # installed by the test extra; skipped only without it


def _check_files(fig, tmp_path):
    png, svg = tmp_path / "f.png", tmp_path / "f.svg"
    save(fig, png)
    save(fig, svg)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert b"<svg" in svg.read_bytes()[:2000]
    with pytest.raises(symland.DomainError, match="png or .svg"):
        save(fig, tmp_path / "f.jpg")


@pytest.fixture(scope="module")
def erf_survey():
    return survey(symland.TeacherStudent.orthonormal("erf", 4, 2), starts=4, dps=30, solver="newton", workers=1)


def test_spectrum(erf_survey, tmp_path):
    problem = erf_survey.problem
    cp = erf_survey.points[0].point
    fig, data = plot_spectrum(cp)
    ref = np.linalg.eigvalsh(problem.hessian(cp.theta_float()))
    np.testing.assert_allclose(np.sort(data.arrays["eigenvalue"]), ref, atol=1e-12)
    _check_files(fig, tmp_path)


def test_survey_markers(erf_survey, tmp_path):
    fig, data = plot_survey(erf_survey)
    assert list(data.arrays["count"]) == [c for _, c in erf_survey.points]
    assert np.allclose(data.arrays["loss"], [float(cp.loss) for cp, _ in erf_survey.points])
    _check_files(fig, tmp_path)


def test_plane_values_by_hand(erf_survey, tmp_path):
    problem = erf_survey.problem
    pts = [cp.theta_float() for cp, _ in erf_survey.points[:2]]
    if len(pts) < 2:
        pts.append(pts[0] + 0.1)
    fig, data = plot_plane(problem, pts, grid=7)
    s, Z = data.arrays["s"], data.arrays["loss"]
    u = pts[1] - pts[0]
    i, j = 5, 2
    theta = pts[0] + s[i] * u + s[j] * data.arrays["v"]
    assert abs(Z[i, j] - problem.loss(theta)) < 1e-14
    # the second direction is the lowest Hessian eigenvector at the first point, scaled to |u|
    lam, Q = np.linalg.eigh(problem.hessian(pts[0]))
    assert abs(abs(data.arrays["v"] @ Q[:, 0]) - np.linalg.norm(u)) < 1e-10
    _check_files(fig, tmp_path)


def test_channel_gaps(tmp_path):
    glu = symland.TeacherStudent("erf", np.eye(2), [1.0, 0.5], n=0, glus=1)
    theta = symland.refine(glu, symland.newton(glu, np.array([-0.47035216, -0.53211, 0.23425, 0.66326,
                                                              0.47627])).theta, dps=30).theta
    eps = [0.1, 0.03, 0.01]
    fig, data = plot_channel(glu, theta, eps_values=eps, dps=30)
    big = channel_problem(glu)
    theta_f = np.array([float(t) for t in theta])
    glu_loss = glu.loss(theta_f)
    for e, gap in zip(eps, data.arrays["gap"]):
        assert abs(gap - (big.loss(channel_point(glu, theta_f, e)) - glu_loss)) < 1e-9
    assert data.arrays["fitted"][0] > 0  # erf: rate 2, C > 0 at this minimum
    _check_files(fig, tmp_path)


def test_training_curves(tmp_path):
    p = symland.TeacherStudent.orthonormal("erf", 2, 2)
    tr = flow_trajectory(p, p.pack(np.array([[0.3, 0.1], [0.0, 0.4]]), np.array([0.5, 0.5])), t_max=100, records=20)
    fig, data = plot_training(tr)
    keep = tr.times > 0
    assert np.array_equal(data.arrays["loss"], tr.losses[keep])
    _check_files(fig, tmp_path)


def test_refusals(erf_survey):
    with pytest.raises(symland.DomainError, match="classified"):
        plot_spectrum(symland.refine(erf_survey.problem, erf_survey.points[0].point.theta_float(), dps=30,
                                     classify_point=False))
    with pytest.raises(symland.DomainError, match="2 or 3 points"):
        plot_plane(erf_survey.problem, [np.zeros(10)])
