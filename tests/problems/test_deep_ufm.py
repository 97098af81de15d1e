"""The deep unconstrained features model (symland.problems.deep_ufm).

Independent references:
* the loss by a naive loop over samples (``_naive_loss``: forward pass written sample by sample,
  the cross-entropy as -log of the softmax), in float64 and in mpmath;
* gradient and Hessian against central finite differences in mpmath at 50 digits (step 1e-20, so
  the truncation error is about 1e-40), entry by entry;
* the DNC loss by hand in the smallest cases (module docstring of deep_ufm): MSE, K = 2, N = 1,
  L = 1: 2*lam - 2*lam**2; cross-entropy, K = 2, L = 1: m = log(1/lam - 1) and
  loss = log(1 + e^-m) + lam * m (f(m) with C = lam);
* DNC's criticality: the full backpropagated gradient at the constructed point, which the
  one-dimensional reduction does not use;
* the ball enclosures must contain the 60-digit mpmath values.
"""

import threading

import mpmath
import numpy as np
import pytest
import sympy

from symland import DeepUFM
from symland.errors import DomainError, NonSmoothError, ShapeError
from symland.numerics.precision import Precision
from deep_ufm_reference import naive_loss as _naive_loss

COMBOS = [(a, l) for a in ("linear", "relu") for l in ("mse", "ce")]


def _smooth_start(problem, seed=0):
    rng = np.random.default_rng(seed)
    for _ in range(50):
        th = problem.random_start(rng)
        if not problem.kinks(th, tol=1e-3):
            return th
    raise AssertionError("no start away from relu kinks")


@pytest.mark.parametrize("act,loss", COMBOS)
def test_loss_matches_a_sample_by_sample_evaluation(act, loss):
    p = DeepUFM(3, 2, 3, activation=act, loss=loss, lambda_H=sympy.Rational(1, 50), lambda_W=[0.01, 0.02, 0.03])
    th = _smooth_start(p, 1)
    assert abs(p.loss(th) - float(_naive_loss(p, th))) < 1e-13
    with mpmath.workdps(60):
        ref = _naive_loss(p, th, mpmath.mp)
        assert abs(p.loss(th, dps=50) - ref) < mpmath.mpf(10) ** -48


@pytest.mark.parametrize("act,loss", COMBOS)
def test_gradient_and_hessian_against_high_precision_finite_differences(act, loss):
    p = DeepUFM(2, 2, 3, activation=act, loss=loss)
    th = _smooth_start(p, 2)
    ev = p.evaluate(th, Precision(50), 2)
    h = mpmath.mpf(10) ** -20
    with mpmath.workdps(70):
        thm = [mpmath.mpf(float(v)) for v in th]
        for i in range(p.num_params):
            up, dn = list(thm), list(thm)
            up[i] += h
            dn[i] -= h
            fd_g = (p.loss(np.array(up, dtype=object), dps=60) - p.loss(np.array(dn, dtype=object), dps=60)) / (2 * h)
            assert abs(fd_g - ev.gradient[i]) < mpmath.mpf(10) ** -35
            fd_H = (p.gradient(np.array(up, dtype=object), dps=60) - p.gradient(np.array(dn, dtype=object), dps=60)) / (2 * h)
            assert max(abs(fd_H[j] - ev.hessian[i, j]) for j in range(p.num_params)) < mpmath.mpf(10) ** -35


def test_float64_hessian_agrees_with_mpmath_and_is_symmetric():
    p = DeepUFM(3, 1, 2, width=4, activation="relu", loss="ce")
    th = _smooth_start(p, 3)
    H, Hm = p.hessian(th), p.hessian(th, dps=40)
    assert np.array_equal(H, H.T)
    assert np.abs(H - np.array(Hm, dtype=float)).max() < 1e-12


