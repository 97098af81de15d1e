r"""Safran & Shamir's theorem, reproduced with proofs: spurious local minima of relu networks.

Setting (Safran & Shamir, "Spurious local minima are common in two-layer ReLU neural networks",
ICML 2018): $x \sim N(0, I_k)$, teacher $\sum_r \mathrm{relu}(e_r\cdot x)$ (orthonormal, output
weights 1), student $\sum_i \mathrm{relu}(w_i\cdot x)$ with $k = n$ and output weights fixed to 1,
$L = \tfrac12 E[(f - f^*)^2]$.  They proved, computer-assisted, that spurious (loss > 0) local
minima exist for every $6 \le k \le 20$.

Run:  python derivations/safran_shamir.py [--small] [--k-min 6] [--k-max K] [--isotropy ...]
                                           [--starts 10] [--seed 0] [--dps 50] [--certify-all]
                                           [--json FILE]

Computed, for each k (``--small``: k = 6..8; default k = 6..20; ``--k-max`` overrides):

1. **Search.**  Critical points in the fixed-point subspaces of the diagonal Young subgroups
   offered by :mod:`symland.symmetric.subspace` (default all of ``ISOTROPY_TYPES``:
   S_k, S_{k-1}xS_1, S_{k-2}xS_2, S_{k-2}xS_1xS_1, S_{k-3}xS_3, S_{k-3}xS_2xS_1), each by
   :func:`symland.symmetric.fixed_point.symmetric_critical_points` (reduced Newton from
   ``--starts`` random starts plus, as a continuation in k, the points found at k - 1 in the same
   isotropy type; refined to 30 digits in the full space), one isotropy at a time
   so that its search time is measured; points equal modulo $S_k\times S_k$ are merged across
   isotropies.  Each point's own isotropy is the Young type of its weight matrix.
2. **Selection.**  Every point is classified numerically by the float64 Hessian spectrum
   (index, and nullity = eigenvalues with $|\lambda| \le 10^{-9}\max(1, \|H\|)$).  This is for
   selection only: the points with loss above $10^{-20}$ that look like minima (index 0,
   nullity 0) are certified (``--certify-all``: every nonzero-loss point).
3. **Proof.**  :func:`symland.certify` at ``--dps`` digits (default 50) on the problem
   ``TeacherStudent.orthonormal("relu", k, k, train_output=False)``: a ball proven to hold exactly
   one critical point (Krawczyk), the Hessian inertia over the whole ball (Sylvester +
   Gershgorin), the loss enclosed (Taylor with the Lagrange remainder), the smallest Hessian
   eigenvalue enclosed.
4. **Independent check.**  The loss at the centre of every certified point is recomputed from
   the relu kernel written out below (Cho & Saul's arc-cosine kernel of degree 1), summed pair by
   pair over the $2k$ neurons in 60-digit mpmath (no symland code involved), and must lie in the
   certified loss interval (the interval holds the loss at every point of the ball).

Printed: per k and isotropy the search statistics and times; a table of the certified spurious
minima (k, isotropy, loss enclosure, smallest Hessian eigenvalue enclosure, ball radius, search
and certification times; enclosures are decimal strings rounded outward); the other points by
their numerical kind; a summary per family (isotropy type) of the certified spurious minima.

Asserted (exit status 1 and a ``FAIL:`` line otherwise): for every k in the range, at least one
certified strict local minimum (index 0, nullity 0 over the ball) whose loss interval lies
strictly above 0 -- a proof that it is spurious, since the global minimum ($W = I$) has loss 0;
and every independent loss check inside its interval.
"""

from __future__ import annotations

import argparse
import decimal
import json
import sys
import time

import mpmath
import numpy as np

import symland
from symland.landscape.symmetry import same_point
from symland.symmetric.fixed_point import symmetric_critical_points
from symland.symmetric.subspace import ISOTROPY_TYPES, fixed_point_subspace, young_type

