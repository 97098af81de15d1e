r"""Tests of the activation registry and of every closed-form dual kernel.

Independent references used here (none of them calls the code under test):

* the *1-D reduction* of $\kappa(a, b, c) = E[s(u)s(v)]$: with $u = \sqrt a\,x$,
  $v \mid x \sim N(\mu, \sigma^2)$, $\mu = c x/\sqrt a$, $\sigma^2 = (ab - c^2)/a$,
  the inner expectation $m(\mu, \sigma) = E_y[s(\mu + \sigma y)]$ is known in
  closed form (typed below and itself checked against direct ``mpmath.quad``),
  so $\kappa = \int \varphi(x)\, s(\sqrt a\,x)\, m(\mu(x), \sigma)\,dx$ is one
  ``mpmath.quad`` at 40 digits;
* the closed forms written out by hand in mpmath (``asin``/``acos`` form, not
  symland's ``atan2``/``D`` form), evaluated at 60 digits at the *same* float
  inputs, as the reference for the float64 kernels;
* Gauss-Hermite quadrature is exact for polynomial activations (user registration).
"""

from __future__ import annotations

import pickle
import random
from fractions import Fraction

import mpmath
import numpy as np
import pytest
import sympy

import symland
from symland.numerics import symbols
from symland.kernels import registry as _registry
from symland.kernels.evaluate import partial_evaluator
from symland.errors import ExpressionError, UnknownActivationError
from conftest import FULL
from references import INNER, MU, SIGMA


CLOSED = ["erf", "erf_plain", "relu", "linear", "quadratic"]
QUAD = ["tanh", "sigmoid", "softplus"]

# ---------------------------------------------------------------------------
# independent references
# ---------------------------------------------------------------------------
_mu, _sig = MU, SIGMA
_INNER_MP = {k: sympy.lambdify((_mu, _sig), v, modules="mpmath") for k, v in INNER.items()}

#: s(z) written directly in mpmath (not taken from symland)
S_MP = {
    "erf": lambda t: mpmath.erf(t / mpmath.sqrt(2)),
    "erf_plain": lambda t: mpmath.erf(t),
    "relu": lambda t: t if t > 0 else mpmath.mpf(0),
    "linear": lambda t: t,
    "quadratic": lambda t: t * t,
}


def _npdf(x):
    return mpmath.exp(-x * x / 2) / mpmath.sqrt(2 * mpmath.pi)


def ref_kernel_quad(name, a, b, c, dps=40):
    """kappa(a, b, c) by the 1-D reduction and mpmath.quad at ``dps`` digits (floats read exactly)."""
    s, m = S_MP[name], _INNER_MP[name]
    with mpmath.workdps(dps):
        a, b, c = mpmath.mpf(a), mpmath.mpf(b), mpmath.mpf(c)
        D = a * b - c * c  # exact: products of doubles need 106 bits < 40 digits
        if a == 0:
            return s(mpmath.mpf(0)) * (m(mpmath.mpf(0), mpmath.sqrt(b)) if b > 0 else s(mpmath.mpf(0)))
        sa = mpmath.sqrt(a)
        sig = mpmath.sqrt(D / a)
        if sig == 0:
            f = lambda x: _npdf(x) * s(sa * x) * s(c * x / sa)  # noqa: E731
        else:
            f = lambda x: _npdf(x) * s(sa * x) * m(c * x / sa, sig)  # noqa: E731
        return mpmath.quad(f, [-mpmath.inf, 0, mpmath.inf])


