r"""Tests of the quadrature kernels ("tanh", "sigmoid", "softplus").

Independent references (none calls symland's quadrature):

* float64 tensor Gauss-Hermite with many more nodes (1000-2000 per dimension,
  probabilists' nodes from ``scipy.special.roots_hermitenorm``), its convergence
  checked by comparing two node counts;
* derivatives of $s$ written by SymPy from expressions typed here;
* the identity $\mathrm{sigmoid}(z) = (1 + \tanh(z/2))/2$, which gives
  $\kappa_\sigma(a, b, c) = 1/4 + \kappa_{\tanh}(a/4, b/4, c/4)/4$;
* central finite differences of the kernel for its Price partials;
* one-dimensional ``mpmath.quad`` where the 2-D expectation degenerates.

The accuracy promised in ``quadrature.ACCURACY_STATEMENT`` is parsed from the
statement itself, so the test checks whatever the package currently claims.
"""

from __future__ import annotations

import functools
import re
from fractions import Fraction

import mpmath
import numpy as np
import pytest
import sympy
from scipy.special import roots_hermitenorm

import symland
from symland.numerics import symbols
from symland.kernels import registry as _registry
from symland.kernels import quadrature
from symland.errors import ConvergenceError
from conftest import FULL

QUAD = ["tanh", "sigmoid", "softplus"]

_z = sympy.Symbol("z", real=True)
#: the activations as defined ...
S_DEF = {
    "tanh": sympy.tanh(_z),
    "sigmoid": 1 / (1 + sympy.exp(-_z)),
    "softplus": sympy.log(1 + sympy.exp(_z)),
}
#: ... and in forms whose derivatives do not overflow in float64 (checked equal below)
S_SYM = {
    "tanh": sympy.tanh(_z),
    "sigmoid": (1 + sympy.tanh(_z / 2)) / 2,
    "softplus": _z / 2 + sympy.log(2 * sympy.cosh(_z / 2)),
}


@pytest.mark.parametrize("name", ["tanh", "sigmoid", "softplus"])
def test_reference_forms_equal_definitions(name):
    d = S_SYM[name] - S_DEF[name]
    assert sympy.simplify(sympy.exp(d.rewrite(sympy.exp))) == 1 and d.subs(_z, 0).equals(0)
    assert sympy.simplify(S_DEF[name] - symland.activation(name).expr.subs(symbols.z, _z)) == 0


def _stable(expr):
    """sinh(y) -> tanh(y) cosh(y): powers of cosh then cancel, and 1/cosh^k underflows to 0 (no inf/inf)."""
    return expr.replace(sympy.sinh, lambda y: sympy.tanh(y) * sympy.cosh(y))


@functools.lru_cache(maxsize=None)
def s_np(name, order=0):
    """s^(order) as a numpy function (SymPy derivative of the expression typed above)."""
    return sympy.lambdify(_z, _stable(sympy.diff(S_SYM[name], _z, order)), modules="numpy")


@functools.lru_cache(maxsize=None)
def _gh(n):
    x, w = roots_hermitenorm(n)
    return x, w / np.sqrt(2 * np.pi)


def gh2(f, g, a, b, c, n):
    """E[f(u) g(v)] by n x n Gauss-Hermite on the Cholesky variables (D from exact rationals)."""
    x, w = _gh(n)
    D = max(float(Fraction(a) * Fraction(b) - Fraction(c) ** 2), 0.0)
    if a == 0:
        return float(f(0.0) * (w @ g(np.sqrt(b) * x)))
    X, Y = x[:, None], x[None, :]
    u = np.sqrt(a) * X
    v = (c / np.sqrt(a)) * X + np.sqrt(D / a) * Y
    return float(w @ (f(u) * g(v)) @ w)


def ref_partial(name, index, a, b, c, n):
    i, j, l = index
    return gh2(s_np(name, 2 * i + l), s_np(name, 2 * j + l), a, b, c, n) / 2 ** (i + j)


def _nodes_for(vmax):
    return 1000 if vmax <= 4 else 2000


# ---------------------------------------------------------------------------
# the accuracy statement
# ---------------------------------------------------------------------------
_NUM = r"([0-9.]+(?:e-?[0-9]+)?)"


def parse_statement(text):
    """(rtol, vmax, covers_partials, diag_rtol) promised by ACCURACY_STATEMENT."""
    m_tol = re.search(r"relative error\s*(?:<=|<|≤)\s*" + _NUM, text)
    m_var = re.search(r"variances\s*(?:<=|<|≤)\s*" + _NUM, text)
    assert m_tol and m_var, f"ACCURACY_STATEMENT no longer states 'relative error < x ... variances <= v': {text!r}"
    m_diag = re.search(r"diagonal[^;]*?(?:<=|<|≤)\s*" + _NUM, text)
    return (
        float(m_tol.group(1)),
        float(m_var.group(1)),
        "partial" in text,
        float(m_diag.group(1)) if m_diag else float(m_tol.group(1)),
    )