def test_dnc_smallest_case_by_hand():
    lam = sympy.Rational(1, 100)
    p = DeepUFM(2, 1, 1, lambda_H=lam, lambda_W=lam)
    d = p.dnc(dps=40)
    with mpmath.workdps(45):
        assert abs(d.loss - (2 * mpmath.mpf(1) / 100 - 2 * mpmath.mpf(1) / 10000)) < mpmath.mpf(10) ** -38
        assert abs(d.m - (1 - mpmath.mpf(2) / 100)) < mpmath.mpf(10) ** -38
        # the point itself: H = a e_k, W = a I with a^2 = 1 - 2 lam; loss (1 - a^2)^2 / 2 + lam (a^2 + a^2)
        a = mpmath.sqrt(1 - mpmath.mpf(2) / 100)
        assert max(abs(x - y) for x, y in zip(d.theta, [a, 0, 0, a, a, 0, 0, a])) < mpmath.mpf(10) ** -38
        assert abs(p.loss(d.theta, dps=40) - ((1 - a * a) ** 2 / 2 + mpmath.mpf(2) / 100 * a * a)) < mpmath.mpf(10) ** -38


def test_dnc_cross_entropy_smallest_case_by_hand():
    p = DeepUFM(2, 1, 1, loss="ce", lambda_H=sympy.Rational(1, 100), lambda_W=sympy.Rational(1, 100))
    d = p.dnc(dps=40)
    with mpmath.workdps(45):
        m = mpmath.log(99)
        assert abs(d.m - m) < mpmath.mpf(10) ** -38
        assert abs(d.loss - (mpmath.log(1 + mpmath.exp(-m)) + m / 100)) < mpmath.mpf(10) ** -38
        assert abs(d.loss_at_zero - mpmath.log(2)) < mpmath.mpf(10) ** -38


@pytest.mark.parametrize("act,loss", COMBOS)
@pytest.mark.parametrize("L", [1, 2, 3])
def test_dnc_is_critical_in_the_full_model(act, loss, L):
    p = DeepUFM(3, 2, L, width=4, activation=act, loss=loss, lambda_W=sympy.Rational(1, 200))
    d = p.dnc(dps=40)
    g = p.gradient(d.theta, dps=40)
    assert max(abs(v) for v in g) < mpmath.mpf(10) ** -35
    assert abs(p.loss(d.theta, dps=40) - d.loss) < mpmath.mpf(10) ** -35
    assert float(p.loss(d.theta)) == pytest.approx(float(_naive_loss(p, d.theta)), abs=1e-13)


def test_dnc_refuses_when_regularisation_is_too_strong():
    with pytest.raises(DomainError, match="too strong"):
        DeepUFM(3, 1, 3, lambda_H=1, lambda_W=1).dnc()


def test_relu_dnc_sits_on_kinks_and_its_piece_is_smooth():
    p = DeepUFM(3, 1, 3, activation="relu", loss="mse")
    d = p.dnc(dps=30)
    kinks = p.kinks(d.theta)
    assert kinks and all(layer in (1, 2) for layer, _, _ in kinks)
    with pytest.raises(NonSmoothError, match="piece"):
        p.hessian(d.theta, dps=30)
    piece = p.piece(d.theta)
    H = np.array(piece.hessian(d.theta, dps=30), dtype=float)
    # the piece agrees with the loss at the point and on the side where the kinks stay off
    assert abs(piece.loss(d.theta, dps=30) - p.loss(d.theta, dps=30)) < mpmath.mpf(10) ** -28
    assert abs(p.kink_slope(d.theta)) < 1e-14  # both one-sided derivatives vanish: a critical point
    assert piece.pattern_violation(d.theta) == 0.0
    assert np.allclose(H, H.T)


def test_structurally_zero_pre_activations_are_not_kinks():
    p = DeepUFM(2, 1, 3, activation="relu")
    H1, W1, W2, W3 = p.unpack(p.random_start(np.random.default_rng(0)))
    H1[:, 0] = 1.0
    W1[:] = -1.0  # every unit off for every sample: h2 = 0, A2 = 0 identically near theta
    th = p.pack([H1, W1, W2, W3])
    assert p.kinks(th) == []
    assert np.isfinite(p.hessian(th)).all()


