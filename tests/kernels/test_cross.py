r"""Tests of symland/kernels/cross.py and symland/kernels/gaussian_atoms.py: cross kernels E[s(u) t(v)].

Independent references (none calls symland.kernels.cross or symland.kernels.gaussian_atoms):

* the 1-D reduction $K = \int \varphi(x)\,s(\sqrt a x)\,m_t(cx/\sqrt a, \sqrt{D/a})\,dx$ with the inner
  expectations $m_t$ typed by hand in ``tests/kernels/test_library.py`` (``CASES``) and below,
  each checked against direct ``mpmath.quad``; ``mpmath.quad`` at 40 digits, compared to 25;
* Price partials $2^{-i-j}E[s^{(p)}(u)t^{(q)}(v)]$ by conditioning on $u$ and integration by parts
  (no derivative of $s$ is taken), compared to 24 digits;
* registered single-activation kernels (for $s = t$), SELU's published fixed point
  (mean 0, variance 1 at unit input variance), and exact identities between activations.
"""

from __future__ import annotations

import functools
import itertools
import os
import subprocess
import sys
from pathlib import Path

import mpmath

from symland.numerics.mpcontext import thread_mp
import numpy as np
import pytest
import sympy

import symland
from symland.numerics import symbols
from symland.kernels import library as lib
from symland.kernels import gaussian_atoms as atoms
from symland.kernels import cross as mixed
from symland.kernels import fallback
from symland.kernels import registry
from symland.errors import DomainError, NoClosedFormError, PrecisionError

from conftest import full_run
from test_library import CASES, _mu, _npdf, _Phi, _relu_inner, _sig, reduction_reference

FULL = full_run()
ROOT = Path(__file__).resolve().parents[2]

# --- inner expectations m(mu, sigma) = E[s(mu + sigma y)] for the activations CASES lacks ---------
_q = sympy.sqrt(1 + _sig**2)
_SELU_L, _SELU_A = lib.SELU_LAMBDA, lib.SELU_ALPHA
EXTRA = {
    "relu": (lambda t: t if t > 0 else mpmath.mpf(0), _relu_inner),
    "erf": (lambda t: mpmath.erf(t / mpmath.sqrt(2)), sympy.erf(_mu / (sympy.sqrt(2) * _q))),
    "erf_plain": (lambda t: mpmath.erf(t), sympy.erf(_mu / sympy.sqrt(1 + 2 * _sig**2))),
    "linear": (lambda t: t, _mu),
    "quadratic": (lambda t: t * t, _mu**2 + _sig**2),
    # E[(e^{mu + sigma y} - 1) 1{mu + sigma y < 0}] = e^{mu + sigma^2/2} Phi(-mu/sigma - sigma) - Phi(-mu/sigma)
    "selu": (None, _SELU_L * (_relu_inner + _SELU_A * (sympy.exp(_mu + _sig**2 / 2) * _Phi(-_mu / _sig - _sig)
                                                  - _Phi(-_mu / _sig)))),
}
REF = {**CASES, **EXTRA}



@functools.lru_cache(maxsize=None)
def _selu_mp():
    # the constants at 60 digits whatever the caller's precision (an mpf rounds to the current one)
    with mpmath.workdps(60), thread_mp.workdps(60):
        lam, alp = (mpmath.mpf(str(sympy.N(v, 60))) for v in (_SELU_L, _SELU_A))
    return lambda t: lam * t if t > 0 else lam * alp * (mpmath.exp(t) - 1)


def _s(name):
    return _selu_mp() if name == "selu" else REF[name][0]


@functools.lru_cache(maxsize=None)
def _inner_d(name, n):
    return sympy.lambdify((_mu, _sig), sympy.diff(REF[name][1], _mu, n), modules="mpmath")


def ref_partial(s, t, index, a, b, c, dps=40):
    r"""$2^{-i-j}E[s^{(p)}(u)t^{(q)}(v)]$ by conditioning on $u$ and parts (see test_library)."""
    return reduction_reference(_s(s), functools.partial(_inner_d, t), index, a, b, c, dps,
                               [-mpmath.inf, -4, 0, 4, mpmath.inf])


# --- the activations under test ------------------------------------------------------------------
for _n in (3, 4):
    registry.monomial_activation(_n)
