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
``symland attention-pca``  attention as PCA: every critical point, checked and certified
``symland equivariant``    equivariant students: constrained minima classified in the full space
``symland neural-collapse`` deep UFM: deep neural collapse against low-rank critical points
``symland plot FIGURE``    figures (spectrum, survey, plane, training) as PNG or SVG
``symland catalog ACTION`` the SQLite catalog of critical points: list, show, export, add

Every number printed with ``--json`` is a decimal string carrying all digits computed.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from .._version import __version__
from ..errors import SymlandError
from ..landscape.survey import SurveyInterrupted
from . import (attention, catalog, certify, channel, copy_average, equivariant, kernel, neural_collapse, plot, points,
               symmetric)

__all__ = ["main", "build_parser"]

#: subcommand modules, each with ``register(subparsers)``, in the order of ``symland --help``
_SUBCOMMAND_MODULES = (kernel, points, certify, copy_average, symmetric, channel, attention, equivariant,
                       neural_collapse, plot, catalog)


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors: ``symland <command>: error: ...`` and exit status 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser():
    parser = _Parser(prog="symland", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"symland {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for module in _SUBCOMMAND_MODULES:
        module.register(sub)
    return parser


def _terminate(signum, frame):
    """SIGTERM: stop like Ctrl-C, so that a survey terminates its worker processes."""
    raise KeyboardInterrupt


def main(argv=None):
    """Run one subcommand.  Exit status 0 on success; 2 with ONE line on stderr for every
    expected failure (bad options, unreadable files, a refused computation: any
    :class:`~symland.errors.SymlandError`, ``ValueError`` or ``OSError``), never a traceback;
    130 on an interrupt (Ctrl-C or SIGTERM), after the worker processes were stopped.  A survey
    interrupted this way prints the starts finished so far first."""
    parser = build_parser()
    args = parser.parse_args(argv)
    # the command as typed (catalog provenance)
    args.command_line = "symland " + " ".join(sys.argv[1:] if argv is None else [str(a) for a in argv])
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        return args.func(args)
    except SurveyInterrupted as exc:
        print(exc.result.table(), file=sys.stdout)
        print(f"symland {args.command}: interrupted; the starts finished so far are listed above", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print(f"symland {args.command}: interrupted", file=sys.stderr)
        return 130
    except (SymlandError, ValueError, OSError, ArithmeticError) as exc:
        message = " ".join(str(exc).split()) or type(exc).__name__
        print(f"symland {args.command}: error: {message}", file=sys.stderr)
        return 2
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
