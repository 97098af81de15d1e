"""Closed-form kernels at their boundary points: zero variance, exact (anti-)alignment, tiny and
huge scales; in float64 and in mpmath, against hand-derived references.

Regressions: the step kernel at a zero variance was 0.5 in float64 and 0 at dps=30 (true 1/4
with Heaviside(0) = 1/2), so a step network with a zero-norm neuron had loss 0.0323 / 0.6823
against a Monte Carlo 0.2323; relu, sign, step and abs lost every digit when a*b underflowed.
"""

import math

import mpmath
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import symland
from symland.errors import DomainError


def arccos_reference(name, a, b, c):
    """Cho & Saul's arc-cosine kernels, typed from the formulas (40 digits, global mpmath):
    rho = c / sqrt(ab), theta = acos(rho); relu sqrt(ab) (sin t + (pi - t) cos t) / (2 pi),
    step (pi - t) / (2 pi), sign 1 - 2 t / pi, abs = 2 relu(c) + 2 relu(-c)."""
    with mpmath.workdps(40):
        a, b, c = mpmath.mpf(a), mpmath.mpf(b), mpmath.mpf(c)
        rho = max(-1, min(1, c / mpmath.sqrt(a * b)))
        t = mpmath.acos(rho)

        def relu(t):
            return mpmath.sqrt(a * b) * (mpmath.sin(t) + (mpmath.pi - t) * mpmath.cos(t)) / (2 * mpmath.pi)
        return {"relu": lambda: relu(t), "step": lambda: (mpmath.pi - t) / (2 * mpmath.pi),
                "sign": lambda: 1 - 2 * t / mpmath.pi,
                "abs": lambda: 2 * relu(t) + 2 * relu(mpmath.pi - t)}[name]()


# kappa(0, b, 0) = s(0) E[s(v)]: step s(0) = 1/2, E = 1/2; sign s(0) = 0; relu, abs s(0) = 0
ZERO_VARIANCE = {"step": 0.25, "sign": 0.0, "relu": 0.0, "abs": 0.0, "relu_pow2": 0.0, "erf": 0.0,
                 "gelu": 0.0, "linear": 0.0}


@pytest.mark.parametrize("name", sorted(ZERO_VARIANCE))
@pytest.mark.parametrize("abc", [(0.0, 1.0, 0.0), (1.7, 0.0, 0.0), (0.0, 0.0, 0.0)])
def test_zero_variance_is_s0_times_the_mean(name, abc):
    assert symland.kernel(name, *abc) == ZERO_VARIANCE[name]
    assert symland.kernel(name, *abc, dps=30) == ZERO_VARIANCE[name]


def test_zero_variance_with_a_nonzero_s0():
    # s(z) = exp(z): s(0) = 1, E[exp(v)] = exp(b/2), so kappa(0, b, 0) = exp(b/2) and kappa(0,0,0) = 1
    assert abs(symland.kernel("exp", 0.0, 1.3, 0.0) - math.exp(0.65)) < 1e-14
    with mpmath.workdps(40):
        assert abs(symland.kernel("exp", 0.0, 1.3, 0.0, dps=30) - mpmath.exp(mpmath.mpf(1.3) / 2)) < mpmath.mpf(10) ** -29
    assert symland.diagonal("step", 0, 0.0) == 0.25 and symland.diagonal("step", 0, 0.0, dps=30) == 0.25
    assert symland.diagonal("step", 0, 2.0) == 0.5 and symland.diagonal("sign", 0, 0.0) == 0.0


@pytest.mark.parametrize("name", ["relu", "step", "sign", "abs"])
@pytest.mark.parametrize("scale", [1e-300, 1e-170, 1e-150, 1.0, 1e150, 1e170, 1e300])
@pytest.mark.parametrize("rho", [-1.0, -0.6, 0.0, 0.3, 1.0])
def test_homogeneous_kernels_at_every_scale(name, scale, rho):
    a, b = scale, 2 * scale
    c = rho * math.sqrt(2) * scale
    ref = arccos_reference(name, a, b, c)
    # at |rho| = 1 the float inputs are aligned only up to rounding (c**2 vs ab within an ulp), and
    # the exact kernels of slightly different inputs differ by ~1e-16 relative (1e-23 scale where
    # the value vanishes like theta^3): that is the tolerance there, 1e-13 / 1e-28 elsewhere
    edge = abs(rho) == 1
    got = symland.kernel(name, a, b, c)
    assert abs(got - float(ref)) <= (1e-15 if edge else 1e-13) * abs(float(ref)) + (1e-20 * scale if edge else 0)
    with mpmath.workdps(40):
        mp = symland.kernel(name, a, b, c, dps=30)
        tol = mpmath.mpf(10) ** (-15 if edge else -28)
        assert abs(mp - ref) <= tol * abs(ref) + (mpmath.mpf(10) ** -20 * scale if edge else 0)


