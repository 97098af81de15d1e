r"""Cross kernels of two activations: $K_{s,t}(a, b, c) = E[s(u)\,t(v)]$.

$(u, v)$ is a centred Gaussian pair with $\mathrm{Var}\,u = a$ (the first,
"student" argument), $\mathrm{Var}\,v = b$, $\mathrm{Cov}(u, v) = c$, and
$D = ab - c^2$; the symbols are :data:`symland.numerics.compile.a_`, ``b_``, ``c_``,
``D_``.  $K_{s,s}$ is the dual kernel $\kappa$ of :mod:`symland.kernels.activation`, and
$K_{s,t}(a, b, c) = K_{t,s}(b, a, c)$.

**How closed forms are found.**  An activation expression is split (exactly, by
:mod:`symland.kernels.atoms`) into a linear combination of *atoms*: monomials $z^k$,
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
:func:`cross_partial`): if one activation has a mean function (every
closed-form activation, and SELU), the 1-D reduction
$E[s^{(p)}(u)t^{(q)}(v)] = (-1)^p\int s(u)\,\partial_u^p\!\big[N_a(u)\,
\partial_\mu^q m_t(cu/a, \sqrt{D/a})\big]\,du$ (integration by parts, so kinks
and jumps of $s$ are allowed and only $s$ itself is evaluated), split at
$u = 0$: composite Gauss–Legendre in float64, ``mpmath.quad`` with its error
estimate checked at high precision.  Otherwise the 2-D quadrature of
:mod:`symland.kernels.quadrature` on the classical derivatives (smooth activations
only).  See :data:`ACCURACY` for the measured accuracy.
"""

from __future__ import annotations

import functools
import operator

import mpmath
import numpy as np
import sympy

from . import atoms as _atoms
from ..numerics.symbols import NONSMOOTH
from .activation import Activation, activation
from ..numerics.symbols import (
    D_,
    a_,
    b_,
    c_,
)
from ..numerics.precision import (
    check_covariance,
    check_dps,
    gram_determinant,
    mp_kernel_arguments,
)
from ..numerics.compile import (
    compile_mpmath,
    compile_numpy,
)
from ..errors import DomainError, NoClosedFormError
from .quadrature import composite_normal, hermite_table
from .partials import _cancellation_digits

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
        "as D = ab - c^2 -> 0 for kinked activations); mpmath.quad at any precision with its error "
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
    if act.is_odd:
        return -1
    return 1 if sympy.simplify(act.expr.subs(_atoms.z, -_atoms.z) - act.expr) == 0 else 0


@functools.lru_cache(maxsize=None)
def _cross_cached(s: Activation, t: Activation):
    if s is t and s.has_closed_form:
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
    if s is t and s.has_closed_form:
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


_TOTAL = {
    "a": lambda e: sympy.diff(e, a_) + b_ * sympy.diff(e, D_),
    "b": lambda e: sympy.diff(e, b_) + a_ * sympy.diff(e, D_),
    "c": lambda e: sympy.diff(e, c_) - 2 * c_ * sympy.diff(e, D_),
}


def _check_index(index):
    from .partials import MAX_ORDER

    try:
        i, j, l = (operator.index(v) for v in index)
    except (TypeError, ValueError):
        raise ValueError(f"index must be a triple (i, j, l) of non-negative integers, got {index!r}") from None
    if min(i, j, l) < 0 or i + j + l > MAX_ORDER:
        raise ValueError(f"index {index!r} must be non-negative with total order <= {MAX_ORDER}")
    return i, j, l


@functools.lru_cache(maxsize=None)
def _partial_cached(s, t, index):
    i, j, l = index
    if index == (0, 0, 0):
        return _cross_cached(s, t)[1]
    if l:
        prev, op = (i, j, l - 1), "c"
    elif i:
        prev, op = (i - 1, j, l), "a"
    else:
        prev, op = (i, j - 1, l), "b"
    return _TOTAL[op](_partial_cached(s, t, prev))


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
    return _partial_cached(s, t, _check_index(index))


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
# quadrature fallback: 1-D reduction on a mean function, or 2-D quadrature
# ---------------------------------------------------------------------------
_mu, _sig = _atoms.mu, _atoms.sigma
#: half-width of the truncated standard-normal domain (as symland.kernels.quadrature)
_L = 8.5


