"""Ball enclosures of problems with GLU units and with biases (kernels with means), and the problems that are refused.

Independent references: the GLU loss by a 2-D Gauss-Hermite rule on the network itself (d = 2); for sin
networks (plain, GLU, biases) the loss by Gaussian characteristic-function algebra written out below
(exact, evaluated at 70 digits); for erf and relu networks with biases the loss by a 1-D reduction
(conditioning one pre-activation on the other, inner expectation in closed form) and mpmath
quadrature at 64 digits; gradients by 70-digit central finite differences of the mpmath loss and
Hessians by finite differences of the mpmath gradient; the mpmath assembly at 60 digits (another
precision member and other compiled functions than the balls: Owen's T by its own quadrature);
Owen's T and the bivariate normal CDF on balls against their defining integrals; mpmath ``eigsy`` for
the spectrum of the certified GLU minimum."""

from __future__ import annotations

import mpmath
import numpy as np
import pytest

import flint
import symland
from hypothesis import given, settings
from hypothesis import strategies as st
from symland.numerics.ball import ball_precision, bvn_ball, owens_t_ball
from symland.numerics.mpcontext import thread_mp
from symland.problems.enclosure import enclose, midpoint_evaluation


def _overlaps(ball, value):
    """True when ``ball`` meets the 60-digit mpmath ``value`` (taken as a ball of radius 1e-58)."""
    return ball.overlaps(_ref_ball(value))


def glu_network_loss_by_quadrature(problem, theta, nodes=120):
    r"""$\tfrac12 E[(f - f^*)^2]$ for d = 2 by a tensor Gauss-Hermite rule (probabilists' weights) on the
    network written out by hand: $f(x) = \sum_i a_i s(w_i x) + \sum_j c_j s(w_j x) + (v_j x) s'(w_j x)$,
    s(z) = erf(z/sqrt 2); the integrand is smooth, so the rule converges to float64 accuracy."""
    from scipy.special import erf

    P = problem.unpack(np.array([float(v) for v in theta]))
    t, wt = np.polynomial.hermite_e.hermegauss(nodes)
    X = np.stack(np.meshgrid(t, t, indexing="ij"), axis=-1).reshape(-1, 2)
    weight = np.outer(wt, wt).ravel() / (2 * np.pi)
    s = lambda z: erf(z / np.sqrt(2))  # noqa: E731
    ds = lambda z: np.sqrt(2 / np.pi) * np.exp(-z * z / 2)  # noqa: E731
    f = sum(a * s(X @ w) for a, w in zip(P.a, P.W))
    f = f + sum(c * s(X @ w) + (X @ v) * ds(X @ w) for c, w, v in zip(P.glu_c, P.glu_w, P.glu_v))
    f = f - sum(s(X @ v) for v in problem.teacher_weights)
    return float(np.sum(weight * f * f) / 2)


@pytest.mark.parametrize("act", ["erf", "relu"])
def test_glu_enclosures_contain_the_mpmath_values_and_are_narrow(act):
    p = symland.TeacherStudent.orthonormal(act, k=2, n=1, glus=1)
    theta = np.array([0.7, -0.2, 1.1, 0.4, 0.9, 0.3, -0.5, 0.6])
    ev = enclose(p, theta, dps=50)
    with mpmath.workdps(60):
        L, g, H = p.loss(theta, dps=60), p.gradient(theta, dps=60), p.hessian(theta, dps=60)
    assert _overlaps(ev.loss, L) and float(ev.loss.rad()) < 1e-48
    for b, x in zip(list(ev.gradient) + list(ev.hessian.ravel()), list(g) + list(H.ravel())):
        assert _overlaps(b, x) and float(b.rad()) < 1e-45 * max(1.0, abs(float(x)))
    # the gradient against central differences of the 60-digit loss (step 1e-20: error ~1e-40)
    with mpmath.workdps(70):
        h = mpmath.mpf(10) ** -20
        th = [mpmath.mpf(v) for v in theta]
        for i in (0, 3, 5, 7):
            up, dn = list(th), list(th)
            up[i] += h
            dn[i] -= h
            fd = (p.loss(np.array(up, dtype=object), dps=65) - p.loss(np.array(dn, dtype=object), dps=65)) / (2 * h)
            assert abs(mpmath.mpf(ev.gradient[i].mid().str(60, radius=False)) - fd) < mpmath.mpf(10) ** -35


