"""Splitting lines: criticality along the line and the Hessian there, against the full
n-neuron Hessian (computed by the ordinary assembly, independently of the splitting formulas)."""

import mpmath
import numpy as np
import pytest

from symland.landscape.critical import minimize, refine
from symland.errors import DomainError, ShapeError
from symland.problems.teacher_student import TeacherStudent
from symland.channels.splitting import splitting_line

mpf = mpmath.mpf
LAMBDAS = ["-0.5", "0", "0.3", "0.5", "1", "1.7"]


@pytest.fixture(scope="module")
def erf_n1():
    """erf, orthonormal k = 2, n = 1: the symmetric minimum w = beta (e1 + e2), a = alpha."""
    base = TeacherStudent.orthonormal("erf", k=2, n=1)
    start = minimize(base, base.pack([[0.5, 0.5]], [1.0]))
    cp = refine(base, start.theta, dps=60)
    assert cp.kind == "minimum"
    return base, cp, splitting_line(base, cp.theta, neuron=0, dps=40)


_CASES = {
    # (activation, k, n, start W, neuron, expected segment (index, nullity) on the five pieces)
    "relu_k2_n1": ("relu", 2, 1, [[0.5, 0.5]], 0, [(0, 3), (0, 4), (1, 3), (0, 4), (0, 3)]),
    "erf_k3_n2": ("erf", 3, 2, [[0.9, 0.1, 0.0], [0.1, 0.5, 0.6]], 1, [(0, 3), (0, 4), (1, 3), (0, 4), (0, 3)]),
}


@pytest.fixture(scope="module", params=["erf_k2_n1", "relu_k2_n1", "erf_k3_n2"])
def case(request, erf_n1):
    """A splitting line and its expected segments (relu: the rescaling mode adds one zero)."""
    if request.param == "erf_k2_n1":
        return erf_n1[2], [(0, 2), (0, 3), (1, 2), (0, 3), (0, 2)]
    act, k, n, W0, neuron, segs = _CASES[request.param]
    base = TeacherStudent.orthonormal(act, k=k, n=n)
    start = minimize(base, base.pack(W0, np.ones(n)))
    cp = refine(base, start.theta, dps=60)
    assert cp.kind == "minimum"
    return splitting_line(base, cp.theta, neuron=neuron, dps=40), segs


def _mp_norm(v):
    return mpmath.sqrt(mpmath.fsum(x * x for x in v))


def test_line_points_are_critical(erf_n1):
    base, cp, line = erf_n1
    P = line.problem
    assert P.n == 2 and P.num_params == 6
    for lam in LAMBDAS:
        th = line.theta(lam, dps=50)
        # the split network computes the same function: same loss as the base point
        assert abs(P.loss(th, dps=50) - cp.loss) < mpf(10) ** -45
        assert _mp_norm(P.gradient(th, dps=50)) < mpf(10) ** -40, lam
    params = P.unpack(line.theta("0.3"))
    W, a = params.W, params.a
    assert np.allclose(W[0], W[1]) and np.allclose(a, [0.3 * float(line.a), 0.7 * float(line.a)])


def test_difference_block_and_flat_direction(case):
    """Q^T H Q = lam (1 - lam) a M and H dtheta/dlam = 0, H the full n-neuron Hessian at 40 digits."""
    line, _ = case
    P = line.problem
    for lam in LAMBDAS:
        with mpmath.workdps(40):
            H = P.hessian(line.theta(lam, dps=40), dps=40)
            Q = line.difference_basis(lam)
            R = Q.T @ H @ Q - line.difference_hessian(lam)
            flat = H @ line.direction(lam, dps=40)
            scale = max(abs(x) for x in H.ravel())
        assert max(abs(x) for x in R.ravel()) < mpf(10) ** -30 * scale, lam
        assert max(abs(x) for x in flat) < mpf(10) ** -30 * scale, lam
    # the block is not trivially zero: a M has a negative eigenvalue here
    assert line.aM_eigenvalues[0] < mpf("-0.1")


def test_inertia_matches_full_hessian(case):
    """Predicted (index, nullity) from Sylvester's law equal the counts of the full spectrum,
    and the segments are those expected."""
    line, segs = case
    assert [(s.index, s.nullity) for s in line.segments()] == segs
    P = line.problem
    for lam in LAMBDAS:
        with mpmath.workdps(40):
            H = P.hessian(line.theta(lam, dps=40), dps=40)
            ev = mpmath.eigsy(mpmath.matrix(H.tolist()), eigvals_only=True)
        index = sum(1 for v in ev if v < -mpf(10) ** -25)
        nullity = sum(1 for v in ev if abs(v) <= mpf(10) ** -25)
        assert line.inertia(lam) == (index, nullity), (lam, [mpmath.nstr(v, 5) for v in ev])
        # and the non-zero eigenvalues are well separated from the threshold
        assert all(abs(v) > mpf("1e-3") or abs(v) < mpf(10) ** -35 for v in ev)


def test_segments_erf_n1_to_n2(erf_n1):
    """A minimum of n = 1 splits into a line that is a saddle inside (0, 1) (a M < 0 in one
    direction) and positive semi-definite outside and at the end points."""
    _, _, line = erf_n1
    seg = line.segments()
    assert [(s.index, s.nullity, s.kind) for s in seg] == [
        (0, 2, "positive semi-definite"),
        (0, 3, "positive semi-definite"),
        (1, 2, "indefinite"),
        (0, 3, "positive semi-definite"),
        (0, 2, "positive semi-definite"),
    ]
    assert "0 < lambda < 1: index 1, nullity 2, indefinite" in line.table()


def test_bad_input(erf_n1):
    base, cp, _ = erf_n1
    with pytest.raises(DomainError, match="not a critical point"):
        splitting_line(base, base.pack([[0.3, 0.1]], [1.0]), neuron=0)
    with pytest.raises(ShapeError, match="neuron"):
        splitting_line(base, cp.theta, neuron=1)
    with pytest.raises(ShapeError, match="train_output"):
        fixed = TeacherStudent.orthonormal("erf", k=2, n=1, train_output=False)
        splitting_line(fixed, np.array([0.5, 0.5]), neuron=0)
    with pytest.raises(ShapeError, match="GLU"):
        g = TeacherStudent.orthonormal("erf", k=2, n=1, glus=1)
        splitting_line(g, np.zeros(g.num_params), neuron=0)
    zero = TeacherStudent.orthonormal("erf", k=1, n=2)
    th = zero.pack([[1.0], [0.5]], [1.0, 0.0])  # exact fit with a dead second neuron: critical
    with pytest.raises(DomainError, match="a = 0"):
        splitting_line(zero, th, neuron=1)