#: digits of the search (the certificate refines its centre to --dps itself)
SEARCH_DPS = 30
#: loss below this counts as the global minimum (loss 0) and is not certified
ZERO_LOSS = 1e-20
#: relative threshold of a numerically zero float64 Hessian eigenvalue (certify's NULL_REL)
NULL_REL = 1e-9
#: digits of the independent loss sum
CHECK_DPS = 60


# ---------------------------------------------------------------------------
# the independent loss
# ---------------------------------------------------------------------------
def relu_loss_by_hand(W, dps=CHECK_DPS):
    r"""$\tfrac12\sum_{p,q} s_p s_q \kappa(u_p, u_q)$ over the students $u = w_i$ ($s = +1$) and the
    identity teacher $u = e_r$ ($s = -1$), with the relu kernel
    $\kappa(u, v) = E[\mathrm{relu}(u\cdot x)\mathrm{relu}(v\cdot x)]
    = \frac{|u||v|}{2\pi}(\sin\theta + (\pi - \theta)\cos\theta)$, $\theta$ the angle between
    $u$ and $v$ (Cho & Saul 2009), written out here independently of symland."""
    with mpmath.workdps(dps):
        k = len(W)
        rows = [(1, [mpmath.mpf(x) for x in w]) for w in W]
        rows += [(-1, [mpmath.mpf(1 if i == r else 0) for i in range(k)]) for r in range(k)]

        def kappa(u, v):
            nu = mpmath.sqrt(mpmath.fsum(x * x for x in u))
            nv = mpmath.sqrt(mpmath.fsum(x * x for x in v))
            if nu == 0 or nv == 0:
                return mpmath.mpf(0)
            cos = max(-1, min(1, mpmath.fsum(x * y for x, y in zip(u, v)) / (nu * nv)))
            th = mpmath.acos(cos)
            return nu * nv / (2 * mpmath.pi) * (mpmath.sin(th) + (mpmath.pi - th) * cos)

        return mpmath.fsum(s * t * kappa(u, v) for s, u in rows for t, v in rows) / 2


# ---------------------------------------------------------------------------
# search and numerical classification
# ---------------------------------------------------------------------------
def family_name(blocks, k) -> str:
    """Generic name of a Young type, e.g. ``(k-1, 1)`` -> ``"S_{k-1}xS_1"``, ``(k,)`` -> ``"S_k"``."""
    first = "S_k" if blocks[0] == k else f"S_{{k-{k - blocks[0]}}}"
    return "x".join([first] + [f"S_{b}" for b in blocks[1:]])


def isotropies_at(k, names):
    """The subspaces of the named isotropy types at ``k`` (blocks >= 1), one per multiset of block sizes."""
    subs, seen = [], set()
    for name in names:
        blocks = ISOTROPY_TYPES[name](k)
        key = tuple(sorted(blocks))
        if min(blocks) >= 1 and key not in seen:
            seen.add(key)
            subs.append((name, fixed_point_subspace(k, blocks)))
    return subs


def numerical_kind(problem, theta):
    """``(kind, index, nullity, lambda_min)`` from the float64 Hessian spectrum (selection only, not a proof)."""
    lam = np.linalg.eigvalsh(problem.hessian(np.array([float(v) for v in theta])))
    tol = NULL_REL * max(1.0, float(np.max(np.abs(lam))))
    index, nullity = int(np.sum(lam < -tol)), int(np.sum(np.abs(lam) <= tol))
    kind = "degenerate" if nullity else ("minimum" if index == 0 else "saddle")
    return kind, index, nullity, float(lam[0])