def test_erf_glu_loss_against_quadrature_of_the_network():
    p = symland.TeacherStudent.orthonormal("erf", k=2, n=1, glus=1)
    theta = np.array([0.7, -0.2, 1.1, 0.4, 0.9, 0.3, -0.5, 0.6])
    ev = enclose(p, theta, dps=30, order=0)
    quad = glu_network_loss_by_quadrature(p, theta)
    assert abs(float(ev.loss.mid()) - quad) < 1e-13


def test_a_box_contains_its_midpoints_enclosure():
    p = symland.TeacherStudent.orthonormal("erf", k=2, n=1, glus=1)
    theta = [0.7, -0.2, 1.1, 0.4, 0.9, 0.3, -0.5, 0.6]
    point = enclose(p, theta, dps=40)
    box = enclose(p, [(v, 1e-8) for v in theta], dps=40)
    assert box.loss.contains(point.loss)
    assert all(b.contains(q) for b, q in zip(box.hessian.ravel(), point.hessian.ravel()))
    assert 1e-12 < float(box.loss.rad()) < 1e-5


def test_refusals_name_the_reason():
    # biases with a quadrature activation, and a pair without a closed form with means
    with pytest.raises(symland.NoClosedFormError, match="tanh.*quadrature"):
        enclose(symland.TeacherStudent.orthonormal("tanh", 2, 2, bias=True), np.ones(8) * 0.3, dps=30)
    with pytest.raises(symland.NoClosedFormError, match=r"\(relu, erf\) has no closed-form kernel with means"):
        enclose(symland.TeacherStudent.orthonormal("relu", 2, 2, bias=True, teacher_activation="erf"),
                np.ones(8) * 0.3, dps=30)
    with pytest.raises(symland.NoClosedFormError, match="no ball enclosure|quadrature"):
        enclose(symland.TeacherStudent.orthonormal("tanh", 2, 1, glus=1), np.ones(8) * 0.3, dps=30)
    # where no enclosure carries the digits (no ball form), the midpoint evaluation says so
    assert midpoint_evaluation(symland.TeacherStudent.orthonormal("tanh", 2, 2, bias=True),
                               np.ones(8) * 0.3, 30, 1) is None
    # exactly aligned relu students with biases: the kernel is singular there (as in mpmath), refused by name
    with pytest.raises(symland.DomainError, match="aligned"):
        enclose(symland.TeacherStudent.orthonormal("relu", 2, 2, bias=True), np.ones(8) * 0.3, dps=30)


def test_an_erf_glu_minimum_is_certified():
    # one erf neuron and one GLU unit against three orthonormal erf teachers: the neuron takes
    # teacher 3 (a s(-x3) with a = -1, erf is odd) and the GLU c s(w.x) + (v.x) s'(w.x) with c = 0,
    # w = (1, -1, 0)/sqrt 6, v = 2 (1, 1, 0)/sqrt 6 the other two (found by minimize from random
    # starts; certify refines it from these float64 values)
    p = symland.TeacherStudent.orthonormal("erf", k=3, n=1, glus=1)
    r6 = 1 / np.sqrt(6)
    theta = np.array([0, 0, -1, -1, 0, r6, -r6, 0, 2 * r6, 2 * r6, 0])
    cert = symland.certify(p, theta, dps=40)
    assert cert.certified and cert.kind == "minimum" and cert.index == 0 and cert.nullity == 0
    with mpmath.workdps(50):
        H = p.hessian(cert.center, dps=50)
        lam = sorted(mpmath.eigsy(mpmath.matrix(H.tolist()), eigvals_only=True))
        assert lam[0] > 1e-4
        lo, hi = cert.to_dict()["lambda_min"]
        assert mpmath.mpf(lo) <= lam[0] <= mpmath.mpf(hi)
        loss = p.loss(cert.center, dps=50)
        lo, hi = cert.loss_interval(35)
        assert mpmath.mpf(lo) <= loss <= mpmath.mpf(hi)


