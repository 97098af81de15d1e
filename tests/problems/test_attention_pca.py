"""Attention as PCA (symland.AttentionPCA): derivatives against high-precision finite differences,
the L = 2 softmax quadrature against an independent adaptive integration of its definition, the
derived critical points against Newton's method and the Hessian spectrum, certificates, the
finite-L shift against its hand formula, and the refusals.  (Monte Carlo of the model from its
definition is in test_attention_pca_reference.py.)"""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest
import scipy.integrate
import sympy

import symland
from symland.landscape.attention import attention_report
from symland.numerics.ball import ball_precision
from symland.problems.attention_pca import _softmax_moments

import flint  # noqa: E402  (a runtime dependency)

W = np.array([0.4, -0.3, 0.25])


def rotated_sigma():
    """Q diag(3, 2, 1/2) Q^T for a fixed rotation Q (symmetrised exactly in float64)."""
    Q, _ = np.linalg.qr(np.array([[1.0, 0.3, -0.2], [0.1, 1.0, 0.4], [-0.3, 0.2, 1.0]]))
    S = Q @ np.diag([3.0, 2.0, 0.5]) @ Q.T
    return (S + S.T) / 2


@pytest.mark.parametrize("L, attention", [(3, "linear"), (None, "linear"), (1, "softmax")])
def test_gradient_and_hessian_against_50_digit_central_differences(L, attention):
    p = symland.AttentionPCA(rotated_sigma(), L=L, attention=attention)
    with mpmath.workdps(80):
        w = [mpmath.mpf(v) for v in W]
        g = p.gradient(np.array(w, dtype=object), dps=50)
        H = p.hessian(np.array(w, dtype=object), dps=50)
        h = mpmath.mpf("1e-20")
        for j in range(3):
            e = [h if i == j else 0 for i in range(3)]
            plus = np.array([a + b for a, b in zip(w, e)], dtype=object)
            minus = np.array([a - b for a, b in zip(w, e)], dtype=object)
            fd = (p.loss(plus, dps=60) - p.loss(minus, dps=60)) / (2 * h)
            assert abs(fd - g[j]) < mpmath.mpf(10) ** -35
            col = (p.gradient(plus, dps=60) - p.gradient(minus, dps=60)) / (2 * h)
            assert max(abs(col[i] - H[i, j]) for i in range(3)) < mpmath.mpf(10) ** -35


def test_softmax_two_tokens_against_float_differences():
    p = symland.AttentionPCA(rotated_sigma(), L=2, attention="softmax")
    g, H = p.gradient(W), p.hessian(W)
    h = 1e-5
    for j in range(3):
        e = np.eye(3)[j] * h
        assert abs((p.loss(W + e) - p.loss(W - e)) / (2 * h) - g[j]) < 1e-8
        assert np.max(np.abs((p.gradient(W + e) - p.gradient(W - e)) / (2 * h) - H[:, j])) < 1e-8


@pytest.mark.parametrize("s", [0.7, 3.0])
def test_softmax_moments_against_adaptive_integration_of_the_definition(s):
    """A(s) = E[z1 g], B(s) = E[g^2], g = sum_l softmax_l(s z1 z_l) z_l, z ~ N(0, I_2), by scipy's
    adaptive dblquad of the definition (with the switching line z2 = z1 as a breakpoint of the
    inner integral via two pieces)."""

    def g(z1, z2):
        a, b = s * z1 * z1, s * z1 * z2
        m = max(a, b)
        pa, pb = math.exp(a - m), math.exp(b - m)
        return (pa * z1 + pb * z2) / (pa + pb)

    def dens(z1, z2):
        return math.exp(-(z1 * z1 + z2 * z2) / 2) / (2 * math.pi)

    def integral(f):
        total = 0.0
        for lo1, hi1 in ((-10, 0), (0, 10)):
            for side in (0, 1):
                lo2 = (lambda z1: -10.0) if side == 0 else (lambda z1: z1)
                hi2 = (lambda z1: z1) if side == 0 else (lambda z1: 10.0)
                val, err = scipy.integrate.dblquad(lambda z2, z1: f(z1, z2) * dens(z1, z2), lo1, hi1, lo2, hi2,
                                                   epsabs=1e-13, epsrel=1e-12)
                total += val
        return total

    A = integral(lambda z1, z2: z1 * g(z1, z2))
    B = integral(lambda z1, z2: g(z1, z2) ** 2)
    mom = _softmax_moments(s, symland.problems.attention_pca.QUADRATURE_NODES)
    assert abs(mom[0] - A) < 1e-10 and abs(mom[3] - B) < 1e-10


