r"""Tests of symland/kernels/means.py (kernels with means) and the mean-aware quadrature.

Independent references (none calls the kernel code under test):

* Owen's T against its defining integral (``mpmath.quad``) and scipy; the
  bivariate normal CDF against the Sheppard/Plackett integral
  $\Phi_2 = \Phi(h)\Phi(k) + \frac1{2\pi}\int_0^{\arcsin\rho}
  e^{-(h^2+k^2-2hk\sin\theta)/(2\cos^2\theta)}d\theta$;
* one-dimensional *mean functions* $m_t(\mu, \sigma) = E[t(\mu + \sigma y)]$ typed
  from textbook Gaussian integrals below, each checked against ``mpmath.quad``;
* the *1-D reduction* with means: conditioned on $x$ ($u = \mu_1 + \sqrt a x$),
  $v \sim N(\mu_2 + cx/\sqrt a, D/a)$, so
  $E[s^{(P)}(u)t^{(Q)}(v)] = (-1)^P a^{-P/2}\int s(u(x))\,\partial_x^P[\varphi(x)H(x)]\,dx$,
  $H(x) = \partial_\mu^Q m_t$ (derivatives of $s$ moved onto the weight by parts,
  so kinks and jumps are harmless), one ``mpmath.quad`` split at the kink, 40 digits;
  this gives every Price partial $2^{-i-j}E[s^{(2i+l+p)}t^{(2j+l+q)}]$;
* partials in $(a, b, c)$ (the code takes them as derivatives in the means, by the
  heat equation) against 60-digit central differences of the value;
* zero means against the existing centred kernels.
"""

from __future__ import annotations

import functools
import pathlib
import random
import runpy

import mpmath

from symland.numerics.mpcontext import thread_mp
import numpy as np
import pytest
import sympy

import symland
from symland.numerics import symbols
from symland.kernels import means as bias
from symland.kernels import quadrature
from symland.kernels import normal
from symland.kernels.registry import cos_activation, gauss_activation, hermite_activation, sin_activation
from symland.errors import DomainError, NoClosedFormError
from symland.kernels.evaluate import kernel_partial

from conftest import full_run

mpf = mpmath.mpf


# ---------------------------------------------------------------------------
# independent one-dimensional mean functions m(mu, sigma) = E[t(mu + sigma y)]
# ---------------------------------------------------------------------------
def _Phi(x):
    return mpmath.ncdf(x)


def _phi(x):
    return mpmath.npdf(x)


def _relu_pow_mean(p):
    def m(mu, s):
        r = mu / s
        P, f = _Phi(r), _phi(r)
        return [P, mu * P + s * f, (mu**2 + s**2) * P + mu * s * f,
                (mu**3 + 3 * mu * s**2) * P + (mu**2 + 2 * s**2) * s * f][p]
    return m


def _poly_mean(coeffs):
    """E[sum c_j (mu + s y)^j] from the moments E[y^k] = (k-1)!! (k even)."""
    def m(mu, s):
        total = mpf(0)
        for j, cj in enumerate(coeffs):
            for k in range(0, j + 1, 2):
                total += cj * mpmath.binomial(j, k) * mu ** (j - k) * s**k * mpmath.fac2(k - 1)
        return total
    return m


def _probit_mean(p, q, r2):
    """E[p + q Phi(r v)] = p + q Phi(r mu / sqrt(1 + r^2 s^2)), r = sqrt(r2) > 0."""
    return lambda mu, s: p + q * _Phi(mpmath.sqrt(r2) * mu / mpmath.sqrt(1 + r2 * s * s))


def _R2():
    return mpmath.sqrt(2)  # at the working precision
