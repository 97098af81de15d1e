r"""Cross kernels of two activations: $K_{s,t}(a, b, c) = E[s(u)\,t(v)]$.

$(u, v)$ is a centred Gaussian pair with $\mathrm{Var}\,u = a$ (the first,
"student" argument), $\mathrm{Var}\,v = b$, $\mathrm{Cov}(u, v) = c$, and
$D = ab - c^2$; the symbols are :data:`symland.numerics.symbols.a_`, ``b_``, ``c_``,
``D_``.  $K_{s,s}$ is the dual kernel $\kappa$ of :mod:`symland.kernels.activation`, and
$K_{s,t}(a, b, c) = K_{t,s}(b, a, c)$.

**How closed forms are found.**  An activation expression is split (exactly, by
:mod:`symland.kernels.gaussian_atoms`) into a linear combination of *atoms*: monomials $z^k$,
$\Phi(z/w)$ (``w = 0``: the step), $\max(z,0)^p$, $z\Phi(z/w)$,
$e^{\alpha z^2 + \beta z}$, $\sin\omega z$, $\cos\omega z$, $e^{\beta z}1\{z>0\}$
(erf, sign, abs, leaky ReLU, GELU, SELU ... are such combinations).  Every atom
has a closed-form *mean function* $m(\mu, \sigma) = E[s(\mu + \sigma y)]$,
$y \sim N(0, 1)$.  Pairs of atoms are combined by four rules (derivations and
checks in ``derivations/mixed_kernels.py``):

1. *Polynomial* $t$ of degree $k$ (Price's theorem; $K$ is a polynomial in $c$):
   $K = \sum_{n \le k} \frac{c^n}{n!}\,E[s^{(n)}(u)]\,E[t^{(n)}(v)]$ with
   $E[s^{(n)}(u)] = \partial_\mu^n m_s(0, \sqrt a)$ (distributional derivatives
   are harmless: $m_s$ is smooth for $\sigma > 0$).
2. *Exponential-quadratic* $t = e^{\alpha v^2 + \beta v}$ (exponential tilting):
   $K = Z\,m_s(\mu', \sigma')$, $Z = (1 - 2\alpha b)^{-1/2} e^{\beta^2 b / (2(1-2\alpha b))}$,
   $\mu' = c\beta/(1 - 2\alpha b)$, $\sigma'^2 = (a - 2\alpha D)/(1 - 2\alpha b)$;
   $\sin\omega v$ / $\cos\omega v$ are the imaginary / real part at $\alpha = 0$,
   $\beta = i\omega$ (erf of an imaginary argument becomes erfi).
3. *Orthant*: $E[\Phi(u/w_1)\Phi(v/w_2)] = \tfrac14 + \arcsin\!\big(c/\sqrt{(a+w_1^2)(b+w_2^2)}\big)/(2\pi)$.
4. *Price integration in c from c = 0* for $\max(u,0)^p\,\Phi(v/w)$ ($p \le 3$),
   $u\Phi(u/w_1)\,\Phi(v/w_2)$ (Stein), $\max(u,0)^p\max(v,0)^q$ ($p, q \le 3$),
   and the registered single-activation kernels for equal atoms
   (arc-cosine kernels, GELU).

**Pairs with closed forms** (:func:`has_cross_closed_form`; the README coverage
table lists the partners of each activation): every pair of registered
closed-form activations, parametrised instances included (erf, erf_plain,
normal_cdf, step, sign, relu, relu_pow2, relu_pow3, leaky relu, abs, gelu,
linear, quadratic, monomials and Hermite polynomials of any degree, sin/cos of
any frequency, exp, Gaussian bumps of any width: all 23 x 23 ordered pairs of
the tested set have one).  Not covered: $z\Phi(z/w_1)$ with $z\Phi(z/w_2)$ for
$w_1 \ne w_2$, $\max(z,0)^p$ with $p > 3$ against non-polynomials.  SELU has
closed forms with polynomials, exp and Gaussian bumps only (with sin/cos, $\Phi$,
relu ... a bivariate normal CDF would be needed); tanh, sigmoid, softplus and
silu have none.  Odd $\times$ even pairs are exactly 0.

**Fallback** when a pair has no closed form (:func:`cross_kernel`,
:func:`cross_partial`; the quadratures are in :mod:`symland.kernels.fallback`): if one activation has a mean function (every
closed-form activation, and SELU), the 1-D reduction
$E[s^{(p)}(u)t^{(q)}(v)] = (-1)^p\int s(u)\,\partial_u^p\!\big[N_a(u)\,
\partial_\mu^q m_t(cu/a, \sqrt{D/a})\big]\,du$ (integration by parts, so kinks
and jumps of $s$ are allowed and only $s$ itself is evaluated), split at
$u = 0$: composite Gauss–Legendre in float64, ``mpmath.quad`` with its error
estimate checked at high precision.  Otherwise the 2-D quadrature of
:mod:`symland.kernels.quadrature` on the classical derivatives (smooth activations),
or split at the kinks by parts (:mod:`symland.kernels.kinks`).  See :data:`ACCURACY` for the measured accuracy.
"""

