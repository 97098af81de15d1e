r"""Ball arithmetic (python-flint ``arb``): rigorous enclosures of compiled SymPy expressions.

An ``arb`` is a midpoint and a radius; every operation returns a ball guaranteed to contain the
exact result for every point of its input balls.  This module is the third numeric member next
to float64 and mpmath: :class:`BallPrecision` has the methods of
:class:`~symland.numerics.precision.Precision` that the problem assembly uses, on numpy object
arrays of ``arb``.

Compilation (:func:`lambdify_ball`) prints an expression as
:func:`~symland.numerics.compile.lambdify_mpmath` does (``mpmath.asin(x)``, ``mpmath.pi``,
``mpmath.mpf(p)/mpmath.mpf(q)``; integer powers by repeated squaring, since python-flint's ``**``
is ``nan`` on a ball containing 0) and binds the name ``mpmath`` to :data:`ARB`, an adapter whose
functions are the ``arb`` ones.  Integers become exact balls, so ``Rational(p, q)`` is one
correctly rounded division (exact when ``q`` is a power of 2, otherwise a ball of a few ulps that
contains ``p/q``); a SymPy ``Float`` becomes the exact ball of its binary value.  Functions that
switch on their argument are evaluated rigorously: ``Abs``, ``Max``, ``Min`` by the ``arb``
operations (``Max`` of two overlapping balls is their rigorous maximum), ``Heaviside`` and
``sign`` of a ball that contains the switching point 0 by the hull (union) of every value they
take there (``[0, 1]``, ``[-1, 1]``), never by one branch.  Owen's $T$ and the bivariate normal
CDF $\Phi_2$ (the SymPy functions ``OwensT`` and ``BivariateNormalCDF`` of
:mod:`symland.kernels.normal`, recognised by name) are rigorous integrals of entire integrands
over $[0, 1]$ (:func:`owens_t_ball`, :func:`bvn_ball`, by ``acb.integral``, whose error bound
is part of the ball).  ``Piecewise`` with general conditions
is refused.  Functions without an ``arb`` form raise :class:`~symland.errors.NoClosedFormError`
naming the function.  A result that is not a finite ball (``sqrt`` or ``1/x`` of a ball that
reaches 0, ``atan2`` across its branch cut) is reported by :func:`check_ball` as a
:class:`~symland.errors.DomainError`.

**Threads and the global precision.** python-flint keeps its working precision in one
process-wide context (``flint.ctx.prec``).  Every ``arb`` computation in symland runs inside
:func:`ball_precision` (or a :class:`BallPrecision` ``with`` block, which uses it): it holds one
re-entrant lock for the whole computation, sets ``flint.ctx.dps = dps + GUARD_DIGITS`` and
restores the caller's value on exit.  Concurrent ball computations are therefore serialised
(never interleaved), and no caller sees ``flint.ctx`` changed.  Code outside symland that
changes ``flint.ctx`` from another thread at the same time is not guarded against.

python-flint is a runtime dependency: classification (every Hessian spectrum,
:mod:`symland.landscape.spectrum`) and certification use it.
"""

from __future__ import annotations

import contextlib
import functools
import math
import threading

import numpy as np
import sympy
from mpmath.libmp import from_man_exp
from sympy.printing.pycode import MpmathPrinter

from ..errors import DomainError, NoClosedFormError, ShapeError
from .mpcontext import is_mpf, thread_mp
from .precision import GUARD_DIGITS, Precision, check_dps

import flint

__all__ = ["ARB", "HAVE_FLINT", "require_flint", "ball_precision", "as_ball", "is_ball", "lambdify_ball",
           "check_ball", "may_be_zero", "unbounded_ball", "BallPrecision", "ball_array", "hull", "midpoint_mpf",
           "upper_float", "lower_float", "identity_matrix", "owens_t_ball", "bvn_ball"]

#: python-flint is a runtime dependency (kept for callers that test for it)
HAVE_FLINT = True

_FLINT_LOCK = threading.RLock()


