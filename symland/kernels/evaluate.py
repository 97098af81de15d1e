r"""Numeric evaluation of an activation's dual kernel, its Price partials and its diagonal.

For a centred Gaussian pair with covariance $[[a, c], [c, b]]$ and $D = ab - c^2$:

* :func:`kernel` $\kappa(a, b, c, \mu_1, \mu_2) = E[s(u)s(v)]$ (with means: neurons with
  biases, :func:`symland.kernels.means.kernel_with_means`);
* :func:`kernel_partial` $\partial_a^i\partial_b^j\partial_c^l\kappa = 2^{-i-j}E[s^{(2i+l)}(u)s^{(2j+l)}(v)]$
  (Price), :func:`expectation` $E[s^{(p)}(u)s^{(q)}(v)]$;
* :func:`diagonal` $\varphi^{(m)}(t)$, $\varphi(t) = \kappa(t, t, t) = E[s(u)^2]$, $u \sim N(0, t)$.

Each in float64 (``dps=None``, numpy broadcasting) or as one mpmath number with ``dps``
correct digits, evaluated in a :class:`~symland.numerics.precision.Precision` context
(guard digits, and more near alignment where the safe form cancels).  The path: the
compiled safe closed form (:mod:`symland.kernels.partials`), else the 1-D reduction of a
kinked activation with a mean function (SELU, :mod:`symland.kernels.cross`), else 2-D
quadrature split at the kinks by parts (:mod:`symland.kernels.fallback`), else quadrature of
classical derivatives (:mod:`symland.kernels.quadrature`).  :func:`partial_evaluator` and
:func:`diagonal_evaluator` are the array functions behind them, for problem classes that
assemble losses over many neuron pairs.
"""

from __future__ import annotations

import functools

import numpy as np
import sympy

from . import fallback
from .activation import Activation
from .cross import cross_partial_evaluator
from .gaussian_atoms import mean_function, mu, sigma
from .means import kernel_with_means
from .partials import (
    check_index, diagonal_expr, exact_partial_expr, expectation_index, kernel_partial_expr, require_closed_form,
    singular_at_alignment,
)
from ..errors import DomainError
from ..numerics.compile import compile_mpmath, compile_numpy
from .quadrature import derivative_function, expect1_float, expect1_mp, expect2_float, expect2_mp
from .registry import activation
from ..numerics.precision import (
    ALIGNMENT_THRESHOLD, Precision, alignment_digits, check_covariance, gram_determinant, mp_gram_determinant,
    mp_kernel_arguments,
)
from ..numerics.ball import as_ball, lambdify_ball, may_be_zero, unbounded_ball
from ..numerics.mpcontext import thread_mp
from ..numerics.symbols import KERNEL_ARGS, D_, a_, b_, c_, t_, z

__all__ = [
    "kernel",
    "kernel_partial",
    "expectation",
    "diagonal",
    "partial_evaluator",
    "diagonal_evaluator",
    "ball_partial_evaluator",
    "ball_diagonal_evaluator",
]


def _nan_on_pole(f):
    """mpmath raises on 1/0 where numpy returns inf: map poles to NaN so callers' finiteness checks see them."""

    def g(*args):
        try:
            return f(*args)
        except ZeroDivisionError:
            return thread_mp.mpf("nan")

    return g


@functools.lru_cache(maxsize=None)
def partial_evaluator(act: Activation, index, mp: bool, raw: bool = False):
    r"""Function ``(a, b, c, D) -> partial`` on arrays.

    Float64 (``mp=False``): numpy arrays (with ``raw=True`` the compiled
    function itself, which may return a scalar for constant partials or an
    input array unchanged).  mpmath (``mp=True``): numpy object
    arrays of ``mpf`` evaluated at the current ``thread_mp.dps``.
    """
    i, j, l = check_index(index)
    if act.has_closed_form:
        expr = kernel_partial_expr(act, (i, j, l))
        value = (i, j, l) == (0, 0, 0)
        if not mp:
            f = compile_numpy(expr)
            if singular_at_alignment(act) or act.homogeneity_degree is not None:
                f = _aligned_float(act, (i, j, l), f)
            if value:
                f = _at_zero_variance_float(act, f)
            if raw:  # the caller broadcasts constants and copies results aliasing an input
                return f
            return lambda a, b, c, D: np.asarray(f(a, b, c, D) * np.ones(np.shape(a)), dtype=float)
        one = _nan_on_pole(compile_mpmath(expr))
        if singular_at_alignment(act) or act.homogeneity_degree is not None:
            one = _aligned_mp(act, (i, j, l), one)
        fv = np.frompyfunc(_at_zero_variance_mp(act, one) if value else one, 4, 1)
        return lambda a, b, c, D: fv(a, b, c, D)
    if fallback.reducible(act):  # kinked, with a closed-form mean function (SELU): 1-D reduction
        return cross_partial_evaluator(act, act, (i, j, l), mp)
    if fallback.nonsmooth(act):  # other kinked activations: 2-D quadrature split at the kinks, by parts
        ev = fallback.kinked_quadrature_evaluator(act, act, (i, j, l, 0, 0), mp)
        return lambda a, b, c, D: ev(a, b, c, D, 0, 0)
    p, q = 2 * i + l, 2 * j + l
    scale = 0.5 ** (i + j)
    what = f"activation {act.name!r}"
    f, g = derivative_function(act.expr, p, mp, what), derivative_function(act.expr, q, mp, what)
    if not mp:
        return lambda a, b, c, D: scale * expect2_float(f, g, a, b, c, D)

    def one(a, b, c, D):
        return expect2_mp(f, g, a, b, c, D, thread_mp.dps) / 2 ** (i + j)

    fv = np.frompyfunc(one, 4, 1)
    return lambda a, b, c, D: fv(a, b, c, D)


