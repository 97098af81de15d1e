r"""Critical points: float64 solvers, mpmath Newton refinement, classification.

Conventions: $x \sim N(0, I_d)$, $L = \tfrac12 E[(f - f^*)^2]$, ``"erf"`` is
$\operatorname{erf}(z/\sqrt2)$ with dual kernel $\kappa(a, b, c) = (2/\pi)\arcsin(c/\sqrt{(1+a)(1+b)})$;
$\theta = [W.ravel(), a]$ (or $W.ravel()$ with fixed output weights).

Independent references used below (none of them calls the code under test):

* :func:`erf_loss_mp` — the erf loss written directly from the dual kernel in mpmath;
* :func:`fd_hessian` — central second differences of that loss at 40 digits with $h = 10^{-15}$
  (truncation $O(h^2) = 10^{-30}$, rounding $10^{-40}/h^2 = 10^{-10}$), diagonalised in float64;
* exact closed forms derived in the docstrings (e.g. $1/3 - (4/\pi)\arcsin(1/4)$).

The default run is a reduced form (~1 min); ``SYMLAND_FULL=1`` runs every seed of the tests
marked ``slow``.
"""

from __future__ import annotations

import math
import multiprocessing
import traceback

import mpmath
import numpy as np
import pytest
import scipy.optimize
from conftest import FULL

from symland import ConvergenceError, PrecisionError, ShapeError, TeacherStudent
from symland.landscape.critical import (
    CriticalPoint,
    classify,
    gradient_flow,
    minimize,
    newton,
    predicted_zero_modes,
    refine,
)


# ---------------------------------------------------------------------------
# independent references
# ---------------------------------------------------------------------------
def erf_loss_mp(theta, problem):
    r"""$L = \tfrac12\sum_{pq}\alpha_p\alpha_q(2/\pi)\arcsin(G_{pq}/\sqrt{(1+G_{pp})(1+G_{qq})})$.

    Written from the Saad & Solla kernel alone, at the current mpmath precision.
    """
    n, d = problem.n, problem.d
    theta = [mpmath.mpf(v) for v in theta]
    W = [theta[i * d:(i + 1) * d] for i in range(n)]
    a = theta[n * d:] if problem.train_output else [mpmath.mpf(v) for v in problem.student_output]
    U = W + [[mpmath.mpf(v) for v in row] for row in problem.teacher_weights]
    alpha = list(a) + [-mpmath.mpf(v) for v in problem.teacher_output]
    G = [[mpmath.fsum(x * y for x, y in zip(u, v)) for v in U] for u in U]
    total = mpmath.fsum(
        alpha[p] * alpha[q] * mpmath.asin(G[p][q] / mpmath.sqrt((1 + G[p][p]) * (1 + G[q][q])))
        for p in range(len(U)) for q in range(len(U)))
    return total / mpmath.pi


def fd_hessian(problem, theta, dps=40, h="1e-15"):
    """Float64 matrix of central second differences of :func:`erf_loss_mp` at ``dps`` digits."""
    with mpmath.workdps(dps):
        th = [mpmath.mpf(v) for v in theta]
        h = mpmath.mpf(h)
        P = len(th)

        def at(*shifts):
            t = list(th)
            for i, s in shifts:
                t[i] += s * h
            return erf_loss_mp(t, problem)

        f0 = at()
        H = np.zeros((P, P))
        for i in range(P):
            H[i, i] = float((at((i, 1)) - 2 * f0 + at((i, -1))) / h**2)
            for j in range(i):
                H[i, j] = H[j, i] = float(
                    (at((i, 1), (j, 1)) - at((i, 1), (j, -1)) - at((i, -1), (j, 1)) + at((i, -1), (j, -1)))
                    / (4 * h * h))
    return H


def mp_norm(v):
    return mpmath.sqrt(mpmath.fsum(x * x for x in v))


def grad_norm_at(problem, theta, dps):
    """|grad L| at exactly ``theta`` (no re-rounding), evaluated at ``dps`` digits."""
    with mpmath.workdps(dps):
        return mp_norm(problem.gradient(np.array(theta, dtype=object), dps=dps))


def _bounded_child(conn, fn, args):
    try:
        fn(*args)
        conn.send(None)
    except BaseException as exc:  # report every failure, assertion or not, to the parent
        conn.send(f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}")
    finally:
        conn.close()


