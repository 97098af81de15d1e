"""Property test over random problem shapes and weight scales: float64 agrees with 30-digit
mpmath or raises DomainError; never a silent NaN or a wrong number."""

import math

import mpmath
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from symland import TeacherStudent
from symland.errors import DomainError

ACTIVATIONS = ["erf", "relu", "tanh", "sign", "step", "abs", "gelu", "relu_pow2", "sin", "linear"]


@settings(max_examples=60, deadline=None, derandomize=True)
@given(st.sampled_from(ACTIVATIONS), st.integers(1, 3), st.integers(1, 3), st.integers(1, 3),
       st.floats(-3, 3), st.booleans(), st.integers(0, 2**32 - 1))

def test_float64_loss_and_gradient_agree_with_mpmath_or_refuse(name, n, k, d, log_scale, train, seed):
    rng = np.random.default_rng(seed)
    V = rng.normal(size=(k, d))
    p = TeacherStudent(name, V, n=n, train_output=train)
    theta = rng.normal(size=p.num_params) * 10.0 ** log_scale
    if rng.random() < 0.3:  # exact boundary cases: a zero-norm neuron, or a copy of a teacher neuron
        W = theta[: n * d].reshape(n, d)
        W[0] = 0.0 if rng.random() < 0.5 else V[0][:d]
    try:
        L, g = p.loss_and_gradient(theta)
    except DomainError:
        return
    assert math.isfinite(L) and np.all(np.isfinite(g))
    Lm, gm = p.loss_and_gradient(theta, dps=30)  # where float64 answers, mpmath must too
    with mpmath.workdps(40):
        scale = max(1.0, float(abs(Lm)), float(max(abs(x) for x in gm)))
        assert abs(L - float(Lm)) <= 1e-8 * scale, (L, Lm)
        assert max(abs(a - float(b)) for a, b in zip(g, gm)) <= 1e-7 * scale