MEANS = {
    "step": _relu_pow_mean(0),
    "relu": _relu_pow_mean(1),
    "relu_pow2": _relu_pow_mean(2),
    "relu_pow3": _relu_pow_mean(3),
    "sign": lambda mu, s: 2 * _Phi(mu / s) - 1,
    "abs": lambda mu, s: mu * (2 * _Phi(mu / s) - 1) + 2 * s * _phi(mu / s),
    "leaky_relu": lambda mu, s: _relu_pow_mean(1)(mu, s) * mpf(99) / 100 + mu / 100,
    "linear": lambda mu, s: mu,
    "quadratic": lambda mu, s: mu**2 + s**2,
    "hermite_3": _poly_mean([0, -3, 0, 1]),
    "normal_cdf": _probit_mean(0, 1, 1),
    "erf": _probit_mean(-1, 2, 1),
    "erf_plain": _probit_mean(-1, 2, 2),
    "exp": lambda mu, s: mpmath.exp(mu + s * s / 2),
    "sin": lambda mu, s: mpmath.sin(mu) * mpmath.exp(-s * s / 2),
    "cos": lambda mu, s: mpmath.cos(mu) * mpmath.exp(-s * s / 2),
    "sin_2": lambda mu, s: mpmath.sin(2 * mu) * mpmath.exp(-2 * s * s),
    "gauss": lambda mu, s: mpmath.exp(-mu * mu / (2 * (1 + s * s))) / mpmath.sqrt(1 + s * s),
    "gauss_2": lambda mu, s: 2 * mpmath.exp(-mu * mu / (2 * (4 + s * s))) / mpmath.sqrt(4 + s * s),
    # E[v Phi(v)] = mu Phi(mu/r) + (s^2/r) phi(mu/r), r = sqrt(1 + s^2) (Stein)
    "gelu": lambda mu, s: (mu * _Phi(mu / mpmath.sqrt(1 + s * s))
                           + s * s / mpmath.sqrt(1 + s * s) * _phi(mu / mpmath.sqrt(1 + s * s))),
}

# selu = lam (relu(v) + alpha (e^v - 1) 1{v < 0}), typed symbolically so that ref_price differentiates it
# exactly (mpmath.diff of a numeric mean costs a minute per value):
# E[relu(v)] = mu Phi(mu/s) + s phi(mu/s),  E[(e^v - 1) 1{v < 0}] = e^{mu + s^2/2} Phi(-mu/s - s) - Phi(-mu/s)
_smu, _ss = sympy.symbols("mu s", real=True)


def _sPhi(x):
    return (1 + sympy.erf(x / sympy.sqrt(2))) / 2


_SELU_MEAN = symland.kernels.library.SELU_LAMBDA * (
    _smu * _sPhi(_smu / _ss) + _ss * sympy.exp(-_smu**2 / (2 * _ss**2)) / sympy.sqrt(2 * sympy.pi)
    + symland.kernels.library.SELU_ALPHA * (sympy.exp(_smu + _ss**2 / 2) * _sPhi(-_smu / _ss - _ss) - _sPhi(-_smu / _ss)))
SYMBOLIC_MEANS = {"selu": _SELU_MEAN}


@functools.lru_cache(maxsize=None)
def _symbolic_mean_derivative(name, n):
    return sympy.lambdify((_smu, _ss), sympy.diff(SYMBOLIC_MEANS[name], _smu, n), modules="mpmath")


MEANS["selu"] = lambda mu, s: _symbolic_mean_derivative("selu", 0)(mu, s)


def _selu_constants():
    """Klambauer et al. (2017) lambda, alpha at the working precision, from their exact definitions."""
    lib = symland.kernels.library
    return tuple(mpf(str(sympy.N(v, mpmath.mp.dps + 10))) for v in (lib.SELU_LAMBDA, lib.SELU_ALPHA))


hermite_activation(3)
sin_activation(2)
gauss_activation(2)
cos_activation(1)



def _sel(everything, default):
    """The exhaustive list with SYMLAND_FULL=1, else a representative subset (symbolic set-up costs seconds each)."""
    return list(everything) if full_run() else list(default)


def _act_fn(name):
    return sympy.lambdify(symbols.z, symland.activation(name).expr, modules="mpmath")


@pytest.mark.parametrize("name", _sel(sorted(MEANS), ["relu", "relu_pow2", "erf", "sin_2", "gauss_2", "hermite_3", "gelu"]))
def test_mean_functions_against_quadrature(name):
    """The hand-typed mean functions themselves, against direct 1-D mpmath quadrature."""
    f = _act_fn(name)
    with mpmath.workdps(30), thread_mp.workdps(30):
        for mu, s in ((mpf("0.37"), mpf("1.3")), (mpf("-1.1"), mpf("0.6"))):
            q = mpmath.quad(lambda y: f(mu + s * y) * _phi(y), [-mpmath.inf, -mu / s, mpmath.inf])
            assert abs(q - MEANS[name](mu, s)) < mpf(10) ** -26 * (1 + abs(q))