registry.hermite_activation(3)
CLOSED = ["erf", "erf_plain", "relu", "linear", "quadratic", "step", "sign", "relu_pow2", "relu_pow3",
          "leaky_relu", "abs", "normal_cdf", "gelu", "sin", "cos", "exp", "gauss",
          "leaky_relu_1/5", "sin_2", "cos_pi/3", "gauss_1/2", "monomial_3", "hermite_3"]
ALL_PAIRS = list(itertools.product(CLOSED, CLOSED))
POINTS = [(1.3, 0.6, -0.5), (0.8, 1.9, 0.9), (2.2, 0.7, 0.3)]


def _pairs_default():
    """Default: every activation as s and as t, with varied partners (a deterministic stride)."""
    n = len(CLOSED)  # 23 is prime: k -> 7k + 3 is a permutation, so every activation is s once and t once
    return [(CLOSED[k], CLOSED[(k * 7 + 3) % n]) for k in range(n)]


PAIRS = ALL_PAIRS if FULL else _pairs_default()


def test_every_pair_of_closed_form_activations_has_a_closed_form():
    missing = [(s, t) for s, t in ALL_PAIRS if not mixed.has_cross_closed_form(s, t)]
    assert missing == []
    for s, t in ALL_PAIRS[:: 1 if FULL else 11]:
        e = mixed.cross_kernel_expr(s, t)
        assert not e.atoms(sympy.Float), (s, t)
        assert e.free_symbols <= {symbols.a_, symbols.b_, symbols.c_}, (s, t)
        assert mixed.cross_kernel_safe_expr(s, t).free_symbols <= {symbols.a_, symbols.b_, symbols.c_, symbols.D_}


@pytest.mark.slow
@pytest.mark.parametrize("s,t", PAIRS, ids=[f"{s}-{t}" for s, t in PAIRS])
def test_cross_kernel_against_quadrature_25_digits(s, t):
    k = PAIRS.index((s, t)) % 3
    pts = POINTS if FULL else POINTS[k: k + 1]
    for a, b, c in pts:
        ref = ref_partial(s, t, (0, 0, 0), a, b, c)
        got = mixed.cross_kernel(s, t, a, b, c, dps=40)
        scale = max(abs(ref), mpmath.mpf(10) ** -6)
        assert abs(got - ref) <= mpmath.mpf(10) ** -25 * scale, (s, t, a, b, c, got, ref)


def _lam(e):
    return sympy.lambdify((symbols.a_, symbols.b_, symbols.c_, symbols.D_), e, modules="mpmath")


def test_symmetry_and_safe_form_50_digits():
    """K_{s,t}(a, b, c) == K_{t,s}(b, a, c), and the safe form == the exact form (both signs of c)."""
    pts = [(1.3, 0.6, -0.5), (0.8, 1.9, 1.2), (2.2, 0.7, -1.2), (0.5, 0.5, 0.49)]
    for s, t in (ALL_PAIRS if FULL else ALL_PAIRS[::4]):
        ex, ext, sf = (_lam(e) for e in (mixed.cross_kernel_expr(s, t), mixed.cross_kernel_expr(t, s),
                                          mixed.cross_kernel_safe_expr(s, t)))
        with mpmath.workdps(60), thread_mp.workdps(60):
            for a, b, c in pts:
                a, b, c = mpmath.mpf(a), mpmath.mpf(b), mpmath.mpf(c)
                D = a * b - c * c
                v = ex(a, b, c, D)
                tol = mpmath.mpf(10) ** -50 * (1 + abs(v))
                assert abs(v - ext(b, a, c, D)) <= tol, (s, t, a, b, c)
                assert abs(v - sf(a, b, c, D)) <= tol, (s, t, a, b, c)


def test_equal_activations_give_the_registered_kernel():
    """The atom combination for s = t reproduces each registered kernel (an independent derivation)."""
    for name in CLOSED:
        act = symland.activation(name)
        d = atoms.decompose(act.expr)
        ex, sf = mixed._combine(d, d)
        k = _lam(act.kernel_expr)
        with mpmath.workdps(50), thread_mp.workdps(50):
            for a, b, c in POINTS:
                a, b, c = mpmath.mpf(a), mpmath.mpf(b), mpmath.mpf(c)
                D = a * b - c * c
                ref = k(a, b, c, D)
                for e in (ex, sf):
                    assert abs(_lam(e)(a, b, c, D) - ref) <= mpmath.mpf(10) ** -40 * (1 + abs(ref)), name
        assert mixed.cross_kernel_expr(name, name) == act.kernel_expr