@pytest.mark.parametrize("L", [None, 1, 7])
def test_derived_critical_points_are_critical_with_the_derived_index(L):
    p = symland.AttentionPCA(rotated_sigma(), L=L)
    points = p.critical_points(dps=40)
    assert len(points) == 7  # 0 and +-r_j e_j, j = 1..3
    for cp in points:
        with mpmath.workdps(55):
            g = p.gradient(cp.theta, dps=40)
            assert max(abs(v) for v in g) < mpmath.mpf(10) ** -38
        lam = np.linalg.eigvalsh(p.hessian(np.array(cp.theta, dtype=float)))
        if cp.label != "0":
            assert int(np.sum(lam < -1e-9)) == cp.index
        else:
            assert np.max(np.abs(lam)) < 1e-12  # Hessian 0 at the origin (F_s = F_n = 0)
    losses = [float(cp.loss) for cp in points if cp.label.endswith("+")]
    # by hand: R_j = (T - lambda_j (L + 2) / (L + 4)) / 2 with T = 5.5, lambda = 3, 2, 1/2
    ratio = 1.0 if L is None else (L + 2) / (L + 4)
    assert np.allclose(losses, [(5.5 - lam * ratio) / 2 for lam in (3.0, 2.0, 0.5)], rtol=0, atol=1e-13)


def test_exact_radius_and_the_finite_prompt_shift():
    """r_j^4 = L / ((L + 4) lambda_j) exactly on a diagonal Sigma, and Newton from the L = infinity
    point converges to it: the shift (L / (L + 4))^(1/4) vanishes like 1/L."""
    for L in (1, 4, 40, 400):
        p = symland.AttentionPCA(sympy.diag(3, 2, 1), L=L)
        top = p.critical_points()[0]
        assert top.radius4 == sympy.Rational(L, 3 * (L + 4))
        cp = symland.refine(p, np.array([3.0 ** -0.25, 0.0, 0.0]), dps=40)
        with mpmath.workdps(50):
            assert abs(cp.theta[0] ** 4 - mpmath.mpf(L) / (3 * (L + 4))) < mpmath.mpf(10) ** -38
        # the radius shrinks by 1 - (L / (L + 4))^(1/4) = 1/(L + 4) + O(1/L^2)
        shift = 1 - (L / (L + 4)) ** 0.25
        assert 0 < shift and (L < 40 or abs(shift * (L + 4) - 1) < 2 / (L + 4))


def test_report_certifies_every_nondegenerate_point_and_the_survey_finds_no_other():
    report = attention_report(symland.AttentionPCA(rotated_sigma(), L=3), dps=30, starts=12)
    assert report.ok, report.table()
    assert [r.computed_index for r in report.rows] == [r.derived_index for r in report.rows]
    assert sum(r.certificate.startswith("certified") for r in report.rows) == 6
    assert report.rows[-1].certificate.startswith("not certified: degenerate")


def test_softmax_two_tokens_report_and_its_quadrature_error():
    p = symland.AttentionPCA(np.diag([3.0, 2.0, 1.0]), L=2, attention="softmax")
    report = attention_report(p, starts=6)
    assert report.ok and report.quadrature_error < 1e-10
    assert report.rows[-1].kind == "maximum" and report.rows[-1].computed_index == 3