def ref_kernel_formula(name, a, b, c, dps=60):
    """The closed forms typed by hand (asin/acos form), at ``dps`` digits, exact float inputs."""
    with mpmath.workdps(dps):
        a, b, c = mpmath.mpf(a), mpmath.mpf(b), mpmath.mpf(c)
        pi = mpmath.pi
        if name == "erf":
            return 2 / pi * mpmath.asin(c / mpmath.sqrt((1 + a) * (1 + b)))
        if name == "erf_plain":
            return 2 / pi * mpmath.asin(2 * c / mpmath.sqrt((1 + 2 * a) * (1 + 2 * b)))
        if name == "relu":
            if a == 0 or b == 0:
                return mpmath.mpf(0)
            D = a * b - c * c
            if D < 0:  # rounding-level excess, accepted by symland as D = 0
                D = mpmath.mpf(0)
            rho = min(max(c / mpmath.sqrt(a * b), -1), 1)
            return (mpmath.sqrt(D) + c * (pi - mpmath.acos(rho))) / (2 * pi)
        if name == "linear":
            return c
        if name == "quadratic":
            return a * b + 2 * c * c
    raise KeyError(name)


def _close(got, ref, rel, abs_=0):
    return abs(got - ref) <= rel * abs(ref) + abs_


# ---------------------------------------------------------------------------
# registry and attributes
# ---------------------------------------------------------------------------
def test_known_activations_lists_builtins_sorted():
    names = symland.known_activations()
    assert names == sorted(names)
    for n in CLOSED + QUAD:
        assert n in names


def test_activation_lookup_returns_record_and_passes_through():
    act = symland.activation("erf")
    assert isinstance(act, symland.Activation)
    assert act.name == "erf"
    assert symland.activation(act) is act


@pytest.mark.parametrize("bad", ["no_such_activation", "ERF", 3, None])
def test_unknown_activation_raises_and_lists_known_names(bad):
    with pytest.raises(UnknownActivationError) as exc:
        symland.activation(bad)
    msg = str(exc.value)
    assert repr(bad) in msg
    for n in symland.known_activations():
        assert n in msg
    assert isinstance(exc.value, KeyError)  # registry lookups stay KeyError-compatible


z = symbols.z
EXPECTED_EXPR = {
    "erf": sympy.erf(z / sympy.sqrt(2)),
    "erf_plain": sympy.erf(z),
    "relu": sympy.Max(z, 0),
    "linear": z,
    "quadratic": z**2,
    "tanh": sympy.tanh(z),
    "sigmoid": 1 / (1 + sympy.exp(-z)),
    "softplus": sympy.log(1 + sympy.exp(z)),
}
EXPECTED_ODD = {
    "erf": True, "erf_plain": True, "relu": False, "linear": True,
    "quadratic": False, "tanh": True, "sigmoid": False, "softplus": False,
}


@pytest.mark.parametrize("name", CLOSED + QUAD)
def test_attributes(name):
    act = symland.activation(name)
    assert act.name == name
    assert sympy.simplify(act.expr - EXPECTED_EXPR[name]) == 0
    assert act.is_odd is EXPECTED_ODD[name]
    closed = name in CLOSED
    assert act.has_closed_form is closed
    assert act.method == ("closed form" if closed else "quadrature")
    assert (act.kernel_expr is not None) is closed
    if closed:
        assert "closed form" in act.accuracy
    else:
        assert act.accuracy == symland.kernels.quadrature.ACCURACY_STATEMENT
        assert act.safe_kernel_expr is None


@pytest.mark.parametrize("name", CLOSED)
def test_kernel_expressions_use_exact_constants_only(name):
    act = symland.activation(name)
    for e in (act.kernel_expr, act.safe_kernel_expr):
        assert not e.atoms(sympy.Float), e
        assert e.free_symbols <= {symbols.a_, symbols.b_, symbols.c_, symbols.D_}
    assert act.kernel_expr.free_symbols <= {symbols.a_, symbols.b_, symbols.c_}


# ---------------------------------------------------------------------------
# safe form == exact form
# ---------------------------------------------------------------------------
_ap, _bp = sympy.symbols("a_p b_p", positive=True)
_POS = {symbols.a_: _ap, symbols.b_: _bp}


def _atan2_to_inverse_sine(y, x):
    # atan2(y, x) = asin(y / r) for x > 0 and acos(x / r) for y >= 0, r = sqrt(x^2 + y^2)
    r = sympy.sqrt(x**2 + y**2)
    if x.subs(_POS).is_positive:
        return sympy.asin(y / r)
    if y.subs(_POS).is_nonnegative:
        return sympy.acos(x / r)
    raise AssertionError(f"cannot decide the branch of atan2({y}, {x})")


