"""Certified critical points (Krawczyk + Sylvester/Gershgorin on python-flint balls).

Independent references: the exact copy-average losses (SymPy closed forms of the reduced
problem, evaluated to 60 digits); the Hessian spectrum from the 40-digit mpmath Hessian and
``mpmath.eigsy`` (a different precision member and eigen-solver than the certificate's
Gershgorin bounds); the loss at the centre from the 60-digit mpmath assembly.  The relu start is
the S_5 x S_1 spurious minimum of Safran & Shamir's k = n = 6 setting (fixed output weights 1),
given to 22 digits (what ``symmetric_critical_points("relu", 6, isotropy="S_{k-1}xS_1")``
finds); certify refines it and proves it.
"""

import json

import mpmath
import numpy as np
import pytest
import sympy

import symland
from symland.numerics.ball import ball_precision

import flint  # noqa: E402  (a runtime dependency)


@pytest.fixture(scope="module")
def erf_copy_average():
    res = symland.copy_average("erf", 4, 2)
    return symland.TeacherStudent.orthonormal("erf", 4, 2), {c.partition: c for c in res.configurations}


def _mp_spectrum(problem, theta):
    with mpmath.workdps(40):
        H = problem.hessian(theta, dps=40)
        return sorted(mpmath.eigsy(mpmath.matrix(H.tolist()), eigvals_only=True))


def _in_interval(value, interval):
    lo, hi = interval
    with mpmath.workdps(80):
        return mpmath.mpf(lo) <= value <= mpmath.mpf(hi)


def _check_against_references(problem, cert, index, exact_loss=None):
    assert cert.certified and cert.status == "certified" and bool(cert)
    assert cert.index == index and cert.nullity == 0
    assert cert.kind == ("minimum" if index == 0 else "saddle")
    assert 0 < cert.radius <= 1e-20 and cert.contraction < 1
    lam = _mp_spectrum(problem, cert.center)
    assert sum(1 for v in lam if v < 0) == index and min(abs(v) for v in lam) > 1e-6
    assert cert.min_abs_eigenvalue <= min(abs(v) for v in lam)
    lo, hi = cert.to_dict()["lambda_min"]
    with mpmath.workdps(40):
        assert mpmath.mpf(lo) <= lam[0] <= mpmath.mpf(hi) and mpmath.mpf(hi) - mpmath.mpf(lo) < 1e-9
    with mpmath.workdps(70):
        centre_loss = problem.loss(cert.center, dps=60)
        assert _in_interval(centre_loss, cert.loss_interval(45))
        if exact_loss is not None:
            assert _in_interval(sympy.N(exact_loss, 70), cert.loss_interval(45))
        lo, hi = cert.loss_interval(45)
        assert mpmath.mpf(hi) - mpmath.mpf(lo) < mpmath.mpf(10) ** -40


def test_erf_copy_average_minimum_and_index_2_saddle(erf_copy_average):
    problem, configs = erf_copy_average
    minimum, saddle = configs[(3, 1)], configs[(2, 2)]
    cert = symland.certify(problem, minimum.theta, dps=50)
    _check_against_references(problem, cert, 0, minimum.loss_exact)
    cert = symland.certify(problem, saddle.theta, dps=50)
    _check_against_references(problem, cert, 2, saddle.loss_exact)
    out = json.loads(json.dumps(cert.to_dict()))
    assert out["index"] == 2 and out["certified"] and len(out["loss"]) == 2


def _relu_spurious_minimum():
    A, B, C = "0.9867038188885768335012", "-0.05041340321680874009269", "0.3080109914790687408725"
    D, E = "0.224515807599477895673", "-0.6015119235610937309389"
    W = [[A if i == j else B for j in range(5)] + [C] for i in range(5)] + [[D] * 5 + [E]]
    return [mpmath.mpf(v) for row in W for v in row]


def test_relu_spurious_minimum_with_fixed_outputs():
    problem = symland.TeacherStudent.orthonormal("relu", 6, 6, train_output=False)
    cert = symland.certify(problem, _relu_spurious_minimum(), dps=50)
    _check_against_references(problem, cert, 0)
    # the loss of the spurious minimum is positive (not a global minimum): the enclosure excludes 0
    with mpmath.workdps(40):
        assert mpmath.mpf(cert.loss_interval(30)[0]) > mpmath.mpf("0.025")