def test_a_relu_glu_minimum_is_certified_modulo_its_gauges():
    # a relu GLU unit against two orthonormal relu teachers (trained outputs): every critical point
    # lies on a 2-dimensional gauge orbit (rescaling (t^-1 c, t w, v) and shift (c - b, v + b w)), so
    # certify works on the slice with w_jm and v_jm frozen (start: minimize from a seeded random point)
    p = symland.TeacherStudent.orthonormal("relu", k=2, n=0, glus=1)
    start = np.array([1.262558, 0.85847, 0.85847, -0.015559, -0.015559])
    cert = symland.certify(p, start, dps=40, max_move=1e-5)
    assert cert.certified and cert.kind == "minimum" and cert.index == 0 and cert.nullity == 2
    assert cert.symmetry["glu_gauge"] == [0] and "GLU units [0]" in str(cert)
    with mpmath.workdps(50):
        H = p.hessian(cert.center, dps=50)
        lam = sorted(mpmath.eigsy(mpmath.matrix(H.tolist()), eigvals_only=True), key=abs)
        assert all(abs(v) < 1e-30 for v in lam[:2]) and all(v > 1e-3 for v in lam[2:])
        loss = p.loss(cert.center, dps=50)
        lo, hi = (mpmath.mpf(v) for v in cert.loss_interval(35))
        assert lo <= loss <= hi
    # at this minimum v is parallel to w (v = beta w), so the GLU computes (c + beta) relu(w.x): one relu
    # neuron; the certified loss equals the one-neuron minimum of the same teacher (another assembly:
    # plain neurons, no GLU terms)
    neuron = symland.TeacherStudent.orthonormal("relu", k=2, n=1)
    other = symland.certify(neuron, symland.minimize(neuron, np.array([0.5, 0.4, 1.0])).theta, dps=40)
    with mpmath.workdps(50):
        assert abs(mpmath.mpf(other.loss_interval(35)[0]) - lo) < mpmath.mpf(10) ** -33


# --------------------------------------------------------------------------------------------------
# independent references
# --------------------------------------------------------------------------------------------------
def _ref_ball(value, err=1e-58):
    """The reference as a ball of its claimed accuracy (60- or 70-digit arithmetic, 1e-58 is generous),
    built at 80 digits (outside a ball_precision block python-flint parses a decimal string at 53 bits,
    which would make every comparison a 1e-16 one)."""
    with ball_precision(80):
        return flint.arb(mpmath.nstr(value, 85)) + flint.arb(0, err)


def _sin_terms(problem, theta):
    r"""The network $f - f^*$ of a sin problem as terms $(\alpha + l\cdot x)\,\gamma\,e^{i\omega\cdot x}$:
    $a\sin(w\cdot x + \beta) = \frac{a}{2i}(e^{i\beta}e^{iw\cdot x} - e^{-i\beta}e^{-iw\cdot x})$ and
    $(v\cdot x)\cos(w\cdot x) = \frac{v\cdot x}{2}(e^{iw\cdot x} + e^{-iw\cdot x})$."""
    P = problem.unpack(np.array([float(v) for v in theta]))
    zero = mpmath.matrix([0] * problem.d)
    vec = lambda u: mpmath.matrix([mpmath.mpf(float(t)) for t in u])  # noqa: E731

    def sine(amp, w, beta):
        w = vec(w)
        return [(1, zero, amp * mpmath.expj(beta) / 2j, w), (1, zero, -amp * mpmath.expj(-beta) / 2j, -w)]

    terms = []
    beta = P.beta if P.beta is not None else np.zeros(len(P.W))
    for a, w, b in zip(P.a, P.W, beta):
        terms += sine(mpmath.mpf(float(a)), w, mpmath.mpf(float(b)))
    if P.glu_c is not None:
        for c, w, v in zip(P.glu_c, P.glu_w, P.glu_v):
            terms += sine(mpmath.mpf(float(c)), w, 0)
            terms += [(0, vec(v), mpmath.mpf(1) / 2, vec(w)), (0, vec(v), mpmath.mpf(1) / 2, -vec(w))]
    for b, v, tb in zip(problem.teacher_output, problem.teacher_weights, problem.teacher_bias):
        terms += sine(-mpmath.mpf(float(b)), v, mpmath.mpf(float(tb)))
    return terms