@functools.lru_cache(maxsize=None)
def _kinks_of(act: Activation):
    """Exact kink points of ``act`` (:func:`symland.kernels.kinks.kink_points`); ``()`` when smooth."""
    from .kinks import kink_points

    return kink_points(act.expr) if act.expr.has(*NONSMOOTH) else ()


@functools.lru_cache(maxsize=None)
def _reduction_parts(s: Activation, t: Activation, p: int, q: int, backend: str, dps=None):
    r"""Callables for the 1-D reduction and whether derivatives go by parts.

    Smooth $s$: ``(s^{(p)}, [\partial_\mu^q m_t], False)``.  Kinked $s$:
    ``(s, [\partial_\mu^{q+k} m_t, k = 0..p], True)``.  For mpmath (``dps`` given)
    irrational constants (SELU's) are evaluated once at ``dps + 15`` digits.
    """
    m = _atoms.mean_function(t.expr)
    mods = ["scipy", "numpy"] if backend == "numpy" else "mpmath"

    def compile_(e, args):
        if dps is not None:
            e = [v.evalf(dps + 15) for v in e] if isinstance(e, list) else e.evalf(dps + 15)
        return sympy.lambdify(args, e, modules=mods, cse=True)

    by_parts = p > 0 and s.expr.has(*NONSMOOTH)
    orders = [q + k for k in range(p + 1)] if by_parts else [q]
    sfun = compile_(s.expr if by_parts or not p else sympy.diff(s.expr, _atoms.z, p), _atoms.z)
    # all mean-function derivatives in one compiled function: they share erf/exp subexpressions
    gall = compile_([sympy.diff(m, _mu, n) for n in orders], (_mu, _sig))
    # at D = 0 (sigma = 0) the mean function degenerates to t itself: d^n m / d mu^n = t^(n)(mu),
    # a function only when t is smooth or n = 0
    g0 = None
    if all(n == 0 for n in orders) or not t.expr.has(*NONSMOOTH):
        g0 = compile_([sympy.diff(t.expr, _atoms.z, n).subs(_atoms.z, _mu) for n in orders], _mu)
    return sfun, (gall, g0), by_parts


def _weight(p, by_parts, a, c, x, G, sa, sig, m2=0):
    r"""Factor multiplying $s$ (or $s^{(p)}$) under $E_u$: with $u = \mu_1 + \sqrt a\,x$ and
    $G = \partial_\mu^q m_t(\mu_2 + cx/\sqrt a, \sigma)$ (the mean of $t^{(q)}(v)$ given $u$), by parts it is
    $(-1)^p (N G)^{(p)}(u)/N(u) = \sum_k \binom pk (-1)^k a^{-(p-k)/2}\mathrm{He}_{p-k}(x)(c/a)^k
    \partial_\mu^{q+k} m_t$, $N$ the density of $u$."""
    gall, g0 = G
    mu = m2 + c * x / sa
    if sig > 0:
        g = gall(mu, sig)
    elif g0 is None:
        raise DomainError("this partial is singular at c**2 = a*b (D = 0) for a non-smooth activation")
    else:
        g = g0(mu)
    if not by_parts:
        return g[0]
    he = hermite_table(p, x)
    tot = 0
    for k in range(p + 1):
        coef = (-1) ** k * _BINOMIAL[p][k] * (c / a) ** k / sa ** (p - k)
        tot = tot + coef * he[p - k] * g[k]
    return tot


_BINOMIAL = [[1]]
for _n in range(1, 13):
    _BINOMIAL.append([1] + [_BINOMIAL[-1][k - 1] + _BINOMIAL[-1][k] for k in range(1, _n)] + [1])


def _orders(i, j, l, p, q):
    r"""Derivative orders on s and t and the scale of $\partial^{(i,j,l,p,q)}$ (Price with means)."""
    return 2 * i + l + p, 2 * j + l + q, 2 ** (i + j)