ALL_INDICES = [(i, j, l) for i in range(5) for j in range(5) for l in range(5) if 1 <= i + j + l <= 4]


@pytest.mark.slow
@pytest.mark.parametrize("s,t", PAIRS[:: 1 if FULL else 3], ids=[f"{s}-{t}" for s, t in PAIRS[:: 1 if FULL else 3]])
def test_price_partials_against_quadrature(s, t):
    """All 34 partials of total order 1..4 (FULL); by default 4 indices per pair, dealt round-robin."""
    k = PAIRS.index((s, t))
    idx = ALL_INDICES if FULL else [ALL_INDICES[(4 * k + m) % len(ALL_INDICES)] for m in range(4)]
    a, b, c = 0.9, 1.7, -0.6
    for index in idx:
        ref = ref_partial(s, t, index, a, b, c, dps=36)
        got = mixed.cross_partial(s, t, index, a, b, c, dps=32)
        scale = max(abs(ref), mpmath.mpf(10) ** -3)
        assert abs(got - ref) <= mpmath.mpf(10) ** -25 * scale, (s, t, index, got, ref)


def test_float64_cross_kernels_against_mpmath():
    """Float64 = 60-digit evaluation to 1e-13 relative, including near (anti-)alignment for kinked pairs."""
    kinked = ["relu", "step", "sign", "abs", "relu_pow2", "relu_pow3", "leaky_relu", "gelu", "erf"]
    bad = []
    for s, t in itertools.product(kinked, kinked):
        f = _lam(mixed.cross_kernel_expr(s, t))
        for a, b in ((0.7, 2.3), (1.0, 1.0)):
            rhos = (0.0, 0.5, -0.5, 0.95, 1 - 1e-8, -0.95, -0.99, -(1 - 1e-8))
            cs = np.array([r * (a * b) ** 0.5 for r in rhos])
            got = mixed.cross_kernel(s, t, a, b, cs)
            for g, c in zip(got, cs):
                with mpmath.workdps(60), thread_mp.workdps(60):
                    ref = f(mpmath.mpf(a), mpmath.mpf(b), mpmath.mpf(c), mpmath.mpf(a) * b - mpmath.mpf(c) ** 2)
                    err = abs(g - ref)
                tol = 1e-12 if "relu_pow3" in (s, t) else 1e-13  # relu_pow3 x relu_pow3 at rho=-0.95: see lib tests
                # relative, except for values that vanish identically (odd x even pairs: rounding ~1e-17)
                if err > tol * abs(ref) + 1e-15 * (1 + a + b) ** 1.5:
                    bad.append((s, t, a, b, float(c), float(err)))
    assert not bad, bad[:5]


# --- quadrature fallback ---------------------------------------------------------------------------
FALLBACK_PAIRS = [("erf", "relu"), ("relu", "relu_pow2"), ("gelu", "step"), ("sin", "abs")]