def search_k(problem, k, names, starts, seed, progress, previous=None):
    """Critical points of every isotropy at ``k``: (points, per-isotropy statistics, scalars by type).

    Starts per isotropy: ``starts`` random ones (seed from ``seed``, ``k`` and the isotropy type,
    so a type gets the same starts whichever other types are searched) plus the scalars of the
    points found at ``k - 1`` in the same type (``previous``: type -> (scalar names, list of
    scalar vectors; the points with loss > 0 and an invertible float64 Hessian)), a continuation in k.
    A point is a dict: ``label`` (subspace it was first found in), ``found_in``, ``young``
    (its own Young type), ``family``, ``theta`` (mpf, 30 digits), ``loss``, ``search_seconds``
    (of the isotropy that found it) and the float64 ``kind``, ``index``, ``nullity``, ``lambda_f64``."""
    points, stats, found = [], [], {}
    for name, sub in isotropies_at(k, names):
        names_prev, extra = (previous or {}).get(name, ((), []))
        extra = list(extra) if tuple(names_prev) == tuple(sub.names) else []
        t0 = time.perf_counter()
        res = symmetric_critical_points("relu", k=k, isotropy=sub.blocks, dps=SEARCH_DPS, starts=starts,
                                        seed=1000 * seed + 10 * k + list(ISOTROPY_TYPES).index(name),
                                        extra_starts=extra, classify=False, problem=problem, progress=False)
        seconds = time.perf_counter() - t0
        new, carry = 0, []
        for p in res.points:
            q = next((q for q in points if abs(q["loss"] - p.loss) <= 1e-12 * max(1, abs(p.loss))
                      and same_point(problem, q["theta"], p.theta, tol=1e-10)), None)
            if q is not None:
                q["found_in"].append(sub.label)
            else:
                new += 1
                young = young_type(p.W)
                kind, index, nullity, lam = numerical_kind(problem, p.theta)
                q = {"k": k, "label": sub.label, "found_in": [sub.label], "young": young,
                     "family": family_name(young, k), "theta": p.theta, "loss": p.loss, "search_seconds": seconds,
                     "kind": kind, "index": index, "nullity": nullity, "lambda_f64": lam}
                points.append(q)
            if q["loss"] > ZERO_LOSS and q["kind"] != "degenerate":
                carry.append(np.array([float(v) for v in sub.project(p.theta)]))
        found[name] = (tuple(sub.names), carry)
        stats.append({"k": k, "isotropy": sub.label, "type": name, "dim": sub.dim, "starts": res.starts[sub.label],
                      "continuation_starts": len(extra), "converged": res.converged[sub.label],
                      "points": len(res.points), "new": new, "seconds": seconds})
        progress(f"k = {k}: {sub.label} ({sub.dim} scalars, {res.starts[sub.label]} starts): {len(res.points)} "
                 f"points, {new} new, {seconds:.1f} s")
    points.sort(key=lambda p: p["loss"])
    return points, stats, found


# ---------------------------------------------------------------------------
# certification and the independent check
# ---------------------------------------------------------------------------
def certify_points(problem, points, dps, certify_all, progress):
    """Certify the selected points in place (``cert``, ``certify_seconds``, ``check``)."""
    for p in points:
        if not p["loss"] > ZERO_LOSS or not (certify_all or p["kind"] == "minimum"):
            continue
        progress(f"k = {p['k']}: certifying the {p['label']} point with loss {mpmath.nstr(p['loss'], 10)} ...")
        t0 = time.perf_counter()
        p["cert"] = symland.certify(problem, p["theta"], dps=dps)
        p["certify_seconds"] = time.perf_counter() - t0
        if p["cert"].certified:
            p["check"] = independent_check(p["cert"], p["k"], dps)


def independent_check(cert, k, dps):
    """The hand-written loss at the certificate's centre and whether it lies in the loss interval."""
    W = [[cert.center[k * i + j] for j in range(k)] for i in range(k)]
    value = relu_loss_by_hand(W)
    lo, hi = cert.loss_interval(dps - 5)
    with mpmath.workdps(CHECK_DPS + 20):
        inside = mpmath.mpf(lo) <= value <= mpmath.mpf(hi)
    return {"value": mpmath.nstr(value, CHECK_DPS - 5), "interval": [lo, hi], "inside": bool(inside)}


def is_spurious_minimum(p) -> bool:
    """Certified strict local minimum (index 0, nullity 0 on the ball) with loss interval above 0."""
    cert = p.get("cert")
    if cert is None or not cert.certified or cert.kind != "minimum" or cert.index != 0 or cert.nullity:
        return False
    return decimal.Decimal(cert.loss_interval(30)[0]) > 0


