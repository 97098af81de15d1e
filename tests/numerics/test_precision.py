"""The precision context (symland.numerics.precision): Gram determinants near alignment against
exact fractions, the alignment-digits rule, rounding by Precision.finalize, and input coercion errors."""

from __future__ import annotations

from fractions import Fraction

import mpmath

from symland.numerics.mpcontext import MPReal, result_context_of, thread_mp
import numpy as np
import pytest

from symland.errors import DomainError, PrecisionError, ShapeError
from symland.numerics.precision import (
    ALIGNMENT_GUARD,
    ALIGNMENT_THRESHOLD,
    FLOAT64,
    GUARD_DIGITS,
    Precision,
    alignment_digits,
    as_float_array,
    as_mp_array,
    gram_determinant,
    mp_gram_determinant,
)


def _exact_D(a, b, c):
    """ab - c^2 of the float64 inputs, exactly."""
    a, b, c = (Fraction(float(v)) for v in (a, b, c))
    return a * b - c * c


@pytest.mark.parametrize("rel", [1e-3, 1e-8, 1e-12, 1e-15])
def test_gram_determinant_near_alignment_matches_exact_fractions(rel):
    """c just below sqrt(ab): the naive ab - c*c loses all digits, the error-free form keeps them."""
    rng = np.random.default_rng(7)
    a = rng.uniform(0.3, 4.0, 50)
    b = rng.uniform(0.3, 4.0, 50)
    c = np.sqrt(a * b) * (1 - rel) * rng.choice([-1.0, 1.0], 50)
    got = gram_determinant(a, b, c)
    for k in range(a.size):
        ref = _exact_D(a[k], b[k], c[k])
        assert abs(Fraction(float(got[k])) - ref) <= abs(ref) * Fraction(4 * 2.0**-52), (k, got[k], float(ref))


def test_gram_determinant_exact_cases_and_mp():
    assert gram_determinant(2.0, 8.0, 4.0) == 0.0
    assert gram_determinant(1.0, 1.0, 0.0) == 1.0
    a, b, c = 1.3, 0.7, np.sqrt(1.3 * 0.7)
    with mpmath.workdps(40), thread_mp.workdps(40):
        got = mp_gram_determinant(a, b, c)
        ref = _exact_D(a, b, c)
        assert abs(got - mpmath.mpf(ref.numerator) / ref.denominator) < mpmath.mpf(10) ** -38 * abs(got)


def test_alignment_digits_rule():
    assert alignment_digits(None, 1.5) == 0
    assert alignment_digits(0, 1.5) == 0  # exactly aligned: the caller's to handle
    assert alignment_digits(-1e-9, 1.5) == 0
    assert alignment_digits(ALIGNMENT_THRESHOLD, 1.5) == 0
    assert alignment_digits(0.5, 2) == 0
    assert alignment_digits(1e-10, 1.5) == 15 + ALIGNMENT_GUARD
    assert alignment_digits(1e-10, 0.5) == 5 + ALIGNMENT_GUARD
    assert alignment_digits(mpmath.mpf("1e-20"), 2) == 40 + ALIGNMENT_GUARD
    # monotone: closer to alignment never asks for fewer digits
    ratios = [10.0**-k for k in range(7, 30)]
    digits = [alignment_digits(r, 1.5) for r in ratios]
    assert digits == sorted(digits)


def test_precision_working_digits_and_finalize():
    prec = Precision(30)
    assert prec.mp and prec.dps == 30 and prec.work_dps == 30 + GUARD_DIGITS
    outer, rest = mpmath.mp.dps, thread_mp.dps
    with prec:
        # the working precision is the calling thread's private context's; mpmath.mp is untouched
        assert thread_mp.dps == 30 + GUARD_DIGITS and mpmath.mp.dps == outer
        with prec.working(7):
            assert thread_mp.dps == 30 + GUARD_DIGITS + 7 and mpmath.mp.dps == outer
        x = thread_mp.mpf(1) / 3
    assert mpmath.mp.dps == outer and thread_mp.dps == rest
    y = prec.finalize(x)
    assert result_context_of(y) == 30
    with mpmath.workdps(60), thread_mp.workdps(60):
        assert abs(y - mpmath.mpf(1) / 3) < mpmath.mpf(10) ** -30
        assert abs(y - x) > 0  # rounded to 30 digits, not carrying the guard digits
        arr = prec.finalize(np.array([x, 2 * x], dtype=object))
        assert arr.dtype == object and abs(arr[1] - 2 * y) < mpmath.mpf(10) ** -29
    assert prec.boosted(5).dps == 35 and FLOAT64.boosted(5) is FLOAT64
    assert FLOAT64.finalize(0.25) == 0.25 and FLOAT64.work_dps is None
    with pytest.raises(PrecisionError):
        Precision(8)
    with pytest.raises(PrecisionError):
        Precision(20.5)


def test_as_float_array_errors():
    np.testing.assert_array_equal(as_float_array([1, 2], "x"), np.array([1.0, 2.0]))
    with pytest.raises(ShapeError, match="argument x"):
        as_float_array([1, 2], "x", shape=(3,))
    with pytest.raises(ShapeError, match="2-dimensional"):
        as_float_array([1, 2], "x", ndim=2)
    with pytest.raises(ShapeError, match="numeric"):
        as_float_array(["a", "b"], "x")
    with pytest.raises(DomainError, match="finite"):
        as_float_array([1.0, np.nan], "x")


def test_as_mp_array_errors():
    with mpmath.workdps(30), thread_mp.workdps(30):
        out = as_mp_array(["0.1", 2], "w", (2,))
        assert out[0] == mpmath.mpf("0.1") and isinstance(out[1], MPReal)
    with pytest.raises(ShapeError, match="shape"):
        as_mp_array([1, 2], "w", (3,))
    with pytest.raises(DomainError, match="not a real number"):
        as_mp_array(["x", 1], "w", (2,))
    with pytest.raises(DomainError, match="finite"):
        as_mp_array([mpmath.inf, 1], "w", (2,))
