r"""Gaussian calculus: partial derivatives of the dual kernel, by Price's theorem.

For a centred Gaussian pair with covariance $[[a, c], [c, b]]$ and
$\kappa(a, b, c) = E[s(u)s(v)]$, Price's theorem gives

.. math:: \partial_a^i \partial_b^j \partial_c^l \kappa
          = 2^{-i-j}\, E\!\left[s^{(2i+l)}(u)\, s^{(2j+l)}(v)\right],

so every expectation $E[s^{(p)}(u)s^{(q)}(v)]$ with $p + q$ even is a partial
derivative of $\kappa$ (for $p \ge q$: $2^{(p-q)/2}\partial_a^{(p-q)/2}\partial_c^q\kappa$).
Gradients, Hessians and GLU terms of the teacher-student loss are built from
these partials only.

Partials are derived from the numerically safe kernel in $(a, b, c, D)$ with
the total-derivative operators
$\partial_a + b\,\partial_D$, $\partial_b + a\,\partial_D$,
$\partial_c - 2c\,\partial_D$ (because $D = ab - c^2$), simplified once and
cached per activation and multi-index.  For activations without a closed form
the same partials come from quadrature of the symbolic derivatives of $s$.

The diagonal $\varphi(t) = \kappa(t, t, t) = E[s(u)^2]$, $u \sim N(0, t)$, is
kept separately: it is smooth even where the partials of $\kappa$ are singular
at $c^2 = ab$ (ReLU), and $\varphi^{(m)}(t) = 2^{-m} E[(s^2)^{(2m)}(u)]$.
"""

from __future__ import annotations

import functools
import operator

import mpmath
import numpy as np
import sympy

from . import quadrature
from ..numerics.symbols import NONSMOOTH, z
from .activation import Activation, activation
from ..numerics.symbols import (
    D_,
    a_,
    b_,
    c_,
    t_,
)
from ..numerics.precision import (
    check_covariance,
    check_dps,
    gram_determinant,
    mp_kernel_arguments,
)
from ..numerics.compile import (
    compile_mpmath,
    compile_numpy,
)
from ..errors import DomainError, NoClosedFormError

__all__ = [
    "MAX_ORDER",
    "kernel_partial_expr",
    "exact_partial_expr",
    "expectation_expr",
    "diagonal_expr",
    "kernel_partial",
    "expectation",
    "diagonal",
    "partial_evaluator",
    "diagonal_evaluator",
]

#: highest total order of kernel partials (i + j + l) symland derives
MAX_ORDER = 4


def _check_index(index):
    try:
        i, j, l = (operator.index(v) for v in index)
    except (TypeError, ValueError):
        raise ValueError(f"index must be a triple (i, j, l) of non-negative integers, got {index!r}") from None
    if min(i, j, l) < 0:
        raise ValueError(f"index must be non-negative, got {index!r}")
    if i + j + l > MAX_ORDER:
        raise ValueError(f"index {index!r} has total order {i + j + l} > {MAX_ORDER} (MAX_ORDER)")
    return i, j, l


def _simplify(expr):
    # factor(together(.)) keeps the forms compact and free of cancellation in D
    # (an order of magnitude faster than simplify on the order-4 erf partials)
    return sympy.factor(sympy.together(expr))


_TOTAL = {
    "a": lambda e: sympy.diff(e, a_) + b_ * sympy.diff(e, D_),
    "b": lambda e: sympy.diff(e, b_) + a_ * sympy.diff(e, D_),
    "c": lambda e: sympy.diff(e, c_) - 2 * c_ * sympy.diff(e, D_),
}


@functools.lru_cache(maxsize=None)
def _partial_expr_cached(act: Activation, index):
    i, j, l = index
    if index == (0, 0, 0):
        return act.safe_kernel_expr
    if l:
        prev, op = (i, j, l - 1), "c"
    elif i:
        prev, op = (i - 1, j, l), "a"
    else:
        prev, op = (i, j - 1, l), "b"
    return _simplify(_TOTAL[op](_partial_expr_cached(act, prev)))


