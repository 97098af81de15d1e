r"""Rigorous enclosures of the loss, gradient and Hessian on a box of parameters (python-flint balls).

:func:`enclose` evaluates a teacher-student problem (plain, with GLU units, or with biases:
kernels with means) with :class:`~symland.numerics.ball.BallPrecision`: every kernel partial is
compiled from its SymPy closed form to ``arb`` (:func:`~symland.numerics.ball.lambdify_ball`; the
bivariate normal CDF of the kernels with means by its rigorous integral) and the assembly runs
on balls, so each returned ball contains the exact value at every point of the box.
:func:`midpoint_evaluation` is the fast face of the same computation: the midpoints as mpmath
numbers (each within its ball's radius, about $10^{-\text{dps}-15}$ relative, of the exact
value), or ``None`` when the problem has no ball form there, for callers that want digits, not
proofs (Newton refinement, classification); python-flint evaluates these kernels 3-4x faster
than mpmath, and Hessians up to 18x faster.
"""

from __future__ import annotations

import functools
import itertools


from ..errors import DomainError, NoClosedFormError
from ..kernels.means import (ball_mean_diagonal_evaluator, ball_mean_partials_evaluator, mean_kernel_expr,
                             mean_kernel_method)
from ..kernels.partials import diagonal_expr, kernel_partial_expr, require_closed_form
from ..numerics.ball import BallPrecision, lambdify_ball
from ..numerics.precision import check_dps
from ..numerics.symbols import KERNEL_ARGS, t_
from .glu import pair_terms, psi_expr
from .glu_assembly import GluAssembly
from .protocol import Evaluation, Landscape
from .means_assembly import MeansAssembly

__all__ = ["enclose", "require_ball_form", "has_ball_form", "midpoint_evaluation"]

#: kernel partials a Hessian needs (checked for an arb form before any work)
_HESSIAN_INDICES = ((0, 0, 0), (1, 0, 0), (0, 0, 1), (2, 0, 0), (1, 1, 0), (1, 0, 1), (0, 0, 2))
#: partials in (a, b, c, mu1, mu2) of a kernel with means up to order 2, and of its diagonal in (t, m)
_MEAN_HESSIAN_INDICES = tuple(tuple(sum(x) for x in zip(*pair))
                              for pair in itertools.combinations_with_replacement(
                                  [(0,) * 5] + [tuple(int(k == j) for k in range(5)) for j in range(5)], 2))
_MEAN_DIAGONAL_INDICES = ((0, 0), (1, 0), (0, 1), (2, 0), (1, 1), (0, 2))


def require_ball_form(problem):
    """:class:`~symland.errors.NoClosedFormError` unless every kernel the problem needs up to its
    Hessian has an ``arb`` form (naming what is missing): plain problems, problems with GLU units
    and problems with biases (kernels with means, the bivariate normal CDF by its rigorous
    integral) whose kernels have closed forms are covered; quadrature kernels and cross kernels of
    two activations without a closed form with means are refused."""
    assembly = getattr(problem, "_assembly", None)
    if assembly is None:  # another landscape of the protocol: its own hook says
        reason = (problem.missing_ball_form() if isinstance(problem, Landscape)
                  else f"argument problem must be a landscape (symland.Landscape), got {type(problem).__name__}")
        if reason:
            raise NoClosedFormError(reason)
        return
    if isinstance(assembly, MeansAssembly):
        reason = _missing_means_ball_form(assembly.activation, assembly.teacher_activation)
        if reason:
            raise NoClosedFormError(f"{problem!r}: {reason}")
        return
    glu = bool(getattr(problem, "glus", 0)) and isinstance(assembly, GluAssembly)
    if not (getattr(problem, "is_plain", False) or glu):
        raise NoClosedFormError(f"{problem!r}: ball enclosures cover plain problems, GLU units and kernels with "
                                "means; this problem is none of them")
    reason = _missing_ball_form(problem.activation) or (_missing_glu_ball_form(problem.activation) if glu else "")
    if reason:
        raise NoClosedFormError(reason)


