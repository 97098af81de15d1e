"""Exceptions raised by symland.

Every error names the argument at fault and the rule it broke, so that a user
reading only the message knows what to change.
"""

from __future__ import annotations

__all__ = [
    "SymlandError",
    "ShapeError",
    "DomainError",
    "PrecisionError",
    "ConvergenceError",
    "ExpressionError",
    "UnknownActivationError",
    "NoClosedFormError",
    "NonSmoothError",
]


class SymlandError(Exception):
    """Base class of every exception symland raises on purpose."""


class ShapeError(SymlandError, ValueError):
    """An array argument has the wrong shape."""


class DomainError(SymlandError, ValueError):
    """A value lies outside the domain where the quantity is defined.

    Examples: non-finite weights, a covariance with ``c**2 > a*b``, a negative
    variance, a zero-norm neuron where the kernel derivative is undefined.
    """


class PrecisionError(SymlandError, ValueError):
    """A requested precision is below float64 (``dps < 16``) or not an integer."""


class ConvergenceError(SymlandError, RuntimeError):
    """An iterative solver did not converge.

    ``history`` holds the residual norms of every iteration (as strings for
    mpmath numbers, so that no digits are lost).
    """

    def __init__(self, message: str, history=None):
        super().__init__(message)
        self.history = list(history or [])


class UnknownActivationError(SymlandError, KeyError):
    """No activation is registered under the requested name."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0]) if self.args else ""


class NoClosedFormError(SymlandError, ValueError):
    """A closed form was requested where none is known or none exists."""


class NonSmoothError(DomainError):
    """A derivative was asked where the loss is not differentiable that many times (a relu kink)."""


class ExpressionError(SymlandError, ValueError):
    """A user expression (a string formula) is malformed or uses something not allowed."""
