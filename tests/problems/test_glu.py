"""GLU units: loss, gradient and Hessian against independent references.

References (none produced by the code under test):
* 1-D mpmath quadrature (d = 1) and 2-D polar quadrature (d = 2) of the whole loss
  1/2 E[(f - f*)^2], written from the network function directly;
* Monte Carlo in float64 (d = 3);
* the tangent-neuron limit: a GLU is the eps -> 0 limit of two ordinary neurons
  (w + eps v, 1/eps), (w, c - 1/eps), evaluated by the ordinary (glus = 0) assembly at
  high precision with eps = 1e-25 (error O(eps));
* 60-digit central finite differences of the loss (gradient) and gradient (Hessian).
Activations: erf (closed form), relu (closed form, singular partials at alignment),
gelu (closed form, neither odd nor homogeneous; finite differences at 60 digits), and softplus
(quadrature kernels, float64 only: its mpmath quadrature kernels take ~10 s per value).
"""

import mpmath
import numpy as np
import pytest
import sympy
from conftest import full_run

#: exhaustive variants whose reduced form is another test of this file (named in their docstrings):
#: they run only with SYMLAND_FULL=1, so the default suite stays within its time budget
_FULL_ONLY = [pytest.mark.slow, pytest.mark.skipif(not full_run(), reason="exhaustive variant; SYMLAND_FULL=1")]

from symland.landscape.critical import gradient_flow, newton, refine
from symland.errors import DomainError, NoClosedFormError, ShapeError
from symland.numerics.symbols import z
from symland.problems.glu import glu_self_expectation, psi_evaluator, psi_expr
from symland.problems.params import Params
from symland.problems.teacher_student import TeacherStudent

mpf = mpmath.mpf


def _random_problem(act, k, n, m, d, seed, train_output=True, teacher=None):
    rng = np.random.default_rng(seed)
    if teacher is None:
        P = TeacherStudent.orthonormal(act, k=k, n=n, d=d, glus=m, train_output=train_output)
    else:
        P = TeacherStudent(act, teacher[0], teacher[1], n=n, glus=m, train_output=train_output)
    th = P.pack(rng.normal(size=(n, d)), rng.normal(size=n) if train_output else None,
                glu_c=rng.normal(size=m), glu_w=rng.normal(size=(m, d)), glu_v=rng.normal(size=(m, d)))
    return P, th


# ---------------------------------------------------------------------------
# reference network function (mpmath) and quadratures
# ---------------------------------------------------------------------------
def _s_ds(act):
    if act == "erf":
        return (lambda u: mpmath.erf(u / mpmath.sqrt(2))), (lambda u: 2 * mpmath.npdf(u))
    if act == "relu":
        return (lambda u: u if u > 0 else mpf(0)), (lambda u: mpf(1) if u > 0 else mpf(0))
    if act == "gelu":  # z Phi(z)
        return (lambda u: u * mpmath.ncdf(u)), (lambda u: mpmath.ncdf(u) + u * mpmath.npdf(u))
    if act == "sin":
        return mpmath.sin, mpmath.cos
    raise ValueError(act)


def _parts(P, theta):
    """``(W, a, glu_c, glu_w, glu_v)`` of a GLU problem's parameter vector."""
    q = P.unpack(theta)
    return q.W, q.a, q.glu_c, q.glu_w, q.glu_v


def _residual(P, theta, act):
    """x -> f(x) - f*(x) in mpmath, straight from the definition of the units."""
    s, ds = _s_ds(act)
    W, a, c, gw, gv = _parts(P, theta)
    conv = lambda M: [[mpf(x) for x in row] for row in np.atleast_2d(M)]  # noqa: E731
    W, gw, gv, V = conv(W) if len(W) else [], conv(gw), conv(gv), conv(P.teacher_weights)
    a, c, b = ([mpf(x) for x in r] for r in (a, c, P.teacher_output))
    dot = lambda u, x: mpmath.fsum(p * q for p, q in zip(u, x))  # noqa: E731

    def r(x):
        out = mpmath.fsum(ai * s(dot(wi, x)) for ai, wi in zip(a, W))
        out += mpmath.fsum(ci * s(dot(wi, x)) + dot(vi, x) * ds(dot(wi, x)) for ci, wi, vi in zip(c, gw, gv))
        return out - mpmath.fsum(bi * s(dot(vi, x)) for bi, vi in zip(b, V))

    return r, W, gw, V


