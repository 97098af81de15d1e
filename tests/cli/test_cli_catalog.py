"""``symland catalog`` and ``symland survey --catalog``: points stored across runs, listed, shown and
exported; errors in one line with exit status 2, a foreign file refused before any survey."""

from __future__ import annotations

import csv
import io
import json

import mpmath

import symland
from symland.cli.main import main
from symland.results.catalog import Catalog


def test_survey_runs_merge_list_show_export(tmp_path, capsys):
    db = str(tmp_path / "c.db")
    for seed in ("0", "1"):
        assert main(["survey", "--starts", "3", "--seed", seed, "--workers", "1", "--catalog", db]) == 0
    err = capsys.readouterr().err
    assert "points stored or merged" in err
    assert main(["catalog", "list", "--catalog", db]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].endswith("1 points") and lines[1].split()[:3] == ["id", "problem", "loss"]
    cells = lines[2].split()
    assert cells[0] == "1" and "minimum" in cells and "6" in cells  # one orbit, 3 + 3 starts
    assert main(["catalog", "show", "1", "--catalog", db]) == 0
    row = json.loads(capsys.readouterr().out)
    assert row["count"] == 6 and len(row["theta"]) == 10 and row["kind"] == "minimum"
    assert [r["command"] for r in row["provenance"]] == [
        f"symland survey --starts 3 --seed {s} --workers 1 --catalog {db}" for s in (0, 1)]
    # the stored loss against an independent evaluation of the stored theta at 40 digits
    p = symland.TeacherStudent.orthonormal("erf", 4, 2)
    with mpmath.workdps(30):
        theta = [mpmath.mpf(s) for s in row["theta"]]
    with mpmath.workdps(40):
        assert abs(p.loss(theta, dps=40) - mpmath.mpf(row["loss"])) < mpmath.mpf(10) ** -28
    for fmt in ("json", "csv", "latex"):
        out = tmp_path / f"c.{fmt}"
        assert main(["catalog", "export", "--catalog", db, "--format", fmt, "--output", str(out)]) == 0
    assert json.loads((tmp_path / "c.json").read_text())["points"][0]["loss"] == row["loss"]
    assert list(csv.reader(io.StringIO((tmp_path / "c.csv").read_text())))[1][3] == row["loss"]
    assert r"\begin{tabular}" in (tmp_path / "c.latex").read_text()
    assert main(["catalog", "list", "--catalog", db, "--kind", "saddle"]) == 0
    assert capsys.readouterr().out.splitlines()[0].endswith("0 points")


def test_add_a_weights_file(tmp_path, capsys):
    # the erf k = 4, n = 2 minimum to 15 digits: one neuron on v1, the other on -(v2 + v3 + v4)
    w = tmp_path / "w.json"
    w.write_text(json.dumps({"W": [[1.0, 0, 0, 0], [0, -0.258198889747161, -0.258198889747161, -0.258198889747161]],
                             "a": [1.0, -3.0]}))
    db = str(tmp_path / "c.db")
    for _ in range(2):
        assert main(["catalog", "add", "--weights", str(w), "--catalog", db, "--dps", "30"]) == 0
        assert "stored as row 1" in capsys.readouterr().out
    (stored,) = Catalog(db).points()
    assert stored.count == 2 and stored.kind == "minimum" and stored.isotropy == "S_3xS_1"
    assert stored.certificate is None


def test_errors_are_one_line(tmp_path, capsys, exit_status):
    db = str(tmp_path / "c.db")
    assert exit_status(["catalog", "show", "7", "--catalog", db]) == 2
    err = capsys.readouterr().err.strip()
    assert "no point 7" in err and len(err.splitlines()) == 1
    assert exit_status(["catalog", "list", "--catalog", db, "--problem", "3"]) == 2
    assert "no problem 3" in capsys.readouterr().err
    assert exit_status(["catalog", "add", "--catalog", db]) == 2
    assert "--weights" in capsys.readouterr().err
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not a database at all" * 50)
    # refused before the survey runs (a survey of 10^4 starts would take minutes)
    assert exit_status(["survey", "--starts", "10000", "--catalog", str(junk)]) == 2
    err = capsys.readouterr().err.strip()
    assert "not a symland catalog" in err and len(err.splitlines()) == 1