def test_ball_enclosure_contains_the_60_digit_values():
    p = symland.AttentionPCA(rotated_sigma(), L=5)
    ev = symland.enclose(p, W, dps=40)
    with mpmath.workdps(70):
        loss, H = p.loss(W, dps=60), p.hessian(W, dps=60)
    with ball_precision(80):
        assert ev.loss.overlaps(flint.arb(mpmath.nstr(loss, 62), 1e-58)) and ev.loss.rad() < 1e-38
        for x, b in zip(H.ravel(), ev.hessian.ravel()):
            assert b.overlaps(flint.arb(mpmath.nstr(x, 62), 1e-58)) and b.rad() < 1e-38


def test_symmetry_hooks():
    p = symland.AttentionPCA(np.diag([3.0, 2.0, 2.0]))
    Q = np.array([[1, 0, 0], [0, 0.6, -0.8], [0, 0.8, 0.6]])  # a rotation inside the eigenspace of 2
    assert abs(p.loss(Q @ W) - p.loss(W)) < 1e-14 and abs(p.loss(-W) - p.loss(W)) < 1e-15
    assert np.allclose(p.canonical(Q @ W), p.canonical(-W))
    # w in the eigenspace of 2: the sign of the e_1 coordinate and the reflection of that plane fixing w
    assert p.isotropy(np.array([0.0, 0.7, 0.0])) == "Z2^2"
    assert p.isotropy(np.array([0.5, 0.0, 0.0])) == "O(2)"
    assert p.zero_modes(np.array([0.0, 0.7, 0.0])) == {"rotations": 1}
    with pytest.raises(symland.DomainError, match="repeated eigenvalue"):
        p.critical_points()


def test_spiked_wishart_draw():
    p = symland.AttentionPCA.spiked_wishart(5, 400, 3.0, seed=1)
    top = p.critical_points()[0]
    w = np.array(top.theta, dtype=float)
    assert top.index == 0 and abs(abs(w @ p.spike) / np.linalg.norm(w)) > 0.95
    # the draw is reproducible and exactly symmetric
    q = symland.AttentionPCA.spiked_wishart(5, 400, 3.0, seed=1)
    assert np.array_equal(p.Sigma, q.Sigma) and np.array_equal(p.Sigma, p.Sigma.T)


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(Sigma=np.ones((2, 3))), symland.ShapeError, "square"),
    (dict(Sigma=[[1.0, 0.5], [0.4, 1.0]]), symland.DomainError, "symmetric"),
    (dict(Sigma=[[1.0, 2.0], [2.0, 1.0]]), symland.DomainError, "positive definite"),
    (dict(Sigma=[[1.0, float("nan")], [float("nan"), 1.0]]), symland.DomainError, "non-finite"),
    (dict(Sigma=np.eye(2), L=0), symland.DomainError, "L"),
    (dict(Sigma=np.eye(2), L=2.5), symland.DomainError, "L"),
    (dict(Sigma=np.eye(2), attention="relu"), symland.DomainError, "attention"),
    (dict(Sigma=np.eye(2), L=3, attention="softmax"), symland.DomainError, "MAX_SOFTMAX_L"),
])
def test_bad_input(kwargs, error, match):
    with pytest.raises(error, match=match):
        symland.AttentionPCA(**kwargs)


def test_bad_theta_and_precision_beyond_a_quadrature():
    p = symland.AttentionPCA(np.eye(2) * 2, L=2, attention="softmax")
    with pytest.raises(symland.ShapeError, match="theta"):
        p.loss(np.zeros(3))
    with pytest.raises(symland.DomainError, match="theta"):
        p.loss(np.array([np.inf, 0.0]))
    with pytest.raises(symland.PrecisionError, match="quadrature"):
        p.loss(np.array([0.1, 0.2]), dps=30)
    with pytest.raises(symland.NoClosedFormError, match="quadrature"):
        symland.enclose(p, np.array([0.1, 0.2]))


