"""Copy-average configurations: exact scalars, losses, criticality and indices, checked independently.

References: the optimum of the one-group problem found by mpmath.findroot on a loss written
here in the asin form of the erf kernel (not symland's atan2 form), Monte Carlo in float64,
the numeric full assembly (TeacherStudent), a finite-difference Hessian of the numeric
gradient, a hand derivation of the relu cross-group gradient, and partition numbers.
"""

import json
import os
import pathlib
import subprocess
import sys

import mpmath
import numpy as np
import pytest
import sympy
from conftest import full_run
from scipy.special import erf

from symland.cli.main import main
from symland.errors import NoClosedFormError, ShapeError
from symland.problems.teacher_student import TeacherStudent
from symland.symmetric.copy_average import copy_average, decouples, group_optimum, partitions


def test_partitions_counts():
    # partition numbers p(k) (OEIS A000041): p(7) = 15, p(12) = 77
    assert sum(len(partitions(7, n)) for n in range(1, 8)) == 15
    assert sum(len(partitions(12, n)) for n in range(1, 13)) == 77
    assert partitions(7, 3) == [(5, 1, 1), (4, 2, 1), (3, 3, 1), (3, 2, 2)]
    assert partitions(3, 4) == []


def test_decouples():
    assert decouples("erf") and decouples("erf_plain")
    assert not decouples("relu") and not decouples("quadratic")


@pytest.mark.parametrize("m", [2, 5])
def test_erf_group_optimum_independent(m):
    # minimise l(g, a) = 1/2 a^2 phi(g^2 m) - a m kappa(g^2 m, 1, g) with the Saad-Solla asin form
    with mpmath.workdps(40):
        def kap(A, B, C):
            return 2 / mpmath.pi * mpmath.asin(C / mpmath.sqrt((1 + A) * (1 + B)))

        def ell(g, a):
            t = g * g * m
            return a * a / 2 * kap(t, t, t) - a * m * kap(t, 1, g)

        # eliminate a (dl/da = 0 is linear: a = m kappa / phi), then a 1-D root of dF/dg
        def F(g):
            t = g * g * m
            return -(m * kap(t, 1, g)) ** 2 / (2 * kap(t, t, t))

        g0 = mpmath.findroot(lambda g: mpmath.diff(F, g), mpmath.mpf("0.8") / m)
        t0 = g0 * g0 * m
        a0 = m * kap(t0, 1, g0) / kap(t0, t0, t0)
        assert abs(mpmath.diff(lambda x: ell(x, a0), g0)) < mpmath.mpf(10) ** -30
        g, a, gex, aex, roots = group_optimum("erf", m, 50)
        assert abs(g - g0) < mpmath.mpf(10) ** -30 and abs(a - a0) < mpmath.mpf(10) ** -30
        assert gex == 1 / sympy.sqrt(m * (2 * m - 1)) and aex == m


def _monte_carlo_loss(act_fn, W, a, samples=400_000, seed=1):
    rng = np.random.default_rng(seed)
    k = W.shape[1]
    x = rng.standard_normal((samples, k))
    f = act_fn(x @ W.T) @ a
    fs = act_fn(x).sum(axis=1)
    r = 0.5 * (f - fs) ** 2
    return r.mean(), r.std() / np.sqrt(samples)


def test_erf_k4_n2_theorem_and_checks():
    res = copy_average("erf", 4, 2, dps=50)
    assert [c.partition for c in res.configurations] == [(3, 1), (2, 2)]
    # theorem: every configuration critical (exactly); optimum = n-1 copies + 1 average of k-n+1
    assert all(c.critical == "exact" for c in res.configurations)
    assert res.optimal.partition == (3, 1)
    for c in res.configurations:
        assert c.gradient_norm < mpmath.mpf(10) ** -50  # 60-digit full assembly gradient
        assert abs(c.loss - c.loss_full) < mpmath.mpf(10) ** -45
        W = np.zeros((2, 4))
        col = 0
        for i, m in enumerate(c.partition):
            W[i, col:col + m] = float(c.g[i])
            col += m
        mc, se = _monte_carlo_loss(lambda u: erf(u / np.sqrt(2)), W, np.array([float(x) for x in c.a]))
        assert abs(mc - float(c.loss)) < 5 * se + 1e-12
    # [3, 1] is a minimum, [2, 2] a saddle (index from the mpmath Hessian)
    assert res.configurations[0].kind == "minimum" and res.configurations[0].index == 0
    assert res.configurations[1].index > 0
    # to_dict: every number a decimal string with all digits
    d = res.to_dict()
    assert len(d["configurations"][0]["loss"].replace("0.", "", 1)) >= 50
    json.dumps(d)


def _fd_hessian_index(prob, theta, dps=40, h="1e-12"):
    with mpmath.workdps(dps):
        h = mpmath.mpf(h)
        P = len(theta)
        H = mpmath.matrix(P, P)
        for j in range(P):
            tp, tm = theta.copy(), theta.copy()
            tp[j] += h
            tm[j] -= h
            col = (prob.gradient(tp, dps=dps) - prob.gradient(tm, dps=dps)) / (2 * h)
            for i in range(P):
                H[i, j] = col[i]
        H = (H + H.T) / 2
        lam = mpmath.eigsy(H, eigvals_only=True)
        return sum(1 for v in lam if v < -mpmath.mpf(10) ** -15), lam


