"""``symland equivariant``: the minima of an equivariant (weight-tied) student, seen in the full space."""

from __future__ import annotations

import numpy as np

from ..landscape.equivariant_report import equivariant_report
from ..problems.equivariant import EquivariantStudent, cyclic_group, orbit
from ..problems.teacher_student import TeacherStudent
from .options import digits, nonnegative_int, positive_int, strict_json

__all__ = ["register"]


def _cmd_equivariant(args):
    G = cyclic_group(args.d)
    v0 = np.random.default_rng(args.teacher_seed).normal(size=args.d)
    V = orbit(v0, G)
    problem = TeacherStudent(args.activation, V, np.ones(args.d), n=args.d * args.orbits,
                             train_output=args.trained_output)
    report = equivariant_report(EquivariantStudent(problem, G), starts=args.starts, seed=args.seed, dps=args.dps)
    print(strict_json(report.to_dict()) if args.json else report.table())
    return 0


def register(subparsers):
    """Add the ``equivariant`` subcommand."""
    p = subparsers.add_parser(
        "equivariant", help="equivariant students: constrained minima classified in the full space",
        description="Teacher: one orbit of the cyclic shifts of d coordinates (k = d neurons P_h v0, v0 ~ N(0, I) from "
                    "--teacher-seed, outputs 1). Student: --orbits orbits of d neurons tied by the same shifts. The "
                    "constrained minima are found (--starts), classified in the full space (index proven by a "
                    "certificate where nondegenerate), and gradient flow follows the escape direction of each one "
                    "that is a full saddle.")
    p.add_argument("--activation", default="relu")
    p.add_argument("--d", type=positive_int, default=6, help="input dimension = group order (default 6)")
    p.add_argument("--orbits", type=positive_int, default=1, help="student orbits (default 1)")
    p.add_argument("--teacher-seed", type=nonnegative_int, default=1)
    p.add_argument("--trained-output", action="store_true",
                   help="train the output weights of the orbits (default: fixed to 1, as in the derivation)")
    p.add_argument("--starts", type=positive_int, default=30)
    p.add_argument("--seed", type=nonnegative_int, default=0)
    p.add_argument("--dps", type=digits, default=25)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_equivariant)