def ref_price(s_name, t_name, index, a, b, c, m1, m2, dps=32):
    r"""$2^{-i-j}E[s^{(P)}(u)t^{(Q)}(v)]$ by the 1-D reduction (module docstring)."""
    i, j, l, p, q = index
    P, Q = 2 * i + l + p, 2 * j + l + q
    s = _act_fn(s_name)
    mt = MEANS[t_name]
    with mpmath.workdps(dps + 10), thread_mp.workdps(dps + 10):
        a, b, c, m1, m2 = (mpf(v) for v in (a, b, c, m1, m2))
        sa = mpmath.sqrt(a)
        mu_c, sig = c / sa, mpmath.sqrt((a * b - c * c) / a)

        def Hk(x, k):  # d^k/dx^k of H(x) = d^Q/dmu^Q m_t(m2 + mu_c x, sig)
            mu0 = m2 + mu_c * x
            if t_name in SYMBOLIC_MEANS:
                return mu_c**k * _symbolic_mean_derivative(t_name, Q + k)(mu0, sig)
            return mu_c**k * (mpmath.diff(lambda mu: mt(mu, sig), mu0, Q + k) if Q + k else mt(mu0, sig))

        def weight(x):  # d^P/dx^P [phi(x) H(x)], phi^(n) = (-1)^n He_n phi
            return sum(mpmath.binomial(P, k) * (-1) ** (P - k) * mpmath.hermite(P - k, x / _R2()) * 2 ** (-(P - k) / mpf(2))
                       * _phi(x) * Hk(x, k) for k in range(P + 1))

        x0 = -m1 / sa
        L = 14
        pts = [-L, x0, L] if -L < x0 < L else [-L, L]
        val = mpmath.quad(lambda x: s(m1 + sa * x) * weight(x), pts)
        val = (-1) ** P * val / sa**P / 2 ** (i + j)
    return val


def _rand_point(rng):
    a = rng.uniform(0.4, 2.0)
    b = rng.uniform(0.4, 2.0)
    c = rng.uniform(-0.8, 0.8) * np.sqrt(a * b)
    return a, b, c, rng.uniform(-1.2, 1.2), rng.uniform(-1.2, 1.2)


def _digits(x, ref):
    return -mpmath.log10(abs(x - ref) / max(abs(ref), mpf(1)) + mpf(10) ** -60)


# ---------------------------------------------------------------------------
# Owen's T and the bivariate normal CDF
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("h,a", [(0.3, 0.5), (-1.7, 0.9), (0.8, 3.5), (2.2, -7.0), (0.0, 2.0), (1.5, 0.0), (0.4, 40.0)])
def test_owens_t_against_definition(h, a):
    with mpmath.workdps(40), thread_mp.workdps(40):
        ref = mpmath.quad(lambda x: mpmath.exp(-mpf(h) ** 2 * (1 + x * x) / 2) / (1 + x * x), [0, mpf(a)]) / (2 * mpmath.pi)
        got = normal.owens_t_mp(h, a)
        assert _digits(got, ref) > 35
    assert normal.owens_t_float(h, a) == pytest.approx(float(ref), rel=1e-14, abs=1e-17)


def test_owens_t_derivative_rules():
    """fdiff of OwensT against 40-digit numerical differentiation of the defining integral."""
    h, a = sympy.symbols("h a", real=True)
    T = normal.OwensT(h, a)
    dh = sympy.lambdify((h, a), sympy.diff(T, h), "mpmath")
    da = sympy.lambdify((h, a), sympy.diff(T, a), "mpmath")
    with mpmath.workdps(40), thread_mp.workdps(40):
        def Tq(hh, aa):
            return mpmath.quad(lambda x: mpmath.exp(-hh**2 * (1 + x * x) / 2) / (1 + x * x), [0, aa]) / (2 * mpmath.pi)
        for h0, a0 in ((mpf("0.7"), mpf("1.3")), (mpf("-1.2"), mpf("0.4"))):
            assert _digits(dh(h0, a0), mpmath.diff(lambda x: Tq(x, a0), h0)) > 30
            assert _digits(da(h0, a0), mpmath.diff(lambda x: Tq(h0, x), a0)) > 30
    assert T.subs(a, 0) == 0
    assert sympy.simplify(T.subs(h, 0) - sympy.atan(a) / (2 * sympy.pi)) == 0