# ---------------------------------------------------------------------------
# boundary points of closed forms: zero variance, tiny and huge scales
# ---------------------------------------------------------------------------
@functools.lru_cache(maxsize=None)
def _zero_variance_parts(act: Activation):
    r"""$(s(0), M)$ with $M(t) = E[s(\sqrt t\,y)]$, $y \sim N(0, 1)$, as a SymPy expression in
    :data:`~symland.numerics.symbols.t_` (``None`` when the activation has no closed-form mean).

    At zero variance on one side ($a = 0$, so $u = 0$ and $c = 0$) the kernel is
    $\kappa(0, b, 0) = s(0)\,E[s(v)] = s(0)\,M(b)$, and $\kappa(0, 0, 0) = s(0)^2$: the value of
    the activation *at* 0 (``Heaviside(0) = 1/2``, ``sign(0) = 0``), which the closed forms in
    $\theta = \arccos(c/\sqrt{ab})$ cannot see (they take $\theta = 0$ there).
    """
    s0 = sympy.nsimplify(act.expr.subs(z, 0))
    m = mean_function(act.expr)
    if m is None:
        return s0, None
    return s0, sympy.simplify(m.subs(mu, 0).subs(sigma, sympy.sqrt(t_)))


@functools.lru_cache(maxsize=None)
def _zero_variance_value(act, mp: bool):
    """``t -> kappa(0, t, 0)`` for one number ``t`` (float or mpf)."""
    s0, m = _zero_variance_parts(act)
    if s0 == 0:
        return lambda t: thread_mp.mpf(0) if mp else 0.0
    if m is not None:
        f = variance_function_evaluator(m, mp)
    else:
        f = heat_evaluator(act.expr, 0, mp, f"the mean of activation {act.name!r}")
    if mp:
        return lambda t: thread_mp.mpf(s0) * (thread_mp.mpf(s0) if t == 0 else np.asarray(f(np.array(t, dtype=object))).item())
    return lambda t: float(s0) * (float(s0) if t == 0 else float(np.asarray(f(np.array(t, dtype=float)))))


def _at_zero_variance_float(act, f):
    """``f`` (float64 kernel value) with entries at ``a == 0`` or ``b == 0`` replaced by
    :func:`_zero_variance_parts`' exact value."""
    def g(a, b, c, D):
        out = f(a, b, c, D)
        zero = (np.asarray(a) == 0) | (np.asarray(b) == 0)
        if not np.any(zero):
            return out
        out = np.array(out * np.ones(np.shape(zero)), dtype=float)
        value = _zero_variance_value(act, False)
        A, B = np.broadcast_to(a, zero.shape), np.broadcast_to(b, zero.shape)
        for k in np.flatnonzero(zero):
            out.flat[k] = value(A.flat[k] + B.flat[k])  # the other variance (both zero: t = 0)
        return out
    return g


def _at_zero_variance_mp(act, f):
    """The mpmath scalar kernel ``f`` with the zero-variance value of :func:`_zero_variance_parts`."""
    def g(a, b, c, D):
        if a == 0 or b == 0:
            return _zero_variance_value(act, True)(a + b)
        return f(a, b, c, D)
    return g


_POSITIVE_A, _POSITIVE_B = sympy.Symbol("a", positive=True), sympy.Symbol("b", positive=True)
_ANGLE = sympy.Symbol("theta", positive=True)


