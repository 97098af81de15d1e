"""The result type of refinement: a critical point at many digits, with its Hessian classification."""

from __future__ import annotations

import dataclasses

import numpy as np

from ..numerics.arguments import check_count
from ..numerics.mpcontext import MPReal, thread_mp
from ..numerics.precision import GUARD_DIGITS
from .closed_form import closed_form
from .display import html_table, latex_table

__all__ = ["CriticalPoint", "correct_digits"]


def correct_digits(x, error, max_digits: int) -> str:
    """Decimal string of ``x`` with only the significant digits that ``error`` (an absolute bound)
    leaves correct, at most ``max_digits``; ``"0 (|x| < e)"`` when ``|x| <= error``."""
    with thread_mp.workdps(max_digits + 10):
        x, error = thread_mp.mpf(x), abs(thread_mp.mpf(error))
        if error > 0 and abs(x) <= error:
            return f"0 (|x| < {thread_mp.nstr(2 * error, 1)})"
        if error == 0 or x == 0:
            return thread_mp.nstr(x, max_digits, strip_zeros=False)
        digits = int(thread_mp.floor(thread_mp.log10(abs(x) / error)))
        return thread_mp.nstr(x, max(1, min(max_digits, digits)), strip_zeros=False)


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
    eigenvalue_errors : list of float
        Rigorous bounds on the error of each eigenvalue of the Hessian evaluated at ``theta``
        (:func:`~symland.landscape.spectrum.hessian_spectrum`): about $N u \|H\|$ ($u = 2^{-53}$)
        for eigenvalues whose sign float64 decides, near $10^{-dps}\|H\|$ for the cluster near
        zero, which is refined in high precision.  An eigenvalue counts as negative (zero) when it
        is proven below ``-threshold`` (not proven outside $\pm$``threshold``).
    spectrum_method : str
        How the eigenvalues were obtained (one line).
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
    spectrum_method: str | None = None
    eigenvalue_errors: list | None = None

    @property
    def loss_error(self):
        r"""Bound on $|L(\theta) - L(\theta^*)|$, the error of ``loss`` as the critical value.

        $\theta$ is known to ``digits`` digits, $\delta = 10^{-digits}\max(1, |\theta|)$; at a
        critical point the loss moves by $|\nabla L|\delta + \tfrac12\|H\|\delta^2$ over that
        distance, plus the rounding of the value, $10^{-dps}|L|/2 + 10^{-dps-g}$ (g guard digits) ($\|H\|$ from the
        eigenvalues, 1 when unclassified).  A zero-loss minimum refined to 30 digits has a loss of
        about $10^{-60}$ that is this noise, not a value.
        """
        with thread_mp.workdps(self.dps + 5):
            size = max(1, max((abs(v) for v in self.theta), default=0))
            delta = thread_mp.mpf(10) ** (-self.digits) * size
            hnorm = max((abs(v) for v in self.eigenvalues), default=1) if self.eigenvalues else 1
            # rounded to dps significant digits, evaluated with GUARD_DIGITS more on O(1) terms
            rounding = thread_mp.mpf(10) ** (-self.dps) * abs(self.loss) / 2 + thread_mp.mpf(10) ** (-self.dps - GUARD_DIGITS)
            return +(abs(self.gradient_norm) * delta + hnorm * delta ** 2 / 2 + rounding)

    def closed_form(self, problem, eigenvalues: bool = True):
        """Recognise and prove a closed form of this point of ``problem``
        (:func:`symland.landscape.closed_form.closed_form`: coordinates up to symmetry, loss,
        Hessian eigenvalues; a loss is *derived* only from coordinates proven critical)."""
        return closed_form(problem, self, eigenvalues=eigenvalues)

    def loss_string(self, max_digits: int | None = None) -> str:
        """The loss with only its correct significant digits (:attr:`loss_error`), at most
        ``max_digits`` (default ``dps``); ``"0 (|loss| < 1e-59)"`` style when the value is noise."""
        if max_digits is not None:
            max_digits = check_count(max_digits, "max_digits", minimum=1)
        return correct_digits(self.loss, self.loss_error, self.dps if max_digits is None else max_digits)

    def eigenvalue_strings(self, max_digits: int | None = None) -> list:
        """The Hessian eigenvalues (ascending) with only the digits their error bounds leave
        correct (:attr:`eigenvalue_errors`), at most ``max_digits`` (default ``dps``)."""
        if self.eigenvalues is None:
            return []
        digits = self.dps if max_digits is None else check_count(max_digits, "max_digits", minimum=1)
        errors = self.eigenvalue_errors or [0.0] * len(self.eigenvalues)
        return [correct_digits(v, e, digits) for v, e in zip(self.eigenvalues, errors)]

    #: the columns of :meth:`summary_row` (terminal, HTML and LaTeX tables)
    SUMMARY_HEADERS = ("loss", "index", "nullity", "kind", "digits", "|grad|")

    def summary_row(self, max_digits: int | None = 20) -> list:
        """One table row: the loss with its correct digits, index, nullity, kind, digits, |grad|."""
        show = lambda v: "-" if v is None else str(v)  # noqa: E731
        return [self.loss_string(max_digits), show(self.index), show(self.nullity), show(self.kind),
                str(self.digits), thread_mp.nstr(self.gradient_norm, 3)]

    def __str__(self):
        row = dict(zip(self.SUMMARY_HEADERS, self.summary_row()))
        return (f"critical point ({row['kind']}, index {row['index']}, nullity {row['nullity']}): loss {row['loss']} "
                f"({self.digits} correct digits of {self.dps}; |grad| = {row['|grad|']})")

    def _repr_html_(self):
        return html_table(self.SUMMARY_HEADERS, [self.summary_row()], caption="critical point")

    def _repr_latex_(self):
        return latex_table(self.SUMMARY_HEADERS, [self.summary_row()])

    def theta_float(self) -> np.ndarray:
        """Parameters rounded to float64."""
        return np.array([float(v) for v in self.theta])

    def to_dict(self) -> dict:
        """JSON-ready summary; every number a decimal string with all digits reached."""
        def s(x):
            return thread_mp.nstr(x, self.dps, strip_zeros=False) if x is not None else None

        return {
            "loss": self.loss_string(),
            "loss_error": thread_mp.nstr(self.loss_error, 3),
            "gradient_norm": thread_mp.nstr(self.gradient_norm, 5),
            "digits": self.digits,
            "dps": self.dps,
            "index": self.index,
            "nullity": self.nullity,
            "predicted_nullity": self.predicted_nullity,
            "zero_mode_sources": self.zero_mode_sources,
            "kind": self.kind,
            "theta": [s(v) for v in self.theta],
            "eigenvalues": None if self.eigenvalues is None else self.eigenvalue_strings(20),
            "iterations": self.iterations,
            "spectrum_method": self.spectrum_method,
        }