def _factor_square_roots(e):
    return e.replace(
        lambda t: t.is_Pow and t.exp.is_Rational and t.exp.q == 2,
        lambda t: sympy.factor(t.base) ** t.exp,
    )


@pytest.mark.parametrize("name", CLOSED)
def test_safe_form_equals_exact_form_symbolically(name):
    """Proof on a, b > 0, c^2 <= ab: rewrite atan2 by its defining identity, put D = ab - c^2."""
    act = symland.activation(name)
    safe = act.safe_kernel_expr.replace(sympy.atan2, _atan2_to_inverse_sine)
    safe = safe.subs(_POS).subs(symbols.D_, _ap * _bp - symbols.c_**2)
    exact = act.kernel_expr.subs(_POS)
    assert sympy.simplify(_factor_square_roots(safe) - _factor_square_roots(exact)) == 0


@pytest.mark.parametrize("name", CLOSED)
def test_safe_form_equals_exact_form_numerically(name):
    act = symland.activation(name)
    A, B, C, Dsym = symbols.a_, symbols.b_, symbols.c_, symbols.D_
    rng = random.Random(20240611)
    with mpmath.workdps(40):
        for _ in range(8):
            a = mpmath.mpf(rng.uniform(0.01, 5))
            b = mpmath.mpf(rng.uniform(0.01, 5))
            c = mpmath.mpf(rng.uniform(-0.999, 0.999)) * mpmath.sqrt(a * b)
            D = a * b - c * c
            vals = {A: a, B: b, C: c, Dsym: D}
            s = act.safe_kernel_expr.evalf(40, subs=vals)
            e = act.kernel_expr.evalf(40, subs=vals)
            assert abs(s - e) <= sympy.Float(10) ** -36 * (1 + abs(e))


# ---------------------------------------------------------------------------
# closed forms against quadrature (>= 25 digits)
# ---------------------------------------------------------------------------
def test_inner_closed_forms_against_direct_quadrature():
    """m(mu, sigma) = E_y[s(mu + sigma y)]: the inner formulas of the 1-D reduction."""
    pairs = [(-1.7, 0.4), (0.01, 1e-3), (-0.2, 25.0), (0.0, 0.7)]
    with mpmath.workdps(32):
        for name in CLOSED:
            s, m = S_MP[name], _INNER_MP[name]
            for mu, sig in pairs:
                mu, sig = mpmath.mpf(mu), mpmath.mpf(sig)
                direct = mpmath.quad(
                    lambda y: s(mu + sig * y) * _npdf(y), [-mpmath.inf, -mu / sig, mpmath.inf]
                )
                closed = m(mu, sig)
                assert abs(direct - closed) <= mpmath.mpf(10) ** -30 * max(1, abs(closed)), (name, mu, sig)


_S6 = float(np.sqrt(6.0))
KERNEL_POINTS = [
    (0.7, 2.3, -1.1),
    (1e-3, 1e-3, 0.5e-3),  # small variances
    (2.0, 3.0, _S6 * (1 - 1e-6)),  # nearly aligned
    (2.0, 3.0, -_S6 * (1 - 1e-6)),  # nearly anti-aligned
    (4.0, 9.0, -6.0),  # exactly anti-aligned
    (0.0, 2.0, 0.0),  # zero variance
]
if FULL:
    KERNEL_POINTS += [
        (1.0, 1.0, 0.5),
        (1e-3, 5.0, -0.05),
        (4.0, 9.0, 6.0),  # exactly aligned
        (1.5, 0.2, 0.0),
        (7.0, 0.3, 1.2),
    ]


def _kernel_expr_mp(name):
    act = symland.activation(name)
    return sympy.lambdify((symbols.a_, symbols.b_, symbols.c_), act.kernel_expr, modules="mpmath")


