"""Recognition of exact numbers (symland.recognise): known constants computed independently in
mpmath are found; numbers without a small relation, near misses and too few digits are refused."""

from __future__ import annotations

import mpmath
import pytest
import sympy

import symland


def _mp(f, dps=60):
    with mpmath.workdps(dps):
        return f()


@pytest.mark.parametrize("value, basis, expected", [
    (lambda: mpmath.mpf(1) / 2 - 9 * mpmath.asin(mpmath.mpf(1) / 6) / mpmath.pi,
     [sympy.pi, 1 / sympy.pi, sympy.asin(sympy.Rational(1, 6)) / sympy.pi],
     sympy.Rational(1, 2) - 9 * sympy.asin(sympy.Rational(1, 6)) / sympy.pi),
    (lambda: mpmath.sqrt(2) / 3, None, sympy.sqrt(2) / 3),
    (lambda: mpmath.mpf(3) / 7, None, sympy.Rational(3, 7)),
    (lambda: (1 + mpmath.sqrt(5)) / 2, None, (1 + sympy.sqrt(5)) / 2),
    (lambda: 2 / mpmath.pi - mpmath.mpf(1) / 3, None, 2 / sympy.pi - sympy.Rational(1, 3)),
])
def test_known_constants_are_found(value, basis, expected):
    rec = symland.recognise(_mp(value), digits=55, basis=basis)
    assert rec is not None and sympy.simplify(rec.expr - expected) == 0
    assert rec.margin >= 15 and rec.agreement >= 53


def test_an_algebraic_number_of_degree_3():
    x = _mp(lambda: mpmath.findroot(lambda t: t**3 - t - 1, 1.3))
    rec = symland.recognise(x, digits=55)
    z = sympy.Symbol("z")
    assert rec is not None and sympy.minimal_polynomial(rec.expr, z) == z**3 - z - 1


@pytest.mark.parametrize("value", [
    lambda: mpmath.e,                                                  # not in the basis
    lambda: mpmath.mpf("0.1234567891011121314151617181920212223242526272829303132333435"),
    lambda: mpmath.mpf(1) / 3 + mpmath.mpf(10) ** -40,                 # a near miss at 55 digits
])
def test_refusals(value):
    assert symland.recognise(_mp(value), digits=55) is None


def test_too_few_digits_for_the_coefficients_is_refused():
    # 22/7 needs few digits, but a 20-digit number matching a relation with ~8 digits of coefficients
    # over 5 basis elements is not evidence: 355/113 to 20 digits is recognised only as itself
    x = _mp(lambda: mpmath.mpf(355) / 113)
    rec = symland.recognise(x, digits=20)
    assert rec is not None and rec.expr == sympy.Rational(355, 113)
    assert symland.recognise(_mp(lambda: mpmath.pi), digits=20, basis=[]) is None


def test_bad_arguments():
    with pytest.raises(symland.DomainError, match="digits"):
        symland.recognise(_mp(lambda: mpmath.mpf(1) / 3), digits=10)
    with pytest.raises(symland.DomainError, match="digits"):
        symland.recognise(0.5)
    with pytest.raises(symland.DomainError, match="finite"):
        symland.recognise(mpmath.inf, digits=30)


def test_a_dependent_basis_element_is_dropped():
    """asin(sqrt(2)/2)/pi = 1/4 makes the basis dependent on 1: the relation among the basis alone
    must not hide the one with x."""
    x = _mp(lambda: mpmath.mpf(1) / 4 + mpmath.sqrt(2) / mpmath.pi)
    basis = [sympy.asin(sympy.sqrt(2) / 2) / sympy.pi, sympy.sqrt(2) / sympy.pi]
    rec = symland.recognise(x, digits=55, basis=basis)
    assert rec is not None and sympy.simplify(rec.expr - (sympy.Rational(1, 4) + sympy.sqrt(2) / sympy.pi)) == 0


def test_string_basis_is_parsed_never_evaluated():
    x = _mp(lambda: mpmath.mpf(1) / 4 + mpmath.sqrt(2) / mpmath.pi)
    rec = symland.recognise(x, digits=55, basis=["sqrt(2)/pi"])
    assert rec is not None and sympy.simplify(rec.expr - (sympy.Rational(1, 4) + sympy.sqrt(2) / sympy.pi)) == 0
    with pytest.raises(symland.ExpressionError):
        symland.recognise(x, digits=55, basis=['__import__("os").getcwd()'])
