r"""``symland certify``: a proof that a ball around a point holds exactly one critical point, its
Hessian index and an enclosure of its loss (:func:`symland.landscape.certify.certify`), and the
certificates that ``symland survey --certify`` attaches to each distinct point.

Exit status: 0 certified, 1 not certified (the reason is printed), 2 bad input or a refused
problem (an activation without a closed-form ``arb`` kernel, biases, GLU units).
"""

from __future__ import annotations

import sys

from ..errors import DomainError
from ..landscape.certify import certify, symmetry_words
from .options import add_problem_options, digits, positive_float, problem_from_args, strict_json

__all__ = ["register", "certificate_lines", "certify_point"]


def certify_point(problem, theta, args):
    """:func:`~symland.landscape.certify.certify` with the command-line options."""
    return certify(problem, theta, dps=args.certify_dps, refine_point=not args.no_refine, max_move=args.max_move,
                   radius=args.radius, tight_eigenvalues=args.tight_eigenvalues)


def certificate_lines(cert) -> list:
    """Human-readable lines: the claim with its numbers, or the status and reason."""
    if not cert.certified:
        lines = [f"not certified ({cert.status}): {cert.reason}"]
        if cert.nullity:
            lines.append(f"nullity       = {cert.nullity} (numerically zero eigenvalues at the centre)")
        return lines
    lo, hi = cert.loss_interval(30)
    lam = cert.to_dict()["lambda_min"]
    lines = [f"certified {cert.kind}: exactly one critical point in the max-norm ball of radius {cert.radius:.3g}",
             f"index         = {cert.index} (proven for every Hessian in the ball)",
             f"nullity       = {cert.nullity}" + (f" (orbit directions of {symmetry_words(cert.symmetry)}; proven "
                                                   "in reduced coordinates)" if cert.nullity else ""),
             f"loss          in [{lo}, {hi}]",
             f"lambda_min    in [{lam[0]}, {lam[1]}]" + (" (reduced coordinates)" if cert.nullity else ""),
             f"contraction   = {cert.contraction:.3g} (Krawczyk: < 1 proves existence and uniqueness)"]
    return lines


def _cmd_certify(args):
    if not args.weights:
        raise DomainError("symland certify needs --weights FILE (the point to certify: W, and a unless "
                          "--fixed-output)")
    prob, theta = problem_from_args(args)
    cert = certify_point(prob, theta, args)
    if args.json:
        out = {"problem": repr(prob), "weights": args.weights,
               "convention": "loss = 1/2 E[(f - f*)^2], x ~ N(0, I_d)"}
        out.update(cert.to_dict())
        print(strict_json(out))
    else:
        print(repr(prob))
        print("\n".join(certificate_lines(cert)))
        print(f"({cert.seconds:.2f} s; ball arithmetic at {cert.dps} digits; centre and evidence with --json)")
    return 0 if cert.certified else 1


def add_certify_options(p, default_dps=50):
    """The options of a certificate (``--certify-dps`` etc.)."""
    p.add_argument("--certify-dps", type=digits, default=default_dps,
                   help=f"decimal digits of the ball arithmetic and of the refined centre (default {default_dps})")
    p.add_argument("--radius", type=positive_float, default=None,
                   help="max-norm radius of the ball (default: the first of 10^-(dps/2) and 100 |Newton step| "
                        "that passes the Krawczyk test)")
    p.add_argument("--max-move", type=positive_float, default=1e-7,
                   help="refuse the point when refinement moves it further than this (relative; default 1e-7)")
    p.add_argument("--no-refine", action="store_true", help="take the point as the centre, without refinement")
    p.add_argument("--tight-eigenvalues", action="store_true",
                   help="enclose the smallest Hessian eigenvalue to about the ball's digits (mpmath eigenvectors)")


def register(subparsers):
    """Add the ``certify`` subcommand."""
    p = subparsers.add_parser(
        "certify", help="prove one critical point: a ball holding exactly one, its index, its loss",
        description="Refine the point of --weights to --certify-dps digits and prove, in ball arithmetic, that a "
                    "ball around it contains exactly one critical point (Krawczyk), the Hessian's index over the "
                    "whole ball (Sylvester + Gershgorin) and an enclosure of the loss. Exit status 0 certified, "
                    "1 not certified (with the reason), 2 bad input. Problems whose kernels have closed forms "
                    "(plain, with biases, with GLU units).")
    add_problem_options(p)
    add_certify_options(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_certify)


def progress(message: str):
    """One progress line on stderr."""
    print(message, file=sys.stderr, flush=True)
