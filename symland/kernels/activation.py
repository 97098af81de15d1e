r"""Activations: the single source of truth for every kernel in symland.

An :class:`Activation` records the scalar nonlinearity $s(z)$ as a SymPy
expression and, where one is known, the exact dual kernel

.. math:: \kappa(a, b, c) = \mathbb{E}[s(u)\,s(v)],\qquad
   (u, v) \sim \mathcal N\!\left(0, \begin{pmatrix} a & c\\ c & b\end{pmatrix}\right)

in SymPy symbols ``a, b, c`` with exact constants only (``Rational``, ``pi``).
Alongside it a numerically safe form in ``a, b, c`` and $D = ab - c^2$ is kept
(``atan2`` instead of ``asin`` of a ratio, $\sqrt D$ instead of
$\sqrt{ab - c^2}$); the two are checked to agree symbolically in the tests.

Conventions (see ``DESIGN.md``): ``"erf"`` is $\operatorname{erf}(z/\sqrt2)$
(Saad & Solla), plain $\operatorname{erf}(z)$ is ``"erf_plain"``, ``"relu"`` is
$\max(z, 0)$.  Activations without a known closed form (``"tanh"``,
``"sigmoid"``, ``"softplus"``) are evaluated by quadrature: Gauss–Hermite in
float64 and ``mpmath.quad`` at any precision.
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np
import sympy

from . import quadrature
from ..numerics.symbols import (
    z,
    D_,
    a_,
    b_,
    c_,
)
from ..errors import NoClosedFormError, UnknownActivationError

__all__ = [
    "Activation",
    "activation",
    "register_activation",
    "known_activations",
    "z",
]


_pi = sympy.pi


@dataclasses.dataclass(frozen=True, eq=False)
class Activation:
    r"""A scalar activation $s(z)$ and its Gaussian dual kernel.

    Attributes
    ----------
    name : str
        Registry name.
    expr : sympy.Expr
        $s(z)$ in the symbol :data:`symland.z`.
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
        return quadrature.ACCURACY_STATEMENT

    def derivative_expr(self, order: int) -> sympy.Expr:
        """$s^{(order)}(z)$ as a SymPy expression (classical derivative)."""
        return sympy.diff(self.expr, z, order) if order else self.expr

    # -- evaluation -----------------------------------------------------
    def kernel(self, a, b, c, mu1=0.0, mu2=0.0, dps=None):
        r"""$\kappa(a, b, c, \mu_1, \mu_2) = E[s(u)s(v)]$, means $(\mu_1, \mu_2)$ (default 0).

        ``dps=None``: numpy-vectorised float64 (broadcasting ``a, b, c`` and the means).
        ``dps=N``: one mpmath number at ``N`` decimal digits (scalars only).
        Zero means use the centred kernel; nonzero means (neurons with biases,
        $s(w\cdot x + \beta)$) use :func:`symland.kernels.means.kernel_with_means`
        (closed form where one exists, quadrature otherwise).
        Raises :class:`~symland.errors.DomainError` for negative variances,
        non-finite input or ``c**2 > a*b``.
        """
        if _all_zero(mu1) and _all_zero(mu2):
            from .partials import kernel_partial

            return kernel_partial(self, (0, 0, 0), a, b, c, dps=dps)
        from .means import kernel_with_means

        return kernel_with_means(self, a, b, c, mu1, mu2, dps=dps)

    def __reduce__(self):
        # registered activations pickle by name, so worker processes share the
        # registry's cached kernel partials instead of re-deriving them
        if _REGISTRY.get(self.name) is self:
            return (activation, (self.name,))
        return (Activation, (self.name, self.expr, self.kernel_expr, self.safe_kernel_expr, self.description))

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


_REGISTRY: dict[str, Activation] = {}


def _all_zero(mu) -> bool:
    """True when a mean argument is (an array of) exact zeros; non-numeric input is left to the kernel."""
    try:
        return bool(np.all(np.asarray(mu, dtype=object) == 0))
    except (TypeError, ValueError):
        return False


def known_activations() -> list[str]:
    """Names of every registered activation, sorted."""
    return sorted(_REGISTRY)


def activation(name) -> Activation:
    """The registered :class:`Activation` called ``name`` (an Activation passes through)."""
    if isinstance(name, Activation):
        return name
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        raise UnknownActivationError(
            f"unknown activation {name!r}; known activations: {', '.join(known_activations())}"
        ) from None


def _as_kernel_symbols(expr, allowed, what):
    """Map the free symbols of a user expression onto symland's own symbols by name."""
    if expr is None:
        return None
    expr = sympy.sympify(expr)
    ours = {s.name: s for s in (a_, b_, c_, D_)}
    mapping = {}
    for sym in expr.free_symbols:
        if sym.name not in allowed:
            raise ValueError(
                f"{what} may only depend on symbols {sorted(allowed)}, found {sym.name!r}"
            )
        mapping[sym] = ours[sym.name]
    expr = expr.xreplace(mapping)
    if expr.atoms(sympy.Float):
        raise ValueError(
            f"{what} must use exact constants (Rational, pi), found floats {sorted(map(str, expr.atoms(sympy.Float)))}"
        )
    return expr