def bounded(fn, *args, seconds=20):
    """Run ``fn(*args)`` in a forked child and fail (instead of hanging the suite) after ``seconds``."""
    ctx = multiprocessing.get_context("fork")
    receiver, sender = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_bounded_child, args=(sender, fn, args))
    proc.start()
    sender.close()
    try:
        if not receiver.poll(seconds):
            pytest.fail(f"{fn.__name__}{args} did not return within {seconds} s (hang)")
        msg = receiver.recv()
    finally:
        if proc.is_alive():
            proc.kill()
        proc.join()
    if msg is not None:
        raise AssertionError(msg)


def log10(x):
    return float(mpmath.log10(x))


def random_start(problem, rng):
    W = rng.normal(0.0, 1.0 / math.sqrt(problem.d), (problem.n, problem.d))
    return problem.pack(W, rng.normal(size=problem.n)) if problem.train_output else problem.pack(W)


# the n = 1, k = 2 erf minimum (derived in test_average_point_is_the_n1_global_minimum)
S6 = 1 / math.sqrt(6)


def avg_loss_exact():
    return mpmath.mpf(1) / 3 - 4 / mpmath.pi * mpmath.asin(mpmath.mpf(1) / 4)


# ---------------------------------------------------------------------------
# fixtures
# ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def erf_k4n2():
    return TeacherStudent.orthonormal("erf", k=4, n=2)


@pytest.fixture(scope="module")
def k4n2_minimum(erf_k4n2):
    """A float64 minimum of erf k=4 (orthonormal, d=4), n=2, from a seeded random start."""
    res = minimize(erf_k4n2, random_start(erf_k4n2, np.random.default_rng(1)))
    assert res.gradient_norm < 1e-9
    return res


@pytest.fixture(scope="module")
def refined_k4n2(erf_k4n2, k4n2_minimum):
    return {dps: refine(erf_k4n2, k4n2_minimum.theta, dps=dps) for dps in (30, 50)}


# ---------------------------------------------------------------------------
# quadratic convergence and accuracy of refine
# ---------------------------------------------------------------------------
def assert_fast_convergence(history, dps):
    r"""Every Newton step gains at least 6 digits of |grad|: $\log_{10} g_{k+1} \le \log_{10} g_k - 6$.

    Refinement steps with the float64 Hessian contract by about $\kappa u$ ($u = 2^{-53}$) and switch
    to exact Hessians (quadratic convergence) when a step gains fewer than 6 digits.  Checked for
    every consecutive pair with $g_k < 10^{-3}$ and $g_{k+1}$ above $10^{-(dps+12)}$, a few digits
    above the noise floor of the working precision ($dps + 15$ digits).  At least two pairs must
    qualify.
    """
    g = [mpmath.mpf(s) for s in history]
    pairs = [(log10(g[i]), log10(g[i + 1])) for i in range(len(g) - 1)
             if g[i] < 1e-3 and g[i + 1] > mpmath.mpf(10) ** (-(dps + 12))]
    assert len(pairs) >= 2, history
    for lk, lk1 in pairs:
        assert lk1 <= lk - 6, (history, lk, lk1)


def test_refine_converges_fast(refined_k4n2):
    cp = refined_k4n2[50]
    assert all(isinstance(s, str) for s in cp.history)
    assert cp.iterations == len(cp.history) - 1 <= 6
    assert_fast_convergence(cp.history, 50)


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(10 if FULL else 2))
def test_refine_converges_fast_many_starts(erf_k4n2, seed):
    res = minimize(erf_k4n2, random_start(erf_k4n2, np.random.default_rng(100 + seed)))
    cp = refine(erf_k4n2, res.theta, dps=50, classify_point=False)
    assert_fast_convergence(cp.history, 50)


@pytest.mark.parametrize("dps", [30, 50])
def test_refined_point_accuracy(erf_k4n2, refined_k4n2, dps):
    cp = refined_k4n2[dps]
    assert isinstance(cp, CriticalPoint) and cp.dps == dps
    bound = mpmath.mpf(10) ** (-(dps - 10))
    assert cp.gradient_norm < bound
    # recomputed independently of the reported number, at the returned (rounded) theta
    assert grad_norm_at(erf_k4n2, cp.theta, dps + 15) < bound
    assert cp.digits >= dps - 5
    # float64 loss at the rounded point agrees with the high-precision loss
    assert abs(float(cp.loss) - erf_k4n2.loss(cp.theta_float())) < 1e-12
    # and the high-precision loss agrees with the kernel written out by hand
    with mpmath.workdps(dps + 10):
        assert abs(cp.loss - erf_loss_mp(cp.theta, erf_k4n2)) < mpmath.mpf(10) ** (-(dps - 3))
    assert cp.kind == "minimum" and cp.index == 0 and cp.nullity == 0


