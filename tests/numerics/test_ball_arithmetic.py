"""The ball member of the precision context (python-flint ``arb``).

References are independent of the ball code:
* the compiler: exact rationals and hand values (1/3, 1/4, pi), and for switching functions and
  powers the value at sample points of the ball computed with Python floats/fractions;
* problem enclosures: the loss summed pair by pair from the 60-digit mpmath kernels
  (``symland.kernel`` / ``symland.diagonal``, themselves checked against quadrature in
  tests/kernels), $L = \\tfrac12\\sum_{p,q}\\alpha_p\\alpha_q\\kappa(G_{pp}, G_{qq}, G_{pq})$, written
  here without the assembly; gradient and Hessian by central differences of that loss at 60
  digits (step 1e-14: truncation ~1e-28, rounding ~1e-32), compared with a 1e-22 relative slack.
"""

import fractions
import math
import threading

import mpmath
import numpy as np
import pytest
import sympy
from hypothesis import given, settings, strategies as st

import symland
from conftest import full_run
from symland.errors import DomainError, NoClosedFormError, ShapeError
from symland.numerics.precision import FLOAT64, Precision

import flint  # noqa: E402  (a runtime dependency)

from symland.numerics.ball import BallPrecision, as_ball, ball_precision, lambdify_ball  # noqa: E402

x = sympy.Symbol("x")
CLOSED = [name for name in symland.known_activations() if symland.activation(name).has_closed_form]
# default run: one smooth, one kinked, one with a jump, one with atan/atan2 and exp; all in the full run
DEFAULT = ["erf", "relu", "step", "gelu", "cos"]
ACTIVATIONS = CLOSED if full_run() else [a for a in DEFAULT if a in CLOSED]


# --- the compiler -------------------------------------------------------------------------------
def test_rationals_are_exact_balls_and_constants_are_enclosed():
    with ball_precision(30):
        quarter = lambdify_ball((x,), sympy.Rational(1, 4) * x)(flint.arb(1))
        third = lambdify_ball((x,), sympy.Rational(1, 3) + 0 * x)(flint.arb(1))
        pi = lambdify_ball((x,), sympy.pi * x)(flint.arb(1))
        tenth = lambdify_ball((x,), sympy.Float("0.1") * x)(flint.arb(1))
        assert quarter.is_exact() and quarter == flint.arb(1) / 4
        assert (3 * third).contains(1) and third.rad() < 1e-40
        assert pi.overlaps(flint.arb("3.14159265358979323846264338327950288419716939937510", "1e-50"))
        assert pi.rad() < 1e-40
        assert tenth.is_exact() and tenth == flint.arb(0.1)  # the binary value of the Float, exactly


SWITCHING = [sympy.Heaviside(x), sympy.sign(x), sympy.Max(x, sympy.Rational(1, 8)), sympy.Min(x, 0), sympy.Abs(x),
             x**2, x**3 - x, (x**2 + 1) ** -1]


def _reference(expr, t):
    """``expr`` at the rational point ``t`` by exact SymPy arithmetic (Heaviside(0) = 1/2)."""
    return sympy.Rational(expr.subs(x, sympy.Rational(t)))


@settings(max_examples=60, deadline=None, derandomize=True)
@given(mid=st.floats(-1, 1), rad=st.floats(0, 0.5), frac=st.floats(-1, 1), which=st.integers(0, len(SWITCHING) - 1))
def test_switching_functions_and_powers_enclose_every_point_of_the_ball(mid, rad, frac, which):
    expr = SWITCHING[which]
    t = fractions.Fraction(mid) + fractions.Fraction(rad) * fractions.Fraction(frac)
    with ball_precision(20):
        ball = flint.arb(mid) + flint.arb(0, rad) if rad else flint.arb(mid)
        value = lambdify_ball((x,), expr)(ball)
        ref = _reference(expr, t)
        assert value.is_finite()
        assert value.contains(flint.arb(ref.p) / ref.q) or value.overlaps(flint.arb(ref.p) / ref.q), (expr, t, value)
        if rad and mid - rad < 0 < mid + rad and expr in (sympy.Heaviside(x), sympy.sign(x)):
            assert value.contains(0) and value.contains(1)  # both branches: the hull, never one side
        if expr == x**2:
            assert value.lower() >= 0  # even power of a ball around 0 is not negative