def test_float64_refuses_what_it_cannot_represent():
    # relu_pow2 kernel ~ a*b: 1e-340 underflows and 1e340 overflows float64; mpmath answers
    with pytest.raises(DomainError, match="underflows float64"):
        symland.kernel("relu_pow2", 1e-170, 1e-170, 0.0)
    with pytest.raises(DomainError, match="overflows float64"):
        symland.kernel("relu_pow2", 1e170, 1e170, 0.0)
    # E[relu(u)^2 relu(v)^2] at c = 0 is (a/2)(b/2) = ab/4 (independent, E[relu(u)^2] = a/2)
    with mpmath.workdps(40):
        ref = mpmath.mpf(1e-170) ** 2 / 4
        assert abs(symland.kernel("relu_pow2", 1e-170, 1e-170, 0.0, dps=20) - ref) < mpmath.mpf(10) ** -19 * ref


def _monte_carlo_loss(s, W, a, n=4_000_000):
    X = np.random.default_rng(5).normal(size=(n, 2))
    f = a[0] * s(X @ W[0]) + a[1] * s(X @ W[1])
    t = s(X[:, 0]) + s(X[:, 1])
    r = 0.5 * (f - t) ** 2
    return r.mean(), r.std() / math.sqrt(n)


@pytest.mark.parametrize("name", ["step", "sign"])
def test_network_with_a_zero_norm_neuron(name):
    """Loss of sum_i a_i s(w_i.x) with w_0 = 0 against the teacher s(x1) + s(x2), by hand:
    step: f = a0/2 + a1 step(w1.x); E[step step] = 1/4 + asin(rho)/(2 pi).
    sign: f = a1 sign(w1.x) (sign(0) = 0); E[sign sign] = (2/pi) asin(rho)."""
    W = np.array([[0.0, 0.0], [1.0, 0.5]])
    a = np.array([0.7, 1.3])
    r1, r2 = 1 / math.sqrt(1.25), 0.5 / math.sqrt(1.25)
    if name == "step":
        K = lambda r: 0.25 + math.asin(r) / (2 * math.pi)  # noqa: E731
        ff = (a[0] / 2) ** 2 + 2 * (a[0] / 2) * a[1] / 2 + a[1] ** 2 / 2
        ft = (a[0] / 2) * 1.0 + a[1] * (K(r1) + K(r2))
        tt = 1.0 + 2 * 0.25
        s = lambda z: np.heaviside(z, 0.5)  # noqa: E731
    else:
        K = lambda r: 2 / math.pi * math.asin(r)  # noqa: E731
        ff, ft, tt = a[1] ** 2, a[1] * (K(r1) + K(r2)), 2.0
        s = np.sign
    exact = 0.5 * (ff - 2 * ft + tt)
    mc, se = _monte_carlo_loss(s, W, a)
    assert abs(mc - exact) < 5 * se
    p = symland.TeacherStudent.orthonormal(name, k=2, n=2)
    th = p.pack(W, a)
    assert abs(p.loss(th) - exact) < 1e-14
    assert abs(p.loss(th, dps=30) - exact) < 1e-15


HOMOGENEOUS = ["relu", "step", "sign", "abs", "relu_pow2", "relu_pow3", "linear"]


@settings(max_examples=120, deadline=None, derandomize=True)
@given(st.sampled_from(HOMOGENEOUS), st.floats(-150, 150), st.floats(0.05, 20),
       st.one_of(st.just(-1.0), st.just(0.0), st.just(1.0), st.floats(-1, 1)))
def test_property_float64_equals_mpmath_or_refuses(name, log_scale, ratio, rho):
    """At any scale and correlation, float64 equals the 30-digit value to 1e-12 relative or
    raises DomainError; never a wrong number.  (At |rho| = 1 the float inputs are aligned only up
    to rounding, where kernels vanishing like theta^3 may differ by ~1e-24 of their scale.)"""
    s = 10.0 ** log_scale
    a, b = s, s * ratio
    c = rho * math.sqrt(a) * math.sqrt(b)
    if c * c > a * b:
        c *= 1 - 2e-16
    with mpmath.workdps(40):
        ref = symland.kernel(name, a, b, c, dps=30)
        p = symland.activation(name).homogeneity_degree
        slack = mpmath.mpf(10) ** -20 * (mpmath.mpf(a) * b) ** (mpmath.mpf(p) / 2) if abs(rho) > 0.999 else 0
    try:
        got = symland.kernel(name, a, b, c)
    except DomainError:
        return
    assert abs(got - float(ref)) <= 1e-12 * abs(float(ref)) + float(slack) + 1e-300


