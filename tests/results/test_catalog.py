"""The SQLite catalog: round trip to every digit across Catalog objects, merging modulo symmetries
across runs (and never across problems), certificates kept, exports that parse, refusals of foreign
files, and concurrent adds equal to serial ones."""

from __future__ import annotations

import concurrent.futures
import csv
import io
import json
import sqlite3

import mpmath
import numpy as np
import pytest

import symland
from symland.landscape.survey import survey
from symland.results.catalog import Catalog


@pytest.fixture(scope="module")
def erf_runs():
    p = symland.TeacherStudent.orthonormal("erf", 4, 2)
    return p, survey(p, starts=3, seed=0, dps=30, workers=1), survey(p, starts=3, seed=1, dps=30, workers=1)


def test_round_trip_and_merge_across_runs(tmp_path, erf_runs):
    p, run1, run2 = erf_runs
    path = tmp_path / "c.db"
    Catalog(path).add(p, run1)
    Catalog(path).add(p, run2)  # another object on the same file: merged modulo symmetries
    pts = Catalog(path).points(p)
    assert len(pts) == 1 and pts[0].count == 6
    cp = pts[0].point
    ref = run1.points[0].point
    with mpmath.workdps(40):
        assert cp.loss == ref.loss or abs(cp.loss - ref.loss) < mpmath.mpf(10) ** -29
        assert symland.same_point(p, cp, ref)
    assert cp.kind == "minimum" and cp.index == 0 and len(cp.eigenvalues) == p.num_params


def test_different_problems_never_merge(tmp_path, erf_runs):
    p, run1, _ = erf_runs
    q = symland.TeacherStudent.orthonormal("erf", 4, 2, d=5)  # another problem, same minimum loss
    other = survey(q, starts=2, dps=30, workers=1)
    cat = Catalog(tmp_path / "c.db")
    cat.add(p, run1)
    cat.add(q, other)
    assert len(cat.rows()) == 2 and len(cat.points(p)) == 1 and len(cat.points(q)) == 1
    assert cat.problem(cat.rows()[0]["problem"]).k == 4


def test_certificates_and_exports(tmp_path, erf_runs):
    p, run1, _ = erf_runs
    cert = symland.certify(p, run1.points[0].point.theta, dps=30)
    cat = Catalog(tmp_path / "c.db")
    (rid,) = cat.add(p, run1, certificates=[cert])
    cat.set_closed_form(rid, "L = 1/2 - 9 asin(1/6)/pi")
    row = cat.rows()[0]
    assert row["certificate"]["certified"] and row["closed_form"].startswith("L = 1/2")
    data = json.loads(cat.export("json"))
    assert data["points"][0]["loss"] == row["loss"]
    table = list(csv.reader(io.StringIO(cat.export("csv"))))
    assert table[0][2] == "loss" and table[1][2] == row["loss"]
    latex = cat.export("latex")
    assert r"\begin{tabular}" in latex and "minimum" in latex
    assert "<table>" in cat._repr_html_()
    with pytest.raises(symland.DomainError, match="fmt"):
        cat.export("xml")


def test_foreign_files_are_refused(tmp_path):
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(symland.SymlandError, match="not a symland catalog"):
        Catalog(junk)
    other = tmp_path / "other.db"
    Catalog(other)
    with sqlite3.connect(other) as con:
        con.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(symland.SymlandError, match="schema version 99"):
        Catalog(other)


def test_concurrent_adds_equal_serial(tmp_path, erf_runs):
    p, run1, run2 = erf_runs
    serial = Catalog(tmp_path / "serial.db")
    for run in (run1, run2, run1, run2):
        serial.add(p, run)
    shared = Catalog(tmp_path / "threads.db")
    with concurrent.futures.ThreadPoolExecutor(4) as ex:
        list(ex.map(lambda run: shared.add(p, run), (run1, run2, run1, run2)))
    strip = lambda rows: [(r["loss"], r["count"], r["kind"]) for r in rows]  # noqa: E731
    assert strip(shared.rows()) == strip(serial.rows())
    assert np.sum([r["count"] for r in shared.rows()]) == 12
