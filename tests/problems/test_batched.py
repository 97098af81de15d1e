r"""Tests of the batched float64 engine (symland/problems/batched.py).

References, none of them the batched code itself:

* the single-point float64 engine, row by row (``problem.loss_and_gradient``, ``problem.hessian``),
  for every kind of problem (plain with trained or fixed outputs, biases, mixed activations, GLU
  units with and without ordinary neurons);
* central finite differences of the batched loss (for the gradient) and of the batched gradient
  (for the Hessian), which do not depend on the single-point engine either;
* a nonzero loss computed by hand for one point (two erf neurons, the arcsine kernel).

Loss $L = \tfrac12E[(f - f^*)^2]$, "erf" is erf(z/sqrt 2).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from symland.errors import DomainError, ShapeError
from symland.problems import batched as batched_module
from symland.problems.batched import BatchedTeacherStudent, batched_evaluate, check_batch
from symland.problems.teacher_student import TeacherStudent


def _rel(x, ref):
    """max |x - ref| / max(|ref|, tiny): the normwise relative deviation."""
    x, ref = np.asarray(x, float), np.asarray(ref, float)
    return float(np.max(np.abs(x - ref))) / max(float(np.max(np.abs(ref))), 1e-300)


def _teacher(k, d, seed):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(k, d)), rng.uniform(0.5, 1.5, size=k) * np.where(np.arange(k) % 2, -1.0, 1.0)


#: one problem of every kind the single-point engine supports (built lazily: symbolic set-up)
KINDS = {
    "plain-erf-trained": lambda: TeacherStudent("erf", *_teacher(3, 3, 1), n=3),
    "plain-relu-trained": lambda: TeacherStudent("relu", *_teacher(3, 4, 2), n=3),
    "plain-erf-fixed": lambda: TeacherStudent.orthonormal("erf", 3, 4, d=5, train_output=False),
    "plain-relu-fixed-outputs-given": lambda: TeacherStudent(
        "relu", *_teacher(2, 3, 3), n=3, train_output=False, student_output=np.array([1.0, -0.5, 2.0])),
    "plain-tanh-quadrature": lambda: TeacherStudent("tanh", *_teacher(2, 2, 4), n=2),
    "bias-erf": lambda: TeacherStudent("erf", *_teacher(2, 3, 5), n=3, bias=True,
                                       teacher_bias=np.array([0.3, -0.2])),
    "bias-relu-fixed": lambda: TeacherStudent("relu", *_teacher(2, 3, 6), n=2, bias=True, train_output=False),
    "mixed-erf-student-relu-teacher": lambda: TeacherStudent("erf", *_teacher(2, 3, 7), n=3,
                                                             teacher_activation="relu"),
    "mixed-relu-student-tanh-teacher": lambda: TeacherStudent("relu", *_teacher(2, 2, 8), n=2,
                                                              teacher_activation="tanh"),
    "glu-erf": lambda: TeacherStudent("erf", *_teacher(2, 3, 9), n=2, glus=2),
    "glu-relu-fixed": lambda: TeacherStudent("relu", *_teacher(2, 3, 10), n=2, glus=1, train_output=False),
    "glu-only-relu": lambda: TeacherStudent("relu", *_teacher(2, 2, 11), n=0, glus=2),
}

_CACHE = {}


def _kind(name):
    if name not in _CACHE:
        _CACHE[name] = KINDS[name]()
    return _CACHE[name]


def _points(problem, B, seed, scale=0.7):
    return np.random.default_rng(seed).normal(size=(B, problem.num_params)) * scale


# ---------------------------------------------------------------------------
@pytest.mark.parametrize("name", list(KINDS))
def test_every_kind_equals_the_single_point_engine(name):
    p = _kind(name)
    B = 2 if "quadrature" in name else 5  # quadrature kernels take ~0.1 s per single-point Hessian
    Th = _points(p, B, seed=sum(map(ord, name)))
    bt = BatchedTeacherStudent(p)
    ev = bt.evaluate(Th, 2)
    assert ev.loss.shape == (B,) and ev.gradient.shape == (B, p.num_params)
    assert ev.hessian.shape == (B, p.num_params, p.num_params)
    for r, th in enumerate(Th):
        L, g = p.loss_and_gradient(th)
        H = p.hessian(th)
        assert ev.loss[r] == pytest.approx(L, rel=1e-12, abs=1e-14)
        assert _rel(ev.gradient[r], g) < 1e-12
        assert _rel(ev.hessian[r], H) < 1e-12
    # the other entry points return the same numbers
    L0 = bt.loss(Th)
    L1, G1 = bt.loss_and_gradient(Th)
    assert _rel(L0, ev.loss) < 1e-14 and _rel(L1, ev.loss) < 1e-14 and _rel(G1, ev.gradient) < 1e-14
    assert _rel(bt.gradient(Th), ev.gradient) < 1e-14 and _rel(bt.hessian(Th), ev.hessian) < 1e-14


@pytest.mark.parametrize("name", ["plain-erf-trained", "plain-relu-trained", "plain-erf-fixed", "bias-erf",
                                  "mixed-erf-student-relu-teacher", "glu-erf", "glu-relu-fixed"])
def test_central_finite_differences(name):
    r"""Gradient = central differences of the batched loss, Hessian = central differences of the batched
    gradient (step $h = 10^{-5}$, all $2P$ displaced points in one batch; error $O(h^2) + O(u/h)$)."""
    p = _kind(name)
    th = _points(p, 1, seed=3)[0]
    bt = BatchedTeacherStudent(p)
    P, h = p.num_params, 1e-5
    E = np.eye(P) * h
    ev = bt.evaluate(th[None], 2)
    plus, minus = bt.evaluate(th + E, 1), bt.evaluate(th - E, 1)
    fd_grad = (plus.loss - minus.loss) / (2 * h)
    fd_hess = (plus.gradient - minus.gradient) / (2 * h)
    assert _rel(ev.gradient[0], fd_grad) < 1e-7
    assert _rel(ev.hessian[0], fd_hess) < 1e-7
    assert _rel(ev.hessian[0], ev.hessian[0].T) < 1e-14


def test_loss_by_hand_two_erf_neurons():
    r"""$n = k = 1$, $d = 1$, $w = 2$, $a = 3$, $v = 1$, $b = 1$: with $\kappa(a, b, c) = \tfrac2\pi
    \arcsin(c/\sqrt{(1+a)(1+b)})$, $L = \tfrac12(9\kappa(4,4,4) - 6\kappa(4,1,2) + \kappa(1,1,1))$."""
    p = TeacherStudent("erf", np.array([[1.0]]), np.array([1.0]), n=1)
    kap = lambda a, b, c: 2 / math.pi * math.asin(c / math.sqrt((1 + a) * (1 + b)))  # noqa: E731
    want = 0.5 * (9 * kap(4, 4, 4) - 6 * kap(4, 1, 2) + kap(1, 1, 1))
    got = BatchedTeacherStudent(p).loss(np.array([[2.0, 3.0], [2.0, 3.0]]))
    assert got == pytest.approx([want, want], rel=1e-14)


def test_near_alignment_relu_matches_single_point():
    """relu pairs close to (anti-)alignment: the float64 safe form is kept where it is accurate, the
    single-point engine's recomputation used below 1e-6; a Hessian within 1e-12 of alignment is
    handed to the single-point engine (ball arithmetic) and still equals it."""
    p = TeacherStudent.orthonormal("relu", 2, 3, d=3)
    rng = np.random.default_rng(0)
    rows = []
    for eps in (0.3, 3e-2, 1e-3, 1e-5, 1e-7):
        W = rng.normal(size=(3, 3))
        W[0] = -np.array([1.0, eps, 0.3 * eps])       # anti-aligned with teacher 0
        W[1] = 1.3 * np.array([0.0, 1.0, 0.5 * eps])  # aligned with teacher 1
        rows.append(p.pack(W, rng.normal(size=3)))
    Th = np.array(rows)
    bt = BatchedTeacherStudent(p)
    L, G = bt.loss_and_gradient(Th)
    for r, th in enumerate(Th):
        Ls, gs = p.loss_and_gradient(th)
        assert L[r] == pytest.approx(Ls, rel=1e-12, abs=1e-14)
        assert _rel(G[r], gs) < 1e-12
    W = rng.normal(size=(3, 3))
    W[1] = np.array([1e-7, 1.0, 0.0])  # D/(ab) = 1e-14 with teacher 1: below the float64 Hessian limit
    th = p.pack(W, rng.normal(size=3))
    before = bt.single_rows
    H = bt.hessian(np.array([th, Th[0]]))
    assert bt.single_rows == before + 1
    assert _rel(H[0], p.hessian(th)) < 1e-10
    assert _rel(H[1], p.hessian(Th[0])) < 1e-12


def test_relu_glu_near_alignment_is_boosted_like_the_single_point_engine():
    p = _kind("glu-relu-fixed")
    th = _points(p, 1, seed=5)[0]
    parts = p.layout.split(th.copy())
    w = parts["glu_w"][0]
    th2 = th.copy()
    th2[p.layout.offsets()["W"]][:p.d] = 0.0
    th2[:p.d] = 1.7 * w + 1e-4 * np.roll(w, 1)  # student neuron 0 almost along the GLU gate
    bt = BatchedTeacherStudent(p)
    ev = bt.evaluate(np.array([th, th2]), 2)
    assert bt.single_rows >= 1
    for r, t in enumerate((th, th2)):
        L, g = p.loss_and_gradient(t)
        assert ev.loss[r] == pytest.approx(L, rel=1e-12, abs=1e-14)
        assert _rel(ev.gradient[r], g) < 1e-12
        assert _rel(ev.hessian[r], p.hessian(t)) < 1e-12


def test_chunked_batches_give_the_same_results(monkeypatch):
    p = _kind("plain-relu-trained")
    Th = _points(p, 9, seed=7)
    whole = BatchedTeacherStudent(p).evaluate(Th, 2)
    monkeypatch.setattr(batched_module, "MEMORY_BUDGET", 1)  # one row per chunk
    monkeypatch.setattr(batched_module, "CACHE_ENTRIES", 1)
    monkeypatch.setattr(batched_module, "HESSIAN_CACHE_ENTRIES", 1)
    rows = BatchedTeacherStudent(p).evaluate(Th, 2)
    for x, y in ((rows.loss, whole.loss), (rows.gradient, whole.gradient), (rows.hessian, whole.hessian)):
        assert _rel(x, y) < 1e-14


# ---------------------------------------------------------------------------
# bad input
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("bad", [np.zeros(12), np.zeros((2, 11)), np.zeros((2, 2, 12)), np.zeros((0, 12)),
                                 "theta", [[1, 2], [3]]])
def test_wrong_shapes_raise_shape_error_naming_theta(bad):
    p = TeacherStudent.orthonormal("erf", 3, 3)
    with pytest.raises(ShapeError, match="Theta"):
        BatchedTeacherStudent(p).loss(bad)


def test_non_finite_and_complex_entries_name_the_row():
    p = TeacherStudent.orthonormal("erf", 3, 3)
    Th = _points(p, 4, seed=1)
    for value in (np.nan, np.inf, -np.inf):
        bad = Th.copy()
        bad[2, 5] = value
        with pytest.raises(DomainError, match=r"Theta.*row 2.*entry 5"):
            BatchedTeacherStudent(p).loss_and_gradient(bad)
    with pytest.raises(DomainError, match="real"):
        check_batch(Th + 1j, p.num_params)


def test_zero_norm_relu_neuron_names_the_row_and_mask_mode_keeps_the_others():
    p = TeacherStudent.orthonormal("relu", 2, 2)
    Th = _points(p, 4, seed=2)
    Th[1, 2:4] = 0.0  # student neuron 1 of row 1 has zero norm: the relu partials are undefined
    with pytest.raises(DomainError) as err:
        p.loss_and_gradient(Th[1])  # the single-point engine refuses it too
    with pytest.raises(DomainError, match=r"argument Theta, row 1.*zero norm"):
        BatchedTeacherStudent(p).gradient(Th)
    ev = BatchedTeacherStudent(p).evaluate(Th, 1, on_error="mask")
    assert set(ev.errors) == {1} and "zero norm" in ev.errors[1] and str(err.value) in ev.errors[1]
    assert np.isnan(ev.loss[1]) and np.isnan(ev.gradient[1]).all()
    for r in (0, 2, 3):
        L, g = p.loss_and_gradient(Th[r])
        assert ev.loss[r] == pytest.approx(L, rel=1e-12) and _rel(ev.gradient[r], g) < 1e-12


def test_a_bad_row_among_many_with_biases_is_isolated():
    """The means helpers raise on the first non-finite kernel value of the flattened batch: the batch is
    bisected, the bad row reported, the others evaluated."""
    p = _kind("bias-relu-fixed")
    Th = _points(p, 7, seed=4)
    Th[5, 3:6] = 0.0  # student neuron 1 of row 5: zero norm
    bt = BatchedTeacherStudent(p)
    ev = bt.evaluate(Th, 2, on_error="mask")
    assert set(ev.errors) == {5} and "row 5" in ev.errors[5]
    for r in (0, 1, 2, 3, 4, 6):
        assert ev.loss[r] == pytest.approx(p.loss(Th[r]), rel=1e-12)
        assert _rel(ev.hessian[r], p.hessian(Th[r])) < 1e-12
    with pytest.raises(DomainError, match="row 5"):
        bt.hessian(Th)


def test_argument_checks():
    p = TeacherStudent.orthonormal("erf", 2, 2)
    bt = BatchedTeacherStudent(p)
    Th = _points(p, 2, seed=0)
    with pytest.raises(DomainError, match="order"):
        bt.evaluate(Th, 3)
    with pytest.raises(DomainError, match="order"):
        bt.evaluate(Th, True)
    with pytest.raises(DomainError, match="on_error"):
        bt.evaluate(Th, 1, on_error="ignore")
    with pytest.raises(DomainError, match="problem"):
        BatchedTeacherStudent("erf")
    assert batched_evaluate(p, Th, 0).gradient is None
    assert bt.kind == "plain" and BatchedTeacherStudent(_kind("glu-erf")).kind == "glu"