@functools.lru_cache(maxsize=None)
def alignment_limit_expr(act: Activation, index, sign: int):
    r"""$\lim \partial^{index}\kappa$ as the pair aligns ($c \to \sqrt{ab}$, ``sign`` $= 1$) or
    anti-aligns ($c \to -\sqrt{ab}$, ``sign`` $= -1$), in ``a, b``; ``None`` when it is infinite.

    The safe forms in $D = ab - c^2$ are $0/0$ at $D = 0$ for kernels that are smooth there
    (relu_pow2, relu_pow3: their gradients exist at exactly aligned neurons).  The limit is taken
    on the exact kernel along $c = \sqrt{ab}\cos\theta$, $\theta \to 0^+$ (or
    $\theta \to \pi^-$), where the partial is continuous up to the boundary when the limit is
    finite (SymPy ``limit``; a few seconds, once per activation, index and side).
    """
    e = exact_partial_expr(act, index).subs({a_: _POSITIVE_A, b_: _POSITIVE_B})
    angle = _ANGLE if sign > 0 else sympy.pi - _ANGLE
    e = e.subs(c_, sympy.sqrt(_POSITIVE_A * _POSITIVE_B) * sympy.cos(angle))
    try:
        lim = sympy.simplify(sympy.limit(e, _ANGLE, 0, "+"))
    except (NotImplementedError, ValueError):
        return None
    if lim.has(sympy.oo, -sympy.oo, sympy.zoo, sympy.nan, sympy.Limit) or lim.free_symbols - {_POSITIVE_A, _POSITIVE_B}:
        return None
    return lim.subs({_POSITIVE_A: a_, _POSITIVE_B: b_})


@functools.lru_cache(maxsize=None)
def removable_at_alignment(act: Activation, index) -> bool:
    r"""True when the safe form of the partial is $0/0$ at $D = 0$ although the partial has a finite
    limit there (:func:`alignment_limit_expr`): then float64 loses about $\tfrac12\log_{10}(ab/D)$
    digits to cancellation as the pair aligns (relu_pow2 and relu_pow3 first partials)."""
    e = kernel_partial_expr(act, index).subs(
        {a_: sympy.Rational(7, 5), b_: sympy.Rational(9, 7), c_: sympy.Rational(3, 4), D_: 0})
    if not (e.has(sympy.zoo, sympy.oo, -sympy.oo, sympy.nan) or e.is_finite is False):
        return False
    return alignment_limit_expr(act, index, 1) is not None or alignment_limit_expr(act, index, -1) is not None


#: D / (ab) below which partials that cancel near (anti-)alignment (:func:`cancels_near_alignment`)
#: are evaluated with more digits: in float64 the relu_pow3 partial (2, 0, 0) had lost 4 digits
#: at D/ab = 0.02 and all of them (a wrong sign) at 2e-6
CANCELLATION_THRESHOLD = 0.25
#: the digits lost near alignment by those partials, as a power of ab/D (measured up to 2.8 for
#: relu_pow2 and relu_pow3 partials of order <= 4)
CANCELLATION_POWER = 3
#: relative error of a float64 safe form beyond which it counts as cancelling near alignment
_CANCELLATION_TOLERANCE = 1e-14


@functools.lru_cache(maxsize=None)
def cancels_near_alignment(act: Activation, index, sign: int) -> bool:
    r"""True when the float64 safe form of the partial loses digits as $D/(ab) \to 0$ with
    $c > 0$ (``sign`` $= 1$, alignment) or $c < 0$ (``sign`` $= -1$, anti-alignment).

    Measured once per activation, index and side: the compiled float64 safe form against the same
    form at 40 digits, at $a = 1, b = 2$, $c = $ ``sign`` $\sqrt2(1 - \delta)$, $\delta = 10^{-3},
    10^{-4}, 10^{-5}$; a relative error above ``1e-14`` at any of them means cancellation (the
    relu_pow2 and relu_pow3 partials: terms in $D^{-k/2}$ that nearly cancel).  Only kinked
    closed forms (:func:`~symland.kernels.partials.singular_at_alignment`) are measured; smooth
    kernels are analytic across $D = 0$."""
    if not act.has_closed_form or not singular_at_alignment(act):
        return False
    expr = kernel_partial_expr(act, index)
    f, g = compile_numpy(expr), compile_mpmath(expr)
    for delta in (1e-3, 1e-4, 1e-5):
        a, b, c = 1.0, 2.0, sign * 2.0**0.5 * (1 - delta)
        D = float(gram_determinant(a, b, c))
        with np.errstate(all="ignore"):
            got = float(np.asarray(f(a, b, c, D)))
        with thread_mp.workdps(40):
            A, B, C = thread_mp.mpf(a), thread_mp.mpf(b), thread_mp.mpf(c)
            ref = g(A, B, C, A * B - C * C)
            if ref != 0 and not abs(got - ref) <= _CANCELLATION_TOLERANCE * abs(ref):
                return True
    return False


def _near_alignment_digits(ratio) -> int:
    r"""Digits an evaluation of a cancelling partial (:func:`cancels_near_alignment`) loses at
    ``ratio`` $= D/(ab)$, plus guard (0 outside :data:`CANCELLATION_THRESHOLD`)."""
    return alignment_digits(ratio, CANCELLATION_POWER, threshold=CANCELLATION_THRESHOLD)


