r"""Do the NTK alignment jump, the loss-rate collapse and structure in the residual coincide?

Setting (after *A Closer Look at NTK Alignment*, for a two-layer network under Gaussian input):
teacher $f^*(x) = \sum_r s(v_r\cdot x)$ with orthogonal $v_r$ of norms ``--freqs`` (default 1, 2, 4:
for $s = \sin$ these are frequencies), student of ``n = k`` neurons with trained outputs, small
random start (``N(0, 0.3^2)`` weights, ``N(0, 0.1^2)`` outputs, ``default_rng(seed)``), gradient flow on
the population loss $L = \tfrac12E[(f - f^*)^2]$ recorded at log-spaced times.  Along the path the
NTK order parameters are exact (:func:`symland.ntk_order_parameters`, via
:func:`symland.channels.ntk_path.ntk_along`); the three events are located where their quantity
changes fastest in $\log t$ (target alignment rises, loss rate $-dL/d\log t$ drops after its peak,
residual structure rises).  They *coincide* when all three lie within a factor ``--window``
(default 2) in $t$.  Activations: ``sin`` (the SIREN case; ``--omega`` scales the frequency,
$\sin(\omega z)$) and ``erf``.

Run:  python derivations/ntk_alignment.py [--seeds 0 1 2] [--t-max 1e4] [--omega 1] [--window 2]

Printed per activation and seed: the event times, whether they coincide, the final loss and
residual structure; a summary line says what was found, whichever way it went.  Nothing is
asserted about the outcome (it is the question); the script exits 1 only if a computation fails.

Output of ``python derivations/ntk_alignment.py`` (2 cores):

    activation   seed  alignment jump  rate collapse   residual  coincide  final loss  structure
    sin             0            28.9           34.6       28.9      True        0.25      1.000
    sin             1            1.43             17       11.9     False        0.25      1.000
    sin             2            2.89             17       14.3     False        0.25      1.000
    erf             0            1.43           4.12       49.2     False           0      0.000
    erf             1               1           3.46       1.43     False    1.11e-16      0.000
    erf             2             1.7           4.12    1.7e+03     False   -1.11e-16      0.000
    sin: the three events coincide (within a factor 2 in t) in 1 of 3 runs (it depends on the start)
    erf: the three events coincide (within a factor 2 in t) in 0 of 3 runs
    (6.1 s; events where each quantity changes fastest in log t)

What it shows: with these starts the sine student ends on a plateau with one teacher unit
unlearned (loss 0.25, residual = that unit, structure 1) and the three events coincide in one run
of three; the erf student learns the teacher (loss 0) and its events do not coincide.  The
residual structure of a vanishing residual is not meaningful: its event time for erf is noise.
"""

from __future__ import annotations

import argparse
import math
import sys
import time

import numpy as np

import symland
from symland.channels.ntk_path import ntk_along
from symland.channels.training import flow_trajectory


def run(act, freqs, seed, t_max, window):
    V = np.diag(freqs)
    k = len(freqs)
    p = symland.TeacherStudent(act, V, np.ones(k), n=k)
    rng = np.random.default_rng(seed)
    theta0 = p.pack(rng.normal(0, 0.3, (k, k)), rng.normal(0, 0.1, k))
    tr = flow_trajectory(p, theta0, t_max=t_max, records=80)
    path = ntk_along(p, tr)
    ev = path.events
    times = [ev["alignment_jump"], ev["loss_rate_collapse"], ev["residual_structure"]]
    together = None not in times and max(times) / min(times) <= window
    return path, times, together


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--freqs", type=float, nargs="+", default=[1.0, 2.0, 4.0])
    ap.add_argument("--t-max", type=float, default=1e4)
    ap.add_argument("--omega", type=float, default=1.0, help="sin(omega z) for the SIREN-like student")
    ap.add_argument("--window", type=float, default=2.0)
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    sine = symland.sin_activation(args.omega).name if args.omega != 1 else "sin"
    found = {}
    print(f"{'activation':<12} {'seed':>4} {'alignment jump':>15} {'rate collapse':>14} {'residual':>10} "
          f"{'coincide':>9} {'final loss':>11} {'structure':>10}")
    for act in (sine, "erf"):
        for seed in args.seeds:
            path, times, together = run(act, args.freqs, seed, args.t_max, args.window)
            show = ["-" if x is None else f"{x:.3g}" for x in times]
            print(f"{act:<12} {seed:>4} {show[0]:>15} {show[1]:>14} {show[2]:>10} {str(together):>9} "
                  f"{path.losses[-1]:>11.4g} {path.residual_structure[-1]:>10.3f}")
            found.setdefault(act, []).append(together)
    for act, flags in found.items():
        n_yes = sum(bool(f) for f in flags)
        print(f"{act}: the three events coincide (within a factor {args.window:g} in t) in {n_yes} of {len(flags)} "
              f"runs" + ("" if n_yes in (0, len(flags)) else " (it depends on the start)"))
    print(f"({time.perf_counter() - t0:.1f} s; events where each quantity changes fastest in log t)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
