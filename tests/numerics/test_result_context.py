"""Every mpmath number symland returns belongs to a fixed-precision result context.

Numbers of a thread's private working context would do later arithmetic at whatever precision
that context happens to have (53 bits at rest), silently losing the computed digits; numbers of
mpmath's global context would depend on the caller's ``mpmath.mp.dps``.  Each case calls one
public function at high precision and walks the whole result (dataclasses, lists, dicts, object
arrays) with :func:`leaks`.  A second check does the arithmetic a user does on a result and
requires the digits to survive it with ``mpmath.mp.dps`` left at its default.
"""

import dataclasses

import mpmath
import numpy as np
import pytest
import sympy

import symland
from symland import (
    GroupAnsatz, TeacherStudent, channel_expansion, classify, copy_average, one_neuron, refine,
    splitting_line, symmetric_critical_points,
)
from symland.numerics.mpcontext import MPReal, is_mpc, result_context_of


def leaks(value, path="result", seen=None):
    seen = set() if seen is None else seen
    if id(value) in seen:
        return []
    if isinstance(value, MPReal) or is_mpc(value):
        return [] if result_context_of(value) is not None else [path]
    seen.add(id(value))
    out = []
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        for f in dataclasses.fields(value):
            out += leaks(getattr(value, f.name), f"{path}.{f.name}", seen)
    elif isinstance(value, dict):
        for k, v in value.items():
            out += leaks(v, f"{path}[{k!r}]", seen)
    elif isinstance(value, (list, tuple)):
        for k, v in enumerate(value):
            out += leaks(v, f"{path}[{k}]", seen)
    elif isinstance(value, np.ndarray) and value.dtype == object:
        for k, v in enumerate(value.reshape(-1)):
            out += leaks(v, f"{path}.flat[{k}]", seen)
    return out

R = symland.activation("erf")


def _erf_minimum():
    p = TeacherStudent.orthonormal("erf", k=2, n=1)
    cp = refine(p, symland.minimize(p, p.pack([[0.5, 0.5]], [1.0])).theta, dps=40)
    return p, cp


def _line():
    p, cp = _erf_minimum()
    line = splitting_line(p, cp.theta, neuron=0, dps=40)
    return [line, line.theta("0.3", dps=40), line.direction(dps=40), line.difference_basis("0.3"),
            line.difference_hessian("0.3"), line.segments()]


def _ansatz():
    A = GroupAnsatz("erf", [[sympy.Rational(1, 2)]], [sympy.Rational(6, 5)], [2])
    return A.theta({}, dps=40)


def _glu_channel():
    glu = TeacherStudent("erf", np.eye(2), [1.0, 0.5], n=0, glus=1)
    th = glu.pack(None, None, glu_c=[0.4], glu_w=[[0.6, -0.3]], glu_v=[[0.5, 0.7]])
    return channel_expansion(glu, th, dps=30)


CASES = {
    "kernel": lambda: symland.kernel("erf", 1.0, 0.8, 0.3, dps=40),
    "kernel_partial": lambda: symland.kernel_partial("relu", (1, 0, 1), 1.0, 0.8, 0.3, dps=40),
    "diagonal": lambda: symland.diagonal("gelu", 0, 1.3, dps=40),
    "cross_kernel": lambda: symland.cross_kernel("erf", "relu", 1.0, 0.8, 0.3, dps=40),
    "loss_gradient_hessian": lambda: [
        (p := TeacherStudent.orthonormal("relu", k=2, n=2)).loss_and_gradient(p.pack([[1, 0.2], [0.1, 0.9]], [1, 1]), dps=40),
        p.hessian(p.pack([[1, 0.2], [0.1, 0.9]], [1, 1]), dps=40)],
    "refine_classify": lambda: (lambda pc: [pc[1], classify(pc[0], pc[1])])(_erf_minimum()),
    "copy_average": lambda: copy_average("erf", 3, 2, dps=30, follow=False),
    "one_neuron": lambda: one_neuron("erf", 2, dps=30),
    "symmetric_critical_points": lambda: symmetric_critical_points("relu", 3, isotropy="S_k", starts=2, seed=1,
                                                                    progress=False, dps=30),
    "splitting_line": _line,
    "group_ansatz_theta": _ansatz,
    "channel_expansion": _glu_channel,
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_returned_numbers_belong_to_a_result_context(name):
    out = CASES[name]()
    bad = leaks(out)
    assert not bad, f"{name}: numbers outside a result context at {bad[:5]} ({len(bad)} in all)"


def test_arithmetic_on_results_keeps_the_computed_digits():
    """cp.loss - reference at 40 digits, with mpmath.mp.dps at its default 15."""
    assert mpmath.mp.dps == 15
    p, cp = _erf_minimum()
    assert result_context_of(cp.loss) == 40
    again = p.loss(cp.theta, dps=40)
    diff = cp.loss - again + mpmath.mpf(10) ** -30  # would be rounded away at 15 digits
    assert abs(diff - mpmath.mpf(10) ** -30) < mpmath.mpf(10) ** -38
