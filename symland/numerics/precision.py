r"""The one precision context: float64, or mpmath at ``dps`` decimal digits.

Every numeric algorithm in symland is written once against a :class:`Precision`
(as mpmath writes its functions once for ``fp`` and ``mp``):

* ``Precision(None)`` (also :data:`FLOAT64`): numpy float64 arrays; floating-point
  warnings are silenced inside the context because every result is checked for
  finiteness by the caller and turned into a :class:`~symland.errors.DomainError`.
* ``Precision(dps)`` with ``dps >= 16``: numpy object arrays of ``mpmath.mpf``,
  evaluated at ``dps + GUARD_DIGITS`` working digits and rounded to ``dps`` digits by
  :meth:`Precision.finalize`.

The context owns

* the guard digits (:data:`GUARD_DIGITS`, one constant for the whole package);
* input coercion and validation (:meth:`Precision.array`: shape, finiteness, real numbers);
* rounding of results (:meth:`Precision.finalize`);
* the extra digits needed near alignment (:func:`alignment_digits`, one rule): a
  quantity that loses ``power * log10(ab / D)`` digits to cancellation as a pair of
  neurons aligns ($D = ab - c^2 \to 0$) is evaluated with that many more digits plus
  :data:`ALIGNMENT_GUARD` once $D / (ab)$ drops below :data:`ALIGNMENT_THRESHOLD`;
* the accurate Gram determinant $D = ab - c^2$ (error-free products in float64,
  doubled working precision in mpmath).

The third member, ball arithmetic, is :class:`symland.numerics.ball.BallPrecision` (a subclass
with the same methods on python-flint ``arb`` balls; it lives beside the optional python-flint
import).  Code that must tell the members apart reads ``prec.kind`` (``"float64"``,
``"mpmath"`` or ``"ball"``) or the flags ``prec.mp`` (object arrays) and ``prec.ball``.
The mpmath member sets the working precision of the calling thread's private mpmath context
(:data:`~symland.numerics.mpcontext.thread_mp`) for the duration of a ``with`` block; mpmath's
process-wide ``mpmath.mp`` is never read or written.
"""

from __future__ import annotations

import contextlib
import math
import numbers
import threading

import numpy as np

from ..errors import DomainError, PrecisionError, ShapeError
from .mpcontext import thread_mp, to_result

__all__ = [
    "GUARD_DIGITS",
    "MAX_DPS",
    "ALIGNMENT_THRESHOLD",
    "ALIGNMENT_GUARD",
    "Precision",
    "FLOAT64",
    "alignment_digits",
    "as_float_array",
    "as_mp_array",
    "check_dps",
    "zeros",
    "gram_determinant",
    "mp_gram_determinant",
    "exact_products",
    "mp_kernel_arguments",
    "check_covariance",
    "COVARIANCE_SLACK",
]

#: guard digits carried beyond the requested ``dps`` by every mpmath evaluation
GUARD_DIGITS = 15
#: largest ``dps`` accepted: a 10,000-digit loss of a small problem takes minutes; beyond that a
#: request is almost certainly a mistake (``dps=10**9`` would run for ever)
MAX_DPS = 10_000
#: D / (ab) below which a pair counts as near-aligned and extra digits are taken
ALIGNMENT_THRESHOLD = 1e-6
#: digits added on top of the estimated cancellation near alignment
ALIGNMENT_GUARD = 5

#: relative tolerance for accepting c**2 slightly above a*b as rounding error
COVARIANCE_SLACK = 64 * np.finfo(float).eps


def zeros(shape, mp: bool):
    """Zero array in float64, or a numpy object array of ``mpmath.mpf(0)`` when ``mp``."""
    if mp:
        out = np.empty(shape, dtype=object)
        out.fill(thread_mp.mpf(0))
        return out
    return np.zeros(shape)


