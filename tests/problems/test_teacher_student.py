r"""Tests of :class:`symland.TeacherStudent`: packing, loss, gradient, Hessian, bad input.

Every expected value comes from a computation that does not use the code under
test:

* Monte Carlo estimates of $L = \tfrac12 E[(f - f^*)^2]$ in float64 (bounds of
  5 standard errors estimated from the samples);
* exact input-space formulas for ``"linear"`` ($L = \tfrac12|W^\top a - V^\top b|^2$)
  and ``"quadratic"`` ($f = x^\top M x$, $L = \tfrac12(2\operatorname{tr}Q^2 + (\operatorname{tr}Q)^2)$);
* a separate high-precision implementation of the Gram-matrix sum with the
  literature kernels (Saad & Solla arcsine for erf, Cho & Saul arc-cosine for relu);
* tensor Gauss--Legendre quadrature in input space (``d <= 2``) for ``"tanh"``,
  with the gradient and Hessian differentiated under the integral by hand;
* central finite differences of ``loss`` / ``gradient`` at 60 digits with
  $h = 10^{-20}$ (error $O(h^2) \approx 10^{-40}$) for derivatives;
* exact symmetries (permutation, rotation, sign, homogeneity, teacher = student).

``SYMLAND_FULL=1`` enlarges the ``slow`` parametrizations (see ``conftest.py``).
"""

from __future__ import annotations

import concurrent.futures

import mpmath

from symland.numerics.mpcontext import MPReal
import numpy as np
import pytest
import scipy.special
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from conftest import FULL
from symland import (
    DomainError,
    PrecisionError,
    ShapeError,
    TeacherStudent,
    UnknownActivationError,
)
from symland.numerics.precision import FLOAT64


CLOSED = ["erf", "relu", "linear", "quadratic"]
ALL_FLOAT = CLOSED + ["tanh"]

# ---------------------------------------------------------------------------
# independent references
# ---------------------------------------------------------------------------
NP_ACT = {
    "erf": lambda z: scipy.special.erf(z / np.sqrt(2.0)),
    "relu": lambda z: np.maximum(z, 0.0),
    "linear": lambda z: z,
    "quadratic": lambda z: z * z,
    "tanh": np.tanh,
}


def ref_kappa(act, a, b, c):
    """Literature dual kernels E[s(u)s(v)] in mpmath (current precision)."""
    if act == "erf":  # Saad & Solla (1995)
        return 2 / mpmath.pi * mpmath.asin(c / mpmath.sqrt((1 + a) * (1 + b)))
    if act == "relu":  # Cho & Saul (2009), arc-cosine kernel of degree 1, angular form
        if a == 0 or b == 0:
            return mpmath.mpf(0)
        nrm = mpmath.sqrt(a * b)
        r = min(mpmath.mpf(1), max(mpmath.mpf(-1), c / nrm))
        th = mpmath.acos(r)
        return nrm * (mpmath.sin(th) + (mpmath.pi - th) * mpmath.cos(th)) / (2 * mpmath.pi)
    if act == "linear":
        return c
    if act == "quadratic":  # Isserlis
        return a * b + 2 * c * c
    raise AssertionError(act)


def ref_loss_mp(act, W, a, V, b, dps=50):
    """1/2 sum_pq alpha_p alpha_q kappa(G_pp, G_qq, G_pq), written independently, at ``dps`` digits."""
    with mpmath.workdps(dps + 30):
        U = [[mpmath.mpf(float(x)) for x in row] for row in np.vstack([W, V])]
        al = [mpmath.mpf(float(x)) for x in a] + [-mpmath.mpf(float(x)) for x in b]
        P = len(U)
        G = [[mpmath.fsum(x * y for x, y in zip(U[p], U[q])) for q in range(P)] for p in range(P)]
        tot = mpmath.fsum(
            al[p] * al[q] * ref_kappa(act, G[p][p], G[q][q], G[p][q]) for p in range(P) for q in range(P)
        )
        return +(tot / 2)


def ref_phi(act, t):
    """E[s(u)^2], u ~ N(0, t), for error scales (float)."""
    return {
        "erf": lambda t: 2 / np.pi * np.arcsin(t / (1 + t)),
        "relu": lambda t: t / 2,
        "linear": lambda t: t,
        "quadratic": lambda t: 3 * t * t,
        "tanh": lambda t: min(1.0, t),
    }[act](t)


def loss_scale(act, W, a, V, b):
    r"""Upper bound $\tfrac12(\sum_p |\alpha_p| \|s(u_p)\|_{L^2})^2$ of every term in the loss."""
    U = np.vstack([W, V])
    al = np.concatenate([a, b])
    return 0.5 * sum(abs(x) * np.sqrt(ref_phi(act, float(u @ u))) for x, u in zip(al, U)) ** 2


MC_SAMPLES = 2_000_000 if FULL else 1_000_000


def monte_carlo_loss(act, W, a, V, b, samples=MC_SAMPLES, chunk=250_000, seed=0):
    """Mean and standard error of 1/2 (f - f*)^2 over Gaussian samples."""
    s = NP_ACT[act]
    rng = np.random.default_rng(seed)
    d = W.shape[1]
    total, total_sq, count = 0.0, 0.0, 0
    while count < samples:
        m = min(chunk, samples - count)
        x = rng.standard_normal((m, d))
        r = s(x @ W.T) @ a - s(x @ V.T) @ b
        y = 0.5 * r * r
        total += y.sum()
        total_sq += (y * y).sum()
        count += m
    mean = total / count
    var = max(total_sq / count - mean * mean, 0.0)
    return mean, np.sqrt(var / count)


def linear_exact(W, a, V, b):
    """Loss and gradient of the linear network, exact (object arrays of mpf are fine)."""
    r = W.T @ a - V.T @ b
    loss = (r @ r) / 2
    gW = a[:, None] * r[None, :]
    ga = W @ r
    return loss, gW, ga


def quadratic_exact(W, a, V, b):
    r"""$f = x^\top M x$; $L = \operatorname{tr}Q^2 + \tfrac12(\operatorname{tr}Q)^2$, $Q = M - M^*$;
    $\nabla_{w_i} L = 2a_iZw_i$, $\partial_{a_i}L = w_i^\top Z w_i$ with $Z = 2Q + (\operatorname{tr}Q)I$."""
    M = (W.T * a) @ W
    Ms = (V.T * b) @ V
    Q = M - Ms
    tr = sum(Q[i, i] for i in range(Q.shape[0]))
    loss = (2 * sum((Q * Q.T).ravel()) + tr * tr) / 2
    Z = 2 * Q
    for i in range(Q.shape[0]):
        Z[i, i] = Z[i, i] + tr
    gW = 2 * a[:, None] * (W @ Z)
    ga = np.array([W[i] @ Z @ W[i] for i in range(W.shape[0])], dtype=W.dtype)
    return loss, gW, ga