def require_flint():
    """Nothing to check: python-flint is a runtime dependency (kept for callers)."""


@contextlib.contextmanager
def ball_precision(dps: int):
    """Hold the python-flint lock and set ``flint.ctx.dps = dps + GUARD_DIGITS`` (restored on exit)."""
    require_flint()
    dps = check_dps(dps)
    with _FLINT_LOCK:
        saved = flint.ctx.prec
        flint.ctx.dps = dps + GUARD_DIGITS
        try:
            yield
        finally:
            flint.ctx.prec = saved


def is_ball(x) -> bool:
    """True for a python-flint ``arb``."""
    return isinstance(x, flint.arb)


def _exact_mpf_tuple(sign, man, exp, name):
    if not man and exp:
        raise DomainError(f"argument {name} must be finite")
    # arb((m, e)) is m * 2**e exactly, at any working precision (a product of balls would round)
    return flint.arb((-int(man) if sign else int(man), int(exp)))


def upper_float(x) -> float:
    """A float ``>=`` every point of the ball ``x`` (outward rounded)."""
    v = float(x.upper())
    return v if flint.arb(v) >= x.upper() else math.nextafter(v, math.inf)


def lower_float(x) -> float:
    """A float ``<=`` every point of the ball ``x`` (outward rounded)."""
    v = float(x.lower())
    return v if flint.arb(v) <= x.lower() else math.nextafter(v, -math.inf)


def identity_matrix(N: int):
    """The exact N x N identity as an ``arb_mat``."""
    return flint.arb_mat(N, N, [1 if i == j else 0 for i in range(N) for j in range(N)])


def as_ball(x, name: str = "x"):
    """``x`` as an ``arb``: an ``arb`` as it is; an int exactly; a float exactly (its binary value);
    an mpmath number from its exact mantissa and exponent (also the tuple ``(sign, man, exp, bc)``
    the mpmath printer emits for a SymPy ``Float``); a decimal string, rounded to a ball that
    contains it; a pair ``(mid, rad)``: the ball with that midpoint and radius (radius >= 0).
    Non-finite or non-real input raises :class:`~symland.errors.DomainError` naming ``name``."""
    require_flint()
    if isinstance(x, flint.arb):
        return x
    if isinstance(x, tuple) and len(x) == 4 and all(isinstance(v, int) for v in x):
        return _exact_mpf_tuple(*x[:3], name)
    if isinstance(x, tuple) and len(x) == 2:
        mid, rad = as_ball(x[0], name), as_ball(x[1], name)
        if not rad >= 0:
            raise DomainError(f"argument {name}: the radius of a (mid, rad) ball must be >= 0, got {x[1]!r}")
        return mid + flint.arb(0, rad.upper())
    if isinstance(x, (bool, np.bool_)):
        raise DomainError(f"argument {name} must be a real number, got a bool")
    if isinstance(x, (int, np.integer)):
        return flint.arb(int(x))
    if isinstance(x, (float, np.floating)):
        if not np.isfinite(x):
            raise DomainError(f"argument {name} must be finite, got {x}")
        return flint.arb(float(x))
    if is_mpf(x):
        return _exact_mpf_tuple(*x._mpf_[:3], name)
    if isinstance(x, str):
        try:
            return flint.arb(x)
        except (ValueError, TypeError):
            raise DomainError(f"argument {name}: {x!r} is not a decimal number") from None
    raise DomainError(f"argument {name} must be a real number (int, float, mpf, decimal string, "
                      f"(mid, rad) or arb), got {type(x).__name__}")


def midpoint_mpf(x):
    """The midpoint of the ball ``x`` as an mpmath number of the calling thread's context, exactly
    (with as many bits as the midpoint has)."""
    man, exp = x.mid().man_exp()
    return thread_mp.make_mpf(from_man_exp(int(man), int(exp)))  # normalised, not rounded


def hull(*balls):
    """The smallest ball containing every argument (their union)."""
    out = balls[0]
    for b in balls[1:]:
        out = out.union(b)
    return out


