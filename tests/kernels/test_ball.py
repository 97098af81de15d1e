"""Ball enclosures of closed-form kernels and Price partials (python-flint ``arb``).

Reference: the 60-digit mpmath value of the same partial (its closed forms are checked against
mpmath quadrature to 25 digits in test_library.py), taken as the ball [m +/- 1e-58 max(1, |m|)].
An enclosure must overlap it and be tight (radius below 1e-(dps-2) relative); and for relu the
partial (0, 0, 1) = E[H(u) H(v)] = 1/4 + asin(rho) / (2 pi) is checked by hand.
"""

import threading

import mpmath
import pytest

import symland
from conftest import full_run
from symland.errors import DomainError, NoClosedFormError

import flint  # noqa: E402  (a runtime dependency)

from symland.kernels.ball import kernel_partial_ball  # noqa: E402
from symland.numerics.ball import as_ball, ball_precision  # noqa: E402

CLOSED = [name for name in symland.known_activations() if symland.activation(name).has_closed_form]
INDICES = [(0, 0, 0), (1, 0, 0), (0, 0, 1), (1, 1, 0), (0, 0, 2)]
# the default run checks the first point (near-alignment included in the exhaustive run, SYMLAND_FULL=1)
POINTS = [(1.3, 0.7, 0.4), (0.5, 2.0, -0.9), (1.0, 1.0, 0.999)] if full_run() else [(0.5, 2.0, -0.9)]


def _reference_ball(m):
    with mpmath.workdps(70):
        text = mpmath.nstr(m, 62)
        rad = mpmath.nstr(mpmath.mpf(10) ** -58 * max(1, abs(m)), 5)
    return flint.arb(text, rad)


@pytest.mark.parametrize("name", CLOSED)
def test_enclosures_contain_60_digit_values_and_are_tight(name):
    for a, b, c in POINTS:
        for index in INDICES:
            x = kernel_partial_ball(name, index, a, b, c, dps=50)
            with mpmath.workdps(70):
                m = symland.kernel_partial(name, index, a, b, c, dps=60)
            with ball_precision(80):
                ref = _reference_ball(m)
                assert x.overlaps(ref), (name, index, (a, b, c), x, m)
                assert x.rad() < flint.arb(10) ** -48 * max(1, abs(float(m))), (name, index, x.rad())


def test_relu_by_hand_and_a_box_of_inputs():
    with ball_precision(60):
        rho = flint.arb("0.4") / (flint.arb("1.3") * flint.arb("0.7")).sqrt()
        exact = flint.arb(1) / 4 + rho.asin() / (2 * flint.arb.pi())
    x = kernel_partial_ball("relu", (0, 0, 1), "1.3", "0.7", "0.4", dps=50)
    with ball_precision(60):
        assert x.overlaps(exact) and x.rad() < flint.arb(10) ** -50
    # a box: every covariance in it, e.g. its midpoint, is enclosed
    box = kernel_partial_ball("erf", (0, 0, 0), (1.0, 1e-6), (2.0, 1e-6), (0.5, 1e-6), dps=30)
    mid = kernel_partial_ball("erf", (0, 0, 0), 1.0, 2.0, 0.5, dps=30)
    with ball_precision(30):
        assert box.contains(mid) and box.rad() > 1e-8


def test_refusals():
    with pytest.raises(NoClosedFormError, match="quadrature"):
        kernel_partial_ball("tanh", (0, 0, 0), 1.0, 1.0, 0.3)
    with pytest.raises(DomainError, match="variance"):
        kernel_partial_ball("erf", (0, 0, 0), -1.0, 1.0, 0.0)
    with pytest.raises(DomainError, match="positive semi-definite"):
        kernel_partial_ball("erf", (0, 0, 0), 1.0, 1.0, 2.0)
    with pytest.raises(DomainError, match="not finite"):  # relu's second partial is singular at D = 0
        kernel_partial_ball("relu", (0, 0, 2), 1.0, 1.0, 1.0)


def test_flint_precision_is_restored_and_threads_agree():
    before = flint.ctx.prec
    serial = [kernel_partial_ball("erf", (0, 0, 1), 1.0, 1.0 + k / 10, 0.3, dps=20 + 10 * k).str(40) for k in range(4)]
    assert flint.ctx.prec == before
    out = [None] * 4

    def run(k):
        out[k] = kernel_partial_ball("erf", (0, 0, 1), 1.0, 1.0 + k / 10, 0.3, dps=20 + 10 * k).str(40)

    threads = [threading.Thread(target=run, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert out == serial and flint.ctx.prec == before
    assert as_ball(0.5).mid() == flint.arb(0.5).mid()
