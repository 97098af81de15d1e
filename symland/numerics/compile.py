r"""Compile one SymPy expression into numeric functions: float64 numpy and mpmath.

Kernel expressions are functions of the covariance entries $(a, b, c)$ of a
centred Gaussian pair and of the auxiliary symbol $D = ab - c^2$ (the Gram
determinant).  Writing a kernel in terms of $D$ instead of $ab - c^2$ is what
makes it numerically safe: near alignment ($c \to \sqrt{ab}$) the difference
$ab - c^2$ cancels catastrophically, while $D$ can be computed accurately from
the inputs (:func:`symland.numerics.precision.gram_determinant`).

Compilation is cached per expression; float64 code is produced by
``sympy.lambdify(..., modules=["scipy", "numpy"], cse=True)``, mpmath code by
:func:`lambdify_mpmath`, which prints every function and constant fully qualified
(``mpmath.asin``, ``mpmath.pi``, ``mpmath.mpf(p)/mpmath.mpf(q)`` for ``Rational(p, q)``)
and binds the name ``mpmath`` to :data:`~symland.numerics.mpcontext.thread_mp`: constants
stay exact until they are evaluated, at the working precision of the calling thread's own
mpmath context, never at mpmath's process-wide one.
"""

from __future__ import annotations

import functools

import mpmath
import sympy
from sympy.printing.pycode import MpmathPrinter

from .mpcontext import thread_mp
from .symbols import KERNEL_ARGS

__all__ = ["compile_numpy", "compile_mpmath", "lambdify_mpmath"]

_PRINTER_SETTINGS = {"fully_qualified_modules": True, "inline": True, "allow_unknown_functions": True}


def _forward(name):
    def call(*args, **kwargs):
        return getattr(thread_mp, name)(*args, **kwargs)
    call.__name__ = name
    return call


#: functions the printer leaves unqualified (``erfi``, ``besseli``, ...): looked up in the calling
#: thread's context at call time, like the qualified ``mpmath.<name>``
_UNQUALIFIED = {name: _forward(name) for name in dir(mpmath.mp)
                if not name.startswith("_") and callable(getattr(mpmath.mp, name, None))
                and not isinstance(getattr(mpmath.mp, name), type)}


def lambdify_mpmath(args, expr, functions: dict | None = None, cse: bool = False):
    """``sympy.lambdify`` for mpmath evaluated in the calling thread's private context.

    ``functions`` maps names of user-defined SymPy functions in ``expr`` (printed unqualified)
    to Python callables, e.g. ``{"OwensT": owens_t_mp}``.
    """
    namespace = {**_UNQUALIFIED, "mpmath": thread_mp, **(functions or {})}
    return sympy.lambdify(args, expr, modules=[namespace], printer=MpmathPrinter(_PRINTER_SETTINGS), cse=cse)


@functools.lru_cache(maxsize=None)
def compile_numpy(expr: sympy.Expr, args: tuple = KERNEL_ARGS):
    """Float64 numpy function of ``args`` evaluating ``expr`` (vectorised)."""
    return sympy.lambdify(args, expr, modules=["scipy", "numpy"], cse=True)


@functools.lru_cache(maxsize=None)
def compile_mpmath(expr: sympy.Expr, args: tuple = KERNEL_ARGS):
    """mpmath function of ``args`` evaluating ``expr`` at the calling thread's working precision."""
    return lambdify_mpmath(args, expr, cse=True)