def _reduce_float(s, t, i, j, l, a, b, c, D, m1=None, m2=None, p=0, q=0):
    r"""$\partial_a^i\partial_b^j\partial_c^l\partial_{\mu_1}^p\partial_{\mu_2}^q E[s(u)t(v)]$ by the 1-D
    reduction (float64 arrays; means ``m1, m2`` default to 0): composite Gauss-Legendre in
    $x = (u - \mu_1)/\sqrt a$ split where $s$ has its kinks (:func:`symland.kernels.kinks.kink_points`)."""
    P, Q, scale = _orders(i, j, l, p, q)
    sfun, G, by_parts = _reduction_parts(s, t, P, Q, "numpy")
    m1 = np.zeros(a.shape) if m1 is None else np.broadcast_to(m1, a.shape)
    m2 = np.zeros(a.shape) if m2 is None else np.broadcast_to(m2, a.shape)
    kinks = _kinks_of(s)
    out = np.empty(a.shape)
    for k in range(a.size):
        aa, cc, dd = float(a.flat[k]), float(c.flat[k]), float(D.flat[k])
        mm1, mm2 = float(m1.flat[k]), float(m2.flat[k])
        if aa <= 0:
            raise DomainError(f"the 1-D quadrature of E[{s.name}(u) {t.name}(v)] needs a > 0, got a = {aa}")
        sa = np.sqrt(aa)
        sig = np.sqrt(dd / aa)
        # panels resolve the scale sigma/|rho| of m_t(mu2 + c x/sqrt(a), sigma) in x and tanh-like poles
        width = min(1.0, sig * sa / abs(cc) if (cc and sig > 0) else 1.0, 0.8 / sa)
        panels = int(min(2048, max(8, np.ceil(_L / max(width, 1e-12)))))
        # 2 * panels panels (panels on each side of a kink at the mean), split at the kinks of s
        x, w = composite_normal(2 * panels, tuple((float(k) - mm1) / sa for k in kinks))
        with np.errstate(all="ignore"):
            vals = np.asarray(sfun(mm1 + sa * x) * np.ones_like(x), dtype=float)
            vals = vals * _weight(P, by_parts, aa, cc, x, G, sa, sig, mm2)
        out.flat[k] = (vals @ w) / scale
    return out


def _reduce_mp(s, t, i, j, l, a, b, c, D, dps, m1=0, m2=0, p=0, q=0):
    """mpmath version of :func:`_reduce_float` (scalars): ``mpmath.quad`` split at the kinks of $s$."""
    from . import quadrature

    P, Q, scale = _orders(i, j, l, p, q)
    sfun, G, by_parts = _reduction_parts(s, t, P, Q, "mpmath", mpmath.mp.dps)
    if a <= 0:
        raise DomainError(f"the 1-D quadrature of E[{s.name}(u) {t.name}(v)] needs a > 0, got a = {a}")
    sa = mpmath.sqrt(a)
    sig = mpmath.sqrt(D / a)
    m1, m2 = mpmath.mpf(m1), mpmath.mpf(m2)

    def h(u):
        return sfun(u) * _weight(P, by_parts, a, c, (u - m1) / sa, G, sa, sig, m2)

    splits = [mpmath.mpf(sympy.N(k, mpmath.mp.dps + 20)) for k in _kinks_of(s)]
    return quadrature.expect1_mp(h, a, dps, m1, split=splits) / scale


def _quad2(s, t, i, j, l, a, b, c, D, dps):
    from . import quadrature
    from .partials import _derivative_function

    if nonsmooth(s) or nonsmooth(t):
        return kinked_quadrature_evaluator(s, t, (i, j, l, 0, 0), dps is not None)(a, b, c, D, 0 * a, 0 * a)
    p, q = 2 * i + l, 2 * j + l
    if dps is None:
        f, g = _derivative_function(s, p, "numpy"), _derivative_function(t, q, "numpy")
        return quadrature.expect2_float(f, g, a, b, c, D) / 2 ** (i + j)
    f, g = _derivative_function(s, p, "mpmath"), _derivative_function(t, q, "mpmath")
    return quadrature.expect2_mp(f, g, a, b, c, D, dps) / 2 ** (i + j)


def nonsmooth(act) -> bool:
    """True when the activation's expression has kinks or jumps (Max, Heaviside, Abs, Piecewise ...)."""
    return activation(act).expr.has(*NONSMOOTH)


