"""Shared test switches (kept minimal; markers are registered in pyproject.toml).

``SYMLAND_FULL=1`` enlarges the parametrizations of ``@pytest.mark.slow`` tests;
by default each slow test runs a reduced form so that the suite stays fast.
"""

import os

import pytest

#: True when the exhaustive variants were requested (environment SYMLAND_FULL=1)
FULL = os.environ.get("SYMLAND_FULL", "") == "1"


def full_run() -> bool:
    """True when ``SYMLAND_FULL=1``: slow tests use their exhaustive parametrization."""
    return FULL


@pytest.fixture(scope="session")
def full() -> bool:
    """Fixture form of :func:`full_run`."""
    return FULL
