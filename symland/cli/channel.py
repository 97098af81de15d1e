"""``symland channel``: build and analyse a channel to infinity.

Sources (one of):

* ``--weights FILE`` — a GLU point (``.npz``/``.json`` with ``glu_c`` (m,), ``glu_w`` (m, d),
  ``glu_v`` (m, d), optional ordinary ``W``, ``a`` and teacher ``V``, ``b``); it is refined
  to a GLU critical point first (``--no-refine`` to skip);
* ``--trajectory FILE`` — an ``.npz`` with the parameter path ``thetas`` (T, num_params) of an
  ordinary network (problem from ``--activation/--k/--n/--d`` or arrays ``V``, ``b`` in the
  file): the end point is tested for a channel and its GLU limit refined and compared;
* neither — a preset GLU problem (``--n`` ordinary neurons plus ``--glus`` GLU units, orthonormal
  teacher ``--k``) from a random start (``--seed``), minimised and refined.

For a GLU critical point the report states the channel's parametrisation and gives its measured
expansion $L(\\varepsilon) = L_{GLU} + C\\varepsilon^p + \\ldots$, the same constants by
input-space quadrature, the loss at the ``--eps`` values, and the distance between the finite
parts of the channel and of the splitting line (each quantity is defined where it is printed).
Loss convention $L = \\tfrac12 E[(f - f^*)^2]$; ``--json`` prints every number as a string.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from ..channels.channel import (
    channel_expansion,
    channel_loss,
    detect,
    glu_limit,
    rate_constants,
    splitting_comparison,
)
from ..channels.training import load_trajectory
from ..errors import ConvergenceError, DomainError, SymlandError
from ..landscape.critical import minimize, refine
from ..problems.teacher_student import TeacherStudent
from ..results.plot import plot_channel, save
from .options import add_problem_options, digits, format_number, load_arrays, positive_int, strict_json

__all__ = ["register"]


def _teacher(args, data, d):
    if data is not None and "V" in data:
        V = np.asarray(data["V"], dtype=float)
        return V, np.asarray(data.get("b", np.ones(len(V))), dtype=float)
    if d < args.k:
        raise SymlandError(f"--d {d} is smaller than --k {args.k} (orthonormal teacher)")
    return np.eye(d)[: args.k], np.ones(args.k)


def _glu_from_args(args):
    if args.weights:
        data = load_arrays(args.weights, "--weights", ("W", "a", "V", "b", "glu_c", "glu_w", "glu_v"))
        for key in ("glu_c", "glu_w", "glu_v"):
            if key not in data:
                raise SymlandError(f"--weights {args.weights!r}: a GLU point needs arrays glu_c (m,), glu_w (m, d), "
                                   f"glu_v (m, d); missing {key!r}")
        gw = np.atleast_2d(np.asarray(data["glu_w"], dtype=float))
        d = gw.shape[1]
        W = np.asarray(data.get("W", np.zeros((0, d))), dtype=float).reshape(-1, d)
        a = np.asarray(data.get("a", np.zeros(len(W))), dtype=float)
        V, b = _teacher(args, data, d)
        prob = TeacherStudent(args.activation, V, b, n=len(W), glus=len(gw))
        theta = prob.pack(W, a, glu_c=np.atleast_1d(np.asarray(data["glu_c"], float)), glu_w=gw,
                          glu_v=np.atleast_2d(np.asarray(data["glu_v"], float)))
        source = f"weights file {args.weights}"
    else:
        d = args.k if args.d is None else args.d
        V, b = _teacher(args, None, d)
        prob = TeacherStudent(args.activation, V, b, n=args.n, glus=args.glus)
        rng = np.random.default_rng(args.seed)
        reasons = []
        for attempt in range(5):  # degenerate GLU points (v -> 0) defeat Newton: try the next start
            theta = minimize(prob, rng.normal(size=prob.num_params) / np.sqrt(d)).theta
            source = f"random start {attempt} of default_rng({args.seed}), minimised"
            if args.no_refine:
                return prob, theta, source, None
            try:
                cp = refine(prob, theta, dps=args.dps)
                return prob, cp.theta, source, cp
            except (ConvergenceError, DomainError) as exc:
                reasons.append(str(exc))
                print(f"symland channel: start {attempt} did not refine ({exc}); trying the next", file=sys.stderr)
        raise SymlandError(f"no GLU critical point refined from 5 random starts: {reasons[-1]}")
    if args.no_refine:
        return prob, theta, source, None
    cp = refine(prob, theta, dps=args.dps)
    return prob, cp.theta, source, cp


def _analyse_glu(prob, theta, args):
    out = {}
    ex = channel_expansion(prob, theta, dps=args.dps)
    out["expansion"] = ex.to_dict()
    out["rate"] = ex.rate
    out["constant"] = format_number(ex.constant, args.dps)
    out["loss_along_channel"] = [{"eps": e,
                                  "loss": format_number(channel_loss(prob, theta, e, dps=args.dps), args.dps)}
                                 for e in args.eps]
    if prob.glus == 1:
        try:
            q = rate_constants(prob, np.array([float(t) for t in theta]))
            out["quadrature"] = {k: repr(v) for k, v in q.items()}
        except SymlandError as exc:
            out["quadrature"] = {"skipped": str(exc)}
        out["splitting"] = splitting_comparison(prob, theta, eps_values=tuple(args.eps), dps=args.dps)
    return out


def _cmd_channel(args):
    out = {"convention": "loss = 1/2 E[(f - f*)^2], x ~ N(0, I_d)"}
    if args.trajectory:
        tr = load_trajectory(args.trajectory)
        data = load_arrays(args.trajectory, "--trajectory", ("V", "b"))
        P = tr.thetas.shape[1]
        d = int(data["V"].shape[1]) if "V" in data else (args.k if args.d is None else args.d)
        if P % (d + 1):
            raise SymlandError(f"--trajectory: rows of length {P} do not fit n neurons in d = {d} (n (d + 1) entries)")
        V, b = _teacher(args, data, d)
        prob = TeacherStudent(args.activation, V, b, n=P // (d + 1))
        det = detect(prob, trajectory=tr)
        out.update({"source": f"trajectory file {args.trajectory}", "problem": repr(prob),
                    "records": len(tr.thetas), "end_loss": repr(float(prob.loss(tr.theta))),
                    "detection": det.to_dict()})
        glu = None
        if det.kind == "channel":
            lim = glu_limit(prob, det, dps=args.dps)
            out["glu_limit"] = lim.to_dict()
            out["analysis"] = _analyse_glu(lim.glu_problem, lim.point.theta, args)
            glu = (lim.glu_problem, lim.point.theta)
    else:
        prob, theta, source, cp = _glu_from_args(args)
        out.update({"source": source, "problem": repr(prob)})
        if cp is not None:
            out["glu_point"] = cp.to_dict()
        out["analysis"] = _analyse_glu(prob, theta, args)
        glu = (prob, theta)
    if args.plot:
        if glu is None:
            raise SymlandError("--plot: no channel was found, so there is nothing to draw")
        fig, data = plot_channel(*glu, dps=args.dps)
        out["plot"] = save(fig, args.plot)
        print(f"{data.title}: written to {out['plot']}", file=sys.stderr)
    if args.json:
        print(strict_json(out))
        return 0
    _print(out)
    return 0


def _print(out):
    print(out["problem"])
    print(f"source: {out['source']}")
    if "detection" in out:
        det = out["detection"]
        print(f"end point: {det['kind']} (loss {out['end_loss']})")
        for p in det["pairs"]:
            print(f"  pair ({p['i']}, {p['j']}): a = ({float(p['a_i']):.6g}, {float(p['a_j']):.6g}), "
                  f"|w_i - w_j| = {float(p['gap']):.3e}; GLU limit c = {float(p['c']):.6g}")
        for u in det.get("linear_units", []):
            print(f"  neuron {u['i']}: |a| = {abs(float(u['a_i'])):.4g} growing, |w| = {float(u['w_norm']):.3g}: "
                  f"drifting to a linear unit (not a GLU channel)")
        for r in det["rejected"]:
            print(f"  pair ({r['i']}, {r['j']}) rejected: {r['reason']}")
        if "glu_limit" in out:
            g = out["glu_limit"]
            print(f"GLU critical point: loss {g['glu_point']['loss']} ({g['glu_point']['kind']}, index "
                  f"{g['glu_point']['index']}); end-point loss - GLU loss = {float(g['loss_gap']):.3e}; "
                  f"parameter distance {float(g['distance']):.3e}")
    elif "glu_point" in out:
        g = out["glu_point"]
        print(f"GLU critical point: loss {g['loss']} ({g['kind']}, index {g['index']}, nullity {g['nullity']})")
    an = out.get("analysis")
    if an:
        ex = an["expansion"]
        print("channel: the GLU unit (c, w, v) opened into the neuron pair (w + eps v, output 1/eps) and "
              "(w, output c - 1/eps), which computes the GLU plus eps h(x) + O(eps^2), h = (v.x)^2 s''(w.x)/2")
        print(f"L(eps) = L_GLU + C_1 eps + C_2 eps^2 + ...:  L_GLU = {ex['loss_glu']}")
        print(f"  coefficients C_0..C_3 fitted to high-precision losses along the channel: "
              f"{', '.join(f'{float(c):.15g}' for c in ex['coefficients'][:4])}")
        print(f"  rate p = {an['rate']} and C = {an['constant']}: the first coefficient beyond C_0 that is not 0")
        if "quadrature" in an:
            q = an["quadrature"]
            if "skipped" in q:
                print(f"  quadrature check skipped: {q['skipped']}")
            else:
                print("  the same by Gauss-Hermite quadrature in input space (r = f_GLU - f*, "
                      "q = (v.x)^3 s'''(w.x)/6): "
                      f"C_1 = E[r h] = {q['C1']}, C_2 = E[h^2]/2 + E[r q] = {q['C2']}")
        for row in an["loss_along_channel"]:
            print(f"  eps = {row['eps']:>8}: L = {row['loss']}")
        sp = an.get("splitting")
        if sp:
            if sp.get("line") is None:
                print(f"splitting line: none ({sp.get('reason')})")
            else:
                print(f"splitting line: the critical point (w*, c*) of the network with v dropped (c* = "
                      f"{sp['line']['c']:.6g}; {sp.get('split_kind', 'given')}) split into (w*, lambda c*), "
                      "(w*, (1 - lambda) c*).  Line and channel both diverge along the pair's output weights, "
                      "so only their finite parts (input weights, ordinary outputs, the pair's summed output) "
                      "can differ; D = their distance relative to the line's scale:")
                for r in sp["rows"]:
                    print(f"  eps = {r['eps']:>8}: D = {r['finite_distance']:.6g}")
                verdict = ("the channel runs along the splitting line" if sp["runs_along_line"] else
                           "the channel does NOT run along the splitting line: the GLU point with v dropped is "
                           "not the split critical point")
                print(f"  eps -> 0: D = {sp['finite_distance_limit']:.6g}; {verdict}")
    print(f"({out['convention']})")


def register(subparsers):
    """Add the ``channel`` subcommand."""
    p = subparsers.add_parser("channel", help="build and analyse a channel to infinity (GLU limit)",
                              description=__doc__.replace("``", "").replace("\\", "\\"),
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    add_problem_options(p, n_default=0)
    p.add_argument("--glus", type=positive_int, default=1, help="GLU units of the preset GLU problem (default 1)")
    p.add_argument("--trajectory", help="trajectory .npz (array 'thetas', T x num_params) of an ordinary network")
    p.add_argument("--eps", nargs="+", default=["1e-1", "1e-2", "1e-3"],
                   help="eps values at which to report the loss along the channel")
    p.add_argument("--dps", type=digits, default=30, help="decimal digits, 16..MAX_DPS (default 30)")
    p.add_argument("--no-refine", action="store_true", help="analyse the --weights GLU point as given")
    p.add_argument("--plot", help="also draw L(eps) - L_GLU against eps (log-log, with the fitted C eps^p) "
                                   "into this .png or .svg file")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_channel)