def _gaussian_expectation(poly, variables):
    """E[poly] for independent standard normal ``variables``: every monomial replaced by the product of
    the moments E[g^k] = (k - 1)!! (k even), 0 (k odd)."""
    total = sympy.Integer(0)
    for monom, coeff in sympy.Poly(sympy.expand(poly), *variables).terms():
        term = coeff
        for k in monom:
            term *= 0 if k % 2 else sympy.factorial2(k - 1)
        total += term
    return total


@pytest.mark.parametrize("L", [1, 2, 3])
def test_linear_closed_form_equals_the_model_by_exact_gaussian_moments_in_d_2(L):
    """d = 2, Sigma = diag(p, q) with symbolic p, q > 0 and symbolic w: the risk of the model as
    written (tokens x_l = (sqrt(p) g_l1, sqrt(q) g_l2), f(x_1) = (1/L) sum_l (x_1.W x_l) W x_l with
    W = w w^T) expanded and integrated exactly monomial by monomial equals the module's closed form
    [T - 2(L+2)/L s^2 + (L+2)(L+4)/L^2 n s^3] / 2."""
    p, q = sympy.symbols("p q", positive=True)
    w1, w2 = sympy.symbols("w1 w2", real=True)
    g = [sympy.symbols(f"g{l}_1 g{l}_2", real=True) for l in range(L)]
    x = [sympy.Matrix([sympy.sqrt(p) * a, sympy.sqrt(q) * b]) for a, b in g]
    w = sympy.Matrix([w1, w2])
    f = sympy.Rational(1, L) * sum(((w.T * x[0])[0] * (w.T * xl)[0] ** 2 for xl in x), sympy.Integer(0)) * w
    residual = x[0] - f
    risk = _gaussian_expectation((residual.T * residual)[0] / 2, [v for pair in g for v in pair])
    s, n = p * w1**2 + q * w2**2, w1**2 + w2**2
    closed = (p + q - sympy.Rational(2 * (L + 2), L) * s**2 + sympy.Rational((L + 2) * (L + 4), L * L) * n * s**3) / 2
    assert sympy.expand(risk - closed) == 0
    # and the module evaluates that closed form: at p = 2, q = 1, w = (3/10, -1/5)
    prob = symland.AttentionPCA(sympy.diag(2, 1), L=L)
    value = closed.subs({p: 2, q: 1, w1: sympy.Rational(3, 10), w2: sympy.Rational(-1, 5)})
    with mpmath.workdps(50):
        got = prob.loss(np.array([mpmath.mpf(3) / 10, -mpmath.mpf(1) / 5], dtype=object), dps=40)
        assert abs(got - mpmath.mpf(sympy.Rational(value).p) / sympy.Rational(value).q) < mpmath.mpf(10) ** -38


def test_d_2_by_hand():
    """Sigma = diag(2, 1), L = infinity, by hand: R = [3 - 2 s^2 + n s^3]/2.  On e_1: s = 2r^2, n = r^2,
    R = [3 - 8u + 8u^2]/2 with u = r^4, stationary at u = 1/2, R = [3 - 4 + 2]/2 = 1/2 (the minimum: along
    e_2 the curvature 2 F_s (lambda_2 - lambda_1) > 0 since F_s < 0).  On e_2: s = n = r^2,
    R = [3 - 2u + u^2]/2, u = 1, R = 1: index 1 (along e_1, 2 F_s (2 - 1) < 0).  The origin: R = 3/2."""
    p = symland.AttentionPCA(sympy.diag(2, 1))
    points = p.critical_points()
    assert [pt.label for pt in points] == ["e1+", "e1-", "e2+", "e2-", "0"]
    assert [pt.radius4 for pt in points[:4]] == [sympy.Rational(1, 2), sympy.Rational(1, 2), 1, 1]
    assert np.allclose([float(pt.loss) for pt in points], [0.5, 0.5, 1.0, 1.0, 1.5], rtol=0, atol=1e-15)
    for pt, index in zip(points[:4], (0, 0, 1, 1)):
        lam = np.linalg.eigvalsh(p.hessian(np.array(pt.theta, dtype=float)))
        assert int(np.sum(lam < -1e-12)) == index == pt.index and np.min(np.abs(lam)) > 1e-3