def test_refusals_name_the_function():
    with pytest.raises(NoClosedFormError, match="besselj"):
        lambdify_ball((x,), sympy.besselj(1, x))
    with pytest.raises(NoClosedFormError, match="zeta"):
        lambdify_ball((x,), sympy.zeta(x))
    with pytest.raises(NoClosedFormError, match="Piecewise"):
        lambdify_ball((x,), sympy.Piecewise((x, x > 1), (0, True)))
    with ball_precision(20):
        assert not lambdify_ball((x,), 1 / sympy.sqrt(x))(flint.arb(0, 1e-3)).is_finite()


# --- the precision context ----------------------------------------------------------------------
def test_ball_precision_member():
    assert (FLOAT64.kind, Precision(30).kind, BallPrecision(30).kind) == ("float64", "mpmath", "ball")
    assert not Precision(30).ball and BallPrecision(30).ball and BallPrecision(30).mp
    prec = BallPrecision(30)
    before = flint.ctx.prec
    with prec:
        assert flint.ctx.dps >= 30 + prec.guard
        arr = prec.array([1, 0.1, mpmath.mpf(1) / 3, "0.1", (2.0, 0.25)], "v")
        assert arr[1] == flint.arb(0.1) and arr[1].is_exact()
        assert (10 * arr[3]).contains(1) and not arr[3].is_exact()
        assert arr[4].contains(flint.arb("2.2")) and not arr[4].contains(flint.arb("2.3"))
        D = prec.gram_determinant(flint.arb(2), flint.arb(3), (2.0, 1e-3))
        assert D.contains(2) and D.lower() >= 0  # 6 - c^2 for c in [1.999, 2.001], clipped at 0
        assert prec.dot([1, 2], [flint.arb(3), flint.arb(4)]) == 11 and prec.sqrt(4) == 2
    assert flint.ctx.prec == before
    with pytest.raises(ShapeError, match="theta"):
        prec.array([1.0, 2.0], "theta", shape=(3,))
    with pytest.raises(DomainError, match="finite"):
        prec.array([1.0, math.inf], "theta")
    with pytest.raises(DomainError, match="radius"):
        as_ball((1.0, -1.0))


# --- problem enclosures against an independent 60-digit reference ------------------------------
def _reference_loss(act, V, b, W, a):
    """1/2 sum_{p,q} alpha_p alpha_q kappa(G_pp, G_qq, G_pq), 60-digit kernels, no assembly code."""
    U = [list(r) for r in W] + [list(map(mpmath.mpf, r)) for r in V]
    alpha = list(a) + [-mpmath.mpf(v) for v in b]
    total = mpmath.mpf(0)
    for p in range(len(U)):
        for q in range(len(U)):
            gpp = mpmath.fsum(u * u for u in U[p])
            if p == q:
                k = symland.diagonal(act, 0, gpp, dps=60)
            else:
                gqq = mpmath.fsum(u * u for u in U[q])
                gpq = mpmath.fsum(u * v for u, v in zip(U[p], U[q]))
                k = symland.kernel(act, gpp, gqq, gpq, dps=60)
            total += alpha[p] * alpha[q] * mpmath.mpf(k)
    return total / 2


def _loss_of_theta(act, prob, V, b, theta):
    n, d = prob.n, prob.d
    W = [theta[i * d:(i + 1) * d] for i in range(n)]
    a = theta[n * d:] if prob.train_output else [mpmath.mpf(v) for v in prob.student_output]
    return _reference_loss(act, V, b, W, a)


def _overlaps(ball, value, slack):
    with ball_precision(70):
        ref = flint.arb(mpmath.nstr(value, 65), mpmath.nstr(slack * max(1, abs(value)), 5))
        return ball.overlaps(ref)