def _consistent_covariance(a, b, c, D):
    r"""$\operatorname{sign}(c)\sqrt{ab - D}$ at the current mpmath precision: the covariance that
    makes $(a, b, c, D)$ consistent ($D = ab - c^2$) to working precision.

    A safe form that cancels near alignment amplifies any inconsistency between $c^2$ and
    $ab - D$ by up to $(ab/D)^3$; the caller's $D$ (from the residual vector of the weights, or
    from exact products) is the accurate quantity, so $c$ is the one adjusted (a relative change
    of the order of the rounding of the inputs)."""
    root = thread_mp.sqrt(thread_mp.mpf(a) * b - D)
    return root if c > 0 else -root


def _aligned_float(act, index, f):
    r"""``f`` for the pairs where its float64 safe form fails.  At $D = 0$: the limit
    :func:`alignment_limit_expr` for partials that are $0/0$ there (:func:`removable_at_alignment`).
    For $0 < D <$ :data:`CANCELLATION_THRESHOLD` $\cdot ab$, partials that cancel
    (:func:`cancels_near_alignment`): the safe form in mpmath with the digits the cancellation
    costs (:func:`_near_alignment_digits`), rounded to float64; and for
    $0 < D < 10^{-6}ab$ also the removable ones.  Other partials and other pairs are left to ``f``."""
    def g(a, b, c, D):
        out = f(a, b, c, D)
        av, bv, dv = np.asarray(a), np.asarray(b), np.asarray(D)
        with np.errstate(all="ignore"):
            near = (av > 0) & (bv > 0) & (dv < CANCELLATION_THRESHOLD * av * bv)
        # decided only when a pair is near alignment: the symbolic limits take seconds
        if not np.any(near):
            return out
        cv = np.asarray(c)
        with np.errstate(all="ignore"):
            close = near & (dv < ALIGNMENT_THRESHOLD * av * bv)
        removable = bool(np.any(close)) and removable_at_alignment(act, index)
        cancels = near & (((cv > 0) & cancels_near_alignment(act, index, 1))
                          | ((cv < 0) & cancels_near_alignment(act, index, -1)))
        near = (close & removable) | cancels
        if not np.any(near):
            return out
        exact = compile_mpmath(kernel_partial_expr(act, index))
        out = np.array(out * np.ones(np.shape(near)), dtype=float)
        A, B, C, DD = (np.broadcast_to(v, near.shape) for v in (a, b, c, D))
        for k in np.flatnonzero(near):
            ak, bk, ck, dk = (float(v.flat[k]) for v in (A, B, C, DD))
            if dk == 0:
                if removable:
                    lim = alignment_limit_expr(act, index, 1 if ck > 0 else -1)
                    out.flat[k] = np.nan if lim is None else float(compile_numpy(lim)(ak, bk, ck, 0.0))
                continue
            extra = max(_near_alignment_digits(dk / (ak * bk)), alignment_digits(dk / (ak * bk), 1.5))
            with thread_mp.workdps(20 + extra):
                am, bm, dm = (thread_mp.mpf(v) for v in (ak, bk, dk))
                out.flat[k] = float(exact(am, bm, _consistent_covariance(am, bm, ck, dm), dm))
        return out
    return g


def _aligned_mp(act, index, f):
    r"""The mpmath scalar ``f`` with :func:`alignment_limit_expr` at exactly (anti-)aligned pairs and,
    near them, the digits a cancelling safe form costs: power 3 of
    :func:`~symland.numerics.precision.alignment_digits` below :data:`CANCELLATION_THRESHOLD` for
    :func:`cancels_near_alignment`, power 3/2 below ``1e-6`` for :func:`removable_at_alignment`."""
    def g(a, b, c, D):
        if a > 0 and b > 0 and 0 < D < CANCELLATION_THRESHOLD * a * b:
            ratio = D / (a * b)
            extra = _near_alignment_digits(ratio) if cancels_near_alignment(act, index, 1 if c > 0 else -1) else 0
            if not extra and ratio < ALIGNMENT_THRESHOLD and removable_at_alignment(act, index):
                extra = alignment_digits(ratio, 1.5)
            if extra:
                with thread_mp.workdps(thread_mp.dps + extra):
                    return +f(a, b, _consistent_covariance(a, b, c, D), D)
        val = f(a, b, c, D)
        if D == 0 and a > 0 and b > 0 and not thread_mp.isfinite(val):
            lim = alignment_limit_expr(act, index, 1 if c > 0 else -1)
            if lim is not None:
                return compile_mpmath(lim)(a, b, c, D)
        return val
    return g


