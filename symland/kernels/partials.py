r"""Price partials of the dual kernel, symbolically (numeric evaluation: :mod:`symland.kernels.evaluate`).

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
$\partial_c - 2c\,\partial_D$ (because $D = ab - c^2$; :mod:`symland.kernels.price`),
simplified once and cached per kernel and multi-index.  For activations without a closed
form the same partials come from quadrature (:mod:`symland.kernels.evaluate`).

The diagonal $\varphi(t) = \kappa(t, t, t) = E[s(u)^2]$, $u \sim N(0, t)$, is
kept separately: it is smooth even where the partials of $\kappa$ are singular
at $c^2 = ab$ (ReLU), and $\varphi^{(m)}(t) = 2^{-m} E[(s^2)^{(2m)}(u)]$.
"""

from __future__ import annotations

import functools
import operator

import numpy as np
import sympy

from ..errors import NoClosedFormError
from ..numerics.expression import to_sympy
from ..numerics.symbols import D_, a_, b_, c_, t_
from .activation import Activation
from .price import compact, safe_partial
from .registry import activation

__all__ = [
    "MAX_ORDER",
    "check_index",
    "require_closed_form",
    "kernel_partial_expr",
    "exact_partial_expr",
    "expectation_index",
    "expectation_expr",
    "diagonal_expr",
    "singular_at_alignment",
    "kernel_at",
    "phi_at",
]

#: highest total order of kernel partials (i + j + l) symland derives
MAX_ORDER = 4


def check_index(index):
    """``index`` as a triple ``(i, j, l)`` of non-negative integers with total order <= :data:`MAX_ORDER`."""
    try:
        i, j, l = (operator.index(v) for v in index)
    except (TypeError, ValueError):
        raise ValueError(f"index must be a triple (i, j, l) of non-negative integers, got {index!r}") from None
    if min(i, j, l) < 0:
        raise ValueError(f"index must be non-negative, got {index!r}")
    if i + j + l > MAX_ORDER:
        raise ValueError(f"index {index!r} has total order {i + j + l} > {MAX_ORDER} (MAX_ORDER)")
    return i, j, l


def _safe_partial(act: Activation, index):
    """The compact safe partial of a closed-form activation (``index`` validated)."""
    return safe_partial(act.safe_kernel_expr, index, simplify=True)


def require_closed_form(act: Activation) -> None:
    """Raise :class:`~symland.errors.NoClosedFormError` unless ``act`` has a closed-form kernel."""
    if not act.has_closed_form:
        raise NoClosedFormError(
            f"activation {act.name!r} has no closed-form kernel; it is evaluated by quadrature"
        )


def kernel_partial_expr(act, index) -> sympy.Expr:
    r"""Safe form of $\partial_a^i\partial_b^j\partial_c^l\kappa$ in ``a, b, c, D``."""
    act = activation(act)
    require_closed_form(act)
    return _safe_partial(act, check_index(index))


@functools.lru_cache(maxsize=None)
def _exact_partial_cached(act, index):
    i, j, l = index
    return sympy.diff(act.kernel_expr, a_, i, b_, j, c_, l)


def exact_partial_expr(act, index) -> sympy.Expr:
    r"""$\partial_a^i\partial_b^j\partial_c^l\kappa$ differentiated from the exact kernel in ``a, b, c``."""
    act = activation(act)
    require_closed_form(act)
    return _exact_partial_cached(act, check_index(index))


def expectation_index(p, q):
    r"""``(index, factor)`` with $E[s^{(p)}(u)s^{(q)}(v)] = $ ``factor`` $\cdot\,\partial^{index}\kappa$ (Price)."""
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
    index, factor = expectation_index(p, q)
    if safe:
        return factor * kernel_partial_expr(act, index)
    return factor * exact_partial_expr(act, index)


@functools.lru_cache(maxsize=None)
def _diagonal_cached(act, m):
    if m == 0:
        tp = sympy.Symbol("t", positive=True)
        e = act.safe_kernel_expr.subs({a_: tp, b_: tp, c_: tp, D_: 0})
        return compact(e).subs(tp, t_)
    return compact(sympy.diff(_diagonal_cached(act, m - 1), t_))


def diagonal_expr(act, m: int = 0) -> sympy.Expr:
    r"""$\varphi^{(m)}(t)$ with $\varphi(t) = \kappa(t, t, t) = E[s(u)^2]$, $u \sim N(0, t)$."""
    act = activation(act)
    require_closed_form(act)
    if not 0 <= int(m) <= MAX_ORDER:
        raise ValueError(f"m must be in 0..{MAX_ORDER}, got {m!r}")
    return _diagonal_cached(act, int(m))


@functools.lru_cache(maxsize=None)
def singular_at_alignment(act: Activation) -> bool:
    r"""True when second kernel partials blow up as $D = ab - c^2 \to 0$ (e.g. ReLU).

    Decided symbolically: $\partial_c^2\kappa$ at $D = 0$ and generic positive
    $a, b, c$ is not a finite number.  Quadrature activations are smooth and
    return False.
    """
    if not act.has_closed_form:
        return False
    e = _safe_partial(act, (0, 0, 2)).subs(
        {a_: sympy.Rational(7, 5), b_: sympy.Rational(9, 7), c_: sympy.Rational(3, 4)})
    with np.errstate(all="ignore"):
        val = e.subs(D_, 0)
    return bool(val.has(sympy.zoo, sympy.oo, -sympy.oo, sympy.nan) or val.is_finite is False)


def kernel_at(act, index, A, B, C):
    r"""$\partial_a^i\partial_b^j\partial_c^l\kappa$ at exact Gram entries ``A, B, C`` (SymPy).

    Uses the safe closed form with $D = AB - C^2$ substituted exactly.
    """
    act = activation(act)
    if not act.has_closed_form:
        raise NoClosedFormError(f"activation {act.name!r} has no closed-form kernel; the symbolic ansatz "
                                "needs one (quadrature activations are not supported)")
    A, B, C = (to_sympy(x) for x in (A, B, C))
    D = sympy.factor(sympy.expand(A * B - C**2))
    expr = kernel_partial_expr(act, tuple(index))
    return expr.xreplace({D_: D}).xreplace({a_: A, b_: B, c_: C})


def phi_at(act, m, T):
    r"""$\varphi^{(m)}(T)$, $\varphi(t) = \kappa(t, t, t)$, at an exact value ``T``."""
    return diagonal_expr(activation(act), m).xreplace({t_: to_sympy(T)})