def _gl_nodes(d, N=200, L=12.0):
    x, w = np.polynomial.legendre.leggauss(N)
    w = w * np.exp(-((L * x) ** 2) / 2)
    w = w / w.sum()  # Gaussian mass outside [-L, L] is < 1e-30
    x = L * x
    grids = np.meshgrid(*([x] * d), indexing="ij")
    wgrids = np.meshgrid(*([w] * d), indexing="ij")
    X = np.stack([g.ravel() for g in grids], axis=1)
    om = np.prod(np.stack([g.ravel() for g in wgrids], axis=1), axis=1)
    return X, om


def tanh_reference(W, a, V, b, train_output=True, nodes=200):
    """Loss, gradient and Hessian of the tanh network by input-space Gauss-Legendre quadrature.

    Differentiated under the integral by hand: with r = f - f*, s = tanh,
    dL/dw_i = E[r a_i s'(w_i.x) x], dL/da_i = E[r s(w_i.x)],
    d2L/dw_i dw_j = E[a_i a_j s'_i s'_j x x^T] + delta_ij E[r a_i s''_i x x^T],
    d2L/dw_i da_j = E[a_i s'_i s_j x] + delta_ij E[r s'_i x], d2L/da_i da_j = E[s_i s_j].
    """
    n, d = W.shape
    X, om = _gl_nodes(d, nodes)
    Z = X @ W.T
    S = np.tanh(Z)
    S1 = 1 - S * S
    S2 = -2 * S * S1
    r = S @ a - np.tanh(X @ V.T) @ b
    loss = 0.5 * om @ (r * r)
    gW = np.einsum("m,m,mi,md->id", om, r, a * S1, X)
    ga = np.einsum("m,m,mi->i", om, r, S)
    T = a * S1  # (m, n)
    HWW = np.einsum("m,mi,mj,md,me->idje", om, T, T, X, X, optimize=True)
    HWW_diag = np.einsum("m,m,mi,md,me->ide", om, r, a * S2, X, X, optimize=True)
    for i in range(n):
        HWW[i, :, i, :] += HWW_diag[i]
    HWW = HWW.reshape(n * d, n * d)
    grad = gW.ravel()
    if not train_output:
        return loss, grad, HWW
    HWa = np.einsum("m,mi,mj,md->idj", om, T, S, X)
    HWa_diag = np.einsum("m,m,mi,md->id", om, r, S1, X)
    for i in range(n):
        HWa[i, :, i] += HWa_diag[i]
    HWa = HWa.reshape(n * d, n)
    Haa = np.einsum("m,mi,mj->ij", om, S, S)
    H = np.block([[HWW, HWa], [HWa.T, Haa]])
    return loss, np.concatenate([grad, ga]), H


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------
def make_problem(act, kind, train_output, n=2, k=2, d=3, seed=0, scale=1.0):
    """A problem and a generic parameter point; ``kind`` is "orthonormal" or "general"."""
    rng = np.random.default_rng(seed)
    a_fixed = rng.uniform(0.5, 1.5, n) * rng.choice([-1.0, 1.0], n)
    student_output = None if train_output else a_fixed
    if kind == "orthonormal":
        p = TeacherStudent.orthonormal(act, k, n, d=d, train_output=train_output, student_output=student_output)
    else:
        V = scale * rng.standard_normal((k, d)) / np.sqrt(d)
        b = rng.uniform(0.5, 1.5, k) * rng.choice([-1.0, 1.0], k)
        p = TeacherStudent(act, V, b, n=n, train_output=train_output, student_output=student_output)
    W = scale * rng.standard_normal((n, d)) / np.sqrt(d)
    a = rng.standard_normal(n)
    theta = p.pack(W, a) if train_output else p.pack(W)
    return p, theta


def mp_array(x):
    return np.array([mpmath.mpf(float(v)) for v in np.ravel(x)], dtype=object)


def fd_columns(fun, theta, h, dps):
    """Central differences (fun(theta + h e_i) - fun(theta - h e_i)) / 2h at high precision."""
    out = []
    with mpmath.workdps(dps + 30):
        hh = mpmath.mpf(h)
        for i in range(len(theta)):
            tp, tm = theta.copy(), theta.copy()
            tp[i] = theta[i] + hh
            tm[i] = theta[i] - hh
            fp, fm = fun(tp), fun(tm)
            out.append((fp - fm) / (2 * hh))
    return out


def assert_digits(got, ref, digits, what):
    """|got - ref| <= 10^-digits * max(1, |ref|), entrywise, in mpmath."""
    got = np.asarray(got, dtype=object).ravel()
    ref = np.asarray(ref, dtype=object).ravel()
    assert got.shape == ref.shape
    with mpmath.workdps(80):
        tol = mpmath.mpf(10) ** (-digits)
        for k, (g, r) in enumerate(zip(got, ref)):
            err = abs(mpmath.mpf(g) - mpmath.mpf(r))
            assert err <= tol * max(1, abs(mpmath.mpf(r))), (
                f"{what}[{k}]: got {mpmath.nstr(g, 30)}, expected {mpmath.nstr(r, 30)}, "
                f"error {mpmath.nstr(err, 3)}"
            )


def to_float(x):
    return np.array(np.asarray(x, dtype=object).astype(float))


def rel_err(got, ref):
    got, ref = np.asarray(got, dtype=float), np.asarray(ref, dtype=float)
    return float(np.max(np.abs(got - ref)) / max(1.0, float(np.max(np.abs(ref)))))


# ---------------------------------------------------------------------------
# 1. packing
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("train_output", [True, False])
@pytest.mark.parametrize("n,k,d", [(1, 1, 1), (2, 3, 4), (4, 2, 3)])
def test_pack_unpack_round_trip(train_output, n, k, d):
    rng = np.random.default_rng(n * 100 + k * 10 + d)
    V = rng.standard_normal((k, d))
    fixed = rng.standard_normal(n)
    p = TeacherStudent("erf", V, n=n, train_output=train_output, student_output=fixed)
    assert (p.n, p.k, p.d) == (n, k, d)
    assert p.num_params == n * d + (n if train_output else 0)
    W = rng.standard_normal((n, d))
    a = rng.standard_normal(n)
    theta = p.pack(W, a) if train_output else p.pack(W)
    assert theta.shape == (p.num_params,)
    np.testing.assert_array_equal(theta[: n * d], W.ravel())  # row-major W first
    params = p.unpack(theta)
    W2, a2 = params.W, params.a
    np.testing.assert_array_equal(W2, W)
    assert W2.shape == (n, d) and a2.shape == (n,)
    if train_output:
        np.testing.assert_array_equal(theta[n * d:], a)
        np.testing.assert_array_equal(a2, a)
    else:
        np.testing.assert_array_equal(a2, fixed)
        # fixed output weights may be passed if they equal the fixed ones
        np.testing.assert_array_equal(p.pack(W, fixed.copy()), theta)
    # gradient and Hessian shapes follow the packing
    assert p.gradient(theta).shape == (p.num_params,)
    assert p.hessian(theta).shape == (p.num_params, p.num_params)
    assert np.ndim(p.loss(theta)) == 0


