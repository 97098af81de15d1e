r"""Symmetric critical points of the relu teacher-student loss, k = n, V = I_k, output weights 1.

Run:  python derivations/symmetric_relu.py [--small] [--k-min 3] [--k-max 20] [--starts 40]
                                            [--survey-k 6 7 8] [--survey-starts 40] [--json FILE]

1. The reduced problem on Fix(diag S_k), W = alpha I + beta (J - I), in closed form from the exact
   relu kernel (symland.activation("relu").kernel_expr), printed in LaTeX; asserted equal to the
   full loss at random (alpha, beta) to 40 digits, and L(1, 0) = 0 exactly (SymPy).
2. For k = k_min..k_max: critical points in the fixed-point subspaces of diag(S_k),
   diag(S_{k-1} x S_1), diag(S_{k-2} x S_2), diag(S_{k-2} x S_1 x S_1)
   (symland.symmetric.fixed_point.symmetric_critical_points; continuation: the scalars found at k - 1 are
   extra starts at k), refined to 50 digits in the full space, classified; tables printed.
   Asserted: full gradient < 1e-45 at every point; W = I found with loss 0 and index 0 at every k;
   every loss >= 0; a spurious local minimum among the symmetric points for every 6 <= k <= k_max,
   as proved by Safran & Shamir ("Spurious local minima are common in two-layer ReLU neural
   networks", ICML 2018, arXiv:1712.08968, abstract: spurious local minima for 6 <= k <= 20 with
   an orthonormal teacher and unit output weights; they give no closed-form loss values we could
   retrieve here, so the comparison is with that existence statement only).
3. Independent checks: the loss at one spurious minimum (else the highest-loss point) against
   Monte Carlo; criticality of every point at k <= 4 (--small: k = 3) by 60-digit central finite
   differences of the LOSS (not the analytic gradient); the index at k = 3 (and 4 without
   --small) from a Hessian of 60-digit finite differences of the loss.
4. Comparison with random starts (symland.survey, train_output=False) at --survey-k: how often
   each symmetric point is reached, and how many reached points are not among them.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import mpmath
import numpy as np
import sympy

import symland
from symland.problems.teacher_student import TeacherStudent
from symland.numerics.mpcontext import thread_mp
from symland.symmetric.fixed_point import compare_with_survey, symmetric_critical_points
from symland.symmetric.subspace import DEFAULT_ISOTROPIES, ISOTROPY_TYPES, fixed_point_subspace


# ---------------------------------------------------------------------------
# 1. the reduced problem on Fix(diag S_k) in closed form
# ---------------------------------------------------------------------------
def reduced_loss_diag_sk():
    r"""$L(\alpha, \beta; k)$ on $W = \alpha I + \beta(J - I)$ from the relu kernel.

    Rows $w_i = \alpha e_i + \beta\sum_{j\ne i} e_j$: $|w_i|^2 = N = \alpha^2 + (k-1)\beta^2$,
    $w_i\cdot w_j = C = 2\alpha\beta + (k-2)\beta^2$, $w_i\cdot e_i = \alpha$, $w_i\cdot e_j = \beta$.
    With unit output weights, $L = \tfrac12\sum_{p,q}\alpha_p\alpha_q\kappa(G_{pp}, G_{qq}, G_{pq})$ over
    students (+1) and teachers (-1):
    $L = \tfrac12[k\kappa(N,N,N) + k(k-1)\kappa(N,N,C)] - [k\kappa(N,1,\alpha) + k(k-1)\kappa(N,1,\beta)]
    + \tfrac12[k\kappa(1,1,1) + k(k-1)\kappa(1,1,0)]$.
    """
    al, be = sympy.symbols("alpha beta", real=True)
    k = sympy.Symbol("k", positive=True, integer=True)
    Nn = sympy.Symbol("N", positive=True)
    kap = symland.activation("relu").kernel_expr
    a, b, c = sorted(kap.free_symbols, key=lambda s: s.name)

    def K(x, y, z):
        return kap.subs({a: x, b: y, c: z}, simultaneous=True)

    N = al**2 + (k - 1) * be**2
    C = 2 * al * be + (k - 2) * be**2
    # written with the positive symbol N so that sqrt(N*N) = N; N is substituted afterwards
    Cs = sympy.Symbol("C", real=True)
    L_N = (sympy.Rational(1, 2) * (k * K(Nn, Nn, Nn) + k * (k - 1) * K(Nn, Nn, Cs))
           - (k * K(Nn, 1, al) + k * (k - 1) * K(Nn, 1, be))
           + sympy.Rational(1, 2) * (k * K(1, 1, 1) + k * (k - 1) * K(1, 1, 0)))
    L_N = sympy.simplify(L_N)
    return L_N, {"alpha": al, "beta": be, "k": k, "N": Nn, "C": Cs, "N_expr": N, "C_expr": C}


def derive_reduced_problem(ks=(3, 5), seed=1):
    L_N, sy = reduced_loss_diag_sk()
    print("== 1. Reduced loss on Fix(diag S_k): W = alpha I + beta (J - I) ==")
    print("LaTeX:  L(\\alpha, \\beta) = " + sympy.latex(L_N))
    print(f"        N = {sympy.latex(sy['N_expr'])},  C = {sympy.latex(sy['C_expr'])}")
    full = L_N.subs({sy["N"]: sy["N_expr"], sy["C"]: sy["C_expr"]})
    # exact: the global minimum W = I has loss 0 for every k
    at_identity = sympy.simplify(full.subs({sy["alpha"]: 1, sy["beta"]: 0}))
    print(f"L(alpha=1, beta=0) = {at_identity}  (exact, every k)")
    assert at_identity == 0, at_identity
    grad = [sympy.diff(full, v) for v in (sy["alpha"], sy["beta"])]
    rng = np.random.default_rng(seed)
    for k in ks:
        prob = TeacherStudent.orthonormal("relu", k, k, train_output=False)
        sub = fixed_point_subspace(k, "S_k")
        f = sympy.lambdify((sy["alpha"], sy["beta"]), full.subs(sy["k"], k), "mpmath")
        fg = [sympy.lambdify((sy["alpha"], sy["beta"]), g.subs(sy["k"], k), "mpmath") for g in grad]
        for _ in range(2):
            s = rng.normal(size=2)
            with mpmath.workdps(50), thread_mp.workdps(50):
                al, be = (mpmath.mpf(float(v)) for v in s)
                ref = f(al, be)
                got = prob.loss(sub.lift(np.array([al, be], dtype=object)), dps=40)
                gfull = prob.gradient(sub.lift(np.array([al, be], dtype=object)), dps=40)
                gred = [mpmath.fsum(gfull[sub.P[:, c] == 1]) for c in range(2)]
                gsym = [g(al, be) for g in fg]
            err = abs(ref - got)
            gerr = max(abs(x - y) for x, y in zip(gred, gsym))
            print(f"k={k}: alpha={s[0]:+.4f} beta={s[1]:+.4f}: closed form {mpmath.nstr(ref, 30)}, "
                  f"full loss differs by {mpmath.nstr(err, 3)}; P^T grad vs d/d(alpha,beta): {mpmath.nstr(gerr, 3)}")
            assert err < mpmath.mpf(10) ** -38 and gerr < mpmath.mpf(10) ** -37
    return full, sy


#: isotropy types searched for k >= --big-k
BIG_ISOTROPIES = ("S_k", "S_{k-1}xS_1")


# ---------------------------------------------------------------------------
# 2. symmetric critical points for k = k_min..k_max
# ---------------------------------------------------------------------------
def _continuation(prev, k):
    """Scalars found at k - 1, as starts at k (same isotropy type, same subspace dimension)."""
    if prev is None:
        return {}
    out = {}
    for name in DEFAULT_ISOTROPIES:
        blocks_prev, blocks = ISOTROPY_TYPES[name](k - 1), ISOTROPY_TYPES[name](k)
        if min(blocks_prev) < 1:
            continue
        sp, sk = fixed_point_subspace(k - 1, blocks_prev), fixed_point_subspace(k, blocks)
        if sp.names != sk.names:
            continue
        starts = []
        for p in prev.points:
            if p.subspace.label == sp.label:
                starts.append(np.array([float(p.scalars[n]) for n in sp.names]))
        out[sk.label] = starts
    return out


def derive_tables(k_min, k_max, starts, seed, dps=50, progress=True, big_k=9, big_starts=8):
    print(f"\n== 2. Symmetric critical points, k = {k_min}..{k_max} (dps {dps}) ==")
    print(f"isotropy types: {', '.join(DEFAULT_ISOTROPIES)} with {starts} random starts each for k < {big_k}; "
          f"for k >= {big_k} only {', '.join(BIG_ISOTROPIES)} with {big_starts} (cost: a 50-digit full-space "
          "Hessian per distinct point); plus the points of k - 1 as continuation starts")
    results = {}
    prev = None
    for k in range(k_min, k_max + 1):
        t0 = time.perf_counter()
        big = k >= big_k
        res = symmetric_critical_points("relu", k, dps=dps, starts=big_starts if big else starts, seed=seed + k,
                                        isotropy=list(BIG_ISOTROPIES) if big else None,
                                        extra_starts=_continuation(prev, k), progress=progress)
        results[k] = res
        prev = res
        print(f"\n-- k = {k}: {len(res.points)} distinct points ({time.perf_counter() - t0:.1f} s; "
              f"starts {res.starts}, converged {res.converged}) --")
        print(res.table(digits=30))
        for p in res.points:
            eig = p.eigenvalues[0] if p.eigenvalues else None
            if eig is not None:
                print(f"   {p.isotropy:<14} loss {mpmath.nstr(p.loss, 12):<16} lambda_min = "
                      f"{mpmath.nstr(eig['value'], 20)} (multiplicity {eig['multiplicity']}, |r| "
                      f"{mpmath.nstr(eig['bound'], 2)}); index by {p.index_method.split(',')[0]}; "
                      f"scalars {', '.join(f'{n}={mpmath.nstr(v, 10)}' for n, v in p.scalars.items())}")
        # assertions
        for p in res.points:
            assert p.gradient_norm < mpmath.mpf(10) ** -45, (k, p.isotropy, p.gradient_norm)
            assert p.loss > -mpmath.mpf(10) ** -40, (k, p.loss)
        glob = [p for p in res.points if p.kind == "global minimum"]
        assert len(glob) == 1 and glob[0].index == 0, (k, [(p.loss, p.kind) for p in res.points])
        W = np.array(glob[0].W, dtype=float)
        assert np.allclose(W, np.eye(k), atol=1e-40) or _is_permutation(W), W
        spurious = [p for p in res.points if p.kind == "spurious minimum"]
        if k >= 6:
            # Safran & Shamir (2018): spurious local minima exist for 6 <= k <= 20
            assert spurious, f"k={k}: no spurious minimum among the symmetric critical points"
    return results


def _is_permutation(W):
    return np.allclose(np.sort(W.ravel())[-W.shape[0]:], 1, atol=1e-40) and np.allclose(np.sort(W.ravel())[:-W.shape[0]], 0, atol=1e-40)


def summary(results):
    r"""Per k: spurious minima; and the trend of the lowest $\Delta(S_{k-1}\times S_1)$ spurious minimum.

    Arjevani & Field ("Symmetry & critical points for a model shallow neural network", Physica D 2021,
    arXiv:2003.10576, abstract) show that the Safran-Shamir spurious minima have isotropy conjugate to
    $\Delta S_{k-1}$ and that their loss decays like $a k^{-1}$ ($a \approx 0.3$, a series in
    $k^{-1/2}$); asserted here: for $k \ge 6$ the lowest spurious minimum is one of
    $\Delta(S_{k-1}\times S_1)$ type and its loss decreases with $k$ (k L(k) is printed).
    """
    print("\n== Summary: spurious minima per k ==")
    print(f"{'k':>3} {'#points':>7} {'#spurious':>9}  lowest spurious minimum (isotropy, loss, k*loss)")
    lowest = {}
    for k, res in results.items():
        sp = [p for p in res.points if p.kind == "spurious minimum"]
        best = f"{sp[0].isotropy}, {mpmath.nstr(sp[0].loss, 25)}, {mpmath.nstr(k * sp[0].loss, 6)}" if sp else "-"
        print(f"{k:>3} {len(res.points):>7} {len(sp):>9}  {best}")
        others = ", ".join(f"{p.isotropy} {mpmath.nstr(p.loss, 12)}" for p in sp[1:])
        if others:
            print(f"{'':>22}  other spurious minima: {others}")
        if sp and k >= 6:
            assert sp[0].young == (k - 1, 1), (k, sp[0].young)
            lowest[k] = sp[0].loss
    ks = sorted(lowest)
    for k1, k2 in zip(ks, ks[1:]):
        assert lowest[k2] < lowest[k1], (k1, k2, lowest[k1], lowest[k2])


# ---------------------------------------------------------------------------
# 3. independent checks
# ---------------------------------------------------------------------------
def fd_gradient(prob, theta, h="1e-20", dps=60):
    """Central differences of the loss at ``dps`` digits (truncation O(h^2), rounding 10^-dps / h)."""
    with mpmath.workdps(dps), thread_mp.workdps(dps):
        th = np.array([mpmath.mpf(v) for v in theta], dtype=object)
        h = mpmath.mpf(h)
        g = []
        for i in range(len(th)):
            e = th.copy()
            e[i] = th[i] + h
            up = prob.loss(e, dps=dps)
            e[i] = th[i] - h
            dn = prob.loss(e, dps=dps)
            g.append((up - dn) / (2 * h))
        return g


def fd_hessian(prob, theta, h="1e-12", dps=60):
    """Hessian from second central differences of the loss only (no analytic derivative used)."""
    with mpmath.workdps(dps), thread_mp.workdps(dps):
        th = np.array([mpmath.mpf(v) for v in theta], dtype=object)
        h = mpmath.mpf(h)
        m = len(th)
        L0 = prob.loss(th, dps=dps)

        def L(d):
            e = th.copy()
            for i, s in d:
                e[i] = e[i] + s * h
            return prob.loss(e, dps=dps)

        H = mpmath.matrix(m, m)
        for i in range(m):
            H[i, i] = (L([(i, 1)]) - 2 * L0 + L([(i, -1)])) / h**2
            for j in range(i + 1, m):
                v = (L([(i, 1), (j, 1)]) - L([(i, 1), (j, -1)]) - L([(i, -1), (j, 1)])
                     + L([(i, -1), (j, -1)])) / (4 * h * h)
                H[i, j] = H[j, i] = v
        return H


def monte_carlo_loss(W, samples=2_000_000, seed=0, chunk=250_000):
    """$\\tfrac12 E[(\\sum_i relu(w_i x) - \\sum_r relu(x_r))^2]$ by sampling $x \\sim N(0, I)$: (mean, standard error)."""
    rng = np.random.default_rng(seed)
    W = np.asarray(W, dtype=float)
    k = W.shape[1]
    vals = []
    done = 0
    while done < samples:
        m = min(chunk, samples - done)
        X = rng.standard_normal((m, k))
        f = np.maximum(X @ W.T, 0).sum(axis=1) - np.maximum(X, 0).sum(axis=1)
        vals.append(0.5 * f * f)
        done += m
    v = np.concatenate(vals)
    return float(v.mean()), float(v.std(ddof=1) / np.sqrt(len(v)))


def independent_checks(results, fd_k=(3, 4), fd_hessian_k=(3,), mc_samples=2_000_000, fd_hessian_points=None):
    print("\n== 3. Independent checks ==")
    # Monte Carlo at one spurious minimum (else at the highest-loss point of the largest k)
    pick = None
    for k in sorted(results):
        sp = [p for p in results[k].points if p.kind == "spurious minimum"]
        if sp:
            pick = sp[0]
            break
    if pick is None:
        k = max(results)
        pick = results[k].points[-1]
    mean, se = monte_carlo_loss(np.array(pick.W, dtype=float), samples=mc_samples)
    dev = abs(mean - float(pick.loss)) / se
    print(f"Monte Carlo ({mc_samples} samples) at the k={pick.k} {pick.isotropy} {pick.kind}: {mean:.6f} +- {se:.6f}; "
          f"exact {mpmath.nstr(pick.loss, 20)}; deviation {dev:.2f} standard errors")
    assert dev < 5, dev
    for k in fd_k:
        if k not in results:
            continue
        prob = results[k].problem
        for p in results[k].points:
            g = fd_gradient(prob, p.theta)
            gn = mpmath.sqrt(mpmath.fsum(v * v for v in g))
            print(f"k={k} {p.isotropy:<12} loss {mpmath.nstr(p.loss, 12):<16}: |FD gradient of the loss| (60 digits, "
                  f"h=1e-20) = {mpmath.nstr(gn, 3)}")
            assert gn < mpmath.mpf(10) ** -30, gn
    for k in fd_hessian_k:
        if k not in results:
            continue
        prob = results[k].problem
        pts = results[k].points
        if fd_hessian_points is not None:
            # a reduced set: the lowest points and the degenerate ones (zero modes, the LDL^T path)
            pts = pts[:fd_hessian_points] + [p for p in pts[fd_hessian_points:] if p.nullity][:1]
        for p in pts:
            H = fd_hessian(prob, p.theta)
            ev = sorted(mpmath.eigsy(H, eigvals_only=True))
            thr = mpmath.mpf(10) ** -8 * max(1, max(abs(v) for v in ev))
            idx = sum(1 for v in ev if v < -thr)
            nul = sum(1 for v in ev if abs(v) <= thr)
            print(f"k={k} {p.isotropy:<12} loss {mpmath.nstr(p.loss, 12):<16}: FD-Hessian index {idx}, nullity {nul}; "
                  f"analytic {p.index}, {p.nullity}; smallest FD eigenvalue {mpmath.nstr(ev[0], 10)} vs "
                  f"{mpmath.nstr(p.eigenvalues[0]['value'], 10)}")
            assert (idx, nul) == (p.index, p.nullity), (idx, nul, p.index, p.nullity)
            assert abs(ev[0] - p.eigenvalues[0]["value"]) < 1e-6 * max(1, abs(ev[0]))


# ---------------------------------------------------------------------------
# 4. comparison with random starts
# ---------------------------------------------------------------------------
def survey_comparison(results, survey_k, survey_starts, seed, starts, workers, dps=50):
    print(f"\n== 4. Random starts (symland.survey, fixed output weights, {survey_starts} starts) vs symmetric points ==")
    out = {}
    for k in survey_k:
        res = results.get(k) or symmetric_critical_points("relu", k, dps=dps, starts=starts, seed=seed + k,
                                                          progress=True)
        cmp = compare_with_survey(res, starts=survey_starts, seed=seed, dps=30, workers=workers, progress=True)
        out[k] = cmp
        print(f"\n-- k = {k}: {cmp['starts']} starts, {cmp['failures']} failed --")
        for p, c in cmp["matched"]:
            if c:
                print(f"  reached {c:>4} times: {p.isotropy:<14} {p.kind:<17} index {p.index} loss "
                      f"{mpmath.nstr(p.loss, 20)}")
        for cp, c in cmp["unmatched"]:
            print(f"  reached {c:>4} times: NOT in a searched subspace: {cp.kind} index {cp.index} loss "
                  f"{mpmath.nstr(cp.loss, 20)}")
        total = sum(c for _, c in cmp["matched"]) + sum(c for _, c in cmp["unmatched"])
        assert total == cmp["starts"] - cmp["failures"], (total, cmp["starts"], cmp["failures"])
        # every point a minimiser reaches is a local minimum: the survey's classification agrees
        for p, c in cmp["matched"]:
            if c:
                assert p.kind in ("global minimum", "spurious minimum", "degenerate"), (p.kind, p.index)
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--small", action="store_true", help="test size: k = 3, few starts, survey at k = 3")
    ap.add_argument("--k-min", type=int, default=3)
    ap.add_argument("--k-max", type=int, default=None, help="largest k (default 20; --small: 4)")
    ap.add_argument("--starts", type=int, default=None, help="random reduced starts per isotropy (default 30)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--big-k", type=int, default=9, help="from this k on search only S_k, S_{k-1}xS_1 (default 9)")
    ap.add_argument("--big-starts", type=int, default=8, help="random starts per isotropy for k >= --big-k")
    ap.add_argument("--survey-k", type=int, nargs="*", default=None, help="k values of the survey (default 6 7 8)")
    ap.add_argument("--survey-starts", type=int, default=None, help="survey starts per k (default 40)")
    ap.add_argument("--workers", type=int, default=1, help="survey worker processes (default 1)")
    ap.add_argument("--json", default=None, help="write the tables as JSON to this file")
    args = ap.parse_args(argv)
    small = args.small
    k_max = args.k_max if args.k_max is not None else (3 if small else 20)
    starts = args.starts if args.starts is not None else (4 if small else 30)
    survey_k = args.survey_k if args.survey_k is not None else ([3] if small else [6, 7, 8])
    survey_starts = args.survey_starts if args.survey_starts is not None else (2 if small else 40)
    t0 = time.perf_counter()
    derive_reduced_problem(ks=(3,) if small else (3, 5, 8))
    results = derive_tables(args.k_min, k_max, starts, args.seed, big_k=args.big_k, big_starts=args.big_starts)
    summary(results)
    independent_checks(results, fd_k=(3,) if small else (3, 4), fd_hessian_k=(3,) if small else (3, 4),
                       mc_samples=200_000 if small else 2_000_000, fd_hessian_points=2 if small else None)
    survey_comparison(results, survey_k, survey_starts, args.seed, starts, args.workers)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({str(k): r.to_dict() for k, r in results.items()}, f, indent=1)
    print(f"\nall assertions passed ({time.perf_counter() - t0:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
