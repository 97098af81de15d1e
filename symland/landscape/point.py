"""The result type of refinement: a critical point at many digits, with its Hessian classification."""

from __future__ import annotations

import dataclasses

import numpy as np
from ..numerics.mpcontext import MPReal, thread_mp

__all__ = ["CriticalPoint"]


@dataclasses.dataclass
class CriticalPoint:
    r"""A critical point refined to high precision and classified.

    Attributes
    ----------
    theta : numpy object array of ``mpmath.mpf``
        Parameters (packed as the problem's ``pack``).
    loss, gradient_norm : mpmath numbers at ``dps`` digits.
    digits : int
        Estimated number of correct significant digits of ``theta`` (from the
        size of the last Newton correction, capped at ``dps``).
    eigenvalues : list of mpmath numbers
        Hessian spectrum at ``theta`` (ascending), or ``None`` if not classified.
    index : int
        Number of eigenvalues below ``-threshold``.
    nullity : int
        Number of eigenvalues with modulus at most ``threshold``.
    predicted_nullity : int
        Zero modes explained by the model's symmetries (:func:`~symland.landscape.critical.predicted_zero_modes`).
    kind : str
        ``"minimum"`` (index 0, every zero mode explained by a symmetry),
        ``"saddle"`` (index > 0), ``"maximum"``, or ``"degenerate"`` (index 0 with
        unexplained zero modes: a higher-order test is needed).
    threshold : mpmath number
        Eigenvalues with $|\lambda| \le$ threshold count as zero; derived from the
        precision reached: $10^3\,\|H\|\,(10^{-digits} + 10^{-dps})$.
    history : list of str
        Gradient norm at every Newton iteration.
    frozen : int
        Number of near-null Hessian directions (float64 eigenvalue below
        ``null_rel * ||H||``) along which the Newton step was gauge-fixed.  The
        position along them is only known to the accuracy of the start, so
        eigenvalues below ``10 * null_rel * ||H||`` count as zero when
        ``frozen > 0`` (the threshold says so).
    """

    theta: np.ndarray
    loss: MPReal
    gradient_norm: MPReal
    dps: int
    digits: int
    iterations: int
    history: list
    eigenvalues: list | None = None
    index: int | None = None
    nullity: int | None = None
    predicted_nullity: int | None = None
    zero_mode_sources: dict | None = None
    kind: str | None = None
    threshold: MPReal | None = None
    reduction: tuple | None = dataclasses.field(default=None, repr=False)
    frozen: int = 0
    null_rel: float = 1e-9

    def theta_float(self) -> np.ndarray:
        """Parameters rounded to float64."""
        return np.array([float(v) for v in self.theta])

    def to_dict(self) -> dict:
        """JSON-ready summary; every number a decimal string with all digits reached."""
        def s(x):
            return thread_mp.nstr(x, self.dps, strip_zeros=False) if x is not None else None

        return {
            "loss": s(self.loss),
            "gradient_norm": thread_mp.nstr(self.gradient_norm, 5),
            "digits": self.digits,
            "dps": self.dps,
            "index": self.index,
            "nullity": self.nullity,
            "predicted_nullity": self.predicted_nullity,
            "zero_mode_sources": self.zero_mode_sources,
            "kind": self.kind,
            "theta": [s(v) for v in self.theta],
            "eigenvalues": None if self.eigenvalues is None else [thread_mp.nstr(v, 20) for v in self.eigenvalues],
            "iterations": self.iterations,
        }