def sin_network_loss_exact(problem, theta):
    r"""$\tfrac12E[(f - f^*)^2]$ of a sin network (plain units, GLUs, biases), x ~ N(0, I_d), from
    $E[e^{i\Omega\cdot x}] = e^{-|\Omega|^2/2}$, $E[x e^{i\Omega\cdot x}] = i\Omega e^{-|\Omega|^2/2}$,
    $E[xx^\top e^{i\Omega\cdot x}] = (I - \Omega\Omega^\top)e^{-|\Omega|^2/2}$ (derivatives in $\Omega$), so
    $E[(\alpha + l\cdot x)(\alpha' + l'\cdot x)e^{i\Omega\cdot x}] = e^{-|\Omega|^2/2}(\alpha\alpha'
    + i(\alpha\,l'\cdot\Omega + \alpha'\,l\cdot\Omega) + l\cdot l' - (l\cdot\Omega)(l'\cdot\Omega))$, summed over
    pairs of terms with $\Omega = \omega + \omega'$ (70 digits)."""
    with mpmath.workdps(70):
        terms = _sin_terms(problem, theta)
        dot = lambda u, v: sum(u[i] * v[i] for i in range(problem.d))  # noqa: E731
        total = mpmath.mpc(0)
        for al, l, g, om in terms:
            for al2, l2, g2, om2 in terms:
                O = om + om2
                e = al * al2 + 1j * (al * dot(l2, O) + al2 * dot(l, O)) + dot(l, l2) - dot(l, O) * dot(l2, O)
                total += g * g2 * mpmath.exp(-dot(O, O) / 2) * e
        return total.real / 2


def _inner_mean(act, mu, var):
    r"""$E[s(z)]$, $z \sim N(\mu, \sigma^2)$: relu $\mu\Phi(\mu/\sigma) + \sigma\varphi(\mu/\sigma)$; erf(z/sqrt2) =
    $2\Phi(z) - 1$, so $E = 2\Phi(\mu/\sqrt{1+\sigma^2}) - 1 = \operatorname{erf}(\mu/\sqrt{2(1+\sigma^2)})$."""
    sig = mpmath.sqrt(var)
    if act == "relu":
        return mu * mpmath.ncdf(mu / sig) + sig * mpmath.npdf(mu / sig)
    return mpmath.erf(mu / mpmath.sqrt(2 * (1 + var)))


def bias_network_loss_by_reduction(problem, theta, act):
    r"""$\tfrac12\sum_{p,q}\alpha_p\alpha_q E[s(z_p)s(z_q)]$ over students and teachers ($\alpha = [a; -b]$,
    $z_p = u_p\cdot x + \beta_p$), each pair by conditioning: $z_p = \beta_p + \sqrt A\,y$, $y \sim N(0, 1)$,
    $z_q \mid y \sim N(\beta_q + G y/\sqrt A, D/A)$ ($A = |u_p|^2$, $G = u_p\cdot u_q$, $D = A|u_q|^2 - G^2$),
    the inner mean in closed form (:func:`_inner_mean`) and the outer integral by mpmath quadrature at
    64 digits (error ~1e-62), split at the kink $y = -\beta_p/\sqrt A$."""
    s = (lambda z: max(z, 0)) if act == "relu" else (lambda z: mpmath.erf(z / mpmath.sqrt(2)))
    P = problem.unpack(np.array([float(v) for v in theta]))
    with mpmath.workdps(64):
        mpf = lambda v: mpmath.mpf(float(v))  # noqa: E731
        units = [([mpf(t) for t in w], mpf(b), mpf(a)) for w, b, a in zip(P.W, P.beta, P.a)]
        units += [([mpf(t) for t in v], mpf(b), -mpf(o)) for v, b, o in
                  zip(problem.teacher_weights, problem.teacher_bias, problem.teacher_output)]
        total = mpmath.mpf(0)
        for p, (up, bp, ap) in enumerate(units):
            for q, (uq, bq, aq) in enumerate(units[p:], start=p):  # q > p counted twice below
                A = sum(x * x for x in up)
                G = sum(x * y for x, y in zip(up, uq))
                D = A * sum(x * x for x in uq) - G * G
                sa = mpmath.sqrt(A)
                if p == q:
                    f = lambda y: s(bp + sa * y) ** 2 * mpmath.npdf(y)  # noqa: E731
                else:
                    f = lambda y: (s(bp + sa * y) * _inner_mean(act, bq + G * y / sa, D / A)  # noqa: E731
                                   * mpmath.npdf(y))
                total += (1 if p == q else 2) * ap * aq * mpmath.quad(f, [-mpmath.inf, -bp / sa, mpmath.inf])
        return total / 2


