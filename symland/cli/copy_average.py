"""``symland copy-average``: copy-average configurations with exact scalars, losses and indices."""

from __future__ import annotations


import sympy

from ..kernels.registry import known_activations
from ..symmetric.copy_average import copy_average
from .options import digits, positive_int, strict_json

__all__ = ["register"]


def _cmd_copy_average(args):
    res = copy_average(args.activation, args.k, args.n, dps=args.dps, classify=not args.no_classify,
                       follow=not args.no_follow, progress=not args.quiet)
    if args.json:
        print(strict_json(res.to_dict()))
        return 0
    print(res.table(digits=min(args.dps, 30)))
    print("\nclosed forms:")
    seen = set()
    for c in res.configurations:
        if c.g_exact is not None:
            for m, g, a in zip(c.partition, c.g_exact, c.a_exact):
                if (m, str(g), str(a)) not in seen:
                    seen.add((m, str(g), str(a)))
                    print(f"  group of {m}: g = {sympy.latex(g)},  a = {sympy.latex(a)}")
        if c.loss_exact is not None:
            print(f"  {list(c.partition)}: L = {sympy.latex(c.loss_exact)}")
    print(f"(criticality 'exact' = every full-space gradient component proven zero by SymPy; "
          f"'{res.dps} digits' = zero at that precision only; {res.seconds:.1f} s; all digits with --json)")
    return 0


def register(subparsers):
    """Add the ``copy-average`` subcommand."""
    p = subparsers.add_parser(
        "copy-average", help="copy-average configurations of an under-parameterised student",
        description="Every copy-average configuration (student i: w_i = g_i * sum of a group of teacher "
                    "vectors; up to symmetry an integer partition of k into n parts) of an orthonormal "
                    "unit-output teacher, with optimal scalars (exact where found), loss, full-space "
                    "criticality and Hessian index.  Loss = 1/2 E[(f - f*)^2].")
    p.add_argument("--activation", default="erf", help=f"one of {', '.join(known_activations())} (closed-form "
                   "kernels only; default erf)")
    p.add_argument("--k", type=positive_int, default=5, help="teacher neurons (default 5)")
    p.add_argument("--n", type=positive_int, default=2, help="student neurons, n <= k (default 2)")
    p.add_argument("--dps", type=digits, default=50, help="decimal digits, 16..MAX_DPS (default 50)")
    p.add_argument("--no-classify", action="store_true", help="skip the Hessian index (faster for large k)")
    p.add_argument("--no-follow", action="store_true",
                   help="do not follow non-critical configurations to the critical point Newton reaches")
    p.add_argument("--quiet", action="store_true", help="no per-configuration progress lines on stderr")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_copy_average)
