r"""The landscape protocol: what every loss landscape gives the solvers, refinement,
classification, surveys and certification.

A landscape is a smooth loss $L:\mathbb R^P \to \mathbb R$ with its gradient and Hessian in every
member of the precision context (:class:`~symland.numerics.precision.Precision`: float64, mpmath
at ``dps`` digits, and python-flint balls where it has a ball form).  Subclass :class:`Landscape`
and implement two methods:

* ``check_theta(theta, prec=FLOAT64)``: the parameters validated (shape ``(num_params,)``, finite,
  real) as an array of ``prec`` (float64, or mpf objects at the working precision);
* ``evaluate(theta, prec, order)``: an :class:`Evaluation` with the loss (``order`` 0), the
  gradient (1) and the Hessian (2), computed in the context ``prec`` and rounded to it
  (``prec.finalize``); written once against the context, as mpmath's functions are written
  against ``ctx``.

and set ``num_params`` (and ``name``, a short label for tables).  The rest has defaults that a
landscape overrides where it knows better:

* ``loss``, ``gradient``, ``hessian``, ``loss_and_gradient`` (``dps=None``: float64);
* ``random_start(rng)``: one documented random start for surveys;
* ``canonical(theta)``: a representative of the orbit of ``theta`` under the landscape's symmetry
  group (surveys merge points whose representatives agree; default: the point itself);
* ``isotropy(theta, tol)``: the name of the stabiliser of ``theta`` in that group;
* ``zero_modes(theta, tol)``: Hessian null directions that the symmetries explain, by source
  (classification calls a point with more null directions ``degenerate``);
* ``missing_ball_form()``: why the landscape has no rigorous ball evaluation (``""`` when it has
  one: then ``evaluate`` accepts :class:`~symland.numerics.ball.BallPrecision` and
  :func:`symland.certify` works on it);
* ``exact_loss_and_gradient(theta)``: the loss and gradient as exact SymPy expressions at exact
  parameters (what proves a recognised closed form, :func:`symland.closed_form`).

:class:`~symland.problems.teacher_student.TeacherStudent` is one implementation (its symmetry
group, the permutations and sign/scale maps of neurons, lives in :mod:`symland.landscape.symmetry`);
:class:`~symland.problems.attention_pca.AttentionPCA` is another.
"""

from __future__ import annotations

import abc
import dataclasses
import math

import numpy as np

from ..errors import NoClosedFormError
from ..numerics.ball import midpoint_mpf
from ..numerics.precision import FLOAT64, Precision

__all__ = ["Landscape", "Evaluation", "precision_of"]


@dataclasses.dataclass(frozen=True, eq=False)
class Evaluation:
    """One evaluation of a landscape: the loss and, up to the order asked, gradient and Hessian.

    ``gram_gradient`` is the student block $S_{WW}$ of $\\partial L/\\partial G$ (plain
    teacher-student assembly, order >= 1 only; ``None`` otherwise).
    """

    loss: object
    gradient: object = None
    hessian: object = None
    gram_gradient: object = None

    def as_float(self) -> "Evaluation":
        """The same results rounded to float64 (scalars to float, arrays to float arrays)."""
        conv = lambda r: None if r is None else (  # noqa: E731
            np.array(r, dtype=float) if isinstance(r, np.ndarray) else float(r))
        return Evaluation(*(conv(getattr(self, f.name)) for f in dataclasses.fields(self)))

    def finalized(self, prec: Precision) -> "Evaluation":
        """The same results rounded to the requested digits of ``prec``."""
        fin = lambda r: None if r is None else prec.finalize(r)  # noqa: E731
        return Evaluation(*(fin(getattr(self, f.name)) for f in dataclasses.fields(self)))

    def digits_short(self, order: int, dps: int) -> int:
        r"""For an evaluation on balls: how many digits the widest ball of the loss, gradient,
        Hessian (up to ``order``) lacks for a radius $\le 10^{-\text{dps}}\max(1, \max|\text{entries}|)$
        of its array (0 when none does)."""
        short = 0
        parts = [np.array([self.loss], dtype=object)] + [x for x in (self.gradient, self.hessian)[:order]
                                                         if x is not None]
        for x in parts:
            scale = max(1.0, max(abs(float(v.mid())) for v in x.ravel()) if x.size else 1.0)
            worst = max(float(v.rad()) for v in x.ravel()) if x.size else 0.0
            if not worst <= 10.0 ** (-dps) * scale:
                short = max(short, int(math.ceil(math.log10(worst / scale))) + dps + 1 if worst > 0 else 0)
        return short

    def midpoints(self, order: int) -> "Evaluation":
        """For an evaluation on balls: the midpoints (mpmath numbers, exactly) of the loss, gradient
        and Hessian up to ``order``."""
        mids = lambda x: None if x is None else np.vectorize(midpoint_mpf, otypes=[object])(x)  # noqa: E731
        return Evaluation(midpoint_mpf(self.loss), mids(self.gradient) if order >= 1 else None,
                          mids(self.hessian) if order >= 2 else None)


