r"""Rigorous enclosures of closed-form kernels and their Price partials (python-flint balls).

:func:`kernel_partial_ball` evaluates the same safe form in $(a, b, c, D)$ as the float64 and
mpmath paths (:func:`~symland.kernels.partials.kernel_partial_expr`), compiled for ``arb`` balls by
:func:`~symland.numerics.ball.lambdify_ball`, with $D = ab - c^2$ enclosed as a ball and
intersected with $[0, \infty)$ (valid because $c^2 \le ab$ for every covariance: a ball of inputs
only encloses covariances).  The result contains
$\partial_a^i\partial_b^j\partial_c^l\kappa$ at every point of the input balls.  Quadrature
activations (no closed form) and formulas without an ``arb`` form are refused with
:class:`~symland.errors.NoClosedFormError`; a result that is not a finite ball (inputs touching
$D = 0$ where a partial is singular) with :class:`~symland.errors.DomainError`.
"""

from __future__ import annotations

from ..errors import DomainError
from ..numerics.ball import as_ball, ball_precision, check_ball, lambdify_ball
from ..numerics.symbols import KERNEL_ARGS
from .partials import check_index, kernel_partial_expr, require_closed_form
from .registry import activation

__all__ = ["kernel_partial_ball"]


def kernel_partial_ball(act, index, a, b, c, dps: int = 50):
    """Ball enclosing $\\partial^{index}\\kappa(a, b, c)$ for all $(a, b, c)$ in the input balls
    (numbers are exact balls; see :func:`~symland.numerics.ball.as_ball`), at ``dps`` digits plus
    guard digits.  Returns a python-flint ``arb``."""
    act = activation(act)
    index = check_index(index)
    require_closed_form(act)
    f = lambdify_ball(KERNEL_ARGS, kernel_partial_expr(act, index))
    what = f"ball enclosure of the kernel partial {index} of activation {act.name!r}"
    with ball_precision(dps):
        A, B, C = (as_ball(v, nm) for v, nm in ((a, "a"), (b, "b"), (c, "c")))
        for v, nm in ((A, "a"), (B, "b")):
            if not v.is_finite() or v < 0:
                raise DomainError(f"argument {nm} is a variance: it must be finite and >= 0, got {v}")
        A, B = A.nonnegative_part(), B.nonnegative_part()
        D = A * B - C * C
        if D < 0:
            raise DomainError("argument c: the covariance ball has c**2 > a*b everywhere (not positive semi-definite)")
        return check_ball(f(A, B, C, D.nonnegative_part()), what)
