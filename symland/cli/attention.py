"""``symland attention-pca``: every critical point of the attention-as-PCA landscape, checked."""

from __future__ import annotations

import argparse

import numpy as np

from ..errors import SymlandError
from ..landscape.attention import attention_report
from ..problems.attention_pca import AttentionPCA
from .options import digits, load_arrays, nonnegative_int, strict_json

__all__ = ["register"]


def _prompt_length(text):
    """``argparse`` type: a positive integer, or ``inf`` (the infinite-prompt limit, ``None``)."""
    if text.strip().lower() in ("inf", "infinity"):
        return None
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer or 'inf', got {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer or 'inf', got {v}")
    return v


def _diagonal(text):
    """``argparse`` type: comma-separated eigenvalues of a diagonal Sigma."""
    try:
        values = [float(x) for x in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None
    return values


def _spiked(text):
    """``argparse`` type: ``D,M,BETA`` of a spiked Wishart draw."""
    parts = text.split(",")
    try:
        d, m, beta = int(parts[0]), int(parts[1]), float(parts[2])
    except (ValueError, IndexError):
        raise argparse.ArgumentTypeError(f"expected D,M,BETA (two integers and a number), got {text!r}") from None
    if len(parts) != 3:
        raise argparse.ArgumentTypeError(f"expected D,M,BETA, got {text!r}")
    return d, m, beta


def problem_from_args(args) -> AttentionPCA:
    """The problem of ``--sigma`` / ``--sigma-file`` / ``--spiked`` (one of them; default diag(4,3,2,1))."""
    given = [x for x in (args.sigma, args.sigma_file, args.spiked) if x is not None]
    if len(given) > 1:
        raise SymlandError("give at most one of --sigma, --sigma-file, --spiked")
    if args.spiked is not None:
        d, m, beta = args.spiked
        return AttentionPCA.spiked_wishart(d, m, beta, seed=args.seed, L=args.L, attention=args.attention)
    if args.sigma_file is not None:
        arrays = load_arrays(args.sigma_file, "--sigma-file", ("Sigma",))
        if "Sigma" not in arrays:
            raise SymlandError(f"--sigma-file {args.sigma_file!r}: no array 'Sigma'")
        Sigma = arrays["Sigma"]
    else:
        Sigma = np.diag(args.sigma if args.sigma is not None else [4.0, 3.0, 2.0, 1.0])
    return AttentionPCA(Sigma, L=args.L, attention=args.attention)


def _cmd_attention(args):
    problem = problem_from_args(args)
    report = attention_report(problem, dps=args.dps, certify_points=not args.no_certify, starts=args.starts,
                              seed=args.seed)
    data = report.to_dict()
    spike = getattr(problem, "spike", None)
    if spike is not None:
        best = report.rows[0]
        top = problem._eigen[1][:, 0]
        data["spike"] = {"samples": problem.samples, "beta": problem.spike_strength,
                         "overlap_top_eigenvector": repr(float(abs(top @ spike))),
                         "bbp_overlap_squared": repr(problem.bbp_overlap(problem.d / problem.samples,
                                                                         problem.spike_strength)),
                         "global_minimum": best.label}
    if args.json:
        print(strict_json(data))
    else:
        print(report.table(min(args.dps, 30)))
        if spike is not None:
            s = data["spike"]
            print(f"spiked Wishart (m = {s['samples']}, beta = {s['beta']}): the global minimum lies on the top "
                  f"eigenvector, whose overlap with the spike is {float(s['overlap_top_eigenvector']):.6f} "
                  f"(BBP asymptotics: squared overlap {float(s['bbp_overlap_squared']):.6f})")
    return 0 if report.ok else 1


def register(subparsers):
    """Add the ``attention-pca`` subcommand."""
    p = subparsers.add_parser(
        "attention-pca", help="attention as PCA: every critical point, its index, certified",
        description="The population reconstruction risk 1/2 E|x_i - f(x_i; X)|^2 of a tied rank-one attention layer "
                    "on tokens x_l ~ N(0, Sigma) (symland.AttentionPCA): its derived critical points (0 and "
                    "+-r_j e_j on each eigenvector, index j - 1) refined, classified and certified, and a survey "
                    "that must end only at them. Exit status 0 when every check passes, 1 otherwise, 2 bad input.")
    p.add_argument("--sigma", type=_diagonal, default=None,
                   help="eigenvalues of a diagonal Sigma, comma-separated (default 4,3,2,1)")
    p.add_argument("--sigma-file", default=None, help=".json or .npz file with a (d, d) array 'Sigma'")
    p.add_argument("--spiked", type=_spiked, default=None, metavar="D,M,BETA",
                   help="a spiked Wishart draw: d, samples m, spike strength beta (with --seed)")
    p.add_argument("--L", type=_prompt_length, default=None, help="prompt length, or 'inf' (default inf)")
    p.add_argument("--attention", choices=("linear", "softmax"), default="linear")
    p.add_argument("--dps", type=digits, default=40, help="digits of refinement and certification (default 40)")
    p.add_argument("--starts", type=nonnegative_int, default=40, help="survey starts (default 40; 0: none)")
    p.add_argument("--seed", type=nonnegative_int, default=0)
    p.add_argument("--no-certify", action="store_true", help="skip the ball-arithmetic certificates")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_attention)