from __future__ import annotations

import functools

import numpy as np
import sympy

from ..errors import DomainError, NoClosedFormError
from ..numerics.compile import compile_mpmath, compile_numpy
from ..numerics.mpcontext import thread_mp, is_mpc
from ..numerics.precision import Precision, alignment_digits, check_covariance, gram_determinant, mp_kernel_arguments
from ..numerics.symbols import a_, b_, t_, z
from . import gaussian_atoms as _atoms
from .activation import Activation
from .fallback import quadrature2, reduce_float, reduce_mp
from .partials import check_index
from .price import safe_partial
from .registry import activation

__all__ = [
    "cross_kernel_expr",
    "cross_kernel_safe_expr",
    "cross_partial_expr",
    "cross_kernel",
    "cross_partial",
    "cross_partial_evaluator",
    "cross_method",
    "has_cross_closed_form",
    "closed_form_pairs",
    "ACCURACY",
]

_pi = sympy.pi
_sqrt2pi = sympy.sqrt(2 * _pi)

#: accuracy of the numeric paths (measured in tests/kernels/test_cross.py)
ACCURACY = {
    "closed form": "float64 ~1e-13 relative at generic covariances; mpmath to the requested digits",
    "1-D quadrature": (
        "float64 composite Gauss-Legendre split at u = 0: relative error <= 1e-10 for the kernel and "
        "its Price partials up to total order 4 at variances 0.3..4 and |c|/sqrt(ab) <= 0.95 (degrades "
        "as D = ab - c^2 -> 0 for kinked activations); mpmath quad at any precision with its error "
        "estimate checked"
    ),
    "2-D quadrature": "see symland.kernels.quadrature.ACCURACY_STATEMENT",
}


# ---------------------------------------------------------------------------
# closed forms
# ---------------------------------------------------------------------------
def _swap(expr):
    """$f(a, b, c) \\mapsto f(b, a, c)$ (D is symmetric)."""
    return expr.xreplace({a_: b_, b_: a_})


def _combine(da, db):
    """(exact, safe) of $\\sum_{ij} x_i y_j K(A_i, B_j)$, or None when a pair is unknown."""
    ex = sympy.Integer(0)
    sf = sympy.Integer(0)
    for A, x in da.items():
        for B, y in db.items():
            pair = _atoms.atom_pair(A, B)
            if pair is None:
                return None
            ex += x * y * pair[0]
            sf += x * y * pair[1]
    return ex, sf


@functools.lru_cache(maxsize=None)
def _parity(act) -> int:
    """-1 for odd, +1 for even, 0 otherwise (decided symbolically)."""
    return -1 if act.is_odd else (1 if act.is_even else 0)