def test_refine_at_two_precisions_agrees(refined_k4n2):
    lo, hi = refined_k4n2[30], refined_k4n2[50]
    with mpmath.workdps(60):
        assert max(abs(x - y) for x, y in zip(lo.theta, hi.theta)) < mpmath.mpf(10) ** -27
        assert abs(lo.loss - hi.loss) < mpmath.mpf(10) ** -28


def test_reported_gradient_norm_describes_returned_theta(erf_k4n2, refined_k4n2):
    cp = refined_k4n2[50]
    actual = grad_norm_at(erf_k4n2, cp.theta, 80)
    assert actual <= 10 * cp.gradient_norm


# ---------------------------------------------------------------------------
# the teacher is a zero-loss minimum
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("dps", [30, 50])
def test_teacher_is_zero_loss_minimum(dps):
    p = TeacherStudent.orthonormal("erf", k=3, n=3)
    teacher = p.pack(np.eye(3), np.ones(3))
    start = teacher + 1e-3 * np.random.default_rng(7).normal(size=teacher.size)
    cp = refine(p, start, dps=dps)
    assert cp.loss < mpmath.mpf(10) ** (-(dps - 5))
    assert cp.kind == "minimum" and cp.index == 0 and cp.nullity == 0
    assert cp.zero_mode_sources == {}
    with mpmath.workdps(dps + 5):
        assert max(abs(x - y) for x, y in zip(cp.theta, teacher)) < mpmath.mpf(10) ** (-(dps - 5))
    # the Hessian at the teacher is positive definite with the same spectrum in float64
    lam = np.linalg.eigvalsh(p.hessian(teacher))
    assert lam[0] > 1e-3
    np.testing.assert_allclose([float(v) for v in cp.eigenvalues], lam, rtol=1e-9, atol=1e-12)


# ---------------------------------------------------------------------------
# constructed critical points, n = 1 student, k = 2 orthonormal erf teacher (d = 2)
# ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def erf_k2n1():
    return TeacherStudent.orthonormal("erf", k=2, n=1)


def test_zero_point_is_saddle_with_exact_hessian(erf_k2n1):
    r"""$w = 0$, $a = 0$ is critical for erf (s(0) = 0) and its Hessian is known exactly.

    $f = a\,s(w\cdot x)$, so every second derivative that keeps a factor $a$ or $s(0)$ vanishes;
    only the mixed block survives:
    $\partial^2L/\partial a\,\partial w = -E[f^*(x)\,s'(0)\,x] = -s'(0)\sum_r b_r E[s'(v_r\cdot x)]v_r$
    (Stein), with $s'(0) = \sqrt{2/\pi}$ and $E[s'(z)] = 1/\sqrt\pi$ for $z\sim N(0,1)$:
    $m = -(\sqrt2/\pi)(v_1 + v_2)$.  So $H = [[0, m], [m^T, 0]]$ with eigenvalues
    $\pm|m| = \pm 2/\pi$ and $0$ on $w \perp v_1 + v_2$: index 1, nullity $d - 1 = 1$.
    (``predicted_zero_modes`` says ``zero_neurons: 1`` — "a is free" — which is not the null
    direction here: the line $w = 0$ is not critical for $a \ne 0$; the counts agree only
    because $d - 1 = 1$.)
    """
    p = erf_k2n1
    theta = np.zeros(3)
    m = -math.sqrt(2) / math.pi
    expected = np.array([[0, 0, m], [0, 0, m], [m, m, 0]])
    np.testing.assert_allclose(p.hessian(theta), expected, atol=1e-15)
    np.testing.assert_allclose(fd_hessian(p, theta), expected, atol=1e-8)
    assert np.all(p.gradient(theta) == 0)
    cp = refine(p, theta, dps=30)
    assert cp.gradient_norm == 0 and cp.iterations == 0
    assert cp.kind == "saddle" and cp.index == 1 and cp.nullity == 1
    with mpmath.workdps(30):
        two_over_pi = 2 / mpmath.pi
        for got, want in zip(cp.eigenvalues, [-two_over_pi, 0, two_over_pi]):
            assert abs(got - want) < mpmath.mpf(10) ** -28