def _heaviside(x, at_zero=None):
    r"""$H(x)$ on a ball: 1 or 0 when the ball lies on one side of 0, else the hull of 0, 1 and the
    value at 0 (``at_zero``, SymPy's second argument; the hull $[0, 1]$ contains the default 1/2)."""
    x = as_ball(x)
    if x > 0:
        return flint.arb(1)
    if x < 0:
        return flint.arb(0)
    return hull(flint.arb(0), flint.arb(1), *(() if at_zero is None else (as_ball(at_zero),)))


def _sign(x):
    """``sign`` on a ball: -1, 0 or 1 when decided, else the hull of the values it can take."""
    x = as_ball(x)
    if x > 0:
        return flint.arb(1)
    if x < 0:
        return flint.arb(-1)
    if x.is_zero():
        return flint.arb(0)
    return hull(flint.arb(-1 if not x >= 0 else 0), flint.arb(1 if not x <= 0 else 0))


def _integer_power(x, n: int):
    r"""$x^n$ for an integer $n$ by repeated squaring of balls (python-flint's ``**`` goes through
    $\exp(n\log x)$ and returns ``nan`` for a ball that contains 0 or negative numbers); an even
    power is taken of $|x|$ and intersected with $[0, \infty)$, so it never encloses negative values."""
    x = as_ball(x)
    if n < 0:
        return 1 / _integer_power(x, -n)
    even = n % 2 == 0
    if even:
        x = abs(x).nonnegative_part()
    out, base = flint.arb(1), x
    while n:
        if n & 1:
            out = out * base
        base = base * base
        n >>= 1
    return out.nonnegative_part() if even else out


def _real_power(x, p):
    """$x^p$ for a non-integer exponent (``arb`` power; not finite where undefined, e.g. ``x < 0``)."""
    return as_ball(x) ** as_ball(p)


def _fold(op):
    def f(*args):
        out = as_ball(args[0])
        for v in args[1:]:
            out = getattr(out, op)(as_ball(v))
        return out
    f.__name__ = op
    return f


def _integral_01(integrand):
    r"""$\int_0^1 f(u)\,du$ for an integrand analytic on a neighbourhood of $[0, 1]$ (``acb``
    in, ``acb`` out; entire functions of meromorphic ones are non-finite at their poles, so the
    ``analytic`` flag needs no check): the real part of ``acb.integral``, a ball that contains
    the integral (its truncation error included) for every value of the balls the integrand
    closes over; not finite when the integration fails to converge."""
    value = flint.acb.integral(lambda u, _analytic: integrand(u), 0, 1)
    return value.real if value.imag.contains(0) else unbounded_ball()


def owens_t_ball(h, a):
    r"""Owen's $T(h, a) = \frac1{2\pi}\int_0^a \frac{e^{-h^2(1+x^2)/2}}{1+x^2}dx
    = \frac{a}{2\pi}\int_0^1 \frac{e^{-h^2(1+a^2u^2)/2}}{1+a^2u^2}du$ ($x = au$) on balls.

    The integrand in $u$ is meromorphic with poles at $u = \pm i/a$; for $|a| > 2$ the
    reflection $T(h, a) = \tfrac12\Phi(h) + \tfrac12\Phi(|a|h) - \Phi(h)\Phi(|a|h) - T(|a|h, 1/|a|)$
    (for $h \ge 0$; $T$ is even in $h$ and odd in $a$) keeps the poles at distance $\ge 1/2$."""
    h, a = abs(as_ball(h, "h")), as_ball(a, "a")
    if abs(a) > 2:
        sign = 1 if a > 0 else -1
        a = abs(a)
        ph, pah = _normal_cdf(h), _normal_cdf(a * h)
        return sign * (ph / 2 + pah / 2 - ph * pah - owens_t_ball(a * h, 1 / a))
    H2, A2 = flint.acb(h * h), flint.acb(a * a)

    def integrand(u):
        x2 = A2 * u * u
        return (-H2 * (1 + x2) / 2).exp() / (1 + x2)

    return a * _integral_01(integrand) / (2 * flint.arb.pi())