@pytest.mark.slow
@pytest.mark.parametrize("name", CLOSED)
def test_closed_form_kernel_against_quadrature_25_digits(name):
    """symland's kernel (dps=40), its exact kernel_expr, and the hand formulas used as float64
    references below, all against the 1-D quadrature reduction, to >= 25 digits."""
    act = symland.activation(name)
    exact = _kernel_expr_mp(name)
    tol = mpmath.mpf(10) ** -25
    for a, b, c in KERNEL_POINTS:
        ref = ref_kernel_quad(name, a, b, c, dps=40)
        scale = abs(ref) + mpmath.mpf(10) ** -10 * (a * b) ** 0.5  # ref == 0 at c = -sqrt(ab) for relu
        got = symland.kernel(act, a, b, c, dps=40)
        assert abs(got - ref) <= tol * scale, (name, a, b, c, got, ref)
        hand = ref_kernel_formula(name, a, b, c)
        assert abs(hand - ref) <= tol * scale, (name, a, b, c, hand, ref)
        if not (name == "relu" and a == 0):  # the exact form is 0 * acos(0/0) there
            with mpmath.workdps(40):
                val = exact(mpmath.mpf(a), mpmath.mpf(b), mpmath.mpf(c))
            assert abs(val - ref) <= tol * scale, (name, a, b, c, val, ref)


# ---------------------------------------------------------------------------
# float64 kernels: 1e-13 relative across the domain
# ---------------------------------------------------------------------------
VARIANCES = [1e-6, 1e-3, 0.7, 1.0, 3.0, 1e2, 1e4]
if not FULL:
    VARIANCES = [1e-6, 1.0, 3.0, 1e4]


def _grid(rhos):
    pts = []
    for a in VARIANCES:
        for b in VARIANCES:
            s = float(np.sqrt(a * b))
            for r in rhos:
                pts.append((a, b, r * s))
            # exactly (anti-)aligned: a*b is an exact square for b = a and b = 4a
        pts += [(a, a, a), (a, a, -a), (a, 4 * a, 2 * a), (a, 4 * a, -2 * a)]
    return [p for p in pts if Fraction(p[2]) ** 2 <= Fraction(p[0]) * Fraction(p[1])]


ALIGNED_POS = [1 - 10.0**-k for k in range(1, 16)]
ALIGNED_NEG = [-r for r in ALIGNED_POS]
GENERIC = [0.0, 0.3, -0.3, 0.7, -0.7, 0.9, -0.9]


def _float_errors(name, pts):
    act = symland.activation(name)
    a, b, c = (np.array(v) for v in zip(*pts))
    got = symland.kernel(act, a, b, c)
    bad = []
    for k, p in enumerate(pts):
        ref = ref_kernel_formula(name, *p)
        if not _close(mpmath.mpf(got[k]), ref, 1e-13, 1e-300):
            bad.append((p, float(got[k]), float(ref)))
    return bad


@pytest.mark.slow
@pytest.mark.parametrize("name", CLOSED)
def test_float64_kernel_relative_accuracy(name):
    """All closed forms, variances 1e-6..1e4, c generic, c = sqrt(ab)(1 - 1e-k) for k <= 15, c = +-sqrt(ab)."""
    rhos = GENERIC + ALIGNED_POS + ALIGNED_NEG
    if name == "relu":  # relu on the anti-aligned side: see the xfail test below
        rhos = [r for r in rhos if r >= -0.9]
    bad = _float_errors(name, _grid(rhos))
    assert not bad, bad[:5]


def test_float64_relu_kernel_relative_accuracy_anti_aligned():
    pts = [(2.0, 3.0, -_S6 * (1 - 10.0**-k)) for k in range(2, 16)] + [(1.0, 1.0, -0.99)]
    bad = _float_errors("relu", pts)
    assert not bad, bad[:5]


