"""``symland plot`` and ``symland channel --plot``: files written, valid PNG/SVG, errors in one line."""

from __future__ import annotations

import json

import numpy as np
import pytest

from symland.channels.training import flow_trajectory
from symland.cli.main import main
import symland

pytest.importorskip("matplotlib")


def test_spectrum_survey_and_plane(tmp_path, capsys):
    out = tmp_path / "spec.png"
    assert main(["plot", "spectrum", "--output", str(out), "--dps", "20"]) == 0
    assert out.read_bytes()[:4] == b"\x89PNG"
    out = tmp_path / "survey.svg"
    assert main(["plot", "survey", "--output", str(out), "--starts", "3", "--dps", "20"]) == 0
    assert b"<svg" in out.read_bytes()[:2000]
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(json.dumps({"W": [[0.5, 0.1, 0.0, 0.2], [0.1, 0.4, 0.3, 0.0]], "a": [1.0, 1.0]}))
    b.write_text(json.dumps({"W": [[0.6, 0.0, 0.1, 0.2], [0.0, 0.5, 0.3, 0.1]], "a": [1.2, 0.8]}))
    out = tmp_path / "plane.png"
    assert main(["plot", "plane", "--points", str(a), str(b), "--grid", "5", "--output", str(out)]) == 0
    assert out.stat().st_size > 1000 and "written to" in capsys.readouterr().out


def test_training_and_channel(tmp_path, capsys, exit_status):
    p = symland.TeacherStudent.orthonormal("erf", 4, 2)
    tr = flow_trajectory(p, p.pack(np.full((2, 4), 0.2), np.array([0.5, 0.5])), t_max=50, records=10)
    path = tmp_path / "tr.npz"
    tr.save(path)
    out = tmp_path / "train.png"
    assert main(["plot", "training", "--trajectory", str(path), "--output", str(out)]) == 0
    assert out.read_bytes()[:4] == b"\x89PNG" and "written to" in capsys.readouterr().out
    chan = tmp_path / "chan.svg"
    assert main(["channel", "--k", "2", "--eps", "1e-2", "--plot", str(chan), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["plot"] == str(chan) and b"<svg" in chan.read_bytes()[:2000]
    assert exit_status(["plot", "spectrum", "--output", str(tmp_path / "x.jpg")]) == 2
    assert "png or .svg" in capsys.readouterr().err
