"""Tests of symland.channels.training: sample loss, gradient flow path, SGD and Adam.

References are independent of the code under test: Monte Carlo with scipy's erf
(not the sympy-lambdified activation), central finite differences, the ODE
identity d theta/dt = -grad L checked on the recorded path, and the closed-form
first Adam step.
"""

import numpy as np
import pytest
from scipy.special import erf

from symland.errors import DomainError, ShapeError
from symland.landscape.critical import minimize
from symland.problems.teacher_student import TeacherStudent
from symland.channels.training import SampleLoss, Trajectory, adam, flow_trajectory, load_trajectory, sgd
from symland.channels.channel import detect

P = TeacherStudent.orthonormal("erf", 3, 2)


def start(seed=0, p=P):
    rng = np.random.default_rng(seed)
    return p.pack(rng.normal(size=(p.n, p.d)) / np.sqrt(p.d), rng.normal(size=p.n))


def s(z):
    return erf(z / np.sqrt(2))


def test_sample_loss_labels_and_loss_match_a_direct_computation():
    S = SampleLoss(P, 500, seed=3)
    X = np.random.default_rng(3).normal(size=(500, 3))  # documented draw
    assert np.array_equal(S.X, X)
    y = s(X @ P.teacher_weights.T) @ P.teacher_output
    assert np.allclose(S.y, y, rtol=1e-14, atol=1e-14)
    th = start(1)
    params = P.unpack(th)
    W, a = params.W, params.a
    direct = 0.5 * np.mean((s(X @ W.T) @ a - y) ** 2)
    assert abs(S.loss(th) - direct) < 1e-14


def test_sample_loss_gradient_against_finite_differences():
    S = SampleLoss(P, 300, seed=0)
    th = start(2)
    _, g = S.loss_and_gradient(th)
    h = 1e-6
    fd = np.array([(S.loss(th + h * e) - S.loss(th - h * e)) / (2 * h) for e in np.eye(len(th))])
    assert np.max(np.abs(g - fd)) < 1e-8
    # a mini-batch gradient is the gradient of the loss on those rows
    idx = np.array([0, 5, 7, 11])
    _, gb = S.loss_and_gradient(th, idx)
    sub = SampleLoss(P, 300, seed=0)
    sub.X, sub.y = S.X[idx], S.y[idx]
    assert np.allclose(gb, sub.loss_and_gradient(th)[1], rtol=1e-13, atol=1e-15)


def test_sample_loss_is_unbiased_for_the_population_loss():
    th = start(4)
    S = SampleLoss(P, 200_000, seed=1)
    params = P.unpack(th)
    W, a = params.W, params.a
    per = 0.5 * (s(S.X @ W.T) @ a - S.y) ** 2
    se = per.std() / np.sqrt(len(per))
    assert abs(S.loss(th) - P.loss(th)) < 5 * se


def test_flow_path_solves_the_gradient_flow_ode_and_reaches_the_minimum():
    tr = flow_trajectory(P, start(0), t_max=1e5, records=60)
    assert tr.method == "flow" and tr.thetas.shape[1] == P.num_params
    assert tr.message == "gradient below gtol" and tr.gradient_norms[-1] < 1e-10
    assert np.all(np.diff(tr.losses) <= 1e-14)  # the loss never increases along a gradient flow
    # d theta/dt = -grad L between the first two records after t = 0 (centred difference)
    t1, t2 = tr.times[1], tr.times[2]
    mid = 0.5 * (tr.thetas[1] + tr.thetas[2])
    deriv = (tr.thetas[2] - tr.thetas[1]) / (t2 - t1)
    assert np.linalg.norm(deriv + P.gradient(mid)) < 1e-3 * np.linalg.norm(P.gradient(mid))
    # the erf k=3, n=2 minimum: loss reached by trust-region minimisation from another start
    assert abs(tr.losses[-1] - minimize(P, start(5)).loss) < 1e-12