def test_accuracy_statement_is_reported_by_quadrature_activations():
    for name in QUAD:
        assert symland.activation(name).accuracy == quadrature.ACCURACY_STATEMENT
    rtol, vmax, _, _ = parse_statement(quadrature.ACCURACY_STATEMENT)
    assert 0 < rtol < 1e-6 and vmax >= 1


def test_parse_statement_understands_both_phrasings():
    old = "relative error < 1e-11 for smooth activations at variances <= 4 (checked)"
    assert parse_statement(old) == (1e-11, 4.0, False, 1e-11)
    new = ("relative error <= 1e-10 for the kernel and its Price partials up to total order 4 at "
           "variances <= 10 (diagonal E[s(u)^2] and its derivatives <= 1e-12); mpmath ...")
    assert parse_statement(new) == (1e-10, 10.0, True, 1e-12)


RTOL, VMAX, PARTIALS_CLAIMED, DIAG_RTOL = parse_statement(quadrature.ACCURACY_STATEMENT)


def _grid():
    small = min(0.3, VMAX)
    pairs = [(small, small), (1.0, min(4.0, VMAX)), (VMAX, VMAX), (VMAX, 0.1)]
    rhos = [-1.0, -0.9, -0.3, 0.5, 0.99, 1.0]
    if not FULL:
        pairs, rhos = pairs[1:3], [-1.0, -0.3, 0.99]
    pts = []
    for a, b in pairs:
        for r in rhos:
            c = r * float(np.sqrt(a * b))
            while Fraction(c) ** 2 > Fraction(a) * Fraction(b):
                c = float(np.nextafter(c, 0.0))
            pts.append((a, b, c))
    return pts


