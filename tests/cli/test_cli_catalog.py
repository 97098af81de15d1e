"""``symland catalog`` and ``symland survey --catalog``: points stored across runs, listed, shown and
exported; errors in one line."""

from __future__ import annotations

import json

from symland.cli.main import main


def test_survey_runs_merge_and_export(tmp_path, capsys, exit_status):
    db = str(tmp_path / "c.db")
    for seed in ("0", "1"):
        assert main(["survey", "--starts", "3", "--seed", seed, "--catalog", db]) == 0
    capsys.readouterr()
    assert main(["catalog", "list", "--catalog", db]) == 0
    listing = capsys.readouterr().out
    assert "1 points" in listing and "minimum" in listing and " 6 " in listing  # 3 + 3 starts, one orbit
    assert main(["catalog", "show", "1", "--catalog", db]) == 0
    row = json.loads(capsys.readouterr().out)
    assert row["count"] == 6 and len(row["theta"]) == 10 and row["provenance"]["command"].startswith("symland survey")
    out = tmp_path / "c.tex"
    assert main(["catalog", "export", "--catalog", db, "--format", "latex", "--output", str(out)]) == 0
    assert r"\begin{tabular}" in out.read_text()
    assert exit_status(["catalog", "show", "7", "--catalog", db]) == 2
    assert "no point 7" in capsys.readouterr().err


def test_add_a_weights_file(tmp_path, capsys):
    w = tmp_path / "w.json"
    w.write_text(json.dumps({"W": [[1.0, 0, 0, 0], [0, 0.258198889747161, 0.258198889747161, 0.258198889747161]],
                             "a": [1.0, 3.0]}))
    db = str(tmp_path / "c.db")
    assert main(["catalog", "add", "--weights", str(w), "--catalog", db, "--dps", "30"]) == 0
    assert "stored as row 1" in capsys.readouterr().out
