"""The SQLite catalog: round trip bit for bit across Catalog objects, merging modulo symmetries
across runs (never across problems, also problems with one repr), the better point kept whatever
the order, certificates kept, exports that parse, foreign files refused unchanged, concurrent adds
equal to serial ones, and an isotropy that does not depend on the orbit representative."""

from __future__ import annotations

import concurrent.futures
import csv
import dataclasses
import io
import json
import sqlite3
import time

import mpmath
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import symland
from symland.landscape.certify import Certificate
from symland.landscape.critical import refine
from symland.landscape.survey import SurveyPoint, survey
from symland.landscape.symmetry import deduplicate
from symland.numerics.mpcontext import result_context_of, thread_mp, to_result
from symland.problems.attention_pca import AttentionPCA
from symland.results.catalog import (Catalog, CatalogPoint, _parse, describe_problem, exact_strings,
                                     point_isotropy, rebuild_problem)
from symland.symmetric.subspace import young_type


@pytest.fixture(scope="module")
def erf_runs():
    p = symland.TeacherStudent.orthonormal("erf", 4, 2)
    return p, survey(p, starts=3, seed=0, dps=30, workers=1), survey(p, starts=3, seed=1, dps=30, workers=1)


def _same_fields(a, b):
    """Every stored field of two CriticalPoints equal (numbers bit for bit)."""
    assert len(a.theta) == len(b.theta) and all(x == y for x, y in zip(a.theta, b.theta))
    assert a.loss == b.loss and a.gradient_norm == b.gradient_norm and a.threshold == b.threshold
    assert all(x == y for x, y in zip(a.eigenvalues, b.eigenvalues)) and len(a.eigenvalues) == len(b.eigenvalues)
    for name in ("dps", "digits", "index", "nullity", "predicted_nullity", "kind", "zero_mode_sources",
                 "eigenvalue_errors", "frozen", "null_rel", "spectrum_method", "iterations", "history"):
        assert getattr(a, name) == getattr(b, name), name


# -- numbers ---------------------------------------------------------------------------------------------
@settings(max_examples=40, deadline=None, derandomize=True)
@given(st.integers(16, 80), st.floats(-1e6, 1e6, allow_nan=False), st.integers(-40, 40))
def test_decimal_strings_give_back_every_bit(dps, x, e):
    # an arbitrary number rounded to dps digits (as results are), written and read back
    with mpmath.workdps(dps + 30):
        value = mpmath.mpf(x) * mpmath.mpf(10) ** e / 7 + mpmath.pi
    with thread_mp.workdps(dps + 30):
        original = to_result(thread_mp.mpf(value), dps)
    (text,) = exact_strings([original], dps)
    (back,) = _parse([text], dps)
    assert back == original and result_context_of(back) == dps
    # and the string is the number itself to more than dps digits (independent parse in mpmath)
    with mpmath.workdps(dps + 30):
        assert abs(mpmath.mpf(text) - mpmath.mpf(original)) <= abs(mpmath.mpf(original)) * mpmath.mpf(10) ** (-dps - 1)


# -- round trip and merging ------------------------------------------------------------------------------------
def test_round_trip_to_every_digit(tmp_path, erf_runs):
    p, run1, _ = erf_runs
    path = tmp_path / "c.db"
    with Catalog(path) as cat:
        cat.add(p, run1, command="test run 1")
    pts = Catalog(path).points(p)  # a new object on the same file
    assert len(pts) == len(run1.points) == 1
    stored, ref = pts[0], run1.points[0]
    assert isinstance(stored, CatalogPoint) and isinstance(stored, SurveyPoint)
    cp, count = stored  # unpacks as a survey point does
    assert count == ref.count == 3
    _same_fields(cp, ref.point)
    # numbers belong to the result context of their dps: arithmetic keeps the 30 digits
    assert result_context_of(cp.loss) == 30 and all(result_context_of(v) == 30 for v in cp.theta)
    with mpmath.workdps(60):
        exact = 3 * mpmath.mpf(ref.point.loss)
        assert abs(mpmath.mpf(cp.loss * 3) - exact) < mpmath.mpf(10) ** -29
    assert stored.provenance[0]["command"] == "test run 1" and stored.provenance[0]["count"] == 3
    assert stored.provenance[0]["symland"] == symland.__version__


