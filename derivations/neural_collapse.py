r"""Deep neural collapse against low rank in deep unconstrained feature models, at high precision.

Setting: :class:`symland.DeepUFM` (K classes, one sample per class, free features $H_1$, $L$
weight matrices, $\lambda_H = \lambda_W = \lambda$), the statements of Súkeník, Mondelli and
Lampert (MSE, relu: DNC is not optimal beyond two layers or two classes) and of Garrod and Keating
(cross-entropy: DNC is not optimal as depth grows, the number of non-negligible singular values at
the global minimum stays bounded, and yet DNC is the more prevalent end point of training).

For every setting :func:`symland.collapse_report` refines the DNC point (exact one-dimensional
reduction, then Newton at ``--dps`` digits), the best point of each lower-rank subspace, and the
distinct end points of ``--starts`` random L-BFGS starts, and classifies each by its Hessian (relu:
on the smooth piece through it).  Parts:

A. **depth sweep, linear layers, cross-entropy** ($\lambda = 1/100$, width $K$): DNC loss, lowest
   loss found, its rank (singular values of $Z$ above $10^{-6}$ of the largest), DNC's kind and the
   fraction of starts that end at DNC; the first depth where a point lies below DNC, per $K$;
B. **depth sweep, relu layers, MSE** ($\lambda = 1/50$, width $2K$): the same columns;
C. **prevalence against width** (linear, cross-entropy, $K = 4$, $L = 3$; float64 end points only):
   the fraction of starts ending at DNC for widths $4, 8, 16$.

Run:  python derivations/neural_collapse.py [--small] [--starts 12] [--dps 30] [--parts A A' B C]

Asserted (``FAIL:`` and exit status 1 otherwise): every DNC point refines (it is critical to
``--dps`` digits) to the loss of its one-dimensional reduction; at $L = 1$ (the plain unconstrained
features model, where neural collapse is the global minimum, Zhu et al. 2021 for cross-entropy,
Tirer and Bruna 2022 for MSE) no point lies below DNC; for linear MSE no point lies below DNC at any
depth (the loss decouples over singular values, module docstring of symland.problems.deep_ufm's
tests); and in part C the DNC fraction at the largest width exceeds that at width $K$.

Output of ``python derivations/neural_collapse.py`` (see the end of this docstring).
"""

from __future__ import annotations

import argparse
import fractions
import sys
import time

from symland import DeepUFM, collapse_report
from symland.landscape.neural_collapse import prevalence
from symland.numerics.mpcontext import thread_mp


def _row(K, L, d, report):
    best = report.best
    return (f"K={K} L={L} d={d:<2} DNC {thread_mp.nstr(report.dnc.loss, 12):<15} best "
            f"{thread_mp.nstr(best.loss, 12):<15} rank(Z) {best.ranks['Z']}  DNC kind {report.dnc.kind:<18} "
            f"DNC optimal {'yes' if report.dnc_optimal else 'NO '}  DNC fraction {report.dnc_fraction:.2f} of "
            f"{report.starts - report.failed}/{report.starts} converged ({report.seconds:.1f} s)")


def sweep(title, Ks, Ls, width, activation, loss, lam, args, failures):
    print(f"== {title} ==", flush=True)
    first_below = {}
    for K in Ks:
        for L in Ls:
            d = width(K)
            p = DeepUFM(K, 1, L, width=d, activation=activation, loss=loss, lambda_H=lam, lambda_W=lam)
            r = collapse_report(p, dps=args.dps, starts=args.starts, seed=args.seed)
            print(_row(K, L, d, r), flush=True)
            with thread_mp.workdps(args.dps):
                exact = p.dnc(dps=args.dps).loss
                if r.dnc.kind.startswith("not refined") or abs(r.dnc.loss - exact) > thread_mp.mpf(10) ** (5 - args.dps):
                    failures.append(f"{title}: K={K} L={L}: DNC did not refine to its reduction's loss ({r.dnc.kind})")
            if L == 1 and not r.dnc_optimal:
                failures.append(f"{title}: K={K} L=1: a point lies below DNC in the plain UFM")
            if activation == "linear" and loss == "mse" and not r.dnc_optimal:
                failures.append(f"{title}: K={K} L={L}: a point lies below DNC for linear MSE")
            if not r.dnc_optimal and K not in first_below:
                first_below[K] = (L, r.best.ranks["Z"])
    for K in Ks:
        if K in first_below:
            L, rank = first_below[K]
            print(f"K={K}: DNC stops being optimal at depth L = {L} (a critical point of rank(Z) = {rank} lies below it)")
        else:
            print(f"K={K}: DNC is the lowest point found for every depth run (L <= {max(Ls)})")
    return first_below


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--small", action="store_true", help="fewer settings (K <= 4, L <= 4), for the tests")
    ap.add_argument("--starts", type=int, default=12)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--dps", type=int, default=30)
    ap.add_argument("--parts", nargs="+", default=["A", "A'", "B", "C"], choices=["A", "A'", "B", "C"],
                    help="which parts to run (default all)")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    failures = []
    Ls = [1, 2, 3, 4] if args.small else [1, 2, 3, 4, 5, 6]
    if "A" in args.parts:
        sweep("A. linear layers, cross-entropy, lambda = 1/100, width K", [3, 4] if args.small else [2, 3, 4, 5], Ls,
              lambda K: K, "linear", "ce", fractions.Fraction(1, 100), args, failures)
    if "A'" in args.parts:
        sweep("A'. linear layers, MSE, lambda = 1/100, width K (DNC optimal at every depth)", [3], Ls[:3],
              lambda K: K, "linear", "mse", fractions.Fraction(1, 100), args, failures)
    if "B" in args.parts:
        sweep("B. relu layers, MSE, lambda = 1/50, width 2K", [3] if args.small else [2, 3, 4],
              [1, 2, 3] if args.small else [1, 2, 3, 4, 5], lambda K: 2 * K, "relu", "mse",
              fractions.Fraction(1, 50), args, failures)
    if "C" in args.parts:
        prevalence_against_width(args, failures)
    print(f"total {time.perf_counter() - t0:.0f} s")
    for f in failures:
        print("FAIL:", f)
    if not failures:
        print("every claim checked")
    return 1 if failures else 0


def prevalence_against_width(args, failures):
    print("== C. prevalence against width: linear, cross-entropy, K = 4, L = 3, lambda = 1/100 ==")
    fractions_by_width = {}
    starts_c = max(args.starts, 24)
    for d in ([4, 8] if args.small else [4, 8, 16]):
        p = DeepUFM(4, 1, 3, width=d, loss="ce", lambda_H=fractions.Fraction(1, 100),
                    lambda_W=fractions.Fraction(1, 100))
        groups, failed = prevalence(p, starts=starts_c, seed=args.seed)
        converged = starts_c - failed
        dnc = sum(g.count for g in groups if g.label == "DNC")
        fractions_by_width[d] = dnc / converged if converged else 0.0
        found = ", ".join(f"{g.label} {g.loss:.9g} x{g.count} (rank Z {g.ranks['Z']})" for g in groups)
        print(f"width {d:>2}: {dnc}/{converged} converged starts end at DNC; end points: {found}")
    widths = sorted(fractions_by_width)
    if not fractions_by_width[widths[-1]] > fractions_by_width[widths[0]]:
        failures.append("C: the DNC fraction does not grow with the width")


if __name__ == "__main__":
    sys.exit(main())
