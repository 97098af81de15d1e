"""The ``symland`` command line.

Subcommands
-----------
``symland kernel NAME``  closed form of the dual kernel (pretty and LaTeX) and how it was checked
``symland loss``         loss and gradient norm of a preset or a weights file (.npz / .json)

Every number printed with ``--json`` is a decimal string carrying all digits computed.
"""

from __future__ import annotations

import argparse
import json
import sys

import mpmath
import numpy as np
import sympy

from . import __version__
from .activations import activation, known_activations
from .errors import SymlandError
from .gaussian import diagonal_expr, kernel_partial_expr, exact_partial_expr
from .problems import TeacherStudent

__all__ = ["main", "build_parser"]

_CHECKS = {
    True: ("closed form checked against mpmath quadrature (inner Gaussian integrated exactly) to >= 25 "
           "digits, and its Price partials up to total order 4 likewise, in tests/test_activations.py "
           "and tests/test_gaussian.py; derived in derivations/kernel_closed_forms.py"),
    False: ("no closed form known: quadrature (float64 Gauss-Hermite; mpmath.quad at any precision), "
            "checked against higher-order quadrature in tests/test_quadrature.py"),
}


def _num(x, digits=None):
    """Decimal string with all digits of an mpmath number, or repr of a float."""
    if isinstance(x, mpmath.mpf):
        return mpmath.nstr(x, digits or mpmath.mp.dps, strip_zeros=False)
    return repr(float(x))


def _cmd_kernel(args):
    act = activation(args.name)
    out = {"name": act.name, "activation": str(act.expr), "method": act.method,
           "accuracy": act.accuracy, "checked": _CHECKS[act.has_closed_form]}
    if act.has_closed_form:
        out["kernel"] = str(act.kernel_expr)
        out["kernel_latex"] = sympy.latex(act.kernel_expr)
        out["safe_form"] = str(act.safe_kernel_expr) + "   with D = a*b - c**2"
        out["diagonal"] = str(diagonal_expr(act, 0))
        if args.partial:
            idx = tuple(args.partial)
            out["partial"] = {"index": list(idx), "exact": str(exact_partial_expr(act, idx)),
                              "safe": str(kernel_partial_expr(act, idx))}
    if args.json:
        print(json.dumps(out, indent=2))
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
    print(f"method: {act.method}; {act.accuracy}")
    print(f"checked: {out['checked']}")
    return 0


def _load_weights(path):
    if path.endswith(".npz"):
        with np.load(path) as f:
            data = {k: f[k] for k in f.files}
    elif path.endswith(".json"):
        with open(path) as f:
            data = json.load(f)
    else:
        raise SymlandError(f"--weights {path!r}: expected a .npz or .json file")
    if "W" not in data:
        raise SymlandError(f"--weights {path!r}: needs an array 'W' (student weights, n x d); "
                           "optional 'a' (n,), 'V' (k x d), 'b' (k,)")
    return data


def problem_from_args(args):
    """Build the TeacherStudent problem and a parameter vector from CLI options."""
    if getattr(args, "weights", None):
        data = _load_weights(args.weights)
        W = np.asarray(data["W"], dtype=float)
        if "V" in data:
            V = np.asarray(data["V"], dtype=float)
            b = np.asarray(data.get("b", np.ones(len(V))), dtype=float)
            prob = TeacherStudent(args.activation, V, b, n=W.shape[0], train_output=not args.fixed_output)
        else:
            prob = TeacherStudent.orthonormal(args.activation, args.k, W.shape[0], d=W.shape[1],
                                              train_output=not args.fixed_output)
        a = np.asarray(data["a"], dtype=float) if "a" in data else np.ones(W.shape[0])
        theta = prob.pack(W, a if prob.train_output else None)
        return prob, theta
    d = args.d or args.k
    prob = TeacherStudent.orthonormal(args.activation, args.k, args.n, d=d, train_output=not args.fixed_output)
    rng = np.random.default_rng(args.seed)
    W = rng.normal(size=(args.n, d)) / np.sqrt(d)
    a = rng.normal(size=args.n)
    return prob, prob.pack(W, a if prob.train_output else None)


def _cmd_loss(args):
    prob, theta = problem_from_args(args)
    if args.dps:
        loss, grad = prob.loss_and_gradient(theta, dps=args.dps)
        with mpmath.workdps(args.dps):
            gnorm = mpmath.sqrt(mpmath.fsum(g * g for g in grad))
    else:
        loss, grad = prob.loss_and_gradient(theta)
        gnorm = float(np.linalg.norm(grad))
    out = {"problem": repr(prob), "loss": _num(loss, args.dps), "gradient_norm": _num(gnorm, args.dps),
           "dps": args.dps, "convention": "loss = 1/2 E[(f - f*)^2], x ~ N(0, I_d)"}
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        print(out["problem"])
        print(f"loss          = {out['loss']}")
        print(f"|grad loss|   = {out['gradient_norm']}")
        print(f"({out['convention']}; {'mpmath at %d digits' % args.dps if args.dps else 'float64'})")
    return 0


def add_problem_options(p, n_default=2):
    """Options that define a teacher-student problem (shared by subcommands)."""
    p.add_argument("--activation", default="erf", help=f"one of {', '.join(known_activations())} (default erf)")
    p.add_argument("--k", type=int, default=4, help="teacher neurons (orthonormal teacher; default 4)")
    p.add_argument("--n", type=int, default=n_default, help=f"student neurons (default {n_default})")
    p.add_argument("--d", type=int, default=None, help="input dimension (default k)")
    p.add_argument("--fixed-output", action="store_true", help="fix student output weights to 1")
    p.add_argument("--weights", help="weights file (.npz or .json) with W, optional a, V, b")
    p.add_argument("--seed", type=int, default=0, help="seed of the random student (default 0)")


def build_parser():
    parser = argparse.ArgumentParser(prog="symland", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"symland {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("kernel", help="closed form of an activation's dual kernel")
    p.add_argument("name")
    p.add_argument("--partial", type=int, nargs=3, metavar=("I", "J", "L"),
                   help="also print the partial d_a^I d_b^J d_c^L kappa")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_kernel)
    p = sub.add_parser("loss", help="loss and gradient norm of a preset or weights file")
    add_problem_options(p)
    p.add_argument("--dps", type=int, default=None, help="decimal digits (mpmath); default float64")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_loss)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except SymlandError as exc:
        print(f"symland {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
