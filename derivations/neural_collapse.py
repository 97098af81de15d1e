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

Relu with MSE: in the settings run (lambda = 1/50, width 2K, 12 starts), no point below DNC was
found, and only part of the relu starts converge (L-BFGS stalls at kinks); the relu statement of
Súkeník et al. is not reproduced here, and the run says so rather than claim it.

Output of ``python derivations/neural_collapse.py`` (705 s on 2 cores, shared with other work):

    == A. linear layers, cross-entropy, lambda = 1/100, width K ==
    K=2 L=1 d=2  DNC 0.0560015343548 best 0.0560015343548 rank(Z) 1  DNC kind minimum            DNC optimal yes  DNC fraction 1.00 of 12/12 converged (0.1 s)
    K=2 L=2 d=2  DNC 0.0505157387675 best 0.0505157387675 rank(Z) 1  DNC kind minimum            DNC optimal yes  DNC fraction 1.00 of 12/12 converged (0.1 s)
    K=2 L=3 d=2  DNC 0.0509775679838 best 0.0509775679838 rank(Z) 1  DNC kind minimum            DNC optimal yes  DNC fraction 1.00 of 12/12 converged (0.1 s)
    K=2 L=4 d=2  DNC 0.0534869293654 best 0.0534869293654 rank(Z) 1  DNC kind minimum            DNC optimal yes  DNC fraction 1.00 of 12/12 converged (0.1 s)
    K=2 L=5 d=2  DNC 0.0569228605542 best 0.0569228605542 rank(Z) 1  DNC kind minimum            DNC optimal yes  DNC fraction 1.00 of 12/12 converged (0.1 s)
    K=2 L=6 d=2  DNC 0.0608523994241 best 0.0608523994241 rank(Z) 1  DNC kind minimum            DNC optimal yes  DNC fraction 0.92 of 12/12 converged (0.3 s)
    K=3 L=1 d=3  DNC 0.111902056891  best 0.111902056891  rank(Z) 2  DNC kind minimum            DNC optimal yes  DNC fraction 1.00 of 12/12 converged (0.1 s)
    K=3 L=2 d=3  DNC 0.100997715956  best 0.100997715956  rank(Z) 2  DNC kind minimum            DNC optimal yes  DNC fraction 1.00 of 12/12 converged (0.3 s)
    K=3 L=3 d=3  DNC 0.101936695385  best 0.101936695385  rank(Z) 2  DNC kind minimum            DNC optimal yes  DNC fraction 1.00 of 12/12 converged (0.4 s)
    K=3 L=4 d=3  DNC 0.106961262577  best 0.106961262577  rank(Z) 2  DNC kind minimum            DNC optimal yes  DNC fraction 1.00 of 12/12 converged (0.4 s)
    K=3 L=5 d=3  DNC 0.11383602557   best 0.11383602557   rank(Z) 2  DNC kind minimum            DNC optimal yes  DNC fraction 0.92 of 12/12 converged (0.6 s)
    K=3 L=6 d=3  DNC 0.1216967864    best 0.1216967864    rank(Z) 2  DNC kind minimum            DNC optimal yes  DNC fraction 0.75 of 12/12 converged (0.8 s)
    K=4 L=1 d=4  DNC 0.16770053684   best 0.16770053684   rank(Z) 3  DNC kind minimum            DNC optimal yes  DNC fraction 1.00 of 12/12 converged (0.5 s)
    K=4 L=2 d=4  DNC 0.151445692068  best 0.151445692068  rank(Z) 3  DNC kind minimum            DNC optimal yes  DNC fraction 0.42 of 12/12 converged (0.7 s)
    K=4 L=3 d=4  DNC 0.152877278124  best 0.139898750829  rank(Z) 2  DNC kind minimum            DNC optimal NO   DNC fraction 0.17 of 12/12 converged (0.9 s)
    K=4 L=4 d=4  DNC 0.160422938513  best 0.138511281406  rank(Z) 2  DNC kind minimum            DNC optimal NO   DNC fraction 0.00 of 12/12 converged (1.0 s)
    K=4 L=5 d=4  DNC 0.17073945275   best 0.14159549381   rank(Z) 2  DNC kind minimum            DNC optimal NO   DNC fraction 0.08 of 12/12 converged (1.4 s)
    K=4 L=6 d=4  DNC 0.182533128618  best 0.146973836663  rank(Z) 2  DNC kind minimum            DNC optimal NO   DNC fraction 0.00 of 12/12 converged (2.1 s)
    K=5 L=1 d=5  DNC 0.223395922179  best 0.223395922179  rank(Z) 4  DNC kind minimum            DNC optimal yes  DNC fraction 1.00 of 12/12 converged (0.8 s)
    K=5 L=2 d=5  DNC 0.20185942412   best 0.19862531503   rank(Z) 3  DNC kind minimum            DNC optimal NO   DNC fraction 0.17 of 12/12 converged (1.4 s)
    K=5 L=3 d=5  DNC 0.203799210917  best 0.182979570621  rank(Z) 2  DNC kind minimum            DNC optimal NO   DNC fraction 0.00 of 12/12 converged (2.0 s)
    K=5 L=4 d=5  DNC 0.213871895446  best 0.172577151752  rank(Z) 2  DNC kind minimum            DNC optimal NO   DNC fraction 0.00 of 12/12 converged (3.3 s)
    K=5 L=5 d=5  DNC 0.227633099416  best 0.170528727701  rank(Z) 2  DNC kind minimum            DNC optimal NO   DNC fraction 0.00 of 12/12 converged (6.0 s)
    K=5 L=6 d=5  DNC 0.243361393499  best 0.172638628287  rank(Z) 2  DNC kind minimum            DNC optimal NO   DNC fraction 0.00 of 12/12 converged (6.1 s)
    K=2: DNC is the lowest point found for every depth run (L <= 6)
    K=3: DNC is the lowest point found for every depth run (L <= 6)
    K=4: DNC stops being optimal at depth L = 3 (a critical point of rank(Z) = 2 lies below it)
    K=5: DNC stops being optimal at depth L = 2 (a critical point of rank(Z) = 3 lies below it)
    == A'. linear layers, MSE, lambda = 1/100, width K (DNC optimal at every depth) ==
    K=3 L=1 d=3  DNC 0.02955         best 0.02955         rank(Z) 3  DNC kind minimum            DNC optimal yes  DNC fraction 1.00 of 12/12 converged (0.1 s)
    K=3 L=2 d=3  DNC 0.0445453915733 best 0.0445453915733 rank(Z) 3  DNC kind minimum            DNC optimal yes  DNC fraction 1.00 of 12/12 converged (0.4 s)
    K=3 L=3 d=3  DNC 0.0595430391427 best 0.0595430391427 rank(Z) 3  DNC kind minimum            DNC optimal yes  DNC fraction 0.75 of 12/12 converged (0.7 s)
    K=3: DNC is the lowest point found for every depth run (L <= 3)
    == B. relu layers, MSE, lambda = 1/50, width 2K ==
    K=2 L=1 d=4  DNC 0.0392          best 0.0392          rank(Z) 2  DNC kind minimum            DNC optimal yes  DNC fraction 1.00 of 12/12 converged (0.1 s)
    K=2 L=2 d=4  DNC 0.0591889868533 best 0.0591889868533 rank(Z) 2  DNC kind piece degenerate   DNC optimal yes  DNC fraction 0.67 of 12/12 converged (0.3 s)
    K=2 L=3 d=4  DNC 0.0791833242041 best 0.0791833242041 rank(Z) 2  DNC kind piece degenerate   DNC optimal yes  DNC fraction 0.42 of 12/12 converged (0.7 s)
    K=2 L=4 d=4  DNC 0.0991798746356 best 0.0991798746356 rank(Z) 2  DNC kind piece degenerate   DNC optimal yes  DNC fraction 0.18 of 11/12 converged (2.9 s)
    K=2 L=5 d=4  DNC 0.11917755277   best 0.11917755277   rank(Z) 2  DNC kind piece degenerate   DNC optimal yes  DNC fraction 0.00 of 12/12 converged (0.8 s)
    K=3 L=1 d=6  DNC 0.0582          best 0.0582          rank(Z) 3  DNC kind minimum            DNC optimal yes  DNC fraction 1.00 of 12/12 converged (0.4 s)
    K=3 L=2 d=6  DNC 0.0881622059311 best 0.0881622059311 rank(Z) 3  DNC kind piece degenerate   DNC optimal yes  DNC fraction 0.67 of 12/12 converged (0.9 s)
    K=3 L=3 d=6  DNC 0.118142478892  best 0.118142478892  rank(Z) 3  DNC kind piece degenerate   DNC optimal yes  DNC fraction 0.12 of 8/12 converged (18.7 s)
    K=3 L=4 d=6  DNC 0.148130360091  best 0.148130360091  rank(Z) 3  DNC kind piece degenerate   DNC optimal yes  DNC fraction 0.00 of 8/12 converged (20.6 s)
    K=3 L=5 d=6  DNC 0.178122158904  best 0.178122158904  rank(Z) 3  DNC kind piece degenerate   DNC optimal yes  DNC fraction 0.00 of 9/12 converged (7.1 s)
    K=4 L=1 d=8  DNC 0.0768          best 0.0768          rank(Z) 4  DNC kind minimum            DNC optimal yes  DNC fraction 1.00 of 12/12 converged (1.8 s)
    K=4 L=2 d=8  DNC 0.116708862985  best 0.116708862985  rank(Z) 4  DNC kind piece degenerate   DNC optimal yes  DNC fraction 0.90 of 10/12 converged (51.4 s)
    K=4 L=3 d=8  DNC 0.156660533191  best 0.156660533191  rank(Z) 4  DNC kind piece degenerate   DNC optimal yes  DNC fraction 0.50 of 4/12 converged (132.2 s)
    K=4 L=4 d=8  DNC 0.19663057272   best 0.19663057272   rank(Z) 4  DNC kind piece degenerate   DNC optimal yes  DNC fraction 0.00 of 5/12 converged (113.7 s)
    K=4 L=5 d=8  DNC 0.236610177627  best 0.236610177627  rank(Z) 4  DNC kind piece degenerate   DNC optimal yes  DNC fraction 0.00 of 8/12 converged (318.9 s)
    K=2: DNC is the lowest point found for every depth run (L <= 5)
    K=3: DNC is the lowest point found for every depth run (L <= 5)
    K=4: DNC is the lowest point found for every depth run (L <= 5)
    == C. prevalence against width: linear, cross-entropy, K = 4, L = 3, lambda = 1/100 ==
    width  4: 3/24 converged starts end at DNC; end points: end point 0.139898751 x21 (rank Z 2), DNC 0.152877278 x3 (rank Z 3)
    width  8: 15/24 converged starts end at DNC; end points: end point 0.139898751 x9 (rank Z 2), DNC 0.152877278 x15 (rank Z 3)
    width 16: 21/24 converged starts end at DNC; end points: end point 0.139898751 x3 (rank Z 2), DNC 0.152877278 x21 (rank Z 3)
    total 705 s
    every claim checked
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
