r"""Compile one SymPy expression into numeric functions: float64 numpy and mpmath.

Kernel expressions are functions of the covariance entries $(a, b, c)$ of a
centred Gaussian pair and of the auxiliary symbol $D = ab - c^2$ (the Gram
determinant).  Writing a kernel in terms of $D$ instead of $ab - c^2$ is what
makes it numerically safe: near alignment ($c \to \sqrt{ab}$) the difference
$ab - c^2$ cancels catastrophically, while $D$ can be computed accurately from
the inputs (:func:`symland.numerics.precision.gram_determinant`).

Compilation is cached per expression; float64 code is produced by
``sympy.lambdify(..., modules=["scipy", "numpy"], cse=True)``, mpmath code by
``lambdify(..., modules="mpmath")``, which prints ``Rational(p, q)`` as
``mpf(p)/mpf(q)`` and ``pi`` as ``mpmath.pi``: constants stay exact until
they are evaluated at the working precision.
"""

from __future__ import annotations

import functools

import sympy

from .symbols import KERNEL_ARGS

__all__ = ["compile_numpy", "compile_mpmath"]


@functools.lru_cache(maxsize=None)
def compile_numpy(expr: sympy.Expr, args: tuple = KERNEL_ARGS):
    """Float64 numpy function of ``args`` evaluating ``expr`` (vectorised)."""
    return sympy.lambdify(args, expr, modules=["scipy", "numpy"], cse=True)


@functools.lru_cache(maxsize=None)
def compile_mpmath(expr: sympy.Expr, args: tuple = KERNEL_ARGS):
    """mpmath function of ``args`` evaluating ``expr`` at the current ``mp.dps``."""
    return sympy.lambdify(args, expr, modules="mpmath", cse=True)