@functools.lru_cache(maxsize=None)
def kinked_quadrature_evaluator(s, t, index, mp: bool):
    r"""``(a, b, c, D, mu1, mu2) -> 2^{-i-j}E[s^{(P)}(u)t^{(Q)}(v)]``, $P = 2i+l+p$, $Q = 2j+l+q$,
    for pairs with kinks and no closed-form mean function on either side (user activations such
    as hardtanh): the derivatives are moved onto the Gaussian density (bivariate Hermite weights)
    and the 2-D quadrature is split at the kinks, :func:`symland.kernels.kinks.expect2_float` /
    :func:`symland.kernels.kinks.expect2_mp`.  Entries where the weights are undefined ($D = 0$, a zero
    variance) come back as nan, for the caller to report.
    """
    from . import kinks

    i, j, l, p, q = index
    P, Q, scale = _orders(i, j, l, p, q)
    fs, ft = activation(s).expr, activation(t).expr
    if not mp:
        def run(a, b, c, D, m1, m2):
            a, b, c, D, m1, m2 = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (a, b, c, D, m1, m2)))
            ok = (a > 0) & (b > 0) & (D > 0)
            out = np.full(a.shape, np.nan)
            if np.any(ok):
                out[ok] = kinks.expect2_float(fs, ft, P, Q, a[ok], b[ok], c[ok], D[ok], m1[ok], m2[ok]) / scale
            return out
        return run

    def one(a, b, c, D, m1, m2):
        if not (a > 0 and b > 0 and D > 0):
            return mpmath.mpf("nan")
        return kinks.expect2_mp(fs, ft, P, Q, a, b, c, D, m1, m2, dps=mpmath.mp.dps) / scale

    fv = np.frompyfunc(one, 6, 1)
    return lambda *args: fv(*args)


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
            return mpmath.mpf("nan")
    if _atoms.mean_function(t.expr) is not None:
        return _reduce_float(s, t, i, j, l, a, b, c, D) if dps is None else _reduce_mp(s, t, i, j, l, a, b, c, D, dps)
    if _atoms.mean_function(s.expr) is not None:  # K_{s,t}(a, b, c) = K_{t,s}(b, a, c)
        if dps is None:
            return _reduce_float(t, s, j, i, l, b, a, c, D)
        return _reduce_mp(t, s, j, i, l, b, a, c, D, dps)
    return _quad2(s, t, i, j, l, a, b, c, D, dps)


_GUARD = 10


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
    index = _check_index(index)
    what = f"cross kernel partial {index} of ({s.name}, {t.name})"
    if dps is None:
        a, b, c = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (a, b, c)))
        D = check_covariance(a, b, c, gram_determinant(a, b, c))
        out = np.array(_evaluate(s, t, index, a, b, c, D, None), dtype=float).reshape(a.shape)
        if _kinked_pair(s, t):
            # kinked pairs vanish like a power of pi - theta as c -> -sqrt(ab) while the safe form
            # still adds O(1) terms for some partials: recompute those (rare) entries in mpmath
            for k in np.flatnonzero((c < 0) & (D < 0.1 * a * b) & (a > 0) & (b > 0)):
                out.flat[k] = float(cross_partial(s, t, index, a.flat[k], b.flat[k], c.flat[k], dps=20))
        if not np.all(np.isfinite(out)):
            k = np.flatnonzero(~np.isfinite(out))[0]
            raise DomainError(f"{what} is not finite at a={a.flat[k]}, b={b.flat[k]}, c={c.flat[k]} "
                              "(zero variance, or c**2 = a*b for a non-smooth activation)")
        return out if out.shape else float(out)
    dps = check_dps(dps)
    with mpmath.workdps(dps + _GUARD):
        a, b, c, D = mp_kernel_arguments(a, b, c)
        extra = _cancellation_digits(a, b, D) if _kinked_pair(s, t) else 0
    with mpmath.workdps(dps + _GUARD + extra):
        # closed forms evaluate with guard digits; quadrature adds its own and checks its error estimate
        val = _evaluate(s, t, index, a, b, c, D, dps)
        val = mpmath.mpmathify(val)
        if isinstance(val, mpmath.mpc):
            if abs(val.imag) > mpmath.mpf(10) ** (-dps) * max(1, abs(val.real)):
                raise DomainError(f"{what} is complex at a={a}, b={b}, c={c}")
            val = val.real
        if not mpmath.isfinite(val):
            raise DomainError(f"{what} is not finite at a={a}, b={b}, c={c}")
    with mpmath.workdps(dps):
        return +val