@functools.lru_cache(maxsize=None)
def _missing_means_ball_form(s, t) -> str:
    r"""Why a problem with biases (student activation ``s``, teacher ``t``) has no ``arb`` form up to
    the Hessian ("" when it has): the closed forms with means of the pairs (s, s), (s, t), (t, t)
    and the diagonals of ``s`` and ``t``, each partial up to order 2 compiled to ``arb`` (without a
    closed form with means a pair takes quadrature or a cross kernel; neither has a ball form)."""
    try:
        for u, v in dict.fromkeys([(s, s), (s, t), (t, t)]):
            if mean_kernel_expr(u, v) is None:
                raise NoClosedFormError(
                    f"the pair ({u.name}, {v.name}) has no closed-form kernel with means (symland computes it by "
                    f"{mean_kernel_method(u, v)} or a cross kernel); quadrature has no rigorous error bound in "
                    "symland, so there is no ball enclosure")
            ball_mean_partials_evaluator(u, v, _MEAN_HESSIAN_INDICES)
        for u in dict.fromkeys([s, t]):
            for index in _MEAN_DIAGONAL_INDICES:
                ball_mean_diagonal_evaluator(u, index)
    except NoClosedFormError as exc:
        return f"kernels with means of activation {s.name!r} (teacher {t.name!r}): {exc}"
    return ""


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
    problems, problems with GLU units and problems with biases).

    ``theta``: one entry per parameter, each a float, int, mpmath number or decimal string (a
    point: the exact binary value, or a ball containing the decimal) or a ``(mid, rad)`` tuple or
    a python-flint ``arb`` (a ball).  Returns an
    :class:`~symland.problems.gram.Evaluation` whose ``loss`` is an ``arb`` and whose
    ``gradient``/``hessian`` are numpy object arrays of ``arb``, each containing the exact value
    at every point of the box, computed with ``dps`` (+ guard) digits.  Problems whose kernels
    have closed forms only (:class:`~symland.errors.NoClosedFormError` otherwise); pairs of
    neurons that may be aligned within the box where a kinked kernel is singular, and zero-norm
    neurons, raise :class:`~symland.errors.DomainError`.
    """
    require_ball_form(problem)
    if isinstance(order, bool) or order not in (0, 1, 2):
        raise DomainError(f"argument order must be 0 (loss), 1 (+ gradient) or 2 (+ Hessian), got {order!r}")
    return getattr(problem, "_assembly", problem).evaluate(theta, BallPrecision(check_dps(dps)), order)


def has_ball_form(problem) -> bool:
    """True when :func:`require_ball_form` passes (every kernel the problem needs has an ``arb`` form)."""
    try:
        require_ball_form(problem)
    except NoClosedFormError:
        return False
    return True


def midpoint_evaluation(problem, theta, dps: int, order: int, hint: dict | None = None):
    r"""The loss (and gradient, Hessian up to ``order``) at the point ``theta`` as mpmath numbers:
    the midpoints of :func:`enclose` at ``dps`` digits, or ``None`` when the problem has no ball
    form, a ball is not finite at ``theta`` (a kinked kernel at an aligned pair) or a radius is not
    below $10^{-\text{dps}}\max(1, \max|\text{entries}|)$ (the midpoint would not carry ``dps``
    digits) even after one retry with the digits it lacked; the caller then evaluates in mpmath.

    ``hint``: a dict a caller evaluating a sequence of nearby points keeps between calls
    (``hint["extra"]``: the digits beyond ``dps`` the last evaluation needed), so that near an
    aligned pair each evaluation starts at the digits it will need instead of retrying."""
    if not has_ball_form(problem):
        return None
    extra = 0 if hint is None else max(0, int(hint.get("extra", 0)))
    work = dps + extra
    for attempt in range(2):
        try:
            ev = enclose(problem, theta, work, order)
        except DomainError:
            return None
        lost = ev.digits_short(order, dps)
        if lost <= 0:
            break
        if attempt or dps + lost + extra + 5 > 3 * dps + 50:
            return None
        # near an aligned pair of a kinked kernel the enclosure widens by the digits the cancellation
        # costs: once, with that many more digits (as the mpmath path boosts its precision)
        work += lost + 5
    if hint is not None:
        hint["extra"] = work - dps
    return ev.midpoints(order)
