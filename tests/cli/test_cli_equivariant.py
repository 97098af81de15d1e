"""``symland equivariant``: the table and the JSON report; d = 4 (fast), where nothing is blocked."""

from __future__ import annotations

import json

from symland.cli.main import main


def test_table_and_json(capsys):
    assert main(["equivariant", "--d", "4", "--starts", "6", "--dps", "20"]) == 0
    assert "constrained minima are saddles of the unconstrained network" in capsys.readouterr().out
    assert main(["equivariant", "--d", "4", "--starts", "6", "--dps", "20", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["starts"] == 6 and all(r["full_index"] >= 0 for r in data["rows"])