def _loss_quad_1d(P, theta, act, dps):
    with mpmath.workdps(dps + 10):
        r, *_ = _residual(P, theta, act)
        val = mpmath.quad(lambda x: r([x]) ** 2 * mpmath.npdf(x), [-mpmath.inf, 0, mpmath.inf])
        return val / 2


def _loss_quad_polar(P, theta, act, dps, nth=96):
    """d = 2: relu is degree-1 homogeneous, E[f^2] = (1/2pi) int F(th)^2 dth * int r^3 e^{-r^2/2} dr
    (= 2), with breakpoints at the kinks; smooth activations: trapezoid rule in the angle
    (periodic analytic integrand) times tanh-sinh in the radius."""
    with mpmath.workdps(dps + 10):
        r, W, gw, V = _residual(P, theta, act)
        if act == "relu":
            br = []
            for w in list(W) + list(gw) + list(V):
                t0 = mpmath.atan2(w[1], w[0])
                br += [(t0 + sg * mpmath.pi / 2) % (2 * mpmath.pi) for sg in (1, -1)]
            pts = [mpf(0)] + sorted(br) + [2 * mpmath.pi]
            val = mpmath.quad(lambda t: r((mpmath.cos(t), mpmath.sin(t))) ** 2, pts) * 2 / (2 * mpmath.pi)
        else:
            tot = 0
            for k in range(nth):
                e = (mpmath.cos(2 * mpmath.pi * k / nth), mpmath.sin(2 * mpmath.pi * k / nth))
                tot += mpmath.quad(lambda q: r((q * e[0], q * e[1])) ** 2 * q * mpmath.exp(-q * q / 2),
                                   [0, 3, 6, mpmath.inf])
            val = tot / nth
        return val / 2


# ---------------------------------------------------------------------------
# psi(t) = E[s'(u)^2]
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("act", ["erf", "relu", "sin", pytest.param("relu_pow2", marks=_FULL_ONLY),
                                 pytest.param("gelu", marks=_FULL_ONLY)])
def test_psi_matches_quadrature(act):
    """psi^(m)(t) against 1-D quadrature of E[s'(u)^2] and mpmath.diff of that quadrature."""
    import symland

    A = symland.activation(act)
    ds = sympy.lambdify(z, A.derivative_expr(1), "mpmath")
    with mpmath.workdps(30):
        def ref(t):
            st = mpmath.sqrt(t)
            return mpmath.quad(lambda x: ds(st * x) ** 2 * mpmath.npdf(x), [-mpmath.inf, 0, mpmath.inf])

        h = mpf(10) ** -9
        for t in (mpf("1.3"),):
            for m in (0, 1):
                got = psi_evaluator(A, m, True)(np.array([t], dtype=object))[0]
                # psi' by a central difference of the quadrature (truncation ~h^2 = 1e-18)
                want = ref(t) if m == 0 else (ref(t + h) - ref(t - h)) / (2 * h)
                assert abs(got - want) < mpf(10) ** -16 * max(1, abs(want)), (act, m, t, got, want)
                flt = psi_evaluator(A, m, False)(np.array([float(t)]))[0]
                assert abs(flt - float(want)) < 1e-13 * max(1, abs(want))


def test_psi_refuses_delta_derivatives():
    with pytest.raises(NoClosedFormError, match="not finite"):
        psi_expr("step")
    with pytest.raises(NoClosedFormError):
        TeacherStudent.orthonormal("sign", k=1, n=0, glus=1)