def test_pack_requires_a_when_trained():
    p = TeacherStudent.orthonormal("relu", 2, 2)
    with pytest.raises(ShapeError, match="argument a"):
        p.pack(np.ones((2, 2)))


def test_pack_rejects_other_fixed_output_weights():
    p = TeacherStudent.orthonormal("relu", 2, 2, train_output=False)
    np.testing.assert_array_equal(p.pack(np.ones((2, 2)), np.ones(2)), np.ones(4))
    with pytest.raises(ShapeError, match="argument a"):
        p.pack(np.ones((2, 2)), np.array([1.0, 2.0]))
    with pytest.raises(ShapeError, match="argument a"):
        p.pack(np.ones((2, 2)), np.ones(3))


def test_unpack_of_fixed_output_is_a_copy():
    p = TeacherStudent.orthonormal("erf", 2, 3, train_output=False)
    a = p.unpack(np.ones(6)).a
    a[:] = 7.0
    np.testing.assert_array_equal(p.unpack(np.ones(6)).a, np.ones(3))


@pytest.mark.parametrize("k,n,d", [(1, 1, None), (2, 3, None), (2, 2, 5)])
def test_orthonormal_preset(k, n, d):
    p = TeacherStudent.orthonormal("erf", k, n, d=d)
    dd = k if d is None else d
    assert (p.n, p.k, p.d) == (n, k, dd)
    np.testing.assert_array_equal(p.teacher_weights, np.eye(dd)[:k])
    np.testing.assert_array_equal(p.teacher_output, np.ones(k))
    # student = teacher (padded with zero-output neurons) has loss 0 exactly in exact arithmetic
    W = np.vstack([np.eye(dd)[:k], np.ones((max(n - k, 0), dd))])[:n]
    a = np.concatenate([np.ones(min(n, k)), np.zeros(max(n - k, 0))])
    if n >= k:
        assert abs(p.loss(p.pack(W, a))) < 1e-15


# ---------------------------------------------------------------------------
# 2. loss against independent computations
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("train_output", [True, False])
@pytest.mark.parametrize("kind", ["orthonormal", "general"])
@pytest.mark.parametrize("act", ALL_FLOAT)
def test_loss_monte_carlo(act, kind, train_output):
    p, theta = make_problem(act, kind, train_output, n=2, k=2, d=3, seed=11)
    params = p.unpack(theta)
    W, a = params.W, params.a
    mean, se = monte_carlo_loss(act, W, a, p.teacher_weights, p.teacher_output, seed=3)
    L = p.loss(theta)
    assert se > 0
    assert abs(L - mean) <= 5 * se, f"loss {L}, Monte Carlo {mean} +- {se}"


@pytest.mark.slow
@pytest.mark.parametrize("act", ALL_FLOAT)
def test_loss_monte_carlo_shapes(act):
    """More shapes and seeds (a reduced set by default)."""
    shapes = [(3, 4, 5), (1, 3, 2), (4, 1, 1)] if FULL else [(3, 2, 4)]
    for i, (n, k, d) in enumerate(shapes):
        for train_output in (True, False):
            p, theta = make_problem(act, "general", train_output, n=n, k=k, d=d, seed=100 + i)
            params = p.unpack(theta)
            W, a = params.W, params.a
            mean, se = monte_carlo_loss(act, W, a, p.teacher_weights, p.teacher_output,
                                        seed=i)
            assert abs(p.loss(theta) - mean) <= 5 * se, (n, k, d, train_output)


@pytest.mark.parametrize("train_output", [True, False])
@pytest.mark.parametrize("kind", ["orthonormal", "general"])
@pytest.mark.parametrize("act", ["linear", "quadratic"])
def test_polynomial_exact_float(act, kind, train_output):
    exact = linear_exact if act == "linear" else quadratic_exact
    for seed in range(3):
        p, theta = make_problem(act, kind, train_output, n=3, k=2, d=4, seed=seed)
        params = p.unpack(theta)
        W, a = params.W, params.a
        L, gW, ga = exact(W, a, p.teacher_weights, p.teacher_output)
        scale = loss_scale(act, W, a, p.teacher_weights, p.teacher_output)
        assert abs(p.loss(theta) - L) <= 1e-13 * scale
        g = np.concatenate([gW.ravel(), ga]) if train_output else gW.ravel()
        np.testing.assert_allclose(p.gradient(theta), g, rtol=0, atol=1e-13 * max(1.0, scale))


@pytest.mark.parametrize("train_output", [True, False])
@pytest.mark.parametrize("act", ["linear", "quadratic"])
def test_polynomial_exact_high_precision(act, train_output):
    exact = linear_exact if act == "linear" else quadratic_exact
    p, theta = make_problem(act, "general", train_output, n=2, k=3, d=3, seed=5)
    params = p.unpack(theta)
    W, a = params.W, params.a
    with mpmath.workdps(80):
        Wm = mp_array(W).reshape(W.shape)
        am, Vm, bm = mp_array(a), mp_array(p.teacher_weights).reshape(p.teacher_weights.shape), mp_array(p.teacher_output)
        L, gW, ga = exact(Wm, am, Vm, bm)
    assert_digits([p.loss(theta, dps=40)], [L], 38, "loss")
    g = np.concatenate([gW.ravel(), ga]) if train_output else gW.ravel()
    assert_digits(p.gradient(theta, dps=40), g, 38, "gradient")


@pytest.mark.parametrize("train_output", [True, False])
@pytest.mark.parametrize("kind", ["orthonormal", "general"])
@pytest.mark.parametrize("act", CLOSED)
def test_loss_against_literature_kernels(act, kind, train_output):
    """30 digits of the loss from an independent Gram-sum with the published kernels."""
    p, theta = make_problem(act, kind, train_output, n=3, k=2, d=3, seed=21)
    params = p.unpack(theta)
    W, a = params.W, params.a
    ref = ref_loss_mp(act, W, a, p.teacher_weights, p.teacher_output, dps=50)
    assert_digits([p.loss(theta, dps=40)], [ref], 35, "loss")
    assert abs(p.loss(theta) - float(ref)) <= 1e-13 * max(1.0, abs(float(ref)))


