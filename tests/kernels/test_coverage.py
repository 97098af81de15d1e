"""The README coverage table is the generated one, and its claims point at assertions that exist."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import symland
from symland.kernels import coverage
from symland.cli.main import main

ROOT = Path(__file__).resolve().parents[2]


def _generated_in_fresh_process() -> str:
    """The table as ``python -m symland.kernels.coverage`` prints it (a clean registry: no test registrations)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, "-m", "symland.kernels.coverage"], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def test_readme_table_equals_generated_table():
    readme = (ROOT / "README.md").read_text()
    assert coverage.extract_from(readme) == _generated_in_fresh_process(), (
        "README.md's activation table is stale: run `python -m symland.kernels.coverage --write README.md`")


def test_every_check_points_at_an_existing_assertion():
    for key, chk in coverage.CHECKS.items():
        text = (ROOT / chk.file).read_text()
        assert chk.snippet in text, (key, chk.file, chk.snippet)


def test_rows_cover_the_registry_and_report_paths():
    names = dict(coverage.table_names())
    for name in symland.known_activations():
        if not any(__import__("re").fullmatch(pat, name) for pat, _, _ in coverage.FAMILIES):
            assert name in names, name
    rows = {r["name"]: r for r in coverage.coverage_rows()}
    assert rows["erf"]["kernel"] == "closed form"
    assert rows["tanh"]["kernel"] == "quadrature (2-D)"
    assert rows["selu"]["kernel"].startswith("quadrature (1-D reduction")
    assert rows["silu"]["kernel"] == "quadrature (2-D)"
    assert rows["relu"]["mixed"].startswith("all closed-form")
    assert rows["tanh"]["mixed"] == "none"
    assert "25 digits" in rows["gelu"]["checked"] and "25 digits" in rows["relu"]["checked"]
    assert "1e-10" in rows["silu"]["checked"] and "26 digits" in rows["selu"]["checked"]
    # every registered activation takes biases: closed form, 1-D reduction or 2-D quadrature
    assert rows["relu"]["biases"] == "closed form" and rows["selu"]["biases"] == "1-D quadrature"
    assert rows["tanh"]["biases"] == "2-D quadrature"
    assert all(r["biases"] != "not supported" for r in rows.values())
    assert rows["hermite_<n>"]["kernel"] == "closed form"


def test_replace_and_extract_roundtrip():
    text = f"before\n{coverage.START}\nold\n{coverage.END}\nafter\n"
    new = coverage.replace_in(text, "| t |\n")
    assert coverage.extract_from(new) == "| t |\n"
    assert new.startswith("before\n") and new.endswith(f"{coverage.END}\nafter\n")


@pytest.mark.parametrize("name,path", [("relu", "closed form"), ("tanh", "quadrature (2-D)"),
                                       ("selu", "quadrature (1-D reduction, split at the kink)")])
def test_cli_kernel_reports_path_and_accuracy(name, path, capsys):
    assert main(["kernel", name, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["path"] == path
    assert out["accuracy"] and out["checked"].endswith(".py)")
    if name == "tanh":
        assert "1e-10" in out["accuracy"]


def test_cli_kernel_partial_without_closed_form_is_a_clear_error(capsys):
    assert main(["kernel", "silu", "--partial", "0", "0", "1"]) == 2
    assert "no closed-form kernel" in capsys.readouterr().err