def test_self_expectation_matches_quadrature():
    """E[g^2] of one GLU in d = 2 with w = (w1, 0): the x2-integral of (alpha + beta x2)^2 is
    alpha^2 + beta^2 (Gaussian moments), leaving a 1-D quadrature in x1 (30 digits)."""
    w1, v, c = 0.8, np.array([0.4, 1.1]), 0.6
    for act in ("relu", "erf", "sin"):
        with mpmath.workdps(32):
            s, ds = _s_ds(act)
            alpha = lambda x: mpf(c) * s(w1 * x) + mpf(v[0]) * x * ds(w1 * x)  # noqa: E731
            beta = lambda x: mpf(v[1]) * ds(w1 * x)  # noqa: E731
            want = mpmath.quad(lambda x: (alpha(x) ** 2 + beta(x) ** 2) * mpmath.npdf(x), [-mpmath.inf, 0, mpmath.inf])
        got = glu_self_expectation(act, c, [w1, 0.0], v, dps=30)
        assert abs(got - want) < mpf(10) ** -28 * abs(want), (act, got, want)
        assert abs(glu_self_expectation(act, c, [w1, 0.0], v) - float(want)) < 1e-14 * abs(float(want))


# ---------------------------------------------------------------------------
# loss against quadrature and Monte Carlo
# ---------------------------------------------------------------------------
_GELU = pytest.param("gelu", marks=_FULL_ONLY)  # its order-3/4 partials take minutes to derive


@pytest.mark.parametrize("act", ["erf", "sin", _GELU])
def test_loss_matches_quadrature_1d(act):
    """d = 1: every term is a 1-D integral (25 digits).  (Not relu: in d = 1 all units are
    (anti-)aligned, where relu GLU pairs are refused, see test_bad_input_raises.)"""
    teacher = (np.array([[1.0], [-0.7]]), np.array([1.0, 0.4]))
    P, th = _random_problem(act, 2, 1, 2, 1, seed=11, teacher=teacher)
    want = _loss_quad_1d(P, th, act, 30)
    got = P.loss(th, dps=30)
    assert abs(got - want) < mpf(10) ** -25 * abs(want), (got, want)
    assert abs(P.loss(th) - float(want)) < 1e-13 * abs(float(want))


def test_loss_matches_polar_quadrature_relu():
    """d = 2, relu, n = 1 neuron and m = 2 GLUs, general teacher: 25 digits."""
    teacher = (np.array([[1.0, 0.0], [0.6, 0.8]]), np.array([1.0, -0.5]))
    P, th = _random_problem("relu", 2, 1, 2, 2, seed=0, teacher=teacher)
    want = _loss_quad_polar(P, th, "relu", 30)
    got = P.loss(th, dps=30)
    assert abs(got - want) < mpf(10) ** -25 * abs(want), (got, want)


@pytest.mark.slow
@pytest.mark.skipif(not full_run(), reason="exhaustive variant; SYMLAND_FULL=1")
def test_loss_matches_polar_quadrature_erf():
    """d = 2, erf (about 70 s): trapezoid in the angle, 96 nodes, to 18 digits.

    The reduced default form of this check is the d = 1 quadrature test plus Monte Carlo in d = 3.
    """
    teacher = (np.array([[1.0, 0.0], [0.6, 0.8]]), np.array([1.0, -0.5]))
    P, th = _random_problem("erf", 2, 1, 2, 2, seed=0, teacher=teacher)
    want = _loss_quad_polar(P, th, "erf", 25, nth=96)
    got = P.loss(th, dps=30)
    assert abs(got - want) < mpf(10) ** -18 * abs(want), (got, want)


