r"""Tests of symland/kernels/kinks.py: kink points and kink-aware quadrature of Price partials.

Independent references (none calls symland.kernels.kinks):

* closed forms with means of :func:`symland.kernels.means.kernel_with_means` (``index = (0, 0, 0, P, Q)``
  is $E[s^{(P)}(u)t^{(Q)}(v)]$) for relu, step, erf, sin pairs, with shifted kinks written as
  shifted means: $\mathrm{hardtanh}(z) = \mathrm{relu}(z + 1) - \mathrm{relu}(z - 1) - 1$,
  $\mathrm{relu6}(z) = \mathrm{relu}(z) - \mathrm{relu}(z - 6)$, $\max(z - 1, 0) = \mathrm{relu}(z - 1)$,
  $H(z - 1/2) = \mathrm{step}(z - 1/2)$; the constant's term $E[\mathrm{erf}^{(Q)}(v)]$ is the
  $m_2$-derivative (SymPy) of $\mathrm{erf}(m_2/\sqrt{2(1 + b)})$;
* tanh x hardtanh against the 1-D reduction of :mod:`symland.kernels.cross` (``kernel_with_means('tanh',
  t='relu')``, tanh's classical derivatives by parts, relu's closed-form mean function) and
  :func:`symland.kernels.quadrature.expect1_mp` of tanh's classical derivatives;
* $E[(\mathrm{relu}(u)^2)^{(n)}]$ from the exact truncated second moment (SymPy integral,
  differentiated in the mean);
* the Hermite weights against direct SymPy differentiation of the bivariate normal density.
"""

from __future__ import annotations

import functools
import itertools

import mpmath
import numpy as np
import pytest
import sympy

import symland
from symland.kernels import quadrature
from symland.numerics.symbols import z
from symland.kernels.means import kernel_with_means
from symland.errors import ConvergenceError, DomainError, ExpressionError, NoClosedFormError, PrecisionError
from symland.kernels.kinks import (
    expect1_float,
    expect1_mp,
    expect2_float,
    expect2_mp,
    hermite_weight_expr,
    kink_points,
    x_,
    y_,
)

from conftest import full_run

FULL = full_run()
R = sympy.Rational
RELU = sympy.Max(z, 0)
HARDTANH = sympy.Min(sympy.Max(z, -1), 1)
RELU6 = sympy.Min(sympy.Max(z, 0), 6)
ERF = sympy.erf(z / sympy.sqrt(2))

#: float64 accuracy stated in the module docstring: relative 1e-11, or 1e-13 of the magnitude
#: E|s t H_{P,Q}| of the integrand when the value itself is much smaller (measured: 6e-12 and 1.4e-14)
FLOAT_RTOL = 1e-11
FLOAT_SCALE_TOL = 1e-13
FLOAT_ATOL = 1e-15


# ---------------------------------------------------------------------------
# kink points
# ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "expr, expected",
    [
        (HARDTANH, (-1, 1)),
        (RELU6, (0, 6)),
        (sympy.Max(z - 1, 0), (1,)),
        (sympy.Abs(z - R(1, 3)), (R(1, 3),)),
        (sympy.Piecewise((z, z > 1), (-z, z < -2), (0, True)), (-2, 1)),
        (sympy.Piecewise((sympy.sin(z), (z > 0) & (z < sympy.pi)), (0, True)), (0, sympy.pi)),
        (sympy.Heaviside(z**2 - 1), (-1, 1)),
        (sympy.Heaviside(z - R(1, 2)), (R(1, 2),)),
        (sympy.Max(z, 0) * sympy.tanh(z), (0,)),
        (sympy.sign(z + sympy.sqrt(2)) + sympy.DiracDelta(z - 3), (-sympy.sqrt(2), 3)),
        (sympy.tanh(z), ()),
        (1 / (1 + sympy.exp(-z)), ()),
        (sympy.log(1 + sympy.exp(z)), ()),
        (sympy.Heaviside(z**2 + 1), ()),
        (sympy.Max(z, 0) ** R(3, 2), (0,)),
        (ERF * z**2 + sympy.exp(-z**2), ()),
    ],
)
def test_kink_points(expr, expected):
    got = kink_points(expr)
    assert len(got) == len(expected)
    assert all(sympy.simplify(g - e) == 0 for g, e in zip(got, expected)), got
    assert all(isinstance(g, sympy.Expr) and not g.atoms(sympy.Float) for g in got)