# ---------------------------------------------------------------------------
# output
# ---------------------------------------------------------------------------
def outward(lo: str, hi: str, digits: int) -> str:
    """``[lo, hi]`` rounded outward to ``digits`` significant digits (still an enclosure)."""
    a, b = decimal.Decimal(lo), decimal.Decimal(hi)
    exp = max(abs(a), abs(b)).adjusted() - digits + 1 if (a or b) else -digits
    q = decimal.Decimal(1).scaleb(exp)
    return (f"[{a.quantize(q, rounding=decimal.ROUND_FLOOR)}, "
            f"{b.quantize(q, rounding=decimal.ROUND_CEILING)}]")


def print_search(stats):
    print(f"{'k':>3}  {'isotropy':<14}{'scalars':>8}{'starts':>7}{'cont.':>6}{'conv':>6}{'points':>7}{'new':>5}"
          f"{'search':>9}")
    for s in stats:
        print(f"{s['k']:>3}  {s['isotropy']:<14}{s['dim']:>8}{s['starts']:>7}{s['continuation_starts']:>6}"
              f"{s['converged']:>6}{s['points']:>7}{s['new']:>5}{s['seconds']:>8.1f}s")


def print_certified(points):
    print(f"{'k':>3}  {'isotropy':<14}{'kind':<9}{'index':>5}  {'loss enclosure':<56}{'lambda_min enclosure':<34}"
          f"{'radius':>7}{'search':>8}{'certify':>9}")
    for p in points:
        cert = p.get("cert")
        if cert is None:
            continue
        iso = "x".join(f"S_{b}" for b in p["young"])
        if cert.certified:
            d = cert.to_dict()
            print(f"{p['k']:>3}  {iso:<14}{cert.kind:<9}{cert.index:>5}  {outward(*cert.loss_interval(30), 22):<56}"
                  f"{outward(*d['lambda_min'], 10):<34}{cert.radius:>7.0e}{p['search_seconds']:>7.1f}s"
                  f"{p['certify_seconds']:>8.2f}s")
        else:
            print(f"{p['k']:>3}  {iso:<14}not certified ({cert.status}): {cert.reason[:90]}")


def print_others(ks, points):
    """Per k: the points not certified, by their float64 kind."""
    for k in ks:
        mine = [p for p in points if p["k"] == k]
        counts = {}
        for p in mine:
            kind = "global minimum (loss 0)" if not p["loss"] > ZERO_LOSS else p["kind"]
            counts[kind] = counts.get(kind, 0) + 1
        text = ", ".join(f"{n} {kind}" for kind, n in sorted(counts.items()))
        print(f"k = {k}: {len(mine)} distinct points (float64 Hessian: {text})")


