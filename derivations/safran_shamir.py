r"""Safran & Shamir's theorem, reproduced with proofs: spurious local minima of relu networks.

Setting (Safran & Shamir, "Spurious local minima are common in two-layer ReLU neural networks",
ICML 2018): $x \sim N(0, I_k)$, teacher $\sum_r \mathrm{relu}(e_r\cdot x)$ (orthonormal, output
weights 1), student $\sum_i \mathrm{relu}(w_i\cdot x)$ with $k = n$ and output weights fixed to 1,
$L = \tfrac12 E[(f - f^*)^2]$.  They proved, computer-assisted, that spurious (loss > 0) local
minima exist for every $6 \le k \le 20$.

Run:  python derivations/safran_shamir.py [--small] [--k-min 6] [--k-max 20] [--isotropy ...]
                                           [--starts 10] [--dps 50] [--json FILE]

For each k:
1. Critical points in the fixed-point subspace of diag(S_{k-1} x S_1) (``--isotropy`` adds other
   Young subgroups, e.g. S_{k-2}xS_2) by
   :func:`symland.symmetric.fixed_point.symmetric_critical_points` (reduced Newton from
   ``--starts`` random starts, refined in the full space), without classification.
2. Every point with loss above 1e-20 is certified by :func:`symland.certify` at ``--dps``
   digits: a ball proven to hold exactly one critical point (Krawczyk), the Hessian's index over
   the whole ball (Sylvester + Gershgorin), the loss enclosed (Taylor with the Lagrange
   remainder), the smallest Hessian eigenvalue enclosed.
3. A table per k: isotropy, kind, index, loss interval, lambda_min interval, ball radius, search
   and certification times.

Asserted (exit status 1 otherwise): for every k in the range, at least one certified strict
local minimum whose loss interval lies strictly above 0 (a proof that it is spurious: the global
minimum has loss 0); and, independently of symland's assembly, the loss at the centre of the
first such certificate recomputed from the relu kernel written out below (Cho & Saul's
arc-cosine kernel of degree 1), summed pair by pair in 80-digit mpmath, lies in its interval.
``--small`` runs k = 6..8.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import mpmath

import symland
from symland.symmetric.fixed_point import symmetric_critical_points


def relu_loss_by_hand(W, dps=80):
    r"""$\tfrac12\sum_{p,q} s_p s_q \kappa(u_p, u_q)$ over students ($s = +1$) and the identity teacher
    ($s = -1$), $\kappa(u, v) = \frac{|u||v|}{2\pi}(\sin\theta + (\pi - \theta)\cos\theta)$ with
    $\theta$ the angle between $u$ and $v$ (the relu kernel, written out independently)."""
    with mpmath.workdps(dps):
        k = len(W)
        rows = [(1, [mpmath.mpf(x) for x in w]) for w in W]
        rows += [(-1, [mpmath.mpf(1 if i == r else 0) for i in range(k)]) for r in range(k)]

        def kappa(u, v):
            nu = mpmath.sqrt(mpmath.fsum(x * x for x in u))
            nv = mpmath.sqrt(mpmath.fsum(x * x for x in v))
            cos = max(-1, min(1, mpmath.fsum(x * y for x, y in zip(u, v)) / (nu * nv)))
            th = mpmath.acos(cos)
            return nu * nv / (2 * mpmath.pi) * (mpmath.sin(th) + (mpmath.pi - th) * cos)

        return mpmath.fsum(s * t * kappa(u, v) for s, u in rows for t, v in rows) / 2


def certify_k(k, isotropies, starts, dps, progress):
    """Search the symmetric subspaces at ``k`` and certify every nonzero-loss point: a list of rows."""
    problem = symland.TeacherStudent.orthonormal("relu", k, k, train_output=False)
    t0 = time.perf_counter()
    search = symmetric_critical_points("relu", k=k, isotropy=list(isotropies), dps=30, starts=starts,
                                       classify=False, problem=problem)
    t_search = time.perf_counter() - t0
    rows = []
    for p in sorted(search.points, key=lambda p: p.loss):
        if not p.loss > 1e-20:
            continue
        progress(f"k = {k}: certifying the {p.isotropy} point with loss {mpmath.nstr(p.loss, 8)} ...")
        t0 = time.perf_counter()
        cert = symland.certify(problem, p.theta, dps=dps)
        rows.append({"k": k, "isotropy": p.isotropy, "cert": cert, "search_seconds": t_search,
                     "certify_seconds": time.perf_counter() - t0})
    return rows


def row_dict(row) -> dict:
    cert = row["cert"]
    out = {"k": row["k"], "isotropy": row["isotropy"], "search_seconds": round(row["search_seconds"], 2),
           "certify_seconds": round(row["certify_seconds"], 2)}
    out.update({key: cert.to_dict()[key] for key in ("certified", "status", "kind", "index", "loss", "lambda_min",
                                                     "radius", "reason")})
    return out


def print_table(rows):
    print(f"{'k':>3}  {'isotropy':<12}{'kind':<9}{'index':>6}  {'loss enclosure':<50}{'lambda_min enclosure':<34}"
          f"{'radius':>8}{'search':>9}{'certify':>9}")
    for row in rows:
        d = row_dict(row)
        if d["certified"]:
            loss = f"[{d['loss'][0][:22]}, {d['loss'][1][:22]}]"
            lam = f"[{d['lambda_min'][0][:14]}, {d['lambda_min'][1][:14]}]"
            print(f"{d['k']:>3}  {d['isotropy']:<12}{d['kind']:<9}{d['index']:>6}  {loss:<50}{lam:<34}"
                  f"{float(d['radius']):>8.0e}{d['search_seconds']:>8.1f}s{d['certify_seconds']:>8.2f}s")
        else:
            print(f"{d['k']:>3}  {d['isotropy']:<12}not certified ({d['status']}): {d['reason'][:100]}")


def spurious_minima(rows):
    """Certified strict local minima whose loss interval lies above 0."""
    with mpmath.workdps(60):
        return [r for r in rows if r["cert"].certified and r["cert"].kind == "minimum"
                and mpmath.mpf(r["cert"].loss_interval(30)[0]) > 0]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--small", action="store_true", help="k = 6..8")
    ap.add_argument("--k-min", type=int, default=6)
    ap.add_argument("--k-max", type=int, default=None, help="default 20 (8 with --small)")
    ap.add_argument("--isotropy", nargs="+", default=["S_{k-1}xS_1"],
                    help="Young subgroups to search (default S_{k-1}xS_1; e.g. add S_{k-2}xS_2)")
    ap.add_argument("--starts", type=int, default=10, help="random reduced starts per subspace")
    ap.add_argument("--dps", type=int, default=50, help="digits of the certificates")
    ap.add_argument("--json", metavar="FILE", help="write every certificate as JSON")
    args = ap.parse_args(argv)
    k_max = args.k_max if args.k_max is not None else (8 if args.small else 20)

    def progress(msg):
        print(msg, file=sys.stderr, flush=True)

    t_all = time.perf_counter()
    rows, failures = [], []
    for k in range(args.k_min, k_max + 1):
        krows = certify_k(k, args.isotropy, args.starts, args.dps, progress)
        rows += krows
        if not spurious_minima(krows):
            failures.append(f"k = {k}: no certified spurious local minimum")
    print("Safran & Shamir setting: relu, orthonormal teacher, k = n, output weights 1; "
          "L = 1/2 E[(f - f*)^2], x ~ N(0, I_k)")
    print_table(rows)
    found = spurious_minima(rows)
    if found:
        first = found[0]["cert"]
        k = found[0]["k"]
        W = [[first.center[k * i + j] for j in range(k)] for i in range(k)]
        by_hand = relu_loss_by_hand(W)
        with mpmath.workdps(80):
            lo, hi = (mpmath.mpf(v) for v in first.loss_interval(40))
            inside = lo <= by_hand <= hi
        print(f"independent check (k = {k}): loss at the certificate's centre from the relu kernel written out "
              f"by hand, 80 digits: {mpmath.nstr(by_hand, 40)} {'inside' if inside else 'OUTSIDE'} "
              f"[{first.loss_interval(40)[0]}, {first.loss_interval(40)[1]}]")
        if not inside:
            failures.append("the hand-written loss is outside the certified interval")
    print(f"{len(found)} certified spurious local minima for k = {args.k_min}..{k_max} "
          f"(total {time.perf_counter() - t_all:.1f} s)")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump([row_dict(r) for r in rows], fh, indent=1)
    for f in failures:
        print(f"FAIL: {f}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