def _normal_cdf(x):
    r"""$\Phi(x) = (1 + \operatorname{erf}(x/\sqrt2))/2$ on a ball."""
    return (1 + (x / flint.arb(2).sqrt()).erf()) / 2


def bvn_ball(h, k, rho, q):
    r"""$\Phi_2(h, k; \rho)$ (``BivariateNormalCDF(h, k, rho, q)``, $q = \sqrt{1-\rho^2}$) on balls.

    Plackett's identity $\partial_\rho\Phi_2 = e^{-(h^2 - 2\rho hk + k^2)/(2(1-\rho^2))}/(2\pi\sqrt{1-\rho^2})$
    integrated from $\rho = 0$ (where $\Phi_2 = \Phi(h)\Phi(k)$) with $\rho = \sin\vartheta$,
    $\vartheta = \theta u$, $\theta = \operatorname{atan2}(\rho, q)$ $(= \arcsin\rho$ on $q^2 = 1 - \rho^2)$:

    .. math:: \Phi_2 = \Phi(h)\Phi(k) + \frac{\theta}{2\pi}\int_0^1
              \exp\Big(-\frac{h^2 - 2hk\sin\theta u + k^2}{2\cos^2\theta u}\Big)du.

    One formula for every sign of $h$, $k$ (no branch at $h = 0$ or $k = 0$, unlike Owen's
    reduction to $T$), so balls that straddle 0 are enclosed; near $|\rho| = 1$ the
    integrand is steep at $u = 1$ and the ball widens (or is not finite), never wrong.  At
    $q = 0$ exactly: $\min(\Phi(h), \Phi(k))$ for $\rho > 0$, $\max(0, \Phi(h) + \Phi(k) - 1)$ for $\rho < 0$."""
    h, k, rho, q = as_ball(h, "h"), as_ball(k, "k"), as_ball(rho, "rho"), as_ball(q, "q")
    if q.is_zero() and (rho > 0 or rho < 0):  # perfectly correlated: the integrand is 0/0 at u = 1
        ph, pk = _normal_cdf(h), _normal_cdf(k)
        return ph.min(pk) if rho > 0 else (ph + pk - 1).max(flint.arb(0))
    theta = flint.arb.atan2(rho, q)
    H, K, T = flint.acb(h), flint.acb(k), flint.acb(theta)
    squares, cross = H * H + K * K, 2 * H * K

    def integrand(u):
        v = T * u
        c = v.cos()
        return (-(squares - cross * v.sin()) / (2 * c * c)).exp()

    return _normal_cdf(h) * _normal_cdf(k) + theta * _integral_01(integrand) / (2 * flint.arb.pi())


class _ArbFunctions:
    """The names the ball printer emits, mapped to ``arb`` operations."""

    mpf = staticmethod(lambda v: flint.arb(v) if isinstance(v, int) else as_ball(v))

    @property
    def pi(self):  # evaluated at the precision current at the time of use
        return flint.arb.pi()

    @property
    def e(self):
        return flint.arb.const_e()

    atan2 = staticmethod(lambda y, x: flint.arb.atan2(as_ball(y), as_ball(x)))
    fabs = staticmethod(lambda x: abs(as_ball(x)))
    heaviside = staticmethod(_heaviside)
    sign = staticmethod(_sign)
    ipow = staticmethod(_integer_power)
    rpow = staticmethod(_real_power)
    max = staticmethod(_fold("max"))
    min = staticmethod(_fold("min"))
    owens_t = staticmethod(owens_t_ball)
    bvn = staticmethod(bvn_ball)

    def __getattr__(self, name):
        raise NoClosedFormError(f"function {name} has no ball-arithmetic (arb) form in symland")