def _mc_residual_float(P, th, act, X):
    import scipy.special as sp

    if act == "erf":
        s, ds = (lambda u: sp.erf(u / np.sqrt(2))), (lambda u: np.sqrt(2 / np.pi) * np.exp(-u * u / 2))
    elif act == "relu":
        s, ds = (lambda u: np.maximum(u, 0)), (lambda u: (u > 0).astype(float))
    else:  # softplus
        s, ds = (lambda u: np.logaddexp(0, u)), (lambda u: sp.expit(u))
    W, a, c, gw, gv = _parts(P, th)
    f = s(X @ W.T) @ a + s(X @ gw.T) @ c + np.sum((X @ gv.T) * ds(X @ gw.T), axis=1)
    return f - s(X @ P.teacher_weights.T) @ P.teacher_output


@pytest.mark.parametrize("act", ["erf", "relu", "softplus"])
def test_loss_monte_carlo(act):
    """d = 3, float64 Monte Carlo with 4e5 samples: within 5 standard errors."""
    P, th = _random_problem(act, 2, 1, 2, 3, seed=4)
    X = np.random.default_rng(99).normal(size=(400_000, 3))
    vals = 0.5 * _mc_residual_float(P, th, act, X) ** 2
    mean, se = vals.mean(), vals.std() / np.sqrt(len(vals))
    got = P.loss(th)
    assert abs(got - mean) < 5 * se, (got, mean, se)
    assert se < 0.02 * abs(mean)  # the check has teeth


# ---------------------------------------------------------------------------
# tangent-neuron limit: loss, gradient, Hessian
# ---------------------------------------------------------------------------
def _pair_problem(P, th, eps, dps):
    """The ordinary (glus = 0) problem with each GLU replaced by two neurons, its parameters
    at ``eps`` and the Jacobian J of that (linear) map, all in mpmath at ``dps``."""
    n, m, d = P.n, P.glus, P.d
    Q = TeacherStudent(P.activation, P.teacher_weights, P.teacher_output, n=n + 2 * m)
    with mpmath.workdps(dps):
        W, a, c, gw, gv = (np.array([mpf(x) for x in np.ravel(M)], dtype=object).reshape(np.shape(M))
                           for M in _parts(P, th))
        Wq = list(W) + [gw[j] + eps * gv[j] for j in range(m)] + [gw[j] for j in range(m)]
        aq = list(a) + [1 / eps] * m + [c[j] - 1 / eps for j in range(m)]
        thq = np.concatenate([np.concatenate(Wq) if Wq else np.zeros(0, dtype=object), np.array(aq, dtype=object)])
        N, Nq = P.num_params, Q.num_params
        J = np.empty((Nq, N), dtype=object)
        J.fill(mpf(0))
        nq = n + 2 * m
        off_c = n * d + n
        off_w, off_v = off_c + m, off_c + m + m * d
        for i in range(n):
            for k in range(d):
                J[i * d + k, i * d + k] = mpf(1)
            J[nq * d + i, n * d + i] = mpf(1)
        for j in range(m):
            A, B = n + j, n + m + j
            for k in range(d):
                J[A * d + k, off_w + j * d + k] = mpf(1)
                J[A * d + k, off_v + j * d + k] = eps
                J[B * d + k, off_w + j * d + k] = mpf(1)
            J[nq * d + B, off_c + j] = mpf(1)
    return Q, thq, J


