r"""The registry of activations by name: built-ins, parametrised families and user activations.

Importing this module puts every record of :data:`symland.kernels.library.BUILTINS` under
its name; no other module adds to the registry behind the caller's back.

* :func:`activation` looks a name up (an :class:`~symland.kernels.activation.Activation`
  passes through), :func:`known_activations` lists the names;
* :func:`register_activation` adds a user activation from a SymPy expression and, optionally,
  its exact kernel, which is checked against float64 quadrature first;
* the family factories (:func:`leaky_relu_activation`, :func:`sin_activation`, ...) register
  (once) and return the instance built by :mod:`symland.kernels.library`.

Records are compared by value (see :mod:`symland.kernels.activation`), so pickling needs
no registry: an unpickled record equals, and hashes like, the registered one.
"""

from __future__ import annotations

import sympy

from ..errors import ExpressionError, UnknownActivationError
from ..numerics.expression import to_sympy
from ..numerics.symbols import D_, a_, b_, c_, z
from . import library
from .activation import Activation
from .normal import BivariateNormalCDF, OwensT
from .quadrature import check_kernel_against_quadrature

__all__ = [
    "activation",
    "known_activations",
    "register_activation",
    "leaky_relu_activation",
    "relu_power_activation",
    "sin_activation",
    "cos_activation",
    "gauss_activation",
    "monomial_activation",
    "hermite_activation",
]

_REGISTRY: dict[str, Activation] = {act.name: act for act in library.BUILTINS}


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


#: symland's own special functions, accepted in user formulas besides the parser's allow-list
USER_FUNCTIONS = {"OwensT": OwensT, "BivariateNormalCDF": BivariateNormalCDF}


def _as_kernel_symbols(expr, allowed, what):
    """Map the free symbols of a user expression onto symland's own symbols by name; a string is
    parsed (never evaluated) with only the names in ``allowed`` as symbols."""
    if expr is None:
        return None
    ours = {s.name: s for s in (a_, b_, c_, D_)}
    expr = to_sympy(expr, what, symbols={name: ours[name] for name in allowed}, functions=USER_FUNCTIONS)
    mapping = {}
    for sym in expr.free_symbols:
        if sym.name not in allowed:
            raise ExpressionError(
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
        $s(z)$ with at most one free symbol (any name) and exact constants.  A string is
        read by :func:`symland.numerics.expression.parse_expression` (never evaluated as
        Python; decimals become exact rationals), which also accepts ``OwensT`` and
        ``BivariateNormalCDF``.
    kernel : sympy expression or str, optional
        Exact $\kappa(a, b, c)$ in symbols named ``a, b, c`` (a string may use no other
        names).  Without it the activation is evaluated by quadrature.
    safe_kernel : sympy expression or str, optional
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
    expr = to_sympy(expr, "expr", functions=USER_FUNCTIONS)
    free = expr.free_symbols
    if len(free) > 1:
        raise ExpressionError(f"expr must depend on one variable, found {sorted(map(str, free))}")
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
        check_kernel_against_quadrature(act)
    _REGISTRY[name] = act
    return act


def _register_once(act: Activation) -> Activation:
    """The record registered under ``act.name``; ``act`` itself if the name was free."""
    return _REGISTRY.setdefault(act.name, act)


# --- parametrised families: register (once) and return an instance ------------------------------
def leaky_relu_activation(slope) -> Activation:
    r"""Register (once) and return ``"leaky_relu_<slope>"``: $\max(z,0) + \alpha\min(z,0)$
    (:func:`symland.kernels.library.leaky_relu_record`; ``slope`` an exact constant)."""
    return _register_once(library.leaky_relu_record(slope))


def relu_power_activation(p: int) -> Activation:
    r"""Register (once) and return ``"step"``, ``"relu"``, ``"relu_pow2"`` or ``"relu_pow3"``:
    $\max(z,0)^p$ for ``p`` in 0..3 (:func:`symland.kernels.library.relu_power_record`)."""
    return _register_once(library.relu_power_record(p))


def sin_activation(omega=1) -> Activation:
    r"""Register (once) and return $\sin(\omega z)$ (:func:`symland.kernels.library.sin_record`)."""
    return _register_once(library.sin_record(omega))


def cos_activation(omega=1) -> Activation:
    r"""Register (once) and return $\cos(\omega z)$ (:func:`symland.kernels.library.cos_record`)."""
    return _register_once(library.cos_record(omega))


def gauss_activation(width=1) -> Activation:
    r"""Register (once) and return $e^{-z^2/(2w^2)}$ (:func:`symland.kernels.library.gauss_record`)."""
    return _register_once(library.gauss_record(width))


def monomial_activation(p: int) -> Activation:
    """Register (once) and return ``"monomial_<p>"``, $s(z) = z^p$ (:func:`symland.kernels.library.monomial_record`)."""
    return _register_once(library.monomial_record(p))


def hermite_activation(n: int) -> Activation:
    r"""Register (once) and return ``"hermite_<n>"``, probabilists' $\mathrm{He}_n(z)$
    (:func:`symland.kernels.library.hermite_record`)."""
    return _register_once(library.hermite_record(n))