def check_dps(dps) -> int:
    """Validate a requested number of decimal digits: an integer with ``16 <= dps <= MAX_DPS``."""
    if isinstance(dps, bool) or not isinstance(dps, numbers.Integral):
        raise PrecisionError(f"dps must be an integer number of decimal digits, got {dps!r}")
    dps = int(dps)
    if dps < 16:
        raise PrecisionError(
            f"dps={dps} is below float64 precision; use dps=None for float64 or dps >= 16"
        )
    if dps > MAX_DPS:
        raise PrecisionError(f"dps={dps} is above the supported maximum MAX_DPS={MAX_DPS}")
    return dps


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


def exact_products():
    """Context manager: mpmath at ``2 * prec + 20`` bits, so that a product of two numbers of the
    current precision is exact and a difference of products (a Gram determinant) is rounded once,
    when the caller rounds the result back with unary ``+`` outside the block."""
    return thread_mp.workprec(2 * thread_mp.prec + 20)


def mp_gram_determinant(a, b, c):
    """$D = ab - c^2$ for mpmath numbers, computed with doubled precision (exact)."""
    with exact_products():
        d = thread_mp.mpf(a) * b - thread_mp.mpf(c) * c
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
    vals = {nm: thread_mp.mpf(v) for nm, v in named.items()}
    for nm, v in vals.items():
        if not thread_mp.isfinite(v):
            raise DomainError(f"argument {nm} must be finite, got {v}")
    a, b, c = vals["a"], vals["b"], vals["c"]
    if a < 0 or b < 0:
        raise DomainError("arguments a and b are variances and must be >= 0")
    D = mp_gram_determinant(a, b, c)
    if D < 0:
        if D >= -COVARIANCE_SLACK * a * b:
            D = thread_mp.mpf(0)
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


def alignment_digits(ratio, power, threshold=ALIGNMENT_THRESHOLD) -> int:
    r"""Extra digits for a quantity that loses ``power`` $\cdot\log_{10}(ab/D)$ digits near alignment.

    ``ratio`` is $D/(ab)$ (float or mpmath number, or ``None`` when no pair qualifies).
    Returns ``ceil-ish(power * log10(1 / ratio)) + ALIGNMENT_GUARD`` when
    ``0 < ratio < threshold`` (default :data:`ALIGNMENT_THRESHOLD`; a caller whose float64
    errors are measured to need boosting earlier passes its own), else 0 (exactly aligned
    pairs, ``ratio == 0``, are the caller's to handle: as a limit, or as a clear error).

    The powers used in symland: $\tfrac12$ for the Hessian of a kinked kernel (second
    partials grow like $D^{-1/2}$ and cancel in the chain rule), $\tfrac32$ for the value
    of a kinked kernel near anti-alignment (it vanishes like $\theta^3$ while the safe form
    is a difference of $O(1)$ terms), $2$ for GLU pair terms up to order 4.
    """
    if ratio is None or not ratio > 0 or not ratio < threshold:
        return 0
    return int(-power * float(thread_mp.log10(ratio))) + ALIGNMENT_GUARD


