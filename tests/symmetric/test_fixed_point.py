"""Fixed-point subspaces (relu, k = n, V = I, output weights 1): subspaces, search, classification, CLI.

Independent references: brute-force group enumeration for the subspaces; the relu arc-cosine kernel
written out from Cho & Saul ("Kernel methods for deep learning", NIPS 2009: E[relu(u) relu(v)] =
|u||v| (sin t + (pi - t) cos t) / (2 pi)) with mpmath.findroot on its numerical derivatives for the
diag(S_k) critical points; 60-digit central finite differences of the loss for criticality and
Hessians; Monte Carlo for the loss; matrices with a constructed spectrum for the classifier.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

import mpmath
import numpy as np
import pytest
from conftest import full_run

import symland.symmetric.inertia as inertia
from symland.cli.main import main
from symland.errors import NoClosedFormError, ShapeError
from symland.problems.teacher_student import TeacherStudent
from symland.symmetric.fixed_point import compare_with_survey, symmetric_critical_points
from symland.symmetric.inertia import classify_hessian
from symland.symmetric.subspace import fixed_point_subspace, parse_isotropy, young_type

ROOT = Path(__file__).resolve().parents[2]


# ---------------------------------------------------------------------------
# subspaces
# ---------------------------------------------------------------------------
def _brute_force_fixed_space(k, blocks):
    """Fixed space of the diagonal action of every block-preserving permutation (null space, via SVD)."""
    block_of = np.repeat(np.arange(len(blocks)), blocks)
    rows = []
    for perm in itertools.permutations(range(k)):
        if all(block_of[perm[i]] == block_of[i] for i in range(k)):
            Pm = np.eye(k)[list(perm)]
            rows.append(np.kron(Pm, Pm) - np.eye(k * k))  # vec(P W P^T) = (P kron P) vec(W), row-major
    M = np.vstack(rows)
    _, sv, Vt = np.linalg.svd(M)
    null = Vt[np.sum(sv > 1e-9):]
    return null.T


@pytest.mark.parametrize("k, iso, dim", [(5, "S_k", 2), (5, "S_{k-1}xS_1", 5), (5, "S_{k-2}xS_2", 6),
                                         (5, "S_{k-2}xS_1xS_1", 10), (4, "S_2xS_2", 6), (5, "3,1,1", 10)])
def test_subspace_equals_brute_force_fixed_space(k, iso, dim):
    sub = fixed_point_subspace(k, iso)
    assert sub.dim == dim
    assert sub.P.dtype.kind == "i" and set(np.unique(sub.P)) <= {0, 1}
    assert np.all(sub.P.sum(axis=1) == 1)  # each entry of W in exactly one orbit
    N = _brute_force_fixed_space(k, sub.blocks)
    assert N.shape[1] == dim
    # same subspace: projectors agree
    Q, _ = np.linalg.qr(sub.P.astype(float))
    assert np.allclose(Q @ Q.T, N @ N.T, atol=1e-10)


def test_subspace_generators_fix_lifted_points_and_projection_inverts_lift():
    sub = fixed_point_subspace(6, "S_{k-2}xS_1xS_1")
    s = np.random.default_rng(0).normal(size=sub.dim)
    W = sub.matrix(s)
    for perm in sub.generators():
        assert np.array_equal(W[np.ix_(perm, perm)], W)
    assert np.allclose(sub.project(sub.lift(s)), s, atol=1e-15)
    with mpmath.workdps(40):
        sm = np.array([mpmath.mpf(1) / 3 * (c + 1) for c in range(sub.dim)], dtype=object)
        back = sub.project(sub.lift(sm))
        assert all(abs(a - b) < mpmath.mpf(10) ** -38 for a, b in zip(back, sm))
    assert "d1 I + o1 (J - I)" in sub.description() and "c12 J" in sub.description()


def test_parse_isotropy_names_and_errors():
    assert parse_isotropy(6, "S_k") == (6,)
    assert parse_isotropy(6, "diag(S_{k-1} x S_1)") == (5, 1)
    assert parse_isotropy(6, "S_4xS_1xS_1") == (4, 1, 1)
    assert parse_isotropy(6, (3, 3)) == (3, 3)
    with pytest.raises(ShapeError, match="must sum to k=6"):
        parse_isotropy(6, "2,2")
    with pytest.raises(ShapeError, match="not understood"):
        parse_isotropy(6, "A_5")
    with pytest.raises(ShapeError, match="k must be an integer >= 2"):
        fixed_point_subspace(1, "S_k")
    with pytest.raises(ShapeError, match="positive integers"):
        parse_isotropy(3, (3, 0))
    with pytest.raises(NoClosedFormError, match="tanh"):
        symmetric_critical_points("tanh", 3, isotropy="S_k", starts=1)


def test_parse_isotropy_refuses_lossy_and_hostile_input():
    # int(1.9) was silently 1: float block sizes summing to k looked like (1, 1)
    for bad in ((1.9, 1.9), (True, True), "1" * 5000, "\u0661,\u0661", "__import__('os')"):
        with pytest.raises(ShapeError):
            parse_isotropy(2, bad)
    assert parse_isotropy(2, (np.int64(1), 1)) == (1, 1)


def test_gradient_lies_in_the_fixed_subspace():
    """The premise of symmetric criticality: at theta = P s the full gradient is fixed by the group."""
    prob = TeacherStudent.orthonormal("relu", 5, 5, train_output=False)
    for iso in ("S_k", "S_{k-1}xS_1", "S_{k-2}xS_1xS_1"):
        sub = fixed_point_subspace(5, iso)
        s = np.random.default_rng(3).normal(size=sub.dim)
        g = prob.gradient(sub.lift(s))
        assert np.linalg.norm(g) > 1e-3
        assert np.allclose(sub.lift(sub.project(g)), g, atol=1e-13)


def test_young_type():
    sub = fixed_point_subspace(5, "S_{k-2}xS_1xS_1")
    s = np.arange(1, sub.dim + 1, dtype=float)
    assert young_type(sub.matrix(s)) == (3, 1, 1)
    assert young_type(np.eye(4)) == (4,)


# ---------------------------------------------------------------------------
# classification on matrices with a known spectrum
# ---------------------------------------------------------------------------
def _constructed(lams, seed=0, dps=40):
    n = len(lams)
    Q, _ = np.linalg.qr(np.random.default_rng(seed).normal(size=(n, n)))
    with mpmath.workdps(dps):
        Qm = mpmath.matrix(Q.tolist())
        # orthonormalise exactly enough in mp (QR of the float Q at dps digits)
        Qm, _ = mpmath.qr(Qm)
        D = mpmath.diag([mpmath.mpf(v) for v in lams])
        H = Qm * D * Qm.T
        return np.array(H.tolist(), dtype=object)


@pytest.mark.parametrize("method", ["auto", "ldl", "eigsy", "ritz"])
def test_classify_hessian_counts_a_constructed_spectrum(method, monkeypatch):
    # 1e-20 is far below float64 resolution of ||H|| but above the zero threshold 10^(3-30) n ||H||
    lams = [-2, -1e-3, -1e-3, -1e-3, 0, 0, 1e-20, 5e-2, 3, 3]
    H = _constructed(lams)
    if method == "ritz":
        monkeypatch.setattr(inertia, "_LDL_MAX", 0)
        method = "auto"
    res = classify_hessian(H, n_eig=3, hessian_dps=30, method=method)
    assert res["index"] == 4
    assert res["nullity"] == 2  # the two exact zeros; 1e-20 is decided positive in mpmath
    ev = res["eigenvalues"]
    assert abs(ev[0]["value"] + 2) < 1e-25 and ev[0]["multiplicity"] == 1
    assert abs(ev[1]["value"] + mpmath.mpf("1e-3")) < 1e-25 and ev[1]["multiplicity"] == 3


def test_classify_hessian_weyl_path_for_a_definite_matrix():
    H = _constructed([0.5, 1, 2, 2, 7])
    res = classify_hessian(H, n_eig=2, hessian_dps=30)
    assert res["method"].startswith("float64 eigenvalues") and res["index"] == 0 and res["nullity"] == 0
    assert abs(res["eigenvalues"][0]["value"] - mpmath.mpf("0.5")) < 1e-28
    assert res["eigenvalues"][1]["multiplicity"] == 1 and abs(res["eigenvalues"][1]["value"] - 1) < 1e-28


# ---------------------------------------------------------------------------
# independent reference for Fix(diag S_k): Cho & Saul arc-cosine kernel, mpmath.findroot
# ---------------------------------------------------------------------------
def _kappa(a, b, c):
    r = mpmath.sqrt(a * b)
    t = mpmath.acos(max(min(c / r, 1), -1))
    return r * (mpmath.sin(t) + (mpmath.pi - t) * mpmath.cos(t)) / (2 * mpmath.pi)


def _reduced_loss(k, al, be):
    N = al**2 + (k - 1) * be**2
    C = 2 * al * be + (k - 2) * be**2
    return (mpmath.mpf(1) / 2 * (k * _kappa(N, N, N) + k * (k - 1) * _kappa(N, N, C))
            - (k * _kappa(N, 1, al) + k * (k - 1) * _kappa(N, 1, be))
            + mpmath.mpf(1) / 2 * (k * _kappa(1, 1, 1) + k * (k - 1) * _kappa(1, 1, 0)))


def _independent_sk_point(k, start, dps=50):
    with mpmath.workdps(dps + 20):
        f = lambda a, b: _reduced_loss(k, a, b)  # noqa: E731
        g = [lambda a, b: mpmath.diff(f, (a, b), (1, 0)), lambda a, b: mpmath.diff(f, (a, b), (0, 1))]
        root = mpmath.findroot(g, [mpmath.mpf(v) for v in start])
        return [root[0], root[1]], f(root[0], root[1])


def _fd_gradient(prob, theta, dps=60, h="1e-20"):
    with mpmath.workdps(dps):
        th = np.array([mpmath.mpf(v) for v in theta], dtype=object)
        h = mpmath.mpf(h)
        out = []
        for i in range(len(th)):
            e = th.copy()
            e[i] += h
            up = prob.loss(e, dps=dps)
            e[i] -= 2 * h
            out.append((up - prob.loss(e, dps=dps)) / (2 * h))
        return mpmath.sqrt(mpmath.fsum(v * v for v in out))


def _fd_hessian_eigs(prob, theta, dps=60, h="1e-12"):
    with mpmath.workdps(dps):
        th = np.array([mpmath.mpf(v) for v in theta], dtype=object)
        h = mpmath.mpf(h)
        m = len(th)

        def L(*steps):
            e = th.copy()
            for i, s in steps:
                e[i] += s * h
            return prob.loss(e, dps=dps)

        L0 = L()
        H = mpmath.matrix(m, m)
        for i in range(m):
            H[i, i] = (L((i, 1)) - 2 * L0 + L((i, -1))) / h**2
            for j in range(i + 1, m):
                H[i, j] = H[j, i] = (L((i, 1), (j, 1)) - L((i, 1), (j, -1)) - L((i, -1), (j, 1))
                                     + L((i, -1), (j, -1))) / (4 * h * h)
        return sorted(mpmath.eigsy(H, eigvals_only=True))


@pytest.fixture(scope="module")
def k3():
    return symmetric_critical_points("relu", 3, isotropy=["S_k", "S_{k-1}xS_1"], starts=8, seed=1, progress=False)


def test_k3_points_are_critical_in_the_full_space(k3):
    assert len(k3.points) >= 3
    for p in k3.points:
        assert p.gradient_norm < mpmath.mpf(10) ** -45
        assert p.loss > -mpmath.mpf(10) ** -40
    glob = [p for p in k3.points if p.kind == "global minimum"]
    assert len(glob) == 1 and glob[0].index == 0 and abs(glob[0].loss) < 1e-60
    # points with different losses never share a function class
    for p, q in zip(k3.points, k3.points[1:]):
        if abs(p.loss - q.loss) > 1e-20:
            assert p.function_class != q.function_class
    # independent: 60-digit central differences of the loss, never the analytic gradient
    for p in k3.points[:3]:
        assert _fd_gradient(k3.problem, p.theta) < mpmath.mpf(10) ** -30


def test_k3_diag_sk_saddle_matches_an_independent_root_of_the_arccos_kernel(k3):
    sk = [p for p in k3.points if p.isotropy == "S_3" and p.kind == "saddle" and p.index == 1]
    assert len(sk) == 1
    p = sk[0]
    (al, be), loss = _independent_sk_point(3, ["-0.32", "0.66"])
    with mpmath.workdps(60):
        assert abs(p.scalars["d1"] - al) < mpmath.mpf(10) ** -45
        assert abs(p.scalars["o1"] - be) < mpmath.mpf(10) ** -45
        assert abs(p.loss - loss) < mpmath.mpf(10) ** -45


def test_k3_index_and_nullity_match_a_finite_difference_hessian(k3):
    # the index-1 saddle, and the all-identical-neuron saddle with k - 1 = 2 exact zero modes
    # (w_i -> (1 + e_i) w with sum e_i = 0 leaves f unchanged); that one exercises the LDL^T path
    picks = [p for p in k3.points if p.index == 1][:1] + [p for p in k3.points if p.nullity][:1]
    assert len(picks) == 2
    for p in picks:
        ev = _fd_hessian_eigs(k3.problem, p.theta)
        thr = mpmath.mpf(10) ** -8 * max(abs(v) for v in ev)
        assert (sum(1 for v in ev if v < -thr), sum(1 for v in ev if abs(v) <= thr)) == (p.index, p.nullity)
        assert abs(ev[0] - p.eigenvalues[0]["value"]) < 1e-8


def test_loss_against_monte_carlo(k3):
    p = max(k3.points, key=lambda q: q.loss)
    W = np.array(p.W, dtype=float)
    rng = np.random.default_rng(5)
    X = rng.standard_normal((400_000, 3))
    v = 0.5 * (np.maximum(X @ W.T, 0).sum(1) - np.maximum(X, 0).sum(1)) ** 2
    se = v.std(ddof=1) / np.sqrt(len(v))
    assert abs(v.mean() - float(p.loss)) < 5 * se


def test_k6_diag_sk_spurious_minimum():
    """Safran & Shamir (ICML 2018) prove spurious minima for 6 <= k <= 20; one lies in Fix(diag S_6)."""
    res = symmetric_critical_points("relu", 6, isotropy="S_k", starts=0, seed=0, progress=False,
                                    extra_starts=[[-0.66, 0.33]])
    sp = [p for p in res.points if p.kind == "spurious minimum"]
    assert len(sp) == 1
    p = sp[0]
    (al, be), loss = _independent_sk_point(6, ["-0.66", "0.33"])
    with mpmath.workdps(60):
        assert abs(p.scalars["d1"] - al) < mpmath.mpf(10) ** -45 and abs(p.loss - loss) < mpmath.mpf(10) ** -45
    assert p.index == 0 and p.nullity == 0 and p.eigenvalues[0]["value"] > 1e-3
    assert p.index_method.startswith("float64 eigenvalues")  # certified by Weyl's bound
    # the smallest eigenvalue against a second difference of the loss along its eigenvector
    H = np.array(res.problem.hessian(p.theta, dps=30), dtype=float)
    lam, Q = np.linalg.eigh(H)
    with mpmath.workdps(60):
        th = np.array([mpmath.mpf(v) for v in p.theta], dtype=object)
        y = np.array([mpmath.mpf(float(v)) for v in Q[:, 0]], dtype=object)
        h = mpmath.mpf("1e-15")
        L = res.problem.loss
        d2 = (L(th + h * y, dps=60) - 2 * L(th, dps=60) + L(th - h * y, dps=60)) / h**2
    assert abs(d2 - p.eigenvalues[0]["value"]) < 1e-10


# ---------------------------------------------------------------------------
# survey comparison, command line, derivation script
# ---------------------------------------------------------------------------
@pytest.mark.slow
def test_survey_points_match_symmetric_points():
    k = 6 if full_run() else 3
    starts = 30 if full_run() else 2
    res = symmetric_critical_points("relu", k, isotropy=None if full_run() else "S_k", starts=10,
                                    seed=0, progress=False)
    cmp = compare_with_survey(res, starts=starts, seed=0, dps=30, workers=1)
    reached = sum(c for _, c in cmp["matched"]) + sum(c for _, c in cmp["unmatched"])
    assert reached == cmp["starts"] - cmp["failures"]
    # minimisation from random starts ends at minima: the global one is a symmetric point
    glob = [c for p, c in cmp["matched"] if p.kind == "global minimum"]
    assert glob and glob[0] >= 1


def test_cli_symmetric_json(capsys):
    assert main(["symmetric", "--k", "3", "--isotropy", "S_k", "--starts", "6", "--seed", "1", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["k"] == 3 and out["subspaces"][0]["scalars"] == ["d1", "o1"]
    saddle = [p for p in out["points"] if p["kind"] == "saddle" and p["index"] == 1]
    assert saddle and len(saddle[0]["loss"].replace("0.", "", 1)) >= 45
    _, ref = _independent_sk_point(3, ["-0.32", "0.66"])
    with mpmath.workdps(60):
        assert abs(mpmath.mpf(saddle[0]["loss"]) - ref) < mpmath.mpf(10) ** -45
    assert main(["symmetric", "--k", "3", "--isotropy", "2,2"]) == 2
    assert "must sum to k=3" in capsys.readouterr().err


def test_cli_symmetric_text(capsys):
    assert main(["symmetric", "--k", "3", "--isotropy", "S_k", "--starts", "6", "--seed", "1"]) == 0
    out = capsys.readouterr().out
    assert "Fix(S_3): 2 scalars" in out and "global minimum" in out and "smallest Hessian eigenvalues" in out


def test_derivation_script_small():
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, str(ROOT / "derivations" / "symmetric_relu.py"), "--small"],
                          capture_output=True, text=True, env=env, timeout=900, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = proc.stdout
    assert "L(alpha=1, beta=0) = 0" in out and "\\operatorname{acos}" in out
    assert "all assertions passed" in out and "FD-Hessian index" in out and "Monte Carlo" in out


def test_each_subspace_has_its_own_stream_of_starts():
    """Asking for S_k as well must not change what S_{k-1}xS_1 finds (it used to lose the k = 6
    spurious minimum, because the subspaces shared one random stream)."""
    alone = symmetric_critical_points("relu", k=6, isotropy="S_{k-1}xS_1", dps=30, starts=20, classify=False)
    both = symmetric_critical_points("relu", k=6, isotropy=["S_k", "S_{k-1}xS_1"], dps=30, starts=20,
                                     classify=False)
    losses = lambda res: {round(float(p.loss), 12) for p in res.points}  # noqa: E731
    assert losses(alone) <= losses(both)
    assert any(abs(x - 0.025080581002) < 1e-9 for x in losses(alone))  # the S_5 x S_1 spurious minimum