def test_merge_across_runs_and_objects(tmp_path, erf_runs):
    p, run1, run2 = erf_runs
    path = tmp_path / "c.db"
    ids1 = Catalog(path).add(p, run1)
    ids2 = Catalog(path).add(p, run2)
    everything = [cp for run in (run1, run2) for cp, _ in run.points]
    orbits = deduplicate(p, everything)  # the reference grouping, by the symmetry module
    assert len(Catalog(path).points(p)) == len(orbits) == 1 and ids1 == ids2
    (stored,) = Catalog(path).points(p)
    assert stored.count == sum(c for run in (run1, run2) for _, c in run.points) == 6
    assert [r["count"] for r in stored.provenance] == [3, 3]


def _permuted(p, cp):
    """The same critical point with the two students exchanged and the first one's sign flipped
    (erf is odd: (w, a) -> (-w, -a) is a symmetry): another point of the orbit."""
    W, a = np.array(p.unpack(cp.theta).W, dtype=object), np.array(p.unpack(cp.theta).a, dtype=object)
    W, a = W[::-1].copy(), a[::-1].copy()
    W[0], a[0] = -W[0], -a[0]
    return dataclasses.replace(cp, theta=np.concatenate([W.ravel(), a]))


def test_better_point_kept_whatever_the_order(tmp_path, erf_runs):
    p, run1, _ = erf_runs
    cp = run1.points[0].point
    other = _permuted(p, cp)
    assert not all(x == y for x, y in zip(other.theta, cp.theta))
    precise = refine(p, other.theta, dps=40)  # 40 digits: the better point of the orbit
    poor = dataclasses.replace(cp, digits=12)
    for order, name in (((poor, precise, cp), "a.db"), ((precise, cp, poor), "b.db")):
        cat = Catalog(tmp_path / name)
        for point in order:
            cat.add(p, [(point, 2)])
        (stored,) = cat.points(p)
        assert stored.count == 6
        _same_fields(stored.point, precise)
        assert stored.point.dps == 40 and result_context_of(stored.point.loss) == 40


def test_different_problems_never_merge(tmp_path, erf_runs):
    p, run1, _ = erf_runs
    # the same network in d = 5 (a fifth, unused input direction): the same loss, another problem
    q = symland.TeacherStudent.orthonormal("erf", 4, 2, d=5)
    params = p.unpack(run1.points[0].point.theta)
    W, a = np.array(params.W, dtype=float), np.array(params.a, dtype=float)
    cq = refine(q, q.pack(np.hstack([W, np.zeros((2, 1))]), a), dps=30)
    with mpmath.workdps(30):
        assert abs(cq.loss - run1.points[0].point.loss) < mpmath.mpf(10) ** -25
    cat = Catalog(tmp_path / "c.db")
    cat.add(p, run1)
    cat.add(q, [cq])
    assert len(cat.points()) == 2 and len(cat.points(p)) == 1 and len(cat.points(q)) == 1
    assert [s.points for s in cat.problems()] == [1, 1]
    # two attention problems with one repr (Sigma is not printed) stay two problems
    A, B = AttentionPCA([[4, 0], [0, 1]]), AttentionPCA([[3, 0], [0, 1]])
    assert repr(A) == repr(B)
    for prob in (A, B):
        cat.add(prob, [refine(prob, prob.critical_points()[1].theta, dps=30)])
    att = [s for s in cat.problems() if s.landscape == "attention-pca"]
    assert len(att) == 2 and len(cat.points(A)) == len(cat.points(B)) == 1
    # Sigma = diag(4, 1), w on e1: the stabiliser is w's sign in the e2 direction (attention's own name)
    assert cat.points(A)[0].isotropy == A.isotropy(cat.points(A)[0].point.theta) == "Z2"
    with pytest.raises(symland.DomainError, match="only teacher-student"):
        att[0].build()


