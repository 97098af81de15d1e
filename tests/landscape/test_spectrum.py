"""hessian_spectrum: every eigenvalue with a rigorous error bound, checked against matrices whose
spectrum is known by construction (Q diag(lambda) Q^T with Q orthogonal at 80 digits) and against
mpmath's eigsy, an independent eigensolver."""

from __future__ import annotations

import concurrent.futures

import flint

import mpmath
import numpy as np
import pytest

from symland.errors import ShapeError
from symland.landscape.spectrum import hessian_spectrum
from symland.problems.teacher_student import TeacherStudent


def known_spectrum(eigenvalues, seed=0):
    """A symmetric matrix with the given eigenvalues (exact to ~80 digits), as an object array."""
    with mpmath.workdps(80):
        n = len(eigenvalues)
        rng = np.random.default_rng(seed)
        A = mpmath.matrix([[mpmath.mpf(float(x)) for x in row] for row in rng.normal(size=(n, n))])
        Q, _ = mpmath.qr(A)
        H = Q * mpmath.diag([mpmath.mpf(v) for v in eigenvalues]) * Q.T
        return np.array(H.tolist(), dtype=object), sorted(mpmath.mpf(v) for v in eigenvalues)


def assert_encloses(spec, truth, max_error):
    assert len(spec.values) == len(truth)
    for v, err, t in zip(spec.values, spec.errors, truth):
        assert abs(v - t) <= err, (v, t, err)
        assert err <= max_error


@pytest.mark.parametrize("seed", [0, 1])
def test_zero_tiny_and_multiple_eigenvalues_are_enclosed_to_the_requested_digits(seed):
    rng = np.random.default_rng(10 + seed)
    eig = ["0"] * 3 + ["1e-30", "-2e-25", "3.5"] * 1 + ["-1.25"] * 5 + [str(x) for x in rng.normal(size=22)]
    H, truth = known_spectrum(eig, seed)
    spec = hessian_spectrum(H, 40)
    assert_encloses(spec, truth, 1e-38)
    assert spec.largest_cluster >= 5  # the exact 5-fold eigenvalue -1.25 was treated as one cluster


def test_nearly_equal_eigenvalues_are_resolved():
    H, truth = known_spectrum(["1", "1.00000000000000000001", "-3", "0.5", "2", "7"], seed=3)
    spec = hessian_spectrum(H, 50)
    assert_encloses(spec, truth, 1e-44)
    assert spec.values[4] < spec.values[5] - mpmath.mpf("0.5e-20")


def test_agrees_with_mpmath_eigsy_on_a_relu_hessian():
    p = TeacherStudent.orthonormal("relu", k=4, n=4, train_output=True)
    rng = np.random.default_rng(0)
    theta = p.pack(np.eye(4) + 0.2 * rng.normal(size=(4, 4)), 1 + 0.1 * rng.normal(size=4))
    H = p.hessian(theta, dps=60)
    with mpmath.workdps(60):
        ref = sorted(mpmath.eigsy(mpmath.matrix(H.tolist()), eigvals_only=True))
    spec = hessian_spectrum(H, 45)
    for v, err, t in zip(spec.values, spec.errors, ref):
        assert abs(v - t) <= err + mpmath.mpf(10) ** -55
        assert err < 1e-42


def test_float64_sized_errors_when_the_matrix_is_only_given_to_float64():
    # a float64 matrix is an exact matrix: its eigenvalues are still enclosed to the digits asked
    rng = np.random.default_rng(5)
    A = rng.normal(size=(12, 12))
    Hf = (A + A.T) / 2
    H = np.array([[mpmath.mpf(float(x)) for x in row] for row in Hf], dtype=object)
    with mpmath.workdps(50):
        ref = sorted(mpmath.eigsy(mpmath.matrix(H.tolist()), eigvals_only=True))
    spec = hessian_spectrum(H, 35)
    assert_encloses(spec, ref, 1e-32)


def test_bad_input_is_refused_by_name():
    with pytest.raises(ShapeError, match="square"):
        hessian_spectrum(np.zeros((2, 3), dtype=object), 30)
    H = np.array([[mpmath.mpf(1), mpmath.mpf("nan")], [mpmath.mpf("nan"), mpmath.mpf(1)]], dtype=object)
    with pytest.raises(ShapeError, match="non-finite"):
        hessian_spectrum(H, 30)
    assert hessian_spectrum(np.zeros((0, 0), dtype=object), 30).values == []


def test_threads_give_the_serial_digits():
    H, _ = known_spectrum(["0", "0", "1", "-2", "1e-20", "4", "5", "6"], seed=7)
    serial = hessian_spectrum(H, 40)
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: hessian_spectrum(H, 40), range(8)))
    for res in results:
        assert [mpmath.nstr(v, 45) for v in res.values] == [mpmath.nstr(v, 45) for v in serial.values]
        assert res.errors == serial.errors


def test_threaded_products_give_the_serial_balls(monkeypatch):
    # FLINT's threaded matrix products are exact integer block products: the same spectrum to every digit
    import symland.landscape.spectrum as spectrum

    H, truth = known_spectrum([str(v) for v in np.linspace(-3, 4, 40)], seed=11)
    monkeypatch.setattr(spectrum, "THREADED_FROM", 10 ** 9)
    serial = hessian_spectrum(H, 40)
    monkeypatch.setattr(spectrum, "THREADED_FROM", 1)
    threaded = hessian_spectrum(H, 40)
    assert [mpmath.nstr(v, 50) for v in threaded.values] == [mpmath.nstr(v, 50) for v in serial.values]
    assert threaded.errors == serial.errors
    assert_encloses(threaded, truth, 1e-37)
    assert flint.ctx.threads == 1
