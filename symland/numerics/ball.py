r"""Ball arithmetic (python-flint ``arb``): rigorous enclosures of compiled SymPy expressions.

An ``arb`` is a midpoint and a radius; every operation returns a ball guaranteed to contain the
exact result for every point of its input balls.  This module is the third numeric member next
to float64 and mpmath (:mod:`symland.numerics.precision`), written against the same compiled
form: :func:`lambdify_ball` prints an expression exactly as
:func:`~symland.numerics.compile.lambdify_mpmath` does (``mpmath.asin(x)``, ``mpmath.pi``,
``mpmath.mpf(p)/mpmath.mpf(q)``) and binds the name ``mpmath`` to :data:`ARB`, an adapter whose
functions are the ``arb`` ones.  Integers become exact balls, so a rational constant is one
correctly rounded division.

python-flint keeps its working precision in one process-wide context (``flint.ctx.prec``).
:func:`ball_precision` holds one lock for the whole computation and restores the caller's
precision afterwards, so concurrent calls from many threads are serialised and no caller sees
the context changed.

Functions without an ``arb`` form (and Piecewise expressions, whose branch choice on a ball that
straddles the switching point could not be rigorous) raise
:class:`~symland.errors.NoClosedFormError` naming the reason; a result that is not a finite ball
(for example ``atan2`` across its branch cut) raises :class:`~symland.errors.DomainError`.
python-flint is the optional ``certify`` extra: importing this module without it raises
``ImportError`` with the install command.
"""

from __future__ import annotations

import contextlib
import functools
import threading

import sympy
from sympy.printing.pycode import MpmathPrinter

from ..errors import DomainError, NoClosedFormError
from .mpcontext import is_mpf
from .precision import GUARD_DIGITS, check_dps

try:
    import flint
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError("ball arithmetic needs python-flint: pip install -e '.[certify]'") from exc

__all__ = ["ARB", "ball_precision", "as_ball", "lambdify_ball", "check_ball"]

_FLINT_LOCK = threading.RLock()


@contextlib.contextmanager
def ball_precision(dps: int):
    """Hold the python-flint lock and set ``flint.ctx.dps = dps + GUARD_DIGITS`` (restored on exit)."""
    dps = check_dps(dps)
    with _FLINT_LOCK:
        saved = flint.ctx.prec
        flint.ctx.dps = dps + GUARD_DIGITS
        try:
            yield
        finally:
            flint.ctx.prec = saved


def as_ball(x, name: str = "x"):
    """``x`` as an ``arb``: an ``arb`` as it is; an int exactly; a float exactly (its binary value);
    an mpmath number from its exact mantissa and exponent; a decimal string, rounded to a ball
    that contains it; a pair ``(mid, rad)``."""
    if isinstance(x, flint.arb):
        return x
    if isinstance(x, tuple) and len(x) == 2:
        return flint.arb(as_ball(x[0], name).mid(), as_ball(x[1], name).mid())
    if isinstance(x, bool):
        raise DomainError(f"argument {name} must be a real number, got a bool")
    if isinstance(x, int):
        return flint.arb(x)
    if isinstance(x, float):
        return flint.arb(x)
    if is_mpf(x):
        sign, man, exp, _ = x._mpf_
        if not man and exp:  # inf / nan
            raise DomainError(f"argument {name} must be finite, got {x}")
        return flint.arb(flint.fmpz((-1) ** sign * int(man))) * flint.arb(2) ** exp
    if isinstance(x, str):
        return flint.arb(x)
    try:
        return flint.arb(float(x))
    except (TypeError, ValueError):
        raise DomainError(f"argument {name} must be a real number, got {x!r}") from None


class _ArbFunctions:
    """The names the fully qualified mpmath printer emits, mapped to ``arb`` operations."""

    mpf = staticmethod(lambda v: flint.arb(v) if isinstance(v, int) else as_ball(v))

    @property
    def pi(self):  # evaluated at the precision current at the time of use
        return flint.arb.pi()

    @property
    def e(self):
        return flint.arb.const_e()

    atan2 = staticmethod(lambda y, x: flint.arb.atan2(as_ball(y), as_ball(x)))
    fabs = staticmethod(lambda x: abs(as_ball(x)))

    def __getattr__(self, name):
        raise NoClosedFormError(f"function {name} has no ball-arithmetic (arb) form in symland")


#: one-argument functions whose ``arb`` method has the same name as mpmath's
_UNARY = ("sqrt", "exp", "log", "sin", "cos", "tan", "sinh", "cosh", "tanh", "asin", "acos", "atan",
          "erf", "erfc", "erfi")
for _name in _UNARY:
    setattr(_ArbFunctions, _name, staticmethod(lambda x, _name=_name: getattr(as_ball(x), _name)()))

#: the adapter compiled ball expressions call through the name ``mpmath``
ARB = _ArbFunctions()

_PRINTER_SETTINGS = {"fully_qualified_modules": True, "inline": True, "allow_unknown_functions": True}
#: SymPy functions whose arb form the adapter provides (Abs prints as Python's abs, valid on balls)
_SUPPORTED = {name for name in vars(_ArbFunctions) if not name.startswith("_")} | {"Abs"}


@functools.lru_cache(maxsize=None)
def lambdify_ball(args: tuple, expr: sympy.Expr):
    """A function of ``arb`` balls evaluating ``expr`` rigorously (see the module docstring)."""
    if expr.has(sympy.Piecewise, sympy.Heaviside, sympy.sign, sympy.Max, sympy.Min):
        raise NoClosedFormError(f"{expr} branches on its arguments: a ball straddling the switching point has "
                                "no single branch, so symland does not evaluate it on balls")
    unknown = sorted({type(f).__name__ for f in expr.atoms(sympy.Function)} - _SUPPORTED)
    if unknown:
        raise NoClosedFormError(f"{', '.join(unknown)}: no ball-arithmetic (arb) form in symland")
    return sympy.lambdify(args, expr, modules=[{"mpmath": ARB}], printer=MpmathPrinter(_PRINTER_SETTINGS))


def check_ball(value, what: str):
    """``value`` if it is a finite ball, else :class:`~symland.errors.DomainError` naming ``what``."""
    if not isinstance(value, flint.arb):
        value = as_ball(value, what)
    if not value.is_finite():
        raise DomainError(f"{what}: the enclosure is not finite ({value}); the input balls reach a singular "
                          "point of the formula (e.g. D = 0 or a branch cut)")
    return value
