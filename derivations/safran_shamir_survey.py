r"""Safran & Shamir's experiment, reproduced: how often random starts end in a spurious minimum.

Setting (Safran & Shamir, "Spurious local minima are common in two-layer ReLU neural networks",
ICML 2018): $x \sim N(0, I_k)$, teacher $\sum_r \mathrm{relu}(e_r\cdot x)$ (orthonormal, output
weights 1), student $\sum_i \mathrm{relu}(w_i\cdot x)$ with $n = k$ and output weights fixed to 1,
$L = \tfrac12 E[(f - f^*)^2]$ (``TeacherStudent.orthonormal("relu", k, k, train_output=False)``).
They ran gradient descent on the exact objective from Xavier-initialised starts and reported that
the fraction of starts ending in a spurious (loss > 0) local minimum grows with k; the companion
script ``derivations/safran_shamir.py`` proves that such minima exist for every k = 6..20.

Run:  python derivations/safran_shamir_survey.py [--small] [--k-min 6] [--k-max 20] [--starts 200]
                                                  [--seed 0] [--solver gd] [--dps 30]
                                                  [--workers N] [--json FILE]

For each k (default 6..20; ``--small``: k = 6..10 and 40 starts):

1. **Starts.**  ``--starts`` (default 200) Xavier-uniform (Glorot) starts, the initialisation
   Safran & Shamir used: $W_{il} \sim U(-\sqrt{6/(\mathrm{fan_{in}} + \mathrm{fan_{out}})},
   +\sqrt{\cdot})$ with $\mathrm{fan_{in}} = \mathrm{fan_{out}} = k$, i.e. $U(-\sqrt{3/k},
   \sqrt{3/k})$ (variance $1/k$); start $j$ of size $k$ is drawn by
   ``numpy.random.default_rng(SeedSequence([seed, k]).spawn(starts)[j])``.
2. **Survey.**  :func:`symland.landscape.survey.survey` with these starts: the float64 stage for
   all starts at once (``--solver``: default ``gd``, plain gradient descent as Safran & Shamir ran
   it, with the best stable fixed step :func:`symland.landscape.batch_solve.stable_step` shared by
   the starts of one k, until $|\nabla L| \le 10^{-4}$ at a positive definite Hessian, then Newton;
   ``lbfgs`` is L-BFGS then Newton, ``minimize`` the exact-Hessian trust region), each orbit
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

Output of ``python derivations/safran_shamir_survey.py --json ss.json`` (2-core machine, load
average about 1, nothing else running; 502 s in all):

    relu, orthonormal teacher, n = k, output weights fixed to 1; 200 Xavier-uniform starts per k (seed 0); float64 solver gd (batched), refinement to 30 digits
      k starts global spurious fraction saddle degen failed distinct  seconds
      6    200    200        0    0.000      0     0      0        0      5.3
      7    200    191        9    0.045      0     0      0        1      5.7
      8    200    184       16    0.080      0     0      0        1      8.3
      9    200    165       35    0.175      0     0      0        2     11.5
     10    200    139       61    0.305      0     0      0        2     14.1
     11    200    128       72    0.360      0     0      0        2     18.0
     12    200    111       89    0.445      0     0      0        2     22.6
     13    200     83      117    0.585      0     0      0        2     25.6
     14    200     79      121    0.605      0     0      0        3     32.9
     15    200     57      143    0.715      0     0      0        4     36.6
     16    200     50      150    0.750      0     0      0        6     45.1
     17    200     41      159    0.795      0     0      0        7     55.4
     18    200     35      165    0.825      0     0      0        7     62.8
     19    200     26      174    0.870      0     0      0        6     70.3
     20    200     14      186    0.930      0     0      0        8     81.5
      spurious = starts ending in a strict local minimum with loss > 0; distinct = those minima modulo S_k x S_k

    k = 7: distinct spurious minima (loss to 15 digits; lambda_min = smallest Hessian eigenvalue)
      0.023202714913566  count    9  lambda_min 0.014059    S_6xS_1

    k = 8: distinct spurious minima (loss to 15 digits; lambda_min = smallest Hessian eigenvalue)
      0.021508037171521  count   16  lambda_min 0.0213466   S_7xS_1

    k = 9: distinct spurious minima (loss to 15 digits; lambda_min = smallest Hessian eigenvalue)
      0.020014175808510  count   34  lambda_min 0.0271821   S_8xS_1
      0.054820582380721  count    1  lambda_min 0.00190325  S_6xS_3

    k = 10: distinct spurious minima (loss to 15 digits; lambda_min = smallest Hessian eigenvalue)
      0.018702194585606  count   58  lambda_min 0.031964    S_9xS_1
      0.035326880318928  count    3  lambda_min 0.0159921   S_8xS_2

    k = 11: distinct spurious minima (loss to 15 digits; lambda_min = smallest Hessian eigenvalue)
      0.017546675908680  count   63  lambda_min 0.035958    S_10xS_1
      0.033347570092394  count    9  lambda_min 0.0209888   S_9xS_2

    k = 12: distinct spurious minima (loss to 15 digits; lambda_min = smallest Hessian eigenvalue)
      0.016523792712792  count   76  lambda_min 0.0393474   S_11xS_1
      0.031551183932845  count   13  lambda_min 0.0253063   S_10xS_2

    k = 13: distinct spurious minima (loss to 15 digits; lambda_min = smallest Hessian eigenvalue)
      0.015613154241089  count   81  lambda_min 0.0422626   S_12xS_1
      0.029924013353210  count   36  lambda_min 0.0290676   S_11xS_2

    k = 14: distinct spurious minima (loss to 15 digits; lambda_min = smallest Hessian eigenvalue)
      0.014797828887142  count   85  lambda_min 0.0447988   S_13xS_1
      0.028448577439559  count   32  lambda_min 0.0323708   S_12xS_2
      0.041285695151551  count    4  lambda_min 0.0224563   S_11xS_3

    k = 15: distinct spurious minima (loss to 15 digits; lambda_min = smallest Hessian eigenvalue)
      0.014063881718682  count   74  lambda_min 0.0470274   S_14xS_1
      0.027107478790653  count   50  lambda_min 0.0352936   S_13xS_2
      0.039440191062434  count   18  lambda_min 0.025865    S_12xS_3
      0.051121035856585  count    1  lambda_min 0.0176887   S_11xS_4

    k = 16: distinct spurious minima (loss to 15 digits; lambda_min = smallest Hessian eigenvalue)
      0.013399845063282  count   81  lambda_min 0.0490026   S_15xS_1
      0.025884788498842  count   47  lambda_min 0.0378933   S_14xS_2
      0.037740971644935  count   17  lambda_min 0.0289224   S_13xS_3
      0.049032003123212  count    3  lambda_min 0.0210954   S_12xS_4
      0.053953998635242  count    1  lambda_min 0.00139027  S_10xS_6
      0.060340765829980  count    1  lambda_min 0.00536645  S_9xS_7

    k = 17: distinct spurious minima (loss to 15 digits; lambda_min = smallest Hessian eigenvalue)
      0.012796245493466  count   72  lambda_min 0.0507667   S_16xS_1
      0.024766428526851  count   47  lambda_min 0.0397374   S_15xS_2
      0.036174915486622  count   27  lambda_min 0.0316778   S_14xS_3
      0.047086556214454  count    9  lambda_min 0.0241849   S_13xS_4
      0.057513389112960  count    1  lambda_min 0.0173889   S_12xS_5
      0.060243475230388  count    2  lambda_min 0.00372502  S_10xS_7
      0.070322633785680  count    1  lambda_min 0.0125778   S_9xS_8

    k = 18: distinct spurious minima (loss to 15 digits; lambda_min = smallest Hessian eigenvalue)
      0.012245213378565  count   55  lambda_min 0.0523529   S_17xS_1
      0.023740152320093  count   57  lambda_min 0.0414128   S_16xS_2
      0.034729140999493  count   37  lambda_min 0.0341725   S_15xS_3
      0.045276346038527  count   12  lambda_min 0.0269954   S_14xS_4
      0.055399705411923  count    2  lambda_min 0.0204629   S_13xS_5
      0.060156073012571  count    1  lambda_min 0.00224898  S_11xS_7
      0.070174307446564  count    1  lambda_min 0.0106507   S_9xS_9

    k = 19: distinct spurious minima (loss to 15 digits; lambda_min = smallest Hessian eigenvalue)
      0.011740170346423  count   53  lambda_min 0.0537877   S_18xS_1
      0.022795376836148  count   67  lambda_min 0.0429421   S_17xS_2
      0.033391662595615  count   29  lambda_min 0.0364411   S_16xS_3
      0.043591423008776  count   16  lambda_min 0.0295606   S_15xS_4
      0.053415998027820  count    6  lambda_min 0.023281    S_14xS_5
      0.060054222585452  count    3  lambda_min 0.00137921  S_12xS_6xS_1

    k = 20: distinct spurious minima (loss to 15 digits; lambda_min = smallest Hessian eigenvalue)
      0.011275581947581  count   56  lambda_min 0.0550926   S_19xS_1
      0.021922973466239  count   54  lambda_min 0.0443443   S_18xS_2
      0.032151619873114  count   43  lambda_min 0.0385127   S_17xS_3
      0.042021556497360  count   20  lambda_min 0.0319098   S_16xS_4
      0.051555948258525  count    9  lambda_min 0.0258704   S_15xS_5
      0.059753419111910  count    1  lambda_min 0.000401236  S_13xS_6xS_1
      0.060758663361188  count    2  lambda_min 0.0202323   S_14xS_6
      0.080944784797781  count    1  lambda_min 0.0200075   S_12xS_8

    total 502 s
    PASS: every start accounted for; every spurious minimum's loss agrees with the hand-written relu loss

Reading: the fraction of starts that gradient descent sends to a spurious minimum grows from 0 of
200 at k = 6 to 186 of 200 at k = 20; no start ends at a saddle or fails.  Almost every spurious
minimum found has the isotropy $S_{k-j}\times S_j$, the families that ``symland symmetric`` and
``derivations/safran_shamir.py`` search and certify; the lowest is $S_{k-1}\times S_1$, whose loss
decreases with k.  Three-block minima appear at k = 19 and 20 ($S_{12}\times S_6\times S_1$,
$S_{13}\times S_6\times S_1$, with the smallest Hessian eigenvalues, down to 4e-4).  The k = 6
spurious minimum (the $S_5\times S_1$ point at loss 0.0250805810, certified by
``derivations/safran_shamir.py``) exists, but no start here reaches it.  The fractions belong to
the solver: with ``--solver lbfgs`` (L-BFGS then Newton) an earlier run of this script gave
0, 10, 14, 39, 59, 72, 101, 121, 126, 154, 152, 166, 172, 178, 185 spurious of 200 for
k = 6..20; and in ``benchmarks/survey.py`` (k = 20, 100 starts drawn as ``symland survey`` draws
them) L-BFGS sent two starts that gradient descent takes to minima at loss 0.0607586634
($S_{14}\times S_6$) and 0.0653219807 ($S_{12}\times S_8$) to the $S_{15}\times S_5$ minimum at
0.0515559483 instead.
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
        by_hand = relu_loss_by_hand(W)  # it reads every entry as an mpf itself
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
    p.add_argument("--solver", choices=("gd", "lbfgs", "minimize", "newton"), default="gd",
                   help="float64 solver (default gd: gradient descent with the best stable fixed step, then Newton)")
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