def test_copy_point_is_not_critical(erf_k2n1):
    r"""Copying teacher neuron 1 ($w = v_1$, $a = 1$) is *not* critical, although the remaining
    teacher neuron is invisible to the loss value ($E[s(w\cdot x)s(v_2\cdot x)] = 0$ for
    $w\perp v_2$, erf odd): its *derivative* is not zero.  By Price,
    $\nabla_w\kappa(|w|^2, 1, w\cdot v_2) = 2\kappa_a w + \kappa_c v_2$ and at $c = 0$:
    $\kappa_a = 0$, $\kappa_c = (2/\pi)/\sqrt{(1+1)(1+1)} = 1/\pi$.  So
    $\nabla_w L = -a b_2 \kappa_c v_2 = -(1/\pi) v_2$, and $\partial L/\partial a =
    \varphi(1) - \kappa(1,1,1) - \kappa(1,1,0) = 0$.
    """
    p = erf_k2n1
    with mpmath.workdps(40):
        g = p.gradient(p.pack([[1.0, 0.0]], [1.0]), dps=30)
        expected = [0, -1 / mpmath.pi, 0]
        assert max(abs(x - y) for x, y in zip(g, expected)) < mpmath.mpf(10) ** -29
    # a float Newton iteration from there does not come back to a critical point nearby:
    # it runs off along the erf "channel" (|w| grows without bound)
    res = newton(p, p.pack([[1.0, 0.0]], [1.0]), max_iter=60)
    assert np.linalg.norm(res.theta[:2]) > 10 or not res.converged


def _solve_average_scalars(p):
    """Minimise L(w = t(v1 + v2), a = c) over the two scalars with scipy."""
    def f(x):
        return p.loss(p.pack([[x[0], x[0]]], [x[1]]))

    res = scipy.optimize.minimize(f, [0.5, 1.0], method="BFGS", options={"gtol": 1e-10})
    return p.pack([[res.x[0], res.x[0]]], [res.x[1]])


def test_average_point_is_the_n1_global_minimum(erf_k2n1):
    r"""The symmetric "average" point of n = 1, k = 2 is a *minimum*, not a saddle.

    The brief expected a saddle; the computation says otherwise.  With $w = t(v_1 + v_2)$,
    $q = |w|^2 = 2t^2$: $L = \tfrac12[a^2\varphi(q) - 4a\kappa(q, 1, t) + 2\varphi(1)]$
    (the teacher cross term vanishes).  At $t = 1/\sqrt6$ ($q = 1/3$):
    $\varphi(1/3) = (2/\pi)\arcsin(1/4)$ and $\kappa(1/3, 1, 1/\sqrt6) = (2/\pi)\arcsin(1/4)$,
    so $\partial_a L = 0$ gives $a = 2$, and $L = 1/3 - (4/\pi)\arcsin(1/4) \approx 0.0116108$.
    The swap $v_1\leftrightarrow v_2$ fixes the point, so $\nabla L$ lies in the 2-dim fixed
    subspace and the scalar optimum is critical in the full space.  The Hessian is positive
    definite (independent FD check below): this is the global minimum (``minimize`` finds it,
    up to the sign symmetry $(w, a) \to (-w, -a)$, from every start we tried).
    """
    p = erf_k2n1
    start = _solve_average_scalars(p)
    cp = refine(p, start, dps=40)
    with mpmath.workdps(40):
        s6 = 1 / mpmath.sqrt(6)
        exact = [s6, s6, mpmath.mpf(2)]
        assert max(abs(x - y) for x, y in zip(cp.theta, exact)) < mpmath.mpf(10) ** -35
        assert abs(cp.loss - avg_loss_exact()) < mpmath.mpf(10) ** -37
        # criticality at the exact point from the hand-written loss (mpmath.diff, own step)
        for i in range(3):
            def along(t, i=i):
                th = list(exact)
                th[i] += t
                return erf_loss_mp(th, p)
            assert abs(mpmath.diff(along, 0)) < mpmath.mpf(10) ** -30
    assert cp.kind == "minimum" and cp.index == 0 and cp.nullity == 0
    lam_fd = np.linalg.eigvalsh(fd_hessian(p, cp.theta))
    assert lam_fd[0] > 1e-3
    np.testing.assert_allclose([float(v) for v in cp.eigenvalues], lam_fd, rtol=1e-7, atol=1e-8)