def test_kink_points_any_symbol_and_refusals():
    w = sympy.Symbol("w")
    assert kink_points(sympy.Min(sympy.Max(w, 0), 6)) == (0, 6)
    with pytest.raises(NoClosedFormError, match="sin"):
        kink_points(sympy.Heaviside(sympy.sin(z)))
    with pytest.raises(NoClosedFormError):
        kink_points(sympy.floor(z))
    with pytest.raises(NoClosedFormError, match="poles"):
        kink_points(sympy.Heaviside(z) / z)
    with pytest.raises(ValueError, match="one variable"):
        kink_points(sympy.Max(z, w))


def test_kink_points_of_strings_are_parsed_not_evaluated(tmp_path):
    # decimals are exact: the kink of Heaviside(w - 0.5) is 1/2, not the float 0.5
    assert kink_points("Min(Max(w, 0), 6) + Heaviside(w - 0.5)") == (0, sympy.Rational(1, 2), 6)
    marker = tmp_path / "pwned"
    for bad in (f"__import__('os').system('touch {marker}')", "Max(z, 0).func", "z if z else 0"):
        with pytest.raises(ExpressionError, match="expr"):
            kink_points(bad)
    assert not marker.exists()


# ---------------------------------------------------------------------------
# the Hermite weights: d_{m1}^P d_{m2}^Q N / N, differentiated directly
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("P, Q", [(1, 0), (0, 1), (1, 1), (2, 1), (0, 3), (2, 2)])
def test_hermite_weights_are_density_derivatives(P, Q):
    a, c, D = sympy.symbols("a c D", positive=True)
    b = (c**2 + D) / a
    m1, m2, u, v = sympy.symbols("m1 m2 u v", real=True)
    w1, w2 = u - m1, v - m2
    dens = sympy.exp(-(b * w1**2 - 2 * c * w1 * w2 + a * w2**2) / (2 * D))  # normalisation m-free
    ratio = sympy.diff(dens, m1, P, m2, Q) / dens
    chol = {u: m1 + sympy.sqrt(a) * x_, v: m2 + c / sympy.sqrt(a) * x_ + sympy.sqrt(D / a) * y_}
    direct = sympy.simplify(ratio.subs(chol))
    ours = hermite_weight_expr(P, Q)
    ours = ours.xreplace({sym: {"a": a, "c": c, "D": D}[sym.name] for sym in ours.free_symbols if sym.name in "acD"})
    assert sympy.simplify(sympy.expand(direct - ours)) == 0


# ---------------------------------------------------------------------------
# references from closed forms with means (symland.kernels.means), shifted kinks = shifted means
# ---------------------------------------------------------------------------
def _K(s, t, P, Q, a, b, c, m1, m2, dps):
    return kernel_with_means(s, a, b, c, m1, m2, dps=dps, t=t, index=(0, 0, 0, P, Q))


@functools.lru_cache(maxsize=None)
def _erf_mean_derivative(Q):
    """d^Q/dm E[erf(v/sqrt2)], v ~ N(m, b): E[erf(v/sqrt2)] = erf(m / sqrt(2(1 + b)))."""
    m, b = sympy.symbols("m b", real=True)
    return sympy.lambdify((m, b), sympy.diff(sympy.erf(m / sympy.sqrt(2 * (1 + b))), m, Q), "mpmath")


def _ref_hardtanh_erf(P, Q, a, b, c, m1, m2, dps):
    val = _K("relu", "erf", P, Q, a, b, c, m1 + 1, m2, dps) - _K("relu", "erf", P, Q, a, b, c, m1 - 1, m2, dps)
    return val - _erf_mean_derivative(Q)(m2, b) if P == 0 else val


def _ref_relu6_relu(P, Q, a, b, c, m1, m2, dps):
    return _K("relu", "relu", P, Q, a, b, c, m1, m2, dps) - _K("relu", "relu", P, Q, a, b, c, m1 - 6, m2, dps)


def _ref_shift_step(P, Q, a, b, c, m1, m2, dps):
    return _K("relu", "step", P, Q, a, b, c, m1 - 1, m2, dps)


