r"""Numeric evaluation of an activation's dual kernel, its Price partials and its diagonal.

For a centred Gaussian pair with covariance $[[a, c], [c, b]]$ and $D = ab - c^2$:

* :func:`kernel` $\kappa(a, b, c, \mu_1, \mu_2) = E[s(u)s(v)]$ (with means: neurons with
  biases, :func:`symland.kernels.means.kernel_with_means`);
* :func:`kernel_partial` $\partial_a^i\partial_b^j\partial_c^l\kappa = 2^{-i-j}E[s^{(2i+l)}(u)s^{(2j+l)}(v)]$
  (Price), :func:`expectation` $E[s^{(p)}(u)s^{(q)}(v)]$;
* :func:`diagonal` $\varphi^{(m)}(t)$, $\varphi(t) = \kappa(t, t, t) = E[s(u)^2]$, $u \sim N(0, t)$.

Each in float64 (``dps=None``, numpy broadcasting) or as one mpmath number with ``dps``
correct digits, evaluated in a :class:`~symland.numerics.precision.Precision` context
(guard digits, and more near alignment where the safe form cancels).  The path: the
compiled safe closed form (:mod:`symland.kernels.partials`), else the 1-D reduction of a
kinked activation with a mean function (SELU, :mod:`symland.kernels.cross`), else 2-D
quadrature split at the kinks by parts (:mod:`symland.kernels.fallback`), else quadrature of
classical derivatives (:mod:`symland.kernels.quadrature`).  :func:`partial_evaluator` and
:func:`diagonal_evaluator` are the array functions behind them, for problem classes that
assemble losses over many neuron pairs.
"""

from __future__ import annotations

import functools

import numpy as np

from . import fallback
from .activation import Activation
from .cross import cross_partial_evaluator
from .means import kernel_with_means
from .partials import check_index, diagonal_expr, expectation_index, kernel_partial_expr, singular_at_alignment
from .quadrature import derivative_function, expect1_float, expect1_mp, expect2_float, expect2_mp
from .registry import activation
from ..errors import DomainError
from ..numerics.compile import compile_mpmath, compile_numpy
from ..numerics.precision import Precision, alignment_digits, check_covariance, gram_determinant, mp_kernel_arguments
from ..numerics.symbols import t_
from ..numerics.mpcontext import thread_mp

__all__ = [
    "kernel",
    "kernel_partial",
    "expectation",
    "diagonal",
    "partial_evaluator",
    "diagonal_evaluator",
]


def _nan_on_pole(f):
    """mpmath raises on 1/0 where numpy returns inf: map poles to NaN so callers' finiteness checks see them."""

    def g(*args):
        try:
            return f(*args)
        except ZeroDivisionError:
            return thread_mp.mpf("nan")

    return g


@functools.lru_cache(maxsize=None)
def partial_evaluator(act: Activation, index, mp: bool, raw: bool = False):
    r"""Function ``(a, b, c, D) -> partial`` on arrays.

    Float64 (``mp=False``): numpy arrays (with ``raw=True`` the compiled
    function itself, which may return a scalar for constant partials or an
    input array unchanged).  mpmath (``mp=True``): numpy object
    arrays of ``mpf`` evaluated at the current ``thread_mp.dps``.
    """
    i, j, l = check_index(index)
    if act.has_closed_form:
        expr = kernel_partial_expr(act, (i, j, l))
        if not mp:
            f = compile_numpy(expr)
            if raw:  # the caller broadcasts constants and copies results aliasing an input
                return f
            return lambda a, b, c, D: np.asarray(f(a, b, c, D) * np.ones(np.shape(a)), dtype=float)
        fv = np.frompyfunc(_nan_on_pole(compile_mpmath(expr)), 4, 1)
        return lambda a, b, c, D: fv(a, b, c, D)
    if fallback.reducible(act):  # kinked, with a closed-form mean function (SELU): 1-D reduction
        return cross_partial_evaluator(act, act, (i, j, l), mp)
    if fallback.nonsmooth(act):  # other kinked activations: 2-D quadrature split at the kinks, by parts
        ev = fallback.kinked_quadrature_evaluator(act, act, (i, j, l, 0, 0), mp)
        return lambda a, b, c, D: ev(a, b, c, D, 0, 0)
    p, q = 2 * i + l, 2 * j + l
    scale = 0.5 ** (i + j)
    what = f"activation {act.name!r}"
    f, g = derivative_function(act.expr, p, mp, what), derivative_function(act.expr, q, mp, what)
    if not mp:
        return lambda a, b, c, D: scale * expect2_float(f, g, a, b, c, D)

    def one(a, b, c, D):
        return expect2_mp(f, g, a, b, c, D, thread_mp.dps) / 2 ** (i + j)

    fv = np.frompyfunc(one, 4, 1)
    return lambda a, b, c, D: fv(a, b, c, D)


