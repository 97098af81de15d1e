r"""Exact numbers: evaluation of exact SymPy numbers at any precision, proofs that an expression is
exactly zero, and rational recognition of a high-precision number (a candidate for a proof).

Used by the symbolic layers (group ansatzes, copy-average configurations) and by closed-form
recognition of critical points: a recognised value counts only once an exact substitution is
proven zero by :func:`prove_zero`.
"""

from __future__ import annotations

import sympy

from ..errors import SymlandError
from .expression import to_sympy
from .mpcontext import is_mpc, is_mpf, sympy_evalf, thread_mp
from .precision import GUARD_DIGITS

__all__ = ["mp_value", "prove_zero", "recognise_rational", "TRANSCENDENTAL"]

#: the transcendental functions whose atoms :func:`prove_zero` treats as independent symbols
TRANSCENDENTAL = (sympy.asin, sympy.acos, sympy.atan, sympy.atan2, sympy.log, sympy.exp, sympy.erf,
                  sympy.sin, sympy.cos)


def mp_value(expr, dps):
    """An exact SymPy number (an mpmath number is returned as is) as an mpmath number evaluated to ``dps``
    digits; an imaginary part above $10^{-dps}$ is an error."""
    if (is_mpf(expr) or is_mpc(expr)):
        return expr
    expr = to_sympy(expr)
    if expr.free_symbols:
        raise SymlandError(f"cannot evaluate {expr}: free symbols {sorted(map(str, expr.free_symbols))} "
                           "have no values")
    val = sympy_evalf(expr, dps + GUARD_DIGITS)
    with thread_mp.workdps(dps + GUARD_DIGITS):
        if val.is_real is False or (val.as_real_imag()[1] != 0):
            re, im = val.as_real_imag()
            if abs(im) > 10 ** (-dps):
                raise SymlandError(f"expression {expr} is not real (imaginary part {im})")
            val = re
        return thread_mp.mpf(sympy.Float(val, dps + GUARD_DIGITS)._mpf_)


def _algebraic_zero(c) -> bool:
    c = to_sympy(c)
    if c == 0:
        return True
    if c.free_symbols:
        if sympy.simplify(c) == 0:
            return True
        return sympy.cancel(sympy.together(_split_roots(c))) == 0
    s = sympy.simplify(c)
    if s == 0:
        return True
    if s.atoms(sympy.Function) or s.has(sympy.pi) or s.has(sympy.E):
        return False
    try:
        x = sympy.Dummy("x")
        return sympy.minimal_polynomial(s, x) == x
    except (NotImplementedError, ValueError):
        return False


def _split_roots(e, rounds=3):
    """Factor the radicands and split roots of products of factors SymPy knows are positive."""
    for _ in range(rounds):
        e = e.replace(lambda x: x.is_Pow and not x.exp.is_integer,
                      lambda x: sympy.Pow(sympy.factor(x.base), x.exp))
        e = sympy.expand_power_base(e, deep=True)
        e = sympy.powsimp(sympy.expand(e), combine="exp")
    return e


def prove_zero(expr) -> bool:
    r"""True only if ``expr`` is *proven* to be exactly zero (False means "not proven").

    Strategy: ``simplify``; positive integer symbols $m$ are written $1 + \mu$ so that
    radicands factor into factors known to be positive and roots split; else replace every transcendental atom (``asin``, ``atan2``, ...,
    with arguments proven equal merged into one class) and $\pi$ by fresh symbols and prove
    that every coefficient of the resulting polynomial vanishes (as algebraic numbers, by
    their minimal polynomial, or by ``simplify`` when symbols are present).  Vanishing
    coefficients are sufficient for the expression to vanish, so a True answer is a proof.

    A string is read by :func:`~symland.numerics.expression.parse_expression` (never evaluated
    as Python); its names are plain symbols without assumptions.
    """
    expr = to_sympy(expr, "expr")
    if expr == 0:
        return True
    # a positive integer symbol m is 1 + mu with mu >= 0: every polynomial factor with
    # non-negative coefficients in mu is then known to be positive, so roots can split
    shift = {m: 1 + sympy.Dummy(f"{m.name}_minus_1", nonnegative=True)
             for m in expr.free_symbols if m.is_integer and m.is_positive}
    expr = expr.xreplace(shift)
    if not expr.free_symbols:
        with thread_mp.workdps(40):
            try:
                if abs(mp_value(expr, 40)) > thread_mp.mpf(10) ** -30:
                    return False
            except SymlandError:
                return False
    s = sympy.simplify(expr)
    if s == 0:
        return True
    if _coefficients_vanish(s):
        return True
    # one angle written two ways (atan(sqrt 2) = pi/2 - asin(1/sqrt 3)): retry with every constant
    # inverse trigonometric atom as an arcsine of a non-negative argument
    normal = _inverse_trig_as_asin(s)
    return normal != s and _coefficients_vanish(sympy.simplify(normal))