def _bvn_ref(h, k, rho):
    """Plackett/Sheppard integral of the bivariate density over the correlation."""
    h, k, rho = mpf(h), mpf(k), mpf(rho)
    f = lambda th: mpmath.exp(-(h * h + k * k - 2 * h * k * mpmath.sin(th)) / (2 * mpmath.cos(th) ** 2))  # noqa: E731
    return _Phi(h) * _Phi(k) + mpmath.quad(f, [0, mpmath.asin(rho)]) / (2 * mpmath.pi)


BVN_CASES = [(0.3, -0.4, 0.5), (-1.2, -0.7, -0.6), (1.5, 0.0, 0.3), (0.0, -0.8, -0.9), (0.0, 0.0, 0.7),
             (2.0, 1.0, 0.99), (-0.5, 1.5, -0.2), (-2.5, -3.0, 0.8)]


@pytest.mark.parametrize("h,k,rho", BVN_CASES)
def test_bivariate_normal_cdf(h, k, rho):
    with mpmath.workdps(40), thread_mp.workdps(40):
        ref = _bvn_ref(h, k, rho)
        q = mpmath.sqrt(1 - mpf(rho) ** 2)
        assert _digits(normal.bvn_mp(h, k, rho, q), ref) > 35
    assert normal.bvn_float(h, k, rho, float(q)) == pytest.approx(float(ref), rel=1e-13, abs=1e-16)


def test_bivariate_normal_cdf_derivative_rules():
    h, k, r = sympy.symbols("h k rho", real=True)
    q = sympy.sqrt(1 - r**2)
    F = normal.BivariateNormalCDF(h, k, r, q)
    args = (mpf("0.4"), mpf("-0.9"), mpf("0.35"))
    with mpmath.workdps(40), thread_mp.workdps(40):
        for var, pos in ((h, 0), (k, 1), (r, 2)):
            got = sympy.lambdify((h, k, r), sympy.diff(F, var), "mpmath")(*args)

            def shifted(x, pos=pos):
                xs = list(args)
                xs[pos] = x
                return _bvn_ref(*xs)

            assert _digits(got, mpmath.diff(shifted, args[pos])) > 30
        # a second derivative through the rules (d^2/dh drho), also against differentiation of the integral
        got = sympy.lambdify((h, k, r), sympy.diff(F, h, r), "mpmath")(*args)
        ref = mpmath.diff(lambda x, y: _bvn_ref(x, args[1], y), (args[0], args[2]), (1, 1))
        assert _digits(got, ref) > 25


# ---------------------------------------------------------------------------
# kernels with means: values and partials against the 1-D reduction
# ---------------------------------------------------------------------------
SINGLE = ["relu", "step", "sign", "abs", "leaky_relu", "relu_pow2", "relu_pow3", "linear", "quadratic", "hermite_3",
          "normal_cdf", "erf", "erf_plain", "exp", "sin", "cos", "sin_2", "gauss", "gauss_2"]
PAIRS = [("relu", "abs"), ("step", "relu_pow2"), ("relu", "linear"), ("erf", "normal_cdf"), ("erf_plain", "erf"),
         ("sin", "gauss"), ("exp", "cos"), ("gauss_2", "sin_2")]


@pytest.mark.slow
@pytest.mark.parametrize("name", _sel(SINGLE, ["relu", "step", "relu_pow2", "erf", "sin", "gauss_2"]))
def test_kernel_with_means_against_quadrature(name):
    rng = random.Random(hash(name) % 1000)
    npts = 3 if full_run() else 1
    for _ in range(npts):
        a, b, c, m1, m2 = (mpf(x) for x in _rand_point(np.random.default_rng(rng.randrange(10**6))))
        got = symland.kernel(name, a, b, c, m1, m2, dps=30)
        ref = ref_price(name, name, (0, 0, 0, 0, 0), a, b, c, m1, m2)
        assert _digits(got, ref) > 25, (name, got, ref)