# ---------------------------------------------------------------------------
# tanh (quadrature path; float64 only)
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("train_output", [True, False])
@pytest.mark.parametrize("n,k", [(1, 1), (2, 2), (1, 2)])
def test_tanh_against_input_space_quadrature(n, k, train_output):
    """Small weights (variances <= 0.5), d = 2: loss, gradient, Hessian to ~1e-11."""
    rng = np.random.default_rng(7 + n + 3 * k)
    V = rng.standard_normal((k, 2))
    V *= rng.uniform(0.3, 0.7, (k, 1)) / np.linalg.norm(V, axis=1, keepdims=True)
    W = rng.standard_normal((n, 2))
    W *= rng.uniform(0.3, 0.7, (n, 1)) / np.linalg.norm(W, axis=1, keepdims=True)
    a, b = rng.standard_normal(n), rng.standard_normal(k)
    p = TeacherStudent("tanh", V, b, n=n, train_output=train_output, student_output=None if train_output else a)
    theta = p.pack(W, a) if train_output else p.pack(W)
    L, g, H = tanh_reference(W, a, V, b, train_output)
    assert abs(p.loss(theta) - L) <= 1e-12 * max(1.0, L)
    assert rel_err(p.gradient(theta), g) <= 1e-11
    Hp = p.hessian(theta)
    assert rel_err(Hp, H) <= 1e-10
    assert rel_err(Hp, Hp.T) <= 1e-13


@pytest.mark.parametrize("what", ["loss", "gradient", "hessian"])
def test_tanh_documented_accuracy_at_variance_4(what):
    V = np.array([[2.0, 0.0], [0.0, 1.2]])
    W = np.array([[0.0, 2.0], [1.6, 1.2]])  # |w|^2 = 4
    a, b = np.array([0.9, -0.6]), np.array([1.0, 0.7])
    p = TeacherStudent("tanh", V, b, n=2)
    theta = p.pack(W, a)
    L, g, H = tanh_reference(W, a, V, b, nodes=400)  # accurate to ~1e-13 at |w|^2 = 4
    got, ref = {"loss": (p.loss(theta), L), "gradient": (p.gradient(theta), g),
                "hessian": (p.hessian(theta), H)}[what]
    assert rel_err(got, ref) <= 1e-9


# ---------------------------------------------------------------------------
# 3. derivatives against high-precision finite differences
# ---------------------------------------------------------------------------
FD_DPS, FD_H = 60, "1e-20"


def _check_fd(p, theta):
    th = mp_array(theta)
    g = p.gradient(th, dps=FD_DPS)
    H = p.hessian(th, dps=FD_DPS)
    g_fd = fd_columns(lambda t: p.loss(t, dps=FD_DPS), th, FD_H, FD_DPS)
    assert_digits(g, g_fd, 25, "gradient")
    H_fd = np.array(fd_columns(lambda t: p.gradient(t, dps=FD_DPS), th, FD_H, FD_DPS), dtype=object).T
    assert_digits(H, H_fd, 25, "Hessian")
    assert_digits(H, H.T, 50, "Hessian symmetry")


@pytest.mark.parametrize("train_output", [True, False])
@pytest.mark.parametrize("kind", ["orthonormal", "general"])
@pytest.mark.parametrize("act", CLOSED)
def test_derivatives_finite_differences(act, kind, train_output):
    p, theta = make_problem(act, kind, train_output, n=2, k=2, d=3, seed=31)
    _check_fd(p, theta)


@pytest.mark.slow
@pytest.mark.parametrize("act", CLOSED)
def test_derivatives_finite_differences_shapes(act):
    # d = 1 aligns every pair, where the relu Hessian is singular
    shapes = [(1, 3, 2), (3, 1, 2), (3, 3, 4), (2, 4, 2 if act == "relu" else 1)] if FULL else [(3, 1, 2)]
    for i, (n, k, d) in enumerate(shapes):
        for train_output in (True, False) if FULL else (not bool(i % 2),):
            p, theta = make_problem(act, "general", train_output, n=n, k=k, d=d, seed=40 + i)
            _check_fd(p, theta)


@pytest.mark.parametrize("train_output", [True, False])
@pytest.mark.parametrize("kind", ["orthonormal", "general"])
@pytest.mark.parametrize("act", CLOSED)
def test_float64_matches_mpmath(act, kind, train_output):
    p, theta = make_problem(act, kind, train_output, n=3, k=2, d=3, seed=51)
    L, g, H = p.loss(theta), p.gradient(theta), p.hessian(theta)
    assert isinstance(L, float)
    assert g.dtype == np.float64 and H.dtype == np.float64
    Lm, gm, Hm = p.loss(theta, dps=30), p.gradient(theta, dps=30), p.hessian(theta, dps=30)
    assert isinstance(Lm, MPReal)
    assert rel_err(L, float(Lm)) <= 1e-12
    assert rel_err(g, to_float(gm)) <= 1e-12
    assert rel_err(H, to_float(Hm)) <= 1e-12
    assert rel_err(H, H.T) <= 1e-14
    lg = p.loss_and_gradient(theta)
    assert lg[0] == L and np.array_equal(lg[1], g)


@pytest.mark.parametrize("train_output", [True, False])
def test_tanh_hessian_symmetric_and_fd(train_output):
    """tanh (quadrature): float64 gradient / Hessian vs float64 central differences."""
    p, theta = make_problem("tanh", "general", train_output, n=2, k=2, d=3, seed=61, scale=0.6)
    g, H = p.gradient(theta), p.hessian(theta)
    h = 1e-5
    E = np.eye(len(theta))
    g_fd = np.array([(p.loss(theta + h * e) - p.loss(theta - h * e)) / (2 * h) for e in E])
    H_fd = np.array([(p.gradient(theta + h * e) - p.gradient(theta - h * e)) / (2 * h) for e in E]).T
    assert rel_err(g, g_fd) <= 1e-8
    assert rel_err(H, H_fd) <= 1e-7
    assert rel_err(H, H.T) <= 1e-12