@functools.lru_cache(maxsize=None)
def _cross_cached(s: Activation, t: Activation):
    if s == t and s.has_closed_form:
        return s.kernel_expr, s.safe_kernel_expr
    ds, dt = _atoms.decompose(s.expr), _atoms.decompose(t.expr)
    if ds is None or dt is None:
        return None
    if {_parity(s), _parity(t)} == {-1, 1}:  # odd x even: (u, v) -> (-u, -v) flips the sign
        return sympy.Integer(0), sympy.Integer(0)
    out = _combine(ds, dt)
    if out is None:
        return None
    ex, sf = out
    return _atoms.tidy(ex), _atoms.tidy(sf)


def _pair(s, t):
    return _cross_cached(activation(s), activation(t))


def has_cross_closed_form(s, t) -> bool:
    """True when :func:`cross_kernel_expr` knows a closed form for the pair (decided without building it)."""
    s, t = activation(s), activation(t)
    if s == t and s.has_closed_form:
        return True
    ds, dt = _atoms.decompose(s.expr), _atoms.decompose(t.expr)
    if ds is None or dt is None:
        return False
    if {_parity(s), _parity(t)} == {-1, 1}:
        return True
    return all(_atoms.atom_pair_supported(A, B) for A in ds for B in dt)


def cross_kernel_expr(s, t):
    r"""Exact $E[s(u)t(v)]$ in ``a, b, c`` (exact constants), or ``None`` if no closed form is known."""
    p = _pair(s, t)
    return None if p is None else p[0]


def cross_kernel_safe_expr(s, t):
    r"""The same function in ``a, b, c, D`` ($D = ab - c^2$), numerically safe near $c^2 = ab$."""
    p = _pair(s, t)
    return None if p is None else p[1]


def _partial_cached(s, t, index):
    """Safe form of a partial of a pair with a closed form (``index`` validated)."""
    return safe_partial(_cross_cached(s, t)[1], index)


def cross_partial_expr(s, t, index):
    r"""Safe form of $\partial_a^i\partial_b^j\partial_c^l K_{s,t}$ in ``a, b, c, D``.

    By Price's theorem this is $2^{-i-j}E[s^{(2i+l)}(u)\,t^{(2j+l)}(v)]$.  Derived
    with the total derivatives $\partial_a + b\partial_D$, $\partial_b + a\partial_D$,
    $\partial_c - 2c\partial_D$; raises :class:`NoClosedFormError` without a closed form.
    """
    s, t = activation(s), activation(t)
    if _cross_cached(s, t) is None:
        raise NoClosedFormError(
            f"no closed-form cross kernel is known for ({s.name!r}, {t.name!r}); "
            "use cross_partial (quadrature fallback)"
        )
    return _partial_cached(s, t, check_index(index))


def cross_method(s, t) -> str:
    """``"closed form"``, ``"1-D quadrature"`` or ``"2-D quadrature"``: the path of :func:`cross_kernel`."""
    s, t = activation(s), activation(t)
    if _cross_cached(s, t) is not None:
        return "closed form"
    if _atoms.mean_function(t.expr) is not None or _atoms.mean_function(s.expr) is not None:
        return "1-D quadrature"
    return "2-D quadrature"


def closed_form_pairs(names) -> list[tuple[str, str]]:
    """Unordered pairs ``(s, t)``, ``s < t``, of ``names`` with a closed-form cross kernel."""
    names = sorted(names)
    return [(x, y) for k, x in enumerate(names) for y in names[k + 1:] if has_cross_closed_form(x, y)]


