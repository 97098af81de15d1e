r"""Tests of symland/kernels/library.py: every closed form against independent computations.

Independent references (none calls the kernel code under test):

* *inner expectations* $m(\mu, \sigma) = E_y[s(\mu + \sigma y)]$, typed by hand below and
  checked against direct ``mpmath.quad``;
* the *1-D reduction* $\kappa = \int \varphi(x)\,s(\sqrt a x)\,m(cx/\sqrt a, \sqrt{D/a})\,dx$
  by ``mpmath.quad`` at 40 digits, compared to 25 digits;
* *Price partials* $2^{-i-j}E[s^{(2i+l)}(u)s^{(2j+l)}(v)]$ without differentiating the closed
  form: conditioned on $u = t$, the $v$-side derivatives fall on the smooth inner expectation
  ($\partial_\mu^q m$) and the $u$-side ones move onto the Gaussian weight by parts (Hermite
  polynomials), so kinks and jumps of $s$ are harmless; one ``mpmath.quad`` per partial;
* polynomials: Isserlis moments against the moment generating function, Mehler's
  $E[\mathrm{He}_m(u)\mathrm{He}_n(v)] = \delta_{mn} n!\,c^n$ at $a = b = 1$, and Price's theorem
  as a bilinear form of the derivative polynomials.
"""

from __future__ import annotations

import functools
import os
import random
import subprocess
import sys
import zlib
from pathlib import Path

import mpmath
import numpy as np
import pytest
import sympy

import symland
from symland.numerics import symbols
from symland.errors import DomainError
from symland.kernels import library as lib
from symland.kernels import registry
from symland.kernels.evaluate import kernel_partial
from conftest import FULL


R = sympy.Rational
_mu = sympy.Symbol("mu", real=True)
_sig = sympy.Symbol("sigma", positive=True)
_Phi = lambda t: (1 + sympy.erf(t / sympy.sqrt(2))) / 2  # noqa: E731
_phi = lambda t: sympy.exp(-t**2 / 2) / sympy.sqrt(2 * sympy.pi)  # noqa: E731
_r = _mu / _sig
_q = sympy.sqrt(1 + _sig**2)
_relu_inner = _mu * _Phi(_r) + _sig * _phi(_r)


def _relu_mp(t):
    return t if t > 0 else mpmath.mpf(0)


#: name -> (s(t) in mpmath, written directly; inner m(mu, sigma) derived by hand)
CASES = {
    "step": (lambda t: mpmath.mpf(1) if t > 0 else mpmath.mpf(0), _Phi(_r)),
    "sign": (lambda t: mpmath.sign(t), sympy.erf(_r / sympy.sqrt(2))),
    "relu_pow2": (lambda t: _relu_mp(t) ** 2, (_mu**2 + _sig**2) * _Phi(_r) + _mu * _sig * _phi(_r)),
    "relu_pow3": (
        lambda t: _relu_mp(t) ** 3,
        (_mu**3 + 3 * _mu * _sig**2) * _Phi(_r) + _sig * (_mu**2 + 2 * _sig**2) * _phi(_r),
    ),
    "leaky_relu": (lambda t: t if t > 0 else t / 100, R(99, 100) * _relu_inner + _mu / 100),
    "abs": (lambda t: abs(t), 2 * _relu_inner - _mu),
    "normal_cdf": (lambda t: mpmath.ncdf(t), _Phi(_mu / _q)),
    "gelu": (lambda t: t * mpmath.ncdf(t), _mu * _Phi(_mu / _q) + _sig**2 / _q * _phi(_mu / _q)),
    "sin": (lambda t: mpmath.sin(t), sympy.sin(_mu) * sympy.exp(-_sig**2 / 2)),
    "cos": (lambda t: mpmath.cos(t), sympy.cos(_mu) * sympy.exp(-_sig**2 / 2)),
    "exp": (lambda t: mpmath.exp(t), sympy.exp(_mu + _sig**2 / 2)),
    "gauss": (lambda t: mpmath.exp(-t * t / 2), sympy.exp(-_mu**2 / (2 * _q**2)) / _q),
}
BUILTIN = list(CASES)


