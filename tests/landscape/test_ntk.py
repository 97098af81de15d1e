"""NTK order parameters in closed form against Monte Carlo over inputs with the Jacobian of the
sampled network taken by central finite differences (no symland code in the reference): trace
E[Theta(x, x)], E[Theta(x, x')^2] and the alignment numerators E[Theta g g] for g = f* and f - f*,
for erf and sin students with trained and with fixed output weights; and the 30-digit values equal
the float64 ones."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.special import erf

import symland
from symland.landscape.ntk import gauss_newton_matrix, ntk_order_parameters

ACTS = {"erf": lambda z: erf(z / math.sqrt(2)), "sin": np.sin}
N = 60000


def _network(act, theta, X, n, d, a_fixed):
    W = theta[:n * d].reshape(n, d)
    a = theta[n * d:] if a_fixed is None else a_fixed
    return ACTS[act](X @ W.T) @ a


@pytest.mark.parametrize("act", ["erf", "sin"])
@pytest.mark.parametrize("train_output", [True, False])
def test_against_monte_carlo_with_finite_difference_jacobians(act, train_output):
    n, k, d = 2, 3, 3
    p = symland.TeacherStudent.orthonormal(act, k, n, d=d, train_output=train_output)
    rng = np.random.default_rng(5)
    W = rng.normal(0, 0.6, (n, d))
    theta = p.pack(W, rng.normal(size=n)) if train_output else p.pack(W)
    a_fixed = None if train_output else np.ones(n)
    o = ntk_order_parameters(p, theta)
    X, Xp = rng.standard_normal((N, d)), rng.standard_normal((N, d))
    h = 1e-6
    P = len(theta)

    def phi(Z):
        return np.stack([(_network(act, theta + h * e, Z, n, d, a_fixed) - _network(act, theta - h * e, Z, n, d,
                                                                                      a_fixed)) / (2 * h)
                         for e in np.eye(P)], axis=1)

    P1, P2 = phi(X), phi(Xp)
    tr, cross = (P1 * P1).sum(1), (P1 * P2).sum(1)

    def close(samples, value):
        return abs(samples.mean() - value) < 5 * samples.std() / math.sqrt(N) + 1e-9

    assert close(tr, o.trace)
    assert close(cross ** 2, o.frobenius ** 2)
    target = lambda Z: ACTS[act](Z[:, :k]).sum(1)  # noqa: E731  orthonormal teacher, b = 1
    g, gp = target(X), target(Xp)
    assert close(cross * g * gp, o.target_alignment * o.frobenius * float(np.mean(g * g)))
    r, rp = _network(act, theta, X, n, d, a_fixed) - g, _network(act, theta, Xp, n, d, a_fixed) - gp
    assert close(cross * r * rp, o.residual_alignment * o.frobenius * 2 * p.loss(theta))
    # the top eigenvalues are those of E[phi phi^T], estimated from the samples
    emp = np.sort(np.linalg.eigvalsh(P1.T @ P1 / N))[::-1]
    assert abs(emp[0] - o.eigenvalues[0]) < 0.05 * o.eigenvalues[0]


def test_high_precision_equals_float64():
    p = symland.TeacherStudent.orthonormal("erf", 2, 2)
    theta = p.pack(np.array([[0.7, 0.1], [-0.2, 0.9]]), np.array([1.1, 0.6]))
    f, m = ntk_order_parameters(p, theta), ntk_order_parameters(p, theta, dps=30)
    for a, b in ((f.trace, m.trace), (f.frobenius, m.frobenius), (f.target_alignment, m.target_alignment),
                 (f.residual_alignment, m.residual_alignment)):
        assert abs(a - float(b)) < 1e-12 * max(1, abs(a))
    G = np.array(gauss_newton_matrix(p, theta), dtype=float)
    assert np.allclose(G, G.T, atol=1e-14) and np.min(np.linalg.eigvalsh(G)) > -1e-14


def test_refusals():
    p = symland.TeacherStudent("erf", np.eye(2), n=1, bias=True)
    with pytest.raises(symland.ShapeError, match="plain"):
        ntk_order_parameters(p, np.zeros(p.num_params) + 0.3)
