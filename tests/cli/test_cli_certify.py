"""``symland certify`` and ``symland survey --certify`` (run in-process through ``main``).

Independent references: the loss of the Safran-Shamir k = 6 spurious minimum from the relu
kernel written out by hand below (Cho & Saul's arc-cosine kernel of degree 1, with the 1/2 of
the loss), summed pair by pair in 60-digit mpmath; the exit statuses are the documented ones.
"""

import json

import mpmath
import numpy as np
import pytest

from symland.cli.main import main


def _relu_spurious_minimum():
    """The S_5 x S_1 spurious minimum of relu k = n = 6 (output weights 1), to 22 digits."""
    A, B, C = "0.9867038188885768335012", "-0.05041340321680874009269", "0.3080109914790687408725"
    D, E = "0.224515807599477895673", "-0.6015119235610937309389"
    return [[A if i == j else B for j in range(5)] + [C] for i in range(5)] + [[D] * 5 + [E]]


def relu_loss(W, V, dps=60):
    r"""$\tfrac12 E[(\sum_i \mathrm{relu}(w_i x) - \sum_r \mathrm{relu}(v_r x))^2]$ with
    $E[\mathrm{relu}(u)\mathrm{relu}(v)] = \frac{|u||v|}{2\pi}(\sin\theta + (\pi - \theta)\cos\theta)$."""
    with mpmath.workdps(dps):
        rows = [(1, [mpmath.mpf(x) for x in w]) for w in W] + [(-1, [mpmath.mpf(x) for x in v]) for v in V]

        def kappa(u, v):
            nu, nv = mpmath.sqrt(mpmath.fsum(x * x for x in u)), mpmath.sqrt(mpmath.fsum(x * x for x in v))
            cos = max(-1, min(1, mpmath.fsum(x * y for x, y in zip(u, v)) / (nu * nv)))
            th = mpmath.acos(cos)
            return nu * nv / (2 * mpmath.pi) * (mpmath.sin(th) + (mpmath.pi - th) * mpmath.cos(th))

        return mpmath.fsum(s * t * kappa(u, v) for s, u in rows for t, v in rows) / 2


@pytest.fixture(scope="module")
def spurious_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("w") / "spurious.json"
    path.write_text(json.dumps({"W": [[float(x) for x in row] for row in _relu_spurious_minimum()]}))
    return path


def run_cli(capsys, *args):
    status = main(list(args))
    out = capsys.readouterr()
    return status, out.out, out.err


def test_certify_a_relu_spurious_minimum(capsys, spurious_file):
    status, out, _ = run_cli(capsys, "certify", "--activation", "relu", "--k", "6", "--fixed-output",
                             "--weights", str(spurious_file), "--json")
    assert status == 0
    cert = json.loads(out)
    assert cert["certified"] and cert["index"] == 0 and cert["nullity"] == 0 and cert["kind"] == "minimum"
    lo, hi = cert["loss"]
    with mpmath.workdps(60):
        # the certified critical point is within the ball of the refined centre; its loss is the
        # hand-written kernel sum at the centre to far below the width of the interval
        ref = relu_loss([[mpmath.mpf(x) for x in cert["center"][6 * i:6 * i + 6]] for i in range(6)], np.eye(6))
        assert mpmath.mpf(lo) <= ref <= mpmath.mpf(hi)
        assert mpmath.mpf(hi) - mpmath.mpf(lo) < mpmath.mpf(10) ** -25
        assert ref > mpmath.mpf("0.025")  # spurious: the global minimum has loss 0
    status, out, _ = run_cli(capsys, "certify", "--activation", "relu", "--k", "6", "--fixed-output",
                             "--weights", str(spurious_file))
    assert status == 0 and "certified minimum" in out and "index         = 0" in out


def test_a_perturbed_point_is_not_certified(capsys, spurious_file, tmp_path):
    W = np.array(json.loads(spurious_file.read_text())["W"])
    W[0, 0] += 1e-3
    path = tmp_path / "moved.json"
    path.write_text(json.dumps({"W": W.tolist()}))
    status, out, _ = run_cli(capsys, "certify", "--activation", "relu", "--k", "6", "--fixed-output",
                             "--weights", str(path), "--json")
    cert = json.loads(out)
    assert status == 1 and not cert["certified"] and cert["status"] == "not critical"


def test_bad_input_exits_2_with_one_line(capsys, spurious_file, tmp_path, exit_status):
    garbled = tmp_path / "garbled.json"
    garbled.write_text("{not json")
    for args in (["certify", "--weights", str(garbled)],
                 ["certify", "--weights", str(tmp_path / "missing.npz")],
                 ["certify", "--activation", "relu", "--k", "6"],  # no point given
                 ["certify", "--activation", "tanh", "--k", "6", "--fixed-output", "--weights", str(spurious_file)]):
        assert exit_status(args) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("symland certify: error:") and "\n" not in err
    # the quadrature activation is refused by name, with the reason
    exit_status(["certify", "--activation", "tanh", "--k", "6", "--fixed-output", "--weights", str(spurious_file)])
    assert "no rigorous error bound" in capsys.readouterr().err


def test_survey_certifies_each_distinct_point(capsys):
    status, out, err = run_cli(capsys, "survey", "--activation", "relu", "--k", "2", "--n", "1", "--starts", "4",
                               "--workers", "1", "--certify", "--json")
    assert status == 0
    data = json.loads(out)
    assert data["points"] and all("certificate" in p for p in data["points"])
    assert err.count("certifying point") == len(data["points"])
    smooth = [p for p in data["points"] if p["kind"] == "minimum"]
    assert smooth and all(p["certificate"]["certified"] for p in smooth)
    # the relu student with a trained output weight lies on a rescaling orbit: nullity 1, reduced coordinates
    assert all(p["certificate"]["nullity"] == 1 and p["certificate"]["symmetry"]["rescaling"] == [0] for p in smooth)
    # a dead relu unit (w = 0) has no finite enclosure: an honest failure, not a crash
    dead = [p for p in data["points"] if p["kind"] != "minimum"]
    assert all(not p["certificate"]["certified"] and p["certificate"]["reason"] for p in dead)
