r"""Compile one SymPy expression into numeric kernels: float64 numpy and mpmath.

Kernel expressions are functions of the covariance entries $(a, b, c)$ of a
centred Gaussian pair and of the auxiliary symbol $D = ab - c^2$ (the Gram
determinant).  Writing a kernel in terms of $D$ instead of $ab - c^2$ is what
makes it numerically safe: near alignment ($c \to \sqrt{ab}$) the difference
$ab - c^2$ cancels catastrophically, while $D$ can be computed accurately from
the inputs (exact products in float64, extra guard bits in mpmath, residual
vectors from the weights in :mod:`symland.problems`).

Compilation is cached per expression; float64 code is produced by
``sympy.lambdify(..., modules=["scipy", "numpy"], cse=True)``, mpmath code by
``lambdify(..., modules="mpmath")``, which prints ``Rational(p, q)`` as
``mpf(p)/mpf(q)`` and ``pi`` as ``mpmath.pi``: constants stay exact until
they are evaluated at the working precision.
"""

from __future__ import annotations

import functools
import numbers

import mpmath
import numpy as np
import sympy

from .errors import DomainError, PrecisionError

__all__ = [
    "KERNEL_ARGS",
    "compile_numpy",
    "compile_mpmath",
    "check_dps",
    "zeros",
    "gram_determinant",
    "mp_gram_determinant",
    "check_covariance",
]

#: symbols every kernel expression may depend on: variances a, b, covariance c,
#: and D = a*b - c**2 (kept as an independent symbol in safe forms).
a_, b_, c_ = sympy.symbols("a b c", real=True)
D_ = sympy.Symbol("D", nonnegative=True)
t_ = sympy.Symbol("t", nonnegative=True)
KERNEL_ARGS = (a_, b_, c_, D_)

#: relative tolerance for accepting c**2 slightly above a*b as rounding error
COVARIANCE_SLACK = 64 * np.finfo(float).eps


def zeros(shape, mp: bool):
    """Zero array in float64, or a numpy object array of ``mpmath.mpf(0)`` when ``mp``."""
    if mp:
        out = np.empty(shape, dtype=object)
        out.fill(mpmath.mpf(0))
        return out
    return np.zeros(shape)


def check_dps(dps) -> int:
    """Validate a requested number of decimal digits (``None`` means float64)."""
    if isinstance(dps, bool) or not isinstance(dps, numbers.Integral):
        raise PrecisionError(f"dps must be an integer number of decimal digits, got {dps!r}")
    dps = int(dps)
    if dps < 16:
        raise PrecisionError(
            f"dps={dps} is below float64 precision; use dps=None for float64 or dps >= 16"
        )
    return dps


@functools.lru_cache(maxsize=None)
def compile_numpy(expr: sympy.Expr, args: tuple = KERNEL_ARGS):
    """Float64 numpy function of ``args`` evaluating ``expr`` (vectorised)."""
    return sympy.lambdify(args, expr, modules=["scipy", "numpy"], cse=True)


@functools.lru_cache(maxsize=None)
def compile_mpmath(expr: sympy.Expr, args: tuple = KERNEL_ARGS):
    """mpmath function of ``args`` evaluating ``expr`` at the current ``mp.dps``."""
    return sympy.lambdify(args, expr, modules="mpmath", cse=True)


def _two_product(x, y):
    """Error-free product: ``x*y == p + e`` exactly (Dekker/Veltkamp split)."""
    p = x * y
    split = 134217729.0  # 2**27 + 1
    xs = split * x
    xh = xs - (xs - x)
    xl = x - xh
    ys = split * y
    yh = ys - (ys - y)
    yl = y - yh
    e = ((xh * yh - p) + xh * yl + xl * yh) + xl * yl
    return p, e


def gram_determinant(a, b, c):
    r"""$D = ab - c^2$ in float64, accurate even when $c^2 \approx ab$.

    Both products are split into an exact high and low part (Dekker), so the
    only rounding is in the final sums: the relative error of $D$ is a few ulps
    of $ab$ divided by $D$ at worst only through that last rounding.
    """
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    c = np.asarray(c, dtype=float)
    p1, e1 = _two_product(a, b)
    p2, e2 = _two_product(c, c)
    return (p1 - p2) + (e1 - e2)


def mp_gram_determinant(a, b, c):
    """$D = ab - c^2$ for mpmath numbers, computed with doubled precision (exact)."""
    with mpmath.workprec(2 * mpmath.mp.prec + 20):
        d = mpmath.mpf(a) * b - mpmath.mpf(c) * c
    return +d


def mp_kernel_arguments(a, b, c, **means):
    r"""Validated scalar kernel arguments as mpmath numbers at the current precision.

    Returns ``(a, b, c, D, *means)`` with $D = ab - c^2$ from :func:`mp_gram_determinant`.
    Rules (each violation raises :class:`~symland.errors.DomainError` naming the argument):
    every argument a scalar and finite; ``a, b >= 0`` (variances); ``c**2 <= a*b`` (positive
    semi-definite), where ``D`` within ``COVARIANCE_SLACK * a * b`` below 0 is rounding and
    clipped to 0.
    """
    named = {"a": a, "b": b, "c": c, **means}
    for nm, v in named.items():
        if np.ndim(v) != 0:
            raise DomainError(f"argument {nm} must be a scalar when dps is given")
    vals = {nm: mpmath.mpf(v) for nm, v in named.items()}
    for nm, v in vals.items():
        if not mpmath.isfinite(v):
            raise DomainError(f"argument {nm} must be finite, got {v}")
    a, b, c = vals["a"], vals["b"], vals["c"]
    if a < 0 or b < 0:
        raise DomainError("arguments a and b are variances and must be >= 0")
    D = mp_gram_determinant(a, b, c)
    if D < 0:
        if D >= -COVARIANCE_SLACK * a * b:
            D = mpmath.mpf(0)
        else:
            raise DomainError("argument c: covariance must satisfy c**2 <= a*b (positive semi-definite)")
    return (a, b, c, D, *(vals[nm] for nm in means))


def check_covariance(a, b, c, D, name="c"):
    """Reject impossible covariances; clip rounding-level negative ``D`` to 0.

    Rules: ``a >= 0``, ``b >= 0`` (variances), ``c**2 <= a*b`` (Cauchy-Schwarz),
    all finite.  Returns the clipped ``D``.
    """
    arrs = {"a": a, "b": b, "c": c}
    for nm, v in arrs.items():
        v = np.asarray(v, dtype=float)
        if not np.all(np.isfinite(v)):
            raise DomainError(f"argument {nm} must be finite, got non-finite entries")
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    if np.any(a < 0):
        raise DomainError("argument a is a variance and must be >= 0")
    if np.any(b < 0):
        raise DomainError("argument b is a variance and must be >= 0")
    D = np.asarray(D, dtype=float)
    bad = D < -COVARIANCE_SLACK * a * b
    if np.any(bad):
        raise DomainError(
            f"argument {name}: covariance must satisfy c**2 <= a*b (positive semi-definite); "
            f"violated by {int(np.count_nonzero(bad))} entr{'y' if np.count_nonzero(bad) == 1 else 'ies'}"
        )
    return np.maximum(D, 0.0)