@pytest.mark.parametrize("s,t", FALLBACK_PAIRS)
def test_one_dimensional_fallback_matches_closed_forms(s, t):
    """The 1-D reduction (forced) reproduces closed-form partials: float64 to 1e-10 (the accuracy
    mixed.ACCURACY states: variances 0.3..4, |rho| <= 0.95), mpmath to 25 digits."""
    S, T = symland.activation(s), symland.activation(t)
    grid = [(a, b, r * (a * b) ** 0.5) for a, b in ((0.3, 1.0), (1.1, 0.8), (4.0, 2.5)) for r in (-0.95, 0.3, 0.95)]
    idx = ALL_INDICES if FULL else [(0, 0, 0), (0, 0, 1), (1, 0, 1), (0, 1, 2), (2, 0, 0), (0, 0, 4), (1, 1, 0)]
    for a, b, c in grid:
        D = a * b - c * c
        for index in idx:
            ref = float(mixed.cross_partial(s, t, index, a, b, c, dps=20))
            i, j, l = index
            got = fallback.reduce_float(S, T, i, j, l, *(np.array([v]) for v in (a, b, c, D)))[0]
            assert abs(got - ref) <= 1e-10 * max(1, abs(ref)), (s, t, index, (a, b, c), got, ref)
    a, b, c = 1.1, 0.8, -0.45
    for index in idx:
        ref = mixed.cross_partial(s, t, index, a, b, c, dps=30)
        i, j, l = index
        if index in [(0, 0, 0), (1, 0, 1)] or FULL:
            with mpmath.workdps(35), thread_mp.workdps(35):
                A, B, C = mpmath.mpf(a), mpmath.mpf(b), mpmath.mpf(c)
                got = fallback.reduce_mp(S, T, i, j, l, A, B, C, A * B - C * C, 30)
            assert abs(got - ref) <= mpmath.mpf(10) ** -25 * max(1, abs(ref)), (s, t, index, got, ref)


def test_tanh_with_relu_one_dimensional_path_against_reference():
    """tanh x relu (no closed form): 1-D path vs the reference reduction with the hand-typed relu inner."""
    REF["tanh"] = (mpmath.tanh, None)
    assert mixed.cross_method("tanh", "relu") == "1-D quadrature"
    assert mixed.cross_method("relu", "tanh") == "1-D quadrature"
    a, b, c = 1.4, 0.9, 0.5
    for index in [(0, 0, 0), (0, 0, 1), (0, 1, 1)]:
        ref = ref_partial("tanh", "relu", index, a, b, c, dps=30)
        assert abs(mixed.cross_partial("tanh", "relu", index, a, b, c, dps=25) - ref) < 1e-24 * max(1, abs(ref))
        assert abs(mixed.cross_partial("tanh", "relu", index, a, b, c) - float(ref)) < 1e-11 * max(1, abs(ref))
    # the swapped order goes through K_{s,t}(a, b, c) = K_{t,s}(b, a, c)
    ref = ref_partial("tanh", "relu", (0, 0, 0), b, a, c, dps=30)
    assert abs(mixed.cross_kernel("relu", "tanh", a, b, c) - float(ref)) < 1e-12


def test_two_dimensional_fallback_dispatch():
    """tanh x sigmoid: sigmoid(v) = 1/2 + tanh(v/2)/2, so E[tanh(u) sigmoid(v)] = K_tanh(a, b/4, c/2)/2."""
    assert mixed.cross_method("tanh", "sigmoid") == "2-D quadrature"
    a, b, c = 1.2, 2.0, -0.7
    got = mixed.cross_kernel("tanh", "sigmoid", a, b, c)
    ref = symland.kernel("tanh", a, b / 4, c / 2) / 2
    assert abs(got - ref) < 1e-11


def test_selu_fixed_point_and_constants():
    """Published SELU constants to 31 digits; E[selu(u)] = 0 and E[selu(u)^2] = 1 at Var u = 1."""
    assert abs(sympy.N(lib.SELU_ALPHA, 40) - sympy.Float("1.6732632423543772848170429916717", 40)) < 1e-30
    assert abs(sympy.N(lib.SELU_LAMBDA, 40) - sympy.Float("1.0507009873554804934193349852946", 40)) < 1e-30
    selu = symland.activation("selu")
    assert not selu.expr.atoms(sympy.Float)
    assert mixed.cross_kernel("selu", "selu", 1.0, 1.0, 1.0) == pytest.approx(1.0, abs=1e-13)
    assert abs(mixed.cross_kernel("selu", "selu", 1, 1, 1, dps=30) - 1) < mpmath.mpf(10) ** -26
    # E[selu(u) * 1] via the polynomial rule
    assert abs(mixed.cross_kernel("selu", registry.monomial_activation(0), 1, 1, 0.3, dps=30)) < mpmath.mpf(10) ** -28
    # its mean function vs direct quadrature
    f = sympy.lambdify((atoms.mu, atoms.sigma), atoms.mean_function(selu.expr), "mpmath")
    with mpmath.workdps(30), thread_mp.workdps(30):
        for m, s in [(-0.7, 0.4), (0.3, 1.6)]:
            m, s = mpmath.mpf(m), mpmath.mpf(s)
            direct = mpmath.quad(lambda y: _selu_mp()(m + s * y) * _npdf(y), [-mpmath.inf, -m / s, mpmath.inf])
            assert abs(f(m, s) - direct) < mpmath.mpf(10) ** -27