@pytest.mark.parametrize("act,m,d", [("erf", 2, 3) if full_run() else ("erf", 2, 2), ("relu", 2, 2)])
def test_tangent_neuron_limit(act, m, d):
    """Loss, J^T grad and J^T H J of the neuron-pair problem at eps = 1e-25 (100 digits) equal the
    GLU loss, gradient and Hessian up to O(eps)."""
    P, th = _random_problem(act, 2, 1, m, d, seed=21)
    dps = 100
    with mpmath.workdps(dps):
        eps = mpf(10) ** -25
        Q, thq, J = _pair_problem(P, th, eps, dps)
        lq = Q.loss(thq, dps=dps)
        gq = J.T @ Q.gradient(thq, dps=dps)
        Hq = J.T @ Q.hessian(thq, dps=dps) @ J
    L, G, H = P.loss(th, dps=30), P.gradient(th, dps=30), P.hessian(th, dps=30)
    tol = mpf(10) ** -20
    assert abs(L - lq) < tol
    assert max(abs(x - y) for x, y in zip(G, gq)) < tol
    assert max(abs(x - y) for x, y in zip(H.ravel(), Hq.ravel())) < tol
    # and the float64 assembly agrees with the limit to rounding
    Hf = np.array(Hq, dtype=float)
    assert np.max(np.abs(P.hessian(th) - Hf)) < 1e-12 * max(1, np.max(np.abs(Hf)))


# ---------------------------------------------------------------------------
# 60-digit finite differences
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("act,n,m,train", [("erf", 1, 2, True), ("relu", 1, 2, True), ("sin", 0, 2, True),
                                           pytest.param("erf", 2, 1, False, marks=_FULL_ONLY),
                                           pytest.param("gelu", 0, 2, True, marks=_FULL_ONLY)])
def test_gradient_and_hessian_finite_differences(act, n, m, train):
    """Central differences at 60 digits, h = 1e-20 (truncation ~1e-40)."""
    P, th = _random_problem(act, 2, n, m, 2, seed=7, train_output=train)
    dps, h = 60, mpf(10) ** -20
    with mpmath.workdps(dps):
        thm = np.array([mpf(x) for x in th], dtype=object)
        N = len(thm)
        G = P.gradient(thm, dps=dps)
        H = P.hessian(thm, dps=dps)
        for i in range(N):
            e = np.array([mpf(0)] * N, dtype=object)
            e[i] = h
            fd = (P.loss(thm + e, dps=dps) - P.loss(thm - e, dps=dps)) / (2 * h)
            assert abs(fd - G[i]) < mpf(10) ** -30, (i, fd, G[i])
            col = (P.gradient(thm + e, dps=dps) - P.gradient(thm - e, dps=dps)) / (2 * h)
            assert max(abs(x - y) for x, y in zip(col, H[:, i])) < mpf(10) ** -30, i
    Gf, Hf = P.gradient(th), P.hessian(th)
    assert np.max(np.abs(Gf - np.array(G, dtype=float))) < 1e-13 * max(1, np.max(np.abs(Gf)))
    assert np.max(np.abs(Hf - np.array(H, dtype=float))) < 1e-12 * max(1, np.max(np.abs(Hf)))


@pytest.mark.slow
def test_softplus_float64_derivatives():
    """Quadrature kernels (float64, ~10 s per gradient): gradient (and with SYMLAND_FULL=1 the
    Hessian) against central differences, h = 1e-5.  The default suite checks softplus by
    Monte Carlo of the loss only."""
    P, th = _random_problem("softplus", 2, 1, 1, 2, seed=3)
    L, G = P.loss_and_gradient(th)
    h = 1e-5
    E = np.eye(len(th))
    fd = np.array([(P.loss(th + h * e) - P.loss(th - h * e)) / (2 * h) for e in E])
    assert np.max(np.abs(fd - G)) < 1e-6 * max(1, np.max(np.abs(G)))
    if full_run():
        H = P.hessian(th)
        fdh = np.array([(P.gradient(th + h * e) - P.gradient(th - h * e)) / (2 * h) for e in E])
        assert np.max(np.abs(fdh - H)) < 1e-5 * max(1, np.max(np.abs(H)))