def pair_average_exact():
    """n = 2, k = 4: student i averages teacher pair i exactly (w = (v_{2i-1} + v_{2i})/sqrt 6, a = 2)."""
    with mpmath.workdps(60):
        s6 = 1 / mpmath.sqrt(6)
    z = mpmath.mpf(0)
    return np.array([s6, s6, z, z, z, z, s6, s6, mpmath.mpf(2), mpmath.mpf(2)], dtype=object)


def test_pair_average_point_is_index_two_saddle(erf_k4n2):
    r"""Two copies of the n=1 minimum, one per orthogonal teacher pair, form a saddle of index 2.

    Within a block it is the n = 1 minimum.  Across blocks all covariances vanish, so the
    cross terms of $\nabla_{w_1}L$ are only the $\kappa_c$ terms:
    $a_1[-\sum_{r=3,4}\kappa_c(\tfrac13, 1, 0)v_r + a_2\kappa_c(\tfrac13, \tfrac13, 0)w_2]
    = a_1\tfrac2\pi[-\sqrt{3/8} + 2\cdot\tfrac34/\sqrt6](v_3 + v_4) = 0$: critical, with loss
    $2/3 - (8/\pi)\arcsin(1/4)$.  Newton from a perturbed start finds it; its index is checked
    against an FD Hessian of the hand-written loss.
    """
    p = erf_k4n2
    exact = pair_average_exact()
    with mpmath.workdps(40):
        assert grad_norm_at(p, exact, 40) < mpmath.mpf(10) ** -38
        assert abs(p.loss(exact, dps=40) - 2 * avg_loss_exact()) < mpmath.mpf(10) ** -38
    exact_f = np.array([float(v) for v in exact])
    start = exact_f + 1e-3 * np.random.default_rng(3).normal(size=exact_f.size)
    res = newton(p, start)
    assert res.converged and np.max(np.abs(res.theta - exact_f)) < 1e-8
    cp = refine(p, res.theta, dps=30)
    with mpmath.workdps(40):
        assert max(abs(x - y) for x, y in zip(cp.theta, exact)) < mpmath.mpf(10) ** -27
    assert cp.kind == "saddle" and cp.index == 2 and cp.nullity == 0
    lam_fd = np.linalg.eigvalsh(fd_hessian(p, cp.theta))
    assert np.count_nonzero(lam_fd < -1e-6) == 2 and np.min(np.abs(lam_fd)) > 1e-4
    np.testing.assert_allclose([float(v) for v in cp.eigenvalues], lam_fd, rtol=1e-6, atol=1e-8)


# ---------------------------------------------------------------------------
# degenerate points: a duplicated neuron gives a line of critical points
# ---------------------------------------------------------------------------
HANG_REASON = (
    "BUG symland (commit 2611483): TeacherStudent.hessian never returns when two student neurons "
    "are exactly equal (duplicates). gaussian.singular_at_alignment flags erf as singular (its "
    "d2kappa/dc2 = 2c/(pi (D+a+b+1)^(3/2)) has D in the denominator but no pole at D = 0), and "
    "problems._aligned_limit moves both copies by the same vector, so they stay aligned and it "
    "recurses into itself with dps -> 2 dps + 20 forever (relu duplicates hang the same way). "
    "Repro: p = TeacherStudent.orthonormal('erf', k=2, n=2); s = 6**-0.5; "
    "p.hessian(p.pack([[s, s], [s, s]], [1.0, 1.0]))")


def duplicated_start(lam):
    """n = 2, k = 2: the n = 1 minimum duplicated with output weights 2 lam, 2 (1 - lam) (float64)."""
    p = TeacherStudent.orthonormal("erf", k=2, n=2)
    return p, p.pack([[S6, S6], [S6, S6]], [2 * lam, 2 * (1 - lam)])


@pytest.mark.parametrize("lam", [0.3, 0.5])
def test_duplicated_neuron_line_of_critical_points(lam):
    bounded(_duplicated_line, lam)