def test_float64_relu_kernel_absolute_accuracy_anti_aligned():
    """What does hold near c = -sqrt(ab): absolute error of a few ulps of sqrt(ab)."""
    act = symland.activation("relu")
    for a, b in [(2.0, 3.0), (1e-3, 1e2), (1.0, 1.0)]:
        s = float(np.sqrt(a * b))
        for k in range(1, 16):
            c = -s * (1 - 10.0**-k)
            got = symland.kernel(act, a, b, c)
            ref = ref_kernel_formula("relu", a, b, c)
            assert abs(got - ref) <= 4e-16 * s, (a, b, c, got, ref)


def test_float64_kernel_broadcasts():
    act = symland.activation("erf")
    out = symland.kernel(act, np.array([[1.0], [2.0]]), 1.0, np.array([0.1, 0.2, 0.3]))
    assert out.shape == (2, 3)
    ref = ref_kernel_formula("erf", 2.0, 1.0, 0.3)
    assert _close(mpmath.mpf(out[1, 2]), ref, 1e-14)


def test_rounding_level_excess_covariance_is_treated_as_aligned():
    """c computed as float sqrt(ab) may exceed sqrt(ab) by an ulp; the float path accepts it as D = 0."""
    found = 0
    for a, b in [(2.0, 3.0), (0.3, 0.7), (5.0, 7.0), (1.1, 1.3), (2.0, 5.0), (3.0, 7.0)]:
        c = float(np.sqrt(a * b))
        c = np.nextafter(c, np.inf)
        if Fraction(c) ** 2 <= Fraction(a) * Fraction(b):
            continue
        found += 1
        for name in CLOSED:
            got = symland.kernel(name, a, b, c)
            ref = ref_kernel_formula(name, a, b, c)  # at D = 0 for relu, exact formula else
            assert _close(mpmath.mpf(got), ref, 1e-13), (name, a, b, c)
    assert found >= 1


# ---------------------------------------------------------------------------
# mpmath kernels at the requested digits
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("name", CLOSED)
def test_mpmath_kernel_has_requested_digits(name):
    act = symland.activation(name)
    pts = [(0.7, 2.3, -1.1), (1e-6, 1e4, 0.05), (2.0, 3.0, _S6 * (1 - 1e-15)), (2.0, 3.0, -_S6 * (1 - 1e-4))]
    for a, b, c in pts:
        got = symland.kernel(act, a, b, c, dps=30)
        ref = ref_kernel_formula(name, a, b, c, dps=80)
        assert abs(got - ref) <= mpmath.mpf(10) ** -29 * abs(ref), (name, a, b, c)


def test_mpmath_relu_kernel_has_requested_digits_anti_aligned():
    act = symland.activation("relu")
    a, b, c = 2.0, 3.0, -_S6 * (1 - 1e-15)
    got = symland.kernel(act, a, b, c, dps=30)
    ref = ref_kernel_formula("relu", a, b, c, dps=80)
    assert abs(got - ref) <= mpmath.mpf(10) ** -29 * abs(ref)


# ---------------------------------------------------------------------------
# register_activation
# ---------------------------------------------------------------------------
@pytest.fixture
def registry_cleanup():
    """Names registered by a test are removed afterwards (there is no public unregister)."""
    names = []
    yield names
    for n in names:
        _registry._REGISTRY.pop(n, None)


def test_records_pickle_by_value_and_share_caches(registry_cleanup):
    """A pickled record (built-in or user) comes back equal to, and hashing like, the registered one,
    so a worker process finds the registry's cached partials; no lookup by name is involved."""
    registry_cleanup.append("shifted_relu_pickle")
    user = symland.register_activation("shifted_relu_pickle", "Max(z - 1, 0)")
    for act in (symland.activation("erf"), symland.activation("selu"), user):
        back = pickle.loads(pickle.dumps(act))
        assert back == act and hash(back) == hash(act) and back is not act
        assert symland.activation(back) is back
    erf = symland.activation("erf")
    back = pickle.loads(pickle.dumps(erf))
    assert partial_evaluator(back, (0, 0, 1), False) is partial_evaluator(erf, (0, 0, 1), False)
    assert symland.activation("erf") != symland.activation("erf_plain")


