r"""Quadrature fallbacks for pairs of activations without a closed-form (cross) kernel.

For $E[s^{(P)}(u)\,t^{(Q)}(v)]$ with $(u, v)$ Gaussian, means $(\mu_1, \mu_2)$, covariance
$[[a, c], [c, b]]$ and $D = ab - c^2$, Price's partials
$\partial_a^i\partial_b^j\partial_c^l\partial_{\mu_1}^p\partial_{\mu_2}^q E[s(u)t(v)]
= 2^{-i-j}E[s^{(P)}(u)t^{(Q)}(v)]$ with $P = 2i + l + p$, $Q = 2j + l + q$
(:func:`derivative_orders`), taken by

* the **1-D reduction** (:func:`reduce_float`, :func:`reduce_mp`) when $t$ has a closed-form
  mean function $m_t(\mu, \sigma) = E[t(\mu + \sigma y)]$ (:func:`symland.kernels.gaussian_atoms.mean_function`):
  conditioning on $u$,
  $E[s^{(P)}(u)t^{(Q)}(v)] = (-1)^P\int s(u)\,\partial_u^P\big[N(u)\,\partial_\mu^Q
  m_t(\mu_2 + c(u - \mu_1)/a, \sqrt{D/a})\big]/N(u)\,dN(u)$ (by parts when $s$ is kinked, so
  only $s$ itself is evaluated), split at the kinks of $s$: composite Gauss–Legendre in
  float64, ``mpmath.quad`` with its error estimate checked at high precision;
* **2-D quadrature** otherwise (:func:`quadrature2`): of the classical derivatives for smooth
  pairs (:mod:`symland.kernels.quadrature`), or split at the kinks with the derivatives moved
  onto the Gaussian density for kinked pairs (:func:`kinked_quadrature_evaluator`,
  :mod:`symland.kernels.kinks`).

Diagonals $E[s(u)^2]$ of kinked activations without a closed form (SELU, user activations)
go by parts too (:func:`kinked_diagonal_with_mean_evaluator`, :func:`kinked_diagonal_evaluator`).
"""

from __future__ import annotations

import functools
import operator

import numpy as np
import sympy

from ..errors import DomainError
from ..numerics.compile import lambdify_mpmath
from ..numerics.mpcontext import sympy_evalf, thread_mp
from ..numerics.precision import GUARD_DIGITS
from ..numerics.symbols import NONSMOOTH
from . import gaussian_atoms as _atoms
from . import kinks
from .activation import Activation
from .quadrature import composite_normal, derivative_function, expect1_mp, expect2_float, expect2_mp, hermite_table
from .registry import activation

__all__ = [
    "derivative_orders",
    "nonsmooth",
    "reducible",
    "reduce_float",
    "reduce_mp",
    "quadrature2",
    "kinked_quadrature_evaluator",
    "kinked_diagonal_with_mean_evaluator",
    "kinked_diagonal_evaluator",
]

_mu, _sig = _atoms.mu, _atoms.sigma
#: half-width of the truncated standard-normal domain (as symland.kernels.quadrature)
_L = 8.5


@functools.lru_cache(maxsize=None)
def _kinks_of(act: Activation):
    """Exact kink points of ``act`` (:func:`symland.kernels.kinks.kink_points`); ``()`` when smooth."""
    return kinks.kink_points(act.expr) if act.expr.has(*NONSMOOTH) else ()


@functools.lru_cache(maxsize=None)
def _reduction_parts(s: Activation, t: Activation, p: int, q: int, backend: str, dps=None):
    r"""Callables for the 1-D reduction and whether derivatives go by parts.

    Smooth $s$: ``(s^{(p)}, [\partial_\mu^q m_t], False)``.  Kinked $s$:
    ``(s, [\partial_\mu^{q+k} m_t, k = 0..p], True)``.  For mpmath (``dps`` given)
    irrational constants (SELU's) are evaluated once at ``dps + GUARD_DIGITS`` digits.
    """
    m = _atoms.mean_function(t.expr)

    def compile_(e, args):
        if backend == "numpy":
            return sympy.lambdify(args, e, modules=["scipy", "numpy"], cse=True)
        if dps is not None:
            e = [sympy_evalf(v, dps + GUARD_DIGITS) for v in e] if isinstance(e, list) else sympy_evalf(e, dps + GUARD_DIGITS)
        return lambdify_mpmath(args, e, cse=True)

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


def derivative_orders(i, j, l, p=0, q=0):
    r"""Derivative orders on s and t and the scale of $\partial^{(i,j,l,p,q)}$ (Price with means)."""
    return 2 * i + l + p, 2 * j + l + q, 2 ** (i + j)


def reduce_float(s, t, i, j, l, a, b, c, D, m1=None, m2=None, p=0, q=0):
    r"""$\partial_a^i\partial_b^j\partial_c^l\partial_{\mu_1}^p\partial_{\mu_2}^q E[s(u)t(v)]$ by the 1-D
    reduction (float64 arrays; means ``m1, m2`` default to 0): composite Gauss-Legendre in
    $x = (u - \mu_1)/\sqrt a$ split where $s$ has its kinks (:func:`symland.kernels.kinks.kink_points`)."""
    P, Q, scale = derivative_orders(i, j, l, p, q)
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