def _inverse_trig_as_asin(e):
    r"""``e`` with constant real ``atan(y)`` $\to \arcsin(y/\sqrt{1+y^2})$, ``acos(x)`` $\to \pi/2 - \arcsin x$,
    $\arcsin(-x) \to -\arcsin x$ and, for $x^2 > 1/2$, $\arcsin x \to \pi/2 - \arcsin\sqrt{1 - x^2}$
    (identities for real arguments in $[-1, 1]$), so one angle gets one atom."""
    def real_constant(x):
        return not x.free_symbols and x.is_real is not False

    e = e.replace(lambda f: isinstance(f, sympy.atan) and real_constant(f.args[0]),
                  lambda f: sympy.asin(sympy.radsimp(f.args[0] / sympy.sqrt(1 + f.args[0] ** 2))))
    e = e.replace(lambda f: isinstance(f, sympy.acos) and real_constant(f.args[0]),
                  lambda f: sympy.pi / 2 - sympy.asin(f.args[0]))
    e = e.replace(lambda f: isinstance(f, sympy.asin) and real_constant(f.args[0]) and f.args[0].is_negative,
                  lambda f: -sympy.asin(-f.args[0]))
    # complementary angles: asin(x) = pi/2 - asin(sqrt(1 - x^2)) for 1/sqrt(2) < x <= 1
    return e.replace(lambda f: isinstance(f, sympy.asin) and real_constant(f.args[0])
                     and bool(f.args[0] ** 2 > sympy.Rational(1, 2)),
                     lambda f: sympy.pi / 2 - sympy.asin(sympy.radsimp(sympy.sqrt(1 - f.args[0] ** 2))))


def _coefficients_vanish(s) -> bool:
    r"""Every coefficient of ``s`` as a polynomial in its transcendental atoms (equal arguments merged)
    and $\pi$ proven zero."""
    atoms = [f for f in s.atoms(sympy.Function) if isinstance(f, TRANSCENDENTAL)]
    classes = []  # (representative, symbol)
    rep = {}
    for f in sorted(atoms, key=sympy.default_sort_key):
        for g, sym in classes:
            if g.func == f.func and len(g.args) == len(f.args) and all(
                    _algebraic_zero(sympy.radsimp(x - y)) for x, y in zip(g.args, f.args)):
                rep[f] = sym
                break
        else:
            sym = sympy.Dummy(f"T{len(classes)}")
            classes.append((f, sym))
            rep[f] = sym
    P = sympy.Dummy("PI")
    e = s.xreplace(rep).xreplace({sympy.pi: P})
    gens = [sym for _, sym in classes] + [P]
    num, _ = sympy.fraction(sympy.together(e))
    try:
        poly = sympy.Poly(sympy.expand(num), *gens)
    except sympy.PolynomialError:
        return False
    return all(_algebraic_zero(c) for c in poly.coeffs())


def recognise_rational(x, dps):
    r"""Exact ``sympy.Rational`` $p/q$ ($q \le 10^8$) equal to the mpmath number ``x`` to within
    $10^{-(dps-5)}$ relative (``x`` known to ``dps`` digits), or None.  A candidate only: callers
    prove it by exact substitution."""
    with thread_mp.workdps(dps + GUARD_DIGITS):
        fr = sympy.Rational(thread_mp.nstr(x, dps + GUARD_DIGITS)).limit_denominator(10**8)
        if abs(thread_mp.mpf(fr.p) / fr.q - x) <= thread_mp.mpf(10) ** (-(dps - 5)) * max(1, abs(x)):
            return fr
    return None
