"""The ``symland`` command line.

Subcommands
-----------
``symland kernel NAME``    closed form of the dual kernel (pretty and LaTeX) and how it was checked
``symland loss``           loss and gradient norm of a preset or a weights file (.npz / .json)
``symland critical``       refine one critical point to many digits and classify it
``symland survey``         multi-start survey: distinct critical points, their index and frequency
``symland copy-average``   copy-average configurations of an under-parameterised student
``symland symmetric``      critical points in fixed-point subspaces of isotropy groups (k = n)
``symland channel``        build and analyse a channel to infinity (GLU limit)

Every number printed with ``--json`` is a decimal string carrying all digits computed.
"""

from __future__ import annotations

import argparse
import sys

from .._version import __version__
from ..errors import SymlandError
from . import channel, copy_average, kernel, points, symmetric

__all__ = ["main", "build_parser"]

#: subcommand modules, each with ``register(subparsers)``, in the order of ``symland --help``
_SUBCOMMAND_MODULES = (kernel, points, copy_average, symmetric, channel)


def build_parser():
    parser = argparse.ArgumentParser(prog="symland", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"symland {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for module in _SUBCOMMAND_MODULES:
        module.register(sub)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except SymlandError as exc:
        print(f"symland {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