@pytest.mark.parametrize("k,n", [(4, 2)])
def test_index_against_finite_difference_hessian(k, n):
    res = copy_average("erf", k, n, dps=30)
    prob = TeacherStudent.orthonormal("erf", k, n)
    for c in res.configurations:
        idx, lam = _fd_hessian_index(prob, c.theta)
        assert idx == c.index, (c.partition, [mpmath.nstr(v, 6) for v in lam])


def test_relu_not_critical_cross_gradient():
    # relu: kappa_c(a, b, 0) = 1/4, so the gradient of student i along a teacher vector of another
    # student j's group is a_i (a_j g_j - 1) / 4 (hand derivation); it vanishes only if beta_j = 1
    res = copy_average("relu", 3, 2, dps=30, follow=False)
    (c,) = res.configurations
    assert c.partition == (2, 1) and c.critical == "not critical" and c.index is None
    prob = TeacherStudent.orthonormal("relu", 3, 2)
    with mpmath.workdps(40):
        grad = prob.gradient(c.theta, dps=40)
        a0, a1 = c.a
        g0, g1 = c.g
        # student 0 owns teacher columns 0, 1; student 1 owns column 2
        assert abs(grad[2] - a0 * (a1 * g1 - 1) / 4) < mpmath.mpf(10) ** -30
        assert abs(grad[3 + 0] - a1 * (a0 * g0 - 1) / 4) < mpmath.mpf(10) ** -30
        assert abs(grad[2]) > mpmath.mpf("1e-3")
    assert abs(c.loss - c.loss_full) < mpmath.mpf(10) ** -25


def test_relu_follow_reaches_critical_point():
    res = copy_average("relu", 3, 2, dps=30, follow=True)
    near = res.configurations[0].nearby
    assert near is not None and "error" not in near
    prob = TeacherStudent.orthonormal("relu", 3, 2)
    with mpmath.workdps(40):
        th = np.array([mpmath.mpf(x) for x in near["theta"]], dtype=object)
        g = prob.gradient(th, dps=40)
        assert mpmath.sqrt(mpmath.fsum(x * x for x in g)) < mpmath.mpf(10) ** -25
        assert prob.loss(th, dps=40) < res.configurations[0].loss  # Newton reached a lower point here


def test_bad_input():
    with pytest.raises(ShapeError, match="n <= k"):
        copy_average("erf", 2, 3)
    with pytest.raises(ShapeError, match="k must be a positive integer"):
        copy_average("erf", 0, 1)
    with pytest.raises(NoClosedFormError):
        copy_average("tanh", 3, 2)


def test_cli_copy_average(capsys):
    assert main(["copy-average", "--activation", "erf", "--k", "3", "--n", "2", "--dps", "30", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    (c,) = out["configurations"]
    assert c["partition"] == [2, 1] and c["critical"] == "exact" and c["index"] == 0
    assert c["g_exact"] == ["sqrt(6)/6", "1"] and c["a_exact"] == ["2", "1"]
    assert len(c["loss"]) >= 30
    assert main(["copy-average", "--k", "3", "--n", "2", "--dps", "20", "--no-classify"]) == 0
    text = capsys.readouterr().out
    assert "[2, 1]" in text and "exact" in text and "sqrt{6}" in text


@pytest.mark.slow
def test_erf_theorem_sweep():
    """Every erf copy-average configuration is critical (exactly) and the optimum is n-1 copies + 1 average."""
    ks = range(3, 13) if full_run() else [5]
    for k in ks:
        for n in range(2, k):
            res = copy_average("erf", k, n, dps=50, classify=False)
            assert all(c.critical == "exact" for c in res.configurations), (k, n)
            assert all(c.gradient_norm < mpmath.mpf(10) ** -50 for c in res.configurations)
            assert res.optimal.partition == (k - n + 1,) + (1,) * (n - 1), (k, n)
            if len(res.configurations) > 1:
                assert res.configurations[1].loss - res.optimal.loss > mpmath.mpf(10) ** -10


def test_derivation_runs_small():
    """derivations/copy_average.py --small derives, prints and asserts the results (exit code 0)."""
    root = pathlib.Path(__file__).resolve().parents[2]
    env = dict(os.environ, PYTHONPATH=str(root) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, "-W", "ignore", str(root / "derivations" / "copy_average.py"), "--small"],
                          capture_output=True, text=True, env=env, timeout=900, cwd=root)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "0 failure(s)" in proc.stdout
    assert "FAIL" not in proc.stdout
    assert "g = 1/sqrt(m(2m-1)), a = m: exact full-space gradient = 0 for symbolic m" in proc.stdout


def test_coupled_non_homogeneous_activation():
    # cos: kappa(a, b, 0) = exp(-(a + b)/2) != 0 (groups interact) and no homogeneity: the coupled
    # own-group equations are solved by mpmath Newton; the full assembly confirms criticality
    res = copy_average("cos", 3, 2, dps=30, classify=False)
    (c,) = res.configurations
    assert not res.decoupled and c.g_exact is None and c.critical == "30 digits"
    assert c.gradient_norm < mpmath.mpf(10) ** -28
    assert abs(c.loss - c.loss_full) < mpmath.mpf(10) ** -25