# ---------------------------------------------------------------------------
# 4. property-based tests
# ---------------------------------------------------------------------------
HSET = settings(
    max_examples=200 if FULL else 30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
_elem = st.floats(-1.5, 1.5, allow_nan=False, allow_infinity=False, width=64)
_out = st.floats(-2.0, 2.0, allow_nan=False, allow_infinity=False, width=64)


@st.composite
def configs(draw, acts=tuple(CLOSED)):
    act = draw(st.sampled_from(acts))
    n, k, d = draw(st.integers(1, 4)), draw(st.integers(1, 4)), draw(st.integers(1, 5))
    train_output = draw(st.booleans())
    W = draw(arrays(np.float64, (n, d), elements=_elem))
    V = draw(arrays(np.float64, (k, d), elements=_elem))
    a = draw(arrays(np.float64, (n,), elements=_out))
    b = draw(arrays(np.float64, (k,), elements=_out))
    if act == "relu":
        assume(np.all(np.linalg.norm(W, axis=1) >= 0.1) and np.all(np.linalg.norm(V, axis=1) >= 0.1))
    return act, W, a, V, b, train_output


def build(act, W, a, V, b, train_output):
    p = TeacherStudent(act, V, b, n=W.shape[0], train_output=train_output,
                       student_output=None if train_output else a)
    return p, (p.pack(W, a) if train_output else p.pack(W))


@HSET
@given(configs(acts=tuple(ALL_FLOAT)))
def test_property_loss_nonnegative(cfg):
    act, W, a, V, b, to = cfg
    if act == "tanh":
        W, V = W / 3, V / 3
    p, theta = build(act, W, a, V, b, to)
    # >= 0 up to rounding of a sum of terms each bounded by the scale
    assert p.loss(theta) >= -1e-14 * max(1.0, loss_scale(act, W, a, V, b))


@HSET
@given(configs(acts=tuple(ALL_FLOAT)), st.randoms(use_true_random=False))
def test_property_permutation_invariance(cfg, rnd):
    act, W, a, V, b, to = cfg
    if act == "tanh":
        W, V = W / 3, V / 3
    perm = list(range(W.shape[0]))
    rnd.shuffle(perm)
    p, theta = build(act, W, a, V, b, to)
    q, theta_perm = build(act, W[perm], a[perm], V, b, to)
    tol = 1e-13 * max(1.0, loss_scale(act, W, a, V, b))
    assert abs(p.loss(theta) - q.loss(theta_perm)) <= tol
    # the gradient permutes along
    g, gp = p.gradient(theta), q.gradient(theta_perm)
    n, d = W.shape
    np.testing.assert_allclose(gp[: n * d].reshape(n, d), g[: n * d].reshape(n, d)[perm], rtol=0, atol=tol)
    if to:
        np.testing.assert_allclose(gp[n * d:], g[n * d:][perm], rtol=0, atol=tol)


@HSET
@given(configs(acts=tuple(ALL_FLOAT)), st.integers(0, 2**32 - 1))
def test_property_rotation_invariance(cfg, seed):
    act, W, a, V, b, to = cfg
    if act == "tanh":
        W, V = W / 3, V / 3
    d = W.shape[1]
    Q, R = np.linalg.qr(np.random.default_rng(seed).standard_normal((d, d)))
    Q = Q * np.sign(np.diag(R))  # Haar-distributed orthogonal matrix
    p, theta = build(act, W, a, V, b, to)
    q, theta_rot = build(act, W @ Q.T, a, V @ Q.T, b, to)
    tol = 1e-12 * max(1.0, loss_scale(act, W, a, V, b))
    assert abs(p.loss(theta) - q.loss(theta_rot)) <= tol
    # gradient rotates along: grad_W' = grad_W Q^T
    n = W.shape[0]
    g, gr = p.gradient(theta), q.gradient(theta_rot)
    np.testing.assert_allclose(gr[: n * d].reshape(n, d), g[: n * d].reshape(n, d) @ Q.T,
                               rtol=0, atol=1e2 * tol)


@HSET
@given(configs())
def test_property_gradient_finite_differences(cfg):
    act, W, a, V, b, to = cfg
    p, theta = build(act, W, a, V, b, to)
    g = p.gradient(theta)
    h = 1e-5
    E = np.eye(len(theta))
    g_fd = np.array([(p.loss(theta + h * e) - p.loss(theta - h * e)) / (2 * h) for e in E])
    scale = max(1.0, loss_scale(act, W, a, V, b))
    np.testing.assert_allclose(g, g_fd, rtol=0, atol=1e-6 * scale)


@HSET
@given(configs(acts=("erf", "linear", "tanh")), st.data())
def test_property_odd_sign_symmetry(cfg, data):
    """Odd activations: (a_i, w_i) -> (-a_i, -w_i) leaves f, hence the loss, unchanged."""
    act, W, a, V, b, to = cfg
    if act == "tanh":
        W, V = W / 3, V / 3
    flip = np.array(data.draw(st.lists(st.booleans(), min_size=W.shape[0], max_size=W.shape[0])))
    sgn = np.where(flip, -1.0, 1.0)
    p, theta = build(act, W, a, V, b, to)
    q, theta_f = build(act, W * sgn[:, None], a * sgn, V, b, to)
    tol = 1e-13 * max(1.0, loss_scale(act, W, a, V, b))
    assert abs(p.loss(theta) - q.loss(theta_f)) <= tol


@HSET
@given(configs(acts=("quadratic",)), st.data())
def test_property_even_sign_symmetry(cfg, data):
    """Even activation: w_i -> -w_i leaves the loss unchanged."""
    act, W, a, V, b, to = cfg
    flip = np.array(data.draw(st.lists(st.booleans(), min_size=W.shape[0], max_size=W.shape[0])))
    sgn = np.where(flip, -1.0, 1.0)
    p, theta = build(act, W, a, V, b, to)
    _, theta_f = build(act, W * sgn[:, None], a, V, b, to)
    assert abs(p.loss(theta) - p.loss(theta_f)) <= 1e-13 * max(1.0, loss_scale(act, W, a, V, b))


@HSET
@given(configs(acts=("relu",)), st.floats(0.25, 4.0))
def test_property_relu_homogeneity(cfg, c):
    """relu is positively homogeneous: (a_i, w_i) -> (a_i / c, c w_i) leaves the loss unchanged."""
    act, W, a, V, b, _ = cfg
    p, theta = build(act, W, a, V, b, True)
    _, theta_s = build(act, W * c, a / c, V, b, True)
    assert abs(p.loss(theta) - p.loss(theta_s)) <= 1e-13 * max(1.0, loss_scale(act, W, a, V, b))


@HSET
@given(configs(acts=tuple(ALL_FLOAT)))
def test_property_teacher_equals_student(cfg):
    act, W, a, V, b, to = cfg
    if act == "tanh":
        W = W / 3
    p, theta = build(act, W, a, W.copy(), a.copy(), to)
    scale = max(1.0, loss_scale(act, W, a, W, a))
    assert abs(p.loss(theta)) <= 1e-14 * scale
    # for relu every student is exactly aligned with its teacher: the gradient is still defined
    np.testing.assert_allclose(p.gradient(theta), 0.0, rtol=0, atol=1e-13 * scale)


# ---------------------------------------------------------------------------
# 5. bad input
# ---------------------------------------------------------------------------
V2 = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])