def _diagonal_at_zero(act, f, mp: bool):
    r"""$\varphi(t) = E[s(u)^2]$ with $\varphi(0) = s(0)^2$ (:func:`_zero_variance_parts`): the closed
    form in $t$ is the limit $t \to 0^+$, which differs for a jump at 0 (step: $1/2$, not $1/4$)."""
    s0, _ = _zero_variance_parts(act)
    at_zero = s0**2

    def g(t):
        out = f(t)
        zero = np.asarray(t) == 0
        if not np.any(zero):
            return out
        out = np.array(out * np.ones(zero.shape), dtype=object if mp else float)
        out[zero] = thread_mp.mpf(at_zero) if mp else float(at_zero)
        return out
    return g


#: float64 covariances with max(a, b) outside [2**-RESCALE_EXP, 2**RESCALE_EXP] are rescaled
#: (homogeneous activations; the scaling by a power of 2 is exact)
RESCALE_EXP = 100


def _scale_exponents(act, a, b):
    r"""Per entry the power of 2, $e$, by which :func:`kernel_partial` divides $(a, b, c)$ in float64.

    For an activation homogeneous of degree $p$ ($s(tz) = t^p s(z)$, $t > 0$),
    $\partial^{i+j+l}\kappa(\lambda a, \lambda b, \lambda c) = \lambda^{p - (i+j+l)}
    \partial^{i+j+l}\kappa(a, b, c)$; with $\lambda = 2^{-e}$ the scaling is exact.  Without it
    $ab$ (and so $D = ab - c^2$) underflows below about $10^{-154}$, where relu, sign, step and
    abs lose every digit, and overflows above $10^{154}$.  Zero for other activations and for
    entries with $\max(a, b)$ inside $[2^{-R}, 2^{R}]$, $R$ = :data:`RESCALE_EXP`."""
    big = np.maximum(a, b)
    if not act.has_closed_form or act.homogeneity_degree is None:
        return np.zeros(np.shape(big), dtype=int)
    e = np.frexp(big)[1]
    return np.where((big > 0) & (np.abs(e) > RESCALE_EXP), e, 0)


def variance_function_evaluator(expr, mp: bool):
    r"""Array function ``t -> expr(t)`` of a closed form in the variance symbol ``t``.

    float64: numpy-vectorised, broadcast to the shape of ``t``; mpmath: elementwise at the
    current precision, with a pole (``ZeroDivisionError``) mapped to NaN for the caller's
    finiteness check.
    """
    if not mp:
        f = compile_numpy(expr, (t_,))
        return lambda t: np.asarray(f(t) * np.ones(np.shape(t)), dtype=float)
    fv = np.frompyfunc(_nan_on_pole(compile_mpmath(expr, (t_,))), 1, 1)
    return lambda t: fv(t)


def heat_evaluator(h_expr, order: int, mp: bool, what: str):
    r"""Array function ``t -> E[h^{(order)}(u)]``, $u \sim N(0, t)$, by 1-D Gauss quadrature.

    With $h = g/2^m$ and ``order`` $= 2m$ this is $\tfrac{d^m}{dt^m}E[g(u)]$ (heat equation:
    $\partial_t E[g(u)] = \tfrac12 E[g''(u)]$).  ``h_expr`` must have classical derivatives
    (:func:`~symland.kernels.quadrature.derivative_function` raises otherwise, naming ``what``).
    """
    h = derivative_function(h_expr, order, mp, what)
    if not mp:
        return lambda t: expect1_float(h, t)
    fv = np.frompyfunc(lambda t: expect1_mp(h, t, thread_mp.dps), 1, 1)
    return lambda t: fv(t)


@functools.lru_cache(maxsize=None)
def diagonal_evaluator(act: Activation, m: int, mp: bool):
    r"""Function ``t -> phi^(m)(t)`` on arrays, $\varphi(t) = \kappa(t, t, t) = E[s(u)^2]$.

    Closed form where the kernel has one; kinked activations by parts (split at the kinks);
    otherwise $\varphi^{(m)}(t) = E[(s^2/2^m)^{(2m)}(u)]$ by quadrature (heat equation).
    """
    if act.has_closed_form:
        f = variance_function_evaluator(diagonal_expr(act, m), mp)
        return _diagonal_at_zero(act, f, mp) if m == 0 else f
    if fallback.nonsmooth(act):  # kinks and jumps: by parts, split at the kinks
        return fallback.kinked_diagonal_evaluator(act, m, mp)
    return heat_evaluator(act.expr**2 / 2**m, 2 * m, mp, f"the diagonal of activation {act.name!r}")