def variance_function_evaluator(expr, mp: bool):
    r"""Array function ``t -> expr(t)`` of a closed form in the variance symbol ``t``.

    float64: numpy-vectorised, broadcast to the shape of ``t``; mpmath: elementwise at the
    current precision, with a pole (``ZeroDivisionError``) mapped to NaN for the caller's
    finiteness check.
    """
    if not mp:
        f = compile_numpy(expr, (t_,))
        return lambda t: np.asarray(f(t) * np.ones(np.shape(t)), dtype=float)
    fv = np.frompyfunc(_nan_on_pole(compile_mpmath(expr, (t_,))), 1, 1)
    return lambda t: fv(t)


def heat_evaluator(h_expr, order: int, mp: bool, what: str):
    r"""Array function ``t -> E[h^{(order)}(u)]``, $u \sim N(0, t)$, by 1-D Gauss quadrature.

    With $h = g/2^m$ and ``order`` $= 2m$ this is $\tfrac{d^m}{dt^m}E[g(u)]$ (heat equation:
    $\partial_t E[g(u)] = \tfrac12 E[g''(u)]$).  ``h_expr`` must have classical derivatives
    (:func:`~symland.kernels.quadrature.derivative_function` raises otherwise, naming ``what``).
    """
    h = derivative_function(h_expr, order, mp, what)
    if not mp:
        return lambda t: expect1_float(h, t)
    fv = np.frompyfunc(lambda t: expect1_mp(h, t, thread_mp.dps), 1, 1)
    return lambda t: fv(t)


@functools.lru_cache(maxsize=None)
def diagonal_evaluator(act: Activation, m: int, mp: bool):
    r"""Function ``t -> phi^(m)(t)`` on arrays, $\varphi(t) = \kappa(t, t, t) = E[s(u)^2]$.

    Closed form where the kernel has one; kinked activations by parts (split at the kinks);
    otherwise $\varphi^{(m)}(t) = E[(s^2/2^m)^{(2m)}(u)]$ by quadrature (heat equation).
    """
    if act.has_closed_form:
        return variance_function_evaluator(diagonal_expr(act, m), mp)
    if fallback.nonsmooth(act):  # kinks and jumps: by parts, split at the kinks
        return fallback.kinked_diagonal_evaluator(act, m, mp)
    return heat_evaluator(act.expr**2 / 2**m, 2 * m, mp, f"the diagonal of activation {act.name!r}")


# ---------------------------------------------------------------------------
# user-facing evaluation with input validation
# ---------------------------------------------------------------------------
def _nonfinite_error(act, what, a, b, c):
    return DomainError(
        f"{what} of activation {act.name!r} is not finite at a={a}, b={b}, c={c}: the kernel "
        "derivative is singular there (zero variance, or c**2 = a*b for a non-smooth activation)"
    )


def _zero_variance_error(act, what):
    return DomainError(
        f"{what} of activation {act.name!r} is undefined at zero variance (a = 0 or b = 0): "
        "the derivative of a non-smooth activation at 0 has no value"
    )