@pytest.mark.parametrize("name", ["relu_pow2", "relu_pow3"])
def test_gradient_at_exact_alignment_exists_and_matches_finite_differences(name):
    """Regression: relu_pow2 / relu_pow3 refused the gradient when a student neuron is exactly
    aligned with a teacher neuron (the safe forms are 0/0 at D = 0), where it exists (the loss is
    C^1).  Reference: central differences of the 40-digit loss, h = 1e-12 (error O(h))."""
    p = symland.TeacherStudent.orthonormal(name, k=2, n=2)
    th = p.pack(np.array([[1.0, 0.0], [0.3, 0.8]]), np.array([0.7, 1.3]))  # w_0 = v_0: aligned
    g64 = p.gradient(th)
    with mpmath.workdps(45):
        g = p.gradient(th, dps=40)
        h = mpmath.mpf(10) ** -12
        for j in range(p.num_params):
            tp, tm = [mpmath.mpf(float(x)) for x in th], [mpmath.mpf(float(x)) for x in th]
            tp[j] += h
            tm[j] -= h
            fd = (p.loss(np.array(tp, dtype=object), dps=40) - p.loss(np.array(tm, dtype=object), dps=40)) / (2 * h)
            assert abs(g[j] - fd) < mpmath.mpf(10) ** -9, (j, g[j], fd)
            assert abs(g64[j] - float(fd)) < 1e-12 * max(1, abs(float(fd)))


def arccos_pow_reference(p, a, b, c):
    """Cho & Saul's kernel of max(z, 0)^p typed from the formula (global mpmath, current precision):
    (ab)^{p/2} J_p(t) / (2 pi), t = acos(c / sqrt(ab)), with
    J_2 = 3 sin t cos t + (pi - t)(1 + 2 cos^2 t), J_3 = 15 sin t - 11 sin^3 t + (pi - t)(9 cos t + 6 cos^3 t)."""
    t = mpmath.acos(c / mpmath.sqrt(a * b))
    s, co = mpmath.sin(t), mpmath.cos(t)
    J = {2: 3 * s * co + (mpmath.pi - t) * (1 + 2 * co**2),
         3: 15 * s - 11 * s**3 + (mpmath.pi - t) * (9 * co + 6 * co**3)}[p]
    return (a * b) ** (mpmath.mpf(p) / 2) * J / (2 * mpmath.pi)


@pytest.mark.parametrize("name", ["relu", "step", "sign", "abs"])
@pytest.mark.parametrize("scale", [1e-200, 1e-100, 1e100])
def test_scalar_near_anti_alignment_at_rescaled_scales(name, scale):
    """Regression: a scalar float64 call at a rescaled scale near anti-alignment (c = -sqrt(a) sqrt(b)
    in floats, D/ab ~ 1e-16) lost its mpmath correction (it was written into a numpy scalar's
    copy): relu at a = 1e-100 gave 7.0e-117 where the kernel is 6.5e-126."""
    a, b = scale, 2 * scale
    c = -math.sqrt(a) * math.sqrt(b)
    if c * c > a * b:
        c *= 1 - 2e-16
    ref = arccos_reference(name, a, b, c)
    assert abs(symland.kernel(name, a, b, c) - float(ref)) <= 1e-13 * abs(float(ref))


PARTIALS = [(2, 0, 0), (1, 0, 1), (0, 0, 2), (1, 1, 0), (0, 0, 1), (1, 0, 0), (0, 0, 3), (2, 1, 1), (0, 0, 4)]


@pytest.mark.parametrize("name,p", [("relu_pow2", 2), ("relu_pow3", 3)])
@pytest.mark.parametrize("index", PARTIALS)
def test_relu_power_partials_near_alignment(name, p, index, full):
    """Regression: the float64 safe forms of relu_pow2 / relu_pow3 partials cancel as D/ab -> 0
    (relu_pow3 (2, 0, 0) lost 4 digits at D/ab = 0.02 and was 7.5 times too large, negative, at
    2e-9).  Reference: mpmath.diff of the arc-cosine formula at 60 digits; the partials exist
    (are finite) for D > 0, and c = +-sqrt(ab)(1 - delta) is exactly the float given."""
    deltas = [1e-2, 1e-4, 1e-6, 1e-9] if full else [1e-2, 1e-6]
    for sign in (1, -1):
        for delta in deltas:
            a, b, c = 1.0, 2.0, sign * math.sqrt(2) * (1 - delta)
            with mpmath.workdps(60):
                ref = mpmath.diff(lambda x, y, w: arccos_pow_reference(p, x, y, w),
                                  (mpmath.mpf(a), mpmath.mpf(b), mpmath.mpf(c)), index)
                got = symland.kernel_partial(name, index, a, b, c)
                assert abs(got - ref) <= 1e-13 * abs(ref), (sign, delta, got, ref)
                mp = symland.kernel_partial(name, index, a, b, c, dps=30)
                assert abs(mp - ref) <= mpmath.mpf(10) ** -28 * abs(ref), (sign, delta, mp, ref)