# ---------------------------------------------------------------------------
# ball arithmetic (python-flint arb): rigorous enclosures on numpy object arrays of balls
# ---------------------------------------------------------------------------
@functools.lru_cache(maxsize=None)
def ball_partial_evaluator(act: Activation, index):
    r"""Function ``(a, b, c, D) -> partial`` on object arrays of ``arb`` balls (call it inside
    :func:`~symland.numerics.ball.ball_precision`): each entry a ball containing
    $\partial^{index}\kappa(a, b, c)$ for every covariance in the input balls.

    The same safe form in $(a, b, c, D)$ as float64 and mpmath
    (:func:`~symland.kernels.partials.kernel_partial_expr`), compiled by
    :func:`~symland.numerics.ball.lambdify_ball`; ``D`` must be a ball containing $ab - c^2$
    (:meth:`~symland.numerics.ball.BallPrecision.gram_determinant`).  Evaluating $a, b, c, D$ as
    independent balls only widens the result, so it stays an enclosure.  Entries are the
    non-finite ball (the caller's finiteness check names the pair) where no finite enclosure is
    valid: a variance ball that contains 0 (the closed forms are the limit $a \to 0^+$, which is
    not the value at 0 for a jump), or a singular point of the formula (e.g. $1/\sqrt D$ with
    $0 \in D$ near alignment).  Activations without a closed form raise
    :class:`~symland.errors.NoClosedFormError` (no rigorous quadrature in symland), as do formulas
    with a function that has no ``arb`` form.
    """
    index = check_index(index)
    require_closed_form(act)
    f = lambdify_ball(KERNEL_ARGS, kernel_partial_expr(act, index))

    def one(a, b, c, D):
        if may_be_zero(a) or may_be_zero(b):
            return unbounded_ball()
        return as_ball(f(a, b, c, D))  # a constant partial compiles to a Python number

    fv = np.frompyfunc(one, 4, 1)
    return lambda a, b, c, D: np.asarray(fv(a, b, c, D), dtype=object)


@functools.lru_cache(maxsize=None)
def ball_diagonal_evaluator(act: Activation, m: int):
    r"""Function ``t -> phi^(m)(t)`` on object arrays of ``arb`` balls, $\varphi(t) = E[s(u)^2]$,
    $u \sim N(0, t)$: the closed form :func:`~symland.kernels.partials.diagonal_expr` compiled by
    :func:`~symland.numerics.ball.lambdify_ball`; the non-finite ball where ``t`` may be 0 (the closed
    form is the limit $t \to 0^+$; a zero-norm neuron is refused by the caller)."""
    require_closed_form(act)
    f = lambdify_ball((t_,), diagonal_expr(act, m))
    fv = np.frompyfunc(lambda t: unbounded_ball() if may_be_zero(t) else as_ball(f(t)), 1, 1)
    return lambda t: np.asarray(fv(t), dtype=object)


# ---------------------------------------------------------------------------
# user-facing evaluation with input validation
# ---------------------------------------------------------------------------
def _nonfinite_error(act, what, a, b, c):
    return DomainError(
        f"{what} of activation {act.name!r} is not finite at a={a}, b={b}, c={c}: the kernel "
        "derivative is singular there (zero variance, or c**2 = a*b for a non-smooth activation)"
    )


def _zero_variance_error(act, what):
    return DomainError(
        f"{what} of activation {act.name!r} is undefined at zero variance (a = 0 or b = 0): "
        "the derivative of a non-smooth activation at 0 has no value"
    )


#: smallest magnitude of a float64 result symland returns: 2**-1034, whose subnormal rounding
#: (absolute 2**-1075) is at most 2**-41 = 4.5e-13 relative; a nonzero value below it raises
SMALLEST_TRUSTED = 2.0**-1034


def _representable(val, out) -> bool:
    """True when ``out`` (float64) is the value ``val`` to within :data:`SMALLEST_TRUSTED`'s relative rounding."""
    return bool(np.isfinite(out)) and (val == 0 or abs(out) >= SMALLEST_TRUSTED)


def _unrepresentable_error(act, what, a, b, c, value):
    """DomainError for a (correct) value that float64 cannot hold: overflow, or below its normal range."""
    rule = "overflows float64 (its magnitude is above 1.8e308)" if abs(value) > 1 else \
        f"underflows float64 (its magnitude is below {SMALLEST_TRUSTED:.1e}, where a subnormal float " \
        "keeps fewer than 12 digits)"
    return DomainError(f"{what} of activation {act.name!r} at a={a}, b={b}, c={c} is not representable: "
                       f"its value {rule}; use dps=... for it")


def _rounded_from_mpmath(act, index, what, a, b, c) -> float:
    r"""The partial at one float64 covariance, evaluated in mpmath (20 digits) and rounded to float64.

    Raises DomainError when the value is not representable in float64 (non-zero below the normal
    range, or above the largest float), and passes on the mpmath path's DomainError where the
    partial itself is not finite."""
    val = kernel_partial(act, index, a, b, c, dps=20)
    out = float(val)
    if not _representable(val, out):
        raise _unrepresentable_error(act, what, a, b, c, out)
    return out