def print_families(ks, points):
    """Certified spurious minima grouped by family (Young type in terms of k): k and loss."""
    fams = {}
    for p in points:
        if is_spurious_minimum(p):
            fams.setdefault(p["family"], []).append(p)
    for fam, members in sorted(fams.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        per_k = {}
        for p in members:
            per_k.setdefault(p["k"], []).append(mpmath.nstr(p["loss"], 6))
        missing = [k for k in ks if k not in per_k]
        print(f"{fam}: {len(members)} certified spurious minima at k = {sorted(per_k)}"
              + (f" (none at k = {missing})" if missing else ""))
        print("    losses: " + "; ".join(f"k={k}: {', '.join(v)}" for k, v in sorted(per_k.items())))
    return fams


def point_dict(p) -> dict:
    out = {key: p[key] for key in ("k", "label", "found_in", "family", "kind", "index", "nullity", "lambda_f64")}
    out.update({"young": list(p["young"]), "loss_search": mpmath.nstr(p["loss"], 25),
                "search_seconds": round(p["search_seconds"], 2)})
    if "cert" in p:
        out["certificate"] = p["cert"].to_dict()
        out["certify_seconds"] = round(p["certify_seconds"], 2)
        out["spurious_minimum_proven"] = is_spurious_minimum(p)
    if "check" in p:
        out["independent_loss"] = p["check"]
    return out


# ---------------------------------------------------------------------------
def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--small", action="store_true", help="k = 6..8")
    ap.add_argument("--k-min", type=int, default=6)
    ap.add_argument("--k-max", type=int, default=None, help="default 20 (8 with --small)")
    ap.add_argument("--isotropy", nargs="+", default=list(ISOTROPY_TYPES), choices=list(ISOTROPY_TYPES),
                    help="isotropy types to search (default: all)")
    ap.add_argument("--starts", type=int, default=10, help="random reduced starts per isotropy")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--dps", type=int, default=50, help="digits of the certificates")
    ap.add_argument("--certify-all", action="store_true", help="certify saddles too, not only numerical minima")
    ap.add_argument("--json", metavar="FILE", help="write the search statistics, points and certificates as JSON")
    args = ap.parse_args(argv)
    k_max = args.k_max if args.k_max is not None else (8 if args.small else 20)
    if not 2 <= args.k_min <= k_max:
        ap.error(f"need 2 <= --k-min <= --k-max, got {args.k_min}, {k_max}")

    def progress(msg):
        print(msg, file=sys.stderr, flush=True)

    t_all = time.perf_counter()
    ks = list(range(args.k_min, k_max + 1))
    points, stats, failures, previous = [], [], [], None
    for k in ks:
        problem = symland.TeacherStudent.orthonormal("relu", k, k, train_output=False)
        kpoints, kstats, previous = search_k(problem, k, args.isotropy, args.starts, args.seed, progress, previous)
        certify_points(problem, kpoints, args.dps, args.certify_all, progress)
        points += kpoints
        stats += kstats
        if k >= 6 and not any(is_spurious_minimum(p) for p in kpoints):
            failures.append(f"k = {k}: no certified spurious local minimum")
    t_total = time.perf_counter() - t_all

    print("Safran & Shamir setting: relu, orthonormal teacher, k = n, output weights 1; "
          "L = 1/2 E[(f - f*)^2], x ~ N(0, I_k)")
    print("\n== search (symmetric_critical_points per isotropy; new = not equal to a point of an earlier isotropy) ==")
    print_search(stats)
    print(f"\n== certificates (dps {args.dps}; isotropy = Young type of the point; enclosures rounded outward) ==")
    print_certified(points)
    print("\n== all points ==")
    print_others(ks, points)
    print("\n== families of certified spurious minima ==")
    print_families(ks, points)

    checked = [p for p in points if "check" in p]
    for p in checked:
        if not p["check"]["inside"]:
            failures.append(f"k = {p['k']}, {p['label']}: the hand-written loss {p['check']['value']} is outside "
                            f"the certified interval {p['check']['interval']}")
    if checked:
        first = next((p for p in checked if is_spurious_minimum(p)), checked[0])
        lo, hi = first["check"]["interval"]
        print(f"\nindependent check: the loss at the centre of each of the {len(checked)} certified points, from the "
              f"relu kernel written out by hand ({CHECK_DPS} digits, pair by pair), lies in the certified interval: "
              f"{sum(p['check']['inside'] for p in checked)}/{len(checked)}; e.g. k = {first['k']}: "
              f"{first['check']['value']} in [{lo}, {hi}]")
    search_s = sum(s["seconds"] for s in stats)
    certify_s = sum(p.get("certify_seconds", 0.0) for p in points)
    n_proven = sum(is_spurious_minimum(p) for p in points)
    print(f"\n{n_proven} certified spurious local minima for k = {ks[0]}..{ks[-1]}; time {t_total:.1f} s "
          f"(search {search_s:.1f} s, certification {certify_s:.1f} s)")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"k": ks, "isotropies": args.isotropy, "starts": args.starts, "seed": args.seed,
                       "dps": args.dps, "seconds": {"total": round(t_total, 2), "search": round(search_s, 2),
                                                     "certify": round(certify_s, 2)},
                       "search": [{**s, "seconds": round(s["seconds"], 2)} for s in stats],
                       "points": [point_dict(p) for p in points], "failures": failures}, fh, indent=1)
    for f in failures:
        print(f"FAIL: {f}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
