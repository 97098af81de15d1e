r"""Price partials of a kernel written in its safe form: the one total-derivative recursion.

A safe kernel form $f(a, b, c, D)$ keeps $D = ab - c^2$ as an independent symbol, so a
partial derivative in the covariance entries is a total derivative:

.. math:: \frac{d}{da} = \partial_a + b\,\partial_D,\qquad
          \frac{d}{db} = \partial_b + a\,\partial_D,\qquad
          \frac{d}{dc} = \partial_c - 2c\,\partial_D.

:func:`safe_partial` applies them: $\partial_a^i\partial_b^j\partial_c^l f$, derived from
the next lower partial (the $c$-derivatives last), each step cached per expression.  By
Price's theorem these are the expectations $2^{-i-j}E[s^{(2i+l)}(u)\,t^{(2j+l)}(v)]$ when
$f$ is a (cross) kernel $E[s(u)t(v)]$.
"""

from __future__ import annotations

import functools

import sympy

from ..numerics.symbols import D_, a_, b_, c_

__all__ = ["total_derivative", "safe_partial", "compact"]

_TOTAL = {
    "a": lambda e: sympy.diff(e, a_) + b_ * sympy.diff(e, D_),
    "b": lambda e: sympy.diff(e, b_) + a_ * sympy.diff(e, D_),
    "c": lambda e: sympy.diff(e, c_) - 2 * c_ * sympy.diff(e, D_),
}


def total_derivative(expr, var: str):
    """$d/d$``var`` of ``expr(a, b, c, D)`` with ``var`` in ``"a"``, ``"b"``, ``"c"`` and $D = ab - c^2$."""
    return _TOTAL[var](expr)


def compact(expr):
    """``factor(together(expr))``: keeps derived forms compact and free of cancellation in D
    (an order of magnitude faster than ``simplify`` on the order-4 erf partials)."""
    return sympy.factor(sympy.together(expr))


@functools.lru_cache(maxsize=None)
def safe_partial(expr, index, simplify: bool = False):
    r"""$\partial_a^i\partial_b^j\partial_c^l$ of the safe form ``expr(a, b, c, D)``, ``index = (i, j, l)``.

    With ``simplify=True`` every step is brought to the compact form ``factor(together(.))``
    (worth it for partials that are compiled and evaluated many times).  The caller validates
    ``index``.
    """
    i, j, l = index
    if index == (0, 0, 0):
        return expr
    if l:
        prev, var = (i, j, l - 1), "c"
    elif i:
        prev, var = (i - 1, j, l), "a"
    else:
        prev, var = (i, j - 1, l), "b"
    out = total_derivative(safe_partial(expr, prev, simplify), var)
    return compact(out) if simplify else out
