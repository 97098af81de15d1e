"""``symland catalog``: the SQLite catalog of critical points (:mod:`symland.results.catalog`).

``list`` -- one line per stored point; ``show ID`` -- one point with every stored digit (JSON);
``export --format json|csv|latex`` -- the whole catalog; ``add`` -- refine and classify the point of
``--weights`` (problem options as ``symland critical``) and store it.  ``symland survey --catalog
FILE`` stores a survey's points.
"""

from __future__ import annotations

import sys

from ..errors import SymlandError
from ..landscape.critical import refine
from ..results.catalog import Catalog
from .options import add_problem_options, digits, problem_from_args, strict_json

__all__ = ["register"]


def _cmd_catalog(args):
    cat = Catalog(args.catalog)
    if args.action == "list":
        print(cat.table(kind=args.kind))
    elif args.action == "show":
        rows = [r for r in cat.rows() if r["id"] == args.id]
        if not rows:
            raise SymlandError(f"catalog {args.catalog!r} has no point {args.id}")
        print(strict_json(rows[0]))
    elif args.action == "export":
        text = cat.export(args.format)
        if args.output:
            with open(args.output, "w") as f:
                f.write(text)
            print(f"catalog exported as {args.format} to {args.output}", file=sys.stderr)
        else:
            print(text)
    else:
        if not args.weights:
            raise SymlandError("symland catalog add needs --weights FILE (the point to refine and store)")
        prob, theta = problem_from_args(args)
        cp = refine(prob, theta, dps=args.dps)
        ids = cat.add(prob, [cp], command=args.command_line)
        print(f"stored as row {ids[0]}: {cp}")
    return 0


def register(subparsers):
    """Add the ``catalog`` subcommand."""
    p = subparsers.add_parser("catalog", help="the SQLite catalog of critical points: list, show, export, add",
                              description=__doc__.splitlines()[0])
    p.add_argument("action", choices=("list", "show", "export", "add"))
    p.add_argument("id", nargs="?", type=int, help="show: the row id")
    p.add_argument("--catalog", required=True, help="the catalog file (SQLite; created when missing)")
    p.add_argument("--kind", choices=("minimum", "saddle", "maximum", "degenerate"), help="list: only this kind")
    p.add_argument("--format", choices=("json", "csv", "latex"), default="json", help="export format")
    p.add_argument("--output", help="export: write to this file instead of standard output")
    add_problem_options(p)
    p.add_argument("--dps", type=digits, default=50, help="add: digits of the refinement (default 50)")
    p.set_defaults(func=_cmd_catalog)
