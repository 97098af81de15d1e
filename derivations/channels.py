r"""Channels to infinity: the rate of the loss along a channel, and how often gradient flow ends in one.

Run ``python derivations/channels.py [--small] [--setting glu-teacher|random] [--seeds N] [--jobs J] [--plot-dir DIR]``.
Convention: $x \sim N(0, I_d)$, $L = \tfrac12 E[(f - f^*)^2]$, ``erf`` is erf(z/sqrt 2).

Part A — the rate (derived in :mod:`symland.channels.channel`).  Along the tangent-neuron
channel $w_i = w + \varepsilon v$, $a_i = 1/\varepsilon$, $w_j = w$, $a_j = c - 1/\varepsilon$ the
pair computes $g + \varepsilon h + \varepsilon^2 q + O(\varepsilon^3)$ with
$h = \tfrac12(v\cdot x)^2s''(w\cdot x)$, $q = \tfrac16(v\cdot x)^3s'''(w\cdot x)$, so
$L(\varepsilon) = L_{GLU} + \varepsilon E[rh] + \varepsilon^2(\tfrac12E[h^2] + E[rq]) + O(\varepsilon^3)$.
At a GLU critical point $E[rh] = -\tfrac12|v|^2E[r s'(w\cdot x)]$, zero for odd $s$:
rate $p = 2$ for erf, $p = 1$ at generic (non-critical) points.  Checked here:
coefficients measured from 30-digit kernel losses along the channel against
input-space Gauss-Hermite quadrature of the formulas.

Part B — the experiment.  Gradient flow (stiff ODE, exact gradient) from
``--seeds`` random starts (``symland.landscape.survey.random_starts``, seed 0); each end point is
classified by :func:`symland.channels.channel.detect` on its trajectory (thresholds
``ChannelThresholds(big=--big)``, the rest default; kind ``linear`` = a neuron drifting to a
linear unit, $|a_i| \to \infty$, $|w_i| \to 0$), finite end points are refined (``refine``, 20
digits) and channel end points get their refined GLU limit (``glu_limit``, 20 digits); runs
that are neither are ``unconverged``.  The GLU critical points of the ``n - 2`` ordinary + 1-GLU
network (from ``--glu-starts`` random starts) are listed too: the losses a channel could end at.
``--jobs J`` runs the seeds in J worker processes.

Default setting ``--setting glu-teacher`` (``GLU_TEACHER``): erf student with n = 2 neurons,
d = 2, teacher with k = 3 neurons $V = [(1, \delta), (1, -\delta), (0.5, 1)]$,
$b = (c/2 + 1/(2\delta), c/2 - 1/(2\delta), -0.5)$, $\delta = 0.01$, $c = 0.5$: the first two
teacher neurons are $c\,s(x_1) + x_2 s'(x_1) + O(\delta^2)$, a near-GLU, plus one more neuron,
so the 2-neuron student cannot fit the teacher exactly.  t_max = 1e5, big = 2 (at t = 1e5 the
channel pairs have $|a| \approx 3.4$; the growth and gap trend tests are unchanged).
Observed (``python derivations/channels.py --jobs 2``, 100 seeds, ~6 min wall):

    channel      GLU limit loss 0.00297315075138 (GLU minimum)     87
    finite       0.0800334177605 (saddle)                           2
    unconverged  end losses 0.02214288 .. 0.022143342               11
    linear       0

and the 1-GLU network (n - 2 = 0 ordinary neurons) has exactly two minima among 10 starts, at
0.00297315075138 (x6) and 0.0221203894149 (x4).  No finite minimum was found: the finite end
points are saddles at 0.0800, far above the GLU minimum; also ``minimize`` (trust-exact) from
12 random starts drifted to |a| ~ 300 in every case, at the losses of the two GLU minima.  The
channel pairs are those of the student, not the teacher's pair: they sit near
$w \approx (1.39, -0.08)$ with $|a| \approx 3$-6, so the limit is a different GLU.  For erf many
pairs appear with one neuron sign-flipped ($w_i \approx -w_j$, same-sign $a$), the same function
by oddness; ``detect`` pairs them.  The 11 unconverged runs end just above the second GLU
minimum (0.0221204): the first of them (seed 4) is a pair whose gap test fails narrowly at
t = 1e5 (gap 0.23 vs the threshold 0.23); rerun to t = 1e6 it is detected as a channel whose
refined GLU limit is that second GLU minimum (loss 0.0221203894148808, end loss 0.0221277).
The other 10 were not followed further.

Second setting ``--setting random`` (the previous default): erf student with n = 3, a random
teacher with k = 4 in d = 2 ($V_{rl}, b_r \sim N(0, 1)$ from ``default_rng(--teacher-seed)``,
V first), t_max = 1e6, big = 5.  Observed (``python derivations/channels.py --setting random
--jobs 2``, 100 seeds, ~8 min wall, with the odd-sign pairing of ``detect``): 22/100 runs end at
the finite minimum with loss 6.27127227219e-5, 78/100 are linear-unit drift (two same-sign output
weights growing while |w| shrinks; end losses 0.019887035 .. 0.019908442, still falling), 0/100
end in a GLU pair channel, 0/100 unconverged.  GLU critical points of the 1-neuron + 1-GLU
network from 10 starts: minima at 0.00161221568046 (x1), 0.003434412607 (x1),
0.00399300451583 (x2), 0.0198765297789 (x4) -- none is reached by the flow here.  (An earlier
run without the odd-sign pairing and with the drifting runs unclassified: 24 finite -- 22 at the
minimum, 2 at a saddle with loss 0.508960670859 -- and 76 still moving, 0 channels.)

With ``--plot-dir DIR`` and matplotlib installed (the ``plot`` extra): $a_i(t)$
and $|w_i - w_j|(t)$ along the trajectory with the largest output weight, and
the loss along a channel, as PNG files in DIR (nothing is written by default).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import time

import mpmath
import numpy as np

from symland.channels.channel import (ChannelThresholds, channel_expansion, channel_loss, detect, glu_limit, rate_constants)
from symland.channels.training import flow_trajectory
from symland.errors import ConvergenceError, DomainError
from symland.landscape.critical import minimize, newton, refine
from symland.landscape.survey import random_starts
from symland.problems.teacher_student import TeacherStudent

#: a GLU minimum for erf, teacher V = I_2, b = (1, 1/2), no ordinary neurons (found by minimize + refine)
GLU_PROBLEM = ("erf", np.eye(2), [1.0, 0.5])
GLU_START = [-0.47035216, -0.53211, 0.23425, 0.66326, 0.47627]


def part_a(dps=30):
    """Measured channel expansion vs the derived formulas, at a GLU minimum and at a generic point."""
    act, V, b = GLU_PROBLEM
    prob = TeacherStudent(act, V, b, n=0, glus=1)
    cp = refine(prob, newton(prob, np.array(GLU_START)).theta, dps=40)
    assert cp.kind == "minimum", cp.kind
    print("Part A: loss along the channel, L(eps) = L_GLU + C_1 eps + C_2 eps^2 + O(eps^3)")
    print(r"  C_1 = E[r h] = -\tfrac12 |v|^2 E[r s'(w\cdot x)] (critical point),  "
          r"C_2 = \tfrac12 E[h^2] + E[r q],  h = \tfrac12 (v\cdot x)^2 s''(w\cdot x),  "
          r"q = \tfrac16 (v\cdot x)^3 s'''(w\cdot x)")
    rows = []
    generic = prob.pack(None, None, glu_c=[0.4], glu_w=[[0.6, -0.3]], glu_v=[[0.5, 0.7]])
    for name, theta in (("GLU minimum", cp.theta), ("generic GLU point", generic)):
        ex = channel_expansion(prob, theta, dps=dps)
        q = rate_constants(prob, np.array([float(t) for t in theta]))
        rows.append((name, ex, q))
        print(f"  {name}: L_GLU = {mpmath.nstr(ex.loss_glu, 25)}; measured p = {ex.rate}")
        print(f"    C_1 measured {mpmath.nstr(ex.coefficients[1], 17):>26}   quadrature {q['C1']: .16e}")
        print(f"    C_2 measured {mpmath.nstr(ex.coefficients[2], 17):>26}   quadrature {q['C2']: .16e}")
        assert abs(float(ex.coefficients[1]) - q["C1"]) < 1e-11
        assert abs(float(ex.coefficients[2]) - q["C2"]) < 1e-10
        assert abs(ex.coefficients[0] - ex.loss_glu) < mpmath.mpf(10) ** -(dps - 5)
    assert rows[0][1].rate == 2 and rows[1][1].rate == 1
    print("  rate: p = 2 at the erf GLU minimum (C_1 = 0 by parity), p = 1 at the generic point")
    return prob, cp


def teacher(k, d, seed):
    rng = np.random.default_rng(seed)
    V = rng.normal(size=(k, d))
    return V, rng.normal(size=k)


#: the default setting: a teacher whose first two neurons are a near-GLU pair (delta, c, |v|) plus a third neuron
GLU_TEACHER = {"delta": 0.01, "c": 0.5, "v": 1.0, "third": (0.5, 1.0), "b3": -0.5}


def glu_teacher(delta, c, v, third, b3):
    r"""$V = [(1, \delta), (1, -\delta), third]$, $b = (c/2 + v/(2\delta), c/2 - v/(2\delta), b_3)$ in $d = 2$.

    The first pair is $c\,s(x_1) + v\,x_2 s'(x_1) + O(\delta^2)$: a GLU up to $O(\delta^2)$."""
    V = np.array([[1.0, delta], [1.0, -delta], list(third)])
    return V, np.array([c / 2 + v / (2 * delta), c / 2 - v / (2 * delta), b3])