@pytest.mark.parametrize("options", [
    {},
    {"train_output": False, "student_output": [1.0, 2.5]},
    {"bias": True},
    {"teacher_bias": [0.3, -0.2, 0.0]},
    {"teacher_activation": "relu"},
    {"glus": 1},
])
def test_teacher_student_variants_rebuilt(options):
    V = np.array([[1.0, 0.5, 0.0], [0.0, -1.0, 0.25], [0.3, 0.0, 1.0]])
    p = symland.TeacherStudent("erf", V, [1.0, -0.5, 2.0], n=2, **options)
    desc = describe_problem(p)
    q = rebuild_problem(json.loads(json.dumps(desc)))
    assert describe_problem(q) == desc
    theta = np.random.default_rng(3).normal(size=p.num_params) / 2
    assert q.num_params == p.num_params and q.loss(theta) == p.loss(theta)
    # each option is part of the key: the plain problem is another one
    assert desc != describe_problem(symland.TeacherStudent("erf", V, [1.0, -0.5, 2.0], n=2)) or not options


# -- certificates, closed forms, exports -------------------------------------------------------------------------
def _no_floats(obj):
    if isinstance(obj, float):
        return False
    if isinstance(obj, dict):
        return all(_no_floats(v) for v in obj.values())
    if isinstance(obj, list):
        return all(_no_floats(v) for v in obj)
    return True


def test_certificates_kept_and_exports_parse(tmp_path, erf_runs):
    p, run1, run2 = erf_runs
    cp = run1.points[0].point
    cert = symland.certify(p, cp.theta, dps=30)
    assert cert.certified
    failed = Certificate(certified=False, status="failed", reason="made by hand")
    path = tmp_path / "c.db"
    (rid,) = Catalog(path).add(p, run1, certificates=[failed])
    Catalog(path).add(p, run1, certificates=[cert])  # a certified one replaces one that is not
    Catalog(path).add(p, run2)  # no certificate: the stored one stays
    Catalog(path).add(p, run2, certificates=[failed])  # not certified: the certified one stays
    Catalog(path).set_closed_form(rid, "L = 1/2 - 9 asin(1/6)/pi")
    (stored,) = Catalog(path).points(p)
    assert stored.certificate["certified"] is True
    assert stored.certificate["loss"] == list(cert.loss_interval())
    assert stored.certificate["center"] == cert.to_dict()["center"]
    assert stored.closed_form.startswith("L = 1/2") and stored.count == 12
    cat = Catalog(path)
    data = json.loads(cat.export("json"))
    assert _no_floats(data)  # strict: every real number a decimal string
    row = data["points"][0]
    assert row["loss"] == exact_strings([stored.point.loss], 30)[0] and row["certificate"]["certified"] is True
    table = list(csv.reader(io.StringIO(cat.export("csv"))))
    head, line = table[0], dict(zip(table[0], table[1]))
    assert head[:4] == ["id", "problem_id", "problem", "loss"] and len(table) == 2
    with mpmath.workdps(30):  # the strings are read back at the point's dps (mpmath's round trip)
        assert [mpmath.mpf(s) for s in line["theta"].split()] == [mpmath.mpf(v) for v in stored.point.theta]
    assert line["count"] == "12" and line["certified"] == "true" and line["isotropy"] == "S_3xS_1"
    latex = cat.export("latex", digits=12)
    with mpmath.workdps(40):
        loss12 = mpmath.nstr(mpmath.mpf(row["loss"]), 12, strip_zeros=False)
    assert r"\begin{tabular}" in latex and r"\toprule" not in latex
    assert f"{loss12} & 0 & 0 & minimum & $S_{{3}}\\times S_{{1}}$ & 12 \\\\" in latex
    assert "<table>" in cat._repr_html_() and "minimum" in cat.table()
    with pytest.raises(symland.DomainError, match="fmt"):
        cat.export("xml")


def test_bad_arguments_are_named(tmp_path, erf_runs):
    p, run1, _ = erf_runs
    cat = Catalog(tmp_path / "c.db")
    with pytest.raises(symland.DomainError, match="points"):
        cat.add(p, [np.zeros(10)])
    with pytest.raises(symland.DomainError, match="certificates"):
        cat.add(p, run1, certificates=[None, None])
    with pytest.raises(symland.DomainError, match="certificates"):
        cat.add(p, run1, certificates=["certified"])
    with pytest.raises(symland.SymlandError, match="count"):
        cat.add(p, [(run1.points[0].point, 0)])
    with pytest.raises(symland.DomainError, match="problem"):
        cat.add("erf", run1)
    with pytest.raises(symland.DomainError, match="no point 5"):
        cat.set_closed_form(5, "x")
    with pytest.raises(symland.DomainError, match="no point 5"):
        cat.point(5)
    assert cat.points() == []  # nothing was stored by the refused calls
    with pytest.raises(symland.SymlandError, match="cannot be opened"):
        Catalog(tmp_path / "missing-directory" / "c.db")


