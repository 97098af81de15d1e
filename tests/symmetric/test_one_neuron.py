"""One neuron (n = 1): closed-form critical points in the symmetric subspace, checked independently.

References: full-space Newton refinement (TeacherStudent + refine) from a perturbed start,
a relu output weight from 1-D quadrature of the Gaussian with the textbook inner expectation
E[relu(mu + sigma y)] = mu Phi(mu/sigma) + sigma phi(mu/sigma), and a multi-start survey.
"""

import mpmath
import pytest
import sympy
from conftest import full_run

from symland.kernels.registry import activation, known_activations
from symland.errors import NoClosedFormError
from symland.symmetric.one_neuron import one_neuron, refine_agreement, symmetric_survey


@pytest.mark.parametrize("k", [2, 3])
def test_erf_closed_form_and_refine(k):
    res = one_neuron("erf", k, dps=40)
    (p,) = res.points
    assert p.critical == "exact"
    assert p.g_exact == 1 / sympy.sqrt(k * (2 * k - 1)) and p.a_exact == k
    diff, cp = refine_agreement("erf", k, p, dps=40)
    assert diff < mpmath.mpf(10) ** -35
    assert abs(cp.loss - p.loss) < mpmath.mpf(10) ** -35
    assert cp.kind == "minimum"


def test_relu_closed_form_against_quadrature():
    k = 3
    res = one_neuron("relu", k, dps=30)
    assert [p.critical for p in res.points] == ["exact", "exact"]
    pos = [p for p in res.points if p.g > 0][0]
    with mpmath.workdps(30):
        rho = 1 / mpmath.sqrt(k)
        sig = mpmath.sqrt(1 - rho**2)
        inner = lambda x: (rho * x * mpmath.ncdf(rho * x / sig) + sig * mpmath.npdf(rho * x / sig))  # noqa: E731
        cross = mpmath.quad(lambda x: x * inner(x) * mpmath.npdf(x), [0, mpmath.inf])
        # E[relu(u)^2] = 1/2 for u ~ N(0, 1); normal equation for a with a unit-norm direction
        a_ref = k * cross / mpmath.mpf("0.5")
        assert abs(pos.a - a_ref) < mpmath.mpf(10) ** -20
    diff, cp = refine_agreement("relu", k, pos, dps=30)
    assert diff < mpmath.mpf(10) ** -25 and cp.kind == "minimum"
    neg = [p for p in res.points if p.g < 0][0]
    diff, cp = refine_agreement("relu", k, neg, dps=30)
    assert diff < mpmath.mpf(10) ** -25 and cp.index > 0


def _closed_form_names():
    return [n for n in known_activations() if activation(n).has_closed_form]


@pytest.mark.slow
def test_every_closed_form_activation():
    names = _closed_form_names() if full_run() else ["sign"]
    unsolved = []
    for name in names:
        # k = 3: at k = 2 sign has a degenerate critical line (asin(cos t) + asin(sin t) = pi/2)
        res = one_neuron(name, 3, dps=30)
        if not res.points:
            unsolved.append(name)
            continue
        assert all(p.critical == "exact" for p in res.points), name
        assert all(p.g_exact is not None for p in res.points), name
        best = res.points[0]
        diff, cp = refine_agreement(name, 3, best, dps=30)
        if name == "quadratic":
            # f* = |x|^2 is rotation invariant: L = 1/2 [(a|w|^2 - k)^2 + 2 ((a|w|^2)^2 - 2a|w|^2 + k)]
            # (Isserlis), critical for every direction with a|w|^2 = (k + 2)/3; refine may land anywhere on it
            with mpmath.workdps(30):
                w, a = cp.theta[:3], cp.theta[3]
                assert abs(a * mpmath.fsum(x * x for x in w) - mpmath.mpf(5) / 3) < mpmath.mpf(10) ** -25
                assert cp.kind == "degenerate" and abs(cp.loss - best.loss) < mpmath.mpf(10) ** -25
            continue
        assert diff < mpmath.mpf(10) ** -20, name
    # gelu: L(g, a(g)) decreases monotonically in g on the scanned range (relu limit as g -> inf)
    assert set(unsolved) <= {"gelu"}


def test_closed_forms_of_periodic_and_gaussian_activations():
    # found by recognition (rational g^2), a exact from the linear equation, proven by the exact gradient
    (p,) = one_neuron("cos", 3, dps=30).points
    assert p.g_exact == sympy.Rational(1, 3) and sympy.simplify(p.a_exact - 3 * sympy.exp(-sympy.Rational(1, 3))) == 0
    diff, _ = refine_agreement("cos", 3, p, dps=30)
    assert diff < mpmath.mpf(10) ** -25


def test_survey_points_are_symmetric():
    n_starts = 30 if full_run() else 3
    s = symmetric_survey("erf", 3, starts=n_starts, dps=30)
    assert s.asymmetric == 0
    assert s.symmetric >= 1
    assert "symmetric" in s.table()


def test_bad_input():
    with pytest.raises(NoClosedFormError):
        one_neuron("tanh", 3)
    with pytest.raises(Exception, match="k must be a positive integer"):
        one_neuron("erf", 0)