def _cubic_kernel_in_user_symbols():
    a, b, c = sympy.symbols("a b c")  # the user's own symbols, only the names match
    return 9 * a * b * c + 6 * c**3  # E[u^3 v^3] by Isserlis


def test_register_with_kernel(registry_cleanup):
    name = "_test_cubic"
    registry_cleanup.append(name)
    w = sympy.Symbol("w")
    act = symland.register_activation(name, w**3, kernel=_cubic_kernel_in_user_symbols(), description="cube")
    assert symland.activation(name) is act
    assert name in symland.known_activations()
    assert act.has_closed_form and act.method == "closed form"
    assert act.expr == symbols.z**3
    assert act.kernel_expr.free_symbols == {symbols.a_, symbols.b_, symbols.c_}
    assert act.is_odd
    a, b, c = 1.3, 0.4, -0.5
    assert symland.kernel(act, a, b, c) == pytest.approx(9 * a * b * c + 6 * c**3, rel=1e-14)
    assert symland.kernel(act, a, b, c, dps=30) == pytest.approx(9 * a * b * c + 6 * c**3, rel=1e-14)


def _relu_kernels_in_user_symbols():
    a, b, c, D = sympy.symbols("a b c D")
    kern = (sympy.sqrt(a * b - c**2) + c * (sympy.pi - sympy.acos(c / sympy.sqrt(a * b)))) / (2 * sympy.pi)
    safe = (sympy.sqrt(D) + c * (sympy.pi - sympy.atan2(sympy.sqrt(D), c))) / (2 * sympy.pi)
    return kern, safe


def test_register_with_safe_kernel(registry_cleanup):
    name = "_test_relu_copy"
    registry_cleanup.append(name)
    kern, safe = _relu_kernels_in_user_symbols()
    # check=False: the built-in quadrature check cannot resolve a kinked activation (see below)
    act = symland.register_activation(name, "Max(x, 0)", kernel=kern, safe_kernel=safe, check=False)
    assert symbols.D_ in act.safe_kernel_expr.free_symbols
    assert act.expr == sympy.Max(symbols.z, 0)
    for p in [(1.0, 2.0, 0.3), (2.0, 3.0, _S6 * (1 - 1e-13))]:
        got = symland.kernel(act, *p)
        assert _close(mpmath.mpf(got), ref_kernel_formula("relu", *p), 1e-13)


def test_register_correct_kinked_kernel_is_accepted(registry_cleanup):
    name = "_test_relu_checked"
    registry_cleanup.append(name)
    kern, safe = _relu_kernels_in_user_symbols()
    act = symland.register_activation(name, "Max(x, 0)", kernel=kern, safe_kernel=safe)
    assert act.has_closed_form


def test_register_without_kernel_uses_quadrature(registry_cleanup):
    name = "_test_cubic_quad"
    registry_cleanup.append(name)
    act = symland.register_activation(name, symbols.z**3)
    assert not act.has_closed_form and act.method == "quadrature"
    a, b, c = np.array([1.3, 0.2]), np.array([0.4, 2.0]), np.array([-0.5, 0.6])
    # Gauss-Hermite is exact for polynomials; E[u^3 v^3] = 9abc + 6c^3
    np.testing.assert_allclose(symland.kernel(act, a, b, c), 9 * a * b * c + 6 * c**3, rtol=1e-12)


def test_register_rejects_wrong_kernel(registry_cleanup):
    name = "_test_cubic_wrong"
    registry_cleanup.append(name)
    a, b, c = sympy.symbols("a b c")
    with pytest.raises(ValueError, match="disagrees with quadrature"):
        symland.register_activation(name, symbols.z**3, kernel=9 * a * b * c + 5 * c**3)
    assert name not in symland.known_activations()


