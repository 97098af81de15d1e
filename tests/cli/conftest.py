"""Shared by the command-line tests."""

import pytest

from symland.cli.main import main


def _exit_status(args):
    """The exit status of ``symland ARGS``: main's return value, or the code of the SystemExit argparse raises."""
    try:
        return main(args)
    except SystemExit as exc:
        return exc.code


@pytest.fixture
def exit_status():
    """``exit_status(args)``: the exit status of the in-process command ``symland ARGS``."""
    return _exit_status