@pytest.mark.parametrize("t", ["linear", "exp", "relu", "erf"])
def test_selu_cross_kernels_against_reference(t):
    """selu with a polynomial / exp (closed forms) and with relu / erf (1-D quadrature, by parts)."""
    a, b, c = 1.2, 0.8, 0.3
    ref = ref_partial("selu", t, (0, 0, 0), a, b, c, dps=35)
    assert abs(mixed.cross_kernel("selu", t, a, b, c, dps=30) - ref) < mpmath.mpf(10) ** -26 * max(1, abs(ref))
    assert abs(mixed.cross_kernel("selu", t, a, b, c) - float(ref)) < 1e-12
    ref = ref_partial(t, "selu", (0, 0, 2), b, a, c, dps=35)  # the jump of selu' -> a delta in selu''
    got = mixed.cross_partial(t, "selu", (0, 0, 2), b, a, c)
    assert abs(got - float(ref)) < 1e-10 * max(1, abs(ref)), (t, got, ref)
    got = mixed.cross_partial(t, "selu", (0, 0, 2), b, a, c, dps=30)
    assert abs(got - ref) < mpmath.mpf(10) ** -26 * max(1, abs(ref)), (t, got, ref)


# --- decomposition and mean functions -------------------------------------------------------------
def test_decomposition_of_known_activations():
    R = sympy.Rational
    assert atoms.decompose(symland.activation("abs").expr) == {("relu", 1): 2, ("poly", 1): -1}
    assert atoms.decompose(symland.activation("sign").expr) == {("phi", 0): 2, ("poly", 0): -1}
    assert atoms.decompose(symland.activation("erf_plain").expr) == {("phi", R(1, 2)): 2, ("poly", 0): -1}
    assert atoms.decompose(symland.activation("gelu").expr) == {("zphi", 1): 1}
    assert atoms.decompose(symland.activation("gauss_1/2").expr) == {("expq", -2, 0): 1}
    assert atoms.decompose(symland.activation("sin_2").expr) == {("sin", 2): 1}
    assert atoms.decompose(symbols.z * sympy.Heaviside(symbols.z) ** 1 * symbols.z) == {("relu", 2): 1}
    for name in ["tanh", "sigmoid", "softplus", "silu"]:
        assert atoms.decompose(symland.activation(name).expr) is None
        assert not mixed.has_cross_closed_form(name, "relu")


@pytest.mark.parametrize("atom", [("poly", 3), ("phi", sympy.Rational(1, 3)), ("phi", 0), ("relu", 1), ("relu", 3),
                                  ("zphi", 2), ("expq", sympy.Rational(-1, 3), sympy.Rational(1, 2)), ("sin", 3),
                                  ("cos", sympy.Rational(1, 2)), ("expstep", -2)])
def test_atom_mean_functions_against_direct_quadrature(atom):
    z = symbols.z
    kind, *par = atom
    expr = {"poly": lambda k: z**k, "phi": lambda w: (sympy.Heaviside(z) if w == 0 else _Phi(z / sympy.sqrt(w))),
            "relu": lambda p: sympy.Max(z, 0) ** p, "zphi": lambda w: z * _Phi(z / sympy.sqrt(w)),
            "expq": lambda al, be: sympy.exp(al * z**2 + be * z), "sin": lambda w: sympy.sin(w * z),
            "cos": lambda w: sympy.cos(w * z), "expstep": lambda be: sympy.exp(be * z) * sympy.Heaviside(z)}[kind](*par)
    if kind == "phi" and par[0] == 0:
        fz = lambda t: mpmath.mpf(1) if t > 0 else mpmath.mpf(0)  # noqa: E731
    elif kind == "expstep":
        fz = lambda t: mpmath.exp(par[0] * t) if t > 0 else mpmath.mpf(0)  # noqa: E731
    else:
        fz = sympy.lambdify(z, expr, "mpmath")
    assert atoms.decompose(expr) == {atom: 1}
    m = sympy.lambdify((atoms.mu, atoms.sigma), atoms.atom_mean(atom), "mpmath")
    with mpmath.workdps(30), thread_mp.workdps(30):
        for mu, s in [(-0.8, 0.5), (0.4, 1.3)]:
            mu, s = mpmath.mpf(mu), mpmath.mpf(s)
            direct = mpmath.quad(lambda y: fz(mu + s * y) * _npdf(y), [-mpmath.inf, -mu / s, mpmath.inf])
            assert abs(m(mu, s) - direct) < mpmath.mpf(10) ** -26 * max(1, abs(direct)), (atom, mu, s)