def test_reference_gauss_hermite_is_converged():
    """The hardest grid point (largest variance, anti-aligned): two node counts agree to 1e-13."""
    n = _nodes_for(VMAX)
    for name in QUAD:
        f = s_np(name)
        r1 = gh2(f, f, VMAX, VMAX, -VMAX, n)
        r2 = gh2(f, f, VMAX, VMAX, -VMAX, (3 * n) // 4)
        assert abs(r1 - r2) <= 1e-13 * abs(r1), (name, r1, r2)


@pytest.mark.slow
@pytest.mark.parametrize("name", QUAD)
def test_float_kernel_meets_accuracy_statement(name):
    pts = _grid()
    a, b, c = (np.array(v) for v in zip(*pts))
    got = symland.kernel(name, a, b, c)
    f = s_np(name)
    bad = []
    for k, (aa, bb, cc) in enumerate(pts):
        ref = gh2(f, f, aa, bb, cc, _nodes_for(max(aa, bb)))
        if not abs(got[k] - ref) <= RTOL * abs(ref):
            bad.append(((aa, bb, cc), got[k], ref, abs(got[k] - ref) / abs(ref)))
    assert not bad, bad[:4]


PARTIAL_INDICES = [(0, 0, 1), (1, 0, 0), (0, 1, 1), (2, 0, 0), (1, 1, 2), (0, 0, 4)]


@pytest.mark.slow
@pytest.mark.parametrize("name", QUAD)
def test_float_partials_meet_accuracy_statement(name):
    if not PARTIALS_CLAIMED:
        pytest.skip("ACCURACY_STATEMENT makes no claim about partials")
    pts = [(VMAX, VMAX, -0.9 * VMAX)] + ([(1.0, min(4.0, VMAX), 0.7)] if FULL else [])
    indices = PARTIAL_INDICES if FULL else PARTIAL_INDICES[::2]
    for index in indices:
        i, j, l = index
        p, q = 2 * i + l, 2 * j + l
        for a, b, c in pts:
            n = _nodes_for(max(a, b))
            got = symland.kernel_partial(name, index, a, b, c)
            ref = ref_partial(name, index, a, b, c, n)
            if sum(index) == 4:  # the reference itself converged well below the claimed tolerance
                finer = ref_partial(name, index, a, b, c, (7 * n) // 5)
                assert abs(ref - finer) <= 0.1 * RTOL * abs(finer), (index, ref, finer)
            # relative to the Cauchy-Schwarz scale sqrt(E[s^(p)(u)^2] E[s^(q)(v)^2]) / 2^(i+j)
            x, w = _gh(n)
            scale = np.sqrt((w @ s_np(name, p)(np.sqrt(a) * x) ** 2) * (w @ s_np(name, q)(np.sqrt(b) * x) ** 2))
            scale /= 2 ** (i + j)
            assert abs(got - ref) <= RTOL * max(abs(ref), 1e-3 * scale), (index, (a, b, c), got, ref)


# ---------------------------------------------------------------------------
# sigmoid(z) = (1 + tanh(z/2)) / 2
# ---------------------------------------------------------------------------
IDENTITY_POINTS = [(1.0, 1.0, 0.3), (0.5, 2.0, -0.9), (3.0, 3.0, 3.0), (2.0, 0.2, 0.1), (0.0, 1.5, 0.0)]


def test_sigmoid_kernel_from_tanh_kernel():
    sig, th = symland.activation("sigmoid"), symland.activation("tanh")
    for a, b, c in IDENTITY_POINTS:
        lhs = symland.kernel(sig, a, b, c)
        rhs = 0.25 + symland.kernel(th, a / 4, b / 4, c / 4) / 4
        assert abs(lhs - rhs) <= 1e-13, (a, b, c, lhs, rhs)


@pytest.mark.parametrize("index", [(0, 0, 1), (1, 0, 0), (1, 1, 0), (0, 1, 2)])
def test_sigmoid_partials_from_tanh_partials(index):
    """d^{i+j+l} kappa_sigmoid = 4^{-(i+j+l)} / 4 * d^{i+j+l} kappa_tanh at (a/4, b/4, c/4) (order >= 1)."""
    k = sum(index)
    for a, b, c in IDENTITY_POINTS[:3]:
        lhs = symland.kernel_partial("sigmoid", index, a, b, c)
        rhs = symland.kernel_partial("tanh", index, a / 4, b / 4, c / 4) / 4 ** (k + 1)
        assert abs(lhs - rhs) <= 1e-13 * max(abs(rhs), 1e-3), (index, a, b, c, lhs, rhs)


def test_quadrature_kernel_exact_special_values():
    # a = 0: u == 0, so E[s(0) s(v)]; sigmoid(0) = 1/2 and E[sigmoid(v)] = 1/2 by symmetry
    assert symland.kernel("sigmoid", 0.0, 2.0, 0.0) == pytest.approx(0.25, abs=1e-15)
    assert abs(symland.kernel("tanh", 0.0, 2.0, 0.0)) < 1e-16
    # c = 0: independent, E[tanh(u)] = 0
    assert abs(symland.kernel("tanh", 1.0, 2.0, 0.0)) < 1e-15
    # odd activation: kappa(a, b, -c) = -kappa(a, b, c)
    t = symland.activation("tanh")
    assert symland.kernel(t, 1.0, 2.0, -0.7) == pytest.approx(-symland.kernel(t, 1.0, 2.0, 0.7), rel=1e-13)


# ---------------------------------------------------------------------------
# partials vs finite differences
# ---------------------------------------------------------------------------
def _fd(f, x, h=1e-3):
    """Fourth-order central difference."""
    return (-f(x + 2 * h) + 8 * f(x + h) - 8 * f(x - h) + f(x - 2 * h)) / (12 * h)


FD_POINTS = [(1.0, 0.7, 0.4), (0.6, 1.8, -0.9)]


@pytest.mark.parametrize("name", ["tanh", "softplus"])
def test_quadrature_partials_vs_finite_differences(name):
    kp = lambda idx, a, b, c: symland.kernel_partial(name, idx, a, b, c)  # noqa: E731
    for a, b, c in FD_POINTS:
        checks = [
            ((0, 0, 1), _fd(lambda t: kp((0, 0, 0), a, b, t), c)),
            ((1, 0, 0), _fd(lambda t: kp((0, 0, 0), t, b, c), a)),
            ((0, 1, 0), _fd(lambda t: kp((0, 0, 0), a, t, c), b)),
            ((0, 0, 2), _fd(lambda t: kp((0, 0, 1), a, b, t), c)),
            ((1, 0, 1), _fd(lambda t: kp((0, 0, 1), t, b, c), a)),
        ]
        for index, fd in checks:
            got = kp(index, a, b, c)
            assert abs(got - fd) <= 1e-8 * max(abs(fd), 1e-2), (name, index, (a, b, c), got, fd)


def test_tanh_first_c_partial_is_expectation_of_derivatives():
    """(0,0,1) = E[s'(u) s'(v)] with s' = 1 - tanh^2, against the Gauss-Hermite reference."""
    for a, b, c in FD_POINTS:
        got = symland.kernel_partial("tanh", (0, 0, 1), a, b, c)
        d = lambda t: 1 - np.tanh(t) ** 2  # noqa: E731
        ref = gh2(d, d, a, b, c, 600)
        assert abs(got - ref) <= 1e-12 * abs(ref)


# ---------------------------------------------------------------------------
# the diagonal
# ---------------------------------------------------------------------------
_t = sympy.Symbol("t", positive=True)
_x = sympy.Symbol("x", real=True)


DIAG_T = [0.5, min(4.0, VMAX)]
#: (t, m) beyond the 1e-12 diagonal claim (orders 3-4); SYMLAND_FULL=1 adds the largest claimed variance
DIAG_BAD = [(min(4.0, VMAX), 4)] + ([(VMAX, 3), (VMAX, 4)] if FULL and VMAX > 4 else [])


def _diag_check(name, t, m, rtol=None):
    """phi^(m)(t) = E_x[d^m/dt^m s(sqrt(t) x)^2] (SymPy derivative in t), 1-D Gauss-Hermite."""
    integrand = S_SYM[name].subs(_z, sympy.sqrt(_t) * _x) ** 2
    x, w = _gh(3000)
    h = sympy.lambdify((_t, _x), _stable(sympy.diff(integrand, _t, m)), modules="numpy")
    vals = h(t, x) * np.ones_like(x)
    assert np.all(np.isfinite(vals))
    ref = float(w @ vals)
    got = symland.diagonal(name, m, t)
    rtol = DIAG_RTOL if rtol is None else rtol
    assert abs(got - ref) <= rtol * abs(ref), (name, t, m, got, ref, abs(got - ref) / abs(ref))


@pytest.mark.parametrize("t", DIAG_T)
@pytest.mark.parametrize("name", QUAD)
def test_quadrature_diagonal_by_differentiation_under_the_integral(name, t):
    for m in range(4):
        _diag_check(name, t, m)


@pytest.mark.parametrize("t,m", DIAG_BAD)
@pytest.mark.parametrize("name", ["tanh", "softplus"])
def test_quadrature_diagonal_high_derivatives(name, t, m):
    """Orders 3-4 (not used by loss, gradient or Hessian) carry the weaker promise of the statement."""
    claim = re.search(r"orders 3-4[^;)]*?(?:<=|<)\s*" + _NUM, quadrature.ACCURACY_STATEMENT)
    assert claim, "ACCURACY_STATEMENT no longer states the accuracy of diagonal orders 3-4"
    _diag_check(name, t, m, rtol=float(claim.group(1)))


# ---------------------------------------------------------------------------
# mpmath path
# ---------------------------------------------------------------------------
def _mp_1d(f, dps=40):
    with mpmath.workdps(dps):
        k = 1 / mpmath.sqrt(2 * mpmath.pi)
        return mpmath.quad(lambda x: k * mpmath.exp(-x * x / 2) * f(x), [-mpmath.inf, 0, mpmath.inf])


MP_CASES = [("tanh", (0.8, 0.8, 0.8)), ("softplus", (0.0, 1.7, 0.0)), ("sigmoid", (0.0, 3.0, 0.0))]
if FULL:
    MP_CASES += [("tanh", (1.0, 0.5, 0.3))]  # a genuine 2-D value: minutes per evaluation


@pytest.mark.slow
@pytest.mark.parametrize("name,point", MP_CASES)
def test_mpmath_quadrature_kernel(name, point):
    a, b, c = point
    if a > 0 and a * b > c * c:  # generic: compare with the float reference to its accuracy
        got = symland.kernel(name, a, b, c, dps=16)
        f = s_np(name)
        ref = gh2(f, f, a, b, c, 1000)
        assert abs(float(got) - ref) <= 1e-13 * abs(ref)
        return
    got = symland.kernel(name, a, b, c, dps=30)
    with mpmath.workdps(40):
        if a > 0:  # c^2 = ab: v = (c/a) u, a 1-D expectation
            sa = mpmath.sqrt(a)
            s = {"tanh": mpmath.tanh, "sigmoid": lambda t: 1 / (1 + mpmath.exp(-t)),
                 "softplus": lambda t: mpmath.log(1 + mpmath.exp(t))}[name]
            ref = _mp_1d(lambda x: s(sa * x) * s(c / sa * x))
        elif name == "sigmoid":
            ref = mpmath.mpf(1) / 4
        else:  # softplus, a = 0: log(2) * E[softplus(sqrt(b) y)]
            sb = mpmath.sqrt(b)
            ref = mpmath.log(2) * _mp_1d(lambda y: mpmath.log(1 + mpmath.exp(sb * y)))
        assert abs(got - ref) <= mpmath.mpf(10) ** -28 * abs(ref), (got, ref)


@pytest.fixture
def temp_activation():
    names = []
    yield names
    for n in names:
        _registry._REGISTRY.pop(n, None)


def test_mpmath_quadrature_raises_convergence_error(temp_activation):
    """An oscillatory activation: the tanh-sinh error estimate exceeds the requested accuracy."""
    name = "_test_cos50"
    temp_activation.append(name)
    act = symland.register_activation(name, sympy.cos(50 * symbols.z))
    with pytest.raises(ConvergenceError, match="did not reach") as info:
        symland.kernel(act, 0.0, 1.0, 0.0, dps=20)
    assert info.value.history  # the error estimates are kept