def register_activation(
    name: str,
    expr,
    kernel=None,
    safe_kernel=None,
    description: str = "",
    check: bool = True,
    replace: bool = False,
) -> Activation:
    r"""Register an activation from a SymPy expression in one variable.

    Parameters
    ----------
    name : str
        Registry name.
    expr : sympy expression or str
        $s(z)$ with exactly one free symbol (any name) and exact constants.
    kernel : sympy expression, optional
        Exact $\kappa(a, b, c)$ in symbols named ``a, b, c``.  Without it the
        activation is evaluated by quadrature.
    safe_kernel : sympy expression, optional
        Numerically safe form in ``a, b, c, D`` (``D = ab - c^2``); defaults to
        ``kernel`` itself.
    check : bool
        When a kernel is given, compare it with float64 Gauss–Hermite
        quadrature at a few covariances and refuse it if they disagree.
    replace : bool
        Allow overwriting an existing name.
    """
    if not isinstance(name, str) or not name:
        raise ValueError("name must be a non-empty string")
    if name in _REGISTRY and not replace:
        raise ValueError(f"activation {name!r} is already registered; pass replace=True")
    expr = sympy.sympify(expr)
    free = expr.free_symbols
    if len(free) > 1:
        raise ValueError(f"expr must depend on one variable, found {sorted(map(str, free))}")
    if free:
        expr = expr.xreplace({free.pop(): z})
    if expr.atoms(sympy.Float):
        raise ValueError("expr must use exact constants (Rational, pi), found floats")
    kernel = _as_kernel_symbols(kernel, {"a", "b", "c"}, "kernel")
    safe = _as_kernel_symbols(safe_kernel, {"a", "b", "c", "D"}, "safe_kernel")
    if safe is None:
        safe = kernel
    act = Activation(name, expr, kernel, safe, description)
    if check and kernel is not None:
        quadrature.check_kernel_against_quadrature(act)
    _REGISTRY[name] = act
    return act


def _builtin(name, expr, kernel=None, safe=None, description=""):
    _REGISTRY[name] = Activation(name, expr, kernel, safe if safe is not None else kernel, description)


# ---------------------------------------------------------------------------
# Built-in activations.  Each closed form is checked in tests/kernels/test_activation.py
# against mpmath quadrature to >= 25 digits and the safe form against the exact
# form symbolically; derivations/ holds the derivations.
# ---------------------------------------------------------------------------
_sqrt2 = sympy.sqrt(2)

# erf(z/sqrt2): kappa = (2/pi) asin(c / sqrt((1+a)(1+b)))  [Saad & Solla 1995].
# (1+a)(1+b) - c^2 = 1 + a + b + D > 0, so atan2 is well conditioned everywhere.
_builtin(
    "erf",
    sympy.erf(z / _sqrt2),
    2 / _pi * sympy.asin(c_ / sympy.sqrt((1 + a_) * (1 + b_))),
    2 / _pi * sympy.atan2(c_, sympy.sqrt(1 + a_ + b_ + D_)),
    "erf(z/sqrt(2)), the Saad & Solla scaling",
)
# erf(z) = erf(sqrt2 z / sqrt2): the erf kernel at (2a, 2b, 2c).
_builtin(
    "erf_plain",
    sympy.erf(z),
    2 / _pi * sympy.asin(2 * c_ / sympy.sqrt((1 + 2 * a_) * (1 + 2 * b_))),
    2 / _pi * sympy.atan2(2 * c_, sympy.sqrt(1 + 2 * a_ + 2 * b_ + 4 * D_)),
    "plain erf(z) (no 1/sqrt(2) scaling)",
)
# relu: kappa = (sqrt(ab - c^2) + c (pi - arccos(c/sqrt(ab)))) / (2 pi)  [Cho & Saul 2009,
# arc-cosine kernel of degree 1]; arccos(c/sqrt(ab)) = atan2(sqrt(D), c).
_builtin(
    "relu",
    sympy.Max(z, 0),
    (sympy.sqrt(a_ * b_ - c_**2) + c_ * (_pi - sympy.acos(c_ / sympy.sqrt(a_ * b_)))) / (2 * _pi),
    (sympy.sqrt(D_) + c_ * (_pi - sympy.atan2(sympy.sqrt(D_), c_))) / (2 * _pi),
    "max(z, 0)",
)
_builtin("linear", z, c_, c_, "identity z")
# E[u^2 v^2] = ab + 2c^2 (Isserlis).
_builtin("quadratic", z**2, a_ * b_ + 2 * c_**2, a_ * b_ + 2 * c_**2, "z^2")
# no closed form known: quadrature in both precisions
_builtin("tanh", sympy.tanh(z), description="tanh(z) (quadrature)")
_builtin("sigmoid", 1 / (1 + sympy.exp(-z)), description="logistic 1/(1+exp(-z)) (quadrature)")
_builtin("softplus", sympy.log(1 + sympy.exp(z)), description="log(1+exp(z)) (quadrature)")
from . import library as activation_library  # noqa: E402,F401
