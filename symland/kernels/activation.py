r"""The activation record: a scalar nonlinearity and its Gaussian dual kernel, as data.

An :class:`Activation` records the scalar nonlinearity $s(z)$ as a SymPy
expression and, where one is known, the exact dual kernel

.. math:: \kappa(a, b, c) = \mathbb{E}[s(u)\,s(v)],\qquad
   (u, v) \sim \mathcal N\!\left(0, \begin{pmatrix} a & c\\ c & b\end{pmatrix}\right)

in SymPy symbols ``a, b, c`` with exact constants only (``Rational``, ``pi``).
Alongside it a numerically safe form in ``a, b, c`` and $D = ab - c^2$ is kept
(``atan2`` instead of ``asin`` of a ratio, $\sqrt D$ instead of
$\sqrt{ab - c^2}$); the two are checked to agree symbolically in the tests.

Conventions: ``"erf"`` is $\operatorname{erf}(z/\sqrt2)$ (Saad & Solla), plain
$\operatorname{erf}(z)$ is ``"erf_plain"``, ``"relu"`` is $\max(z, 0)$.  Activations
without a known closed form (``"tanh"``, ``"sigmoid"``, ``"softplus"``) are evaluated
by quadrature.

The record is pure data with symbolic properties: it neither looks names up nor
evaluates kernels.  The built-in records are in :mod:`symland.kernels.library`, the
registry of names in :mod:`symland.kernels.registry`, and numeric evaluation in
:mod:`symland.kernels.evaluate` (:func:`symland.kernels.evaluate.kernel`).

**Equality and pickling.**  Two records are equal when all their fields are (name,
expression, kernels, description), and equal records hash alike.  Every cache of
derived expressions and compiled evaluators in symland is keyed by the record, so a
record that was pickled by value (the default) and unpickled in a worker process is
the same key as the worker's own registered record and finds its cached partials;
no lookup by name, and so no reference to the registry, is needed.
"""

from __future__ import annotations

import dataclasses
import functools

import sympy

from ..numerics.symbols import z
from .quadrature import ACCURACY_STATEMENT

__all__ = ["Activation", "z"]


@dataclasses.dataclass(frozen=True)
class Activation:
    r"""A scalar activation $s(z)$ and its Gaussian dual kernel.

    Attributes
    ----------
    name : str
        Registry name.
    expr : sympy.Expr
        $s(z)$ in the symbol :data:`symland.numerics.symbols.z`.
    kernel_expr : sympy.Expr or None
        Exact $\kappa(a, b, c) = E[s(u)s(v)]$ in symbols ``a, b, c``
        (``None`` when no closed form is known; then quadrature is used).
    safe_kernel_expr : sympy.Expr or None
        The same function in ``a, b, c, D`` with ``D = a*b - c**2``, written so
        that float64 evaluation stays accurate near ``c**2 = a*b``.
    description : str
        One line for humans.
    """

    name: str
    expr: sympy.Expr
    kernel_expr: sympy.Expr | None = None
    safe_kernel_expr: sympy.Expr | None = None
    description: str = ""

    # -- properties -----------------------------------------------------
    @property
    def has_closed_form(self) -> bool:
        """True when the kernel is evaluated from an exact closed form."""
        return self.kernel_expr is not None

    @functools.cached_property
    def is_odd(self) -> bool:
        """True when $s(-z) = -s(z)$ (decided symbolically)."""
        return sympy.simplify(self.expr.subs(z, -z) + self.expr) == 0

    @functools.cached_property
    def is_even(self) -> bool:
        """True when $s(-z) = s(z)$ (decided symbolically)."""
        return sympy.simplify(self.expr.subs(z, -z) - self.expr) == 0

    @functools.cached_property
    def vanishes_at_zero(self) -> bool:
        """True when $s(0) = 0$: a zero-norm neuron is then the zero function."""
        return self.expr.subs(z, 0) == 0

    @property
    def method(self) -> str:
        """How the kernel is evaluated: ``"closed form"`` or ``"quadrature"``."""
        return "closed form" if self.has_closed_form else "quadrature"

    @property
    def accuracy(self) -> str:
        """Human-readable statement of the accuracy of both numeric paths."""
        if self.has_closed_form:
            return (
                "closed form: float64 to ~1e-14 relative (safe forms in D = ab - c^2), "
                "mpmath to the requested digits"
            )
        return ACCURACY_STATEMENT

    def derivative_expr(self, order: int) -> sympy.Expr:
        """$s^{(order)}(z)$ as a SymPy expression (classical derivative)."""
        return sympy.diff(self.expr, z, order) if order else self.expr

    @functools.cached_property
    def homogeneity_degree(self):
        r"""$p$ with $s(tz) = t^p s(z)$ for all $t > 0$, or ``None`` (decided symbolically)."""
        t = sympy.Symbol("t", positive=True)
        halves = [sympy.Symbol("zp", positive=True), sympy.Symbol("zn", negative=True)]
        for p in range(0, 5):
            if all(sympy.simplify(self.expr.subs(z, t * h) - t**p * self.expr.subs(z, h)) == 0 for h in halves):
                return p
        return None

    def __repr__(self) -> str:
        return f"Activation({self.name!r}, s(z) = {self.expr}, {self.method})"