def setting(args):
    """Teacher (V, b) of the chosen ``--setting``."""
    if args.setting == "glu-teacher":
        return glu_teacher(**GLU_TEACHER)
    return teacher(args.k, args.d, args.teacher_seed)


_WORKER = {}


def classify_run(prob, th, t_max, thresholds):
    """``(kind, loss, what, trajectory)`` for one gradient-flow run from ``th``."""
    tr = flow_trajectory(prob, th, t_max=t_max, records=40)
    det = detect(prob, trajectory=tr, thresholds=thresholds)
    if det.kind == "channel":
        try:
            lim = glu_limit(prob, det, dps=20)
            return "channel", lim.point.loss, lim.point.kind, tr
        except (ConvergenceError, DomainError) as exc:
            return "channel", mpmath.mpf(tr.losses[-1]), f"GLU limit not refined ({exc})", tr
    if det.kind == "linear":
        # a neuron with |a| -> inf, |w| -> 0: tends to a linear unit (not a GLU pair); the loss is still falling
        big = max(abs(float(u["a_i"])) for u in det.linear_units)
        return "linear", mpmath.mpf(tr.losses[-1]), f"end loss, max|a| {big:.3g}", tr
    try:
        cp = refine(prob, tr.theta, dps=20)
        return "finite", cp.loss, cp.kind, tr
    except (ConvergenceError, DomainError):
        return "unconverged", mpmath.mpf(tr.losses[-1]), f"|grad| {tr.gradient_norms[-1]:.2g}", tr