@pytest.mark.slow
@pytest.mark.parametrize("s,t", _sel(PAIRS, [("relu", "abs"), ("sin", "gauss")]))
def test_pair_kernel_with_means_against_quadrature(s, t):
    a, b, c, m1, m2 = _rand_point(np.random.default_rng(7))
    got = bias.kernel_with_means(s, a, b, c, m1, m2, dps=30, t=t)
    assert _digits(got, ref_price(s, t, (0, 0, 0, 0, 0), a, b, c, m1, m2)) > 25
    # float64 path to ~1e-13
    assert bias.kernel_with_means(s, a, b, c, m1, m2, t=t) == pytest.approx(float(got), rel=1e-12, abs=1e-14)


ORDER2 = [idx for idx in ((1, 0, 0, 0, 0), (0, 1, 0, 0, 0), (0, 0, 1, 0, 0), (0, 0, 0, 1, 0), (0, 0, 0, 0, 1),
                          (2, 0, 0, 0, 0), (1, 1, 0, 0, 0), (1, 0, 1, 0, 0), (0, 0, 2, 0, 0), (0, 0, 0, 2, 0),
                          (0, 0, 0, 1, 1), (1, 0, 0, 1, 0), (0, 1, 0, 1, 0), (0, 0, 1, 1, 0), (0, 0, 1, 0, 1),
                          (0, 2, 0, 0, 0), (0, 1, 1, 0, 0), (0, 0, 0, 0, 2), (1, 0, 0, 0, 1), (0, 1, 0, 0, 1))]


def _partial_cases():
    cases = []
    names = SINGLE + [f"{s}|{t}" for s, t in PAIRS]
    if not full_run():  # two partials each for a few pairs, dealt round-robin over ORDER2
        names = ["relu", "erf", "sin", "relu|abs"]
    for k, nm in enumerate(names):
        idxs = ORDER2 if full_run() else [ORDER2[(7 * k + 3 * r) % len(ORDER2)] for r in range(2)]
        cases += [(nm, idx) for idx in idxs]
    return cases


@pytest.mark.slow
@pytest.mark.parametrize("pair,index", _partial_cases())
def test_price_partials_with_means(pair, index):
    """Every first and second partial in (a, b, c, mu1, mu2) against the Price expectation (reduced by default)."""
    s, t = (pair.split("|") + [pair])[:2]
    a, b, c, m1, m2 = _rand_point(np.random.default_rng(11))
    got = bias.kernel_with_means(s, a, b, c, m1, m2, dps=30, t=t, index=index)
    ref = ref_price(s, t, index, a, b, c, m1, m2)
    assert _digits(got, ref) > 25, (pair, index, got, ref)


@pytest.mark.slow
@pytest.mark.parametrize("name", _sel(["relu", "erf", "sin", "gauss_2", "relu_pow3", "sign"], ["relu", "sin"]))
def test_covariance_partials_against_finite_differences(name):
    r"""Partials in $(a, b, c)$ (taken through the heat equation in the means) against 60-digit
    central differences of the verified value in $a$, $b$, $c$ themselves."""
    a, b, c, m1, m2 = (mpf(v) for v in _rand_point(np.random.default_rng(3)))
    h = mpf(10) ** -20

    def k(*x, index=(0, 0, 0, 0, 0), dps=60):
        return bias.kernel_with_means(name, *x, dps=dps, index=index)

    with mpmath.workdps(70), thread_mp.workdps(70):
        for pos in range(3):
            up, dn = [a, b, c, m1, m2], [a, b, c, m1, m2]
            up[pos] += h
            dn[pos] -= h
            fd = (k(*up) - k(*dn)) / (2 * h)
            idx = tuple(int(q == pos) for q in range(5))
            assert _digits(k(a, b, c, m1, m2, index=idx, dps=30), fd) > 28, pos
        # one second partial, d^2/da dc, as a central difference of the c-partial in a
        fd = (k(a + h, b, c, m1, m2, index=(0, 0, 1, 0, 0)) - k(a - h, b, c, m1, m2, index=(0, 0, 1, 0, 0))) / (2 * h)
        assert _digits(k(a, b, c, m1, m2, index=(1, 0, 1, 0, 0), dps=30), fd) > 28


