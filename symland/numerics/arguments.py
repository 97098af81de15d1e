"""Validation of scalar arguments of the public API: one rule per kind, one message format.

Each check returns the value converted (``int`` or ``float``) or raises
:class:`~symland.errors.DomainError` (a ``ValueError``) naming the argument and the rule.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from ..errors import DomainError

__all__ = ["check_count", "check_positive", "check_nonnegative", "check_flag", "check_choice", "check_unit_interval"]


def check_count(value, name: str, minimum: int = 1, maximum: int | None = None) -> int:
    """An integer (not a bool) with ``minimum <= value`` (and ``<= maximum`` when given)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise DomainError(f"argument {name} must be an integer, got {value!r}")
    value = int(value)
    if value < minimum or (maximum is not None and value > maximum):
        upper = "" if maximum is None else f" and <= {maximum}"
        raise DomainError(f"argument {name} must be >= {minimum}{upper}, got {value}")
    return value


def _real(value, name):
    if isinstance(value, bool):
        raise DomainError(f"argument {name} must be a real number, got {value!r}")
    if not isinstance(value, numbers.Real):
        try:
            value = float(value)  # mpmath numbers, numpy scalars, decimal strings
        except (TypeError, ValueError):
            raise DomainError(f"argument {name} must be a real number, got {value!r}") from None
    value = float(value)
    if not math.isfinite(value):
        raise DomainError(f"argument {name} must be finite, got {value}")
    return value


def check_positive(value, name: str) -> float:
    """A finite real number > 0."""
    value = _real(value, name)
    if not value > 0:
        raise DomainError(f"argument {name} must be > 0, got {value}")
    return value


def check_nonnegative(value, name: str) -> float:
    """A finite real number >= 0."""
    value = _real(value, name)
    if value < 0:
        raise DomainError(f"argument {name} must be >= 0, got {value}")
    return value


def check_flag(value, name: str) -> bool:
    """A bool (``numpy.bool_`` too); a string such as ``"no"`` or a number is refused, not read as truth."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    raise DomainError(f"argument {name} must be True or False, got {value!r}")


def check_choice(value, name: str, choices) -> str:
    """One of the strings ``choices`` (compared by equality; unhashable values are refused too)."""
    if isinstance(value, str) and value in choices:
        return value
    raise DomainError(f"argument {name} must be one of {', '.join(repr(c) for c in choices)}, got {value!r}")


def check_unit_interval(value, name: str) -> float:
    """A finite real number with ``0 <= value < 1`` (momentum and decay rates)."""
    value = _real(value, name)
    if not 0 <= value < 1:
        raise DomainError(f"argument {name} must satisfy 0 <= {name} < 1, got {value}")
    return value