# ---------------------------------------------------------------------------
# API, errors
# ---------------------------------------------------------------------------
def test_pack_unpack_roundtrip_and_layout():
    P = TeacherStudent.orthonormal("erf", k=2, n=1, d=3, glus=2)
    assert P.num_params == 3 + 1 + 2 + 6 + 6
    W, a, c = np.arange(3.0).reshape(1, 3), np.array([7.0]), np.array([8.0, 9.0])
    gw, gv = np.arange(6.0).reshape(2, 3) + 10, np.arange(6.0).reshape(2, 3) + 20
    th = P.pack(W, a, glu_c=c, glu_w=gw, glu_v=gv)
    assert th.tolist() == [0, 1, 2, 7, 8, 9, 10, 11, 12, 13, 14, 15, 20, 21, 22, 23, 24, 25]
    out = P.unpack(th)
    assert isinstance(out, Params) and out.beta is None
    for x, y in zip(_parts(P, th), (W, a, c, gw, gv)):
        assert np.array_equal(x, y)
    P0 = TeacherStudent.orthonormal("erf", k=2, n=0, glus=1)
    th0 = P0.pack(None, None, glu_c=[1.0], glu_w=[[1.0, 0.0]], glu_v=[[0.0, 0.0]])
    assert len(th0) == P0.num_params == 5
    # a GLU with v = 0 and c = 1 on w = e1 is the neuron s(x1): it fits one teacher neuron exactly
    Pk1 = TeacherStudent.orthonormal("erf", k=1, n=0, glus=1)
    assert abs(Pk1.loss(Pk1.pack(None, None, glu_c=[1.0], glu_w=[[1.0]], glu_v=[[0.0]]), dps=30)) < mpf(10) ** -29


def test_bad_input_raises():
    with pytest.raises(ShapeError, match="glu_c"):
        TeacherStudent.orthonormal("erf", k=2, n=1, glus=1).pack(np.ones((1, 2)), np.ones(1))
    with pytest.raises(ShapeError, match="glu_w"):
        TeacherStudent.orthonormal("erf", k=2, n=1).pack(np.ones((1, 2)), np.ones(1), glu_w=np.ones((1, 2)))
    with pytest.raises(ShapeError, match="glu_v"):
        TeacherStudent.orthonormal("erf", k=2, n=1, glus=1).pack(np.ones((1, 2)), np.ones(1), glu_c=[1.0],
                                                               glu_w=np.ones((1, 2)), glu_v=np.ones((2, 2)))
    with pytest.raises(ShapeError, match="n must be"):
        TeacherStudent.orthonormal("erf", k=2, n=0)
    with pytest.raises(ShapeError, match="glus"):
        TeacherStudent.orthonormal("erf", k=2, n=1, glus=-1)
    with pytest.raises(ShapeError, match="glus"):
        TeacherStudent("erf", np.eye(2), n=1, glus=1, bias=True)
    # relu: a GLU exactly aligned with a student neuron has singular second partials
    P = TeacherStudent.orthonormal("relu", k=2, n=1, glus=1)
    th = P.pack([[1.0, 0.5]], [1.0], glu_c=[0.3], glu_w=[[2.0, 1.0]], glu_v=[[0.1, 0.2]])
    with pytest.raises(DomainError, match="GLU unit 0 and student neuron 0.*aligned"):
        P.gradient(th, dps=30)
    th = P.pack([[1.0, 0.5]], [1.0], glu_c=[0.3], glu_w=[[0.0, 0.0]], glu_v=[[0.1, 0.2]])
    with pytest.raises(DomainError, match="zero norm"):
        P.loss_and_gradient(th)
    with pytest.raises(DomainError, match="finite"):
        P.loss(np.full(P.num_params, np.nan))


def test_no_glus_unchanged():
    """glus = 0 keeps the plain layout and values (the plain problem is built the same way)."""
    P = TeacherStudent.orthonormal("erf", k=2, n=2)
    Q = TeacherStudent.orthonormal("erf", k=2, n=2, glus=0)
    th = np.linspace(-1, 1, P.num_params)
    assert P.num_params == Q.num_params == 6 and Q.unpack(th).glu_c is None
    assert P.loss(th) == Q.loss(th)