@pytest.mark.parametrize("kwargs,exc,match", [
    (dict(teacher_weights=V2[0]), ShapeError, "teacher_weights"),
    (dict(teacher_weights=np.ones((2, 3, 1))), ShapeError, "teacher_weights"),
    (dict(teacher_weights=np.zeros((0, 3))), ShapeError, "teacher_weights"),
    (dict(teacher_weights=[["x", 1, 2]]), ShapeError, "teacher_weights"),
    (dict(teacher_output=np.ones(3)), ShapeError, "teacher_output"),
    (dict(teacher_output=np.ones((1, 2))), ShapeError, "teacher_output"),
    (dict(teacher_weights=[[np.nan, 0, 0], [0, 1, 0]]), DomainError, "teacher_weights"),
    (dict(teacher_weights=[[np.inf, 0, 0], [0, 1, 0]]), DomainError, "teacher_weights"),
    (dict(teacher_output=[1.0, -np.inf]), DomainError, "teacher_output"),
    (dict(teacher_output=[np.nan, 1.0]), DomainError, "teacher_output"),
    (dict(n=0), ShapeError, "n must be a positive integer"),
    (dict(n=-2), ShapeError, "n must be a positive integer"),
    (dict(n=2.0), ShapeError, "n must be a positive integer"),
    (dict(n=True), ShapeError, "n must be a positive integer"),
    (dict(n="2"), ShapeError, "n must be a positive integer"),
    (dict(n=None), ShapeError, r"\bn\b"),
    (dict(train_output=False, student_output=np.ones(3)), ShapeError, "student_output"),
    (dict(train_output=False, student_output=[np.nan, 1.0]), DomainError, "student_output"),
])
def test_constructor_bad_input(kwargs, exc, match):
    args = dict(teacher_weights=V2, teacher_output=None, n=2)
    args.update(kwargs)
    with pytest.raises(exc, match=match):
        TeacherStudent("relu", **args)


def test_unknown_activation():
    with pytest.raises(UnknownActivationError, match="no_such_act"):
        TeacherStudent("no_such_act", V2, n=2)
    with pytest.raises(UnknownActivationError):
        TeacherStudent.orthonormal("no_such_act", 2, 2)


def test_orthonormal_needs_d_at_least_k():
    with pytest.raises(ShapeError, match="d >= k"):
        TeacherStudent.orthonormal("erf", 3, 2, d=2)


@pytest.mark.parametrize("method", ["loss", "gradient", "hessian", "unpack"])
def test_theta_bad_shape(method):
    p = TeacherStudent("relu", V2, n=2)  # 8 parameters
    for bad in (np.zeros(7), np.zeros(9), np.zeros((2, 4)), np.zeros(6)):
        with pytest.raises(ShapeError, match="theta"):
            getattr(p, method)(bad)
    q = TeacherStudent("relu", V2, n=2, train_output=False)  # 6 parameters
    with pytest.raises(ShapeError, match="theta"):
        getattr(q, method)(np.zeros(8))


@pytest.mark.parametrize("method", ["loss", "gradient", "hessian"])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_theta_non_finite(method, bad):
    p = TeacherStudent("erf", V2, n=2)
    theta = np.ones(8)
    theta[3] = bad
    with pytest.raises(DomainError, match="theta"):
        getattr(p, method)(theta)
    th = mp_array(np.ones(8))
    th[5] = mpmath.mpf(bad)
    with pytest.raises(DomainError, match="theta"):
        getattr(p, method)(th, dps=20)


def test_pack_bad_input():
    p = TeacherStudent("erf", V2, n=2)
    with pytest.raises(ShapeError, match="argument W"):
        p.pack(np.ones((3, 2)), np.ones(2))
    with pytest.raises(ShapeError, match="argument W"):
        p.pack(np.ones(6), np.ones(2))
    with pytest.raises(ShapeError, match="argument a"):
        p.pack(np.ones((2, 3)), np.ones(3))
    with pytest.raises(DomainError, match="argument W"):
        p.pack(np.full((2, 3), np.nan), np.ones(2))
    with pytest.raises(DomainError, match="argument a"):
        p.pack(np.ones((2, 3)), [1.0, np.inf])


@pytest.mark.parametrize("dps", [15, 0, -3, 16.0, "30", True])
def test_bad_precision(dps):
    p = TeacherStudent("erf", V2, n=2)
    with pytest.raises(PrecisionError, match="dps"):
        p.loss(np.ones(8), dps=dps)
    with pytest.raises(PrecisionError, match="dps"):
        p.hessian(np.ones(8), dps=dps)


def test_dps_16_is_accepted():
    p = TeacherStudent("erf", V2, n=2)
    assert abs(p.loss(np.ones(8), dps=16) - p.loss(np.ones(8))) < 1e-14


# zero-norm student neurons ------------------------------------------------
def _relu_zero_norm_point(train_output):
    p, theta = make_problem("relu", "general", train_output, n=2, k=2, d=3, seed=71)
    theta[3:6] = 0.0  # student neuron 1 has zero norm
    return p, theta


@pytest.mark.parametrize("train_output", [True, False])
def test_relu_zero_norm_student(train_output):
    p, theta = _relu_zero_norm_point(train_output)
    params = p.unpack(theta)
    W, a = params.W, params.a
    # the loss is defined there (that neuron's output is 0) ...
    ref = ref_loss_mp("relu", W, a, p.teacher_weights, p.teacher_output, dps=40)
    assert_digits([p.loss(theta, dps=30)], [ref], 28, "loss")
    assert abs(p.loss(theta) - float(ref)) <= 1e-14 * max(1.0, abs(float(ref)))
    # ... its gradient is not (relu(w.x) is not differentiable at w = 0)
    for method in ("gradient", "hessian", "loss_and_gradient"):
        with pytest.raises(DomainError, match="zero norm"):
            getattr(p, method)(theta)


@pytest.mark.parametrize("method", ["gradient", "hessian", "loss_and_gradient"])
def test_relu_zero_norm_student_mpmath(method):
    p, theta = _relu_zero_norm_point(True)
    with pytest.raises(DomainError, match="zero norm"):
        getattr(p, method)(theta, dps=30)


