r"""The SymPy symbols every symbolic expression in symland is written in.

* ``z``: the argument of an activation $s(z)$.
* ``a_, b_, c_``: variances $a, b$ and covariance $c$ of a centred Gaussian pair $(u, v)$;
  a dual kernel is $\kappa(a, b, c) = E[s(u)s(v)]$.
* ``D_``: the Gram determinant $D = ab - c^2$, kept as an independent symbol in the
  numerically safe forms (see :mod:`symland.numerics.precision` for how it is computed).
* ``t_``: the scalar variance of the diagonal functions $\varphi(t) = \kappa(t, t, t)$.

``NONSMOOTH`` lists the SymPy functions that give an activation kinks or jumps, so that
classical derivatives do not exist there.
"""

from __future__ import annotations

import sympy

__all__ = ["z", "a_", "b_", "c_", "D_", "t_", "KERNEL_ARGS", "NONSMOOTH"]

#: the variable of every activation expression
z = sympy.Symbol("z", real=True)

#: symbols every kernel expression may depend on: variances a, b, covariance c,
#: and D = a*b - c**2 (kept as an independent symbol in safe forms).
a_, b_, c_ = sympy.symbols("a b c", real=True)
D_ = sympy.Symbol("D", nonnegative=True)
t_ = sympy.Symbol("t", nonnegative=True)
KERNEL_ARGS = (a_, b_, c_, D_)

#: SymPy functions that give an activation kinks or jumps (no classical derivatives)
NONSMOOTH = (sympy.DiracDelta, sympy.Heaviside, sympy.Piecewise, sympy.Max, sympy.Min, sympy.Abs, sympy.sign)