def kernel_partial(act, index, a, b, c, dps=None):
    r"""Evaluate $\partial_a^i\partial_b^j\partial_c^l\kappa(a, b, c)$.

    ``dps=None``: float64, numpy broadcasting over ``a, b, c``.
    ``dps=N``: scalar mpmath number with ``N`` correct digits (guard digits
    are used internally, more near $c^2 = ab$ for non-smooth activations;
    ``N >= 16``).  Float inputs with $c^2$ above $ab$ by rounding only are
    clipped to $c^2 = ab$ in both precisions.
    """
    act = activation(act)
    index = check_index(index)
    what = "kernel" if index == (0, 0, 0) else f"kernel partial {index}"
    nonsmooth = singular_at_alignment(act)
    if dps is None:
        a, b, c = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (a, b, c)))
        D = check_covariance(a, b, c, gram_determinant(a, b, c))
        if nonsmooth and index != (0, 0, 0) and np.any((a == 0) | (b == 0)):
            raise _zero_variance_error(act, what)
        with np.errstate(all="ignore"):
            out = np.array(partial_evaluator(act, index, False)(a, b, c, D), dtype=float)
        if not np.all(np.isfinite(out)):
            k = np.flatnonzero(~np.isfinite(out))[0]
            raise _nonfinite_error(act, what, a.flat[k], b.flat[k], c.flat[k])
        if nonsmooth:
            # near anti-alignment the value vanishes like theta^3 while the safe form subtracts
            # O(1) terms: recompute those (rare) entries in mpmath and round
            near = (c < 0) & (D < 0.1 * a * b) & (a > 0) & (b > 0)
            for k in np.flatnonzero(near):
                out.flat[k] = float(kernel_partial(act, index, a.flat[k], b.flat[k], c.flat[k], dps=20))
        return out if out.shape else float(out)
    prec = Precision(dps)
    with prec:
        a, b, c, D = mp_kernel_arguments(a, b, c)  # rounding-level D < 0 clipped as in float64
        if nonsmooth and index != (0, 0, 0) and (a == 0 or b == 0):
            raise _zero_variance_error(act, what)
        # kernels of non-smooth activations vanish like theta^3 as c -> -sqrt(ab) (theta^2 ~ D/ab)
        # while their safe form is a difference of O(1) terms: 3/2 log10(ab/D) more digits
        extra = alignment_digits(D / (a * b) if a * b > 0 else None, 1.5) if nonsmooth else 0
    with prec.working(extra):
        val = partial_evaluator(act, index, True)(
            np.array(a, dtype=object), np.array(b, dtype=object), np.array(c, dtype=object), np.array(D, dtype=object)
        )
        val = val.item() if isinstance(val, np.ndarray) else val
        val = thread_mp.mpmathify(val)
        if not thread_mp.isfinite(val):
            raise _nonfinite_error(act, what, a, b, c)
    return prec.finalize(val)


def expectation(act, p: int, q: int, a, b, c, dps=None):
    r"""$E[s^{(p)}(u)\,s^{(q)}(v)]$ ($p + q$ even) in float64 or at ``dps`` digits."""
    index, factor = expectation_index(p, q)
    val = kernel_partial(act, index, a, b, c, dps=dps)
    if dps is None:
        return val * int(factor)
    with thread_mp.workdps(dps):
        return val * int(factor)


def diagonal(act, m, t, dps=None):
    r"""$\varphi^{(m)}(t)$, $\varphi(t) = E[s(u)^2]$ with $u \sim N(0, t)$."""
    act = activation(act)
    if dps is None:
        t = np.asarray(t, dtype=float)
        if not np.all(np.isfinite(t)) or np.any(t < 0):
            raise DomainError("argument t is a variance and must be finite and >= 0")
        with np.errstate(all="ignore"):
            out = diagonal_evaluator(act, int(m), False)(t)
        if not np.all(np.isfinite(out)):
            raise DomainError(f"phi^({m}) of activation {act.name!r} is not finite at some t (t = 0?)")
        return out if out.shape else float(out)
    prec = Precision(dps)
    with prec:
        t = thread_mp.mpf(t)
        if not thread_mp.isfinite(t) or t < 0:
            raise DomainError("argument t is a variance and must be finite and >= 0")
        val = diagonal_evaluator(act, int(m), True)(np.array(t, dtype=object))
        val = thread_mp.mpmathify(val.item() if isinstance(val, np.ndarray) else val)
        if not thread_mp.isfinite(val):
            raise DomainError(f"phi^({m}) of activation {act.name!r} is not finite at t={t}")
    return prec.finalize(val)


def _all_zero(mu) -> bool:
    """True when a mean argument is (an array of) exact zeros; non-numeric input is left to the kernel."""
    try:
        return bool(np.all(np.asarray(mu, dtype=object) == 0))
    except (TypeError, ValueError):
        return False


def kernel(act, a, b, c, mu1=0.0, mu2=0.0, dps=None):
    r"""$\kappa(a, b, c, \mu_1, \mu_2) = E[s(u)s(v)]$, means $(\mu_1, \mu_2)$ (default 0).

    ``act`` is a registered name or an :class:`~symland.kernels.activation.Activation`.
    ``dps=None``: numpy-vectorised float64 (broadcasting ``a, b, c`` and the means).
    ``dps=N``: one mpmath number at ``N`` decimal digits (scalars only).
    Zero means use the centred kernel (:func:`kernel_partial` at index ``(0, 0, 0)``); nonzero
    means (neurons with biases, $s(w\cdot x + \beta)$) use
    :func:`symland.kernels.means.kernel_with_means` (closed form where one exists,
    quadrature otherwise).  Raises :class:`~symland.errors.DomainError` for negative
    variances, non-finite input or ``c**2 > a*b``.
    """
    act = activation(act)
    if _all_zero(mu1) and _all_zero(mu2):
        return kernel_partial(act, (0, 0, 0), a, b, c, dps=dps)
    return kernel_with_means(act, a, b, c, mu1, mu2, dps=dps)