def _poly_inner(expr):
    """E_y[p(mu + sigma y)] for a polynomial p, from E[y^j] = (j-1)!! (j even)."""
    poly = sympy.Poly(expr, symbols.z)
    out = 0
    for (k,), co in poly.terms():
        for j in range(0, k + 1, 2):
            out += co * sympy.binomial(k, j) * _mu ** (k - j) * _sig**j * sympy.factorial2(j - 1)
    return sympy.expand(out)


def _add_param_cases():
    """Parametrised factories: the registered name and an independent (s, m)."""
    al = R(1, 5)
    act = registry.leaky_relu_activation(al)
    CASES[act.name] = (lambda t: t if t > 0 else t / 5, (1 - al) * _relu_inner + al * _mu)
    w = R(2)
    CASES[registry.sin_activation(w).name] = (lambda t: mpmath.sin(2 * t), sympy.sin(2 * _mu) * sympy.exp(-2 * _sig**2))
    w = sympy.pi / 3
    CASES[registry.cos_activation(w).name] = (
        lambda t: mpmath.cos(mpmath.pi * t / 3),
        sympy.cos(w * _mu) * sympy.exp(-(w**2) * _sig**2 / 2),
    )
    w = R(1, 2)  # exp(-2 z^2) = exp(-(2 z)^2 / 2): inner is the gauss inner at (2 mu, 2 sigma)
    CASES[registry.gauss_activation(w).name] = (
        lambda t: mpmath.exp(-2 * t * t),
        sympy.exp(-4 * _mu**2 / (2 * (1 + 4 * _sig**2))) / sympy.sqrt(1 + 4 * _sig**2),
    )
    for p in (3, 4):
        act = registry.monomial_activation(p)
        CASES[act.name] = (lambda t, p=p: t**p, _poly_inner(symbols.z**p))
    for n in (3, 4, 5):
        act = registry.hermite_activation(n)
        f = sympy.lambdify(symbols.z, sympy.hermite_prob(n, symbols.z), modules="mpmath")
        CASES[act.name] = (f, _poly_inner(act.expr))


_add_param_cases()
NAMES = list(CASES)
PARAM = [n for n in NAMES if n not in BUILTIN]


def _npdf(x):
    return mpmath.exp(-x * x / 2) / mpmath.sqrt(2 * mpmath.pi)


@functools.lru_cache(maxsize=None)
def _inner_mp(name):
    return sympy.lambdify((_mu, _sig), CASES[name][1], modules="mpmath")


def ref_kernel_quad(name, a, b, c, dps=40):
    """kappa by the 1-D reduction: int phi(x) s(sqrt(a) x) m(c x / sqrt(a), sqrt(D/a)) dx."""
    s, m = CASES[name][0], _inner_mp(name)
    with mpmath.workdps(dps):
        a, b, c = mpmath.mpf(a), mpmath.mpf(b), mpmath.mpf(c)
        sa, sig = mpmath.sqrt(a), mpmath.sqrt((a * b - c * c) / a)
        f = lambda x: _npdf(x) * s(sa * x) * m(c * x / sa, sig)  # noqa: E731
        return mpmath.quad(f, [-mpmath.inf, -4, 0, 4, mpmath.inf])


def _random_covariances(n, seed):
    rng = random.Random(seed)
    pts = []
    for _ in range(n):
        a, b = rng.uniform(0.2, 3.0), rng.uniform(0.2, 3.0)
        pts.append((a, b, rng.uniform(-0.95, 0.95) * (a * b) ** 0.5))
    return pts


# ---------------------------------------------------------------------------
# registry and expressions
# ---------------------------------------------------------------------------
def test_registered_and_exact_constants():
    known = symland.known_activations()
    for name in NAMES:
        assert name in known
        act = symland.activation(name)
        assert act.has_closed_form
        for e in (act.kernel_expr, act.safe_kernel_expr):
            assert not e.atoms(sympy.Float), (name, e)
        assert act.kernel_expr.free_symbols <= {symbols.a_, symbols.b_, symbols.c_}
        assert act.safe_kernel_expr.free_symbols <= {symbols.a_, symbols.b_, symbols.c_, symbols.D_}


