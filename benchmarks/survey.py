r"""Benchmark: symland's batched loss+gradient (many starts at once) vs JAX jit(vmap(value_and_grad)).

Run ``python benchmarks/survey.py`` (``--quick`` for a smoke run; ``--help`` for options).
This is a benchmark, not a test: it measures and prints, it asserts nothing.

Problem (same for every method): teacher-student regression under Gaussian input,
$L = \tfrac12 E_x[(f(x) - f^*(x))^2]$ (loss factor 1/2, as everywhere in symland), orthonormal teacher
$V = I_d[:k]$, $b = 1$, student $n = k = d$ with **fixed** output weights $a = 1$ (the Safran & Shamir
setting; $\theta = W.ravel()$, $nd$ parameters), activations ``erf`` ($\operatorname{erf}(z/\sqrt2)$)
and ``relu``.  A batch of $B$ (default 100) parameter vectors drawn as a survey draws its starts
(:func:`symland.landscape.survey.random_starts`: $W_{il} \sim N(0, 1/d)$, seeded).

Methods, all measured in this one process, per batch of $B$ points (reported per point):

1. ``sym batch``: :meth:`symland.problems.batched.BatchedTeacherStudent.loss_and_gradient` on the
   $(B, P)$ array (one call for the whole batch).
2. ``jax``: ``jax.jit(jax.vmap(jax.value_and_grad(L)))`` in float64 on the same $(B, P)$ array, where
   ``L`` is the closed form written independently in ``jax.numpy`` in ``benchmarks/kernels.py``
   (:func:`kernels.jax_loss_fn`, imported, with the fixed output weights appended to ``theta``);
   compilation excluded (reported in the log), results ``block_until_ready``'d.
3. ``sym loop``: :meth:`symland.problems.teacher_student.TeacherStudent.loss_and_gradient` called
   once per point (what the single-start solvers do) -- the per-call overhead the batch removes.

Target (printed as PASS/FAIL): ``sym batch`` per point no slower than ``jax`` (ratio <= 1.0x) at every
size and activation.  Accuracy: largest deviation of ``sym batch`` from ``jax`` and from ``sym loop``
(loss relative, gradient ``max|x - y| / max|y|``).

With ``--solvers`` the script also times the float64 stage of a survey: :func:`solve_batch`
(``trust`` and ``newton``) on all starts at once against :func:`symland.minimize` /
:func:`symland.newton` called per start, on small problems (``--solver-cases``), with the number of
converged starts of each.

With ``--whole`` it also times whole surveys (figures in ``benchmarks/README.md``): relu k = n = 20,
100 starts, :func:`symland.landscape.survey.survey` (batched float64 stage, ``--whole-solver``,
default ``gd``; 30-digit refinement and classification of every distinct point) against plain
gradient descent in JAX with ``vmap`` over the same starts until every start has
$|\nabla L| \le 10^{-8}$, with the best stable fixed step: the largest $2^{-j/2}$ under which no
start's loss rises during the first 300 steps (:func:`symland.landscape.batch_solve.stable_step`,
untimed); every minimum gradient descent reaches must be among the survey's points.  And erf
k = 4, n = 2 with 1000 starts: time per start, against the per-start path on the first 100.

Timing: :func:`kernels.bench` (one untimed warm-up, batches >= 20 ms, median over ``--repeat``; ``--stat
min`` for the minimum).  The machine's load average (``os.getloadavg``) is printed for every case and at
start and end: other processes inflate and scatter all timings.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time

os.environ.setdefault("JAX_PLATFORMS", "cpu")
_HERE = os.path.dirname(os.path.abspath(__file__))


def _early_blas_threads(argv):
    """``--blas-threads N`` must act before numpy loads OpenBLAS, so it is read here."""
    for i, arg in enumerate(argv):
        if arg == "--blas-threads" and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--blas-threads="):
            return arg.split("=", 1)[1]
    return None


if __name__ == "__main__" and _early_blas_threads(sys.argv) is not None:
    for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[_var] = _early_blas_threads(sys.argv)

import numpy as np  # noqa: E402

sys.path.insert(0, _HERE)  # benchmarks/kernels.py: the JAX closed form and the timing helper
sys.path.insert(0, os.path.join(_HERE, ".."))  # this checkout's symland

import kernels  # noqa: E402
from symland.landscape import critical  # noqa: E402
from symland.landscape.batch_solve import solve_batch, stable_step  # noqa: E402
from symland.landscape.survey import random_starts, survey  # noqa: E402
from symland.landscape.symmetry import group_points, match_signatures, signature  # noqa: E402
from symland.problems.batched import BatchedTeacherStudent  # noqa: E402
from symland.problems.teacher_student import TeacherStudent  # noqa: E402


def rel_dev(x, ref):
    x, ref = np.asarray(x, dtype=float), np.asarray(ref, dtype=float)
    return float(np.max(np.abs(x - ref))) / max(float(np.max(np.abs(ref))), 1e-300)


def load():
    return os.getloadavg()[0]


def run_case(act, d, args, jax, jnp, log):
    B = args.batch
    prob = TeacherStudent.orthonormal(act, d, d, d, train_output=False)
    Theta = random_starts(prob, B, seed=args.seed)
    res = {"activation": act, "size": d, "batch": B, "num_params": prob.num_params, "load_start": load()}
    bt = BatchedTeacherStudent(prob)

    t, ts, _, (L_b, G_b) = kernels.bench(lambda: bt.loss_and_gradient(Theta), args.repeat, args.budget)
    res["sym_batch"], res["sym_batch_times"] = t / B, [x / B for x in ts]
    res["single_rows"] = bt.single_rows
    t, ts, _, out = kernels.bench(lambda: [prob.loss_and_gradient(th) for th in Theta], args.repeat, args.budget)
    res["sym_loop"], res["sym_loop_times"] = t / B, [x / B for x in ts]
    L_s = np.array([o[0] for o in out])
    G_s = np.array([o[1] for o in out])
    res["loss_batch_vs_loop"] = rel_dev(L_b, L_s)
    res["grad_batch_vs_loop"] = rel_dev(G_b, G_s)
    log(f"  symland: batch {res['sym_batch'] * 1e6:.2f} us/point, loop {res['sym_loop'] * 1e6:.2f} us/point "
        f"(rows handed to the single-point engine: {bt.single_rows})")

    if jax is not None:
        loss = kernels.jax_loss_fn(jax, jnp, act, prob.teacher_weights, prob.teacher_output, d)
        a_fixed = jnp.asarray(prob.student_output)

        def loss_fixed(w):
            return loss(jnp.concatenate([w, a_fixed]))

        vg = jax.jit(jax.vmap(jax.value_and_grad(loss_fixed)))
        Tj = jnp.asarray(Theta)

        def run():
            v, g = vg(Tj)
            v.block_until_ready()
            g.block_until_ready()
            return v, g

        t0 = time.perf_counter()
        run()
        res["jax_compile"] = time.perf_counter() - t0
        t, ts, _, (L_j, G_j) = kernels.bench(run, args.repeat, args.budget, warm=False)
        res["jax"], res["jax_times"] = t / B, [x / B for x in ts]
        res["loss_batch_vs_jax"] = rel_dev(L_b, np.asarray(L_j))
        res["grad_batch_vs_jax"] = rel_dev(G_b, np.asarray(G_j))
        log(f"  jax: jit(vmap(value_and_grad)) {res['jax'] * 1e6:.2f} us/point (compile {res['jax_compile']:.2f} s)")
        jax.clear_caches()
    res["load_end"] = load()
    return res


def run_solvers(cases, args, log):
    """The float64 stage of a survey: batched solvers against the single-start solvers per start."""
    out = []
    for spec in cases:
        act, k, n = spec.split(":")
        prob = TeacherStudent.orthonormal(act, int(k), int(n))
        Theta = random_starts(prob, args.solver_starts, seed=args.seed)
        for method, single in (("trust", critical.minimize), ("newton", critical.newton)):
            l0 = load()
            t0 = time.perf_counter()
            res = solve_batch(prob, Theta, method=method)
            tb = time.perf_counter() - t0
            t0 = time.perf_counter()
            ref = [single(prob, th) for th in Theta]
            tl = time.perf_counter() - t0
            row = {"case": f"{act} k={k} n={n}", "method": method, "single": single.__name__,
                   "starts": len(Theta), "batch_s": tb, "loop_s": tl, "batch_converged": int(res.converged.sum()),
                   "loop_converged": sum(r.converged for r in ref), "load": (l0 + load()) / 2}
            out.append(row)
            log(f"  solvers {row['case']} {method}: batch {tb:.2f} s ({row['batch_converged']} converged), "
                f"{single.__name__} per start {tl:.2f} s ({row['loop_converged']} converged)")
    return out


def jax_gradient_descent(jax, jnp, loss_fixed, Theta, eta, gtol, max_steps, chunk=2000):
    """Plain gradient descent with fixed step ``eta`` on all starts at once (``jax.vmap``, one jitted chunk of
    ``chunk`` steps per call) until every start has |grad| <= gtol or ``max_steps`` steps."""
    grad = jax.vmap(jax.grad(loss_fixed))

    @jax.jit
    def run(T):
        def body(_, T):
            return T - eta * grad(T)
        T = jax.lax.fori_loop(0, chunk, body, T)
        return T, jnp.linalg.norm(grad(T), axis=1)

    T = jnp.asarray(Theta)
    run(T)[0].block_until_ready()  # compile outside the timing
    t0 = time.perf_counter()
    steps = 0
    while steps < max_steps:
        T, gn = run(T)
        steps += chunk
        if bool(jnp.all(gn <= gtol)):
            break
    T.block_until_ready()
    return np.asarray(T), np.asarray(gn), steps, time.perf_counter() - t0


def run_whole_survey(args, log):
    """relu k = n = 20, fixed outputs: the whole symland survey (run before JAX is imported: the survey's
    worker processes are forked, and forking a process that runs JAX's thread pool can deadlock)."""
    k, N = args.whole_k, args.whole_starts
    prob = TeacherStudent.orthonormal("relu", k, k, k, train_output=False)
    Theta = random_starts(prob, N, seed=args.seed)
    out = {"case": f"relu k=n={k}, fixed outputs", "starts": N, "solver": args.whole_solver,
           "load_start": load()}
    t0 = time.perf_counter()
    res = survey(prob, starts=Theta, dps=30, solver=args.whole_solver, progress=True)
    out["survey_s"] = time.perf_counter() - t0
    out["survey_distinct"] = len(res.points)
    out["survey_minima"] = sum(1 for cp, _ in res.points if cp.index == 0)
    out["survey_failed"] = len(res.failures)
    log(f"  survey: {out['survey_s']:.1f} s, {len(res.points)} distinct points "
        f"({out['survey_minima']} with index 0), {len(res.failures)} failed")
    return out, prob, Theta, res


def run_gradient_descent(out, prob, Theta, res, jax, jnp, log, max_steps):
    """JAX gradient descent from the same starts; every minimum it reaches must be among the survey's points."""
    k, N = prob.k, len(Theta)
    loss = kernels.jax_loss_fn(jax, jnp, "relu", prob.teacher_weights, prob.teacher_output, k,
                               stable_alignment=True)
    a_fixed = jnp.asarray(prob.student_output)

    def loss_fixed(w):
        return loss(jnp.concatenate([w, a_fixed]))

    t0 = time.perf_counter()
    eta = stable_step(prob, Theta)  # the grid rule of the module docstring, applied to the same closed form
    out["gd_step"], out["gd_step_search_s"] = eta, time.perf_counter() - t0
    log(f"  gradient descent: best stable fixed step {eta:.4g} (search {out['gd_step_search_s']:.1f} s, untimed)")
    T, gn, steps, tg = jax_gradient_descent(jax, jnp, loss_fixed, Theta, eta, 1e-8, max_steps)
    out.update(gd_s=tg, gd_steps=steps, gd_converged=int(np.sum(gn <= 1e-8)))
    log(f"  gradient descent: {tg:.1f} s, {steps} steps, {out['gd_converged']}/{N} starts at |grad| <= 1e-8")
    # every minimum gradient descent reached (float64 Hessian index 0) must be among the survey's points
    sigs = [signature(prob, cp) for cp, _ in res.points]
    missing, reached = [], []
    for j in np.flatnonzero(gn <= 1e-8):
        lam = np.linalg.eigvalsh(prob.hessian(T[j]))
        if lam[0] < -1e-9 * max(1.0, abs(lam[-1])):
            continue  # a saddle: not a minimum gradient descent reached
        s = signature(prob, T[j])
        hit = [r for r, sg in enumerate(sigs) if match_signatures(sg, s, 1e-6)]
        if not hit:
            missing.append(int(j))
        elif hit[0] not in reached:
            reached.append(hit[0])
    unlisted = len(group_points(prob, [T[j] for j in missing], 1e-6)) if missing else 0
    out.update(gd_minima=len(reached) + unlisted, gd_minima_missing=missing, gd_minima_found=len(reached),
               load_end=load())
    log(f"  gradient descent reached {len(reached)} of the survey's points; {len(missing)} converged starts at "
        "minima the survey does not list")
    return out


def run_erf_starts(args, log):
    """erf k = 4, n = 2 (trained outputs), many starts: time per start, batched against per start."""
    prob = TeacherStudent.orthonormal("erf", 4, 2)
    N, M = args.erf_starts, min(args.erf_starts, args.erf_single)
    Theta = random_starts(prob, N, seed=args.seed)
    l0 = load()
    t0 = time.perf_counter()
    res = survey(prob, starts=Theta, dps=30, progress=True)
    tb = time.perf_counter() - t0
    t0 = time.perf_counter()
    single = survey(prob, starts=Theta[:M], dps=30, batch=False, progress=True)
    ts = time.perf_counter() - t0
    out = {"case": "erf k=4 n=2", "starts": N, "batched_s": tb, "per_start_batched": tb / N,
           "single_starts": M, "single_s": ts, "per_start_single": ts / M, "distinct": len(res.points),
           "distinct_single": len(single.points), "failed": len(res.failures), "load": (l0 + load()) / 2}
    log(f"  erf k=4 n=2: {N} starts batched {tb:.1f} s ({tb / N * 1e3:.1f} ms per start, {len(res.points)} "
        f"distinct); first {M} per start {ts:.1f} s ({ts / M * 1e3:.1f} ms per start)")
    return out


def fmt_us(t):
    return "-" if t is None else (f"{t * 1e6:.1f}us" if t < 1e-3 else f"{t * 1e3:.2f}ms")


def fmt_e(x):
    return "-" if x is None else f"{x:.1e}"


def print_table(title, hdr, rows):
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(hdr)]
    print()
    print(title)
    line = "  ".join(h.rjust(w) for h, w in zip(hdr, widths))
    print(line)
    print("-" * len(line))
    for r in rows:
        print("  ".join(c.rjust(w) for c, w in zip(r, widths)))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", type=int, nargs="+", default=[4, 20, 50], help="n = k = d values")
    p.add_argument("--activations", nargs="+", default=["erf", "relu"], choices=["erf", "relu"])
    p.add_argument("--batch", type=int, default=100, help="points per batch (B)")
    p.add_argument("--repeat", type=int, default=7, help="timed repeats per measurement (see --stat)")
    p.add_argument("--stat", choices=["median", "min"], default="median",
                   help="statistic over repeats (default median; min is robust to a loaded machine)")
    p.add_argument("--budget", type=float, default=10.0, help="seconds per measurement before repeats stop")
    p.add_argument("--quick", action="store_true", help="smoke run: sizes 4 and 20, 3 repeats")
    p.add_argument("--no-jax", action="store_true", help="skip the JAX baseline even if JAX is installed")
    p.add_argument("--solvers", action="store_true", help="also time solve_batch against the per-start solvers")
    p.add_argument("--solver-cases", nargs="+", default=["erf:2:2", "erf:4:4", "relu:3:3"],
                   help="activation:k:n of the solver comparison")
    p.add_argument("--solver-starts", type=int, default=50, help="starts of the solver comparison")
    p.add_argument("--whole", action="store_true",
                   help="also time whole surveys: relu k=n=--whole-k against JAX gradient descent, and erf k=4 n=2 "
                        "with --erf-starts starts")
    p.add_argument("--whole-k", type=int, default=20, help="k = n of the whole-survey comparison (default 20)")
    p.add_argument("--whole-starts", type=int, default=100, help="starts of the whole-survey comparison")
    p.add_argument("--whole-solver", default="gd", choices=["gd", "lbfgs", "minimize", "newton"],
                   help="float64 solver of the whole survey (default gd: gradient descent with the best stable "
                        "fixed step, then Newton, which reaches the minima gradient descent reaches)")
    p.add_argument("--gd-max-steps", type=int, default=2_000_000, help="cap on the gradient-descent steps")
    p.add_argument("--erf-starts", type=int, default=1000, help="starts of the erf k=4 n=2 survey")
    p.add_argument("--erf-single", type=int, default=100,
                   help="how many of them also run per start (batch=False) for the ratio")
    p.add_argument("--blas-threads", type=int, default=None,
                   help="set OPENBLAS/OMP/MKL_NUM_THREADS for numpy (default: environment unchanged)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", metavar="OUT", help="also write all measurements to this JSON file")
    args = p.parse_args(argv)
    if args.quick:
        args.sizes = [s for s in args.sizes if s in (4, 20)] or [4, 20]
        args.repeat = min(args.repeat, 3)
    if args.repeat < 1 or args.batch < 1:
        p.error("--repeat and --batch must be >= 1")
    kernels._STAT = min if args.stat == "min" else statistics.median

    def log(msg):
        print(msg, file=sys.stderr, flush=True)

    whole = []
    if args.whole:  # symland's surveys first: their worker processes are forked before JAX starts its threads
        log(f"[whole survey relu k=n={args.whole_k}, {args.whole_starts} starts, load {load():.2f}]")
        whole_run = run_whole_survey(args, log)
        log(f"[erf k=4 n=2, {args.erf_starts} starts, load {load():.2f}]")
        erf = run_erf_starts(args, log)
    jax, jnp = (None, None) if args.no_jax else kernels.import_jax()
    if jax is None:
        log("JAX skipped: " + ("--no-jax given" if args.no_jax else
                               "jax is not installed (pip install -e .[bench])"))
    t_start, load_start = time.perf_counter(), load()
    results = []
    for d in args.sizes:
        for act in args.activations:
            log(f"[{act} n=k=d={d}, B={args.batch}, load {load():.2f}]")
            results.append(run_case(act, d, args, jax, jnp, log))
    solvers = run_solvers(args.solver_cases, args, log) if args.solvers else []
    if args.whole:
        whole.append(run_gradient_descent(*whole_run, jax, jnp, log, args.gd_max_steps) if jax is not None
                     else whole_run[0])

    print(f"symland batched-survey benchmark: python {platform.python_version()}, numpy {np.__version__}, "
          f"jax {jax.__version__ + ' (' + jax.default_backend() + ')' if jax else 'skipped'}, "
          f"{os.cpu_count()} cpus, B = {args.batch}, repeat {args.repeat} ({args.stat}), seed {args.seed}")
    print(f"numpy BLAS threads: OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}; "
          f"load average (1 min) at start {load_start:.2f}, at end {load():.2f} "
          "(other processes on the machine inflate and scatter all timings)")
    hdr = ("size", "act", "sym batch", "jax", "sym/jax", "sym loop", "loop/batch", "load",
           "L batch-jax", "g batch-jax", "L batch-loop", "g batch-loop")
    rows = []
    for r in results:
        ratio = f"{r['sym_batch'] / r['jax']:.2f}x" if r.get("jax") else "skipped"
        rows.append((str(r["size"]), r["activation"], fmt_us(r["sym_batch"]), fmt_us(r.get("jax")), ratio,
                     fmt_us(r["sym_loop"]), f"{r['sym_loop'] / r['sym_batch']:.1f}x",
                     f"{r['load_start']:.1f}-{r['load_end']:.1f}",
                     fmt_e(r.get("loss_batch_vs_jax")), fmt_e(r.get("grad_batch_vs_jax")),
                     fmt_e(r["loss_batch_vs_loop"]), fmt_e(r["grad_batch_vs_loop"])))
    print_table(f"Loss + gradient, {args.stat} wall time per point (batch of {args.batch}); sym/jax <= 1.0x means "
                "symland is no slower", hdr, rows)
    print("  size = n = k = d, fixed output weights; sym batch = BatchedTeacherStudent.loss_and_gradient on the "
          "whole batch;\n  jax = jax.jit(jax.vmap(jax.value_and_grad(L))) float64 on CPU; sym loop = "
          "TeacherStudent.loss_and_gradient per point;\n  load = 1-minute load average during the case; "
          "deviations: loss |x-y|/|y|, gradient max|x-y|/max|y|.")
    print()
    have = [r for r in results if r.get("jax")]
    if not have:
        print("SKIP  batched loss+gradient no slower than jax.jit(vmap(value_and_grad)) (JAX skipped)")
    else:
        slow = [f"{r['activation']} {r['size']} ({r['sym_batch'] / r['jax']:.2f}x)" for r in have
                if r["sym_batch"] > r["jax"]]
        print(f"{'PASS' if not slow else 'FAIL'}  batched loss+gradient no slower than jax.jit(vmap(value_and_grad)) "
              f"at every size: " + ", ".join(f"{r['activation']} {r['size']} {r['sym_batch'] / r['jax']:.2f}x"
                                            for r in have))
    if solvers:
        rows = [(s["case"], s["method"], str(s["starts"]), f"{s['batch_s']:.2f}s", f"{s['loop_s']:.2f}s",
                 f"{s['loop_s'] / s['batch_s']:.1f}x", f"{s['batch_converged']}/{s['loop_converged']}",
                 f"{s['load']:.1f}")
                for s in solvers]
        print_table("Float64 survey stage: solve_batch on all starts vs the single-start solver per start",
                    ("problem", "method", "starts", "batch", "per start", "speed-up", "converged b/s", "load"), rows)
        print("  trust is compared with symland.minimize (scipy trust-exact), newton with symland.newton;\n"
              "  converged b/s = starts reaching |grad| <= 1e-10 with the batch / with the per-start solver.")
    if whole:
        w = whole[0]
        print(f"\nWhole survey, {w['case']}, {w['starts']} starts (load {w['load_start']:.1f}-"
              f"{w.get('load_end', load()):.1f}):")
        print(f"  symland survey (float64 {w['solver']} batched, 30-digit refinement and classification of each "
              f"distinct point): {w['survey_s']:.1f} s, {w['survey_distinct']} distinct points "
              f"({w['survey_minima']} with index 0), {w['survey_failed']} failed")
        if "gd_s" in w:
            ratio = w["survey_s"] / w["gd_s"]
            print(f"  JAX gradient descent, vmap over the starts, fixed step {w['gd_step']:.4g}: {w['gd_s']:.1f} s, "
                  f"{w['gd_steps']} steps, {w['gd_converged']}/{w['starts']} starts at |grad| <= 1e-8")
            print(f"{'PASS' if ratio <= 1.0 else 'FAIL'}  whole survey / gradient descent = {ratio:.2f}x (target <= 1.0x)")
            ok = not w["gd_minima_missing"]
            print(f"{'PASS' if ok else 'FAIL'}  the survey lists every minimum gradient descent reached "
                  f"({w['gd_minima_found']} of the {w['gd_minima']} distinct ones; starts at unlisted minima: "
                  f"{w['gd_minima_missing']})")
        else:
            print("SKIP  whole survey against gradient descent (JAX skipped)")
        print(f"\nerf k=4 n=2, {erf['starts']} starts: {erf['per_start_batched'] * 1e3:.1f} ms per start "
              f"(whole survey {erf['batched_s']:.1f} s, {erf['distinct']} distinct points, {erf['failed']} failed); "
              f"per start without the batch (first {erf['single_starts']}): {erf['per_start_single'] * 1e3:.1f} ms "
              f"= {erf['per_start_single'] / erf['per_start_batched']:.1f}x slower (load {erf['load']:.1f})")
        whole.append(erf)
    print(f"\ntotal benchmark time {time.perf_counter() - t_start:.0f} s")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"args": vars(args), "results": results, "solvers": solvers, "whole": whole}, fh, indent=1,
                      default=lambda o: o.item() if hasattr(o, "item") else str(o))
    return 0


if __name__ == "__main__":
    sys.exit(main())