def _ref_halfstep_sin(P, Q, a, b, c, m1, m2, dps):
    return _K("step", "sin", P, Q, a, b, c, m1 - mpmath.mpf(1) / 2, m2, dps)


PAIRS = {
    "hardtanh_erf": (HARDTANH, ERF, _ref_hardtanh_erf),
    "relu6_relu": (RELU6, RELU, _ref_relu6_relu),
    "shift_step": (sympy.Max(z - 1, 0), sympy.Heaviside(z), _ref_shift_step),
    "halfstep_sin": (sympy.Heaviside(z - R(1, 2)), sympy.sin(z), _ref_halfstep_sin),
}

#: (a, b, rho, m1, m2): variances 0.3..4, |rho| <= 0.95, |means| <= 1.5
POINTS = [
    (1.3, 0.8, 0.35, 0.3, -0.2),
    (0.3, 4.0, -0.95, 1.5, -1.5),
    (4.0, 0.3, 0.95, -1.5, 1.0),
    (2.2, 1.7, -0.6, -0.7, 1.2),
]
ORDERS4 = [(P, Q) for P in range(5) for Q in range(5) if P + Q <= 4]


def _mp_args(a, b, rho, m1, m2):
    """Exact-decimal mpmath arguments and D = ab - c^2 (at the current precision)."""
    a, b, rho, m1, m2 = (mpmath.mpf(str(v)) for v in (a, b, rho, m1, m2))
    c = rho * mpmath.sqrt(a * b)
    return a, b, c, a * b - c * c, m1, m2


@functools.lru_cache(maxsize=None)
def _weight_numpy(P, Q):
    e = hermite_weight_expr(P, Q)
    syms = {sym.name: sym for sym in e.free_symbols}
    args = [x_, y_] + [syms.get(n, sympy.Symbol(n)) for n in ("a", "c", "D")]
    return sympy.lambdify(args, e, "numpy")


def _magnitude(s, t, P, Q, a, c, D, m1, m2):
    """Rough E|s(u) t(v) H_{P,Q}| by a midpoint rule on [-10, 10]^2 (the scale of the cancellation)."""
    g = np.linspace(-10, 10, 401)
    x, y = g[:, None], g[None, :]
    fs, ft = (sympy.lambdify(z, e, ["scipy", "numpy"]) for e in (s, t))
    sa = np.sqrt(a)
    vals = fs(m1 + sa * x) * ft(m2 + c / sa * x + np.sqrt(D / a) * y) * _weight_numpy(P, Q)(x, y, a, c, D)
    return float(np.sum(np.abs(vals) * np.exp(-(x * x + y * y) / 2)) * (g[1] - g[0]) ** 2 / (2 * np.pi))


def _float_ok(got, r, scale):
    return abs(got - r) <= FLOAT_RTOL * abs(r) + FLOAT_SCALE_TOL * scale + FLOAT_ATOL


def _check_float(pair, point, orders):
    s, t, ref = PAIRS[pair]
    with mpmath.workdps(25):
        a, b, c, D, m1, m2 = _mp_args(*point)
        refs = [ref(P, Q, a, b, c, m1, m2, 20) for P, Q in orders]
    af, bf, cf, Df, m1f, m2f = (float(v) for v in (a, b, c, D, m1, m2))
    for (P, Q), r in zip(orders, refs):
        got = expect2_float(s, t, P, Q, af, bf, cf, Df, m1f, m2f)
        scale = _magnitude(s, t, P, Q, af, cf, Df, m1f, m2f)
        assert _float_ok(got, float(r), scale), (pair, point, P, Q, got, r, scale)


@pytest.mark.parametrize("pair", ["relu6_relu", "shift_step"])
def test_float_piecewise_polynomial_pairs_all_orders(pair):
    """Closed-form references are cheap: every P + Q <= 4 at every point."""
    for point in POINTS:
        _check_float(pair, point, ORDERS4)


@pytest.mark.slow
@pytest.mark.parametrize("pair", ["hardtanh_erf", "halfstep_sin"])
def test_float_pairs_with_smooth_partner(pair):
    """References by 1-D quadrature at 20 digits (~0.3 s each): reduced by default."""
    points = POINTS if FULL else POINTS[1:2]
    orders = ORDERS4 if FULL else [(0, 0), (1, 0), (0, 2), (2, 1), (1, 3), (4, 0)]
    for point in points:
        _check_float(pair, point, orders)


