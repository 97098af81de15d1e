"""``symland catalog``: the SQLite catalog of critical points (:mod:`symland.results.catalog`).

``list`` -- one line per stored point (``--kind``, ``--problem ID`` select); ``show ID`` -- one
point with every stored digit (strict JSON); ``export --format json|csv|latex [--output F]`` -- the
catalog as text; ``add --weights W`` -- refine the point of the weights file (problem options as
``symland critical``), classify it by its Hessian spectrum, optionally certify it (``--certify``)
and store it, merged with a stored point of its orbit.  ``symland survey --catalog FILE`` stores a
survey's points.
"""

from __future__ import annotations

import sys

from ..errors import SymlandError
from ..landscape.critical import refine
from ..results.catalog import Catalog
from .certify import add_certify_options, certificate_lines, certify_point
from .options import add_problem_options, digits, positive_int, problem_from_args, strict_json

__all__ = ["register"]


def _stored_problem(cat, problem_id):
    """The StoredProblem of ``--problem ID`` (None when not given)."""
    if problem_id is None:
        return None
    found = [p for p in cat.problems() if p.id == problem_id]
    if not found:
        raise SymlandError(f"--problem {problem_id}: the catalog {cat.path!r} has no problem {problem_id}")
    return found[0]


def _cmd_list(cat, args):
    print(cat.table(digits=args.digits, problem=_stored_problem(cat, args.problem), kind=args.kind))


def _cmd_show(cat, args):
    if args.id is None:
        raise SymlandError("symland catalog show needs the row ID of a point (see symland catalog list)")
    rows = [r for r in cat.rows() if r["id"] == args.id]
    if not rows:
        raise SymlandError(f"catalog {args.catalog!r} has no point {args.id}")
    print(strict_json(rows[0]))


def _cmd_export(cat, args):
    text = cat.export(args.format, digits=args.digits, problem=_stored_problem(cat, args.problem), kind=args.kind)
    if args.output:
        try:
            with open(args.output, "w") as f:
                f.write(text)
        except OSError as exc:
            raise SymlandError(f"--output {args.output!r}: cannot write ({exc.strerror})") from None
        print(f"catalog exported as {args.format} to {args.output}", file=sys.stderr)
    else:
        print(text, end="" if text.endswith("\n") else "\n")


def _cmd_add(cat, args):
    if not args.weights:
        raise SymlandError("symland catalog add needs --weights FILE (the point to refine and store)")
    prob, theta = problem_from_args(args)
    cp = refine(prob, theta, dps=args.dps)
    cert = certify_point(prob, cp.theta, args) if args.certify else None
    (rid,) = cat.add(prob, [cp], certificates=[cert], command=args.command_line)
    print(f"stored as row {rid}: {cp}")
    if cert is not None:
        print("certificate: " + "\n             ".join(certificate_lines(cert)))


_ACTIONS = {"list": _cmd_list, "show": _cmd_show, "export": _cmd_export, "add": _cmd_add}


def _cmd_catalog(args):
    _ACTIONS[args.action](Catalog(args.catalog), args)
    return 0


def register(subparsers):
    """Add the ``catalog`` subcommand."""
    p = subparsers.add_parser("catalog", help="the SQLite catalog of critical points: list, show, export, add",
                              description=__doc__.split("\n\n")[1])
    p.add_argument("action", choices=tuple(_ACTIONS))
    p.add_argument("id", nargs="?", type=positive_int, help="show: the row id of the point")
    p.add_argument("--catalog", required=True, help="the catalog file (SQLite; created when missing)")
    p.add_argument("--kind", choices=("minimum", "saddle", "maximum", "degenerate"),
                   help="list, export: only points of this kind")
    p.add_argument("--problem", type=positive_int, help="list, export: only the points of this problem id")
    p.add_argument("--format", choices=("json", "csv", "latex"), default="json", help="export format (default json)")
    p.add_argument("--output", help="export: write to this file instead of standard output")
    p.add_argument("--digits", type=positive_int, default=20,
                   help="list, export latex: significant digits of the loss shown (correct digits only; default 20)")
    add_problem_options(p)
    p.add_argument("--dps", type=digits, default=50, help="add: digits of the refinement (default 50)")
    p.add_argument("--certify", action="store_true", help="add: certify the point (ball arithmetic) and store "
                                                          "the certificate")
    add_certify_options(p)
    p.set_defaults(func=_cmd_catalog)
