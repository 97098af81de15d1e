"""The ``symland`` command line.

Subcommands
-----------
``symland kernel NAME``  closed form of the dual kernel (pretty and LaTeX) and how it was checked
``symland loss``         loss and gradient norm of a preset or a weights file (.npz / .json)
``symland critical``     refine one critical point to many digits and classify it
``symland survey``       multi-start survey: distinct critical points, their index and frequency

Every number printed with ``--json`` is a decimal string carrying all digits computed.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import time

import mpmath
import numpy as np
import sympy

from .._version import __version__
from ..kernels.registry import activation, known_activations
from ..errors import SymlandError
from ..kernels.partials import diagonal_expr, kernel_partial_expr, exact_partial_expr
from ..problems.teacher_student import TeacherStudent

__all__ = ["main", "build_parser"]

#: modules (in this package) whose ``register(subparsers)`` adds further subcommands
_SUBCOMMAND_MODULES: tuple[str, ...] = ("copy_average", "symmetric", "channel")

_CHECKS = {
    # how each kind of activation is checked; the per-activation tolerances come from symland.kernels.coverage.CHECKS
    True: "closed form derived in derivations/ and checked against mpmath quadrature",
    False: "no closed form known: quadrature, checked against independent quadrature",
}


def _num(x, digits=None):
    """Decimal string with all digits of an mpmath number, or repr of a float."""
    if isinstance(x, mpmath.mpf):
        return mpmath.nstr(x, digits or mpmath.mp.dps, strip_zeros=False)
    return repr(float(x))


def _cmd_kernel(args):
    from ..kernels import coverage
    from ..kernels import cross as mixed
    from ..kernels import fallback
    from ..kernels import quadrature

    act = activation(args.name)
    path = coverage.kernel_path(act)
    if act.has_closed_form:
        accuracy = act.accuracy
    elif fallback.reducible(act):
        accuracy = mixed.ACCURACY["1-D quadrature"]
    elif fallback.nonsmooth(act):
        from ..kernels import kinks

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
    print(f"path: {path}")
    print(f"accuracy: {accuracy}")
    print(f"checked: {out['checked']}")
    print(f"with means (biases): {out['with_means']}")
    return 0


def _means_path(act) -> str:
    """The path of ``kernel_with_means`` for ``act`` and its accuracy, in words."""
    from ..kernels import means as bias
    from ..kernels import cross as mixed
    from ..kernels import fallback
    from ..kernels import quadrature

    method = bias.mean_kernel_method(act)
    if method == "closed form":
        return ("closed form (bivariate normal CDF / Owen's T, or Gaussian integrals); float64 ~1e-13, "
                "mpmath to the requested digits")
    if method == "1-D quadrature":
        return "1-D quadrature on the closed-form mean function, split at the kink: " + mixed.ACCURACY["1-D quadrature"]
    if fallback.nonsmooth(act):
        from ..kernels import kinks

        return "2-D quadrature split at the kinks, by parts: " + kinks.ACCURACY
    return "2-D quadrature of classical derivatives: " + quadrature.ACCURACY_STATEMENT


def _load_weights(path):
    if not (path.endswith(".npz") or path.endswith(".json")):
        raise SymlandError(f"--weights {path!r}: expected a .npz or .json file")
    if not os.path.isfile(path):
        raise SymlandError(f"--weights {path!r}: no such file")
    try:
        if path.endswith(".npz"):
            with np.load(path) as f:
                data = {k: f[k] for k in f.files}
        else:
            with open(path) as f:
                data = json.load(f)
    except (OSError, ValueError) as exc:
        raise SymlandError(f"--weights {path!r}: cannot read it ({exc})") from None
    if not isinstance(data, dict):
        raise SymlandError(f"--weights {path!r}: expected an object with arrays W, optional a, V, b")
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


_SOLVER_NAMES = ("minimize", "flow", "newton")


def _solve_float(prob, theta, solver, gtol):
    from ..landscape import critical
    from ..landscape.survey import SOLVERS

    return getattr(critical, SOLVERS[solver])(prob, theta, gtol=gtol)


def _cmd_critical(args):
    from ..landscape.critical import refine

    prob, theta = problem_from_args(args)
    solver = args.solver or ("none" if args.weights else "minimize")
    start = f"weights file {args.weights}" if args.weights else f"random start (seed {args.seed})"
    float_info = None
    if solver != "none":
        res = _solve_float(prob, theta, solver, args.gtol)
        theta = res.theta
        float_info = {"solver": solver, "converged": res.converged, "gradient_norm": repr(res.gradient_norm),
                      "iterations": res.iterations, "message": res.message}
    cp = refine(prob, theta, dps=args.dps)
    out = {"problem": repr(prob), "start": start, "float_solver": float_info,
           "convention": "loss = 1/2 E[(f - f*)^2], x ~ N(0, I_d)"}
    out.update(cp.to_dict())
    if args.json:
        print(json.dumps(out, indent=2))
        return 0
    print(out["problem"])
    if float_info:
        state = "converged" if res.converged else "stopped"
        print(f"start: {start}; {solver} {state} at |grad| = {res.gradient_norm:.3g} "
              f"after {res.iterations} iterations")
    else:
        print(f"start: {start} (refined directly)")
    print(f"loss          = {out['loss']}")
    print(f"|grad loss|   = {out['gradient_norm']}")
    print(f"digits        = {cp.digits} (of dps {cp.dps})")
    print(f"index         = {cp.index}")
    src = f" {cp.zero_mode_sources}" if cp.zero_mode_sources else ""
    print(f"nullity       = {cp.nullity} (explained by symmetries: {cp.predicted_nullity}{src})")
    print(f"kind          = {cp.kind}")
    m = min(args.eigenvalues, len(cp.eigenvalues))
    eig = ", ".join(mpmath.nstr(v, 12) for v in cp.eigenvalues[:m])
    print(f"smallest {m} Hessian eigenvalues: {eig}")
    print(f"({out['convention']}; mpmath at {cp.dps} digits)")
    return 0


def _cmd_survey(args):
    from ..landscape.survey import survey

    prob, _ = problem_from_args(args)
    t0 = time.perf_counter()
    res = survey(prob, starts=args.starts, seed=args.seed, dps=args.dps, solver=args.solver,
                 workers=args.workers, gtol=args.gtol, merge=args.merge, progress=None)
    if args.json:
        out = res.to_dict()
        out["workers"] = args.workers or os.cpu_count() or 1
        out["seconds"] = round(time.perf_counter() - t0, 3)
        print(json.dumps(out, indent=2))
    else:
        print(res.table())
        print(f"({res.seconds:.1f} s; full digits and parameters with --json)")
    return 0


def _positive_int(text):
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {v}")
    return v


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
    p = sub.add_parser("critical", help="refine one critical point to many digits and classify it",
                       description="Refine one critical point by Newton's method in mpmath and classify it by "
                                   "its Hessian spectrum.  The start is --weights FILE (refined directly unless "
                                   "--solver is given) or a random student (--seed; W ~ N(0, 1/d), a ~ N(0, 1)) "
                                   "run through the float64 --solver first.")
    add_problem_options(p)
    p.add_argument("--solver", choices=("none",) + _SOLVER_NAMES, default=None,
                   help="float64 stage before refinement (default: minimize for a random start, "
                        "none for --weights)")
    p.add_argument("--gtol", type=float, default=1e-10, help="gradient tolerance of the float solver")
    p.add_argument("--dps", type=int, default=50, help="decimal digits of the refinement (default 50)")
    p.add_argument("--eigenvalues", type=int, default=6, help="how many smallest eigenvalues to print")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_critical)
    p = sub.add_parser("survey", help="multi-start survey of the critical points",
                       description="Draw --starts random starts (start j: numpy default_rng(SeedSequence(seed)"
                                   ".spawn(starts)[j]), W ~ N(0, 1/d), a ~ N(0, 1)), run the float64 solver, "
                                   "refine to --dps digits, classify, and merge points related by a symmetry. "
                                   "With --weights the problem (teacher V, b and n) is read from the file.")
    add_problem_options(p)
    p.add_argument("--starts", type=_positive_int, default=20, help="number of random starts (default 20)")
    p.add_argument("--dps", type=int, default=30, help="decimal digits of the refinement (default 30)")
    p.add_argument("--solver", choices=_SOLVER_NAMES, default="minimize", help="float64 solver (default minimize)")
    p.add_argument("--gtol", type=float, default=1e-10, help="gradient tolerance of the float solver")
    p.add_argument("--merge", choices=("orbit", "function"), default="orbit",
                   help="merge points modulo the symmetry group (default), or also points computing the same "
                        "function with equal index and nullity (one row per critical manifold)")
    p.add_argument("--workers", type=_positive_int, default=None,
                   help="worker processes (default: CPU count; 1 = serial, in-process)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_survey)
    for module in _SUBCOMMAND_MODULES:
        importlib.import_module(f".{module}", __package__).register(sub)
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