@pytest.mark.parametrize("train_output", [True, False])
def test_erf_zero_norm_student(train_output):
    """erf is smooth at w = 0: gradient and Hessian exist and match high-precision FD."""
    p, theta = make_problem("erf", "general", train_output, n=2, k=2, d=3, seed=72)
    theta[0:3] = 0.0
    params = p.unpack(theta)
    W, a = params.W, params.a
    ref = ref_loss_mp("erf", W, a, p.teacher_weights, p.teacher_output, dps=40)
    assert_digits([p.loss(theta, dps=30)], [ref], 28, "loss")
    g, H = p.gradient(theta), p.hessian(theta)
    assert np.all(np.isfinite(g)) and np.all(np.isfinite(H))
    _check_fd(p, theta)


# exact alignment (relu) ----------------------------------------------------
@pytest.mark.parametrize("kind", ["orthonormal", "general"])
@pytest.mark.parametrize("sign", [1.0, -1.0])
@pytest.mark.parametrize("train_output", [True, False])
def test_relu_aligned_pair_loss_and_gradient(train_output, sign, kind):
    """w_0 = +-v_0: loss and gradient exist (the relu loss is C^2 there) and match FD."""
    p, theta = make_problem("relu", kind, train_output, n=2, k=2, d=3, seed=81)
    theta[0:3] = sign * p.teacher_weights[0]
    params = p.unpack(theta)
    W, a = params.W, params.a
    ref = ref_loss_mp("relu", W, a, p.teacher_weights, p.teacher_output, dps=40)
    assert_digits([p.loss(theta, dps=30)], [ref], 28, "loss")
    assert abs(p.loss(theta) - float(ref)) <= 1e-14 * max(1, abs(float(ref)))
    th = mp_array(theta)
    g = p.gradient(th, dps=FD_DPS)
    g_fd = fd_columns(lambda t: p.loss(t, dps=FD_DPS), th, FD_H, FD_DPS)
    assert_digits(g, g_fd, 25, "gradient")
    assert rel_err(p.gradient(theta), to_float(g)) <= 1e-13


def _fd_hessian_60(p, theta, h="1e-20"):
    """Central differences of the 60-digit gradient (an independent check of the Hessian)."""
    with mpmath.workdps(60):
        h = mpmath.mpf(h)
        T = np.array([mpmath.mpf(float(v)) for v in theta], dtype=object)
        cols = []
        for j in range(len(T)):
            e = np.array([mpmath.mpf(0)] * len(T), dtype=object)
            e[j] = h
            cols.append((p.gradient(T + e, dps=60) - p.gradient(T - e, dps=60)) / (2 * h))
        return np.array(cols, dtype=object).T.astype(float)


@pytest.mark.parametrize("sign", [1.0, -1.0])
@pytest.mark.parametrize("train_output", [True, False])
def test_relu_hessian_at_exact_alignment_is_the_limit(train_output, sign):
    """The Gram chain rule is singular at alignment, but the loss is C^2 there: the Hessian is
    returned as its limit and must match 60-digit finite differences of the gradient
    (orthonormal teacher: every Gram entry is exact, so D = 0 exactly in float64)."""
    p, theta = make_problem("relu", "orthonormal", train_output, n=2, k=2, d=3, seed=82)
    theta[0:3] = sign * p.teacher_weights[1]
    H = p.hessian(theta)
    np.testing.assert_allclose(H, _fd_hessian_60(p, theta), rtol=0, atol=1e-12 * max(1, np.abs(H).max()))
    # two exactly aligned student neurons
    theta[3:6] = theta[0:3] * 2.0
    H = p.hessian(theta)
    np.testing.assert_allclose(H, _fd_hessian_60(p, theta), rtol=0, atol=1e-12 * max(1, np.abs(H).max()))


def test_relu_hessian_at_exact_alignment_mpmath():
    p, theta = make_problem("relu", "orthonormal", True, n=2, k=2, d=3, seed=82)
    theta[0:3] = p.teacher_weights[1]
    H = p.hessian(theta, dps=30)
    ref = _fd_hessian_60(p, theta)
    assert np.max(np.abs(H.astype(float) - ref)) <= 1e-15 * max(1, np.abs(ref).max())


def test_relu_hessian_in_one_dimension_at_alignment_raises():
    p = TeacherStudent("relu", [[1.0]], n=1)
    with pytest.raises(DomainError, match="aligned"):
        p.hessian(p.pack([[2.0]], [1.0]))


@pytest.mark.parametrize("factor", [1.0, 1.3])
@pytest.mark.parametrize("train_output", [True, False])
def test_relu_hessian_generic_alignment(train_output, factor):
    # a float vector whose Gram entries G_00 (einsum) and G_01 (matmul) round differently
    V = np.array([[0.28946304726964217, 0.7104520446970023, 0.02585311548307543],
                  [0.7738852974928383, 0.6632344050500332, -0.14292255235793858]])
    p = TeacherStudent("relu", V, [-0.55, 1.4], n=2, train_output=train_output)
    W = np.array([factor * V[0], [0.4, 0.9, 0.1]])
    theta = p.pack(W, [0.8, 1.1]) if train_output else p.pack(W)
    # reference: FD of the 60-digit gradient (the relu loss is C^2 at alignment)
    th = mp_array(theta)
    H_fd = to_float(np.array(fd_columns(lambda t: p.gradient(t, dps=FD_DPS), th, "1e-25", FD_DPS),
                             dtype=object).T)
    try:
        H = p.hessian(theta)
    except DomainError as exc:
        assert "aligned" in str(exc)
        return
    assert rel_err(H, H_fd) <= 1e-6


# ---------------------------------------------------------------------------
# 6. nearly aligned relu neurons
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("eps", [1e-7, 1e-10])
@pytest.mark.parametrize("sign", [1.0, -1.0])
@pytest.mark.parametrize("train_output", [True, False])
def test_relu_nearly_aligned_gradient(train_output, sign, eps):
    rng = np.random.default_rng(91)
    p, theta = make_problem("relu", "general", train_output, n=3, k=2, d=3, seed=91)
    # student 0 near teacher 0 (or its negative); student 2 near student 1
    theta[0:3] = sign * p.teacher_weights[0] + eps * rng.standard_normal(3)
    theta[6:9] = 0.7 * theta[3:6] * sign + eps * rng.standard_normal(3)
    g = p.gradient(theta)
    gm = to_float(p.gradient(theta, dps=30))
    assert rel_err(g, gm) <= 1e-9
    assert abs(p.loss(theta) - float(p.loss(theta, dps=30))) <= 1e-13 * max(1.0, abs(p.loss(theta)))