def test_expressions_and_parity():
    z = symbols.z
    expected = {
        "step": sympy.Heaviside(z), "sign": sympy.sign(z), "abs": sympy.Abs(z),
        "gelu": z * (1 + sympy.erf(z / sympy.sqrt(2))) / 2, "gauss": sympy.exp(-z**2 / 2),
        "sin": sympy.sin(z), "exp": sympy.exp(z), "hermite_4": z**4 - 6 * z**2 + 3,
    }
    for name, e in expected.items():
        assert sympy.simplify(symland.activation(name).expr - e) == 0, name
    for name in ["sign", "sin", "hermite_3", "hermite_5", "monomial_3"]:
        assert symland.activation(name).is_odd, name
    for name in ["abs", "cos", "gelu", "step", "leaky_relu"]:
        assert not symland.activation(name).is_odd, name


def test_leaky_relu_expression_values():
    act = symland.activation("leaky_relu")
    f = sympy.lambdify(symbols.z, act.expr)
    assert f(2.0) == 2.0 and f(-3.0) == pytest.approx(-0.03, rel=1e-15)


def test_factories_are_idempotent_and_validate():
    assert registry.leaky_relu_activation(R(1, 5)) is registry.leaky_relu_activation(R(1, 5))
    assert registry.sin_activation(1) is symland.activation("sin")
    assert registry.gauss_activation(1) is symland.activation("gauss")
    assert registry.relu_power_activation(1) is symland.activation("relu")
    with pytest.raises(ValueError, match="exact"):
        registry.leaky_relu_activation(0.01)
    with pytest.raises(ValueError, match="exact"):
        registry.sin_activation(sympy.Symbol("w"))
    with pytest.raises(ValueError, match="positive"):
        registry.gauss_activation(-1)
    with pytest.raises(ValueError):
        registry.monomial_activation(-1)
    with pytest.raises(ValueError):
        registry.relu_power_activation(4)


def test_safe_form_equals_exact_form_numerically():
    A, B, C, Dsym = symbols.a_, symbols.b_, symbols.c_, symbols.D_
    pts = _random_covariances(6, 7)
    for name in NAMES:
        act = symland.activation(name)
        for a, b, c in pts:
            with mpmath.workdps(40):
                a_, b_, c_ = mpmath.mpf(a), mpmath.mpf(b), mpmath.mpf(c)
                vals = {A: a_, B: b_, C: c_, Dsym: a_ * b_ - c_ * c_}
                s = act.safe_kernel_expr.evalf(40, subs=vals)
                e = act.kernel_expr.evalf(40, subs=vals)
            assert abs(s - e) <= sympy.Float(10) ** -35 * (1 + abs(e)), (name, a, b, c)


# ---------------------------------------------------------------------------
# inner expectations and kernels against quadrature
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("name", NAMES)
def test_inner_closed_form_against_direct_quadrature(name):
    s, m = CASES[name][0], _inner_mp(name)
    with mpmath.workdps(32):
        for mu, sig in [(-1.7, 0.4), (0.3, 1.3), (0.0, 0.7), (1.1, 2.5)]:
            mu, sig = mpmath.mpf(mu), mpmath.mpf(sig)
            direct = mpmath.quad(lambda y: s(mu + sig * y) * _npdf(y), [-mpmath.inf, -mu / sig, mpmath.inf])
            closed = m(mu, sig)
            assert abs(direct - closed) <= mpmath.mpf(10) ** -29 * max(1, abs(closed)), (name, mu, sig)


@pytest.mark.parametrize("name", NAMES)
def test_kernel_against_quadrature_25_digits(name):
    act = symland.activation(name)
    exact = sympy.lambdify((symbols.a_, symbols.b_, symbols.c_), act.kernel_expr, modules="mpmath")
    pts = _random_covariances(5 if FULL else 1, zlib.crc32(name.encode()) % 1000)  # reproducible seed
    pts.append((1.3, 0.6, 0.0))
    for a, b, c in pts:
        ref = ref_kernel_quad(name, a, b, c)
        scale = max(abs(ref), mpmath.mpf(10) ** -6)
        got = symland.kernel(act, a, b, c, dps=40)
        assert abs(got - ref) <= mpmath.mpf(10) ** -25 * scale, (name, a, b, c, got, ref)
        with mpmath.workdps(40):
            val = exact(mpmath.mpf(a), mpmath.mpf(b), mpmath.mpf(c))
        assert abs(val - ref) <= mpmath.mpf(10) ** -25 * scale, (name, a, b, c, val, ref)


