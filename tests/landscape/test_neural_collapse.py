"""Deep neural collapse against low-rank points (symland.landscape.neural_collapse).

Independent references: the DNC loss from the one-dimensional reduction f(m) evaluated by hand
here (not through the package), the refined points' losses by the naive sample-by-sample loss of
tests/deep_ufm_reference.py, and the gradient of the full model at the refined points.
"""

import mpmath
import numpy as np
import pytest
import sympy

import symland
from symland import DeepUFM, collapse_report, low_rank_point
from symland.errors import DomainError
from deep_ufm_reference import naive_loss as _naive_loss


def _f_dnc_ce_linear(K, L, lam, dps=40):
    """min over m of log(1 + (K-1)e^-m) + (L+1)/2 C m^(2/(L+1)), C = (lam^(L+1) prod n_i)^(1/(L+1)),
    n_H = N(K-1) (N = 1), n_W = K - 1 (the simplex frame): the DNC loss by hand."""
    with mpmath.workdps(dps + 10):
        C = mpmath.root(mpmath.mpf(lam) ** (L + 1) * (K - 1) ** (L + 1), L + 1)
        f = lambda m: mpmath.log(1 + (K - 1) * mpmath.exp(-m)) + (L + 1) * C * m ** (mpmath.mpf(2) / (L + 1)) / 2  # noqa: E731
        m = mpmath.findroot(lambda m: mpmath.diff(f, m), 5)
        return f(m)


def test_linear_cross_entropy_low_rank_beats_dnc_beyond_two_layers():
    p = DeepUFM(4, 1, 3, loss="ce", lambda_H=sympy.Rational(1, 100), lambda_W=sympy.Rational(1, 100))
    r = collapse_report(p, dps=30, starts=6, seed=0)
    with mpmath.workdps(40):
        assert abs(r.dnc.loss - _f_dnc_ce_linear(4, 3, mpmath.mpf(1) / 100)) < mpmath.mpf(10) ** -25
    assert r.dnc.kind == "minimum" and r.dnc.ranks["Z"] == 3  # DNC: a local minimum of rank K - 1
    assert not r.dnc_optimal
    best = r.best
    assert best.ranks["Z"] == 2 and best.kind == "minimum"
    assert float(r.dnc.loss) - float(best.loss) > 0.01
    assert float(best.loss) == pytest.approx(float(_naive_loss(p, best.theta)), abs=1e-13)
    assert max(abs(v) for v in p.gradient(best.theta, dps=30)) < mpmath.mpf(10) ** -25
    # the rank-2 subspace point and the survey's best end point are the same critical value
    rank2 = [q for q in r.low_rank if q.label == "rank 2"][0]
    assert abs(rank2.loss - best.loss) < mpmath.mpf(10) ** -25
    assert sum(q.count for q in r.points) == r.starts - r.failed
    assert 0 <= r.dnc_fraction <= 1
    assert "DNC is NOT optimal" in r.summary()


def test_two_layers_three_classes_dnc_is_the_lowest_point():
    p = DeepUFM(3, 1, 2, loss="ce")
    r = collapse_report(p, dps=30, starts=4)
    assert r.dnc_optimal and r.dnc.kind == "minimum"
    assert r.dnc_fraction == 1.0
    assert "DNC is the lowest point found" in r.summary()


def test_relu_points_are_classified_on_their_pieces():
    p = DeepUFM(3, 1, 3, activation="relu", loss="mse", lambda_H=sympy.Rational(1, 50), lambda_W=sympy.Rational(1, 50))
    r = collapse_report(p, dps=25, starts=3, ranks=[2])
    assert r.dnc.kind.startswith("piece ") and r.dnc.kinks > 0 and abs(r.dnc.kink_slope) < 1e-12
    # the DNC loss of the reduction equals the loss of the refined point on its piece
    assert abs(r.dnc.loss - p.dnc(dps=30).loss) < mpmath.mpf(10) ** -20
    d = r.to_dict()
    assert d["dnc"]["kinks"] == r.dnc.kinks and isinstance(d["dnc_optimal"], bool)


def test_low_rank_point_stays_in_its_subspace():
    p = DeepUFM(4, 1, 2, width=5, loss="ce")
    th, f = low_rank_point(p, 2, starts=2)
    H1 = p.unpack(th)[0]
    assert np.abs(H1[2:]).max() == 0.0 and np.linalg.matrix_rank(H1) == 2
    assert f == pytest.approx(p.loss(th))


def test_report_refuses_other_landscapes():
    from symland import AttentionPCA
    with pytest.raises(DomainError, match="DeepUFM"):
        collapse_report(AttentionPCA(np.diag([2.0, 1.0])))


def test_the_generic_machinery_accepts_the_model():
    # survey (protocol), and certify refusing clearly: the O(d) rotations are zero modes it cannot reduce
    p = DeepUFM(3, 1, 2, loss="ce")
    res = symland.survey(p, starts=2, seed=0, dps=20)
    assert res.points and res.points[0].point.kind == "minimum" and res.points[0].point.nullity == 6
    cert = symland.certify(p, p.dnc(dps=40).theta, dps=40)
    assert not cert.certified and "degenerate" in str(cert)