@pytest.mark.slow
@pytest.mark.parametrize("name", _sel(["relu", "step", "abs", "relu_pow2", "erf", "erf_plain", "normal_cdf", "sin",
                                       "cos", "exp", "gauss", "quadratic", "hermite_3"], ["relu", "erf", "sin"]))
def test_zero_means_agree_with_centred_kernels(name):
    a, b, c = 1.3, 0.7, -0.5
    act = symland.activation(name)
    assert bias.kernel_with_means(name, a, b, c, 0.0, 0.0) == pytest.approx(symland.kernel(act, a, b, c), rel=1e-13, abs=1e-15)
    got = bias.kernel_with_means(name, a, b, c, 0, 0, dps=30)
    assert _digits(got, symland.kernel(act, a, b, c, dps=30)) > 28
    for idx3 in ((1, 0, 0), (0, 0, 1), (1, 0, 1)):
        got = bias.kernel_with_means(name, a, b, c, 0, 0, dps=30, index=idx3 + (0, 0))
        assert _digits(got, kernel_partial(act, idx3, a, b, c, dps=30)) > 27, idx3


@pytest.mark.slow
@pytest.mark.parametrize("name", _sel(["relu", "step", "relu_pow2", "erf", "sin", "gauss_2", "leaky_relu"],
                                      ["relu", "step"]))
def test_diagonal_with_means(name):
    r"""$\partial_t^i\partial_m^p E[s(u)^2]$ = $2^{-i}t^{-n/2}\int s(m+\sqrt t y)^2\,\mathrm{He}_n(y)\varphi(y)dy$, $n = 2i+p$."""
    f = _act_fn(name)
    t, m = mpf("1.4"), mpf("-0.35")
    with mpmath.workdps(40), thread_mp.workdps(40):
        st = mpmath.sqrt(t)
        for i, p in ((0, 0), (1, 0), (0, 1), (2, 0), (1, 1), (0, 2)):
            n = 2 * i + p
            ref = mpmath.quad(lambda y: f(m + st * y) ** 2 * mpmath.hermite(n, y / _R2()) * 2 ** (-n / mpf(2)) * _phi(y),
                              [-14, -m / st, 14]) / st**n / 2**i
            got = bias.diagonal_with_means(name, t, m, (i, p), dps=30)
            assert _digits(got, ref) > 25, (i, p)
    assert bias.diagonal_with_means(name, 1.4, -0.35) == pytest.approx(float(bias.diagonal_with_means(name, t, m, dps=30)),
                                                                       rel=1e-13)


# ---------------------------------------------------------------------------
# pairs without a closed form with means, one of them kinked: the 1-D reduction
# of symland.kernels.cross (split at the kink, by parts)
# ---------------------------------------------------------------------------
KINKED_PAIRS = [("selu", "selu"), ("relu", "erf"), ("erf", "relu"), ("selu", "tanh"), ("tanh", "relu"),
                ("selu", "relu"), ("relu", "sin"), ("step", "gelu")]
KINK_POINT = (1.3, 0.7, -0.4, 0.35, -0.6)


def _ref_any(s, t, index, a, b, c, m1, m2, dps):
    """ref_price with the hand-typed mean function on whichever side has one."""
    if t in MEANS:
        return ref_price(s, t, index, a, b, c, m1, m2, dps=dps)
    i, j, l, p, q = index
    return ref_price(t, s, (j, i, l, q, p), b, a, c, m2, m1, dps=dps)