def _central_difference(f, theta, i, h=mpmath.mpf(10) ** -22):
    """Central difference in parameter i of ``f`` (the 75-digit mpmath loss or gradient), error ~ h^2 ~ 1e-44."""
    with mpmath.workdps(80):
        th = [mpmath.mpf(float(v)) for v in theta]
        up, dn = list(th), list(th)
        up[i] += h
        dn[i] -= h
        return (f(np.array(up, dtype=object), dps=75) - f(np.array(dn, dtype=object), dps=75)) / (2 * h)


def _fd_gradient_entry(problem, theta, i):
    return _central_difference(problem.loss, theta, i)


def _fd_hessian_column(problem, theta, j):
    return list(_central_difference(problem.gradient, theta, j))


def _check_against_mpmath(problem, theta, ev, grad_entries, hess_columns):
    """Every ball overlaps the 60-digit mpmath value (within its 1e-58 accuracy), has radius below
    1e-45 relative, and the midpoints agree with finite differences (gradient entries, Hessian columns)."""
    L, g, H = (f(theta, dps=60) for f in (problem.loss, problem.gradient, problem.hessian))
    for b, x in zip([ev.loss] + list(ev.gradient) + list(ev.hessian.ravel()), [L] + list(g) + list(H.ravel())):
        assert b.overlaps(_ref_ball(x)), (b, x)
        assert float(b.rad()) < 1e-45 * max(1.0, abs(float(x)))
    mid = lambda b: mpmath.mpf(b.mid().str(70, radius=False))  # noqa: E731
    with mpmath.workdps(70):
        for i in grad_entries:
            assert abs(mid(ev.gradient[i]) - _fd_gradient_entry(problem, theta, i)) < mpmath.mpf(10) ** -38
        for j in hess_columns:
            col = _fd_hessian_column(problem, theta, j)
            assert max(abs(mid(ev.hessian[i, j]) - col[i]) for i in range(len(col))) < mpmath.mpf(10) ** -38


# --------------------------------------------------------------------------------------------------
# the ball functions the kernels with means need
# --------------------------------------------------------------------------------------------------
@settings(max_examples=12, deadline=None, derandomize=True)
@given(h=st.floats(-2.5, 2.5), k=st.floats(-2.5, 2.5), rho=st.floats(-0.97, 0.97))
def test_bivariate_normal_cdf_ball_contains_its_defining_integral(h, k, rho):
    # Phi_2(h, k; rho) = int_{-inf}^h phi(x) Phi((k - rho x)/q) dx (conditioning on X), 60 digits
    with mpmath.workdps(70):
        H, K, R = mpmath.mpf(h), mpmath.mpf(k), mpmath.mpf(rho)
        Q = mpmath.sqrt(1 - R * R)
        ref = mpmath.quad(lambda x: mpmath.npdf(x) * mpmath.ncdf((K - R * x) / Q), [-mpmath.inf, min(H, 0), H])
    with ball_precision(50):
        q = (1 - flint.arb(rho) ** 2).sqrt()
        v = bvn_ball(h, k, rho, q)
        assert v.overlaps(_ref_ball(ref)) and float(v.rad()) < 1e-60
        # a ball around h that straddles 0 contains the value at its midpoint (no branch at h = 0)
        box = bvn_ball(flint.arb(0, 1e-12), k, rho, q)
        assert box.contains(bvn_ball(0, k, rho, q)) and float(box.rad()) < 1e-11