#: float64 covariances of closed-form kernels that are not homogeneous, with an entry of magnitude
#: above 2**FLOAT_SAFE_EXP, are evaluated in mpmath and rounded: the safe
#: forms multiply variances up to the 9th power (order-4 gelu partials) and exponentiate them
FLOAT_SAFE_EXP = 30


def _extreme_entries(act, a, b, c, out):
    r"""Mask of the entries that :func:`_kernel_partial_float` recomputes in mpmath.

    Non-homogeneous closed forms: a non-finite float64 value (overflow in an intermediate, such as
    $e^{-(a+b)/2}\sinh c$ = 0 * inf for ``sin``, or $D = ab - c^2$ overflowing in ``erf``), or a
    covariance entry of magnitude above $2^{E}$, $E$ = :data:`FLOAT_SAFE_EXP` (where
    intermediate powers can under- or overflow while the value itself is representable: ``gauss``
    partials at $a = 10^{100}$ came back as 0 instead of $5\cdot10^{-262}$).  Homogeneous ones
    are rescaled exactly instead (:func:`_scale_exponents`) and never recomputed here.  (Tiny
    entries are harmless: the non-homogeneous safe forms are accurate down to subnormal values.)"""
    if act.homogeneity_degree is not None:
        return np.zeros(out.shape, dtype=bool)
    with np.errstate(all="ignore"):
        big = np.maximum.reduce([np.abs(v) for v in (a, b, c)]) > 2.0**FLOAT_SAFE_EXP
    return ~np.isfinite(out) | big


def _kernel_partial_float(act, index, what, a, b, c):
    r"""float64 branch of :func:`kernel_partial` (numpy broadcasting over ``a, b, c``).

    Homogeneous activations are evaluated on the covariance divided by an exact power of 2
    (:func:`_scale_exponents`) and scaled back; non-homogeneous ones at extreme or overflowing
    entries in mpmath (:func:`_extreme_entries`); kinked kernels near anti-alignment, where they
    vanish like $\theta^3$ while the safe form subtracts $O(1)$ terms, in mpmath.  A value float64
    cannot represent raises :class:`~symland.errors.DomainError`, as does a partial that is not
    finite (a kinked activation's partial at zero variance or at $c^2 = ab$)."""
    nonsmooth = singular_at_alignment(act)
    a, b, c = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (a, b, c)))
    with np.errstate(all="ignore"):
        check_covariance(a, b, c, np.zeros(a.shape))  # finite, variances >= 0 (c**2 <= ab below)
    e = _scale_exponents(act, a, b)
    as_, bs, cs = (np.ldexp(v, -e) for v in (a, b, c))
    with np.errstate(all="ignore"):
        D = check_covariance(as_, bs, cs, gram_determinant(as_, bs, cs))
    if nonsmooth and index != (0, 0, 0) and np.any((a == 0) | (b == 0)):
        raise _zero_variance_error(act, what)
    with np.errstate(all="ignore"):
        scaled = np.array(partial_evaluator(act, index, False)(as_, bs, cs, D), dtype=float)
        # an array even for 0-d input (np.ldexp returns a read-only numpy scalar there)
        out = np.array(np.ldexp(scaled, ((act.homogeneity_degree or 0) - sum(index)) * e), dtype=float)
    if act.has_closed_form:
        for k in np.flatnonzero(_extreme_entries(act, a, b, c, out)):
            out.flat[k] = _rounded_from_mpmath(act, index, what, a.flat[k], b.flat[k], c.flat[k])
    bad = ~np.isfinite(out) & ((e == 0) | ~np.isfinite(scaled))  # singular, not an overflow of the rescaling
    if np.any(bad):
        k = np.flatnonzero(bad)[0]
        raise _nonfinite_error(act, what, a.flat[k], b.flat[k], c.flat[k])
    lost = ~np.isfinite(out) | ((e != 0) & (scaled != 0) & (np.abs(out) < SMALLEST_TRUSTED))
    if np.any(lost):
        k = np.flatnonzero(lost)[0]
        raise _unrepresentable_error(act, what, a.flat[k], b.flat[k], c.flat[k], out.flat[k])
    if nonsmooth:
        # near anti-alignment the value vanishes like theta^3 while the safe form subtracts
        # O(1) terms: recompute those (rare) entries in mpmath and round
        near = (cs < 0) & (D < 0.1 * as_ * bs) & (a > 0) & (b > 0)
        for k in np.flatnonzero(near):
            out.flat[k] = _rounded_from_mpmath(act, index, what, a.flat[k], b.flat[k], c.flat[k])
    return out if out.shape else float(out)