#: one-argument functions whose ``arb`` method has the same name as mpmath's
_UNARY = ("sqrt", "exp", "log", "sin", "cos", "tan", "sinh", "cosh", "tanh", "asin", "acos", "atan",
          "erf", "erfc", "erfi")
for _name in _UNARY:
    setattr(_ArbFunctions, _name, staticmethod(lambda x, _name=_name: getattr(as_ball(x), _name)()))

#: the adapter compiled ball expressions call through the name ``mpmath``
ARB = _ArbFunctions()


class _BallPrinter(MpmathPrinter):
    """The fully qualified mpmath printer, with the switching functions sent to the rigorous adapter
    (the stock printer writes Python conditionals, which pick one branch for a straddling ball) and
    powers to :func:`_integer_power` (integer exponents), ``sqrt`` then an integer power (half-integer
    exponents), or the ``arb`` power (others)."""

    def _print_Pow(self, expr, rational=False):
        base, exp = expr.args
        if exp.is_Integer:
            return f"mpmath.ipow({self._print(base)}, {int(exp)})"
        if exp.is_Rational and exp.q == 2:
            return f"mpmath.ipow(mpmath.sqrt({self._print(base)}), {int(exp.p)})"
        return f"mpmath.rpow({self._print(base)}, {self._print(exp)})"

    def _print_Heaviside(self, expr):
        return f"mpmath.heaviside({', '.join(self._print(a) for a in expr.args)})"

    def _print_sign(self, expr):
        return f"mpmath.sign({self._print(expr.args[0])})"

    def _print_Max(self, expr):
        return f"mpmath.max({', '.join(self._print(a) for a in expr.args)})"

    def _print_Min(self, expr):
        return f"mpmath.min({', '.join(self._print(a) for a in expr.args)})"

    def _print_OwensT(self, expr):
        return f"mpmath.owens_t({', '.join(self._print(a) for a in expr.args)})"

    def _print_BivariateNormalCDF(self, expr):
        return f"mpmath.bvn({', '.join(self._print(a) for a in expr.args)})"

    def _print_Piecewise(self, expr):
        raise NoClosedFormError(f"{expr} branches on general conditions: a ball straddling a switching point "
                                "has no single branch, so symland does not evaluate Piecewise on balls")


_PRINTER_SETTINGS = {"fully_qualified_modules": True, "inline": True, "allow_unknown_functions": True}
#: SymPy functions whose arb form the adapter provides (Abs prints as Python's abs, valid on balls)
_SUPPORTED = ({name for name in vars(_ArbFunctions) if not name.startswith("_")}
              | {"Abs", "Heaviside", "Max", "Min", "OwensT", "BivariateNormalCDF"})


@functools.lru_cache(maxsize=None)
def lambdify_ball(args: tuple, expr: sympy.Expr):
    """A function of ``arb`` balls evaluating ``expr`` rigorously (see the module docstring)."""
    require_flint()
    if expr.has(sympy.Piecewise):
        _BallPrinter(_PRINTER_SETTINGS).doprint(expr.atoms(sympy.Piecewise).pop())  # raises, naming it
    unknown = sorted({type(f).__name__ for f in expr.atoms(sympy.Function)} - _SUPPORTED)
    if unknown:
        raise NoClosedFormError(f"{', '.join(unknown)}: no ball-arithmetic (arb) form in symland")
    return sympy.lambdify(args, expr, modules=[{"mpmath": ARB}], printer=_BallPrinter(_PRINTER_SETTINGS))


def check_ball(value, what: str):
    """``value`` if it is a finite ball, else :class:`~symland.errors.DomainError` naming ``what``."""
    if not is_ball(value):
        value = as_ball(value, what)
    if not value.is_finite():
        raise DomainError(f"{what}: the enclosure is not finite ({value}); the input balls reach a singular "
                          "point of the formula (e.g. D = 0 or a branch cut)")
    return value


def unbounded_ball():
    """The ball ``nan`` (not finite): the marker ball evaluators return where they refuse to enclose."""
    return flint.arb("nan")


