"""Tests of symland/problems/params.py: one packed layout, one unpacked type (Params) for every kind.

References: the layout written out by hand (row-major W, then a, beta, glu_c, glu_w, glu_v),
and the parts themselves (pack -> unpack -> pack_params is the identity).
"""

from __future__ import annotations

import dataclasses

import mpmath

from symland.numerics.mpcontext import MPReal, thread_mp
import numpy as np
import pytest

from symland import DomainError, Params, ShapeError, TeacherStudent
from symland.numerics.precision import FLOAT64, Precision

V = np.array([[1.0, 0.0, 0.5], [0.0, 1.0, -0.5]])
RNG = np.random.default_rng(3)

# kind -> (constructor options, n, parts present besides W)
KINDS = {
    "plain": ({}, 2, ("a",)),
    "fixed outputs": ({"train_output": False, "student_output": [2.0, -1.0]}, 2, ()),
    "bias": ({"bias": True}, 2, ("a", "beta")),
    "bias, fixed outputs": ({"bias": True, "train_output": False}, 2, ("beta",)),
    "mixed activation": ({"teacher_activation": "relu"}, 2, ("a",)),
    "glu": ({"glus": 2}, 1, ("a", "glu_c", "glu_w", "glu_v")),
    "glu, no neurons": ({"glus": 1}, 0, ("a", "glu_c", "glu_w", "glu_v")),
}


def _parts(n, m, present):
    shapes = {"W": (n, 3), "a": (n,), "beta": (n,), "glu_c": (m,), "glu_w": (m, 3), "glu_v": (m, 3)}
    return {name: RNG.normal(size=shapes[name]) for name in ("W",) + present}


@pytest.mark.parametrize("kind", list(KINDS))
def test_params_round_trip(kind):
    options, n, present = KINDS[kind]
    p = TeacherStudent("erf", V, n=n, **options)
    m = options.get("glus", 0)
    parts = _parts(n, m, present)
    theta = p.pack(**parts)
    assert theta.shape == (p.num_params,)
    # the layout by hand: row-major W, then the other parts in order
    np.testing.assert_array_equal(theta, np.concatenate([parts[k].ravel() for k in ("W",) + present]))
    q = p.unpack(theta)
    assert isinstance(q, Params)
    with pytest.raises(dataclasses.FrozenInstanceError):
        q.W = None
    for name in ("W", "a", "beta", "glu_c", "glu_w", "glu_v"):
        if name in parts:
            np.testing.assert_array_equal(getattr(q, name), parts[name])
        elif name == "a":  # fixed output weights
            np.testing.assert_array_equal(q.a, p.student_output)
        else:
            assert getattr(q, name) is None, name
    np.testing.assert_array_equal(p.pack_params(q), theta)
    # mpmath object arrays keep every digit (no rounding to float64 or to the working precision)
    with mpmath.workdps(40), thread_mp.workdps(40):
        th_mp = np.array([mpmath.mpf(x) + mpmath.mpf(10) ** -30 for x in theta], dtype=object)
    qm = p.unpack(th_mp)
    flat = np.concatenate([np.ravel(getattr(qm, k)) for k in ("W",) + present])
    assert flat.dtype == object and all(x is y for x, y in zip(flat, th_mp))


def test_unpack_does_not_alias_the_input():
    p = TeacherStudent("erf", V, n=2)
    theta = np.arange(8.0)
    q = p.unpack(theta)
    q.W[0, 0] = 99.0
    assert theta[0] == 0.0


def test_check_theta_in_each_precision():
    p = TeacherStudent("relu", V, n=2, bias=True)
    theta = np.linspace(-1, 1, p.num_params)
    np.testing.assert_array_equal(p.check_theta(theta), theta)
    np.testing.assert_array_equal(p.check_theta(list(theta), FLOAT64), theta)
    with mpmath.workdps(50), thread_mp.workdps(50):
        th = p.check_theta(theta, Precision(35))
        assert th.dtype == object and all(isinstance(x, MPReal) for x in th)
        assert th[1] == mpmath.mpf(theta[1])
        third = p.check_theta([mpmath.mpf(1) / 3] * p.num_params, Precision(35))[0]
        assert abs(third - mpmath.mpf(1) / 3) < mpmath.mpf(10) ** -49  # the current working precision
    with pytest.raises(ShapeError, match="theta"):
        p.check_theta(theta[:-1])
    with pytest.raises(DomainError, match="theta"):
        p.check_theta(np.full(p.num_params, np.nan), Precision(20))