def test_ball_enclosures_contain_the_mpmath_values():
    pytest.importorskip("flint")
    from symland.numerics.ball import BallPrecision
    p = DeepUFM(3, 1, 2, loss="ce")
    th = _smooth_start(p, 4)
    ev = p.evaluate(th, BallPrecision(40), 2)
    ref = p.evaluate(th, Precision(60), 2)
    from symland.numerics.ball import midpoint_mpf
    with mpmath.workdps(60):
        assert abs(midpoint_mpf(ev.loss) - ref.loss) <= mpmath.mpf(ev.loss.rad())
        for b, x in zip(ev.hessian.ravel(), ref.hessian.ravel()):
            assert abs(midpoint_mpf(b) - x) <= mpmath.mpf(b.rad()) and b.rad() < 1e-35


def test_relu_on_balls_refuses_an_uncertain_sign():
    pytest.importorskip("flint")
    from symland.numerics.ball import BallPrecision
    p = DeepUFM(2, 1, 2, activation="relu")
    d = p.dnc(dps=30)
    with pytest.raises(NonSmoothError, match="ball containing 0"):
        p.evaluate(d.theta, BallPrecision(30), 0)


def test_low_rank_subspace_is_invariant_under_the_gradient():
    from symland.landscape.neural_collapse import low_rank_mask
    for act in ("linear", "relu"):
        p = DeepUFM(4, 1, 3, width=5, activation=act, loss="ce")
        free = low_rank_mask(p, 2)
        th = np.where(free, p.random_start(np.random.default_rng(5)), 0.0)
        g = p.gradient(th)
        assert np.abs(g[~free]).max() == 0.0 and np.abs(g[free]).max() > 1e-3


def test_zero_modes_count_the_orthogonal_orbits():
    p = DeepUFM(3, 1, 2, width=4)  # linear: O(4) on h1 and h2, DNC rank 3 in each
    d = p.dnc()
    assert p.zero_modes(d.theta) == {"rotations": 2 * (6 - 0)}
    ev = np.linalg.eigvalsh(p.hessian(d.theta))
    assert int((np.abs(ev) < 1e-9).sum()) == 12


def test_bad_input_is_refused_with_the_rule():
    with pytest.raises(DomainError, match="K"):
        DeepUFM(1)
    with pytest.raises(DomainError, match="width"):
        DeepUFM(4, width=3)
    with pytest.raises(DomainError, match="lambda_H"):
        DeepUFM(3, lambda_H=-1)
    with pytest.raises(DomainError, match="lambda_W"):
        DeepUFM(3, lambda_W=float("nan"))
    with pytest.raises(ShapeError, match="lambda_W"):
        DeepUFM(3, L=2, lambda_W=[0.1])
    with pytest.raises(DomainError, match="activation"):
        DeepUFM(3, activation="tanh")
    p = DeepUFM(3)
    with pytest.raises(ShapeError, match="theta"):
        p.loss(np.zeros(3))
    with pytest.raises(DomainError, match="theta"):
        p.loss(np.full(p.num_params, np.nan))


def test_threads_give_the_serial_digits():
    p = DeepUFM(3, 1, 2, loss="ce")
    th = _smooth_start(p, 6)
    serial = [p.loss_and_gradient(th, dps=40) for _ in range(4)]
    out = [None] * 4

    def work(i):
        mpmath.mp.dps = 15 + 7 * i  # a thread that changes mpmath's global precision must not matter
        out[i] = p.loss_and_gradient(th, dps=40)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    mpmath.mp.dps = 15
    for (f, g), (f2, g2) in zip(serial, out):
        assert str(f) == str(f2) and [str(x) for x in g] == [str(x) for x in g2]