def as_float_array(x, name, shape=None, ndim=None):
    """``x`` as a finite float64 array; ``ShapeError``/``DomainError`` naming ``name`` otherwise."""
    if np.iscomplexobj(x) or (isinstance(x, complex)):
        raise DomainError(f"argument {name} must be real; it has complex entries")
    try:
        arr = np.array(x, dtype=float)
    except (TypeError, ValueError):
        raise ShapeError(f"argument {name} must be a numeric array, got {type(x).__name__}") from None
    if ndim is not None and arr.ndim != ndim:
        raise ShapeError(f"argument {name} must be {ndim}-dimensional, got shape {arr.shape}")
    if shape is not None and arr.shape != tuple(shape):
        raise ShapeError(f"argument {name} must have shape {tuple(shape)}, got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise DomainError(f"argument {name} must be finite; it has NaN or inf entries")
    return arr


def as_mp_array(x, name, shape):
    """``x`` as an object array of finite ``mpmath.mpf`` at the current precision."""
    arr = np.array(x, dtype=object)
    if arr.shape != tuple(shape):
        raise ShapeError(f"argument {name} must have shape {tuple(shape)}, got {arr.shape}")
    flat = arr.reshape(-1)
    for k, v in enumerate(flat):
        try:
            flat[k] = thread_mp.mpf(v)
        except (TypeError, ValueError):
            raise DomainError(f"argument {name}: entry {k} ({v!r}) is not a real number") from None
        if not thread_mp.isfinite(flat[k]):
            raise DomainError(f"argument {name} must be finite; entry {k} is {flat[k]}")
    return flat.reshape(arr.shape)


class Precision:
    """Numeric context: float64 (``dps=None``) or mpmath at ``dps`` digits (+ guard digits).

    Use as ``with prec: ...`` (re-entrant, one stack per thread) to evaluate at the working
    precision; the arithmetic helpers work inside or outside such a block.
    """

    #: True only for the ball member (:class:`symland.numerics.ball.BallPrecision`)
    ball = False

    def __init__(self, dps=None, guard: int = GUARD_DIGITS):
        self.dps = None if dps is None else check_dps(dps)
        self.mp = self.dps is not None
        self.guard = int(guard)
        self._local = threading.local()

    def __repr__(self):
        return "Precision(float64)" if not self.mp else f"Precision(dps={self.dps})"

    @property
    def kind(self) -> str:
        """``"float64"`` or ``"mpmath"`` (``"ball"`` for the ball member)."""
        return "mpmath" if self.mp else "float64"

    # -- working precision ---------------------------------------------------
    @property
    def work_dps(self):
        """Digits used while evaluating: ``dps + guard`` (``None`` for float64)."""
        return None if not self.mp else self.dps + self.guard

    def working(self, extra: int = 0):
        """A fresh context manager: ``mpmath.workdps(dps + guard + extra)``, or silenced numpy errors."""
        if self.mp:
            return thread_mp.workdps(self.dps + self.guard + int(extra))
        return np.errstate(all="ignore")

    def __enter__(self):
        stack = self._local.__dict__.setdefault("stack", [])
        ctx = self.working()
        ctx.__enter__()
        stack.append(ctx)
        return self

    def __exit__(self, *exc):
        return self._local.stack.pop().__exit__(*exc)

    def boosted(self, extra: int) -> "Precision":
        """The same kind with ``extra`` more requested digits (float64 stays float64)."""
        return self if not self.mp or not extra else Precision(self.dps + int(extra), self.guard)

    # -- values ------------------------------------------------------------------
    def zeros(self, shape):
        return zeros(shape, self.mp)

    def num(self, x):
        """One number of this kind."""
        return thread_mp.mpf(x) if self.mp else float(x)

    def sqrt(self, x):
        return thread_mp.sqrt(x) if self.mp else math.sqrt(x)

    def root(self, x, k):
        return thread_mp.root(x, k) if self.mp else x ** (1.0 / k)

    def dot(self, u, v):
        return thread_mp.fsum(p * q for p, q in zip(u, v)) if self.mp else float(np.dot(u, v))

    def array(self, x, name="x", shape=None):
        """Validated array of this kind (float64, or object array of finite mpf)."""
        if self.mp:
            return as_mp_array(x, name, np.shape(x) if shape is None else shape)
        return as_float_array(x, name, shape=shape)

    def finalize(self, x):
        """Round to the requested ``dps`` (mpmath; scalars and arrays) or pass through (float64).

        Rounded numbers belong to :func:`~symland.numerics.mpcontext.result_context` ``(dps)``:
        arithmetic on them is done at ``dps`` digits, whatever thread does it and whatever
        ``mpmath.mp.dps`` is."""
        if not self.mp:
            return x
        return to_result(x, self.dps)


#: the float64 member of the context
FLOAT64 = Precision(None)


@contextlib.contextmanager
def no_context():
    """A context manager that does nothing (for code paths with no working precision to set)."""
    yield
