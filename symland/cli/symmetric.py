"""``symland symmetric``: critical points in fixed-point subspaces (k = n, orthonormal teacher, outputs 1).

Example: ``symland symmetric --activation relu --k 6 [--isotropy S_k S_{k-1}xS_1] [--dps 50] [--json]``.
"""

from __future__ import annotations



from ..numerics.mpcontext import thread_mp
from ..symmetric.fixed_point import symmetric_critical_points
from ..symmetric.subspace import DEFAULT_ISOTROPIES, ISOTROPY_TYPES
from .options import digits, nonnegative_int, positive_int, strict_json

__all__ = ["register"]


def _cmd_symmetric(args):
    res = symmetric_critical_points(args.activation, args.k, isotropy=args.isotropy, dps=args.dps,
                                    starts=args.starts, seed=args.seed, n_eig=args.eigenvalues,
                                    hessian_dps=args.hessian_dps, progress=args.progress)
    if args.json:
        print(strict_json(res.to_dict()))
        return 0
    print(f"symmetric critical points: {args.activation}, k = n = {args.k}, V = I, student output weights fixed to 1")
    for sub in res.subspaces:
        print(f"\nFix({sub.label}): {sub.dim} scalars; {res.starts[sub.label]} starts, "
              f"{res.converged[sub.label]} converged, {len(res.failures[sub.label])} failed")
        print("  " + sub.description().replace("\n", "\n  "))
    print()
    print(res.table(digits=min(args.dps, 30)))
    print()
    for i, p in enumerate(res.points, 1):
        print(f"[{i}] {p.isotropy} ({p.kind}, index {p.index}, nullity {p.nullity}); loss = {thread_mp.nstr(p.loss, p.dps)}")
        print("    scalars: " + ", ".join(f"{n} = {thread_mp.nstr(v, 20)}" for n, v in p.scalars.items()))
        print(f"    |grad L| (full space) = {thread_mp.nstr(p.gradient_norm, 3)}; index decided by: {p.index_method}")
        if p.eigenvalues:
            eig = "; ".join(f"{thread_mp.nstr(e['value'], 15)} (x{e['multiplicity']})" for e in p.eigenvalues)
            print(f"    smallest Hessian eigenvalues (multiplicity of the float cluster): {eig}")
    print(f"\n(loss = 1/2 E[(f - f*)^2], x ~ N(0, I_k); {res.seconds:.1f} s; all digits with --json)")
    return 0


def register(subparsers):
    """Add the ``symmetric`` subcommand."""
    p = subparsers.add_parser(
        "symmetric", help="critical points in fixed-point subspaces of isotropy groups (k = n)",
        description="Critical points of the teacher-student loss with k = n, orthonormal teacher V = I_k and "
                    "student output weights fixed to 1, whose weights W are fixed by a diagonal Young subgroup "
                    "diag(S_m1 x ... x S_mr) of S_k x S_k (rows and columns permuted together). Multi-start "
                    "Newton on the few scalars of the fixed-point subspace, mpmath polish, full-space refinement "
                    "to --dps digits, Hessian classification; points merged modulo S_k x S_k.")
    p.add_argument("--activation", default="relu", help="activation with a closed-form kernel (default relu)")
    p.add_argument("--k", type=positive_int, default=6, help="teacher = student neurons = input dimension (default 6)")
    p.add_argument("--isotropy", nargs="+", default=None,
                   help=f"isotropy types: {', '.join(ISOTROPY_TYPES)} or block sizes like 4,1,1 "
                        f"(default: {' '.join(DEFAULT_ISOTROPIES)})")
    p.add_argument("--dps", type=digits, default=50, help="digits of the refinement (default 50)")
    p.add_argument("--hessian-dps", type=digits, default=30, help="digits of the classifying Hessian (default 30)")
    p.add_argument("--starts", type=positive_int, default=30, help="random starts per isotropy type (default 30)")
    p.add_argument("--seed", type=nonnegative_int, default=0, help="seed of the random starts (default 0)")
    p.add_argument("--eigenvalues", type=positive_int, default=3,
                   help="how many smallest eigenvalue clusters to report (default 3)")
    p.add_argument("--progress", action="store_true", default=None, help="progress on stderr (default: if a tty)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_symmetric)