RELU_POWERS = {"relu_pow2": 2, "relu_pow3": 3}


def _float_errors(name, rhos, variances=((0.7, 2.3), (1.0, 1.0), (1e-3, 4.0))):
    """(point, relative error, error / (ab)^(p/2)) of the float64 kernel vs the exact form at 50 digits."""
    act = symland.activation(name)
    exact = sympy.lambdify((symbols.a_, symbols.b_, symbols.c_), act.kernel_expr, modules="mpmath")
    pts = [(a, b, r * (a * b) ** 0.5) for a, b in variances for r in rhos]
    a, b, c = (np.array(v) for v in zip(*pts))
    got = symland.kernel(act, a, b, c)
    out = []
    for k, (a_, b_, c_) in enumerate(pts):
        with mpmath.workdps(50):
            ref = exact(mpmath.mpf(a_), mpmath.mpf(b_), mpmath.mpf(c_))
            err = abs(mpmath.mpf(got[k]) - ref)
            out.append((pts[k], err / abs(ref) if ref else err, err / (a_ * b_) ** (RELU_POWERS.get(name, 1) / 2)))
    return out


ANTI = (-0.9, -0.99, -(1 - 1e-8))


@pytest.mark.parametrize("name", NAMES)
def test_float64_kernel(name):
    """float64 kernel: 1e-13 relative at generic, near-aligned and near anti-aligned covariances
    (relu powers vanish like (pi - theta)^(2p+1) there; gaussian.py recomputes those entries in mpmath)."""
    rhos = (0.0, 0.5, -0.5, 0.9, 1 - 1e-8) + ANTI
    # relu_pow3 at rho = -0.9 (D = 0.19 ab, outside gaussian.py's mpmath recomputation D < 0.1 ab)
    # keeps only ~5e-13 relative: the O(1) terms of its safe form cancel to a kernel ~1e-3 (ab)^(3/2)
    tol = 1e-12 if name == "relu_pow3" else 1e-13
    bad = [e for e in _float_errors(name, rhos) if e[1] > tol]
    assert not bad, (name, bad[:3])


@pytest.mark.parametrize("name", sorted(RELU_POWERS))
def test_float64_relu_power_absolute_accuracy_anti_aligned(name):
    """What holds near c = -sqrt(ab) for max(z,0)^p: absolute error of a few ulps of (ab)^(p/2)."""
    bad = [e for e in _float_errors(name, ANTI) if e[2] > 1e-15]
    assert not bad, (name, bad[:3])


def test_step_kernel_exactly_anti_aligned_is_zero_and_sign_is_minus_one():
    assert symland.kernel("step", 2.0, 8.0, -4.0) == 0.0
    assert symland.kernel("sign", 2.0, 8.0, -4.0) == -1.0
    assert symland.kernel("step", 2.0, 8.0, 4.0) == 0.5
    assert symland.kernel("abs", 2.0, 8.0, -4.0) == pytest.approx(4.0, rel=1e-15)


# ---------------------------------------------------------------------------
# Price partials via conditioning and integration by parts (Price's theorem as the reference)
# ---------------------------------------------------------------------------
@functools.lru_cache(maxsize=None)
def _inner_mu_derivative(name, n):
    """(mu, sigma) -> d^n m / d mu^n = E[s^(n)(mu + sigma y)] (mpmath)."""
    return sympy.lambdify((_mu, _sig), sympy.diff(CASES[name][1], _mu, n), modules="mpmath")


def ref_partial(name, index, a, b, c, dps=30):
    r"""$2^{-i-j}E[s^{(p)}(u)s^{(q)}(v)]$, $p = 2i+l$, $q = 2j+l$ (Price), without differentiating $s$.

    Given $u = t$, $E[s^{(q)}(v) \mid t] = \partial_\mu^q m(ct/a, \sqrt{D/a}) =: G(t)$; the $p$
    derivatives on $s(u)$ move onto the Gaussian weight by parts (valid for kinks and jumps):
    $\int s^{(p)} N_a G\,dt = (-1)^p \int s\,(N_a G)^{(p)}\,dt$ with
    $N_a^{(n)}(t) = (-1)^n a^{-n/2}\mathrm{He}_n(t/\sqrt a) N_a(t)$ and $G^{(k)} = (c/a)^k\partial_\mu^{q+k} m$.
    """
    return reduction_reference(CASES[name][0], functools.partial(_inner_mu_derivative, name), index, a, b, c, dps,
                               [-mpmath.inf, 0, mpmath.inf])


