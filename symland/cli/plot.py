"""``symland plot``: figures of results written to PNG or SVG (matplotlib, the ``plot`` extra).

``spectrum`` -- the Hessian spectrum of the point of ``--weights`` (or a solved random start), refined
and classified; ``survey`` -- a survey's distinct points by loss and index; ``plane`` -- the loss on
the plane through two or three points (``--points FILE FILE [FILE]``); ``training`` -- loss and
gradient norm along ``--trajectory FILE.npz``.  (The channel figure: ``symland channel --plot FILE``.)
"""

from __future__ import annotations

from ..channels.training import load_trajectory
from ..errors import SymlandError
from ..landscape.critical import minimize, refine
from ..landscape.survey import survey
from ..results.plot import plot_plane, plot_spectrum, plot_survey, plot_training, save
from .options import add_problem_options, digits, load_arrays, positive_int, problem_from_args

__all__ = ["register"]


def _cmd_plot(args):
    if args.figure == "training":
        if not args.trajectory:
            raise SymlandError("symland plot training needs --trajectory FILE.npz")
        fig, data = plot_training(load_trajectory(args.trajectory))
    else:
        prob, theta = problem_from_args(args)
        if args.figure == "spectrum":
            start = theta if args.weights else minimize(prob, theta).theta
            fig, data = plot_spectrum(refine(prob, start, dps=args.dps))
        elif args.figure == "survey":
            fig, data = plot_survey(survey(prob, starts=args.starts, seed=args.seed, dps=args.dps, workers=1,
                                           progress=False))
        else:
            if not args.points or len(args.points) not in (2, 3):
                raise SymlandError("symland plot plane needs --points FILE FILE [FILE] (.npz/.json with W, a)")
            pts = []
            for path in args.points:
                arrays = load_arrays(path, "--points", ("W", "a"))
                if "W" not in arrays:
                    raise SymlandError(f"--points {path!r}: needs an array 'W'")
                pts.append(prob.pack(arrays["W"], arrays.get("a")) if prob.train_output else prob.pack(arrays["W"]))
            fig, data = plot_plane(prob, pts, grid=args.grid)
    print(f"{data.title}: written to {save(fig, args.output)}")
    return 0


def register(subparsers):
    """Add the ``plot`` subcommand."""
    p = subparsers.add_parser("plot", help="figures: spectrum, survey, plane, training (PNG/SVG)",
                              description=__doc__.splitlines()[0])
    p.add_argument("figure", choices=("spectrum", "survey", "plane", "training"))
    p.add_argument("--output", required=True, help="file to write, .png or .svg")
    add_problem_options(p)
    p.add_argument("--dps", type=digits, default=30, help="digits of refinement (default 30)")
    p.add_argument("--starts", type=positive_int, default=20, help="survey starts (default 20)")
    p.add_argument("--points", nargs="+", help="plane: two or three point files (.npz/.json with W, a)")
    p.add_argument("--grid", type=positive_int, default=41, help="plane: grid points per side (default 41)")
    p.add_argument("--trajectory", help="training: a trajectory .npz (symland.channels.training)")
    p.set_defaults(func=_cmd_plot)