def reduce_mp(s, t, i, j, l, a, b, c, D, dps, m1=0, m2=0, p=0, q=0):
    """mpmath version of :func:`reduce_float` (scalars): ``mpmath.quad`` split at the kinks of $s$, to ``dps`` digits."""
    P, Q, scale = derivative_orders(i, j, l, p, q)
    sfun, G, by_parts = _reduction_parts(s, t, P, Q, "mpmath", thread_mp.dps)
    if a <= 0:
        raise DomainError(f"the 1-D quadrature of E[{s.name}(u) {t.name}(v)] needs a > 0, got a = {a}")
    sa = thread_mp.sqrt(a)
    sig = thread_mp.sqrt(D / a)
    m1, m2 = thread_mp.mpf(m1), thread_mp.mpf(m2)

    def h(u):
        return sfun(u) * _weight(P, by_parts, a, c, (u - m1) / sa, G, sa, sig, m2)

    splits = [thread_mp.mpf(sympy_evalf(k, thread_mp.dps + 20)) for k in _kinks_of(s)]
    return expect1_mp(h, a, dps, m1, split=splits) / scale


def quadrature2(s, t, i, j, l, a, b, c, D, dps):
    r"""$\partial_a^i\partial_b^j\partial_c^l E[s(u)t(v)]$ (centred) by 2-D quadrature: float64 arrays
    (``dps=None``) or one mpmath number to ``dps`` digits; kinked pairs by
    :func:`kinked_quadrature_evaluator`, smooth pairs on classical derivatives."""
    if nonsmooth(s) or nonsmooth(t):
        return kinked_quadrature_evaluator(s, t, (i, j, l, 0, 0), dps is not None)(a, b, c, D, 0 * a, 0 * a)
    p, q = 2 * i + l, 2 * j + l
    mp = dps is not None
    f = derivative_function(s.expr, p, mp, f"activation {s.name!r}")
    g = derivative_function(t.expr, q, mp, f"activation {t.name!r}")
    if not mp:
        return expect2_float(f, g, a, b, c, D) / 2 ** (i + j)
    return expect2_mp(f, g, a, b, c, D, dps) / 2 ** (i + j)


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
    i, j, l, p, q = index
    P, Q, scale = derivative_orders(i, j, l, p, q)
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
            return thread_mp.mpf("nan")
        return kinks.expect2_mp(fs, ft, P, Q, a, b, c, D, m1, m2, dps=thread_mp.dps) / scale

    fv = np.frompyfunc(one, 6, 1)
    return lambda *args: fv(*args)


# ---------------------------------------------------------------------------
# activations without a closed-form kernel but with kinks (SELU): kernel and diagonal
# ---------------------------------------------------------------------------
def reducible(act) -> bool:
    """True for a non-smooth activation without a closed-form kernel that has a mean function (SELU).

    :mod:`symland.kernels.evaluate` evaluates such kernels through
    :func:`symland.kernels.cross.cross_partial_evaluator`
    (the 1-D reduction handles the kink exactly) instead of 2-D quadrature of classical derivatives.
    """
    act = activation(act)
    return (not act.has_closed_form and act.expr.has(*NONSMOOTH)
            and _atoms.mean_function(act.expr) is not None)


@functools.lru_cache(maxsize=None)
def kinked_diagonal_with_mean_evaluator(act, index, mp: bool):
    r"""``(t, m) -> \partial_t^i\partial_m^p\varphi(t, m)``, $\varphi(t, m) = E[s(u)^2]$, $u \sim N(m, t)$.

    By parts (valid for kinks and jumps of $s$; only $s$ itself is evaluated), with the heat
    equation $\partial_t = \tfrac12\partial_m^2$ and $n = 2i + p$:
    $\partial_t^i\partial_m^p\varphi = 2^{-i}E[(s^2)^{(n)}(u)] = 2^{-i}t^{-n/2}E[s(u)^2\,\mathrm{He}_n((u - m)/\sqrt t)]$,
    a 1-D Gaussian expectation split at the kinks of $s$ (:func:`symland.kernels.kinks.expect1_float`,
    :func:`symland.kernels.kinks.expect1_mp`).
    """
    act = activation(act)
    i, p = (operator.index(v) for v in index)
    n = 2 * i + p
    h = act.expr**2
    if not mp:
        return lambda t, m: np.asarray(kinks.expect1_float(h, n, t, m), dtype=float) / 2**i
    fv = np.frompyfunc(lambda t, m: kinks.expect1_mp(h, n, t, m, dps=thread_mp.dps) / 2**i, 2, 1)
    return lambda t, m: fv(t, m)


def kinked_diagonal_evaluator(act, m: int, mp: bool):
    r"""``t -> phi^(m)(t)``, $\varphi(t) = E[s(u)^2]$, $u \sim N(0, t)$, for kinked activations:
    :func:`kinked_diagonal_with_mean_evaluator` at mean 0,
    $\varphi^{(m)}(t) = 2^{-m}t^{-m}E[s(u)^2\,\mathrm{He}_{2m}(u/\sqrt t)]$."""
    f = kinked_diagonal_with_mean_evaluator(act, (int(m), 0), mp)
    return lambda t: f(t, 0 if mp else 0.0)