def _duplicated_line(lam):
    r"""Splitting the n = 1 minimum's neuron into two copies with output weights
    $\lambda a, (1-\lambda)a$ leaves $f$ unchanged, so every $\lambda$ gives a critical point
    (a line: one exact zero mode).  For $\lambda\in(0,1)$ it is the Saad–Solla symmetric
    plateau, a saddle (index 1 from $w_1 - w_2 \propto v_1 - v_2$).  The exact Hessian has a
    *second* zero eigenvalue, on $w_1 - w_2 \propto w$ (checked by FD of the hand-written loss at
    the exact point), which is not a symmetry: ``predicted_zero_modes`` counts 1.
    """
    p, start = duplicated_start(lam)
    assert predicted_zero_modes(p, start) == {"duplicates": 1}
    cp = refine(p, start, dps=30)
    assert cp.gradient_norm < mpmath.mpf(10) ** -20
    assert grad_norm_at(p, cp.theta, 45) < mpmath.mpf(10) ** -20
    assert cp.nullity >= 1
    assert cp.zero_mode_sources == {"duplicates": 1} and cp.predicted_nullity == 1
    with mpmath.workdps(30):
        assert abs(cp.loss - avg_loss_exact()) < mpmath.mpf(10) ** -27
        # still on the line: equal input weights, output weights summing to 2
        assert max(abs(cp.theta[i] - cp.theta[i + 2]) for i in range(2)) < mpmath.mpf(10) ** -12
        assert abs(cp.theta[4] + cp.theta[5] - 2) < mpmath.mpf(10) ** -12
    assert cp.kind == "saddle" and cp.index == 1
    # independent: FD Hessian at the exact duplicated point
    with mpmath.workdps(40):
        s6 = 1 / mpmath.sqrt(6)
        exact = [s6, s6, s6, s6, 2 * mpmath.mpf(lam), 2 - 2 * mpmath.mpf(lam)]
    lam_fd = np.linalg.eigvalsh(fd_hessian(p, exact))
    assert np.count_nonzero(lam_fd < -1e-6) == 1
    assert np.count_nonzero(np.abs(lam_fd) < 1e-8) == 2


def test_degenerate_point_classified_consistently():
    bounded(_degenerate_consistency)


def _degenerate_consistency():
    r"""$\lambda = 3/2$: index 0 and two exact zero modes (FD: see the test above) of which one is
    predicted, so ``kind`` must be ``"degenerate"`` with nullity 2 — at every precision."""
    p, start = duplicated_start(1.5)
    with mpmath.workdps(40):
        s6 = 1 / mpmath.sqrt(6)
        lam_fd = np.linalg.eigvalsh(fd_hessian(p, [s6, s6, s6, s6, mpmath.mpf(3), mpmath.mpf(-1)]))
    assert lam_fd[0] > -1e-8 and np.count_nonzero(np.abs(lam_fd) < 1e-8) == 2
    kinds = {}
    for dps in (30, 50):
        cp = refine(p, start, dps=dps)
        kinds[dps] = (cp.kind, cp.index, cp.nullity)
    assert kinds == {30: ("degenerate", 0, 2), 50: ("degenerate", 0, 2)}


# ---------------------------------------------------------------------------
# relu: zero-loss minima have aligned student/teacher neurons
# ---------------------------------------------------------------------------
def test_relu_global_minimum_with_trained_outputs_is_minimum():
    p = TeacherStudent.orthonormal("relu", k=2, n=2)
    rng = np.random.default_rng(0)
    start = p.pack(np.eye(2) + 1e-3 * rng.normal(size=(2, 2)), np.ones(2) + 1e-3 * rng.normal(size=2))
    cp = refine(p, start, dps=30)
    assert cp.loss < mpmath.mpf(10) ** -25
    assert cp.zero_mode_sources == {"rescaling": 2}
    assert (cp.kind, cp.index, cp.nullity) == ("minimum", 0, 2)


def test_relu_fixed_output_minimum_spectrum():
    p = TeacherStudent.orthonormal("relu", k=6, n=6, train_output=False)
    res = minimize(p, random_start(p, np.random.default_rng(0)))
    cp = refine(p, res.theta, dps=50)
    assert cp.kind == "minimum" and cp.index == 0
    near = np.round(cp.theta_float()) + 1e-9 * np.random.default_rng(1).normal(size=36)
    lam_ref = np.linalg.eigvalsh(p.hessian(near))
    np.testing.assert_allclose([float(v) for v in cp.eigenvalues], lam_ref, rtol=1e-6)