# ---------------------------------------------------------------------------
# boundary points: zero variance, tiny and huge scales
# ---------------------------------------------------------------------------
@functools.lru_cache(maxsize=None)
def zero_variance_expr(s: Activation, t: Activation):
    r"""$K_{s,t}(0, b, 0) = s(0)\,E[t(v)] = s(0)\,m_t(0, \sqrt b)$ as an expression in the other
    variance :data:`~symland.numerics.symbols.t_` (``None`` without a closed-form mean of ``t``).

    With $a = 0$, $u = 0$ almost surely (and $c = 0$), so the value *at* 0 of ``s`` enters
    (``Heaviside(0) = 1/2``, ``sign(0) = 0``), which the closed forms in
    $\theta = \arccos(c/\sqrt{ab})$ cannot see.  At $t = 0$ as well the value is $s(0)t(0)$
    (:func:`_zero_variance_value`)."""
    s0 = sympy.nsimplify(s.expr.subs(z, 0))
    if s0 == 0:
        return sympy.Integer(0)
    m = _atoms.mean_function(t.expr)
    if m is None:
        return None
    return sympy.simplify(s0 * m.subs(_atoms.mu, 0).subs(_atoms.sigma, sympy.sqrt(t_)))


def _zero_variance_value(s, t, a, b, mp: bool):
    """$E[s(u)t(v)]$ at ``a == 0`` or ``b == 0`` (one scalar pair); ``None`` when unknown."""
    if a == 0 and b == 0:
        v = sympy.nsimplify(s.expr.subs(z, 0)) * sympy.nsimplify(t.expr.subs(z, 0))
        return thread_mp.mpf(v) if mp else float(v)
    first, second, var = (s, t, b) if a == 0 else (t, s, a)
    expr = zero_variance_expr(first, second)
    if expr is None:
        return None
    if mp:
        return compile_mpmath(expr, (t_,))(thread_mp.mpf(var))
    return float(compile_numpy(expr, (t_,))(float(var)))


def _refuse_kinked_partial_at_zero_variance(s, t, index):
    """DomainError for a partial (not the value) of a pair with a kink or jump at zero variance."""
    if index != (0, 0, 0) and (_kinked(s) or _kinked(t)):
        raise DomainError(f"cross kernel partial {index} of ({s.name}, {t.name}) is undefined at zero "
                          "variance (a = 0 or b = 0): the derivative of a non-smooth activation at 0 has no value")


def _at_zero_variance(s, t, index, a, b, out, mp: bool):
    """Replace the value at zero-variance entries by :func:`_zero_variance_value` (float64 arrays)."""
    zero = (a == 0) | (b == 0)
    if not np.any(zero):
        return out
    _refuse_kinked_partial_at_zero_variance(s, t, index)
    if index != (0, 0, 0):
        return out
    for k in np.flatnonzero(zero):
        val = _zero_variance_value(s, t, a.flat[k], b.flat[k], mp)
        out.flat[k] = np.nan if val is None else val
    return out


def _scale_digits(s, t, a, b) -> int:
    r"""Extra mpmath digits for a closed-form pair that is not homogeneous at a scale far from 1:
    $|\log_{10}\max(a, b)|$ (a kinked-times-smooth closed form such as relu x erf is a difference of
    $O(1)$ terms worth $O(\sqrt{ab})$ at small scales; measured loss about half of this: 20 digits
    at $10^{-40}$, where 30 requested digits came back with 27)."""
    if _pair_degree(s, t) is not None or _cross_cached(s, t) is None or not max(a, b) > 0:
        return 0
    return int(abs(float(thread_mp.log10(max(a, b)))))


def _pair_degree(s, t):
    r"""$p + q$ for two homogeneous activations ($s(\lambda z) = \lambda^p s(z)$), else ``None``."""
    p, q = s.homogeneity_degree, t.homogeneity_degree
    return None if p is None or q is None else p + q


