r"""Benchmark: critical-point solvers of symland against named baselines run in the same process.

Run ``python benchmarks/critical.py`` (``--quick`` for a smoke run; ``--help`` for options).
This is a benchmark, not a test: it measures and prints, it asserts nothing.

Setting: $x \sim N(0, I_d)$, $L = \tfrac12 E[(f - f^*)^2]$, orthonormal teacher
$V = I_d[:k]$, $b = 1$, ``"erf"`` is $\operatorname{erf}(z/\sqrt2)$, ``"relu"`` is $\max(z, 0)$,
random starts $W \sim N(0, 1/d)$ (and $a \sim N(0, 1)$ when output weights are trained), seeded.

(a) **High-precision refinement.**  A float64 critical point is found by
    ``symland.landscape.critical.minimize`` from a seeded random start, then refined to 50 digits by
    ``symland.landscape.critical.refine(problem, theta, dps=50, classify_point=False)`` (its
    classification time is reported separately) and, as the baseline, by
    ``mpmath.findroot`` (multidimensional Newton with its default forward-difference
    Jacobian, step $\sqrt{\epsilon}$) on the analytic gradient,
    ``f = lambda *x: list(problem.gradient(np.array(x, dtype=object), dps=65))``, at
    ``mp.dps = 50 + 15`` from the same float64 point, stopped by ``tol=1e-50`` (findroot's
    default tolerance $\epsilon 2^{10}$ is below the gradient's rounding noise, after which
    it halves its step until it stalls) and capped at ``--findroot-cap`` seconds.
    Both answers are compared digit by digit and their gradient norms recomputed at 65 digits.
    Cases: erf $n = k = d = 4$ (trained output weights); relu $n = k = d = 6$ with output
    weights fixed to 1 (``train_output=False``).  Target: refine at least 20x faster.
    Timing: refine is run once untimed (kernel compilation), then the best of ``--repeat``
    runs is reported; findroot runs once after that, with the same (warm) kernels.

(b) **Gradient flow to $|\nabla L| < 10^{-10}$**, erf $n = k = d = 10$, trained output weights,
    from ``--starts`` seeded random starts: ``symland.landscape.critical.gradient_flow`` (stiff BDF with
    the exact Hessian as Jacobian) against plain gradient descent
    $\theta \leftarrow \theta - \eta\nabla L$ with the best fixed step $\eta$, chosen by a scan
    over ``--etas`` on the first start: in descending order, each $\eta$ runs until it
    converges, is unstable (non-finite, or the loss rises by more than 1e-12, far above its
    float64 rounding noise, in more than 20 iterations), or has
    used as many iterations as the best converged $\eta$ so far (it cannot win).  GD runs are
    capped at ``--gd-max-iter`` iterations and ``--gd-max-seconds`` seconds each, the flow at
    ``t_max = --flow-t-max`` (some starts drift to a degenerate critical point, where
    $|\nabla L|$ decays only algebraically in $t$ and neither method can reach $10^{-10}$).
    Reported: total wall times, their ratio, how many runs reached the tolerance.
    For the flow a run counts as completed when its terminal event fired, i.e. the final
    $|\nabla L| \le 1.000001\,\mathrm{gtol}$; its own ``converged`` flag is printed too (before
    a4d73e3 it could be False at the event, which was located on float64-noisy gradients).

(c) **Classification and certification at relu k = n = d in (6, 10, 20)** (``--ks``), output
    weights fixed to 1 (P = k^2 parameters).  The point: the smallest-loss nonzero critical point
    that ``symland.symmetric.fixed_point.symmetric_critical_points`` finds in the fixed-point
    subspace of diag(S_{k-1} x S_1) (Safran & Shamir's spurious minima live there), rounded to
    float64.  Timed: ``refine(..., dps=50, classify_point=False)`` from that float64 point, and
    (``--findroot-k``, default 6 and 20) ``mpmath.findroot`` on the same start as in (a);
    ``classify`` at 30 digits (Hessian at 45 digits + ``hessian_spectrum``) against
    ``mpmath.eigsy`` on the *same* 45-digit Hessian in the same run (target >= 30x; the eigsy
    eigenvalues are also compared with the classification's, digit for digit within the stated
    error bounds); ``symland.certify(problem, point, dps=50)`` (time per point, radius, proven
    index).  ``--eigsy-cap`` skips eigsy above that many parameters.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import sys
import time

import mpmath
import numpy as np
import scipy

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from symland.landscape.certify import certify  # noqa: E402
from symland.landscape.critical import classify, gradient_flow, minimize, refine  # noqa: E402
from symland.symmetric.fixed_point import symmetric_critical_points  # noqa: E402
from symland.problems.teacher_student import TeacherStudent  # noqa: E402

DPS = 50
GUARD = 15


def random_start(problem, seed):
    rng = np.random.default_rng(seed)
    W = rng.normal(0.0, 1.0 / math.sqrt(problem.d), (problem.n, problem.d))
    return problem.pack(W, rng.normal(size=problem.n)) if problem.train_output else problem.pack(W)


def mp_norm(v):
    return mpmath.sqrt(mpmath.fsum(x * x for x in v))


def fmt_t(t):
    return f"{t:8.3f}s" if t < 100 else f"{t:8.1f}s"


class _Capped(Exception):
    pass


# ---------------------------------------------------------------------------
# (a) refine vs mpmath.findroot
# ---------------------------------------------------------------------------
def bench_refine(name, problem, seed, repeat, cap, theta0=None):
    print(f"\n--- (a) {name}: {problem!r}, start " + (f"seed {seed}" if theta0 is None else "given"))
    if theta0 is None:
        start = random_start(problem, seed)
        t0 = time.perf_counter()
        res = minimize(problem, start)
        t_min = time.perf_counter() - t0
        print(f"float64 minimize: {fmt_t(t_min)}  loss {res.loss:.3e}  |grad| {res.gradient_norm:.3e}  "
              f"({res.iterations} it, {res.message})")
        theta0, loss0 = res.theta, res.loss
    else:
        loss0 = problem.loss(theta0)

    try:
        refine(problem, theta0, dps=DPS, classify_point=False)  # warm-up: kernel compilation
    except Exception as exc:  # a benchmark reports, it does not crash
        print(f"refine FAILED: {type(exc).__name__}: {exc}")
        return {"case": name, "error": f"{type(exc).__name__}: {exc}"}
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        cp = refine(problem, theta0, dps=DPS, classify_point=False)
        times.append(time.perf_counter() - t0)
    t_ref = min(times)
    t0 = time.perf_counter()
    classify(problem, cp)
    t_cls = time.perf_counter() - t0
    print(f"refine history: {cp.history}  digits {cp.digits}")
    print(f"classification: {cp.kind}, index {cp.index}, nullity {cp.nullity}, "
          f"zero modes {cp.zero_mode_sources}")

    work = DPS + GUARD
    calls = [0]
    t_start = [0.0]

    def grad(*x):
        calls[0] += 1
        if time.perf_counter() - t_start[0] > cap:
            raise _Capped
        return list(problem.gradient(np.array(x, dtype=object), dps=work))

    capped = False
    with mpmath.workdps(work):
        x0 = [mpmath.mpf(float(v)) for v in theta0]
        t_start[0] = time.perf_counter()
        try:
            root = mpmath.findroot(grad, x0, tol=mpmath.mpf(10) ** (-DPS))
            x_fr = np.array([root[i] for i in range(len(x0))], dtype=object)
        except _Capped:
            capped = True
            x_fr = None
        t_fr = time.perf_counter() - t_start[0]
        ref = np.array(cp.theta, dtype=object)
        g_ref = mp_norm(problem.gradient(ref, dps=work))
        if x_fr is not None:
            g_fr = mp_norm(problem.gradient(x_fr, dps=work))
            diff = max(abs(a - b) for a, b in zip(x_fr, ref))
            scale = max(mpmath.mpf(1), max(abs(v) for v in ref))
            agree = DPS if diff == 0 else int(min(DPS, math.floor(-float(mpmath.log10(diff / scale)))))
        else:
            g_fr, agree = None, None

    ratio = t_fr / t_ref
    verdict = "PASS" if ratio >= 20 else "FAIL"
    print(f"{'method':<34}{'time':>10}  {'|grad| (recomputed, 65 dig.)':>30}")
    print(f"{'symland refine (dps=50)':<34}{fmt_t(t_ref)}  {mpmath.nstr(g_ref, 5):>30}"
          f"   (reported: {mpmath.nstr(cp.gradient_norm, 5)}; runs: "
          + ", ".join(f"{t:.3f}" for t in times) + ")")
    print(f"{'symland classify (dps=50)':<34}{fmt_t(t_cls)}")
    fr_label = f"mpmath.findroot ({calls[0]} gradient calls)"
    print(f"{fr_label:<34}{fmt_t(t_fr)}  "
          f"{(mpmath.nstr(g_fr, 5) if g_fr is not None else 'capped'):>30}" + ("  CAPPED" if capped else ""))
    print(f"agreement refine vs findroot: {agree} digits (need >= 40: "
          f"{'ok' if agree is not None and agree >= 40 else 'NO'})")
    print(f"speed-up refine vs findroot: {ratio:.1f}x  (target >= 20x): {verdict}")
    return {"case": name, "refine": t_ref, "classify": t_cls, "findroot": t_fr, "calls": calls[0],
            "ratio": ratio, "verdict": verdict, "agree": agree, "g_ref": g_ref, "g_fr": g_fr,
            "capped": capped, "kind": cp.kind, "loss": loss0}


# ---------------------------------------------------------------------------
# (c) classification and certification at relu k = n = d
# ---------------------------------------------------------------------------
def symmetric_point(k):
    """The smallest-loss nonzero critical point in Fix(diag(S_{k-1} x S_1)), rounded to float64."""
    search = symmetric_critical_points("relu", k=k, isotropy="S_{k-1}xS_1", dps=30, starts=10, classify=False)
    spurious = [p for p in search.points if p.loss > 1e-20]
    best = min(spurious, key=lambda p: p.loss)
    return np.array([float(v) for v in best.theta])


def bench_classify_certify(k, eigsy_cap, repeat, findroot, cap):
    problem = TeacherStudent.orthonormal("relu", k=k, n=k, train_output=False)
    P = problem.num_params
    print(f"\n--- (c) relu k = n = d = {k}, output weights fixed (P = {P})")
    t0 = time.perf_counter()
    theta0 = symmetric_point(k)
    print(f"symmetric search (S_{{k-1}} x S_1): {fmt_t(time.perf_counter() - t0)}; start loss "
          f"{problem.loss(theta0):.6e}, |grad| {np.linalg.norm(problem.gradient(theta0)):.2e}")
    row = {"k": k, "P": P}
    if findroot:
        row["refine"] = bench_refine(f"relu k=n=d={k}, a fixed, symmetric point", problem, None, repeat, cap, theta0)
    cp = refine(problem, theta0, dps=30, classify_point=False)
    t0 = time.perf_counter()
    classify(problem, cp)
    row["classify"] = time.perf_counter() - t0
    print(f"classify (30 digits): {fmt_t(row['classify'])}  {cp.kind}, index {cp.index}, nullity {cp.nullity}; "
          f"{cp.spectrum_method}")
    print(f"  smallest eigenvalues: {', '.join(cp.eigenvalue_strings(20)[:3])}")
    if P <= eigsy_cap:
        work = cp.dps + GUARD
        t0 = time.perf_counter()
        H = problem.hessian(cp.theta, dps=work)
        t_h = time.perf_counter() - t0
        with mpmath.workdps(work):
            t0 = time.perf_counter()
            ev = sorted(mpmath.eigsy(mpmath.matrix(H.tolist()), eigvals_only=True))
            t_e = time.perf_counter() - t0
        worst = max(abs(a - b) - e for a, b, e in zip(ev, cp.eigenvalues, cp.eigenvalue_errors))
        row["eigsy"], row["hessian_mp"] = t_e, t_h
        print(f"mpmath eigsy on the same {work}-digit Hessian: {fmt_t(t_e)} (+ mpmath Hessian {fmt_t(t_h)}); "
              f"ratio eigsy / classify = {t_e / row['classify']:.1f}x (target >= 30x); eigsy eigenvalues "
              f"{'inside' if worst <= 10.0 ** (5 - work) else 'OUTSIDE'} the classification's error bounds "
              f"(worst excess {float(worst):.1e})")
    t0 = time.perf_counter()
    cert = certify(problem, theta0, dps=50)
    row["certify"] = time.perf_counter() - t0
    row["certified"] = f"{cert.kind}, index {cert.index}" if cert.certified else f"not certified ({cert.status})"
    print(f"certify (50 digits): {fmt_t(row['certify'])}  {cert}")
    return row


# ---------------------------------------------------------------------------
# (b) gradient flow vs gradient descent
# ---------------------------------------------------------------------------
def gd(problem, theta0, eta, gtol, max_iter, max_seconds, watch=False, stop_after=None):
    """Plain gradient descent.  Returns (status, iterations, |grad|, loss, seconds)."""
    theta = np.array(theta0, dtype=float)
    limit = max_iter if stop_after is None else min(max_iter, stop_after)
    rises = 0
    last = math.inf
    t0 = time.perf_counter()
    status = "iteration cap"
    it = 0
    gn = math.nan
    for it in range(limit + 1):
        if watch:
            loss, g = problem.loss_and_gradient(theta)
            if loss > last + 1e-12:  # above the float64 rounding noise of the loss (~1e-15)
                rises += 1
            last = loss
        else:
            g = problem.gradient(theta)
        gn = float(np.linalg.norm(g))
        if not math.isfinite(gn) or gn > 1e8:
            status = "diverged"
            break
        if gn < gtol:
            status = "converged"
            break
        if watch and rises > 20:
            status = "unstable (loss rises)"
            break
        if it == limit:
            status = "iteration cap" if stop_after is None or limit == max_iter else "stopped (cannot win)"
            break
        if time.perf_counter() - t0 > max_seconds:
            status = "time cap"
            break
        theta = theta - eta * g
    seconds = time.perf_counter() - t0
    loss = problem.loss(theta) if math.isfinite(gn) else math.nan
    return status, it, gn, loss, seconds


def bench_flow(n, starts, etas, gtol, gd_max_iter, gd_max_seconds, flow_t_max):
    problem = TeacherStudent.orthonormal("erf", k=n, n=n)
    print(f"\n--- (b) gradient flow to |grad| < {gtol:g}: {problem!r}, {starts} starts")
    thetas = [random_start(problem, s) for s in range(starts)]
    problem.gradient(thetas[0])
    problem.hessian(thetas[0])  # warm-up

    print(f"step scan for plain GD on start 0 (descending eta):")
    print(f"{'eta':>6}  {'status':<24}{'iterations':>11}{'|grad|':>12}{'time':>10}")
    best = None
    for eta in sorted(etas, reverse=True):
        status, it, gn, loss, sec = gd(problem, thetas[0], eta, gtol, gd_max_iter, gd_max_seconds,
                                       watch=True, stop_after=None if best is None else best[1])
        print(f"{eta:6g}  {status:<24}{it:11d}{gn:12.3e}{fmt_t(sec):>10}")
        if status == "converged" and (best is None or it < best[1]):
            best = (eta, it)
    if best is None:
        eta = min(etas)
        print(f"no eta converged within the caps on start 0; using the smallest, eta = {eta}")
    else:
        eta = best[0]
        print(f"best fixed step: eta = {eta} ({best[1]} iterations on start 0)")

    rows = []
    for s, th in enumerate(thetas):
        t0 = time.perf_counter()
        fl = gradient_flow(problem, th, gtol=gtol, t_max=flow_t_max)
        t_fl = time.perf_counter() - t0
        status, it, gn, loss, t_gd = gd(problem, th, eta, gtol, gd_max_iter, gd_max_seconds)
        rows.append((s, t_fl, fl, t_gd, status, it, gn, loss))
        fl_done = fl.gradient_norm <= gtol * (1 + 1e-6)
        print(f"start {s}: flow {fmt_t(t_fl)} {fl.iterations:6d} steps  |g| {fl.gradient_norm:.4e} "
              f"loss {fl.loss:.3e} done={fl_done} (flag {fl.converged}) | "
              f"GD {fmt_t(t_gd)} {it:7d} it  |g| {gn:.3e} loss {loss:.3e} {status}", flush=True)

    print(f"\n{'start':>5}{'flow time':>11}{'flow steps':>11}{'flow loss':>11}{'flow done':>10}"
          f"{'GD time':>11}{'GD iters':>10}{'GD loss':>11}{'GD status':>16}{'same min':>9}")
    tot_fl = tot_gd = 0.0
    done_fl = done_gd = 0
    for s, t_fl, fl, t_gd, status, it, gn, loss in rows:
        fl_done = fl.gradient_norm <= gtol * (1 + 1e-6)
        same = "yes" if (fl_done and status == "converged" and abs(fl.loss - loss) < 1e-8) else "-"
        print(f"{s:5d}{fmt_t(t_fl):>11}{fl.iterations:11d}{fl.loss:11.2e}{str(fl_done):>10}"
              f"{fmt_t(t_gd):>11}{it:10d}{loss:11.2e}{status:>16}{same:>9}")
        tot_fl += t_fl
        tot_gd += t_gd
        done_fl += fl_done
        done_gd += status == "converged"
    flags = sum(r[2].converged for r in rows)
    print(f"{'total':>5}{fmt_t(tot_fl):>11}{'':>32}{fmt_t(tot_gd):>11}")
    print(f"gradient_flow: {done_fl}/{len(rows)} reached |grad| <= gtol (event; converged flag True "
          f"in {flags}); GD (eta={eta}): {done_gd}/{len(rows)} reached |grad| < gtol "
          f"(caps: {gd_max_iter} iterations, {gd_max_seconds:g} s per run); flow t_max = {flow_t_max:g}")
    print(f"wall-time ratio GD / gradient_flow: {tot_gd / tot_fl:.2f}x")
    return {"eta": eta, "flow_total": tot_fl, "gd_total": tot_gd, "flow_done": done_fl,
            "flow_flag": flags, "gd_done": done_gd, "runs": len(rows), "ratio": tot_gd / tot_fl}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="smoke run: n=4 flow, 2 starts, short caps")
    ap.add_argument("--part", choices=["a", "b", "c", "all"], default="all")
    ap.add_argument("--ks", type=int, nargs="+", default=[6, 10, 20], help="(c): relu k = n = d values")
    ap.add_argument("--findroot-k", type=int, nargs="*", default=[6, 20], help="(c): k with refine vs findroot")
    ap.add_argument("--eigsy-cap", type=int, default=400, help="(c): largest P with the eigsy baseline")
    ap.add_argument("--repeat", type=int, default=3, help="timed refine runs (best is reported)")
    ap.add_argument("--findroot-cap", type=float, default=300.0, help="seconds before findroot is stopped")
    ap.add_argument("--starts", type=int, default=10)
    ap.add_argument("--flow-n", type=int, default=10, help="n = k = d of the gradient-flow problem")
    ap.add_argument("--gtol", type=float, default=1e-10)
    ap.add_argument("--etas", type=float, nargs="+", default=[0.05, 0.1, 0.2, 0.5, 1.0, 2.0])
    ap.add_argument("--gd-max-iter", type=int, default=200_000)
    ap.add_argument("--gd-max-seconds", type=float, default=30.0)
    ap.add_argument("--flow-t-max", type=float, default=1e6,
                    help="gradient_flow t_max (starts that drift towards degenerate critical points "
                         "converge algebraically and would run for many minutes to the default 1e7)")
    args = ap.parse_args(argv)
    if args.quick:
        args.starts, args.flow_n, args.repeat = 2, 4, 1
        args.gd_max_seconds = min(args.gd_max_seconds, 10.0)
        args.ks, args.findroot_k = [6], [6]

    print(f"python {platform.python_version()}, numpy {np.__version__}, scipy {scipy.__version__}, "
          f"mpmath {mpmath.__version__} (backend {mpmath.libmp.BACKEND}), {platform.machine()}")
    t_all = time.perf_counter()
    out_a, out_b, out_c = [], None, []
    if args.part in ("a", "all"):
        out_a.append(bench_refine("erf n=k=d=4, trained a", TeacherStudent.orthonormal("erf", k=4, n=4),
                                  0, args.repeat, args.findroot_cap))
        out_a.append(bench_refine("relu n=k=d=6, a fixed",
                                  TeacherStudent.orthonormal("relu", k=6, n=6, train_output=False),
                                  0, args.repeat, args.findroot_cap))
    if args.part in ("b", "all"):
        out_b = bench_flow(args.flow_n, args.starts, args.etas, args.gtol, args.gd_max_iter,
                           args.gd_max_seconds, args.flow_t_max)

    if args.part in ("c", "all"):
        for k in args.ks:
            out_c.append(bench_classify_certify(k, args.eigsy_cap, args.repeat, k in args.findroot_k,
                                                args.findroot_cap))

    print("\n=== summary ===")
    if out_a:
        print(f"{'(a) case':<26}{'refine':>10}{'classify':>10}{'findroot':>10}{'calls':>7}{'ratio':>8}"
              f"{'agree':>7}{'|g| refine':>12}{'|g| findroot':>14}  verdict")
        for r in out_a:
            if "error" in r:
                print(f"{r['case']:<26}refine raised {r['error'][:90]}")
                continue
            gfr = mpmath.nstr(r["g_fr"], 3) if r["g_fr"] is not None else "capped"
            print(f"{r['case']:<26}{fmt_t(r['refine']):>10}{fmt_t(r['classify']):>10}{fmt_t(r['findroot']):>10}"
                  f"{r['calls']:>7}{r['ratio']:>7.1f}x{str(r['agree']):>7}{mpmath.nstr(r['g_ref'], 3):>12}"
                  f"{gfr:>14}  {r['verdict']}")
    if out_b:
        print(f"(b) erf n=k=d={args.flow_n}: gradient_flow {out_b['flow_total']:.1f} s "
              f"({out_b['flow_done']}/{out_b['runs']} done, flag {out_b['flow_flag']}) vs GD eta={out_b['eta']} "
              f"{out_b['gd_total']:.1f} s ({out_b['gd_done']}/{out_b['runs']} done): "
              f"GD/flow = {out_b['ratio']:.2f}x")
    if out_c:
        print(f"{'(c) relu k':<12}{'P':>5}{'refine':>10}{'findroot':>10}{'ratio':>8}{'classify':>10}{'eigsy':>10}"
              f"{'ratio':>8}{'certify':>10}  certificate")
        for r in out_c:
            ref = r.get("refine") or {}
            fr = f"{ref['findroot']:9.1f}s" if "findroot" in ref else f"{'-':>10}"
            rr = f"{ref['ratio']:7.1f}x" if "ratio" in ref else f"{'-':>8}"
            rf = fmt_t(ref["refine"]) if "refine" in ref else f"{'-':>9}"
            eg = fmt_t(r["eigsy"]) if "eigsy" in r else f"{'-':>9}"
            er = f"{r['eigsy'] / r['classify']:7.1f}x" if "eigsy" in r else f"{'-':>8}"
            print(f"{r['k']:<12}{r['P']:>5}{rf:>10}{fr}{rr}{fmt_t(r['classify']):>10}{eg:>10}{er}"
                  f"{fmt_t(r['certify']):>10}  {r['certified']}")
    print(f"total benchmark time {time.perf_counter() - t_all:.0f} s")


if __name__ == "__main__":
    main()
