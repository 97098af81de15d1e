"""``symland neural-collapse``: deep neural collapse against low-rank critical points of a deep UFM."""

from __future__ import annotations

import argparse
import fractions

from ..landscape.neural_collapse import collapse_report
from ..problems.deep_ufm import DeepUFM
from .options import digits, nonnegative_int, positive_int, strict_json

__all__ = ["register"]


def _strength(text):
    """``argparse`` type: a regularisation strength as an exact fraction (``1/100``, ``0.01``, ``1e-2``:
    decimal text is read exactly, never evaluated)."""
    try:
        value = fractions.Fraction(text.strip())
    except (ValueError, ZeroDivisionError):
        raise argparse.ArgumentTypeError(f"expected a positive number such as 1/100 or 0.01, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def _ranks(text):
    """``argparse`` type: comma-separated positive ranks."""
    try:
        values = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected positive ranks, got {text!r}")
    return values


def _cmd_neural_collapse(args):
    problem = DeepUFM(args.K, args.N, args.L, width=args.width, activation=args.activation, loss=args.loss,
                      lambda_H=args.lambda_H, lambda_W=args.lambda_W)
    report = collapse_report(problem, dps=args.dps, starts=args.starts, seed=args.seed, ranks=args.ranks,
                             threshold=args.threshold, verbose=args.verbose)
    print(strict_json(report.to_dict()) if args.json else report.summary())
    return 0


def register(subparsers):
    """Add the ``neural-collapse`` subcommand."""
    p = subparsers.add_parser(
        "neural-collapse", help="deep UFM: deep neural collapse against low-rank critical points",
        description="The deep unconstrained features model (symland.DeepUFM): K classes, N samples each, free "
                    "features H1 and L weight matrices (linear or relu between them), MSE or cross-entropy plus "
                    "L2 terms. Prints the DNC critical point (exact 1-D reduction, refined and classified), the "
                    "best critical point of every lower-rank subspace, and the end points of random starts with "
                    "their counts, ranks and Hessian index; says whether DNC is the lowest point found.")
    p.add_argument("--K", type=positive_int, default=4, help="classes (default 4)")
    p.add_argument("--N", type=positive_int, default=1, help="samples per class (default 1)")
    p.add_argument("--L", type=positive_int, default=3, help="weight matrices (default 3)")
    p.add_argument("--width", type=positive_int, default=None, help="width d >= K (default K)")
    p.add_argument("--activation", choices=("linear", "relu"), default="linear")
    p.add_argument("--loss", choices=("mse", "ce"), default="ce")
    p.add_argument("--lambda-H", type=_strength, default=fractions.Fraction(1, 100), help="exact, default 1/100")
    p.add_argument("--lambda-W", type=_strength, default=fractions.Fraction(1, 100), help="exact, default 1/100")
    p.add_argument("--ranks", type=_ranks, default=None,
                   help="low-rank subspaces to search (default: every rank below DNC's)")
    p.add_argument("--starts", type=nonnegative_int, default=20, help="random starts (default 20)")
    p.add_argument("--seed", type=nonnegative_int, default=0)
    p.add_argument("--dps", type=digits, default=30, help="digits of refinement (default 30)")
    p.add_argument("--threshold", type=float, default=1e-6,
                   help="singular values counted above this fraction of the largest (default 1e-6)")
    p.add_argument("--verbose", action="store_true", help="one progress line per start on stderr")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_neural_collapse)
