"""``symland attention-pca`` (run in-process through ``main``).

Independent references: the losses at the critical points by hand,
R_j = (tr Sigma - lambda_j (L + 2) / (L + 4)) / 2 (linear attention; module docstring of
symland.problems.attention_pca); the exit statuses are the documented ones.
"""

import json

import numpy as np
import pytest

from symland.cli.main import main


def test_json_lists_every_point_with_the_hand_losses(capsys):
    assert main(["attention-pca", "--sigma", "3,2,1", "--L", "6", "--starts", "6", "--dps", "30", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["ok"] and data["L"] == 6 and data["attention"] == "linear"
    plus = [p for p in data["points"] if p["label"].endswith("+")]
    for p, lam in zip(plus, (3, 2, 1)):
        assert abs(float(p["loss"]) - (6 - lam * 8 / 10) / 2) < 1e-28
        assert p["index"] == p["derived_index"] and p["certificate"].startswith("certified")
    assert len(data["points"][0]["loss"].replace("-", "").replace(".", "")) >= 30  # all digits


def test_table_spiked_draw_and_infinite_prompt(capsys):
    assert main(["attention-pca", "--spiked", "4,100,2.5", "--seed", "2", "--starts", "4"]) == 0
    out = capsys.readouterr().out
    assert "all checks passed" in out and "spiked Wishart" in out and "L=inf" in out


def test_sigma_file(tmp_path, capsys):
    path = tmp_path / "sigma.json"
    path.write_text(json.dumps({"Sigma": np.diag([2.0, 1.0]).tolist()}))
    assert main(["attention-pca", "--sigma-file", str(path), "--starts", "0", "--no-certify",
                 "--attention", "softmax", "--L", "1"]) == 0
    assert "all checks passed" in capsys.readouterr().out


@pytest.mark.parametrize("argv, match", [
    (["--attention", "softmax", "--L", "3"], "MAX_SOFTMAX_L"),
    (["--sigma", "1,-1"], "positive definite"),
    (["--sigma", "2,1", "--spiked", "3,10,1"], "at most one"),
    (["--L", "0"], "positive integer"),
    (["--sigma", "a,b"], "comma-separated"),
])
def test_bad_input_exits_2_with_one_line(argv, match, capsys, exit_status):
    assert exit_status(["attention-pca", *argv]) == 2
    err = capsys.readouterr().err
    assert match in err and len(err.strip().splitlines()) == 1