def test_float_broadcasts():
    s, t, ref = PAIRS["relu6_relu"]
    a = np.array([[0.5], [2.0]])
    m1 = np.array([-1.0, 0.2, 5.5])
    b, c, m2 = 1.1, 0.3, 0.4
    got = expect2_float(s, t, 1, 2, a, b, c, a * b - c * c, m1, m2)
    assert got.shape == (2, 3)
    for i, j in itertools.product(range(2), range(3)):
        r = float(ref(1, 2, a[i, 0], b, c, m1[j], m2, 20))
        assert _float_ok(got[i, j], r, _magnitude(s, t, 1, 2, a[i, 0], c, a[i, 0] * b - c * c, m1[j], m2))
    assert isinstance(expect2_float(s, t, 0, 0, 1.0, 1.0, 0.0, 1.0, 0.0, 0.0), float)


def _check_mp(pair, P, Q, point):
    s, t, ref = PAIRS[pair]
    with mpmath.workdps(40):
        a, b, c, D, m1, m2 = _mp_args(*point)
        r = ref(P, Q, a, b, c, m1, m2, 30)
    got = expect2_mp(s, t, P, Q, a, b, c, D, m1, m2, dps=30)
    with mpmath.workdps(30):
        assert abs(got - r) <= mpmath.mpf(10) ** -25 * max(1, abs(r)), (pair, P, Q, got, r)


#: default (reduced) orders of the mpmath checks; hardtanh x erf costs ~15 s per value (mpmath erf
#: at 45 digits, ~3e5 evaluations) and runs with SYMLAND_FULL=1 only
MP_REDUCED = {"relu6_relu": [(2, 1)], "shift_step": [(1, 2)], "halfstep_sin": [(1, 1)], "hardtanh_erf": []}


@pytest.mark.slow
@pytest.mark.parametrize("pair", sorted(PAIRS))
def test_mp_25_digits(pair):
    """dps=30 against the closed forms at 40 digits, compared to 25 digits."""
    orders = ORDERS4 if FULL else MP_REDUCED[pair]
    if not orders:
        pytest.skip("~15 s per value (erf at 45 digits); runs with SYMLAND_FULL=1")
    point = POINTS[3] if FULL else POINTS[0]
    for P, Q in orders:
        _check_mp(pair, P, Q, point)


# ---------------------------------------------------------------------------
# smooth x kinked: tanh x hardtanh against the 1-D reduction of symland.kernels.cross
# ---------------------------------------------------------------------------
def _ref_tanh_hardtanh(P, Q, a, b, c, m1, m2, dps):
    """hardtanh = relu(z + 1) - relu(z - 1) - 1; E[tanh^(P)(u)] by quadrature.expect1_mp."""
    def K(mu2):
        return kernel_with_means("tanh", a, b, c, m1, mu2, dps=dps, t="relu", index=(0, 0, 0, P, Q))

    val = K(m2 + 1) - K(m2 - 1)
    if Q == 0:
        if dps is None:
            h = sympy.lambdify(z, sympy.diff(sympy.tanh(z), z, P), "numpy")
            val = val - quadrature.expect1_float(h, a, m1)
        else:
            h = sympy.lambdify(z, sympy.diff(sympy.tanh(z), z, P), "mpmath")
            val = val - quadrature.expect1_mp(h, a, dps, m1)
    return val


@pytest.mark.slow
def test_tanh_times_hardtanh_float():
    orders = [(0, 0), (1, 0), (0, 1), (1, 1), (2, 1), (3, 0), (1, 3)]
    points = POINTS if FULL else POINTS[1:2]
    for point in points:
        with mpmath.workdps(25):
            a, b, c, D, m1, m2 = _mp_args(*point)
        for P, Q in orders:
            with mpmath.workdps(25):
                r = float(_ref_tanh_hardtanh(P, Q, a, b, c, m1, m2, 20))
            af, bf, cf, Df, m1f, m2f = (float(v) for v in (a, b, c, D, m1, m2))
            got = expect2_float(sympy.tanh(z), HARDTANH, P, Q, af, bf, cf, Df, m1f, m2f)
            scale = _magnitude(sympy.tanh(z), HARDTANH, P, Q, af, cf, Df, m1f, m2f)
            assert _float_ok(got, r, scale), (point, P, Q, got, r, scale)


