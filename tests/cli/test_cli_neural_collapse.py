"""``symland neural-collapse`` (in-process).  Reference: the DNC loss by hand in the smallest case,
2*lam - 2*lam**2 (MSE, K = 2, N = 1, L = 1; module docstring of symland.problems.deep_ufm)."""

import json

from symland.cli.main import main


def test_json_smallest_case_by_hand(capsys):
    assert main(["neural-collapse", "--K", "2", "--L", "1", "--loss", "mse", "--lambda-H", "1/100",
                 "--lambda-W", "0.01", "--starts", "2", "--dps", "30", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert abs(float(data["dnc"]["loss"]) - (0.02 - 0.0002)) < 1e-15
    assert data["dnc"]["loss"].startswith("0.0198") and data["dnc_optimal"] is True
    assert "lambda_H=1/100" in data["problem"]  # the decimal text was read exactly


def test_table_and_bad_strength(capsys, exit_status):
    assert main(["neural-collapse", "--K", "3", "--L", "2", "--starts", "2"]) == 0
    out = capsys.readouterr().out
    assert "DNC (constructed)" in out and "DNC fraction" in out
    assert exit_status(["neural-collapse", "--lambda-H", "-1"]) == 2
    assert exit_status(["neural-collapse", "--lambda-W", "__import__('os')"]) == 2