def test_owens_t_ball_contains_its_defining_integral():
    # T(h, a) = 1/(2 pi) int_0^a exp(-h^2 (1 + x^2)/2) / (1 + x^2) dx, also for |a| > 2 (reflection)
    with ball_precision(50):
        for h, a in [(0.3, 0.5), (-1.2, -3.0), (0.0, 5.0), (2.0, 1.9), (0.7, 40.0)]:
            with mpmath.workdps(70):
                H, A = mpmath.mpf(h), mpmath.mpf(a)
                integrand = lambda x: mpmath.exp(-H * H * (1 + x * x) / 2) / (1 + x * x)  # noqa: E731
                ref = mpmath.quad(integrand, [0, A]) / (2 * mpmath.pi)
            v = owens_t_ball(h, a)
            assert v.overlaps(_ref_ball(ref)) and float(v.rad()) < 1e-60, (h, a)


# --------------------------------------------------------------------------------------------------
# problems with biases (kernels with means)
# --------------------------------------------------------------------------------------------------
BIAS_THETA = [0.9, 0.2, -0.3, 1.1, 0.8, 1.2, 0.15, -0.25]  # W (2 x 2), a, beta


@pytest.mark.parametrize("act", ["erf", "relu", "sin"])
def test_bias_enclosures_contain_independent_values(act):
    p = symland.TeacherStudent.orthonormal(act, k=2, n=2, bias=True, teacher_bias=[0.4, -0.3])
    ev = enclose(p, BIAS_THETA, dps=50)
    ref = sin_network_loss_exact(p, BIAS_THETA) if act == "sin" else bias_network_loss_by_reduction(p, BIAS_THETA, act)
    assert ev.loss.overlaps(_ref_ball(ref)) and float(ev.loss.rad()) < 1e-45 * abs(float(ref))
    _check_against_mpmath(p, BIAS_THETA, ev, grad_entries=(0, 5, 7), hess_columns=(6,))
    # the radii follow the requested digits (no float64 value inside): about 10^-(dps + 15) at dps = 20
    coarse = enclose(p, BIAS_THETA, dps=20, order=1)
    assert 1e-45 < float(coarse.loss.rad()) < 1e-33 and coarse.loss.contains(ev.loss)


def test_bias_enclosure_with_a_zero_teacher_bias_and_midpoints():
    # teacher biases 0: the student-teacher pairs have k = 0 exactly (Owen's reduction branches there)
    p = symland.TeacherStudent.orthonormal("relu", k=2, n=2, bias=True)
    ev = enclose(p, BIAS_THETA, dps=50, order=0)
    assert ev.loss.overlaps(_ref_ball(bias_network_loss_by_reduction(p, BIAS_THETA, "relu")))
    # the midpoint evaluation (used by refinement and classification) now takes the ball path
    with thread_mp.workdps(40):
        mids = midpoint_evaluation(p, BIAS_THETA, 40, 2)
    assert mids is not None
    with mpmath.workdps(60):
        H = p.hessian(BIAS_THETA, dps=60)
        assert max(abs(mpmath.mpf(x) - y) for x, y in zip(mids.hessian.ravel(), H.ravel())) < mpmath.mpf(10) ** -38


@pytest.mark.parametrize("act", ["relu", "erf"])
def test_a_bias_box_contains_its_midpoints_enclosure(act):
    # a student bias of 0 with radius 1e-8: h = beta / |w| straddles 0 in every pair of that student
    theta = BIAS_THETA[:6] + [0.0, -0.25]
    p = symland.TeacherStudent.orthonormal(act, k=2, n=2, bias=True, teacher_bias=[0.4, -0.3])
    point = enclose(p, theta, dps=40)
    box = enclose(p, [(v, 1e-8) for v in theta], dps=40)
    assert box.loss.contains(point.loss)
    assert all(b.contains(q) for b, q in zip(box.gradient, point.gradient))
    assert all(b.contains(q) for b, q in zip(box.hessian.ravel(), point.hessian.ravel()))
    assert 1e-12 < float(box.loss.rad()) < 1e-5


