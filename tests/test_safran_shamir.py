"""derivations/safran_shamir.py: certified spurious minima of relu networks (Safran & Shamir, ICML 2018).

The script proves its claims with certificates and checks each certified loss against the relu
kernel written out by hand.  These tests add a check independent of both symland and the script:
the loss at the certified k = 6 spurious minimum recomputed by 1-D quadrature of each pairwise
expectation E[relu(u.x) relu(v.x)] (no closed-form kernel), and central differences of that
quadrature loss along a random direction (first derivative ~ 0 at a critical point, second
derivative >= the certified lower bound of lambda_min).  They also check that the script's
assertions fail when no minimum is certified or when the independent loss disagrees.
"""

from __future__ import annotations

import json
import runpy
from pathlib import Path

import mpmath
import numpy as np
import pytest

import symland

SCRIPT = Path(__file__).resolve().parents[1] / "derivations" / "safran_shamir.py"


def load():
    return runpy.run_path(str(SCRIPT), run_name="safran_shamir_under_test")


def _relu_mean(m, s):
    """E[relu(m + s Z)], Z ~ N(0, 1): m Phi(m/s) + s phi(m/s) (s > 0), relu(m) for s = 0."""
    if s == 0:
        return max(m, 0)
    return m * mpmath.ncdf(m / s) + s * mpmath.npdf(m / s)


def _pair_by_quadrature(u, v):
    """E[relu(u.x) relu(v.x)] = |u||v| int_0^inf z phi(z) E[relu(rho z + sqrt(1 - rho^2) Z)] dz
    (u.x = |u| z, v.x = |v| (rho z + sqrt(1 - rho^2) Z) with z, Z independent standard normals)."""
    a = mpmath.sqrt(mpmath.fsum(x * x for x in u))
    b = mpmath.sqrt(mpmath.fsum(x * x for x in v))
    rho = mpmath.fsum(x * y for x, y in zip(u, v)) / (a * b)
    s = mpmath.sqrt(max(0, 1 - rho**2))
    return a * b * mpmath.quad(lambda z: z * mpmath.npdf(z) * _relu_mean(rho * z, s), [0, mpmath.inf])


def _loss_by_quadrature(W, dps):
    """1/2 E[(sum_i relu(w_i.x) - sum_r relu(x_r))^2], pair by pair (each unordered pair once, doubled).

    By hand: E[relu(u.x)^2] = |u|^2 E[relu(z)^2] = |u|^2 / 2; two teachers are independent,
    E[relu(x_r)] E[relu(x_s)] = (1 / sqrt(2 pi))^2 = 1 / (2 pi).  Every other pair by quadrature."""
    with mpmath.workdps(dps):
        k = len(W)
        students = [[mpmath.mpf(x) for x in w] for w in W]
        teachers = [[mpmath.mpf(int(i == r)) for i in range(k)] for r in range(k)]
        total = mpmath.fsum(mpmath.fsum(x * x for x in u) / 2 for u in students) + k * mpmath.mpf(1) / 2
        total += k * (k - 1) / (2 * mpmath.pi)
        for i, u in enumerate(students):
            total += 2 * mpmath.fsum(_pair_by_quadrature(u, v) for v in students[i + 1:])
            total -= 2 * mpmath.fsum(_pair_by_quadrature(u, v) for v in teachers)
        return total / 2


@pytest.fixture(scope="module")
def k6_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("safran") / "k6.json"
    ns = load()
    code = ns["main"](["--small", "--k-max", "6", "--json", str(out)])
    return code, json.loads(out.read_text())


def test_k6_spurious_minimum_is_certified(k6_run):
    code, data = k6_run
    assert code == 0 and data["failures"] == [] and data["k"] == [6]
    proven = [p for p in data["points"] if p.get("spurious_minimum_proven")]
    assert {p["family"] for p in proven} >= {"S_{k-1}xS_1"}
    for p in proven:
        cert = p["certificate"]
        assert cert["certified"] and cert["kind"] == "minimum" and cert["index"] == 0 and cert["nullity"] == 0
        lo, hi = (mpmath.mpf(x) for x in cert["loss"])
        assert 0 < lo <= hi and p["independent_loss"]["inside"]
        assert mpmath.mpf(cert["lambda_min"][0]) > 0
    # every distinct search point was classified, and the global minimum W = I (loss 0) is among them
    assert any(abs(float(p["loss_search"])) < 1e-20 for p in data["points"])
    assert {s["isotropy"] for s in data["search"]} == {"S_6", "S_5xS_1", "S_4xS_2", "S_4xS_1xS_1", "S_3xS_3",
                                                       "S_3xS_2xS_1"}