# ---------------------------------------------------------------------------
# critical points of GLU problems
# ---------------------------------------------------------------------------
def test_refine_erf_glu_minimum():
    """erf, orthonormal k = 3, n = 1, one GLU: the neuron fits teacher 1 (w = -e1, a = -1, erf is odd)
    and the GLU (c = 0, w = (e3 - e2)/sqrt 6, v = 2 (e2 + e3)/sqrt 6) is a strict minimum."""
    P = TeacherStudent.orthonormal("erf", k=3, n=1, glus=1)
    r6 = np.sqrt(6)
    th = P.pack([[-1, 0, 0]], [-1], glu_c=[0.0], glu_w=[[0, -1 / r6, 1 / r6]], glu_v=[[0, 2 / r6, 2 / r6]])
    start = newton(P, th + 1e-3 * np.sin(np.arange(P.num_params)))
    assert start.converged
    cp = refine(P, start.theta, dps=50)
    assert cp.gradient_norm < mpf(10) ** -45
    assert cp.kind == "minimum" and cp.index == 0 and cp.nullity == 0
    assert min(cp.eigenvalues) > mpf("1e-3")
    # the loss is that of the GLU alone against teachers 2 and 3 (the neuron part is exact)
    P2 = TeacherStudent.orthonormal("erf", k=3, n=0, glus=1)
    W, a, c, gw, gv = _parts(P, cp.theta)
    sub = np.concatenate([c, gw.ravel(), gv.ravel()])
    with mpmath.workdps(50):
        P2b = TeacherStudent("erf", np.eye(3)[1:], np.ones(2), n=0, glus=1)
        assert abs(P2b.loss(sub, dps=50) - cp.loss) < mpf(10) ** -45
    assert P2.num_params == len(sub)


def test_refine_relu_glu_zero_modes():
    """relu, k = 3, n = 1, one GLU (point found by minimize): three zero modes, all predicted
    (neuron rescaling, GLU rescaling, and the Euler shift (c, v) -> (c - beta, v + beta w))."""
    P = TeacherStudent.orthonormal("relu", k=3, n=1, glus=1)
    th = np.array([0.8499288801655331, -0.21893931379383091, 0.8499288802002396, 1.1134200065849897,
                   1.8892255043840314, 0.01661400162969244, 0.2442503678332272, 0.01661400162370991,
                   0.05825733448111375, 0.8564688804549315, 0.05825733446063704])
    cp = refine(P, th, dps=40)
    assert cp.gradient_norm < mpf(10) ** -35
    assert cp.nullity == 3 and cp.predicted_nullity == 3 and cp.index == 0
    assert cp.zero_mode_sources == {"rescaling": 2, "glu_shift": 1}
    assert cp.kind == "minimum"


def test_gradient_flow_decreases_glu_loss():
    P, th = _random_problem("erf", 2, 1, 1, 2, seed=1)
    res = gradient_flow(P, th, t_max=0.5, rtol=1e-8)
    assert res.loss < P.loss(th) - 1e-3
    assert abs(res.loss - P.loss(res.theta)) < 1e-15