@pytest.mark.slow
@pytest.mark.parametrize("s,t", _sel(KINKED_PAIRS, [("selu", "selu"), ("relu", "erf"), ("selu", "tanh")]))
def test_kinked_pairs_with_means_against_quadrature(s, t):
    """Value and Price partials up to total order 2 (all the Hessian needs) to 25 digits; float64 to 1e-11."""
    assert bias.mean_kernel_method(s, t) == "1-D quadrature"
    a, b, c, m1, m2 = KINK_POINT
    indices = [(0, 0, 0, 0, 0), (1, 0, 0, 0, 0), (0, 1, 0, 0, 0), (0, 0, 1, 0, 0), (0, 0, 0, 1, 0), (0, 0, 0, 0, 1),
               (0, 0, 1, 1, 0), (1, 1, 0, 0, 0), (0, 0, 2, 0, 0), (0, 1, 0, 1, 0)]
    chosen = indices if full_run() else [indices[0], indices[3 + KINKED_PAIRS.index((s, t)) % 7]]
    for index in chosen:
        ref = _ref_any(s, t, index, a, b, c, m1, m2, dps=32)
        got = bias.kernel_with_means(s, a, b, c, m1, m2, t=t, index=index, dps=30)
        assert _digits(got, ref) > 25, (index, got, ref)
        got64 = bias.kernel_with_means(s, a, b, c, m1, m2, t=t, index=index)
        assert got64 == pytest.approx(float(ref), rel=1e-11, abs=1e-13), index


def test_kinked_pair_partials_against_60_digit_finite_differences():
    """The by-parts partials against central differences of the value (step 1e-15 at 70 digits):
    first partials in every argument, and the mixed second partial in (c, mu1)."""
    s, t = ("selu", "relu") if not full_run() else ("selu", "selu")
    x0 = [mpf(v) for v in ("1.3", "0.7", "-0.4", "0.35", "-0.6")]

    def f(x):
        return bias.kernel_with_means(s, *x, t=t, dps=70)

    h = mpf(10) ** -15
    with mpmath.workdps(70), thread_mp.workdps(70):
        for k in range(5) if full_run() else (2, 3):
            up, dn = list(x0), list(x0)
            up[k] += h
            dn[k] -= h
            fd = (f(up) - f(dn)) / (2 * h)
            index = tuple(int(n == k) for n in range(5))
            got = bias.kernel_with_means(s, *x0, t=t, index=index, dps=30)
            assert _digits(got, fd) > 25, (index, got, fd)
        hh = mpf(10) ** -14
        cross = []
        for sc, sm in ((1, 1), (1, -1), (-1, 1), (-1, -1)):
            x = list(x0)
            x[2] += sc * hh
            x[3] += sm * hh
            cross.append(sc * sm * f(x))
        fd = mpmath.fsum(cross) / (4 * hh * hh)
        got = bias.kernel_with_means(s, *x0, t=t, index=(0, 0, 1, 1, 0), dps=30)
        assert _digits(got, fd) > 25, (got, fd)


def test_selu_diagonal_with_means_by_parts():
    r"""$\partial_t^i\partial_m^p E[selu(u)^2]$ against central differences of a direct quadrature of
    $E[selu(u)^2]$ at 60 digits (no derivative of selu taken anywhere)."""
    with mpmath.workdps(60), thread_mp.workdps(60):
        lam, alp = _selu_constants()

        def phi_ref(t, m):
            st = mpmath.sqrt(t)
            selu = lambda u: lam * u if u > 0 else lam * alp * (mpmath.exp(u) - 1)  # noqa: E731
            return mpmath.quad(lambda y: selu(m + st * y) ** 2 * _phi(y), [-mpmath.inf, -m / st, mpmath.inf])

        t, m, h = mpf("1.4"), mpf("-0.35"), mpf(10) ** -12
        refs = {(0, 0): phi_ref(t, m),
                (1, 0): (phi_ref(t + h, m) - phi_ref(t - h, m)) / (2 * h),
                (0, 1): (phi_ref(t, m + h) - phi_ref(t, m - h)) / (2 * h),
                (0, 2): (phi_ref(t, m + h) - 2 * phi_ref(t, m) + phi_ref(t, m - h)) / h**2}
    for index, ref in refs.items():
        got = bias.diagonal_with_means("selu", t, m, index, dps=30)
        assert _digits(got, ref) > 20, (index, got, ref)  # FD at step 1e-12: ~1e-24 truncation
        assert bias.diagonal_with_means("selu", 1.4, -0.35, index) == pytest.approx(float(ref), rel=1e-11), index