def kernel_partial(act, index, a, b, c, dps=None):
    r"""Evaluate $\partial_a^i\partial_b^j\partial_c^l\kappa(a, b, c)$.

    ``dps=None``: float64, numpy broadcasting over ``a, b, c``.
    ``dps=N``: scalar mpmath number with ``N`` correct digits (guard digits
    are used internally, more near $c^2 = ab$ for non-smooth activations;
    ``N >= 16``).  Float inputs with $c^2$ above $ab$ by rounding only are
    clipped to $c^2 = ab$ in both precisions.
    """
    act = activation(act)
    index = check_index(index)
    what = "kernel" if index == (0, 0, 0) else f"kernel partial {index}"
    nonsmooth = singular_at_alignment(act)
    if dps is None:
        return _kernel_partial_float(act, index, what, a, b, c)
    prec = Precision(dps)
    with prec:
        a, b, c, D = mp_kernel_arguments(a, b, c)  # rounding-level D < 0 clipped as in float64
        if nonsmooth and index != (0, 0, 0) and (a == 0 or b == 0):
            raise _zero_variance_error(act, what)
        # kernels of non-smooth activations vanish like theta^3 as c -> -sqrt(ab) (theta^2 ~ D/ab)
        # while their safe form is a difference of O(1) terms: 3/2 log10(ab/D) more digits
        extra = alignment_digits(D / (a * b) if a * b > 0 else None, 1.5) if nonsmooth else 0
    with prec.working(extra):
        if D > 0:  # exact again at the working precision: the safe forms cancel near alignment
            D = mp_gram_determinant(a, b, c)
        val = partial_evaluator(act, index, True)(
            np.array(a, dtype=object), np.array(b, dtype=object), np.array(c, dtype=object), np.array(D, dtype=object)
        )
        val = val.item() if isinstance(val, np.ndarray) else val
        val = thread_mp.mpmathify(val)
        if not thread_mp.isfinite(val):
            raise _nonfinite_error(act, what, a, b, c)
    return prec.finalize(val)


def expectation(act, p: int, q: int, a, b, c, dps=None):
    r"""$E[s^{(p)}(u)\,s^{(q)}(v)]$ ($p + q$ even) in float64 or at ``dps`` digits."""
    index, factor = expectation_index(p, q)
    val = kernel_partial(act, index, a, b, c, dps=dps)
    if dps is None:
        return val * int(factor)
    with thread_mp.workdps(dps):
        return val * int(factor)


def diagonal(act, m, t, dps=None):
    r"""$\varphi^{(m)}(t)$, $\varphi(t) = E[s(u)^2]$ with $u \sim N(0, t)$."""
    act = activation(act)
    if dps is None:
        t = np.asarray(t, dtype=float)
        if not np.all(np.isfinite(t)) or np.any(t < 0):
            raise DomainError("argument t is a variance and must be finite and >= 0")
        with np.errstate(all="ignore"):
            out = diagonal_evaluator(act, int(m), False)(t)
        if not np.all(np.isfinite(out)):
            raise DomainError(f"phi^({m}) of activation {act.name!r} is not finite at some t (t = 0?)")
        return out if out.shape else float(out)
    prec = Precision(dps)
    with prec:
        t = thread_mp.mpf(t)
        if not thread_mp.isfinite(t) or t < 0:
            raise DomainError("argument t is a variance and must be finite and >= 0")
        val = diagonal_evaluator(act, int(m), True)(np.array(t, dtype=object))
        val = thread_mp.mpmathify(val.item() if isinstance(val, np.ndarray) else val)
        if not thread_mp.isfinite(val):
            raise DomainError(f"phi^({m}) of activation {act.name!r} is not finite at t={t}")
    return prec.finalize(val)


def _all_zero(mu) -> bool:
    """True when a mean argument is (an array of) exact zeros; non-numeric input is left to the kernel."""
    try:
        return bool(np.all(np.asarray(mu, dtype=object) == 0))
    except (TypeError, ValueError):
        return False


def kernel(act, a, b, c, mu1=0.0, mu2=0.0, dps=None):
    r"""$\kappa(a, b, c, \mu_1, \mu_2) = E[s(u)s(v)]$, means $(\mu_1, \mu_2)$ (default 0).

    ``act`` is a registered name or an :class:`~symland.kernels.activation.Activation`.
    ``dps=None``: numpy-vectorised float64 (broadcasting ``a, b, c`` and the means).
    ``dps=N``: one mpmath number at ``N`` decimal digits (scalars only).
    Zero means use the centred kernel (:func:`kernel_partial` at index ``(0, 0, 0)``); nonzero
    means (neurons with biases, $s(w\cdot x + \beta)$) use
    :func:`symland.kernels.means.kernel_with_means` (closed form where one exists,
    quadrature otherwise).  Raises :class:`~symland.errors.DomainError` for negative
    variances, non-finite input or ``c**2 > a*b``.
    """
    act = activation(act)
    if _all_zero(mu1) and _all_zero(mu2):
        return kernel_partial(act, (0, 0, 0), a, b, c, dps=dps)
    return kernel_with_means(act, a, b, c, mu1, mu2, dps=dps)
