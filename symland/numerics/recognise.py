r"""Recognition of exact numbers from many digits, refusing rather than guessing.

:func:`recognise` looks for an exact SymPy expression equal to a number ``x`` known to ``digits``
significant digits, by three searches:

* a rational $p/q$ (continued fractions, $q \le 10^{8}$);
* an algebraic number: an integer polynomial of degree $2..$``max_degree`` with root ``x``
  (``findpoly``, integer relations among $1, x, \dots, x^k$), the real root nearest ``x``;
* an integer relation $c_0 x + \sum_i c_i b_i = 0$ over a ``basis`` of exact constants (PSLQ),
  e.g. $1, \pi, 1/\pi, \sqrt 2$, arcsines of kernel arguments; then $x = -\sum_i c_i b_i / c_0$.

**Acceptance rule.**  A candidate spends about $\sum_i \log_{10}(|c_i| + 1)$ digits on its
integer coefficients (numerator and denominator of a rational, the polynomial's coefficients,
the relation's coefficients).  Any ``digits``-digit number satisfies *some* relation with that
many digits of coefficients, so a candidate is accepted only when it agrees with ``x`` to all but
two of the known digits **and** the digits known exceed the digits spent by at least ``safety``
(default 15): the chance that a random number of that size satisfies the relation is then about
$10^{-15}$.  The candidate with the fewest digits spent wins.  This is a *recognition*, not a
proof: a caller that needs a proof substitutes the candidate into an exact equation
(:func:`~symland.numerics.exact.prove_zero`).
"""

from __future__ import annotations

import dataclasses
import math

import sympy

from ..errors import DomainError
from .arguments import check_count
from .expression import to_sympy
from .mpcontext import is_mpf, thread_mp

__all__ = ["Recognition", "recognise", "DEFAULT_BASIS"]

#: the basis of :func:`recognise` when none is given
DEFAULT_BASIS = (sympy.pi, 1 / sympy.pi, sympy.sqrt(2), sympy.sqrt(3))


@dataclasses.dataclass(frozen=True)
class Recognition:
    """An exact candidate ``expr`` for a number: how it was found (``method``), the ``digits`` of the
    number used, the digits it agrees to (``agreement``) and the digits its integer coefficients
    spend (``spent``); ``margin = digits - spent`` is the evidence beyond chance."""

    expr: sympy.Expr
    method: str
    digits: int
    agreement: int
    spent: float

    @property
    def margin(self) -> float:
        return self.digits - self.spent

    def latex(self) -> str:
        return sympy.latex(self.expr)

    def __str__(self):
        return (f"{self.expr}  ({self.method}; agrees to {self.agreement} of {self.digits} digits, "
                f"coefficients spend {self.spent:.0f})")


def _spent(coefficients) -> float:
    return sum(math.log10(abs(int(c)) + 1) for c in coefficients)


def _agreement(candidate, x, digits) -> int:
    """Digits to which the exact ``candidate`` agrees with ``x`` (relative to max(1, |x|))."""
    value = thread_mp.mpf(sympy.N(candidate, digits + 10)) if not candidate.is_Rational else \
        thread_mp.mpf(candidate.p) / candidate.q
    err = abs(value - x) / max(1, abs(x))
    return digits + 10 if err == 0 else int(min(digits + 10, -thread_mp.log10(err)))


def _rational(x, digits):
    fr = sympy.Rational(thread_mp.nstr(x, digits + 5)).limit_denominator(10**8)
    return fr, "rational", _spent([fr.p, fr.q])


def _algebraic(x, digits, degree, max_coeff):
    poly = thread_mp.findpoly(x, degree, maxcoeff=max_coeff)
    if not poly or len(poly) < 3:  # degree 1 is a rational, found above
        return None
    z = sympy.Symbol("z")
    p = sympy.Poly([int(c) for c in poly], z)
    roots = [r for r in sympy.real_roots(p)]
    if not roots:
        return None
    best = min(roots, key=lambda r: abs(thread_mp.mpf(sympy.N(r, digits + 10)) - x))
    return sympy.nsimplify(best) if best.is_Rational else best, f"algebraic of degree {p.degree()}", _spent(poly)


def _relation(x, digits, basis, max_coeff):
    r"""PSLQ over $[x, 1, \text{basis}]$; a relation among the basis alone (a dependent basis, e.g.
    $\arcsin(1/\sqrt2)/\pi = 1/4$) drops its last element and searches again."""
    basis = list(basis)
    for _ in range(len(basis) + 1):
        values = [thread_mp.mpf(sympy.N(b, digits + 10)) for b in basis]
        rel = thread_mp.pslq([x, thread_mp.mpf(1)] + values, maxcoeff=max_coeff, maxsteps=10**5)
        if rel is None or rel[0] != 0:
            break
        dependent = max(i for i, c in enumerate(rel[2:]) if c != 0) if any(rel[2:]) else None
        if dependent is None:
            return None
        del basis[dependent]
    if rel is None or rel[0] == 0:
        return None
    basis = tuple(basis)
    expr = -sum(sympy.Integer(c) * b for c, b in zip(rel[1:], (sympy.Integer(1),) + basis)) / sympy.Integer(rel[0])
    names = ", ".join(str(b) for b in basis)
    return sympy.nsimplify(expr) if expr.is_Rational else expr, f"integer relation over [1, {names}]"[:200], \
        _spent(rel)


def recognise(x, digits: int | None = None, basis=None, max_degree: int = 4, max_coeff: int = 10**6,
              safety: int = 15) -> Recognition | None:
    r"""An exact expression for ``x`` by the rule of the module docstring, or ``None`` (refused).

    ``x``: an mpmath number (its digits from its mantissa unless ``digits`` is given) or a decimal
    string (its significant digits).  ``basis``: exact SymPy constants for the integer-relation
    search (default :data:`DEFAULT_BASIS`; $1$ is always included).  Raises
    :class:`~symland.errors.DomainError` for fewer than 20 digits or a non-finite ``x``."""
    if isinstance(x, str):
        text = x.strip().lower().lstrip("+-").split("e")[0].replace(".", "").lstrip("0")
        digits = len(text) if digits is None else digits
    elif is_mpf(x) and digits is None:
        digits = int(x._mpf_[3] * math.log10(2))
    if digits is None:
        raise DomainError("argument digits: give the number of known digits of a float (or pass an mpmath number)")
    digits = check_count(digits, "digits", minimum=20, maximum=10000)
    safety = check_count(safety, "safety", minimum=1, maximum=digits)
    basis = tuple(DEFAULT_BASIS if basis is None else (to_sympy(b, "basis") for b in basis if b != 1))
    with thread_mp.workdps(digits + 10):
        x = thread_mp.mpf(x)
        if not thread_mp.isfinite(x):
            raise DomainError(f"argument x must be finite, got {x}")
        if x == 0:
            return Recognition(sympy.Integer(0), "zero", digits, digits, 0.0)
        found = []
        searches = [lambda: _rational(x, digits)]
        searches += [lambda k=k: _algebraic(x, digits, k, max_coeff) for k in range(2, max_degree + 1)]
        if basis:
            searches.append(lambda: _relation(x, digits, basis, max_coeff))
        for search in searches:
            try:
                res = search()
            except (ValueError, ZeroDivisionError, NotImplementedError, sympy.PolynomialError):
                res = None
            if res is None:
                continue
            expr, method, spent = res
            agree = _agreement(expr, x, digits)
            if agree >= digits - 2 and digits - spent >= safety:
                found.append(Recognition(expr, method, digits, min(agree, digits), spent))
        return min(found, key=lambda r: r.spent) if found else None