def _job(job):
    act, V, b, n, t_max, big, j, th = job
    key = (act, V, b, n)
    if _WORKER.get("key") != key:
        _WORKER.update(key=key, prob=TeacherStudent(act, np.array(V), np.array(b), n=n))
    kind, loss, what, tr = classify_run(_WORKER["prob"], np.array(th), t_max, ChannelThresholds(big=big))
    return j, kind, str(loss), what, tr


def part_b(args):
    V, b = setting(args)
    prob = TeacherStudent(args.activation, V, b, n=args.n)
    print(f"\nPart B ({args.setting}): {prob!r}, V = {V.tolist()}, b = {b.tolist()}; {args.seeds} gradient-flow "
          f"runs to t = {args.t_max:g}; detection thresholds big = {args.big:g}, otherwise ChannelThresholds()")
    starts = random_starts(prob, args.seeds, seed=0)
    jobs = [(args.activation, tuple(map(tuple, V)), tuple(b), args.n, args.t_max, args.big, j, tuple(th))
            for j, th in enumerate(starts)]
    results = [None] * args.seeds
    t0 = time.time()
    if args.jobs > 1:
        with multiprocessing.get_context("fork").Pool(args.jobs) as pool:
            it = pool.imap_unordered(_job, jobs)
            for done, (j, kind, loss, what, tr) in enumerate(it):
                results[j] = (kind, mpmath.mpf(loss), what, tr)
                sys.stderr.write(f"channels: run {done + 1}/{args.seeds} {kind} ({time.time() - t0:.0f} s)\n")
    else:
        for j, th in enumerate(starts):
            kind, loss, what, tr = classify_run(prob, th, args.t_max, ChannelThresholds(big=args.big))
            results[j] = (kind, loss, what, tr)
            sys.stderr.write(f"channels: run {j + 1}/{args.seeds} {kind} ({time.time() - t0:.0f} s)\n")
    outcomes = [r[:3] for r in results]
    trajs = [r[3] for r in results]
    table = {}
    drifting = {}
    for kind, loss, what in outcomes:
        if kind in ("linear", "unconverged"):  # still moving at t_max: one row with the range of end losses
            drifting.setdefault(kind, []).append(loss)
            continue
        key = (kind, mpmath.nstr(loss, 12), what)
        table[key] = table.get(key, 0) + 1
    for kind, losses in drifting.items():
        what = "end loss, still falling" if kind == "linear" else "no critical point near"
        table[(kind, f"{mpmath.nstr(min(losses), 8)} .. {mpmath.nstr(max(losses), 8)}", what)] = len(losses)
    print(f"  {'end point':<12} {'loss (finite: refined; channel: GLU limit)':<44} {'kind':<24} count")
    for (kind, loss, what), count in sorted(table.items(), key=lambda r: (r[0][0], r[0][1])):
        print(f"  {kind:<12} {loss:<44} {what:<24} {count}")
    kinds = ("finite", "channel", "linear", "unconverged")
    counts = {k: sum(c for (kk, _, _), c in table.items() if kk == k) for k in kinds}
    assert sum(counts.values()) == args.seeds
    print(f"  fraction ending in channels: {counts['channel']}/{args.seeds}; finite critical points: "
          f"{counts['finite']}/{args.seeds}; linear-unit drift (|a| -> inf, |w| -> 0): {counts['linear']}/"
          f"{args.seeds}; unconverged: {counts['unconverged']}/{args.seeds}")
    # GLU critical points of the (n - 2) + 1-GLU network: where a channel of this problem could end
    if args.n >= 2 and args.glu_starts:
        gp = TeacherStudent(args.activation, V, b, n=args.n - 2, glus=1)
        rng = np.random.default_rng(1)
        glus = {}
        for _ in range(args.glu_starts):
            try:
                c = refine(gp, minimize(gp, rng.normal(size=gp.num_params) / np.sqrt(prob.d)).theta, dps=20)
            except (ConvergenceError, DomainError, np.linalg.LinAlgError):
                continue
            key = (mpmath.nstr(c.loss, 12), c.kind)
            glus[key] = glus.get(key, 0) + 1
        print(f"  GLU critical points of {gp!r} from {args.glu_starts} starts (minimize + refine):")
        for (loss, kind), count in sorted(glus.items(), key=lambda r: float(r[0][0])):
            print(f"    loss {loss:<20} {kind:<12} x{count}")
    return prob, trajs, outcomes


