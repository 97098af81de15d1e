"""Equivariant students (progress on the equivariant-student issue): the embedded network is
G-invariant (checked on sampled inputs with the network written out), the constrained gradient and
Hessian against 40-digit central differences of the constrained loss, and symmetric criticality:
with a G-invariant teacher a constrained critical point is critical in the full space."""

from __future__ import annotations

import mpmath
import numpy as np
import pytest
from scipy.special import erf

import symland
from symland.problems.equivariant import EquivariantStudent, cyclic_group

D = 4
G = cyclic_group(D)


def _problem(train_output=True):
    v0 = np.array([1.0, 0.5, 0.0, -0.2])
    V = np.array([[v0[p[i]] for i in range(D)] for p in G])
    return symland.TeacherStudent("erf", V, np.ones(D), n=D, train_output=train_output)


def test_embedded_network_is_invariant():
    eq = EquivariantStudent(_problem(), G)
    phi = np.array([0.3, -0.4, 0.8, 0.1, 1.7])
    theta = eq.embed(phi)
    W, a = theta[:16].reshape(4, 4), theta[16:]
    X = np.random.default_rng(0).standard_normal((100, D))
    f = lambda Z: erf(Z @ W.T / np.sqrt(2)) @ a  # noqa: E731
    for p in G:
        np.testing.assert_allclose(f(X[:, list(p)]), f(X), atol=1e-13)
    # the constrained loss is the full loss at the tied weights built here by hand: row h = w shifted by h
    w = phi[:4]
    tied = np.array([[w[(i + h) % D] for i in range(D)] for h in range(D)])
    assert eq.loss(phi) == eq.problem.loss(eq.problem.pack(tied, np.full(D, phi[4])))


def test_derivatives_against_central_differences():
    eq = EquivariantStudent(_problem(), G)
    phi = [mpmath.mpf(v) for v in ("0.3", "-0.4", "0.8", "0.1", "1.7")]
    g, H = eq.gradient(np.array(phi, dtype=object), dps=40), eq.hessian(np.array(phi, dtype=object), dps=40)
    with mpmath.workdps(60):
        h = mpmath.mpf("1e-15")
        for j in range(5):
            up, dn = list(phi), list(phi)
            up[j] += h
            dn[j] -= h
            fd = (eq.loss(np.array(up, dtype=object), dps=50) - eq.loss(np.array(dn, dtype=object), dps=50)) / (2 * h)
            assert abs(fd - g[j]) < mpmath.mpf(10) ** -25
            col = (eq.gradient(np.array(up, dtype=object), dps=50) - eq.gradient(np.array(dn, dtype=object), dps=50)) / (2 * h)
            assert max(abs(col[i] - H[i, j]) for i in range(5)) < mpmath.mpf(10) ** -25


def test_symmetric_criticality():
    p = _problem(train_output=False)
    eq = EquivariantStudent(p, G)
    res = symland.minimize(eq, np.array([0.2, 0.9, -0.3, 0.4]))
    cp = symland.refine(eq, res.theta, dps=40)
    with mpmath.workdps(50):
        full_grad = p.gradient(eq.embed(cp.theta), dps=40)
        assert max(abs(v) for v in full_grad) < mpmath.mpf(10) ** -35


def test_refusals():
    p = _problem()
    with pytest.raises(symland.DomainError, match="closed"):
        EquivariantStudent(p, [(0, 1, 2, 3), (1, 2, 3, 0)])
    with pytest.raises(symland.ShapeError, match="multiple"):
        EquivariantStudent(symland.TeacherStudent("erf", np.eye(4), n=3), G)


def test_smallest_case_by_hand():
    """d = 2, the swap group, linear activation, one orbit with output 1, teacher orbit of (1, 0):
    f(x) = w.x + (Pw).x = (w1 + w2)(x1 + x2) and f*(x) = x1 + x2, so
    L_G(w) = 1/2 E[((w1 + w2 - 1)(x1 + x2))^2] = (w1 + w2 - 1)^2 (E[(x1 + x2)^2] = 2)."""
    swap = [(0, 1), (1, 0)]
    p = symland.TeacherStudent("linear", np.array([[1.0, 0.0], [0.0, 1.0]]), np.ones(2), n=2, train_output=False)
    eq = EquivariantStudent(p, swap)
    for w in ([0.3, -0.2], [1.5, 0.25], [0.0, 0.0]):
        assert abs(eq.loss(np.array(w)) - (w[0] + w[1] - 1) ** 2) < 1e-14
        np.testing.assert_allclose(eq.gradient(np.array(w)), [2 * (w[0] + w[1] - 1)] * 2, atol=1e-14)
        np.testing.assert_allclose(eq.hessian(np.array(w)), [[2, 2], [2, 2]], atol=1e-14)