def reduction_reference(s, inner_derivative, index, a, b, c, dps, points):
    r"""$2^{-i-j}E[s^{(p)}(u)t^{(q)}(v)]$ for ``s`` (an mpmath function) and a $t$ given by its hand-typed
    mean function: ``inner_derivative(n)`` is $(\mu, \sigma) \mapsto \partial_\mu^n m_t(\mu, \sigma)$.
    The reduction of :func:`ref_partial`, integrated in $x = u/\sqrt a$ over the pieces between ``points``."""
    i, j, l = index
    p, q = 2 * i + l, 2 * j + l
    derivs = [inner_derivative(q + k) for k in range(p + 1)]
    with mpmath.workdps(dps):
        a, b, c = mpmath.mpf(a), mpmath.mpf(b), mpmath.mpf(c)
        sa, sig = mpmath.sqrt(a), mpmath.sqrt((a * b - c * c) / a)
        coef = [mpmath.binomial(p, k) * (-1) ** (p - k) * sa ** (k - p) * (c / a) ** k for k in range(p + 1)]

        def f(x):
            he = [mpmath.mpf(1), x]  # probabilists' Hermite by recurrence
            for n in range(1, p):
                he.append(x * he[n] - n * he[n - 1])
            return mpmath.npdf(x) * s(sa * x) * mpmath.fsum(coef[k] * he[p - k] * derivs[k](c * x / sa, sig)
                                                            for k in range(p + 1))

        val = mpmath.quad(f, points)
        return (-1) ** p * val / 2 ** (i + j)


ALL_INDICES = [(i, j, l) for i in range(5) for j in range(5) for l in range(5) if 1 <= i + j + l <= 4]
PARTIAL_POINTS = [(0.9, 1.7, -0.6), (1.4, 0.5, 0.55)] if FULL else [(0.9, 1.7, -0.6)]


def _indices(name):
    """FULL: all 34 partials of total order 1..4.  Default: the 34 indices dealt round-robin over
    the activations, so every index (up to order 4) is checked for some activation in every run."""
    if FULL:
        return ALL_INDICES
    if name == "gelu":  # symland's own derivation of gelu's mixed a/b partials takes ~10-40 s (FULL only)
        return [(0, 0, 4), (1, 0, 1)]
    return ALL_INDICES[NAMES.index(name) :: len(NAMES)]


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_price_partials_against_quadrature(name):
    act = symland.activation(name)
    for a, b, c in PARTIAL_POINTS:
        for index in _indices(name):
            ref = ref_partial(name, index, a, b, c, dps=36)
            got = kernel_partial(act, index, a, b, c, dps=32)
            scale = max(abs(ref), mpmath.mpf(10) ** -3)  # some partials vanish exactly (polynomials)
            assert abs(got - ref) <= mpmath.mpf(10) ** -25 * scale, (name, index, a, b, c, got, ref)


# ---------------------------------------------------------------------------
# polynomials: Isserlis, Mehler, Price
# ---------------------------------------------------------------------------
def test_moments_against_moment_generating_function():
    """E[u^i v^j] = i! j! [s^i t^j] exp(Q/2), Q = a s^2 + 2c st + b t^2; only the term Q^n / (2^n n!),
    n = (i + j)/2, contributes."""
    s_, t_ = sympy.symbols("s t")
    a, b, c = symbols.a_, symbols.b_, symbols.c_
    Q = a * s_**2 + 2 * c * s_ * t_ + b * t_**2
    for i in range(9):
        for j in range(9):
            if (i + j) % 2:
                assert lib.moment(i, j) == 0, (i, j)
                continue
            n = (i + j) // 2
            term = sympy.Poly(sympy.expand(Q**n), s_, t_).coeff_monomial(s_**i * t_**j)
            ref = sympy.factorial(i) * sympy.factorial(j) * term / (2**n * sympy.factorial(n))
            assert sympy.expand(ref - lib.moment(i, j)) == 0, (i, j)


