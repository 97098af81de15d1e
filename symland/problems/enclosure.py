r"""Rigorous enclosures of the loss, gradient and Hessian on a box of parameters (python-flint balls).

:func:`enclose` evaluates a plain teacher-student problem with
:class:`~symland.numerics.ball.BallPrecision`: every kernel partial is compiled from its SymPy
closed form to ``arb`` (:func:`~symland.numerics.ball.lambdify_ball`) and the Gram assembly runs
on balls, so each returned ball contains the exact value at every point of the box.
:func:`midpoint_evaluation` is the fast face of the same computation: the midpoints as mpmath
numbers (each within its ball's radius, about $10^{-\text{dps}-15}$ relative, of the exact
value), or ``None`` when the problem has no ball form there, for callers that want digits, not
proofs (Newton refinement, classification); python-flint evaluates these kernels 3-4x faster
than mpmath, and Hessians up to 18x faster.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from ..errors import DomainError, NoClosedFormError
from ..kernels.partials import diagonal_expr, kernel_partial_expr, require_closed_form
from ..numerics.ball import BallPrecision, lambdify_ball, midpoint_mpf
from ..numerics.precision import check_dps
from ..numerics.symbols import KERNEL_ARGS, t_
from .glu import pair_terms, psi_expr
from .glu_assembly import GluAssembly
from .gram import Evaluation

__all__ = ["enclose", "require_ball_form", "has_ball_form", "midpoint_evaluation"]

#: kernel partials a Hessian needs (checked for an arb form before any work)
_HESSIAN_INDICES = ((0, 0, 0), (1, 0, 0), (0, 0, 1), (2, 0, 0), (1, 1, 0), (1, 0, 1), (0, 0, 2))


def require_ball_form(problem):
    """:class:`~symland.errors.NoClosedFormError` unless every kernel the problem needs up to its
    Hessian has an ``arb`` form (naming what is missing): plain problems and problems with GLU units
    are covered; biases and mixed activations (kernels with means, cross kernels) are refused, since
    their closed forms need the bivariate normal CDF (Owen's T), which has no ``arb`` form here."""
    glu = bool(getattr(problem, "glus", 0)) and isinstance(problem._assembly, GluAssembly)
    if not (getattr(problem, "is_plain", False) or glu):
        raise NoClosedFormError(
            f"{problem!r}: ball enclosures cover plain problems and GLU units; kernels with means (biases) and "
            "cross kernels of two activations are refused (their closed forms need the bivariate normal CDF, "
            "Owen's T, which has no arb form in symland)")
    reason = _missing_ball_form(problem.activation) or (_missing_glu_ball_form(problem.activation) if glu else "")
    if reason:
        raise NoClosedFormError(reason)


@functools.lru_cache(maxsize=None)
def _missing_glu_ball_form(act) -> str:
    r"""Why the GLU pair terms of ``act`` have no ``arb`` form up to the Hessian ("" when they have):
    kernel partials up to order 4, $\varphi^{(m)}$ and $\psi^{(m)}$."""
    try:
        for kind in ("gp", "gg", "self"):
            for sym in pair_terms(kind).symbols_needed(2):
                name = sym.name
                if name.startswith("K_"):
                    lambdify_ball(KERNEL_ARGS, kernel_partial_expr(act, tuple(int(ch) for ch in name[2:])))
                elif name.startswith("P_"):
                    lambdify_ball((t_,), diagonal_expr(act, int(name[2:])))
                else:
                    lambdify_ball((t_,), psi_expr(act, int(name[2:])))
    except NoClosedFormError as exc:
        return f"GLU units of activation {act.name!r}: {exc}"
    return ""


@functools.lru_cache(maxsize=None)
def _missing_ball_form(act) -> str:
    """Why ``act`` has no ``arb`` kernel partials up to the Hessian ("" when it has them); cached,
    since compiling is the costly part and a failure is not cached by :func:`lambdify_ball`."""
    try:
        require_closed_form(act)
    except NoClosedFormError as exc:
        return (f"{exc}; quadrature has no rigorous error bound in symland, so there is no ball enclosure "
                "and no certificate")
    try:
        for index in _HESSIAN_INDICES:
            lambdify_ball(KERNEL_ARGS, kernel_partial_expr(act, index))
    except NoClosedFormError as exc:
        return str(exc)
    return ""


def enclose(problem, theta, dps: int = 50, order: int = 2) -> Evaluation:
    r"""Rigorous enclosures of the loss (order 0), gradient (1) and Hessian (2) on a box (plain
    problems and problems with GLU units).

    ``theta``: one entry per parameter, each a float, int, mpmath number or decimal string (a
    point: the exact binary value, or a ball containing the decimal) or a ``(mid, rad)`` tuple or
    a python-flint ``arb`` (a ball).  Returns an
    :class:`~symland.problems.gram.Evaluation` whose ``loss`` is an ``arb`` and whose
    ``gradient``/``hessian`` are numpy object arrays of ``arb``, each containing the exact value
    at every point of the box, computed with ``dps`` (+ guard) digits.  Plain and GLU problems
    with a closed-form kernel only (:class:`~symland.errors.NoClosedFormError` otherwise); pairs of
    neurons that may be aligned within the box where a kinked kernel is singular, and zero-norm
    neurons, raise :class:`~symland.errors.DomainError`.
    """
    require_ball_form(problem)
    if isinstance(order, bool) or order not in (0, 1, 2):
        raise DomainError(f"argument order must be 0 (loss), 1 (+ gradient) or 2 (+ Hessian), got {order!r}")
    return problem._assembly.evaluate(theta, BallPrecision(check_dps(dps)), order)


def has_ball_form(problem) -> bool:
    """True when :func:`require_ball_form` passes (plain problem, closed-form ``arb`` kernels)."""
    try:
        require_ball_form(problem)
    except NoClosedFormError:
        return False
    return True


def _digits_short(ev, order, dps) -> int:
    """How many digits the widest ball of ``ev`` lacks for radius <= 10^-dps of its array's scale
    (0 when none)."""
    short = 0
    parts = [np.array([ev.loss], dtype=object)] + [x for x in (ev.gradient, ev.hessian)[:order] if x is not None]
    for x in parts:
        scale = max(1.0, max(abs(float(v.mid())) for v in x.ravel()) if x.size else 1.0)
        worst = max(float(v.rad()) for v in x.ravel()) if x.size else 0.0
        if not worst <= 10.0 ** (-dps) * scale:
            short = max(short, int(math.ceil(math.log10(worst / scale))) + dps + 1 if worst > 0 else 0)
    return short


def midpoint_evaluation(problem, theta, dps: int, order: int):
    r"""The loss (and gradient, Hessian up to ``order``) at the point ``theta`` as mpmath numbers:
    the midpoints of :func:`enclose` at ``dps`` digits, or ``None`` when the problem has no ball
    form, a ball is not finite at ``theta`` (a kinked kernel at an aligned pair) or a radius is not
    below $10^{-\text{dps}}\max(1, \max|\text{entries}|)$ (the midpoint would not carry ``dps``
    digits) even after one retry with the digits it lacked; the caller then evaluates in mpmath."""
    if not has_ball_form(problem):
        return None
    work = dps
    for _ in range(2):
        try:
            ev = enclose(problem, theta, work, order)
        except DomainError:
            return None
        lost = _digits_short(ev, order, dps)
        if lost <= 0:
            break
        if work > dps or dps + lost + 5 > 3 * dps + 50:
            return None
        # near an aligned pair of a kinked kernel the enclosure widens by the digits the cancellation
        # costs: once, with that many more digits (as the mpmath path boosts its precision)
        work = dps + lost + 5
    else:
        return None

    def mids(x):
        return None if x is None else np.vectorize(midpoint_mpf, otypes=[object])(x)

    return Evaluation(midpoint_mpf(ev.loss), mids(ev.gradient) if order >= 1 else None,
                      mids(ev.hessian) if order >= 2 else None)
