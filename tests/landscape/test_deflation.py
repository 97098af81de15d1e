"""Saddles by deflated Newton (symland.landscape.deflation).

Independent reference: symland.copy_average, which derives the copy-average configurations of
erf k = 5, n = 2 in closed form (groups [4, 1]: a minimum, [3, 2]: a saddle of index 1) and proves
their criticality with SymPy; the survey must find both, at their loss and index, from random
starts.  Orbit images are checked against the group by hand (sizes |S_2| * 2^2 * C(5, 4) = 40)."""

import numpy as np

import symland
from symland.landscape.deflation import deflated_newton, deflated_survey, orbit_images


def test_finds_every_copy_average_configuration_with_its_index():
    p = symland.TeacherStudent.orthonormal("erf", 5, 2)
    ref = symland.copy_average("erf", 5, 2, dps=30)
    res = deflated_survey(p, starts=4, seed=0, dps=30)
    found = [(sp.point.loss, sp.point.index) for sp in res.points]
    assert res.solver == "deflated"
    for c in ref.configurations:
        assert any(abs(loss - c.loss) < 1e-25 and index == c.index for loss, index in found), c.partition
    assert any(index == 1 for _, index in found)  # a saddle, which minimisation never returns


def test_orbit_of_the_four_one_configuration():
    p = symland.TeacherStudent.orthonormal("erf", 5, 2)
    cfg = [c for c in symland.copy_average("erf", 5, 2, dps=30).configurations if c.partition == (4, 1)][0]
    images = orbit_images(p, cfg.theta)
    assert len(images) == 2 * 4 * 5
    for x in images[:5]:
        assert abs(p.loss(x) - float(cfg.loss)) < 1e-14


def test_a_deflated_root_is_not_found_again():
    p = symland.TeacherStudent.orthonormal("erf", 5, 2)
    cfg = [c for c in symland.copy_average("erf", 5, 2, dps=30).configurations if c.partition == (3, 2)][0]
    th = np.array([float(v) for v in cfg.theta])
    plain = deflated_newton(p, th + 1e-4, deflate_dead=False)
    assert plain.converged and np.abs(plain.theta - th).max() < 1e-8
    deflated = deflated_newton(p, th + 1e-4, [orbit_images(p, th)], max_iter=50)
    assert not (deflated.converged and np.abs(deflated.theta - th).max() < 1e-6)


def test_relu_six_finds_every_point_of_the_symmetric_families_with_its_index():
    """Independent reference: symmetric_critical_points searches each Young fixed-point subspace by
    reduced Newton in its own coordinates (the route of `symland symmetric`); the deflated survey runs
    batched Newton in the full 36-dimensional space from its own random symmetric starts."""
    from symland.symmetric.fixed_point import symmetric_critical_points

    p = symland.TeacherStudent.orthonormal("relu", 6, 6, train_output=False)
    res = deflated_survey(p, starts=1, seed=0, dps=30, max_points=0)
    ref = symmetric_critical_points("relu", 6, dps=30)
    found = [(sp.point.loss, sp.point.index) for sp in res.points]
    assert len(ref.points) >= 20 and any(index >= 25 for _, index in found)
    for q in ref.points:
        assert any(abs(loss - q.loss) < 1e-25 and index == q.index for loss, index in found), (float(q.loss), q.index)