def test_polynomial_kernel_known_values():
    a, b, c, z = symbols.a_, symbols.b_, symbols.c_, symbols.z
    assert sympy.expand(lib.polynomial_kernel(z**3) - (9 * a * b * c + 6 * c**3)) == 0
    assert sympy.expand(lib.polynomial_kernel(z**2) - (a * b + 2 * c**2)) == 0
    assert lib.polynomial_kernel(sympy.Integer(3)) == 9
    assert sympy.expand(lib.polynomial_kernel(z + 1) - (c + 1)) == 0
    x = sympy.Symbol("x")
    assert sympy.expand(lib.polynomial_kernel(x**3) - (9 * a * b * c + 6 * c**3)) == 0
    with pytest.raises(ValueError):
        lib.polynomial_kernel(0.5 * z**2)
    with pytest.raises(ValueError):
        lib.polynomial_kernel(z * x)


def _bilinear(f, g):
    """E[f(u) g(v)] for polynomials f, g by Isserlis moments."""
    pf, pg = sympy.Poly(f, symbols.z), sympy.Poly(g, symbols.z)
    return sympy.expand(sum(p * q * lib.moment(i, j) for (i,), p in pf.terms() for (j,), q in pg.terms()))


def test_hermite_mehler_any_degree():
    """E[He_m(u) He_n(v)] = delta_mn n! c^n at a = b = 1 (Mehler), for degrees up to 12."""
    a, b, c, z = symbols.a_, symbols.b_, symbols.c_, symbols.z
    for n in range(13):
        act = registry.hermite_activation(n)
        assert act.name == f"hermite_{n}"
        assert sympy.expand(act.kernel_expr.subs({a: 1, b: 1}) - sympy.factorial(n) * c**n) == 0, n
    for m in range(7):
        for n in range(m + 1, 7):
            cross = _bilinear(sympy.hermite_prob(m, z), sympy.hermite_prob(n, z)).subs({a: 1, b: 1})
            assert sympy.expand(cross) == 0, (m, n)


def test_monomial_kernel_high_degree_against_gauss_hermite():
    """z^p up to p = 9: exact kernel vs 30x30-node Gauss-Hermite (exact for these degrees up to node rounding)."""
    for p in range(10):
        act = registry.monomial_activation(p)
        assert act.name == f"monomial_{p}"
        f = sympy.lambdify((symbols.a_, symbols.b_, symbols.c_), act.kernel_expr, modules="mpmath")
        with mpmath.workdps(40):
            a, b, c = mpmath.mpf("0.8"), mpmath.mpf("1.9"), mpmath.mpf("-0.7")
            sa, sig = mpmath.sqrt(a), mpmath.sqrt((a * b - c * c) / a)
            xs, ws = np.polynomial.hermite_e.hermegauss(30)  # float64 nodes: the rule is exact up to ~1e-15
            # 2-D Gauss-Hermite, exact for degree 2p <= 18 < 2*30 (up to the rounding of the nodes)
            nodes = [(mpmath.mpf(x), mpmath.mpf(w) / mpmath.sqrt(2 * mpmath.pi)) for x, w in zip(xs, ws)]
            ref = mpmath.fsum(
                wx * wy * (sa * x) ** p * (c * x / sa + sig * y) ** p for x, wx in nodes for y, wy in nodes
            )
            got = f(a, b, c)
        assert abs(got - ref) <= mpmath.mpf(10) ** -12 * max(1, abs(ref)), (p, got, ref)


def test_polynomial_price_theorem():
    """Symland's partials of polynomial kernels = 2^(-i-j) E[s^(2i+l)(u) s^(2j+l)(v)] (bilinear Isserlis)."""
    z = symbols.z
    for name in ["monomial_4", "hermite_5"]:
        act = symland.activation(name)
        for i, j, l in ALL_INDICES:
            f = sympy.diff(act.expr, z, 2 * i + l)
            g = sympy.diff(act.expr, z, 2 * j + l)
            ref = _bilinear(f, g) / 2 ** (i + j)
            got = symland.kernels.partials.kernel_partial_expr(act, (i, j, l))
            assert sympy.expand(got - ref) == 0, (name, (i, j, l))