def _pair_scale_exponents(s, t, a, b):
    r"""Even powers of 2, $e$, by which the float64 path divides $(a, b, c)$ of a homogeneous pair:
    $\partial^{n}K(\lambda a, \lambda b, \lambda c) = \lambda^{(p+q)/2 - n}\partial^n K(a, b, c)$
    ($\lambda = 2^{-e}$, $e$ even so that $\lambda^{1/2}$ is exact too); zero unless
    $\max(a, b)$ is outside $[2^{-100}, 2^{100}]$ (below it $ab$ underflows: step x sign at
    $a = 10^{-200}$ gave 0.5 where the kernel is 0.115)."""
    big = np.maximum(a, b)
    if _pair_degree(s, t) is None or _cross_cached(s, t) is None:
        return np.zeros(np.shape(big), dtype=int)
    e = np.frexp(big)[1]
    e = e + (e % 2)
    return np.where((big > 0) & (np.abs(e) > 100), e, 0)


def _evaluate(s, t, index, a, b, c, D, dps):
    """Dispatch on the method; a, b, c, D already validated (arrays for float64, mpf for mpmath)."""
    i, j, l = index
    if _cross_cached(s, t) is not None:
        expr = _partial_cached(s, t, index)
        if dps is None:
            f = compile_numpy(expr)
            with np.errstate(all="ignore"):
                return np.asarray(f(a, b, c, D) * np.ones(np.shape(a)), dtype=float)
        try:
            return compile_mpmath(expr)(a, b, c, D)
        except ZeroDivisionError:
            return thread_mp.mpf("nan")
    if _atoms.mean_function(t.expr) is not None:
        return reduce_float(s, t, i, j, l, a, b, c, D) if dps is None else reduce_mp(s, t, i, j, l, a, b, c, D, dps)
    if _atoms.mean_function(s.expr) is not None:  # K_{s,t}(a, b, c) = K_{t,s}(b, a, c)
        if dps is None:
            return reduce_float(t, s, j, i, l, b, a, c, D)
        return reduce_mp(t, s, j, i, l, b, a, c, D, dps)
    return quadrature2(s, t, i, j, l, a, b, c, D, dps)


def _kinked(act) -> bool:
    d = _atoms.decompose(act.expr)
    return d is not None and any(A[0] in ("relu", "expstep") or A == ("phi", 0) for A in d)


def _kinked_pair(s, t) -> bool:
    """Both activations kinked or jumping at 0 and a closed form: cancellation near anti-alignment."""
    return _cross_cached(s, t) is not None and _kinked(s) and _kinked(t)