# -- foreign files and concurrency ------------------------------------------------------------------------
def test_foreign_files_are_refused_unchanged(tmp_path):
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(symland.SymlandError, match="not a symland catalog"):
        Catalog(junk)
    assert junk.read_bytes() == b"this is not sqlite" * 100
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as con:
        con.execute("CREATE TABLE accounts (name TEXT)")
    con.close()
    before = other.read_bytes()
    with pytest.raises(symland.SymlandError, match="another application"):
        Catalog(other)
    assert other.read_bytes() == before
    mine = tmp_path / "mine.db"
    Catalog(mine)
    with sqlite3.connect(mine) as con:
        con.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    con.close()
    with pytest.raises(symland.SymlandError, match="schema version 99"):
        Catalog(mine)
    empty = tmp_path / "empty.db"
    empty.write_bytes(b"")
    assert Catalog(empty).points() == []  # an empty file is a new catalog


def test_concurrent_adds_equal_serial(tmp_path, erf_runs):
    p, run1, run2 = erf_runs
    q = symland.TeacherStudent.orthonormal("erf", 3, 3)
    run3 = survey(q, starts=3, seed=0, dps=30, workers=1)
    jobs = [(p, run1), (q, run3), (p, run2), (p, run1), (q, run3), (p, run2)]
    serial = Catalog(tmp_path / "serial.db")
    for prob, run in jobs:
        serial.add(prob, run)
    shared = Catalog(tmp_path / "threads.db")
    with concurrent.futures.ThreadPoolExecutor(4) as ex:
        list(ex.map(lambda job: shared.add(*job), reversed(jobs)))  # another order, at once
    keep = ("problem", "theta", "loss", "gradient_norm", "dps", "digits", "index", "kind", "eigenvalues",
            "isotropy", "count")
    strip = lambda rows: sorted(json.dumps({k: r[k] for k in keep}, sort_keys=True) for r in rows)  # noqa: E731
    assert strip(shared.rows()) == strip(serial.rows())
    assert sum(r["count"] for r in shared.rows()) == 18


# -- isotropy -------------------------------------------------------------------------------------------------
def test_isotropy_is_the_young_type_for_every_representative():
    # Safran-Shamir setting: relu, k = n = 4, orthonormal teacher, outputs fixed to 1
    p = symland.TeacherStudent.orthonormal("relu", 4, 4, train_output=False)
    al, be, ga, de, ep = 0.9, -0.1, 0.2, 0.35, -0.4
    blocks = {
        (4,): al * np.eye(4) + be * (np.ones((4, 4)) - np.eye(4)),
        (3, 1): np.array([[al, be, be, ga], [be, al, be, ga], [be, be, al, ga], [de, de, de, ep]]),
        (1, 1, 1, 1): np.random.default_rng(0).normal(size=(4, 4)),
    }
    perm = [2, 0, 3, 1]
    for expected, W in blocks.items():
        assert young_type(W) == expected  # the construction, checked by the symmetric module
        name = "x".join(f"S_{b}" for b in expected)
        assert point_isotropy(p, p.pack(W)) == name
        assert point_isotropy(p, p.pack(W[perm])) == name  # students permuted: the same orbit
    # a teacher that is not symmetric under permutations: no Young type
    skew = symland.TeacherStudent("relu", np.eye(4), [1.0, 1.0, 1.0, 2.0], n=4, train_output=False)
    assert point_isotropy(skew, skew.pack(blocks[(4,)])) == ""


def test_reading_needs_no_write_lock(tmp_path, erf_runs):
    # another connection holds the write lock (as a long add, or a file we may not write, would):
    # opening and reading the catalog neither waits for it nor needs it
    p, run1, _ = erf_runs
    path = tmp_path / "c.db"
    Catalog(path).add(p, run1)
    writer = sqlite3.connect(path, isolation_level=None)
    try:
        writer.execute("BEGIN IMMEDIATE")
        t0 = time.perf_counter()
        assert [s.count for s in Catalog(path).points(p)] == [3]
        assert time.perf_counter() - t0 < 5
    finally:
        writer.execute("ROLLBACK")
        writer.close()
