r"""``symland kernel NAME``: closed form of an activation's dual kernel (pretty and LaTeX) and how it was checked.

The dual kernel is $\kappa(a, b, c) = E[s(u)s(v)]$, $(u, v) \sim N(0, [[a, c], [c, b]])$ (``"erf"`` is
erf(z/sqrt 2)).
"""

from __future__ import annotations


import sympy

from ..errors import SymlandError
from ..kernels import coverage, cross, fallback, kinks, means, quadrature
from ..kernels.partials import diagonal_expr, exact_partial_expr, kernel_partial_expr
from ..kernels.registry import activation
from .options import nonnegative_int, strict_json

__all__ = ["register"]

_CHECKS = {
    # how each kind of activation is checked; the per-activation tolerances come from symland.kernels.coverage.CHECKS
    True: "closed form derived in derivations/ and checked against mpmath quadrature",
    False: "no closed form known: quadrature, checked against independent quadrature",
}


def _cmd_kernel(args):
    act = activation(args.name)
    path = coverage.kernel_path(act)
    if act.has_closed_form:
        accuracy = act.accuracy
    elif fallback.reducible(act):
        accuracy = cross.ACCURACY["1-D quadrature"]
    elif fallback.nonsmooth(act):
        accuracy = kinks.ACCURACY
    else:
        accuracy = quadrature.ACCURACY_STATEMENT
    chk = coverage.CHECKS[coverage.check_key(act)]
    out = {"name": act.name, "activation": str(act.expr), "method": act.method, "path": path,
           "accuracy": accuracy, "checked": f"{_CHECKS[act.has_closed_form]}: {chk.summary} ({chk.file})",
           "with_means": _means_path(act)}
    if act.has_closed_form:
        out["kernel"] = str(act.kernel_expr)
        out["kernel_latex"] = sympy.latex(act.kernel_expr)
        out["safe_form"] = str(act.safe_kernel_expr) + "   with D = a*b - c**2"
        out["diagonal"] = str(diagonal_expr(act, 0))
        if args.partial:
            idx = tuple(args.partial)
            out["partial"] = {"index": list(idx), "exact": str(exact_partial_expr(act, idx)),
                              "safe": str(kernel_partial_expr(act, idx))}
    elif args.partial:
        raise SymlandError(f"--partial: activation {act.name!r} has no closed-form kernel ({path}); "
                           "its partials are evaluated numerically (symland.kernel_partial)")
    if args.json:
        print(strict_json(out))
        return 0
    print(f"activation {act.name}:  s(z) = {act.expr}   ({act.description})")
    if act.has_closed_form:
        print("kappa(a, b, c) = E[s(u) s(v)],  (u, v) ~ N(0, [[a, c], [c, b]]):\n")
        print(sympy.pretty(act.kernel_expr, use_unicode=False))
        print(f"\nLaTeX: {out['kernel_latex']}")
        print(f"numerically safe form: {out['safe_form']}")
        print(f"diagonal kappa(t, t, t) = {out['diagonal']}")
        if args.partial:
            print(f"partial d^{args.partial} kappa: {out['partial']['exact']}")
            print(f"  safe form: {out['partial']['safe']}")
    print(f"path: {path}")
    print(f"accuracy: {accuracy}")
    print(f"checked: {out['checked']}")
    print(f"with means (biases): {out['with_means']}")
    return 0


def _means_path(act) -> str:
    """The path of ``kernel_with_means`` for ``act`` and its accuracy, in words."""
    method = means.mean_kernel_method(act)
    if method == "closed form":
        return ("closed form (bivariate normal CDF / Owen's T, or Gaussian integrals); float64 ~1e-13, "
                "mpmath to the requested digits")
    if method == "1-D quadrature":
        return "1-D quadrature on the closed-form mean function, split at the kink: " + cross.ACCURACY["1-D quadrature"]
    if fallback.nonsmooth(act):
        return "2-D quadrature split at the kinks, by parts: " + kinks.ACCURACY
    return "2-D quadrature of classical derivatives: " + quadrature.ACCURACY_STATEMENT


def register(subparsers):
    """Add the ``kernel`` subcommand."""
    p = subparsers.add_parser("kernel", help="closed form of an activation's dual kernel")
    p.add_argument("name")
    p.add_argument("--partial", type=nonnegative_int, nargs=3, metavar=("I", "J", "L"),
                   help="also print the partial d_a^I d_b^J d_c^L kappa")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_kernel)