# --- API and errors --------------------------------------------------------------------------------
def test_partial_expr_matches_numeric_partial_and_errors():
    e = mixed.cross_partial_expr("erf", "relu", (0, 0, 1))
    f = sympy.lambdify((symbols.a_, symbols.b_, symbols.c_, symbols.D_), e)
    a, b, c = 1.3, 0.6, -0.5
    assert f(a, b, c, a * b - c * c) == pytest.approx(mixed.cross_partial("erf", "relu", (0, 0, 1), a, b, c), rel=1e-13)
    with pytest.raises(NoClosedFormError, match="tanh"):
        mixed.cross_partial_expr("tanh", "relu", (0, 0, 1))
    with pytest.raises(ValueError, match="total order"):
        mixed.cross_partial("erf", "relu", (3, 1, 1), a, b, c)
    with pytest.raises(DomainError, match="c\\*\\*2 <= a\\*b"):
        mixed.cross_kernel("erf", "relu", 1.0, 1.0, 1.5)
    with pytest.raises(DomainError, match="variance"):
        mixed.cross_kernel("erf", "relu", -1.0, 1.0, 0.0)
    with pytest.raises(PrecisionError):
        mixed.cross_kernel("erf", "relu", 1.0, 1.0, 0.5, dps=8)
    with pytest.raises(DomainError, match="not finite"):  # d_c E[step sign] = 2 E[delta delta] = 1/(pi sqrt D)
        mixed.cross_partial("step", "sign", (0, 0, 1), 1.0, 1.0, 1.0)
    with pytest.raises(symland.UnknownActivationError):
        mixed.cross_kernel("nope", "relu", 1.0, 1.0, 0.0)


def test_partial_evaluator_float_and_mp():
    ev = mixed.cross_partial_evaluator("gelu", "relu", (0, 0, 1), False)
    a, b, c = np.array([1.0, 2.0]), np.array([0.5, 1.5]), np.array([0.3, -1.0])
    got = ev(a, b, c, a * b - c * c)
    ref = [float(mixed.cross_partial("gelu", "relu", (0, 0, 1), *v, dps=20)) for v in zip(a, b, c)]
    assert np.allclose(got, ref, rtol=1e-13, atol=0)
    evm = mixed.cross_partial_evaluator("gelu", "relu", (0, 0, 1), True)
    with mpmath.workdps(30), thread_mp.workdps(30):
        out = evm(np.array([mpmath.mpf(1)], dtype=object), np.array([mpmath.mpf("0.5")], dtype=object),
                  np.array([mpmath.mpf("0.3")], dtype=object), np.array([mpmath.mpf("0.41")], dtype=object))
        ref = mixed.cross_partial("gelu", "relu", (0, 0, 1), 1, "0.5", "0.3", dps=28)
        assert abs(out[0] - ref) < mpmath.mpf(10) ** -26


def test_closed_form_pairs_listing():
    pairs = mixed.closed_form_pairs(["erf", "relu", "tanh", "selu", "linear"])
    assert ("erf", "relu") in pairs and ("linear", "selu") in pairs
    assert not any("tanh" in p for p in pairs)
    assert ("erf", "selu") not in pairs and ("relu", "selu") not in pairs


def test_derivation_script_runs_small():
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, str(ROOT / "derivations" / "mixed_kernels.py"), "--small"],
                          capture_output=True, text=True, env=env, timeout=900, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "all mixed-kernel derivations asserted" in proc.stdout
    assert "relu^1 x relu^3: derived == symland.kernels.gaussian_atoms" in proc.stdout