def test_k6_certified_loss_and_curvature_by_quadrature(k6_run):
    _, data = k6_run
    p = next(p for p in data["points"] if p.get("spurious_minimum_proven") and p["family"] == "S_{k-1}xS_1")
    cert = p["certificate"]
    k = 6
    with mpmath.workdps(40):
        centre = np.array([mpmath.mpf(x) for x in cert["center"]], dtype=object).reshape(k, k)
        lo, hi = (mpmath.mpf(x) for x in cert["loss"])
        # the quadrature is accurate to about 1e-29 at 30 digits; the interval is 1e-31 wide
        value = _loss_by_quadrature(centre, 30)
        assert lo - mpmath.mpf("1e-25") <= value <= hi + mpmath.mpf("1e-25"), (value, lo, hi)
        assert value > mpmath.mpf("0.02")
        # a random unit direction d: (L(c + t d) - L(c - t d)) / 2t ~ d.grad L = 0 (error ~ t^2 L''' ~ 1e-8),
        # (L(c + t d) - 2 L(c) + L(c - t d)) / t^2 ~ d^T H d >= lambda_min (rounding ~ 1e-20 / t^2 = 1e-12)
        d = np.random.default_rng(0).normal(size=(k, k))
        d = np.array([mpmath.mpf(x) for x in (d / np.linalg.norm(d)).ravel()], dtype=object).reshape(k, k)
        t = mpmath.mpf("1e-4")
        up, down = _loss_by_quadrature(centre + t * d, 20), _loss_by_quadrature(centre - t * d, 20)
        first, second = (up - down) / (2 * t), (up - 2 * value + down) / t**2
        assert abs(first) < 1e-6, first
        assert second >= mpmath.mpf(cert["lambda_min"][0]) - mpmath.mpf("1e-6"), (second, cert["lambda_min"])


def test_the_assertion_fails_without_a_certified_minimum(capsys, monkeypatch):
    ns = load()

    def refuse(problem, point, dps=50, **kw):
        return symland.Certificate(False, "failed", "refused by the test")

    monkeypatch.setattr(symland, "certify", refuse)
    assert ns["main"](["--k-max", "6", "--isotropy", "S_{k-1}xS_1"]) == 1
    assert "FAIL: k = 6: no certified spurious local minimum" in capsys.readouterr().out


def test_the_assertion_fails_when_the_independent_loss_disagrees(capsys):
    ns = load()
    main = ns["main"]
    real = main.__globals__["relu_loss_by_hand"]
    main.__globals__["relu_loss_by_hand"] = lambda W: real(W) + mpmath.mpf("1e-40")
    try:
        assert main(["--k-max", "6", "--isotropy", "S_{k-1}xS_1"]) == 1
    finally:
        main.__globals__["relu_loss_by_hand"] = real
    assert "is outside the certified interval" in capsys.readouterr().out


def test_bad_range_is_refused():
    with pytest.raises(SystemExit) as exc:
        load()["main"](["--k-min", "9", "--k-max", "8"])
    assert exc.value.code == 2


@pytest.mark.slow
def test_small_run_k6_to_k8(tmp_path, full):
    """``--small`` (k = 6..8); reduced form: only the S_{k-1} x S_1 subspaces, SYMLAND_FULL=1: every isotropy."""
    out = tmp_path / "small.json"
    args = ["--small", "--json", str(out)] + ([] if full else ["--isotropy", "S_{k-1}xS_1"])
    assert load()["main"](args) == 0
    data = json.loads(out.read_text())
    assert data["k"] == [6, 7, 8] and data["failures"] == []
    for k in (6, 7, 8):
        mine = [p for p in data["points"] if p["k"] == k and p.get("spurious_minimum_proven")]
        assert any(p["family"] == "S_{k-1}xS_1" for p in mine), k
        for p in mine:
            assert mpmath.mpf(p["certificate"]["loss"][0]) > 0 and p["independent_loss"]["inside"]
