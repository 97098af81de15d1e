"""Benchmark: escaping saddles.  Gradient descent, gradient flow, Newton, saddle-free Newton (SFN) and
its Wasserstein particle form (WSFN) from starts near known saddles and from random starts.

Cases (every saddle located by symland's symbolic layers, then refined and classified):

* ``plateau``: the symmetric plateau of the erf soft committee machine (Saad & Solla): k = n = 3,
  output weights fixed to 1, the S_k-symmetric critical point (a saddle);
* ``copy-average``: erf, k = 4, n = 2, trained outputs, the [2, 2] copy-average saddle (index 2);
* ``relu-symmetric``: relu, k = n = 6, outputs 1, the saddles in Fix(S_5 x S_1);
* ``random``: erf, k = 4, n = 2, trained outputs, starts W ~ N(0, 1/d), a ~ N(0, 1).

Starts near a saddle are the saddle plus N(0, 1e-3^2) noise (``--starts`` per saddle, seeded).
Each end point is refined to 30 digits and classified; reported per case and method: how many
ended at a minimum / a saddle / failed, the median time and iterations.  WSFN needs trained output
weights (the particles carry them) and is "n/a" otherwise.  Gradient descent uses the fixed step
1/lambda_max(H(start)) and stops at |grad| <= 1e-8 or ``--gd-max-iter`` steps.

Last, the local convergence near a nondegenerate minimum (erf k = 4, n = 2, start 1e-4 away):
the gradient norms of the first iterations of each method, and the observed order
log(g_{k+1}) / log(g_k) (1: linear, 2: quadratic).

Run:  python benchmarks/saddles.py [--starts 5] [--gd-max-iter 20000]
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import symland  # noqa: E402
from symland.landscape.saddle_free import saddle_free_newton, wasserstein_saddle_free_newton  # noqa: E402
from symland.landscape.critical import FlowResult  # noqa: E402


def gradient_descent(problem, theta0, gtol=1e-8, max_iter=20000):
    theta = np.array(theta0, float)
    lam = np.max(np.abs(np.linalg.eigvalsh(problem.hessian(theta))))
    eta = 1.0 / max(lam, 1e-12)
    for it in range(max_iter):
        g = problem.gradient(theta)
        gn = float(np.linalg.norm(g))
        if gn <= gtol:
            return FlowResult(theta, problem.loss(theta), gn, True, it, "gradient below gtol")
        theta = theta - eta * g
    return FlowResult(theta, problem.loss(theta), gn, False, max_iter, "maximum iterations")


def methods(problem, gd_max_iter):
    out = {"gradient descent": lambda p, t: gradient_descent(p, t, max_iter=gd_max_iter),
           "gradient flow": lambda p, t: symland.gradient_flow(p, t, t_max=1e5),
           "Newton": symland.newton,
           "SFN": saddle_free_newton}
    out["WSFN"] = wasserstein_saddle_free_newton if problem.train_output else None
    return out


def cases(starts, seed):
    rng = np.random.default_rng(seed)
    out = []
    p = symland.TeacherStudent.orthonormal("erf", 3, 3, train_output=False)
    search = symland.symmetric_critical_points("erf", k=3, isotropy="S_k", dps=30, starts=10, classify=True)
    sad = [q for q in search.points if q.kind == "saddle"]
    if sad:
        base = np.array([float(v) for v in sad[0].theta])
        out.append(("plateau", p, [base + 1e-3 * rng.standard_normal(base.size) for _ in range(starts)]))
    p = symland.TeacherStudent.orthonormal("erf", 4, 2)
    ca = symland.copy_average("erf", 4, 2, dps=30, follow=False)
    base = np.array([float(v) for v in next(c for c in ca.configurations if c.kind == "saddle").theta])
    out.append(("copy-average", p, [base + 1e-3 * rng.standard_normal(base.size) for _ in range(starts)]))
    p = symland.TeacherStudent.orthonormal("relu", 6, 6, train_output=False)
    search = symland.symmetric_critical_points("relu", k=6, isotropy="S_{k-1}xS_1", dps=30, starts=10, classify=True)
    sads = [np.array([float(v) for v in q.theta]) for q in search.points if q.kind == "saddle"][:2]
    out.append(("relu-symmetric", p, [b + 1e-3 * rng.standard_normal(b.size) for b in sads for _ in range(starts)]))
    p = symland.TeacherStudent.orthonormal("erf", 4, 2)
    out.append(("random", p, list(symland.landscape.survey.random_starts(p, 2 * starts, seed))))
    return out


def classify_end(problem, res):
    try:
        cp = symland.refine(problem, res.theta, dps=30)
    except Exception as exc:  # noqa: BLE001 -- an end point that is no critical point is counted
        return f"failed ({type(exc).__name__})"
    return cp.kind


def local_rate():
    p = symland.TeacherStudent.orthonormal("erf", 4, 2)
    ca = symland.copy_average("erf", 4, 2, dps=30, follow=False)
    minimum = np.array([float(v) for v in next(c for c in ca.configurations if c.kind == "minimum").theta])
    start = minimum + 1e-4 * np.random.default_rng(3).standard_normal(minimum.size)
    print("\n== local convergence near the erf k = 4, n = 2 minimum (start 1e-4 away): |grad| per iteration ==")
    for name, step in [("gradient descent", lambda t: gradient_descent(p, t, gtol=1e-300, max_iter=1)),
                       ("Newton", lambda t: symland.newton(p, t, gtol=1e-300, max_iter=1)),
                       ("SFN", lambda t: saddle_free_newton(p, t, gtol=1e-300, max_iter=1)),
                       ("WSFN", lambda t: wasserstein_saddle_free_newton(p, t, gtol=1e-300, max_iter=1))]:
        theta, norms = start.copy(), [float(np.linalg.norm(p.gradient(start)))]
        for _ in range(4):
            res = step(theta)
            theta = res.theta
            norms.append(float(np.linalg.norm(p.gradient(theta))))
        # observed order per step while above float64 noise (1e-13): ~1 linear, ~2 quadratic
        orders = [math.log(b) / math.log(a) for a, b in zip(norms, norms[1:]) if 1e-13 < b < a < 1]
        print(f"{name:<18} " + "  ".join(f"{g:.2e}" for g in norms)
              + "   orders " + ", ".join(f"{o:.2f}" for o in orders))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--starts", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--gd-max-iter", type=int, default=20000)
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    print(f"{'case':<16} {'method':<18} {'minimum':>8} {'saddle':>7} {'other':>6} {'median s':>9} {'median it':>10}")
    for name, problem, starts in cases(args.starts, args.seed):
        for mname, fn in methods(problem, args.gd_max_iter).items():
            if fn is None:
                print(f"{name:<16} {mname:<18} {'n/a (fixed output weights)':>30}")
                continue
            kinds, secs, its = [], [], []
            for start in starts:
                t = time.perf_counter()
                res = fn(problem, start)
                secs.append(time.perf_counter() - t)
                its.append(res.iterations)
                kinds.append(classify_end(problem, res))
            mins, sads = kinds.count("minimum"), kinds.count("saddle")
            print(f"{name:<16} {mname:<18} {mins:>8} {sads:>7} {len(kinds) - mins - sads:>6} "
                  f"{np.median(secs):>9.3f} {int(np.median(its)):>10}")
    local_rate()
    print(f"\n(total {time.perf_counter() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
