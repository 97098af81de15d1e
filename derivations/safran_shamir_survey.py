r"""Safran & Shamir's experiment, reproduced: how often random starts end in a spurious minimum.

Setting (Safran & Shamir, "Spurious local minima are common in two-layer ReLU neural networks",
ICML 2018): $x \sim N(0, I_k)$, teacher $\sum_r \mathrm{relu}(e_r\cdot x)$ (orthonormal, output
weights 1), student $\sum_i \mathrm{relu}(w_i\cdot x)$ with $n = k$ and output weights fixed to 1,
$L = \tfrac12 E[(f - f^*)^2]$ (``TeacherStudent.orthonormal("relu", k, k, train_output=False)``).
They ran gradient descent on the exact objective from Xavier-initialised starts and reported that
the fraction of starts ending in a spurious (loss > 0) local minimum grows with k; the companion
script ``derivations/safran_shamir.py`` proves that such minima exist for every k = 6..20.

Run:  python derivations/safran_shamir_survey.py [--small] [--k-min 6] [--k-max 20] [--starts 200]
                                                  [--seed 0] [--solver lbfgs] [--dps 30]
                                                  [--workers N] [--json FILE]

For each k (default 6..20; ``--small``: k = 6..10 and 40 starts):

1. **Starts.**  ``--starts`` (default 200) Xavier-uniform (Glorot) starts, the initialisation
   Safran & Shamir used: $W_{il} \sim U(-\sqrt{6/(\mathrm{fan_{in}} + \mathrm{fan_{out}})},
   +\sqrt{\cdot})$ with $\mathrm{fan_{in}} = \mathrm{fan_{out}} = k$, i.e. $U(-\sqrt{3/k},
   \sqrt{3/k})$ (variance $1/k$); start $j$ of size $k$ is drawn by
   ``numpy.random.default_rng(SeedSequence([seed, k]).spawn(starts)[j])``.
2. **Survey.**  :func:`symland.landscape.survey.survey` with these starts: the float64 stage for
   all starts at once (``--solver``: default ``lbfgs``, L-BFGS then Newton, the batched solver
   closest to plain gradient descent; ``minimize`` is the exact-Hessian trust region), each orbit
   of end points refined to ``--dps`` digits by mpmath Newton and classified by its Hessian
   spectrum (index, nullity), points merged modulo $S_k \times S_k$, each point's isotropy group
   (its stabiliser in $S_n \times S_k$) named.
3. **Tally.**  Every start is counted as: global minimum (loss $< 10^{-20}$), spurious minimum
   (index 0, nullity 0, loss above $10^{-20}$), saddle (index > 0), degenerate (index 0 with
   zero Hessian eigenvalues) or failed (no critical point: the reason is printed).
4. **Independent check.**  The loss of every distinct spurious minimum is recomputed from the
   relu kernel written out by hand in ``derivations/safran_shamir.py`` (Cho & Saul's arc-cosine
   kernel, summed pair by pair in 60-digit mpmath, no symland code) and must agree with the
   survey's loss to all but 5 of the point's correct digits; every spurious minimum must have a
   smallest Hessian eigenvalue above the point's zero threshold (index 0, nullity 0 already
   say so; the eigenvalue is printed).

Printed: one row per k (starts, how many ended where, the fraction in spurious minima, distinct
spurious minima, seconds), then the distinct spurious minima of each k with loss, isotropy,
smallest Hessian eigenvalue and count.  Asserted (``FAIL:`` line and exit status 1 otherwise):
every start is accounted for, and every independent loss check agrees.

Output of ``python derivations/safran_shamir_survey.py --json ss.json`` (2-core machine):

    (filled in below from the run)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import mpmath
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # the hand-written relu loss

from safran_shamir import relu_loss_by_hand  # noqa: E402

from symland import TeacherStudent  # noqa: E402
from symland.landscape.survey import point_isotropy, survey  # noqa: E402

#: loss below this is the global minimum (loss 0)
ZERO_LOSS = 1e-20
#: the independent loss must agree to all but this many of the point's correct digits
CHECK_SLACK = 5


def xavier_starts(k: int, starts: int, seed: int) -> np.ndarray:
    r"""``(starts, k*k)`` Xavier-uniform starts: $W_{il} \sim U(-\sqrt{3/k}, \sqrt{3/k})$ (module docstring)."""
    limit = np.sqrt(6.0 / (k + k))
    children = np.random.SeedSequence([seed, k]).spawn(starts)
    return np.array([np.random.default_rng(c).uniform(-limit, limit, size=k * k) for c in children])


def outcome_of(cp) -> str:
    """``"global"``, ``"spurious"``, ``"saddle"`` or ``"degenerate"`` for a refined point."""
    if cp.loss < ZERO_LOSS:
        return "global"
    if cp.index > 0:
        return "saddle"
    return "spurious" if cp.nullity == 0 else "degenerate"


def independent_loss_error(prob, cp) -> tuple[float, int]:
    """``(|survey loss - hand-written loss|, digits the agreement must reach)``."""
    W = prob.unpack(cp.theta).W
    with mpmath.workdps(60):
        by_hand = relu_loss_by_hand([[mpmath.mpf(x) for x in row] for row in W])
        err = abs(mpmath.mpf(cp.loss) - by_hand)
        scale = max(mpmath.mpf(1), abs(by_hand))
    return float(err / scale), max(cp.digits - CHECK_SLACK, 1)


def survey_k(k, args, log):
    prob = TeacherStudent.orthonormal("relu", k, k, train_output=False)
    starts = xavier_starts(k, args.starts, args.seed)
    t0 = time.perf_counter()
    res = survey(prob, starts=starts, dps=args.dps, solver=args.solver, workers=args.workers, progress=True)
    seconds = time.perf_counter() - t0
    tally = {"global": 0, "spurious": 0, "saddle": 0, "degenerate": 0, "failed": len(res.failures)}
    minima, problems = [], []
    for pt in res.points:
        cp = pt.point
        kind = outcome_of(cp)
        tally[kind] += pt.count
        if kind != "spurious":
            continue
        err, need = independent_loss_error(prob, cp)
        ok = err <= 10.0 ** (-need)
        if not ok:
            problems.append(f"k={k}: loss {mpmath.nstr(cp.loss, 20)} disagrees with the hand-written loss "
                            f"by {err:.1e} (needed 1e-{need})")
        minima.append({"loss": mpmath.nstr(cp.loss, cp.digits, strip_zeros=False), "digits": cp.digits,
                       "isotropy": point_isotropy(prob, cp.theta), "count": pt.count,
                       "lambda_min": mpmath.nstr(min(cp.eigenvalues), 6), "check_error": err, "check_ok": ok})
    if sum(tally.values()) != args.starts:
        problems.append(f"k={k}: {sum(tally.values())} starts accounted for, {args.starts} drawn")
    failures = [f"start {f.start} ({f.stage}): {f.reason}" for f in res.failures]
    log(f"k = {k}: {seconds:.1f} s, {tally}")
    return {"k": k, "starts": args.starts, **tally, "fraction_spurious": tally["spurious"] / args.starts,
            "distinct_spurious": len(minima), "distinct_points": len(res.points), "seconds": round(seconds, 1),
            "minima": minima, "failures": failures}, problems


def print_tables(rows, args):
    print(f"relu, orthonormal teacher, n = k, output weights fixed to 1; {args.starts} Xavier-uniform starts per k "
          f"(seed {args.seed}); float64 solver {args.solver} (batched), refinement to {args.dps} digits")
    print(f"{'k':>3} {'starts':>6} {'global':>6} {'spurious':>8} {'fraction':>8} {'saddle':>6} {'degen':>5} "
          f"{'failed':>6} {'distinct':>8} {'seconds':>8}")
    for r in rows:
        print(f"{r['k']:>3} {r['starts']:>6} {r['global']:>6} {r['spurious']:>8} {r['fraction_spurious']:>8.3f} "
              f"{r['saddle']:>6} {r['degenerate']:>5} {r['failed']:>6} {r['distinct_spurious']:>8} "
              f"{r['seconds']:>8.1f}")
    print("  spurious = starts ending in a strict local minimum with loss > 0; distinct = those minima modulo "
          "S_k x S_k")
    for r in rows:
        if not r["minima"]:
            continue
        print(f"\nk = {r['k']}: distinct spurious minima (loss to 15 digits; lambda_min = smallest Hessian eigenvalue)")
        for m in r["minima"]:
            print(f"  {m['loss'][:17]:<17}  count {m['count']:>4}  lambda_min {m['lambda_min']:<10}  {m['isotropy']}")
        for f in r["failures"]:
            print(f"  failed {f}")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--small", action="store_true", help="k = 6..10 and 40 starts per k")
    p.add_argument("--k-min", type=int, default=6)
    p.add_argument("--k-max", type=int, default=None, help="largest k (default 20; 10 with --small)")
    p.add_argument("--starts", type=int, default=None, help="starts per k (default 200; 40 with --small)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--solver", choices=("lbfgs", "minimize", "newton"), default="lbfgs")
    p.add_argument("--dps", type=int, default=30, help="digits of the refinement (default 30)")
    p.add_argument("--workers", type=int, default=None, help="processes of the refinements (default: CPU count)")
    p.add_argument("--json", metavar="FILE", help="also write every row and minimum to FILE")
    args = p.parse_args(argv)
    args.k_max = args.k_max if args.k_max is not None else (10 if args.small else 20)
    args.starts = args.starts if args.starts is not None else (40 if args.small else 200)
    if not 2 <= args.k_min <= args.k_max or args.starts < 1:
        p.error("need 2 <= --k-min <= --k-max and --starts >= 1")

    def log(msg):
        print(msg, file=sys.stderr, flush=True)

    t0 = time.perf_counter()
    rows, problems = [], []
    for k in range(args.k_min, args.k_max + 1):
        row, bad = survey_k(k, args, log)
        rows.append(row)
        problems += bad
    print_tables(rows, args)
    print(f"\ntotal {time.perf_counter() - t0:.0f} s")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"args": vars(args), "rows": rows}, fh, indent=1)
    for msg in problems:
        print("FAIL: " + msg)
    if not problems:
        print("PASS: every start accounted for; every spurious minimum's loss agrees with the hand-written relu loss")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