@pytest.mark.parametrize("name", ACTIVATIONS)
@pytest.mark.parametrize("train_output", [True, False])
def test_loss_gradient_hessian_enclose_independent_values(name, train_output):
    V = np.array([[1.0, 0.0], [0.0, 1.0]])
    prob = symland.TeacherStudent(name, V, np.array([1.0, -0.5]), n=2, train_output=train_output,
                                  student_output=None if train_output else np.array([0.75, 1.25]))
    theta = np.array([0.8, 0.3, -0.2, 0.9, 1.1, 0.6][:prob.num_params])
    ev = symland.enclose(prob, theta, dps=50, order=2)
    N = prob.num_params
    with mpmath.workdps(60):
        th = [mpmath.mpf(v) for v in theta]
        f = lambda t: _loss_of_theta(name, prob, V, [1.0, -0.5], t)  # noqa: E731
        L = f(th)
        h = mpmath.mpf(10) ** -14
        e = lambda i: [h if j == i else 0 for j in range(N)]  # noqa: E731
        add = lambda t, *us: [v + sum(u[j] for u in us) for j, v in enumerate(t)]  # noqa: E731
        neg = lambda u: [-v for v in u]  # noqa: E731
        grad = [(f(add(th, e(i))) - f(add(th, neg(e(i))))) / (2 * h) for i in range(N)]
        hess = [[None] * N for _ in range(N)]
        for i in range(N):
            for j in range(i, N):
                if i == j:
                    v = (f(add(th, e(i))) - 2 * L + f(add(th, neg(e(i))))) / h**2
                else:
                    v = (f(add(th, e(i), e(j))) - f(add(th, e(i), neg(e(j)))) - f(add(th, neg(e(i)), e(j)))
                         + f(add(th, neg(e(i)), neg(e(j))))) / (4 * h**2)
                hess[i][j] = hess[j][i] = v
    assert _overlaps(ev.loss, L, 1e-55), (ev.loss, L)
    assert ev.loss.rad() < 1e-45
    for i in range(N):
        assert _overlaps(ev.gradient[i], grad[i], 1e-22), (i, ev.gradient[i], grad[i])
        for j in range(N):
            assert _overlaps(ev.hessian[i, j], hess[i][j], 1e-22), (i, j, ev.hessian[i, j], hess[i][j])
            assert ev.hessian[i, j].rad() < 1e-40


def test_a_box_encloses_every_point_in_it_and_aligned_kinks_are_refused():
    prob = symland.TeacherStudent.orthonormal("relu", 2, 2, train_output=True)
    centre = np.array([0.9, 0.2, 0.1, 1.1, 0.7, 0.8])
    r = 1e-6
    ev = symland.enclose(prob, [(v, r) for v in centre], dps=30, order=2)
    rng = np.random.default_rng(3)
    for _ in range(3):
        y = centre + rng.uniform(-r, r, size=centre.size)
        H = prob.hessian(y, dps=30)
        g = prob.gradient(y, dps=30)
        assert _overlaps(ev.loss, prob.loss(y, dps=30), 1e-28)
        assert all(_overlaps(ev.gradient[i], g[i], 1e-28) for i in range(centre.size))
        assert all(_overlaps(ev.hessian[i, j], H[i, j], 1e-28) for i in range(6) for j in range(6))
    assert 1e-9 < float(ev.loss.rad()) < 1e-3  # a box, not a point
    # student 0 exactly on teacher 0: the relu second partials are singular at D = 0
    with pytest.raises(DomainError, match="aligned"):
        symland.enclose(prob, [(v, 1e-20) for v in [1.0, 0.0, 0.1, 1.1, 0.7, 0.8]], dps=30, order=2)


def test_refusals_for_problems_without_ball_forms():
    with pytest.raises(NoClosedFormError, match="quadrature"):
        symland.enclose(symland.TeacherStudent.orthonormal("tanh", 2, 2), np.ones(6) * 0.5)
    # biases are covered when the kernels with means have closed forms (tests/problems/test_enclosure.py)
    with pytest.raises(NoClosedFormError, match="quadrature"):
        symland.enclose(symland.TeacherStudent.orthonormal("tanh", 2, 1, bias=True), np.ones(4) * 0.5)
    # GLU units are covered (tests/problems/test_enclosure.py); a quadrature GLU activation is not
    with pytest.raises(NoClosedFormError, match="quadrature"):
        symland.enclose(symland.TeacherStudent.orthonormal("tanh", 2, 1, glus=1), np.ones(8) * 0.5)


def test_threads_get_serial_enclosures_and_the_flint_precision_is_restored():
    prob = symland.TeacherStudent.orthonormal("erf", 2, 2)
    theta = np.array([0.8, 0.3, -0.2, 0.9, 1.1, 0.6])
    dps_list = [20, 35, 50, 65]
    before = flint.ctx.prec
    serial = [symland.enclose(prob, theta, dps=d, order=1).gradient[0].str(60, radius=True) for d in dps_list]
    out = [None] * len(dps_list)

    def run(k):
        out[k] = symland.enclose(prob, theta, dps=dps_list[k], order=1).gradient[0].str(60, radius=True)

    threads = [threading.Thread(target=run, args=(k,)) for k in range(len(dps_list))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert out == serial and flint.ctx.prec == before