# ---------------------------------------------------------------------------
# non-convergence
# ---------------------------------------------------------------------------
def test_refine_reports_non_convergence(erf_k4n2):
    p = erf_k4n2
    start = random_start(p, np.random.default_rng(11))
    with pytest.raises(ConvergenceError) as info:
        refine(p, start, dps=30, max_iter=2)
    err = info.value
    assert len(err.history) == 3 and all(isinstance(s, str) for s in err.history)
    assert float(mpmath.mpf(err.history[0])) == pytest.approx(np.linalg.norm(p.gradient(start)), rel=1e-6)
    msg = str(err)
    assert "did not reach |grad| <= 1.0e-30 in 2 iterations" in msg
    assert "not be near a critical point" in msg


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(16 if FULL else 4))
def test_refine_never_returns_above_tolerance(erf_k4n2, seed):
    """From random starts refine either raises ConvergenceError or meets its tolerance."""
    p = erf_k4n2
    start = random_start(p, np.random.default_rng(200 + seed))
    tol = mpmath.mpf("1e-25")
    try:
        cp = refine(p, start, dps=30, tol=tol, max_iter=15, classify_point=False)
    except ConvergenceError as err:
        assert len(err.history) == 16
        assert mpmath.mpf(err.history[-1]) > tol
        return
    assert cp.gradient_norm <= tol
    assert mpmath.mpf(cp.history[-1]) <= tol and all(mpmath.mpf(s) > tol for s in cp.history[:-1])
    assert grad_norm_at(p, cp.theta, 45) < 1e3 * tol


# ---------------------------------------------------------------------------
# gradient flow
# ---------------------------------------------------------------------------
GTOL = 1e-10


@pytest.fixture(scope="module")
def flow_k3():
    p = TeacherStudent.orthonormal("erf", k=3, n=3)
    return p, gradient_flow(p, random_start(p, np.random.default_rng(0)), gtol=GTOL, trajectory=True)


def test_gradient_flow_trajectory(flow_k3):
    p, res = flow_k3
    assert res.times.ndim == 1 and res.trajectory.shape == (res.times.size, p.num_params)
    assert res.times[0] == 0 and np.all(np.diff(res.times) > 0)
    losses = np.array([p.loss(th) for th in res.trajectory])
    assert np.all(np.diff(losses) <= 1e-14)
    assert losses[0] - losses[-1] > 0.01
    # the terminal event fired at |grad| = gtol (to float64 rounding of the gradient)
    assert "termination event" in res.message
    assert res.gradient_norm <= GTOL * (1 + 1e-6)
    assert res.loss < 1e-12  # this start reaches the teacher (zero loss)


def test_gradient_flow_reaches_gtol(flow_k3):
    p, res = flow_k3
    assert res.converged and res.gradient_norm < GTOL


def test_minimize_and_flow_reach_the_same_minimum(erf_k2n1):
    p = erf_k2n1
    start = random_start(p, np.random.default_rng(0))
    flow = gradient_flow(p, start, gtol=1e-9)
    opt = minimize(p, start)
    assert flow.gradient_norm < 1.001e-9 and opt.gradient_norm < 1e-9
    assert abs(flow.loss - opt.loss) < 1e-8
    assert abs(opt.loss - float(avg_loss_exact())) < 1e-12
    np.testing.assert_allclose(flow.theta, opt.theta, atol=1e-6)


# ---------------------------------------------------------------------------
# bad input
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("dps", [15, 10, 0, -5])
def test_refine_rejects_low_precision(erf_k2n1, dps):
    with pytest.raises(PrecisionError, match="dps"):
        refine(erf_k2n1, np.zeros(3), dps=dps)


def test_refine_rejects_non_integer_precision(erf_k2n1):
    with pytest.raises(PrecisionError, match="dps"):
        refine(erf_k2n1, np.zeros(3), dps=30.5)


@pytest.mark.parametrize("solver", [refine, minimize, newton, gradient_flow])
@pytest.mark.parametrize("shape", [(2,), (4,), (1, 3)])
def test_solvers_reject_wrong_shape(erf_k2n1, solver, shape):
    with pytest.raises(ShapeError, match="theta"):
        solver(erf_k2n1, np.full(shape, 0.1))


def test_classify_fills_in_a_point(erf_k2n1):
    """classify() on an unclassified refine() result gives the same answer as refine's own."""
    p = erf_k2n1
    start = _solve_average_scalars(p)
    bare = refine(p, start, dps=30, classify_point=False)
    assert bare.kind is None and bare.eigenvalues is None
    full = refine(p, start, dps=30)
    classify(p, bare)
    assert (bare.kind, bare.index, bare.nullity) == (full.kind, full.index, full.nullity)
    assert bare.to_dict()["kind"] == "minimum"