def test_smooth_kernels_at_huge_scales():
    """Non-homogeneous closed forms whose float64 safe form over- or underflows inside while the
    value is representable: evaluated in mpmath and rounded.  Regressions: erf at a = 1e160 raised
    "not finite" (D = ab - c^2 overflowed); gauss partials at a = 1e100 came back as 0.0 (true
    ~5e-262); sin at a = b = c = 800 raised (exp(-800) sinh(800) = 0 * inf)."""
    with mpmath.workdps(50):
        a, b, c = mpmath.mpf(1e160), mpmath.mpf(2e160), -mpmath.sqrt(mpmath.mpf(1e160) * mpmath.mpf(2e160)) / 2
        erf_ref = 2 / mpmath.pi * mpmath.asin(c / mpmath.sqrt((1 + a) * (1 + b)))
        assert abs(symland.kernel("erf", 1e160, 2e160, float(c)) - erf_ref) <= 1e-14 * abs(erf_ref)
        # gauss kernel P^(-1/2), P = 1 + a + b + ab - c^2, differentiated by hand:
        # d2/dc2 = P^(-3/2) + 3c^2 P^(-5/2), d2/da2 = (3/4)(1+b)^2 P^(-5/2), d2/dadc = -(3/2)c(1+b) P^(-5/2)
        A, B = mpmath.mpf(1e100), mpmath.mpf(2e100)
        C = mpmath.mpf(0.7 * math.sqrt(2) * 1e100)
        P = 1 + A + B + A * B - C * C
        refs = {(0, 0, 2): P ** -1.5 + 3 * C**2 * P ** -2.5, (2, 0, 0): mpmath.mpf(3) / 4 * (1 + B) ** 2 * P ** -2.5,
                (1, 0, 1): -mpmath.mpf(3) / 2 * C * (1 + B) * P ** -2.5}
        for index, ref in refs.items():
            got = symland.kernel_partial("gauss", index, 1e100, 2e100, float(C))
            assert abs(got - ref) <= 1e-13 * abs(ref), (index, got, ref)
        sin_ref = mpmath.exp(-800) * mpmath.sinh(800)  # = (1 - exp(-1600)) / 2
        assert abs(symland.kernel("sin", 800.0, 800.0, 800.0) - sin_ref) <= 1e-15
    # the value itself above the float64 range: a clear refusal, mpmath answers
    with pytest.raises(DomainError, match="overflows float64"):
        symland.kernel("exp", 800.0, 800.0, 800.0)
    assert symland.kernel("exp", 800.0, 800.0, 800.0, dps=20) > 10**300


CLOSED_FORMS = ["erf", "erf_plain", "gelu", "normal_cdf", "gauss", "sin", "cos", "exp", "quadratic",
                "relu_pow2", "relu_pow3", "relu", "abs", "leaky_relu"]


@settings(max_examples=60, deadline=None, derandomize=True)
@given(st.sampled_from(CLOSED_FORMS), st.sampled_from([(0, 0, 0), (0, 0, 1), (1, 0, 0), (0, 0, 2), (1, 0, 1)]),
       st.floats(-200, 200), st.floats(0.05, 20),
       st.one_of(st.just(-1.0), st.just(0.0), st.just(1.0), st.floats(-1, 1)))