def cross_kernel(s, t, a, b, c, dps=None):
    r"""$E[s(u)\,t(v)]$: closed form where known, quadrature otherwise (see :func:`cross_partial`)."""
    return cross_partial(s, t, (0, 0, 0), a, b, c, dps=dps)


def cross_partial_evaluator(s, t, index, mp: bool):
    r"""Function ``(a, b, c, D) -> partial`` on validated arrays, like :func:`symland.kernels.partials.partial_evaluator`.

    Float64: numpy arrays; ``mp=True``: numpy object arrays of ``mpf`` at the
    current ``mpmath.mp.dps``.  For problem classes that assemble losses over
    many neuron pairs.
    """
    s, t = activation(s), activation(t)
    index = _check_index(index)
    if not mp:
        return lambda a, b, c, D: np.array(_evaluate(s, t, index, *np.broadcast_arrays(
            *(np.asarray(v, dtype=float) for v in (a, b, c, D))), None), dtype=float)

    def one(a, b, c, D):
        return _evaluate(s, t, index, mpmath.mpf(a), mpmath.mpf(b), mpmath.mpf(c), mpmath.mpf(D), mpmath.mp.dps)

    fv = np.frompyfunc(one, 4, 1)
    return lambda a, b, c, D: fv(a, b, c, D)


# ---------------------------------------------------------------------------
# activations without a closed-form kernel but with kinks (SELU): kernel and diagonal
# ---------------------------------------------------------------------------
def reducible(act) -> bool:
    """True for a non-smooth activation without a closed-form kernel that has a mean function (SELU).

    :mod:`symland.kernels.partials` evaluates such kernels through :func:`cross_partial_evaluator`
    (the 1-D reduction handles the kink exactly) instead of 2-D quadrature of classical derivatives.
    """
    act = activation(act)
    return (not act.has_closed_form and act.expr.has(*NONSMOOTH)
            and _atoms.mean_function(act.expr) is not None)


@functools.lru_cache(maxsize=None)
def diagonal_with_mean_evaluator(act, index, mp: bool):
    r"""``(t, m) -> \partial_t^i\partial_m^p\varphi(t, m)``, $\varphi(t, m) = E[s(u)^2]$, $u \sim N(m, t)$.

    By parts (valid for kinks and jumps of $s$; only $s$ itself is evaluated), with the heat
    equation $\partial_t = \tfrac12\partial_m^2$ and $n = 2i + p$:
    $\partial_t^i\partial_m^p\varphi = 2^{-i}E[(s^2)^{(n)}(u)] = 2^{-i}t^{-n/2}E[s(u)^2\,\mathrm{He}_n((u - m)/\sqrt t)]$,
    a 1-D Gaussian expectation split at the kinks of $s$ (:func:`symland.kernels.kinks.expect1_float`,
    :func:`symland.kernels.kinks.expect1_mp`).
    """
    from . import kinks

    act = activation(act)
    i, p = (operator.index(v) for v in index)
    n = 2 * i + p
    h = act.expr**2
    if not mp:
        return lambda t, m: np.asarray(kinks.expect1_float(h, n, t, m), dtype=float) / 2**i
    fv = np.frompyfunc(lambda t, m: kinks.expect1_mp(h, n, t, m, dps=mpmath.mp.dps) / 2**i, 2, 1)
    return lambda t, m: fv(t, m)


def diagonal_evaluator(act, m: int, mp: bool):
    r"""``t -> phi^(m)(t)``, $\varphi(t) = E[s(u)^2]$, $u \sim N(0, t)$, for kinked activations:
    :func:`diagonal_with_mean_evaluator` at mean 0,
    $\varphi^{(m)}(t) = 2^{-m}t^{-m}E[s(u)^2\,\mathrm{He}_{2m}(u/\sqrt t)]$."""
    f = diagonal_with_mean_evaluator(act, (int(m), 0), mp)
    return lambda t: f(t, 0 if mp else 0.0)