@pytest.mark.slow
def test_tanh_times_hardtanh_mp():
    if not FULL:
        pytest.skip("~15-20 s per value; runs with SYMLAND_FULL=1")
    for P, Q in [(0, 0), (1, 1), (2, 0), (0, 2)]:
        with mpmath.workdps(40):
            a, b, c, D, m1, m2 = _mp_args(*POINTS[0])
            r = _ref_tanh_hardtanh(P, Q, a, b, c, m1, m2, 30)
        got = expect2_mp(sympy.tanh(z), HARDTANH, P, Q, a, b, c, D, m1, m2, dps=30)
        with mpmath.workdps(30):
            assert abs(got - r) <= mpmath.mpf(10) ** -25 * max(1, abs(r))


# ---------------------------------------------------------------------------
# SELU: irrational constants (exp(1/2), erfc(1/sqrt 2), ...) and a jump in the second derivative
# ---------------------------------------------------------------------------
def _selu_point():
    with mpmath.workdps(40):
        return _mp_args(*POINTS[0])


def test_selu_times_relu_float():
    """Reference: the 1-D reduction of symland.kernels.cross (relu's closed-form mean function)."""
    selu = symland.activation("selu").expr
    a, b, c, D, m1, m2 = _selu_point()
    args = [float(v) for v in (a, b, c, D, m1, m2)]
    for P, Q in [(0, 0), (1, 1), (2, 0), (3, 1)]:
        with mpmath.workdps(25):
            r = float(kernel_with_means("selu", a, b, c, m1, m2, dps=20, t="relu", index=(0, 0, 0, P, Q)))
        got = expect2_float(selu, RELU, P, Q, *args)
        assert _float_ok(got, r, _magnitude(selu, RELU, P, Q, args[0], args[2], args[3], args[4], args[5]))


@pytest.mark.slow
def test_selu_times_relu_mp():
    if not FULL:
        pytest.skip("~8 s per value; runs with SYMLAND_FULL=1")
    selu = symland.activation("selu").expr
    a, b, c, D, m1, m2 = _selu_point()
    for P, Q in [(1, 1), (2, 0)]:
        with mpmath.workdps(40):
            r = kernel_with_means("selu", a, b, c, m1, m2, dps=30, t="relu", index=(0, 0, 0, P, Q))
        got = expect2_mp(selu, RELU, P, Q, a, b, c, D, m1, m2, dps=30)
        with mpmath.workdps(30):
            assert abs(got - r) <= mpmath.mpf(10) ** -25 * max(1, abs(r)), (P, Q, got, r)


# ---------------------------------------------------------------------------
# one dimension: E[(relu(u)^2)^(n)] from the exact truncated moment
# ---------------------------------------------------------------------------
@functools.lru_cache(maxsize=None)
def _truncated_second_moment(n):
    """d^n/dm^n E[relu(u)^2], u ~ N(m, t): the SymPy integral of u^2 N(u; m, t) over u > 0."""
    u, m = sympy.symbols("u m", real=True)
    t = sympy.Symbol("t", positive=True)
    dens = sympy.exp(-(u - m) ** 2 / (2 * t)) / sympy.sqrt(2 * sympy.pi * t)
    mom = sympy.integrate(u**2 * dens, (u, 0, sympy.oo))
    return sympy.lambdify((t, m), sympy.diff(mom, m, n), "mpmath")


@pytest.mark.parametrize("t, m", [(0.7, 0.4), (3.0, -1.2)])
def test_expect1_relu_squared(t, m):
    h = sympy.Max(z, 0) ** 2
    for n in range(5):
        with mpmath.workdps(40):
            r = _truncated_second_moment(n)(mpmath.mpf(str(t)), mpmath.mpf(str(m)))
        got = expect1_float(h, n, t, m)
        assert abs(got - float(r)) <= 1e-13 * abs(float(r)) + FLOAT_ATOL, (n, got, r)
        got = expect1_mp(h, n, str(t), str(m), dps=30)
        with mpmath.workdps(30):
            assert abs(got - r) <= mpmath.mpf(10) ** -25 * abs(r), (n, got, r)
    vec = expect1_float(h, 2, np.array([t, 2 * t]), m)
    assert vec.shape == (2,)