# --------------------------------------------------------------------------------------------------
# GLU units: a third activation, with and without ordinary neurons
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("n", [0, 1])
def test_sin_glu_enclosures_contain_the_exact_loss(n):
    p = symland.TeacherStudent.orthonormal("sin", k=2, n=n, glus=1)
    theta = [0.7, -0.2, 1.1, 0.4, 0.9, 0.3, -0.5, 0.6][8 - p.num_params:]
    ev = enclose(p, theta, dps=50)
    ref = sin_network_loss_exact(p, theta)
    assert ev.loss.overlaps(_ref_ball(ref)) and float(ev.loss.rad()) < 1e-45
    _check_against_mpmath(p, theta, ev, grad_entries=(0, p.num_params - 1), hess_columns=(p.num_params - 2,))


@pytest.mark.parametrize("act", ["erf", "relu"])
def test_glu_without_ordinary_neurons(act):
    p = symland.TeacherStudent.orthonormal(act, k=2, n=0, glus=1)
    theta = [0.4, 0.9, 0.3, -0.5, 0.6]  # c, w, v
    ev = enclose(p, theta, dps=50)
    _check_against_mpmath(p, theta, ev, grad_entries=(0, 2), hess_columns=())


def test_sin_plain_loss_matches_the_exact_reference():
    # the same exact reference on the plain problem (no GLU, no bias) checks the reference itself
    p = symland.TeacherStudent.orthonormal("sin", k=2, n=2)
    theta = BIAS_THETA[:6]
    assert enclose(p, theta, dps=50, order=0).loss.overlaps(_ref_ball(sin_network_loss_exact(p, theta)))


def test_an_erf_minimum_with_biases_is_certified():
    # student = teacher (W = I, a = 1, beta = teacher bias) is the global minimum, loss exactly 0
    p = symland.TeacherStudent.orthonormal("erf", k=2, n=2, bias=True, teacher_bias=[0.3, -0.2])
    cert = symland.certify(p, np.array([1, 0, 0, 1, 1, 1, 0.3, -0.2]), dps=30)
    assert cert.certified and cert.kind == "minimum" and cert.index == 0 and cert.nullity == 0
    lo, hi = (mpmath.mpf(v) for v in cert.loss_interval(25))
    assert lo <= 0 <= hi and hi - lo < mpmath.mpf(10) ** -20
    with mpmath.workdps(40):
        lam = mpmath.eigsy(mpmath.matrix(p.hessian(cert.center, dps=40).tolist()), eigvals_only=True)
        lo, hi = cert.to_dict()["lambda_min"]
        assert mpmath.mpf(lo) <= min(lam) <= mpmath.mpf(hi) and min(lam) > 0


def test_midpoint_hint_starts_at_the_digits_the_last_point_needed():
    """Near an aligned relu pair the enclosure loses digits: the first call retries and records the
    extra digits in the hint; a call with the hint starts there, and both carry the requested digits
    (compared with the mpmath path at the same point)."""
    p = symland.TeacherStudent.orthonormal("relu", 3, 3, train_output=False)
    with mpmath.workdps(80):  # within 1e-30 of the teacher (as late Newton iterates are)
        offsets = np.random.default_rng(5).standard_normal(9)
        theta = np.array([mpmath.mpf(e) + mpmath.mpf("1e-30") * float(o)
                          for e, o in zip(np.eye(3).ravel(), offsets)], dtype=object)
    hint = {}
    first = midpoint_evaluation(p, theta, 40, 1, hint)
    assert hint["extra"] > 0
    again = midpoint_evaluation(p, theta, 40, 1, hint)
    with mpmath.workdps(60):
        ref = p.gradient(theta, dps=60)
        scale = max([mpmath.mpf(1)] + [abs(v) for v in ref])  # the radius rule: 10^-dps max(1, |g|)
        for ev in (first, again):
            assert max(abs(x - y) for x, y in zip(ev.gradient, ref)) <= mpmath.mpf(10) ** -40 * scale
