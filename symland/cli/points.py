r"""``symland loss``, ``symland critical``, ``symland survey``: the loss at a point, one critical point refined
and classified, and a multi-start survey of critical points.

Loss $L = \tfrac12 E[(f - f^*)^2]$, $x \sim N(0, I_d)$; ``--json`` prints every number as a decimal string
with all digits computed.
"""

from __future__ import annotations

import inspect
import os
import sys
import time

import numpy as np

from ..channels.survey import survey
from ..landscape.critical import refine
from ..landscape.deflation import deflated_survey
from ..landscape.survey import SOLVERS, solver_function
from ..results.catalog import Catalog
from ..problems.enclosure import require_ball_form
from .certify import add_certify_options, certificate_lines, certify_point, progress
from .options import (
    add_problem_options, digits, format_number, nonnegative_int, positive_float, positive_int, problem_from_args,
    strict_json,
)
from ..numerics.mpcontext import thread_mp

__all__ = ["register"]


def _cmd_loss(args):
    prob, theta = problem_from_args(args)
    if args.dps:
        loss, grad = prob.loss_and_gradient(theta, dps=args.dps)
        with thread_mp.workdps(args.dps):
            gnorm = thread_mp.sqrt(thread_mp.fsum(g * g for g in grad))
    else:
        loss, grad = prob.loss_and_gradient(theta)
        gnorm = float(np.linalg.norm(grad))
    out = {"problem": repr(prob), "loss": format_number(loss, args.dps),
           "gradient_norm": format_number(gnorm, args.dps), "dps": args.dps,
           "convention": "loss = 1/2 E[(f - f*)^2], x ~ N(0, I_d)"}
    if args.json:
        print(strict_json(out))
    else:
        print(out["problem"])
        print(f"loss          = {out['loss']}")
        print(f"|grad loss|   = {out['gradient_norm']}")
        print(f"({out['convention']}; {'mpmath at %d digits' % args.dps if args.dps else 'float64'})")
    return 0


#: float64 solvers by command-line name (minimize, flow, newton)
_SOLVER_NAMES = tuple(SOLVERS)


def _solve_float(prob, theta, solver, gtol):
    return solver_function(solver)(prob, theta, gtol=gtol)


def _cmd_critical(args):
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
        print(strict_json(out))
        return 0
    print(out["problem"])
    if float_info:
        state = "converged" if res.converged else "stopped"
        print(f"start: {start}; {solver} {state} at |grad| = {res.gradient_norm:.3g} "
              f"after {res.iterations} iterations")
    else:
        print(f"start: {start} (refined directly)")
    print(f"loss          = {out['loss']}  (correct digits only; error bound {out['loss_error']})")
    print(f"|grad loss|   = {out['gradient_norm']}")
    print(f"digits        = {cp.digits} (of dps {cp.dps})")
    print(f"index         = {cp.index}")
    src = f" {cp.zero_mode_sources}" if cp.zero_mode_sources else ""
    print(f"nullity       = {cp.nullity} (explained by symmetries: {cp.predicted_nullity}{src})")
    print(f"kind          = {cp.kind}")
    m = min(args.eigenvalues, len(cp.eigenvalues))
    eig = ", ".join(cp.eigenvalue_strings(12)[:m])
    print(f"smallest {m} Hessian eigenvalues: {eig}")
    print(f"({out['convention']}; mpmath at {cp.dps} digits)")
    return 0


def survey_merge(args) -> str:
    """``--merge``, or when it is not given the default of the function that runs: ``survey``'s
    (``"orbit"``), or ``deflated_survey``'s with ``--saddles`` (``"function"``: one row per critical
    manifold, which deflated Newton meets often)."""
    if args.merge is not None:
        return args.merge
    fn = deflated_survey if args.saddles else survey
    return inspect.signature(fn).parameters["merge"].default