def test_expect1_irrational_kink():
    """E[H(u - sqrt 2)] = Phi(x), x = (m - sqrt 2)/sqrt t; its m-derivatives phi(x)/sqrt t, -x phi(x)/t."""
    h = sympy.Heaviside(z - sympy.sqrt(2))
    for n in range(3):
        with mpmath.workdps(40):
            t, m = mpmath.mpf("1.7"), mpmath.mpf("0.3")
            x = (m - mpmath.sqrt(2)) / mpmath.sqrt(t)
            r = [mpmath.ncdf(x), mpmath.npdf(x) / mpmath.sqrt(t), -x * mpmath.npdf(x) / t][n]
        got = expect1_mp(h, n, "1.7", "0.3", dps=30)
        with mpmath.workdps(30):
            assert abs(got - r) <= mpmath.mpf(10) ** -28 * abs(r), (n, got, r)
        assert abs(expect1_float(h, n, 1.7, 0.3) - float(r)) <= 1e-14 * abs(float(r))


# ---------------------------------------------------------------------------
# errors
# ---------------------------------------------------------------------------
def test_bad_input():
    s, t = HARDTANH, ERF
    with pytest.raises(DomainError, match="D"):
        expect2_float(s, t, 0, 0, 1.0, 1.0, 1.0, 0.0)
    with pytest.raises(DomainError, match="argument a"):
        expect2_float(s, t, 0, 0, -1.0, 1.0, 0.0, 1.0)
    with pytest.raises(DomainError, match="argument b"):
        expect2_float(s, t, 0, 0, [1.0, 1.0], [1.0, 0.0], 0.0, 1.0)
    with pytest.raises(DomainError, match="m1"):
        expect2_float(s, t, 0, 0, 1.0, 1.0, 0.0, 1.0, np.nan)
    with pytest.raises(DomainError, match="c"):
        expect2_float(s, t, 0, 0, 1.0, 1.0, np.inf, 1.0)
    with pytest.raises(DomainError, match="a\\*b - c\\*\\*2"):
        expect2_float(s, t, 0, 0, 1.0, 1.0, 0.5, 1.0)
    with pytest.raises(DomainError, match="D"):
        expect2_mp(s, t, 0, 0, 1, 1, 1, 0, dps=20)
    with pytest.raises(DomainError, match="m2"):
        expect2_mp(s, t, 0, 0, 1, 1, 0, 1, 0, mpmath.nan, dps=20)
    with pytest.raises(DomainError, match="argument t"):
        expect1_float(s, 1, 0.0)
    with pytest.raises(DomainError, match="argument t"):
        expect1_mp(s, 1, -1, dps=20)
    with pytest.raises(ValueError, match="one variable"):
        expect2_float(sympy.Max(z, sympy.Symbol("w")), t, 0, 0, 1.0, 1.0, 0.0, 1.0)
    with pytest.raises(ValueError, match="argument P"):
        expect2_float(s, t, -1, 0, 1.0, 1.0, 0.0, 1.0)
    with pytest.raises(PrecisionError):
        expect2_mp(s, t, 0, 0, 1, 1, 0, 1, dps=10)
    with pytest.raises(NoClosedFormError, match="sin"):
        expect2_float(sympy.Heaviside(sympy.sin(z)), t, 0, 0, 1.0, 1.0, 0.0, 1.0)
    with pytest.raises(DomainError, match="not finite"):
        expect2_float(sympy.exp(z**2), RELU, 0, 0, 40.0, 1.0, 0.0, 40.0)
    with pytest.raises(NoClosedFormError, match="DiracDelta"):
        expect2_float(sympy.DiracDelta(z), t, 0, 0, 1.0, 1.0, 0.0, 1.0)


def test_convergence_error_not_a_wrong_value():
    """sqrt|z| has an infinite derivative at its listed singular point: Gauss-Legendre cannot reach
    20 digits there and the checked error estimate must say so."""
    with pytest.raises(ConvergenceError, match="20 digits"):
        expect1_mp(sympy.sqrt(sympy.Abs(z)), 0, 1, "0.3", dps=20)
