"""Ball enclosures of problems with GLU units, and the problems that are refused.

Independent references: the loss by a 2-D Gauss-Hermite rule on the network itself (d = 2); gradients and Hessians by
60-digit central finite differences of the mpmath loss; the mpmath assembly at 60 digits (another
precision member and other compiled functions than the balls); mpmath ``eigsy`` for the spectrum
of the certified GLU minimum."""

from __future__ import annotations

import mpmath
import numpy as np
import pytest

import flint
import symland
from symland.problems.enclosure import enclose, midpoint_evaluation


def _overlaps(ball, value):
    return ball.overlaps(flint.arb(mpmath.nstr(value, 70)))


def glu_network_loss_by_quadrature(problem, theta, nodes=120):
    r"""$\tfrac12 E[(f - f^*)^2]$ for d = 2 by a tensor Gauss-Hermite rule (probabilists' weights) on the
    network written out by hand: $f(x) = \sum_i a_i s(w_i x) + \sum_j c_j s(w_j x) + (v_j x) s'(w_j x)$,
    s(z) = erf(z/sqrt 2); the integrand is smooth, so the rule converges to float64 accuracy."""
    from scipy.special import erf

    P = problem.unpack(np.array([float(v) for v in theta]))
    t, wt = np.polynomial.hermite_e.hermegauss(nodes)
    X = np.stack(np.meshgrid(t, t, indexing="ij"), axis=-1).reshape(-1, 2)
    weight = np.outer(wt, wt).ravel() / (2 * np.pi)
    s = lambda z: erf(z / np.sqrt(2))  # noqa: E731
    ds = lambda z: np.sqrt(2 / np.pi) * np.exp(-z * z / 2)  # noqa: E731
    f = sum(a * s(X @ w) for a, w in zip(P.a, P.W))
    f = f + sum(c * s(X @ w) + (X @ v) * ds(X @ w) for c, w, v in zip(P.glu_c, P.glu_w, P.glu_v))
    f = f - sum(s(X @ v) for v in problem.teacher_weights)
    return float(np.sum(weight * f * f) / 2)


@pytest.mark.parametrize("act", ["erf", "relu"])
def test_glu_enclosures_contain_the_mpmath_values_and_are_narrow(act):
    p = symland.TeacherStudent.orthonormal(act, k=2, n=1, glus=1)
    theta = np.array([0.7, -0.2, 1.1, 0.4, 0.9, 0.3, -0.5, 0.6])
    ev = enclose(p, theta, dps=50)
    with mpmath.workdps(60):
        L, g, H = p.loss(theta, dps=60), p.gradient(theta, dps=60), p.hessian(theta, dps=60)
    assert _overlaps(ev.loss, L) and float(ev.loss.rad()) < 1e-48
    for b, x in zip(list(ev.gradient) + list(ev.hessian.ravel()), list(g) + list(H.ravel())):
        assert _overlaps(b, x) and float(b.rad()) < 1e-45 * max(1.0, abs(float(x)))
    # the gradient against central differences of the 60-digit loss (step 1e-20: error ~1e-40)
    with mpmath.workdps(70):
        h = mpmath.mpf(10) ** -20
        th = [mpmath.mpf(v) for v in theta]
        for i in (0, 3, 5, 7):
            up, dn = list(th), list(th)
            up[i] += h
            dn[i] -= h
            fd = (p.loss(np.array(up, dtype=object), dps=65) - p.loss(np.array(dn, dtype=object), dps=65)) / (2 * h)
            assert abs(mpmath.mpf(ev.gradient[i].mid().str(60, radius=False)) - fd) < mpmath.mpf(10) ** -35


def test_erf_glu_loss_against_quadrature_of_the_network():
    p = symland.TeacherStudent.orthonormal("erf", k=2, n=1, glus=1)
    theta = np.array([0.7, -0.2, 1.1, 0.4, 0.9, 0.3, -0.5, 0.6])
    ev = enclose(p, theta, dps=30, order=0)
    quad = glu_network_loss_by_quadrature(p, theta)
    assert abs(float(ev.loss.mid()) - quad) < 1e-13


def test_a_box_contains_its_midpoints_enclosure():
    p = symland.TeacherStudent.orthonormal("erf", k=2, n=1, glus=1)
    theta = [0.7, -0.2, 1.1, 0.4, 0.9, 0.3, -0.5, 0.6]
    point = enclose(p, theta, dps=40)
    box = enclose(p, [(v, 1e-8) for v in theta], dps=40)
    assert box.loss.contains(point.loss)
    assert all(b.contains(q) for b, q in zip(box.hessian.ravel(), point.hessian.ravel()))
    assert 1e-12 < float(box.loss.rad()) < 1e-5