def _cmd_survey(args):
    prob, _ = problem_from_args(args)
    if args.certify:
        require_ball_form(prob)  # refused before the survey, not after it
    catalog = Catalog(args.catalog) if args.catalog else None  # a foreign file is refused before the survey too
    t0 = time.perf_counter()
    if args.saddles:
        res = deflated_survey(prob, starts=args.starts, seed=args.seed, dps=args.dps, gtol=args.gtol,
                              merge=survey_merge(args), progress=sys.stderr.isatty())
    else:
        res = survey(prob, starts=args.starts, seed=args.seed, dps=args.dps, solver=args.solver,
                     workers=args.workers, gtol=args.gtol, merge=survey_merge(args), progress=None,
                     batch=not args.no_batch)
    certificates = []
    if args.certify:
        for r, (cp, _) in enumerate(res.points, 1):
            progress(f"certifying point {r}/{len(res.points)} ({cp.kind}, index {cp.index}) at "
                     f"{args.certify_dps} digits ...")
            certificates.append(certify_point(prob, cp.theta, args))
    if catalog is not None:
        ids = catalog.add(prob, res, certificates=certificates or None,
                          command=args.command_line)
        progress(f"catalog {args.catalog}: {len(res.points)} points stored or merged (rows {sorted(set(ids))})")
    if args.json:
        out = res.to_dict()
        for point, cert in zip(out["points"], certificates):
            point["certificate"] = cert.to_dict()
        out["workers"] = args.workers or os.cpu_count() or 1
        out["seconds"] = round(time.perf_counter() - t0, 3)
        print(strict_json(out))
    else:
        print(res.table())
        for r, cert in enumerate(certificates, 1):
            print(f"point {r}: " + "\n         ".join(certificate_lines(cert)))
        print(f"({time.perf_counter() - t0:.1f} s; full digits and parameters with --json)")
    return 0


def register(subparsers):
    """Add the ``loss``, ``critical`` and ``survey`` subcommands."""
    p = subparsers.add_parser("loss", help="loss and gradient norm of a preset or weights file")
    add_problem_options(p)
    p.add_argument("--dps", type=digits, default=None, help="decimal digits (mpmath, 16..MAX_DPS); default float64")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_loss)
    p = subparsers.add_parser(
        "critical", help="refine one critical point to many digits and classify it",
        description="Refine one critical point by Newton's method in mpmath and classify it by its Hessian "
                    "spectrum.  The start is --weights FILE (refined directly unless --solver is given) or a "
                    "random student (--seed; W ~ N(0, 1/d), a ~ N(0, 1)) run through the float64 --solver first.")
    add_problem_options(p)
    p.add_argument("--solver", choices=("none",) + _SOLVER_NAMES, default=None,
                   help="float64 stage before refinement (default: minimize for a random start, "
                        "none for --weights)")
    p.add_argument("--gtol", type=positive_float, default=1e-10, help="gradient tolerance of the float solver")
    p.add_argument("--dps", type=digits, default=50, help="decimal digits of the refinement (default 50)")
    p.add_argument("--eigenvalues", type=nonnegative_int, default=6, help="how many smallest eigenvalues to print")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_critical)
    p = subparsers.add_parser(
        "survey", help="multi-start survey of the critical points",
        description="Draw --starts random starts (start j: numpy default_rng(SeedSequence(seed).spawn(starts)[j]), "
                    "W ~ N(0, 1/d), a ~ N(0, 1)), run the float64 solver, refine to --dps digits, classify, and "
                    "merge points related by a symmetry. With --weights the problem (teacher V, b and n) is read "
                    "from the file.")
    add_problem_options(p)
    p.add_argument("--starts", type=positive_int, default=20, help="number of random starts (default 20)")
    p.add_argument("--dps", type=digits, default=30, help="decimal digits of the refinement (default 30)")
    p.add_argument("--solver", choices=_SOLVER_NAMES, default="minimize",
                   help="float64 solver (default minimize: exact-Hessian trust region; lbfgs: L-BFGS then Newton, "
                        "cheapest per start at large n; gd: gradient descent with the best stable fixed step, then "
                        "Newton; newton also converges to saddles)")
    p.add_argument("--gtol", type=positive_float, default=1e-10, help="gradient tolerance of the float solver")
    p.add_argument("--catalog", help="also store the distinct points (and certificates) in this SQLite catalog, "
                                      "merged with the points of earlier runs modulo symmetries")
    p.add_argument("--merge", choices=("orbit", "function"), default=None,
                   help="merge points modulo the symmetry group (default), or also points computing the same "
                        "function with equal index and nullity (one row per critical manifold; default of "
                        "--saddles)")
    p.add_argument("--saddles", action="store_true",
                   help="critical points of every index: deflated Newton from every start, batched Newton from "
                        "random points of the Young fixed-point subspaces (permutation-symmetric teacher, "
                        "n = k = d), and min-mode following from every point found (symland.deflated_survey; "
                        "--solver, --workers and --no-batch do not apply)")
    p.add_argument("--workers", type=positive_int, default=None,
                   help="worker processes of the refinements (default: CPU count; 1 = serial, in-process)")
    p.add_argument("--no-batch", action="store_true",
                   help="run solver and refinement per start (default: the float64 stage of minimize, lbfgs and "
                        "newton runs all starts at once, and end points in one orbit are refined once)")
    p.add_argument("--certify", action="store_true",
                   help="prove each distinct point in ball arithmetic (symland certify; plain problems with a "
                        "closed-form kernel): a ball holding exactly one critical point, its index, its loss")
    add_certify_options(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_survey)