def test_predicted_zero_modes_are_symmetries():
    """The GLU zero-mode sources counted by predicted_zero_modes are exact invariances of the loss
    (30 digits).  relu (distinct input weights): GLU rescaling and the Euler shift; erf: a neuron and
    two GLUs sharing one input weight (relu refuses exactly aligned GLU pairs)."""
    from symland.landscape.critical import predicted_zero_modes

    t, beta, delta, u = 1.7, 0.35, 0.45, np.array([0.25, -0.15])
    P = TeacherStudent.orthonormal("relu", k=2, n=1, glus=2)
    W, a, c = np.array([[0.2, 0.9]]), np.array([0.9]), np.array([0.3, -0.5])
    gw, gv = np.array([[0.7, -0.4], [-0.5, 0.6]]), np.array([[0.2, 0.6], [-0.3, 0.1]])
    th = P.pack(W, a, glu_c=c, glu_w=gw, glu_v=gv)
    assert predicted_zero_modes(P, th) == {"rescaling": 3, "glu_shift": 2}
    L0 = P.loss(th, dps=30)
    for th2 in (P.pack(W, a, glu_c=[c[0] / t, c[1]], glu_w=[t * gw[0], gw[1]], glu_v=gv),  # p = 1 rescaling
                P.pack(W, a, glu_c=[c[0], c[1] - beta], glu_w=gw, glu_v=[gv[0], gv[1] + beta * gw[1]])):  # Euler
        assert abs(P.loss(th2, dps=30) - L0) < 1e-15  # moved parameters are rounded to float64
    assert abs(P.loss(P.pack(W, a, glu_c=c, glu_w=gw, glu_v=[gv[0] + beta * gw[0], gv[1]]), dps=30) - L0) > 1e-3

    P = TeacherStudent.orthonormal("erf", k=2, n=1, glus=2)
    w = np.array([0.7, -0.4])
    W, gw = w[None, :], np.array([w, w])
    th = P.pack(W, a, glu_c=c, glu_w=gw, glu_v=gv)
    # group {neuron, GLU 0, GLU 1}: 2 output-weight shifts + (2 - 1) d shifts of v between the GLUs
    assert predicted_zero_modes(P, th) == {"duplicates": 2 + 2}
    L0 = P.loss(th, dps=30)
    for th2 in (P.pack(W, a + delta, glu_c=[c[0] - delta, c[1]], glu_w=gw, glu_v=gv),
                P.pack(W, a, glu_c=[c[0] + delta, c[1] - delta], glu_w=gw, glu_v=gv),
                P.pack(W, a, glu_c=c, glu_w=gw, glu_v=[gv[0] + u, gv[1] - u])):
        assert abs(P.loss(th2, dps=30) - L0) < 1e-15  # moved parameters are rounded to float64
    assert abs(P.loss(P.pack(W, a, glu_c=c, glu_w=gw, glu_v=[gv[0] + u, gv[1]]), dps=30) - L0) > 1e-3


def test_relu_nearly_aligned_glus():
    """relu GLUs 1e-6 apart in angle: the pair partials blow up like D^(-3/2) and cancel; float64
    results (computed with boosted digits) match 2-D quadrature of the loss and 60-digit finite
    differences of the gradient and Hessian."""
    P = TeacherStudent.orthonormal("relu", k=2, n=1, glus=2)
    w = np.array([0.7, -0.4])
    th = P.pack([[0.1, 0.9]], [0.5], glu_c=[0.3, -0.5], glu_w=[w, w + 1e-6 * np.array([0.4, 0.7])],
                glu_v=[[0.2, 0.6], [-0.3, 0.1]])
    want = _loss_quad_polar(P, th, "relu", 30)
    assert abs(P.loss(th, dps=30) - want) < mpf(10) ** -25
    assert abs(P.loss(th) - float(want)) < 1e-15
    dps, h = 60, mpf(10) ** -20
    G, H = P.gradient(th), P.hessian(th)
    with mpmath.workdps(dps):
        thm = np.array([mpf(x) for x in th], dtype=object)
        for i in range(len(thm)):
            e = np.array([mpf(0)] * len(thm), dtype=object)
            e[i] = h
            fd = (P.loss(thm + e, dps=dps) - P.loss(thm - e, dps=dps)) / (2 * h)
            assert abs(float(fd) - G[i]) < 1e-13 * max(1, np.max(np.abs(G))), i
            col = (P.gradient(thm + e, dps=dps) - P.gradient(thm - e, dps=dps)) / (2 * h)
            assert np.max(np.abs(np.array(col, dtype=float) - H[:, i])) < 1e-12 * max(1, np.max(np.abs(H))), i