def test_refusals(erf_copy_average):
    problem, configs = erf_copy_average
    theta = np.array([float(v) for v in configs[(3, 1)].theta])
    moved = theta.copy()
    moved[0] += 1e-5
    cert = symland.certify(problem, moved, dps=30)
    assert not cert and cert.status == "not critical" and "moved" in cert.reason
    assert 0.9e-5 < cert.evidence["refinement_move"] < 1.1e-5
    cert = symland.certify(problem, moved, dps=30, refine_point=False)
    assert not cert and cert.status == "failed" and "Krawczyk" in cert.reason
    # duplicated neurons: student 1 split into two copies with outputs t and 1 - t, a line of critical points
    W, a = theta[:8].reshape(2, 4), theta[8:]
    p3 = symland.TeacherStudent.orthonormal("erf", 4, 3)
    cert = symland.certify(p3, p3.pack(np.vstack([W, W[1]]), np.array([a[0], 0.3 * a[1], 0.7 * a[1]])), dps=30)
    assert not cert and cert.status == "degenerate" and cert.nullity >= 1
    assert "degenerate, nullity" in cert.reason and cert.evidence["zero_modes_explained_by_symmetry"]
    # relu student exactly on its teacher (the global minimum): the ball Hessian is singular there
    relu = symland.TeacherStudent.orthonormal("relu", 2, 2, train_output=False)
    cert = symland.certify(relu, np.eye(2).ravel(), dps=30)
    assert not cert and cert.status == "failed" and "aligned" in cert.reason
    # no arb form: a quadrature activation
    with pytest.raises(symland.NoClosedFormError, match="no ball enclosure"):
        symland.certify(symland.TeacherStudent.orthonormal("tanh", 2, 2), np.ones(6) * 0.5)


def test_a_given_centre_and_a_larger_ball(erf_copy_average):
    problem, configs = erf_copy_average
    minimum = configs[(3, 1)]
    cert = symland.certify(problem, minimum.theta, dps=40, refine_point=False, radius=1e-8)
    assert cert.certified and cert.radius == 1e-8 and cert.index == 0
    # a ball of radius 1e-8 around a critical point: the loss is known to about r^2 ||H|| ~ 1e-16
    assert _in_interval(sympy.N(minimum.loss_exact, 70), cert.loss_interval(30))
    with mpmath.workdps(40):
        lo, hi = (mpmath.mpf(v) for v in cert.loss_interval(30))
        assert 1e-20 < hi - lo < 1e-12
    with pytest.raises(symland.DomainError, match="radius"):
        symland.certify(problem, minimum.theta, radius=-1.0)


def test_relu_with_trained_outputs_is_certified_modulo_rescaling():
    # one relu student, two orthonormal teachers, trained output weight: every critical point lies on a
    # rescaling orbit (w, a) -> (t w, a / t), so the full Hessian is singular; certify works on the slice
    problem = symland.TeacherStudent.orthonormal("relu", 2, 1, train_output=True)
    start = symland.minimize(problem, problem.pack(np.array([[0.5, 0.4]]), np.array([1.0]))).theta
    cert = symland.certify(problem, start, dps=40)
    assert cert.certified and cert.kind == "minimum" and cert.index == 0 and cert.nullity == 1
    assert cert.symmetry["rescaling"] == [0] and "reduced coordinates" in str(cert)
    # independent: the full 40-digit Hessian has exactly one zero eigenvalue (the orbit) and the slice
    # Hessian (a frozen) has the certified smallest eigenvalue
    lam = _mp_spectrum(problem, cert.center)
    assert sum(1 for v in lam if abs(v) < 1e-25) == 1 and sum(1 for v in lam if v > 1e-6) == 2
    with mpmath.workdps(40):
        H = problem.hessian(cert.center, dps=40)
        slice_lam = sorted(mpmath.eigsy(mpmath.matrix(H[:2, :2].tolist()), eigvals_only=True))
        lo, hi = cert.to_dict()["lambda_min"]
        assert mpmath.mpf(lo) <= slice_lam[0] <= mpmath.mpf(hi)
    # the orbit direction is a null vector: H (w, -a) = 0 at the centre, to the digits of the centre
    with mpmath.workdps(40):
        w, a = cert.center[:2], cert.center[2]
        xi = mpmath.matrix([w[0], w[1], -a])
        assert mpmath.norm(mpmath.matrix(H.tolist()) * xi) < mpmath.mpf(10) ** -30
        centre_loss = problem.loss(cert.center, dps=60)
        assert _in_interval(centre_loss, cert.loss_interval(35))


def test_problem_enclose_delegates_and_contains_the_mpmath_values():
    problem = symland.TeacherStudent.orthonormal("erf", 3, 2)
    theta = problem.pack(np.array([[0.7, 0.2, -0.1], [0.1, 0.5, 0.6]]), np.array([1.2, 0.8]))
    ev = problem.enclose(theta, dps=40)
    with mpmath.workdps(60):
        H = problem.hessian(theta, dps=60)
        g = problem.gradient(theta, dps=60)
        loss = problem.loss(theta, dps=60)
    # reference balls parsed at 80 digits (outside a precision block python-flint parses at 53 bits,
    # which would make the overlap a 1e-16 check)
    with ball_precision(80):
        assert ev.loss.overlaps(flint.arb(mpmath.nstr(loss, 60), 1e-58))
        for x, b in zip(list(g) + list(H.ravel()), list(ev.gradient) + list(ev.hessian.ravel())):
            assert b.overlaps(flint.arb(mpmath.nstr(x, 60), 1e-58)) and b.rad() < 1e-38