# ---------------------------------------------------------------------------
# audit of issue 6 part 1: what does not exist as a function is refused clearly
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("name,index", [("step", (0, 0, 1)), ("sign", (0, 0, 1)), ("relu_pow2", (0, 0, 3)),
                                        ("abs", (0, 0, 2)), ("leaky_relu", (0, 0, 2)), ("relu_pow3", (0, 0, 4))])
def test_partials_that_are_not_functions_are_refused(name, index):
    r"""$E[\delta(u)\delta(v)] = 1/(2\pi\sqrt D)$ has no value at $c^2 = ab$, and derivatives of a kink at zero
    variance have none either: both raise DomainError (never a silent inf/NaN); nearby the partial is finite."""
    with pytest.raises(DomainError, match="not finite|singular"):
        kernel_partial(name, index, 2.0, 8.0, 4.0)
    with pytest.raises(DomainError, match="not finite|singular"):
        kernel_partial(name, index, 2.0, 8.0, 4.0, dps=20)
    with pytest.raises(DomainError, match="zero variance"):
        kernel_partial(name, index, 0.0, 8.0, 0.0)
    assert np.isfinite(kernel_partial(name, index, 2.0, 8.0, 3.9))


def test_derivation_script_runs():
    """derivations/activation_library.py derives every library kernel and asserts it (exit code 0)."""
    root = Path(__file__).resolve().parents[2]
    env = dict(os.environ, PYTHONPATH=str(root) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, str(root / "derivations" / "activation_library.py")],
                          capture_output=True, text=True, env=env, timeout=1200, cwd=root)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "all derivations asserted" in proc.stdout
    for name in ["step", "relu_pow3", "normal_cdf", "gelu", "gauss", "leaky_relu", "abs"]:
        assert f"[{name}: equal to the registered form" in proc.stdout, name


# ---------------------------------------------------------------------------
# quadrature activations added for issue 6 part 4: silu (smooth) -- selu is tested in tests/kernels/test_cross.py
# ---------------------------------------------------------------------------
def _fine_tensor_reference(expr, index, a, b, c, panels=100, nodes=10, L=9.0):
    """2^{-i-j} E[s^(p)(u) s^(q)(v)] by a tensor composite Gauss-Legendre rule written here (much finer
    than symland's): u = sqrt(a) x, v = (c/sqrt a) x + sqrt(D/a) y."""
    i, j, l = index
    p, q = 2 * i + l, 2 * j + l
    z = symbols.z
    f = sympy.lambdify(z, sympy.diff(expr, z, p), "numpy")
    g = sympy.lambdify(z, sympy.diff(expr, z, q), "numpy")
    t, w = np.polynomial.legendre.leggauss(nodes)
    edges = np.linspace(-L, L, panels + 1)
    h = (edges[1] - edges[0]) / 2
    x = ((edges[:-1] + edges[1:])[:, None] / 2 + h * t[None, :]).ravel()
    wx = (h * np.tile(w, panels)) * np.exp(-x * x / 2) / np.sqrt(2 * np.pi)
    sa = np.sqrt(a)
    fx = f(sa * x) * wx
    v = (c / sa) * x[:, None] + np.sqrt((a * b - c * c) / a) * x[None, :]
    return float(fx @ (g(v) @ wx)) / 2 ** (i + j)


SILU_INDICES = [(0, 0, 0), (0, 0, 1), (1, 0, 1), (0, 0, 2), (2, 0, 0), (0, 1, 3), (1, 1, 2), (0, 0, 4)]


def test_silu_float64_quadrature_accuracy():
    """silu = z sigmoid(z): kernel and Price partials up to order 4 meet the stated quadrature accuracy
    (1e-10 relative, variances <= 10) against an independent fine tensor rule."""
    silu = symland.activation("silu")
    assert not silu.has_closed_form and silu.method == "quadrature"
    pts = [(1.0, 1.0, 0.5), (4.0, 9.0, -5.0), (10.0, 0.5, 2.0)] if FULL else [(10.0, 0.5, 2.0)]
    for a, b, c in pts:
        for index in SILU_INDICES if FULL else SILU_INDICES[::2]:
            ref = _fine_tensor_reference(silu.expr, index, a, b, c)
            got = kernel_partial(silu, index, a, b, c)
            assert abs(got - ref) <= 1e-10 * max(1, abs(ref)), (index, (a, b, c), got, ref)