def test_property_partials_float64_equal_mpmath_or_refuse(name, index, log_scale, ratio, rho):
    """Any closed form, partial of order <= 2, any scale in 10^[-200, 200] and correlation (incl.
    the float-rounded +-1): float64 equals the 30-digit value to 1e-12 relative, or raises
    DomainError (a kinked partial that is infinite at alignment, or a value outside float64's
    range); never a wrong number."""
    s = 10.0 ** log_scale
    a, b = s, s * ratio
    c = rho * math.sqrt(a) * math.sqrt(b)
    if c * c > a * b:
        c *= 1 - 2e-16
    try:
        ref = symland.kernel_partial(name, index, a, b, c, dps=30)
    except DomainError:
        with pytest.raises(DomainError):
            symland.kernel_partial(name, index, a, b, c)
        return
    try:
        got = symland.kernel_partial(name, index, a, b, c)
    except DomainError as e:
        assert "float64" in str(e) and not 1e-300 < abs(ref) < 1e300, (str(e), ref)
        return
    with mpmath.workdps(40):
        assert abs(got - ref) <= mpmath.mpf(1e-12) * abs(ref) + mpmath.mpf(1e-300), (got, ref)


# E[s(u) t(v)] with u = 0 (a = 0): s(0) E[t(v)], by hand: step(0) = 1/2, sign(0) = 0, relu(0) = 0;
# E[sign(v)] = E[erf(v/sqrt2)] = 0, E[relu(v)] = sqrt(b / (2 pi)), E[exp(v)] = exp(b/2), E[step(v)] = 1/2
CROSS_ZERO = [("step", "sign", 0.0), ("sign", "step", 0.0), ("step", "erf", 0.0), ("step", "step", 0.25),
              ("step", "relu", math.sqrt(1.5 / (2 * math.pi)) / 2), ("step", "exp", math.exp(0.75) / 2),
              ("sign", "exp", 0.0), ("step", "relu_pow2", 1.5 / 4)]


@pytest.mark.parametrize("s,t,value", CROSS_ZERO)
def test_cross_kernel_at_zero_variance(s, t, value):
    """Regression: cross kernels at a zero variance used the closed form's theta = 0 limit (step x
    sign gave 0.5 in float64 and -0.5 at dps=30, step x step 0.5 / 0; true 0 and 1/4)."""
    assert abs(symland.cross_kernel(s, t, 0.0, 1.5, 0.0) - value) <= 1e-15 * (1 + value)
    with mpmath.workdps(40):
        assert abs(symland.cross_kernel(s, t, 0.0, 1.5, 0.0, dps=30) - value) <= 1e-15 * (1 + value)
    # the other side: E[s(u) t(0)] with b = 0; both zero: s(0) t(0)
    s0 = {"step": 0.5, "sign": 0.0, "erf": 0.0, "relu": 0.0, "relu_pow2": 0.0, "exp": 1.0}
    assert symland.cross_kernel(t, s, 1.5, 0.0, 0.0) == pytest.approx(value, abs=1e-15)
    assert symland.cross_kernel(s, t, 0.0, 0.0, 0.0) == s0[s] * s0[t]
    assert symland.cross_kernel(s, t, 0.0, 0.0, 0.0, dps=20) == s0[s] * s0[t]


@pytest.mark.parametrize("scale", [1e-200, 1e200])
def test_homogeneous_cross_kernels_at_extreme_scales(scale):
    """Regression: step x sign at a = 1e-200 gave 0.5 (ab underflowed).  References: by hand
    E[step(u) sign(v)] = E[sign(v) 1{u > 0}] = asin(rho) / pi; step x relu (degree 0 + 1) by the
    homogeneity K(l a, l b, l c) = l^(1/2) K(a, b, c) from the 30-digit value at scale 1."""
    a, b, c = scale, 2 * scale, 0.5 * scale
    rho = 0.5 / math.sqrt(2)
    assert abs(symland.cross_kernel("step", "sign", a, b, c) - math.asin(rho) / math.pi) <= 1e-14
    ref1 = symland.cross_kernel("step", "relu", 1.0, 2.0, 0.5, dps=30)
    with mpmath.workdps(40):
        ref = ref1 * mpmath.sqrt(mpmath.mpf(scale))
        got = symland.cross_kernel("step", "relu", a, b, c)
        assert abs(got - ref) <= 1e-14 * ref


def test_mixed_cross_kernel_at_tiny_scale_in_mpmath():
    """Regression: step x erf at a = 1e-200 was 0 at dps=30 (a difference of O(1) terms).  By hand:
    erf(v/sqrt2) = sqrt(2/pi) v (1 + O(v^2)) and E[1{u>0} v] = c / sqrt(2 pi a), so the kernel is
    c / (pi sqrt(a)) up to a relative O(1e-200)."""
    a, b, c = 1e-200, 2e-200, 5e-201
    with mpmath.workdps(40):
        ref = mpmath.mpf(c) / (mpmath.pi * mpmath.sqrt(mpmath.mpf(a)))
        got = symland.cross_kernel("step", "erf", a, b, c, dps=30)
        assert abs(got - ref) <= mpmath.mpf(10) ** -28 * ref