def test_register_rejects_floats(registry_cleanup):
    registry_cleanup.extend(["_test_float_k", "_test_float_e"])
    a, b, c = sympy.symbols("a b c")
    with pytest.raises(ValueError, match="exact constants"):
        symland.register_activation("_test_float_k", symbols.z**3, kernel=9.0 * a * b * c + 6 * c**3)
    with pytest.raises(ValueError, match="exact constants"):
        symland.register_activation("_test_float_e", 0.5 * symbols.z)
    assert "_test_float_k" not in symland.known_activations()
    assert "_test_float_e" not in symland.known_activations()


def test_register_rejects_foreign_symbols_and_bad_expr(registry_cleanup):
    registry_cleanup.extend(["_test_sym", "_test_two"])
    a, q = sympy.symbols("a q")
    with pytest.raises(ValueError, match="'q'"):
        symland.register_activation("_test_sym", symbols.z, kernel=a * q)
    x, y = sympy.symbols("x y")
    with pytest.raises(ValueError, match="one variable"):
        symland.register_activation("_test_two", x * y)
    with pytest.raises(ValueError, match="name"):
        symland.register_activation("", symbols.z)


def test_register_from_strings_parses_exactly(registry_cleanup):
    # the relu kernels of _relu_kernels_in_user_symbols, written as text; 2.0 is read as the integer 2
    name = "_test_relu_text"
    registry_cleanup.append(name)
    kern = "(sqrt(a*b - c**2) + c*(pi - acos(c/sqrt(a*b)))) / (2.0*pi)"
    safe = "(sqrt(D) + c*(pi - atan2(sqrt(D), c))) / (2*pi)"
    act = symland.register_activation(name, "Max(x, 0)", kernel=kern, safe_kernel=safe, check=False)
    hand_kern, hand_safe = _relu_kernels_in_user_symbols()
    ours = {s.name: s for s in (symbols.a_, symbols.b_, symbols.c_, symbols.D_)}
    assert act.kernel_expr == hand_kern.xreplace({s: ours[s.name] for s in hand_kern.free_symbols})
    assert act.safe_kernel_expr == hand_safe.xreplace({s: ours[s.name] for s in hand_safe.free_symbols})
    assert not act.kernel_expr.atoms(sympy.Float)
    got = symland.kernel(act, 1.0, 2.0, 0.3)
    assert _close(mpmath.mpf(got), ref_kernel_formula("relu", 1.0, 2.0, 0.3), 1e-13)


def test_register_refuses_strings_outside_the_language(registry_cleanup, tmp_path):
    registry_cleanup.append("_test_text_bad")
    marker = tmp_path / "pwned"
    hostile = f"__import__('os').system('touch {marker}')"
    cases = [  # (expr, kernel, safe_kernel, text the message must contain)
        (hostile, None, None, "^expr: character .* not allowed"),  # the quote
        ("z", hostile, None, "^kernel: character .* not allowed"),
        ("z", "a*b", hostile, "^safe_kernel: character .* not allowed"),
        ("z", "a*b", "__import__(a)", "^safe_kernel: unknown function"),
        ("z", "a*b*D", None, r"kernel: unknown symbol .*'D'"),  # D only in the safe form
        ("z", "a*q", None, r"kernel: unknown symbol .*position 2 \('q'\)"),
        ("z.real", None, None, "expr: character '.'"),
        ("x*y", None, None, "one variable"),
    ]
    for expr, kern, safe, message in cases:
        with pytest.raises(ExpressionError, match=message):
            symland.register_activation("_test_text_bad", expr, kernel=kern, safe_kernel=safe, check=False)
    assert not marker.exists() and "_test_text_bad" not in symland.known_activations()


def test_register_duplicate_names(registry_cleanup):
    name = "_test_dup"
    registry_cleanup.append(name)
    first = symland.register_activation(name, symbols.z**3)
    with pytest.raises(ValueError, match="already registered"):
        symland.register_activation(name, symbols.z**5)
    assert symland.activation(name) is first
    with pytest.raises(ValueError, match="already registered"):
        symland.register_activation("erf", symbols.z)  # built-ins are protected too
    second = symland.register_activation(name, symbols.z**5, replace=True)
    assert symland.activation(name) is second
    assert second.expr == symbols.z**5
