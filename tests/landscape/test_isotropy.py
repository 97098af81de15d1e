"""The stabiliser of a point in S_n x S_k (symland.landscape.isotropy).

Independent references: points built by hand with a known symmetry (W = alpha I + beta (J - I) is
fixed by every simultaneous permutation; changing one row and column leaves S_{k-1} x S_1), the
fixed-point subspaces of symland.symmetric (a point of the subspace of Delta S_lambda is fixed by
S_lambda, so its type must contain lambda), and a teacher whose output weights differ (no teacher
permutation is a symmetry then)."""

import numpy as np
import pytest

from symland import TeacherStudent
from symland.landscape.isotropy import isotropy_type
from symland.landscape.survey import survey
from symland.symmetric.subspace import fixed_point_subspace, parse_isotropy


def _problem(k, n=None, b=None):
    n = k if n is None else n
    V = np.eye(k)
    return TeacherStudent("relu", V, np.ones(k) if b is None else b, n=n, train_output=False)


def test_hand_built_points():
    k = 5
    p = _problem(k)
    W = 0.7 * np.eye(k) + 0.1 * (np.ones((k, k)) - np.eye(k))
    assert isotropy_type(p, W.ravel()).name == "S_5"
    W2 = W.copy()
    W2[-1, :] = 0.3
    W2[:, -1] = -0.2
    W2[-1, -1] = 0.9
    t = isotropy_type(p, W2.ravel())
    assert t.teacher_blocks == (4, 1) and t.name == "S_4xS_1"
    rng = np.random.default_rng(0)
    assert isotropy_type(p, rng.normal(size=k * k)).name == "trivial"


def test_copies_and_a_teacher_without_permutation_symmetry():
    p = _problem(3, n=3)
    W = np.array([[1.0, 0.2, 0.3], [1.0, 0.2, 0.3], [0.1, 0.9, 0.4]])
    assert isotropy_type(p, W.ravel()).copies == (2,)
    q = _problem(3, n=3, b=np.array([1.0, 1.0, 2.0]))
    W = 0.5 * np.eye(3) + 0.1
    t = isotropy_type(q, W.ravel())
    assert t.teacher_blocks == () and t.name == "trivial"


@pytest.mark.parametrize("name", ["S_k", "S_{k-1}xS_1", "S_{k-2}xS_2", "S_{k-2}xS_1xS_1"])
def test_points_of_each_fixed_point_subspace_have_at_least_its_group(name):
    k = 5
    sub = fixed_point_subspace(k, name)
    p = _problem(k)
    rng = np.random.default_rng(1)
    for _ in range(3):
        theta = sub.P @ rng.normal(size=sub.dim)
        t = isotropy_type(p, theta)
        assert t.contains(parse_isotropy(k, name))
        assert t.teacher_blocks == tuple(sorted(parse_isotropy(k, name), reverse=True))  # generic point: no more


def test_survey_reports_the_isotropy_of_every_point():
    p = _problem(3)
    res = survey(p, starts=3, seed=0, dps=20)
    d = res.to_dict()
    assert all("isotropy" in q and q["isotropy_blocks"]["teacher"] for q in d["points"])
    assert "isotropy" in res.table()