def test_activation_kernel_takes_means():
    act = symland.activation("relu")
    assert symland.kernel(act, 1.0, 2.0, 0.5, 0.0, 0.0) == symland.kernel(act, 1.0, 2.0, 0.5)
    assert symland.kernel(act, 1.0, 2.0, 0.5, 0.3, -0.2) == bias.kernel_with_means("relu", 1.0, 2.0, 0.5, 0.3, -0.2)
    got = symland.kernel(act, np.array([1.0, 1.5]), 2.0, 0.5, mu1=np.array([0.3, 0.0]), mu2=-0.2)
    assert got.shape == (2,)
    assert got[1] == pytest.approx(bias.kernel_with_means("relu", 1.5, 2.0, 0.5, 0.0, -0.2), rel=1e-15)


def test_quadrature_with_means_for_smooth_activations():
    """gelu has no closed form with means: the float64 1-D reduction on symland's gelu mean function vs
    ref_price on the hand-typed one; tanh (no mean function) takes the 2-D quadrature."""
    a, b, c, m1, m2 = 1.2, 0.9, 0.45, 0.5, -0.8
    assert bias.mean_kernel_method("gelu") == "1-D quadrature"
    assert bias.mean_kernel_method("tanh") == "2-D quadrature"
    for index in ((0, 0, 0, 0, 0), (0, 0, 1, 0, 0)) + (((0, 0, 0, 1, 0), (1, 0, 0, 0, 1)) if full_run() else ()):
        ref = ref_price("gelu", "gelu", index, a, b, c, m1, m2, dps=20)
        got = bias.kernel_with_means("gelu", a, b, c, m1, m2, index=index)
        assert got == pytest.approx(float(ref), rel=1e-10, abs=1e-13), index


def test_quadrature_means_shift():
    """expect2_float/expect1_float with means against exact Gaussian moments."""
    a, b, c, m1, m2 = 1.3, 0.6, -0.4, 0.7, -1.1
    D = a * b - c * c
    got = quadrature.expect2_float(lambda u: u**2, lambda v: v, a, b, c, D, m1, m2)
    # E[u^2 v] = m1^2 m2 + a m2 + 2 c m1 (Isserlis with means)
    assert got == pytest.approx(m1**2 * m2 + a * m2 + 2 * c * m1, rel=1e-13)
    assert quadrature.expect1_float(lambda u: u**3, 2.0, 0.5) == pytest.approx(0.125 + 3 * 0.5 * 2.0, rel=1e-13)


def test_errors():
    with pytest.raises(DomainError, match="c\\*\\*2 <= a\\*b"):
        bias.kernel_with_means("relu", 1.0, 1.0, 2.0, 0.1, 0.1)
    with pytest.raises(DomainError, match="variance"):
        bias.kernel_with_means("relu", -1.0, 1.0, 0.0, 0.1, 0.1, dps=20)
    with pytest.raises(DomainError, match="mu1"):
        bias.kernel_with_means("relu", 1.0, 1.0, 0.0, np.nan, 0.1)
    with pytest.raises(ValueError, match="index"):
        bias.kernel_with_means("relu", 1.0, 1.0, 0.0, 0.1, 0.1, index=(1, 0, 0))
    # relu second partials are singular at D = 0
    with pytest.raises(DomainError, match="not finite"):
        bias.kernel_with_means("relu", 1.0, 1.0, 1.0, 0.1, 0.1, index=(0, 0, 2, 0, 0))
    with pytest.raises(NoClosedFormError):
        bias.mean_partial_expr("gelu", (0, 0, 0, 0, 0))


def test_derivation_script_runs(monkeypatch, capsys):
    """derivations/bias_kernels.py asserts its derivations; run it in-process at reduced size."""
    script = pathlib.Path(__file__).resolve().parents[2] / "derivations" / "bias_kernels.py"
    monkeypatch.setattr("sys.argv", [str(script), "--small"])
    with pytest.raises(SystemExit) as exit_info:
        runpy.run_path(str(script), run_name="__main__")
    assert exit_info.value.code == 0
    assert "all bias-kernel derivations asserted" in capsys.readouterr().out