def plots(outdir, prob, trajs, glu_prob, glu_cp, points=25):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib not installed (the 'plot' extra): no plots")
        return
    os.makedirs(outdir, exist_ok=True)
    tr = max(trajs, key=lambda t: np.max(np.abs(prob.unpack(t.theta).a)))
    t = np.maximum(tr.times, 1e-3)
    A = np.array([prob.unpack(th).a for th in tr.thetas])
    Ws = [prob.unpack(th).W for th in tr.thetas]
    fig, ax = plt.subplots(1, 2, figsize=(10, 4))
    for i in range(prob.n):
        ax[0].semilogx(t, A[:, i], label=f"a_{i}")
    ax[0].set_xlabel("t")
    ax[0].legend()
    for i in range(prob.n):
        for j in range(i + 1, prob.n):
            ax[1].loglog(t, [np.linalg.norm(W[i] - W[j]) for W in Ws], label=f"|w_{i} - w_{j}|")
    ax[1].set_xlabel("t")
    ax[1].legend()
    fig.tight_layout()
    fig.savefig(os.path.join(outdir, "trajectory.png"))
    eps = np.logspace(-4, 0, points)
    L = [float(channel_loss(glu_prob, glu_cp.theta, mpmath.mpf(e), dps=30) - glu_cp.loss) for e in eps]
    fig, ax = plt.subplots(figsize=(5, 4))
    ax.loglog(eps, L, "o-", label="L(eps) - L_GLU")
    ax.loglog(eps, float(channel_expansion(glu_prob, glu_cp.theta).constant) * eps ** 2, "--", label="C_2 eps^2")
    ax.set_xlabel("eps")
    ax.legend()
    fig.tight_layout()
    fig.savefig(os.path.join(outdir, "channel_loss.png"))
    print(f"plots written to {outdir}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--small", action="store_true", help="reduced size (2 seeds, t_max 1e3, no GLU search): used by the tests")
    ap.add_argument("--seeds", type=int, default=100)
    ap.add_argument("--setting", choices=("glu-teacher", "random"), default="glu-teacher",
                    help="glu-teacher: near-GLU pair + one neuron (GLU_TEACHER, d = 2); random: --k/--d/--teacher-seed")
    ap.add_argument("--activation", default="erf")
    ap.add_argument("--jobs", type=int, default=1, help="worker processes for the runs")
    ap.add_argument("--big", type=float, default=None,
                    help="ChannelThresholds.big for detection (default 2 for glu-teacher, 5 for random)")
    ap.add_argument("--k", type=int, default=4)
    ap.add_argument("--n", type=int, default=None, help="student neurons (default 2 for glu-teacher, 3 for random)")
    ap.add_argument("--d", type=int, default=2)
    ap.add_argument("--teacher-seed", type=int, default=3)
    ap.add_argument("--t-max", type=float, default=None, help="default 1e5 for glu-teacher, 1e6 for random")
    ap.add_argument("--glu-starts", type=int, default=10)
    ap.add_argument("--plot-dir", default=None, help="write PNG plots here (needs matplotlib)")
    args = ap.parse_args(argv)
    glu = args.setting == "glu-teacher"
    if glu and args.activation != "erf":
        ap.error("--setting glu-teacher is defined for erf")
    args.n = args.n if args.n is not None else (2 if glu else 3)
    args.t_max = args.t_max if args.t_max is not None else (1e5 if glu else 1e6)
    args.big = args.big if args.big is not None else (2.0 if glu else 5.0)
    if args.small:
        args.seeds, args.t_max, args.glu_starts = 2, 1e3, 0
    glu_prob, glu_cp = part_a()
    prob, trajs, _ = part_b(args)
    if args.plot_dir:
        plots(args.plot_dir, prob, trajs, glu_prob, glu_cp, points=6 if args.small else 25)


if __name__ == "__main__":
    main()