def _require_closed_form(act):
    if not act.has_closed_form:
        raise NoClosedFormError(
            f"activation {act.name!r} has no closed-form kernel; it is evaluated by quadrature"
        )


def kernel_partial_expr(act, index) -> sympy.Expr:
    r"""Safe form of $\partial_a^i\partial_b^j\partial_c^l\kappa$ in ``a, b, c, D``."""
    act = activation(act)
    _require_closed_form(act)
    return _partial_expr_cached(act, _check_index(index))


@functools.lru_cache(maxsize=None)
def _exact_partial_cached(act, index):
    i, j, l = index
    return sympy.diff(act.kernel_expr, a_, i, b_, j, c_, l)


def exact_partial_expr(act, index) -> sympy.Expr:
    r"""$\partial_a^i\partial_b^j\partial_c^l\kappa$ differentiated from the exact kernel in ``a, b, c``."""
    act = activation(act)
    _require_closed_form(act)
    return _exact_partial_cached(act, _check_index(index))


def _pq_to_index(p, q):
    p, q = int(p), int(q)
    if p < 0 or q < 0:
        raise ValueError(f"derivative orders must be non-negative, got p={p}, q={q}")
    if (p + q) % 2:
        raise ValueError(
            f"E[s^(p)(u) s^(q)(v)] is a kernel partial only for p + q even, got p={p}, q={q}"
        )
    if p >= q:
        return ((p - q) // 2, 0, q), sympy.Integer(2) ** ((p - q) // 2)
    return (0, (q - p) // 2, p), sympy.Integer(2) ** ((q - p) // 2)


def expectation_expr(act, p: int, q: int, safe: bool = False) -> sympy.Expr:
    r"""$E[s^{(p)}(u)\,s^{(q)}(v)]$ in closed form ($p + q$ even, $p + q \le 4$ per side rule).

    Exact expression in ``a, b, c`` (or the safe form in ``a, b, c, D`` when
    ``safe=True``).
    """
    index, factor = _pq_to_index(p, q)
    if safe:
        return factor * kernel_partial_expr(act, index)
    return factor * exact_partial_expr(act, index)


@functools.lru_cache(maxsize=None)
def _diagonal_cached(act, m):
    if m == 0:
        tp = sympy.Symbol("t", positive=True)
        e = act.safe_kernel_expr.subs({a_: tp, b_: tp, c_: tp, D_: 0})
        return _simplify(e).subs(tp, t_)
    return _simplify(sympy.diff(_diagonal_cached(act, m - 1), t_))


def diagonal_expr(act, m: int = 0) -> sympy.Expr:
    r"""$\varphi^{(m)}(t)$ with $\varphi(t) = \kappa(t, t, t) = E[s(u)^2]$, $u \sim N(0, t)$."""
    act = activation(act)
    _require_closed_form(act)
    if not 0 <= int(m) <= MAX_ORDER:
        raise ValueError(f"m must be in 0..{MAX_ORDER}, got {m!r}")
    return _diagonal_cached(act, int(m))


# ---------------------------------------------------------------------------
# numeric evaluators (used by problems.py; precision context set by the caller)
# ---------------------------------------------------------------------------
@functools.lru_cache(maxsize=None)
def _derivative_function(act, order, backend):
    expr = act.derivative_expr(order)
    if expr.has(*NONSMOOTH):
        raise NoClosedFormError(
            f"activation {act.name!r}: the derivative of order {order} is not a smooth function "
            f"({expr}); quadrature needs classical derivatives, so register a closed-form kernel"
        )
    if backend == "numpy":
        return sympy.lambdify(z, expr, modules=["scipy", "numpy"])
    return sympy.lambdify(z, expr, modules="mpmath")


@functools.lru_cache(maxsize=None)
def _diag_quad_function(act, m, backend):
    expr = sympy.diff(act.expr**2, z, 2 * m) / 2**m
    if backend == "numpy":
        return sympy.lambdify(z, expr, modules=["scipy", "numpy"])
    return sympy.lambdify(z, expr, modules="mpmath")


@functools.lru_cache(maxsize=None)
def singular_at_alignment(act: Activation) -> bool:
    r"""True when second kernel partials blow up as $D = ab - c^2 \to 0$ (e.g. ReLU).

    Decided symbolically: $\partial_c^2\kappa$ at $D = 0$ and generic positive
    $a, b, c$ is not a finite number.  Quadrature activations are smooth and
    return False.
    """
    if not act.has_closed_form:
        return False
    e = _partial_expr_cached(act, (0, 0, 2)).subs(
        {a_: sympy.Rational(7, 5), b_: sympy.Rational(9, 7), c_: sympy.Rational(3, 4)})
    with np.errstate(all="ignore"):
        val = e.subs(D_, 0)
    return bool(val.has(sympy.zoo, sympy.oo, -sympy.oo, sympy.nan) or val.is_finite is False)


def _nan_on_pole(f):
    """mpmath raises on 1/0 where numpy returns inf: map poles to NaN so callers' finiteness checks see them."""

    def g(*args):
        try:
            return f(*args)
        except ZeroDivisionError:
            return mpmath.mpf("nan")

    return g


@functools.lru_cache(maxsize=None)
def partial_evaluator(act: Activation, index, mp: bool, raw: bool = False):
    r"""Function ``(a, b, c, D) -> partial`` on arrays.

    Float64 (``mp=False``): numpy arrays (with ``raw=True`` the compiled
    function itself, which may return a scalar for constant partials or an
    input array unchanged).  mpmath (``mp=True``): numpy object
    arrays of ``mpf`` evaluated at the current ``mpmath.mp.dps``.
    """
    i, j, l = _check_index(index)
    if act.has_closed_form:
        expr = _partial_expr_cached(act, (i, j, l))
        if not mp:
            f = compile_numpy(expr)
            if raw:  # the caller broadcasts constants and copies results aliasing an input
                return f
            return lambda a, b, c, D: np.asarray(f(a, b, c, D) * np.ones(np.shape(a)), dtype=float)
        fv = np.frompyfunc(_nan_on_pole(compile_mpmath(expr)), 4, 1)
        return lambda a, b, c, D: fv(a, b, c, D)
    from . import cross as mixed  # kinked activations with a closed-form mean function (SELU): 1-D reduction

    if mixed.reducible(act):
        return mixed.cross_partial_evaluator(act, act, (i, j, l), mp)
    if mixed.nonsmooth(act):  # other kinked activations: 2-D quadrature split at the kinks, by parts
        ev = mixed.kinked_quadrature_evaluator(act, act, (i, j, l, 0, 0), mp)
        return lambda a, b, c, D: ev(a, b, c, D, 0, 0)
    p, q = 2 * i + l, 2 * j + l
    scale = 0.5 ** (i + j)
    if not mp:
        f, g = _derivative_function(act, p, "numpy"), _derivative_function(act, q, "numpy")
        return lambda a, b, c, D: scale * quadrature.expect2_float(f, g, a, b, c, D)
    f, g = _derivative_function(act, p, "mpmath"), _derivative_function(act, q, "mpmath")

    def one(a, b, c, D):
        return quadrature.expect2_mp(f, g, a, b, c, D, mpmath.mp.dps) / 2 ** (i + j)

    fv = np.frompyfunc(one, 4, 1)
    return lambda a, b, c, D: fv(a, b, c, D)


@functools.lru_cache(maxsize=None)
def diagonal_evaluator(act: Activation, m: int, mp: bool):
    r"""Function ``t -> phi^(m)(t)`` on arrays (see :func:`partial_evaluator`)."""
    if act.has_closed_form:
        expr = diagonal_expr(act, m)
        if not mp:
            f = compile_numpy(expr, (t_,))
            return lambda t: np.asarray(f(t) * np.ones(np.shape(t)), dtype=float)
        fv = np.frompyfunc(_nan_on_pole(compile_mpmath(expr, (t_,))), 1, 1)
        return lambda t: fv(t)
    from . import cross as mixed

    if mixed.nonsmooth(act):  # kinks and jumps: by parts, split at the kinks
        return mixed.diagonal_evaluator(act, m, mp)
    if not mp:
        h = _diag_quad_function(act, m, "numpy")
        return lambda t: quadrature.expect1_float(h, t)
    h = _diag_quad_function(act, m, "mpmath")
    fv = np.frompyfunc(lambda t: quadrature.expect1_mp(h, t, mpmath.mp.dps), 1, 1)
    return lambda t: fv(t)


# ---------------------------------------------------------------------------
# user-facing evaluation with input validation
# ---------------------------------------------------------------------------
_GUARD = 10


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


def _cancellation_digits(a, b, D):
    r"""Extra digits for near-(anti)aligned covariances: $\tfrac32\log_{10}(ab/D)$.

    Kernels of non-smooth activations vanish like $\theta^3$ as
    $c \to -\sqrt{ab}$ ($\theta^2 \approx D/ab$) while their safe form is a
    difference of $O(1)$ terms.
    """
    if a > 0 and b > 0 and D < mpmath.mpf("1e-6") * a * b:
        if D == 0:
            return 0
        return int(-1.5 * mpmath.log10(D / (a * b))) + 5
    return 0


def kernel_partial(act, index, a, b, c, dps=None):
    r"""Evaluate $\partial_a^i\partial_b^j\partial_c^l\kappa(a, b, c)$.

    ``dps=None``: float64, numpy broadcasting over ``a, b, c``.
    ``dps=N``: scalar mpmath number with ``N`` correct digits (guard digits
    are used internally, more near $c^2 = ab$ for non-smooth activations;
    ``N >= 16``).  Float inputs with $c^2$ above $ab$ by rounding only are
    clipped to $c^2 = ab$ in both precisions.
    """
    act = activation(act)
    index = _check_index(index)
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
    dps = check_dps(dps)
    with mpmath.workdps(dps + _GUARD):
        a, b, c, D = mp_kernel_arguments(a, b, c)  # rounding-level D < 0 clipped as in float64
        if nonsmooth and index != (0, 0, 0) and (a == 0 or b == 0):
            raise _zero_variance_error(act, what)
        extra = _cancellation_digits(a, b, D) if nonsmooth else 0
    with mpmath.workdps(dps + _GUARD + extra):
        val = partial_evaluator(act, index, True)(
            np.array(a, dtype=object), np.array(b, dtype=object), np.array(c, dtype=object), np.array(D, dtype=object)
        )
        val = val.item() if isinstance(val, np.ndarray) else val
        val = mpmath.mpmathify(val)
        if not mpmath.isfinite(val):
            raise _nonfinite_error(act, what, a, b, c)
    with mpmath.workdps(dps):
        return +val


def expectation(act, p: int, q: int, a, b, c, dps=None):
    r"""$E[s^{(p)}(u)\,s^{(q)}(v)]$ ($p + q$ even) in float64 or at ``dps`` digits."""
    index, factor = _pq_to_index(p, q)
    val = kernel_partial(act, index, a, b, c, dps=dps)
    if dps is None:
        return val * int(factor)
    with mpmath.workdps(dps):
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
    dps = check_dps(dps)
    with mpmath.workdps(dps + _GUARD):
        t = mpmath.mpf(t)
        if not mpmath.isfinite(t) or t < 0:
            raise DomainError("argument t is a variance and must be finite and >= 0")
        val = diagonal_evaluator(act, int(m), True)(np.array(t, dtype=object))
        val = mpmath.mpmathify(val.item() if isinstance(val, np.ndarray) else val)
        if not mpmath.isfinite(val):
            raise DomainError(f"phi^({m}) of activation {act.name!r} is not finite at t={t}")
    with mpmath.workdps(dps):
        return +val