@pytest.mark.parametrize("train_output", [True, False])
def test_relu_nearly_aligned_hessian_moderate(train_output):
    """At an angle 1e-4 the float64 Hessian still agrees with mpmath to ~1e-10."""
    rng = np.random.default_rng(92)
    p, theta = make_problem("relu", "general", train_output, n=2, k=2, d=3, seed=92)
    theta[0:3] = p.teacher_weights[0] + 1e-4 * rng.standard_normal(3)
    assert rel_err(p.hessian(theta), to_float(p.hessian(theta, dps=30))) <= 1e-10


@pytest.mark.parametrize("eps", [1e-7, 1e-10])
@pytest.mark.parametrize("train_output", [True, False])
def test_relu_nearly_aligned_float_hessian_carries_float_digits(train_output, eps):
    """Below D/(ab) = 1e-12 the float64 Hessian comes from ball midpoints at boosted digits (mpmath
    where there is no arb form): it must equal the 40-digit mpmath Hessian (boosted by its own
    rule) to float64 rounding, not to the ~u*ab/D a float64 assembly would give."""
    rng = np.random.default_rng(93)
    p, theta = make_problem("relu", "general", train_output, n=3, k=2, d=3, seed=93)
    theta[0:3] = p.teacher_weights[0] + eps * rng.standard_normal(3)
    theta[6:9] = 0.7 * theta[3:6] + eps * rng.standard_normal(3)
    H = p.hessian(theta)
    assert H.dtype == float
    assert rel_err(H, to_float(p.hessian(theta, dps=40))) <= 1e-14


def test_relu_exactly_aligned_float_hessian_falls_back_to_the_limit():
    """An exactly aligned pair has no finite ball enclosure: the float64 Hessian is the mpmath limit."""
    p, theta = make_problem("relu", "general", False, n=2, k=2, d=3, seed=94)
    theta[0:3] = p.teacher_weights[0]
    assert rel_err(p.hessian(theta), to_float(p.hessian(theta, dps=30))) <= 1e-14


def test_relu_zero_norm_teacher_gradient():
    V = np.array([[0.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    p = TeacherStudent("relu", V, n=2)
    q = TeacherStudent("relu", V[1:], n=2)
    theta = p.pack(np.array([[1.0, 0.2, 0.0], [0.3, 1.0, 0.5]]), [1.0, 1.0])
    assert abs(p.loss(theta) - q.loss(theta)) <= 1e-15
    np.testing.assert_allclose(p.gradient(theta), q.gradient(theta), rtol=0, atol=1e-14)


# ---------------------------------------------------------------------------
# 7. a larger Hessian
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("train_output", [True, False])
def test_large_erf_hessian(train_output):
    n = k = d = 12
    p, theta = make_problem("erf", "general", train_output, n=n, k=k, d=d, seed=101)
    H = p.hessian(theta)
    assert H.shape == (p.num_params, p.num_params)
    assert rel_err(H, H.T) <= 1e-14
    Hm = p.hessian(theta, dps=20)
    assert rel_err(H, to_float(Hm)) <= 1e-12
    # a few columns against FD of the 40-digit gradient (h = 1e-15, error ~1e-30)
    th = mp_array(theta)
    cols = [0, 37, p.num_params - 1]
    with mpmath.workdps(70):
        h = mpmath.mpf("1e-15")
        for j in cols:
            tp, tm = th.copy(), th.copy()
            tp[j] += h
            tm[j] -= h
            col = (p.gradient(tp, dps=40) - p.gradient(tm, dps=40)) / (2 * h)
            assert_digits(np.array(Hm)[:, j], col, 18, f"Hessian column {j}")


@pytest.mark.parametrize("name", ["erf", "relu", "linear", "quadratic"])
@pytest.mark.parametrize("train_output", [True, False])
def test_lean_float_path_equals_general_assembly(name, train_output):
    """loss_and_gradient's lean float64 path must reproduce the general assembly bit for bit."""
    p = TeacherStudent.orthonormal(name, k=3, n=2, d=4, train_output=train_output)
    rng = np.random.default_rng(7)
    theta = p.pack(rng.normal(size=(2, 4)), rng.normal(size=2) if train_output else None)
    fast = p._assembly.fast_loss_and_gradient(theta)
    assert fast is not None
    ev = p._assembly.evaluate(theta, FLOAT64, 1)
    loss, grad = ev.loss, ev.gradient
    assert fast[0] == loss
    np.testing.assert_array_equal(fast[1], grad)


# ---------------------------------------------------------------------------
# kinds of problem, and one problem shared by threads
# ---------------------------------------------------------------------------
def test_is_plain_names_the_plain_kind():
    V = np.eye(2)
    assert TeacherStudent("erf", V, n=2).is_plain
    assert TeacherStudent("erf", V, n=2, train_output=False).is_plain
    assert TeacherStudent("erf", V, n=2, teacher_activation="erf").is_plain  # the same activation
    assert not TeacherStudent("erf", V, n=2, bias=True).is_plain
    assert not TeacherStudent("erf", V, n=2, teacher_bias=[0.0, 0.0]).is_plain
    assert not TeacherStudent("erf", V, n=2, teacher_activation="relu").is_plain
    assert not TeacherStudent("erf", V, n=1, glus=1).is_plain
    with pytest.raises(ShapeError, match="glus"):
        TeacherStudent("erf", V, n=1, glus=1, teacher_activation="relu")
    with pytest.raises(NotImplementedError, match="gram_gradient"):
        TeacherStudent("erf", V, n=2, bias=True).gram_gradient(np.ones(6))
    with pytest.raises(ShapeError, match="gram_gradient"):
        TeacherStudent("erf", V, n=1, glus=1).gram_gradient(np.ones(9))


@pytest.mark.parametrize("name", ["erf", "relu"])
def test_one_problem_shared_by_threads_gives_the_serial_results(name):
    """Threads on one fresh float64 problem (lazy caches built concurrently) reproduce serial results bit for bit."""
    rng = np.random.default_rng(11)
    V = rng.normal(size=(3, 4))
    thetas = [rng.normal(size=3 * 4 + 3) for _ in range(12)]
    ref = TeacherStudent(name, V, n=3)
    serial = [(ref.loss(t), ref.gram_gradient(t), ref.loss_and_gradient(t)[1]) for t in thetas]
    shared = TeacherStudent(name, V, n=3)

    def work(i):
        t = thetas[i % len(thetas)]
        if i % 3 == 0:
            return i, ("loss", shared.loss(t))
        if i % 3 == 1:
            return i, ("gram", shared.gram_gradient(t))
        return i, ("grad", shared.loss_and_gradient(t)[1])

    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(work, range(8 * len(thetas))))
    for i, (kind, value) in results:
        loss, gram, grad = serial[i % len(thetas)]
        expected = {"loss": loss, "gram": gram, "grad": grad}[kind]
        np.testing.assert_array_equal(value, expected)
