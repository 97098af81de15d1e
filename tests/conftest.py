"""The one switch of the test suite, parsed here and nowhere else.

``SYMLAND_FULL=1`` in the environment selects the exhaustive variants: tests marked
``@pytest.mark.slow`` enlarge their parametrisations (every index, every activation, every
seed) and the ``exhaustive variant`` parameters run instead of being skipped.  By default each
slow test runs a reduced form, so that ``python -m pytest -n 2 -q`` (what ``.ci/run`` runs)
exercises every check in a few minutes; ``-m "not slow"`` leaves out the slow tests altogether.

Tests read the switch as ``from conftest import FULL`` (or ``full_run()``, or the ``full``
fixture).  Markers are registered in ``pyproject.toml``.
"""

import os

import pytest

from symland.cli.main import main

#: True when the exhaustive variants were requested (environment SYMLAND_FULL=1)
FULL = os.environ.get("SYMLAND_FULL", "").strip() not in ("", "0")


def full_run() -> bool:
    """True when ``SYMLAND_FULL=1``: slow tests use their exhaustive parametrization."""
    return FULL


@pytest.fixture(scope="session")
def full() -> bool:
    """Fixture form of :func:`full_run`."""
    return FULL


def _exit_status(args):
    """The exit status of ``symland ARGS``: main's return value, or the code of the SystemExit argparse raises."""
    try:
        return main(args)
    except SystemExit as exc:
        return exc.code


@pytest.fixture
def exit_status():
    """``exit_status(args)``: the exit status of the in-process command ``symland ARGS`` (one conftest
    for the whole suite: tests import ``conftest`` by name, so a second one would shadow this)."""
    return _exit_status