def test_refusals_name_the_reason():
    with pytest.raises(symland.NoClosedFormError, match="Owen's T"):
        enclose(symland.TeacherStudent.orthonormal("relu", 2, 2, bias=True), np.ones(8) * 0.3, dps=30)
    with pytest.raises(symland.NoClosedFormError, match="no ball enclosure|quadrature"):
        enclose(symland.TeacherStudent.orthonormal("tanh", 2, 1, glus=1), np.ones(8) * 0.3, dps=30)
    # where no enclosure carries the digits (no ball form), the midpoint evaluation says so
    assert midpoint_evaluation(symland.TeacherStudent.orthonormal("relu", 2, 2, bias=True),
                               np.ones(8) * 0.3, 30, 1) is None


def test_an_erf_glu_minimum_is_certified():
    # one erf neuron and one GLU unit against three orthonormal erf teachers: the neuron takes
    # teacher 3 (a s(-x3) with a = -1, erf is odd) and the GLU c s(w.x) + (v.x) s'(w.x) with c = 0,
    # w = (1, -1, 0)/sqrt 6, v = 2 (1, 1, 0)/sqrt 6 the other two (found by minimize from random
    # starts; certify refines it from these float64 values)
    p = symland.TeacherStudent.orthonormal("erf", k=3, n=1, glus=1)
    r6 = 1 / np.sqrt(6)
    theta = np.array([0, 0, -1, -1, 0, r6, -r6, 0, 2 * r6, 2 * r6, 0])
    cert = symland.certify(p, theta, dps=40)
    assert cert.certified and cert.kind == "minimum" and cert.index == 0 and cert.nullity == 0
    with mpmath.workdps(50):
        H = p.hessian(cert.center, dps=50)
        lam = sorted(mpmath.eigsy(mpmath.matrix(H.tolist()), eigvals_only=True))
        assert lam[0] > 1e-4
        lo, hi = cert.to_dict()["lambda_min"]
        assert mpmath.mpf(lo) <= lam[0] <= mpmath.mpf(hi)
        loss = p.loss(cert.center, dps=50)
        lo, hi = cert.loss_interval(35)
        assert mpmath.mpf(lo) <= loss <= mpmath.mpf(hi)


def test_a_relu_glu_minimum_is_certified_modulo_its_gauges():
    # a relu GLU unit against two orthonormal relu teachers (trained outputs): every critical point
    # lies on a 2-dimensional gauge orbit (rescaling (t^-1 c, t w, v) and shift (c - b, v + b w)), so
    # certify works on the slice with w_jm and v_jm frozen (start: minimize from a seeded random point)
    p = symland.TeacherStudent.orthonormal("relu", k=2, n=0, glus=1)
    start = np.array([1.262558, 0.85847, 0.85847, -0.015559, -0.015559])
    cert = symland.certify(p, start, dps=40, max_move=1e-5)
    assert cert.certified and cert.kind == "minimum" and cert.index == 0 and cert.nullity == 2
    assert cert.symmetry["glu_gauge"] == [0] and "GLU units [0]" in str(cert)
    with mpmath.workdps(50):
        H = p.hessian(cert.center, dps=50)
        lam = sorted(mpmath.eigsy(mpmath.matrix(H.tolist()), eigvals_only=True), key=abs)
        assert all(abs(v) < 1e-30 for v in lam[:2]) and all(v > 1e-3 for v in lam[2:])
        loss = p.loss(cert.center, dps=50)
        lo, hi = (mpmath.mpf(v) for v in cert.loss_interval(35))
        assert lo <= loss <= hi
    # at this minimum v is parallel to w (v = beta w), so the GLU computes (c + beta) relu(w.x): one relu
    # neuron; the certified loss equals the one-neuron minimum of the same teacher (another assembly:
    # plain neurons, no GLU terms)
    neuron = symland.TeacherStudent.orthonormal("relu", k=2, n=1)
    other = symland.certify(neuron, symland.minimize(neuron, np.array([0.5, 0.4, 1.0])).theta, dps=40)
    with mpmath.workdps(50):
        assert abs(mpmath.mpf(other.loss_interval(35)[0]) - lo) < mpmath.mpf(10) ** -33