def cross_partial(s, t, index, a, b, c, dps=None):
    r"""$\partial_a^i\partial_b^j\partial_c^l E[s(u)t(v)] = 2^{-i-j}E[s^{(2i+l)}(u)t^{(2j+l)}(v)]$.

    Closed form where known, otherwise quadrature (see the module docstring and
    :func:`cross_method`).  ``dps=None``: float64 with numpy broadcasting;
    ``dps=N``: a scalar mpmath number with ``N`` digits.  Raises
    :class:`~symland.errors.DomainError` for impossible covariances and
    non-finite results (e.g. singular partials at $c^2 = ab$).
    """
    s, t = activation(s), activation(t)
    index = check_index(index)
    what = f"cross kernel partial {index} of ({s.name}, {t.name})"
    if dps is None:
        a, b, c = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (a, b, c)))
        with np.errstate(all="ignore"):
            check_covariance(a, b, c, np.zeros(a.shape))  # finite, variances >= 0 (c**2 <= ab below)
        e = _pair_scale_exponents(s, t, a, b)
        as_, bs, cs = (np.ldexp(v, -e) for v in (a, b, c))
        D = check_covariance(as_, bs, cs, gram_determinant(as_, bs, cs))
        scaled = np.array(_evaluate(s, t, index, as_, bs, cs, D, None), dtype=float).reshape(a.shape)
        power = ((_pair_degree(s, t) or 0) - 2 * sum(index)) * e // 2 if np.any(e) else 0  # e is even
        with np.errstate(all="ignore"):
            out = np.array(np.ldexp(scaled, power), dtype=float)
        if np.any(np.isfinite(scaled) & ~np.isfinite(out)) or np.any((scaled != 0) & (out == 0)):
            raise DomainError(f"{what} at scale max(a, b) = {float(np.max(np.maximum(a, b)))} is not "
                              "representable in float64 (over- or underflows); use dps=... for it")
        if _cross_cached(s, t) is not None:
            out = _at_zero_variance(s, t, index, a, b, out, False)
        if _kinked_pair(s, t):
            # kinked pairs vanish like a power of pi - theta as c -> -sqrt(ab) while the safe form
            # still adds O(1) terms for some partials: recompute those (rare) entries in mpmath
            for k in np.flatnonzero((cs < 0) & (D < 0.1 * as_ * bs) & (a > 0) & (b > 0)):
                out.flat[k] = float(cross_partial(s, t, index, a.flat[k], b.flat[k], c.flat[k], dps=20))
        if not np.all(np.isfinite(out)):
            k = np.flatnonzero(~np.isfinite(out))[0]
            raise DomainError(f"{what} is not finite at a={a.flat[k]}, b={b.flat[k]}, c={c.flat[k]} "
                              "(zero variance, or c**2 = a*b for a non-smooth activation)")
        return out if out.shape else float(out)
    prec = Precision(dps)
    with prec:
        a, b, c, D = mp_kernel_arguments(a, b, c)
        # kinked pairs vanish like (pi - theta)^3 near anti-alignment (theta^2 ~ D/ab) while the
        # safe form is a difference of O(1) terms: 3/2 log10(ab/D) more digits
        extra = alignment_digits(D / (a * b) if a * b > 0 else None, 1.5) if _kinked_pair(s, t) else 0
        extra += _scale_digits(s, t, a, b)
    with prec.working(extra):
        # closed forms evaluate with guard digits; quadrature adds its own and checks its error estimate
        val = None
        if _cross_cached(s, t) is not None and (a == 0 or b == 0):
            _refuse_kinked_partial_at_zero_variance(s, t, index)
            if index == (0, 0, 0):
                val = _zero_variance_value(s, t, a, b, True)
        if val is None:
            val = _evaluate(s, t, index, a, b, c, D, prec.dps)
        val = thread_mp.mpmathify(val)
        if is_mpc(val):
            if abs(val.imag) > thread_mp.mpf(10) ** (-prec.dps) * max(1, abs(val.real)):
                raise DomainError(f"{what} is complex at a={a}, b={b}, c={c}")
            val = val.real
        if not thread_mp.isfinite(val):
            raise DomainError(f"{what} is not finite at a={a}, b={b}, c={c}")
    return prec.finalize(val)


def cross_kernel(s, t, a, b, c, dps=None):
    r"""$E[s(u)\,t(v)]$: closed form where known, quadrature otherwise (see :func:`cross_partial`)."""
    return cross_partial(s, t, (0, 0, 0), a, b, c, dps=dps)


def cross_partial_evaluator(s, t, index, mp: bool):
    r"""Function ``(a, b, c, D) -> partial`` on validated arrays, like :func:`symland.kernels.evaluate.partial_evaluator`.

    Float64: numpy arrays; ``mp=True``: numpy object arrays of ``mpf`` at the
    current ``thread_mp.dps``.  For problem classes that assemble losses over
    many neuron pairs.
    """
    s, t = activation(s), activation(t)
    index = check_index(index)
    if not mp:
        return lambda a, b, c, D: np.array(_evaluate(s, t, index, *np.broadcast_arrays(
            *(np.asarray(v, dtype=float) for v in (a, b, c, D))), None), dtype=float)

    def one(a, b, c, D):
        return _evaluate(s, t, index, thread_mp.mpf(a), thread_mp.mpf(b), thread_mp.mpf(c), thread_mp.mpf(D), thread_mp.dps)

    fv = np.frompyfunc(one, 4, 1)
    return lambda a, b, c, D: fv(a, b, c, D)
