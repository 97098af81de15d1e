r"""Channels to infinity: the rate of the loss along a channel, and how often gradient flow ends in one.

Run ``python derivations/channels.py [--small] [--seeds N] [--plot-dir DIR]``.
Convention: $x \sim N(0, I_d)$, $L = \tfrac12 E[(f - f^*)^2]$, ``erf`` is erf(z/sqrt 2).

Part A — the rate (derived in :mod:`symland.channels`).  Along the tangent-neuron
channel $w_i = w + \varepsilon v$, $a_i = 1/\varepsilon$, $w_j = w$, $a_j = c - 1/\varepsilon$ the
pair computes $g + \varepsilon h + \varepsilon^2 q + O(\varepsilon^3)$ with
$h = \tfrac12(v\cdot x)^2s''(w\cdot x)$, $q = \tfrac16(v\cdot x)^3s'''(w\cdot x)$, so
$L(\varepsilon) = L_{GLU} + \varepsilon E[rh] + \varepsilon^2(\tfrac12E[h^2] + E[rq]) + O(\varepsilon^3)$.
At a GLU critical point $E[rh] = -\tfrac12|v|^2E[r s'(w\cdot x)]$, zero for odd $s$:
rate $p = 2$ for erf, $p = 1$ at generic (non-critical) points.  Checked here:
coefficients measured from 30-digit kernel losses along the channel against
input-space Gauss-Hermite quadrature of the formulas.

Part B — the experiment.  Gradient flow (stiff ODE, exact gradient) from
``--seeds`` random starts (``symland.survey.random_starts``) of an erf student
with ``--n`` neurons and a random teacher with ``--k > --n`` neurons in ``--d``
dimensions ($V_{rl}, b_r \sim N(0, 1)$ from ``default_rng(--teacher-seed)``, V
first); each end point is classified by :func:`symland.channels.detect` on its
trajectory (thresholds in ``ChannelThresholds``; kind ``linear`` = a neuron drifting to
a linear unit, $|a_i| \to \infty$, $|w_i| \to 0$), finite end points are refined
(``refine``, 20 digits) and channel end points get their refined GLU limit.  The
GLU critical points of the ``n - 2`` + 1-GLU network (from a few random starts)
are listed too: the losses a channel could end at.

Observed with the defaults (100 seeds, t_max = 1e6, erf k=4, n=3, d=2, teacher seed 3):
24/100 runs end at finite critical points (22 at the minimum with loss 6.27127227219e-5, 2 at
a saddle with loss 0.508960670859), 76/100 are still moving at t_max with end losses
0.019887..0.019908 and |grad| ~ 4e-6 (a 20-seed rerun with the ``linear`` test classified 16/20
as linear-unit drift: two same-sign output weights growing while |w| shrinks), and 0/100 end in
a GLU pair channel as defined by ``ChannelThresholds``.  The 1-neuron + 1-GLU network has a
minimum at loss 0.0198765297789 (4 of 10 random GLU starts, and also reached from the
linear-unit limit of a drifting run), just below those end losses.

With ``--plot-dir DIR`` and matplotlib installed (the ``plot`` extra): $a_i(t)$
and $|w_i - w_j|(t)$ along the trajectory with the largest output weight, and
the loss along a channel, as PNG files in DIR (nothing is written by default).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import mpmath
import numpy as np

from symland.channels import (channel_expansion, channel_loss, detect, glu_limit, rate_constants)
from symland.critical import minimize, newton, refine
from symland.errors import ConvergenceError, DomainError
from symland.problems import TeacherStudent
from symland.survey import random_starts
from symland.training import flow_trajectory

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


def part_b(args):
    V, b = teacher(args.k, args.d, args.teacher_seed)
    prob = TeacherStudent(args.activation, V, b, n=args.n)
    print(f"\nPart B: {prob!r}, teacher seed {args.teacher_seed}, {args.seeds} gradient-flow runs to t = "
          f"{args.t_max:g}")
    starts = random_starts(prob, args.seeds, seed=0)
    outcomes, trajs = [], []
    t0 = time.time()
    for j, th in enumerate(starts):
        tr = flow_trajectory(prob, th, t_max=args.t_max, records=40)
        det = detect(prob, trajectory=tr)
        trajs.append(tr)
        if det.kind == "channel":
            try:
                lim = glu_limit(prob, det, dps=20)
                outcomes.append(("channel", lim.point.loss, lim.point.kind))
            except (ConvergenceError, DomainError) as exc:
                outcomes.append(("channel", mpmath.mpf(tr.losses[-1]), f"GLU limit not refined ({exc})"))
        elif det.kind == "linear":
            # a neuron with |a| -> inf, |w| -> 0: tends to a linear unit (not a GLU pair); the loss is still falling
            big = max(abs(float(u["a_i"])) for u in det.linear_units)
            outcomes.append(("linear", mpmath.mpf(tr.losses[-1]), f"end loss, max|a| {big:.3g}"))
        else:
            try:
                cp = refine(prob, tr.theta, dps=20)
                outcomes.append(("finite", cp.loss, cp.kind))
            except (ConvergenceError, DomainError):
                outcomes.append(("unconverged", mpmath.mpf(tr.losses[-1]), f"|grad| {tr.gradient_norms[-1]:.2g}"))
        sys.stderr.write(f"channels: run {j + 1}/{args.seeds} {outcomes[-1][0]} ({time.time() - t0:.0f} s)\n")
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
                c = refine(gp, minimize(gp, rng.normal(size=gp.num_params) / np.sqrt(args.d)).theta, dps=20)
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
    tr = max(trajs, key=lambda t: np.max(np.abs(prob.unpack(t.theta)[1])))
    t = np.maximum(tr.times, 1e-3)
    A = np.array([prob.unpack(th)[1] for th in tr.thetas])
    Ws = [prob.unpack(th)[0] for th in tr.thetas]
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
    ap.add_argument("--activation", default="erf")
    ap.add_argument("--k", type=int, default=4)
    ap.add_argument("--n", type=int, default=3)
    ap.add_argument("--d", type=int, default=2)
    ap.add_argument("--teacher-seed", type=int, default=3)
    ap.add_argument("--t-max", type=float, default=1e6)
    ap.add_argument("--glu-starts", type=int, default=10)
    ap.add_argument("--plot-dir", default=None, help="write PNG plots here (needs matplotlib)")
    args = ap.parse_args(argv)
    if args.small:
        args.seeds, args.t_max, args.glu_starts = 2, 1e3, 0
    glu_prob, glu_cp = part_a()
    prob, trajs, _ = part_b(args)
    if args.plot_dir:
        plots(args.plot_dir, prob, trajs, glu_prob, glu_cp, points=6 if args.small else 25)


if __name__ == "__main__":
    main()