def may_be_zero(x) -> bool:
    """True when ``x`` (a ball, or a float/mpf) is or may be 0."""
    return bool(x.contains(0)) if is_ball(x) else x == 0


def ball_array(x, name: str = "x", shape=None):
    """``x`` (array-like of anything :func:`as_ball` accepts, or one ``(mid, rad)`` pair per entry
    as a trailing axis of length 2 is *not* inferred: pass pairs as tuples in an object array) as a
    numpy object array of finite balls; :class:`~symland.errors.ShapeError` when the shape differs."""
    if isinstance(x, np.ndarray) and x.dtype == object:
        arr = x
    elif isinstance(x, (list, tuple)) and any(isinstance(v, tuple) for v in x):
        arr = np.empty(len(x), dtype=object)
        for k, v in enumerate(x):
            arr[k] = v
    else:
        arr = np.array(x, dtype=object)
    if shape is not None and arr.shape != tuple(shape):
        raise ShapeError(f"argument {name} must have shape {tuple(shape)}, got {arr.shape}")
    out = np.empty(arr.shape, dtype=object)
    flat_in, flat_out = arr.reshape(-1), out.reshape(-1)
    for k, v in enumerate(flat_in):
        b = as_ball(v, f"{name}[{k}]")
        if not b.is_finite():
            raise DomainError(f"argument {name} must be finite; entry {k} is {b}")
        flat_out[k] = b
    return out


class BallPrecision(Precision):
    """The ball member of the precision context: numpy object arrays of python-flint ``arb`` balls
    at ``dps + GUARD_DIGITS`` working digits.

    Same methods as :class:`~symland.numerics.precision.Precision` (``zeros``, ``num``, ``sqrt``,
    ``dot``, ``array``, ``finalize``, ``working``, ``boosted``, ``gram_determinant``); flags:
    ``mp = True`` (object arrays, scalar-by-scalar code paths), ``ball = True``, ``kind = "ball"``.
    Results are balls that contain the exact value for every point of the input balls;
    :meth:`finalize` leaves them as they are (a ball is never rounded to fewer digits: that would
    drop its guarantee).  ``with prec:`` holds the python-flint lock (:func:`ball_precision`).
    """

    ball = True
    kind = "ball"

    def __init__(self, dps: int = 50, guard: int = GUARD_DIGITS):
        require_flint()
        super().__init__(dps, guard)

    def __repr__(self):
        return f"BallPrecision(dps={self.dps})"

    def working(self, extra: int = 0):
        """A fresh context manager: the python-flint lock at ``dps + extra`` (+ guard) digits."""
        return ball_precision(self.dps + int(extra))

    def boosted(self, extra: int) -> "BallPrecision":
        return self if not extra else BallPrecision(self.dps + int(extra), self.guard)

    def zeros(self, shape):
        out = np.empty(shape, dtype=object)
        out.fill(flint.arb(0))
        return out

    def num(self, x):
        return as_ball(x)

    def sqrt(self, x):
        return as_ball(x).sqrt()

    def root(self, x, k):
        return as_ball(x).root(int(k))

    def dot(self, u, v):
        return sum((as_ball(p) * q for p, q in zip(u, v)), flint.arb(0))

    def array(self, x, name="x", shape=None):
        """Validated object array of finite balls (entries: float, int, mpf, decimal string,
        ``(mid, rad)`` tuple, ``arb``)."""
        return ball_array(x, name, shape)

    def finalize(self, x):
        return x

    @staticmethod
    def gram_determinant(a, b, c):
        r"""A ball containing $D = ab - c^2$ for every point of the balls, intersected with
        $[0, \infty)$ (valid because a covariance has $c^2 \le ab$; the caller has checked that)."""
        D = as_ball(a) * as_ball(b) - as_ball(c) * as_ball(c)
        if D < 0:
            raise DomainError("argument c: the covariance ball has c**2 > a*b everywhere (not positive semi-definite)")
        return D.nonnegative_part()
