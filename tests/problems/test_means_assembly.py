r"""Tests of the assembly with means (symland/problems/means_assembly.py): biases and mixed teacher/student activations.

References, none sharing the assembly under test:

* the existing :class:`~symland.problems.teacher_student.TeacherStudent` (zero biases, one activation);
* Monte Carlo in float64 of $\tfrac12 E[(f - f^*)^2]$ with the activations
  evaluated from their SymPy expressions (fixed seeds; tolerance 5 standard errors);
* central finite differences (step $10^{-20}$) at 60 digits of the mpmath loss and
  gradient, compared to 30 digits with the analytic gradient and Hessian.
"""

from __future__ import annotations

import mpmath
import numpy as np
import pytest
import sympy

import symland
from symland.numerics import symbols
from symland.landscape import critical
from symland.errors import DomainError, NoClosedFormError, ShapeError
from symland.problems.means_assembly import MeansAssembly, pair_kernel_source
from symland.problems.teacher_student import TeacherStudent

from conftest import full_run

mpf = mpmath.mpf


def _np_act(name):
    return sympy.lambdify(symbols.z, symland.activation(name).expr, modules=["scipy", "numpy"])


def _mc_loss(problem, theta, samples=400_000, seed=0):
    """Monte Carlo estimate of L and its standard error."""
    params = problem.unpack(theta)
    W, a = params.W, params.a
    beta = np.zeros(problem.n) if params.beta is None else params.beta
    rng = np.random.default_rng(seed)
    s, t = _np_act(problem.activation.name), _np_act(problem.teacher_activation.name)
    vals = []
    for _ in range(4):
        x = rng.standard_normal((samples // 4, problem.d))
        f = (s(x @ W.T + beta) * np.ones((1, problem.n))) @ a
        fs = (t(x @ problem.teacher_weights.T + problem.teacher_bias) * np.ones((1, problem.k))) @ problem.teacher_output
        vals.append(0.5 * (f - fs) ** 2)
    v = np.concatenate(vals)
    return v.mean(), v.std() / np.sqrt(v.size)


def _problem(act, bias=True, teacher_activation=None, n=2, k=2, d=3, seed=1, teacher_bias=True, train_output=True):
    rng = np.random.default_rng(seed)
    V = rng.normal(size=(k, d))
    b = rng.uniform(0.5, 1.5, size=k) * np.where(np.arange(k) % 2, -1, 1)
    tb = rng.uniform(-0.8, 0.8, size=k) if teacher_bias else None
    p = TeacherStudent(act, V, b, n=n, bias=bias, teacher_activation=teacher_activation, teacher_bias=tb,
                       train_output=train_output)
    W = rng.normal(size=(n, d))
    a = rng.normal(size=n) if train_output else None
    beta = rng.uniform(-0.7, 0.7, size=n) if bias else None
    return p, p.pack(W, a, beta)


# ---------------------------------------------------------------------------
def _sel(everything, default):
    """The exhaustive list with SYMLAND_FULL=1, else a representative subset (symbolic set-up costs seconds each)."""
    return list(everything) if full_run() else list(default)


@pytest.mark.slow
@pytest.mark.parametrize("act", _sel(["relu", "erf"], ["relu"]))
def test_no_bias_matches_teacher_student(act):
    rng = np.random.default_rng(5)
    V, b = rng.normal(size=(2, 3)), np.array([1.0, -0.6])
    base = TeacherStudent(act, V, b, n=2)
    gen = TeacherStudent(act, V, b, n=2, teacher_bias=np.zeros(2))  # teacher biases given: the means assembly
    assert isinstance(gen._assembly, MeansAssembly) and not gen.is_plain and base.is_plain
    th = base.pack(rng.normal(size=(2, 3)), rng.normal(size=2))
    assert gen.loss(th) == pytest.approx(base.loss(th), rel=1e-13)
    np.testing.assert_allclose(gen.gradient(th), base.gradient(th), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(gen.hessian(th), base.hessian(th), rtol=1e-11, atol=1e-13)
    # trained biases at beta = 0: the W, a blocks are those of the problem without biases
    pb = TeacherStudent(act, V, b, n=2, bias=True)
    assert isinstance(pb._assembly, MeansAssembly) and not pb.is_plain and pb.num_params == 10
    thb = pb.pack(base.unpack(th).W, base.unpack(th).a, beta=np.zeros(2))
    assert pb.loss(thb) == pytest.approx(base.loss(th), rel=1e-13)
    np.testing.assert_allclose(pb.gradient(thb)[:8], base.gradient(th), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(pb.hessian(thb)[:8, :8], base.hessian(th), rtol=1e-11, atol=1e-13)


@pytest.mark.slow
@pytest.mark.parametrize("act,teacher", _sel([("relu", None), ("erf", None), ("sin", None), ("erf", "normal_cdf"),
                                              ("relu", "abs")], [("relu", None), ("sin", None), ("relu", "abs")]))
def test_loss_with_biases_against_monte_carlo(act, teacher):
    p, th = _problem(act, teacher_activation=teacher)
    mean, se = _mc_loss(p, th)
    assert abs(p.loss(th) - mean) < 5 * se + 1e-12, (p.loss(th), mean, se)


def test_mixed_without_biases_against_monte_carlo():
    """relu student, erf teacher, no biases: the cross kernel comes from symland.kernels.cross."""
    p, th = _problem("relu", bias=False, teacher_activation="erf", teacher_bias=False)
    assert pair_kernel_source("relu", "erf", True).startswith("symland.kernels.cross")
    mean, se = _mc_loss(p, th)
    assert abs(p.loss(th) - mean) < 5 * se


def test_mixed_with_biases_by_quadrature_against_monte_carlo():
    """tanh student, erf teacher with biases: no closed form, 2-D quadrature with means (float64)."""
    p, th = _problem("tanh", teacher_activation="erf", n=2, k=1, d=2)
    assert pair_kernel_source("tanh", "erf", False) == "1-D quadrature with means"
    mean, se = _mc_loss(p, th)
    assert abs(p.loss(th) - mean) < 5 * se
    # gradient against float central differences (quadrature accuracy ~1e-10)
    g = p.gradient(th)
    h = 1e-5
    fd = np.array([(p.loss(th + h * e) - p.loss(th - h * e)) / (2 * h) for e in np.eye(len(th))])
    np.testing.assert_allclose(g, fd, atol=2e-8)


@pytest.mark.slow
@pytest.mark.parametrize("act,teacher", _sel([("selu", None), ("relu", "erf"), ("selu", "tanh"), ("erf", "relu")],
                                             [("selu", None), ("relu", "erf")]))
def test_kinked_pairs_with_biases_against_monte_carlo_and_fd(act, teacher):
    """No closed form with means, one activation kinked: the 1-D reduction split at the kink.
    Loss against Monte Carlo; gradient and Hessian against 60-digit finite differences; float64 vs mpmath."""
    # n = 1 keeps the 60-digit check affordable: mpmath quadrature costs about a second per kernel partial
    p, th = _problem(act, teacher_activation=teacher, n=2 if full_run() else 1, k=1, d=2)
    assert pair_kernel_source(act, teacher or act, False) == "1-D quadrature with means"
    mean, se = _mc_loss(p, th)
    assert abs(p.loss(th) - mean) < 5 * se, (p.loss(th), mean, se)
    np.testing.assert_allclose(p.gradient(th), np.array(p.gradient(th, dps=20), dtype=float), rtol=1e-10, atol=1e-12)
    # the float64 Hessian against central differences of the float64 gradient
    h = 1e-6
    fd = np.array([(p.gradient(th + h * e) - p.gradient(th - h * e)) / (2 * h) for e in np.eye(len(th))]).T
    np.testing.assert_allclose(p.hessian(th), fd, rtol=1e-6, atol=1e-8)
    # 60 digits: the gradient always; the Hessian (a minute in mpmath for selu) with SYMLAND_FULL=1
    _fd_check(p, th, hessian=full_run())


def test_user_activation_with_kinks_and_biases():
    """A registered hardtanh (kinks at +-1, no closed form, no mean function) with biases and a relu teacher:
    the pair goes to the 1-D reduction on relu's mean function, the hardtanh self terms to symland.kernels.kinks.
    Loss against Monte Carlo, gradient and Hessian against float64 central differences."""
    z = symbols.z
    symland.register_activation("test_hardtanh", sympy.Min(sympy.Max(z, -1), 1), replace=True)
    p, th = _problem("test_hardtanh", teacher_activation="relu", n=2, k=1, d=2)
    assert pair_kernel_source("test_hardtanh", "relu", False) == "1-D quadrature with means"
    assert pair_kernel_source("test_hardtanh", "test_hardtanh", False) == "2-D quadrature with means"
    mean, se = _mc_loss(p, th)
    assert abs(p.loss(th) - mean) < 5 * se, (p.loss(th), mean, se)
    h = 1e-6
    g = p.gradient(th)
    fd = np.array([(p.loss(th + h * e) - p.loss(th - h * e)) / (2 * h) for e in np.eye(len(th))])
    np.testing.assert_allclose(g, fd, rtol=1e-6, atol=1e-8)
    fdH = np.array([(p.gradient(th + h * e) - p.gradient(th - h * e)) / (2 * h) for e in np.eye(len(th))]).T
    np.testing.assert_allclose(p.hessian(th), fdH, rtol=1e-5, atol=1e-7)


def _fd_check(p, th, dps=30, work=60, hessian=True):
    """Analytic gradient/Hessian at ``dps`` vs central differences (step 1e-20) of the loss/gradient at ``work`` digits."""
    N = p.num_params
    with mpmath.workdps(work):
        x0 = [mpf(v) for v in th]
        g_an = p.gradient(th, dps=dps)
        hh = mpf(10) ** -20  # central differences: truncation ~h^2 = 1e-40, rounding ~1e-60/h = 1e-40
        for i in (range(N) if full_run() else range(0, N, 2)):
            up, dn = list(x0), list(x0)
            up[i] += hh
            dn[i] -= hh
            ref = (p.loss(np.array(up, dtype=object), dps=work) - p.loss(np.array(dn, dtype=object), dps=work)) / (2 * hh)
            assert abs(g_an[i] - ref) < mpf(10) ** (-dps + 3) * (1 + abs(ref)), (i, g_an[i], ref)
        if not hessian:
            return
        H_an = p.hessian(th, dps=dps)
        assert all(H_an[i, j] == H_an[j, i] for i in range(N) for j in range(N))
        cols = range(N) if full_run() else (1, N - 1)
        for j in cols:
            up, dn = list(x0), list(x0)
            up[j] += hh
            dn[j] -= hh
            col = (p.gradient(np.array(up, dtype=object), dps=work) - p.gradient(np.array(dn, dtype=object), dps=work)) / (2 * hh)
            for i in range(N):
                assert abs(H_an[i, j] - col[i]) < mpf(10) ** (-dps + 5) * (1 + abs(col[i])), (i, j, H_an[i, j], col[i])


@pytest.mark.slow
@pytest.mark.parametrize("act,teacher", _sel([("relu", None), ("erf", "normal_cdf")], [("relu", None)]))
def test_gradient_and_hessian_against_60_digit_fd(act, teacher):
    p, th = _problem(act, teacher_activation=teacher, n=2, k=1, d=2)
    _fd_check(p, th)


@pytest.mark.slow
@pytest.mark.parametrize("act,teacher,train", _sel([("relu", "abs", True), ("sin", None, False), ("step", "relu", True),
                                                    ("gauss", "cos", True)], [("sin", None, False)]))
def test_more_pairs_against_60_digit_fd(act, teacher, train):
    p, th = _problem(act, teacher_activation=teacher, n=2, k=1, d=2, train_output=train)
    _fd_check(p, th, hessian=act != "step")


def test_float_matches_mp():
    p, th = _problem("relu", n=3, k=2, d=3)
    l, g = p.loss_and_gradient(th)
    H = p.hessian(th)
    lm, gm = p.loss_and_gradient(th, dps=30)
    Hm = p.hessian(th, dps=30)
    assert l == pytest.approx(float(lm), rel=1e-13)
    np.testing.assert_allclose(g, np.array(gm, dtype=float), rtol=1e-11, atol=1e-13)
    np.testing.assert_allclose(H, np.array(Hm, dtype=float), rtol=1e-10, atol=1e-12)


def test_pack_unpack_and_parameters():
    p, th = _problem("relu", n=2, k=2, d=3)
    assert p.num_params == 2 * 3 + 2 + 2 and th.shape == (10,)
    params = p.unpack(th)
    W, a, beta = params.W, params.a, params.beta
    np.testing.assert_array_equal(p.pack(W, a, beta), th)
    np.testing.assert_array_equal(p.pack_params(params), th)
    assert params.glu_c is None and params.glu_w is None and params.glu_v is None
    np.testing.assert_array_equal(th[6:8], a)
    np.testing.assert_array_equal(th[8:], beta)
    with pytest.raises(ShapeError, match="beta"):
        p.pack(W, a)
    q = TeacherStudent("relu", np.eye(2), n=2, bias=True, train_output=False)
    assert q.num_params == 6
    params = q.unpack(q.pack(np.ones((2, 2)), beta=[0.1, 0.2]))
    a2, b2 = params.a, params.beta
    np.testing.assert_array_equal(a2, np.ones(2))
    np.testing.assert_array_equal(b2, [0.1, 0.2])
    o = TeacherStudent.orthonormal("erf", 2, 3, d=4, bias=True, teacher_bias=[0.5, -0.5])
    assert (o.n, o.k, o.d, o.num_params) == (3, 2, 4, 18)
    np.testing.assert_array_equal(o.teacher_bias, [0.5, -0.5])


def test_errors():
    with pytest.raises(ShapeError, match="teacher_bias"):
        TeacherStudent("relu", np.eye(2), n=1, bias=True, teacher_bias=[1.0])
    with pytest.raises(DomainError, match="zero norm"):
        TeacherStudent("relu", np.array([[0.0, 0.0], [1.0, 0.0]]), n=1, bias=True, teacher_bias=[0.5, 0.0])
    # a zero-norm teacher with t(beta*) = 0 is the zero function and is dropped
    p = TeacherStudent("relu", np.array([[0.0, 0.0], [1.0, 0.0]]), n=1, bias=True, teacher_bias=[-0.5, 0.0])
    assert p._assembly.k == 1
    thp = p.pack([[0.3, -0.7]], [1.2], [0.1])
    only = TeacherStudent("relu", np.array([[1.0, 0.0]]), n=1, bias=True, teacher_bias=[0.0])
    assert p.loss(thp) == only.loss(thp)
    p, th = _problem("relu", n=2, k=1, d=2)
    params = p.unpack(th)
    W, a, beta = params.W, params.a, params.beta
    W[1] = W[0]
    beta[1] = beta[0]
    with pytest.raises(DomainError, match="aligned"):
        p.hessian(p.pack(W, a, beta))
    with pytest.raises(ShapeError):
        p.loss(th[:-1])
    # a kinked user activation with infinitely many kinks and no mean function: no path, a clear refusal
    symland.register_activation("test_heaviside_sin", sympy.Heaviside(sympy.sin(symbols.z)), replace=True)
    q, thq = _problem("test_heaviside_sin", teacher_activation="tanh", n=1, k=1, d=2)
    with pytest.raises(NoClosedFormError):
        q.gradient(thq)


def test_minimize_and_refine_with_biases():
    """Student = teacher (sin with biases) is a global minimum with zero loss; the solvers find/refine it."""
    rng = np.random.default_rng(2)
    V = rng.normal(size=(2, 2))
    p = TeacherStudent("sin", V, np.array([1.0, 0.8]), n=2, bias=True, teacher_bias=[0.3, -0.4])
    exact = p.pack(V, [1.0, 0.8], [0.3, -0.4])
    assert abs(p.loss(exact)) < 1e-15
    start = exact + 0.05 * rng.normal(size=exact.size)
    res = critical.minimize(p, start, gtol=1e-10)
    assert res.loss < 1e-18
    cp = critical.refine(p, res.theta, dps=40)
    assert cp.loss < mpf(10) ** -60
    assert cp.gradient_norm < mpf(10) ** -35