def precision_of(dps) -> Precision:
    """The context of a ``dps`` argument: float64 for ``None``, mpmath at ``dps`` digits otherwise."""
    return FLOAT64 if dps is None else Precision(dps)


class Landscape(abc.ABC):
    """A loss landscape (module docstring): implement ``check_theta`` and ``evaluate``, set
    ``num_params``; the solvers, :func:`symland.refine`, :func:`symland.classify`,
    :func:`symland.survey` and :func:`symland.certify` accept every subclass."""

    #: number of parameters P
    num_params: int
    #: short label for tables and reports
    name: str = "landscape"
    #: the loss and its conventions, one line (tables and JSON)
    loss_statement: str = "loss L(theta)"

    @abc.abstractmethod
    def check_theta(self, theta, prec: Precision = FLOAT64):
        """``theta`` validated as an array of ``prec`` (ShapeError/DomainError naming the rule)."""

    @abc.abstractmethod
    def evaluate(self, theta, prec: Precision, order: int) -> Evaluation:
        """Loss (order 0), + gradient (1), + Hessian (2) at ``theta`` in the context ``prec``."""

    # -- values in every context ------------------------------------------------
    def loss(self, theta, dps=None):
        """$L(\\theta)$: float, or mpmath number at ``dps`` digits."""
        return self.evaluate(theta, precision_of(dps), 0).loss

    def loss_and_gradient(self, theta, dps=None):
        """``(loss, gradient)`` from one evaluation."""
        ev = self.evaluate(theta, precision_of(dps), 1)
        return ev.loss, ev.gradient

    def gradient(self, theta, dps=None):
        """$\\nabla L(\\theta)$, shape ``(num_params,)``."""
        return self.loss_and_gradient(theta, dps)[1]

    def hessian(self, theta, dps=None):
        """$\\nabla^2 L(\\theta)$, shape ``(num_params, num_params)``."""
        return self.evaluate(theta, precision_of(dps), 2).hessian

    # -- hooks with defaults -------------------------------------------------------
    def random_start(self, rng: np.random.Generator) -> np.ndarray:
        """One random start: $\\theta_i \\sim N(0, 1/P)$ (override with the landscape's own scale)."""
        return rng.normal(0.0, 1.0 / np.sqrt(self.num_params), size=self.num_params)

    def canonical(self, theta) -> np.ndarray:
        """A float64 representative of the symmetry orbit of ``theta`` (default: ``theta``)."""
        return np.array([float(v) for v in theta])

    def isotropy(self, theta, tol: float = 1e-8) -> str:
        """Name of the stabiliser of ``theta`` in the symmetry group (default ``"trivial"``)."""
        return "trivial"

    def zero_modes(self, theta, tol: float = 1e-8) -> dict:
        """Hessian null directions explained by symmetries, ``{source: count}`` (default none)."""
        return {}

    def missing_ball_form(self) -> str:
        """Why there is no ball evaluation (``""`` when ``evaluate`` accepts ball contexts)."""
        return f"the landscape {self.name!r} has no ball-arithmetic form"

    def exact_loss_and_gradient(self, theta) -> tuple:
        """``(loss, [gradient entries])`` as exact SymPy expressions at exact parameters (SymPy
        numbers), used to prove recognised critical points; default: none (NoClosedFormError)."""
        raise NoClosedFormError(f"the landscape {self.name!r} has no exact SymPy form of its loss")