def test_population_gd_approximates_the_flow():
    th = start(1)
    lr, steps = 1e-3, 2000
    tr = sgd(P, th, lr=lr, steps=steps, record_every=steps)
    fl = flow_trajectory(P, th, t_max=lr * steps, records=3, gtol=1e-14)
    # explicit Euler: global error O(lr)
    assert np.linalg.norm(tr.theta - fl.theta) < 10 * lr
    assert tr.losses[-1] < tr.losses[0] and tr.settings["objective"] == "population"


def test_adam_first_step_is_lr_times_the_sign_of_the_gradient():
    th = start(3)
    tr = adam(P, th, lr=0.01, steps=1, record_every=1)
    g = P.gradient(th)
    # m_1 = (1 - b1) g, v_1 = (1 - b2) g^2: bias-corrected ratio is g / |g|
    assert np.allclose(th - tr.thetas[1], 0.01 * g / (np.abs(g) + 1e-8), rtol=1e-10, atol=1e-16)


def test_minibatch_runs_are_seeded():
    th = start(0)
    a1 = sgd(P, th, lr=0.05, steps=50, samples=200, batch_size=20, seed=7, record_every=10)
    a2 = sgd(P, th, lr=0.05, steps=50, samples=200, batch_size=20, seed=7, record_every=10)
    a3 = sgd(P, th, lr=0.05, steps=50, samples=200, batch_size=20, seed=8, record_every=10)
    assert np.array_equal(a1.thetas, a2.thetas)
    assert not np.array_equal(a1.thetas, a3.thetas)
    ad = adam(P, th, lr=0.01, steps=200, samples=1000, seed=0, record_every=50)
    assert ad.objective[-1] < ad.objective[0]
    assert ad.settings["objective"] == "sample" and len(ad.times) == 5


def test_trajectory_file_round_trip(tmp_path):
    tr = sgd(P, start(0), lr=0.05, steps=30, record_every=10)
    path = tmp_path / "traj.npz"
    tr.save(path)
    back = load_trajectory(str(path))
    assert isinstance(back, Trajectory) and back.method == "sgd"
    assert np.array_equal(back.thetas, tr.thetas) and np.array_equal(back.losses, tr.losses)
    assert back.settings["lr"] == 0.05
    np.savez(tmp_path / "bare.npz", trajectory=tr.thetas)
    assert np.array_equal(load_trajectory(str(tmp_path / "bare.npz")).thetas, tr.thetas)
    np.savez(tmp_path / "bad.npz", x=np.zeros(3))
    with pytest.raises(ShapeError, match="thetas"):
        load_trajectory(str(tmp_path / "bad.npz"))


def test_bad_arguments():
    th = start(0)
    with pytest.raises(ValueError, match="lr"):
        sgd(P, th, lr=-1.0)
    with pytest.raises(ValueError, match="steps"):
        adam(P, th, steps=0)
    with pytest.raises(ValueError, match="batch_size needs samples"):
        sgd(P, th, batch_size=4)
    with pytest.raises(ValueError, match="batch_size must be at most"):
        sgd(P, th, samples=10, batch_size=11)
    with pytest.raises(ValueError, match="momentum"):
        sgd(P, th, momentum=1.0)
    with pytest.raises(ShapeError, match="theta"):
        sgd(P, th[:-1], steps=2)
    with pytest.raises(DomainError, match="finite"):
        sgd(P, th * 50, lr=1e6, steps=20)
    with pytest.raises(ShapeError, match="glus"):
        sgd(TeacherStudent.orthonormal("erf", 2, 1, glus=1), np.zeros(1 * 2 + 1 + 1 + 4), steps=2)


def test_sample_loss_and_detect_refuse_problems_they_would_misread():
    """A finite-sample loss and channel detection read only (W, a): biased or mixed problems are refused,
    not silently evaluated without their biases or teacher activation."""
    biased = TeacherStudent.orthonormal("erf", k=2, n=2, bias=True)
    mixed = TeacherStudent.orthonormal("erf", k=2, n=2, teacher_activation="relu")
    for prob in (biased, mixed):
        with pytest.raises(ShapeError, match="plain networks"):
            SampleLoss(prob, samples=10)
        theta = np.zeros(prob.num_params)
        with pytest.raises(ShapeError, match="plain networks"):
            detect(prob, theta)
