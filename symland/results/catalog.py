r"""A catalog of critical points in one SQLite file (standard library ``sqlite3``).

Rows keep what a result needs to be re-used and cited: the problem, the point's parameters and loss
as decimal strings with every digit, its digits and dps, Hessian index, nullity, kind and
eigenvalues (decimal strings), isotropy, certificate (JSON, when one was made), closed form (text,
when one was found), how many starts reached it, and provenance (symland version, command, UTC
date).  Points are merged modulo the problem's symmetry group
(:func:`~symland.landscape.symmetry.same_point`) across runs: the same orbit of the same problem is
one row whose count adds up (the row keeps the most precise point and any certificate).

* Problems are keyed by a canonical JSON description.  Teacher-student problems (plain) store the
  activation, the teacher $V, b$ (decimal strings of the float64 values), $n$, $d$ and the output
  weights, and can be rebuilt (:meth:`Catalog.problem`); other landscapes store their name and
  ``repr``.
* The isotropy of a teacher-student point with $k = n$ is the Young type of its weight matrix in
  the teacher basis (:func:`~symland.symmetric.subspace.young_type`, e.g. ``S_5xS_1``); other
  landscapes name it themselves (``problem.isotropy``).
* Only parameterised SQL is used; nothing read is evaluated (JSON only).  A file with another
  schema is refused.  Each call opens its own connection, writes hold one lock: threads may share a
  :class:`Catalog`.
"""

from __future__ import annotations

import csv
import datetime
import io
import json
import os
import sqlite3
import sys
import threading

import numpy as np

from .._version import __version__
from ..errors import DomainError, SymlandError
from ..landscape.display import html_table, latex_table
from ..landscape.point import CriticalPoint
from ..landscape.survey import SurveyPoint
from ..landscape.symmetry import same_point
from ..numerics.mpcontext import thread_mp
from ..problems.protocol import Landscape
from ..problems.teacher_student import TeacherStudent
from ..symmetric.subspace import young_type

__all__ = ["Catalog", "SCHEMA_VERSION"]

#: version of the table layout; a file with another version is refused
SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS problems (id INTEGER PRIMARY KEY, key TEXT UNIQUE NOT NULL, description TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS points (
    id INTEGER PRIMARY KEY, problem_id INTEGER NOT NULL REFERENCES problems(id),
    theta TEXT NOT NULL, loss TEXT NOT NULL, gradient_norm TEXT NOT NULL, dps INTEGER NOT NULL,
    digits INTEGER NOT NULL, idx INTEGER, nullity INTEGER, kind TEXT, eigenvalues TEXT, isotropy TEXT,
    certificate TEXT, closed_form TEXT, count INTEGER NOT NULL, provenance TEXT NOT NULL);
"""

_LOCKS: dict = {}
_LOCKS_GUARD = threading.Lock()


def _lock_for(path):
    with _LOCKS_GUARD:
        return _LOCKS.setdefault(os.path.abspath(path), threading.Lock())


def _describe(problem) -> dict:
    if isinstance(problem, TeacherStudent) and problem.is_plain and not problem.glus:
        return {"landscape": "teacher-student", "activation": problem.activation.name,
                "V": [[repr(float(x)) for x in row] for row in problem.teacher_weights],
                "b": [repr(float(x)) for x in problem.teacher_output], "n": problem.n, "d": problem.d,
                "train_output": bool(problem.train_output),
                "student_output": None if problem.train_output else [repr(float(x)) for x in problem.student_output]}
    if isinstance(problem, Landscape):
        return {"landscape": problem.name, "repr": repr(problem)}
    raise DomainError(f"argument problem must be a landscape, got {type(problem).__name__}")


def _isotropy(problem, theta) -> str:
    if isinstance(problem, TeacherStudent):
        if problem.n == problem.k and problem.is_plain:
            W = np.array([float(v) for v in theta[:problem.n * problem.d]]).reshape(problem.n, problem.d)
            blocks = young_type(W @ problem.teacher_weights.T, tol=1e-8)
            return "x".join(f"S_{b}" for b in blocks)
        return ""
    return problem.isotropy(theta)


def _strings(values, dps):
    with thread_mp.workdps(dps + 5):
        return [thread_mp.nstr(v, dps, strip_zeros=False) for v in values]


class Catalog:
    """The catalog in the SQLite file ``path`` (module docstring); created when missing."""

    def __init__(self, path):
        self.path = str(path)
        with self._connect() as con:
            con.executescript(_SCHEMA)
            row = con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
            if row is None:
                con.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
            elif row[0] != str(SCHEMA_VERSION):
                raise SymlandError(f"catalog {self.path!r} has schema version {row[0]}, this symland reads "
                                   f"{SCHEMA_VERSION}")

    def _connect(self):
        try:
            con = sqlite3.connect(self.path, timeout=30)
            con.execute("PRAGMA foreign_keys = ON")
            con.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlite3.DatabaseError as exc:
            raise SymlandError(f"catalog {self.path!r} is not a symland catalog (SQLite: {exc})") from None
        return con

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    # -- writing -------------------------------------------------------------------------------
    def add(self, problem, points, certificates=None, command=None) -> list:
        """Store ``points`` (a SurveyResult, CriticalPoints, or (CriticalPoint, count) pairs) of
        ``problem``, merging each with a stored point of the same orbit; returns the row ids."""
        if hasattr(points, "points") and hasattr(points, "starts"):
            points = points.points
        items = []
        for p in points:
            cp, count = (p[0], p[1]) if isinstance(p, tuple) else (p, 1)
            if not isinstance(cp, CriticalPoint):
                raise DomainError(f"argument points: expected CriticalPoints, got {type(cp).__name__}")
            items.append((cp, int(count)))
        certificates = list(certificates) if certificates is not None else [None] * len(items)
        if len(certificates) != len(items):
            raise DomainError("argument certificates must have one entry (or None) per point")
        desc = _describe(problem)
        key = json.dumps(desc, sort_keys=True)
        provenance = json.dumps({"symland": __version__, "command": command or " ".join(sys.argv),
                                 "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")})
        ids = []
        with _lock_for(self.path), self._connect() as con:
            con.execute("INSERT OR IGNORE INTO problems (key, description) VALUES (?, ?)", (key, key))
            pid = con.execute("SELECT id FROM problems WHERE key = ?", (key,)).fetchone()[0]
            stored = [(row[0], self._point(row[1:])) for row in con.execute(
                f"SELECT id, {_COLUMNS} FROM points WHERE problem_id = ?", (pid,))]
            for (cp, count), cert in zip(items, certificates):
                cert_json = None if cert is None else json.dumps(cert.to_dict(), default=str)
                match = next((rid for rid, (old, _) in stored if same_point(problem, old, cp)), None)
                if match is None:
                    cur = con.execute(
                        f"INSERT INTO points (problem_id, {_COLUMNS}) VALUES (?{', ?' * len(_COLUMNS.split(','))})",
                        (pid, *self._row(problem, cp, count, cert_json, provenance)))
                    rid = cur.lastrowid
                    stored.append((rid, (cp, count)))
                else:
                    old = dict(stored)[match][0]
                    con.execute("UPDATE points SET count = count + ? WHERE id = ?", (count, match))
                    if cp.digits > old.digits:
                        row = self._row(problem, cp, 0, None, provenance)
                        con.execute("UPDATE points SET theta = ?, loss = ?, gradient_norm = ?, dps = ?, digits = ?, "
                                    "idx = ?, nullity = ?, kind = ?, eigenvalues = ? WHERE id = ?",
                                    (*row[:9], match))
                    if cert_json is not None:
                        con.execute("UPDATE points SET certificate = COALESCE(certificate, ?) WHERE id = ?",
                                    (cert_json, match))
                    rid = match
                ids.append(rid)
        return ids

    def set_closed_form(self, point_id: int, text: str):
        """Store a closed form (text, e.g. from :meth:`symland.ClosedForm.__str__`) for a row."""
        with _lock_for(self.path), self._connect() as con:
            if con.execute("UPDATE points SET closed_form = ? WHERE id = ?", (str(text), int(point_id))).rowcount != 1:
                raise DomainError(f"argument point_id: no row {point_id}")

    @staticmethod
    def _row(problem, cp, count, cert_json, provenance):
        eig = None if cp.eigenvalues is None else json.dumps(_strings(cp.eigenvalues, cp.dps))
        return (json.dumps(_strings(cp.theta, cp.dps)), _strings([cp.loss], cp.dps)[0],
                _strings([cp.gradient_norm], 5)[0], cp.dps, cp.digits, cp.index, cp.nullity, cp.kind, eig,
                _isotropy(problem, cp.theta), cert_json, None, count, provenance)

    # -- reading -------------------------------------------------------------------------------
    @staticmethod
    def _point(row):
        theta, loss, gnorm, dps, digits, idx, nullity, kind, eig = row[:9]
        with thread_mp.workdps(dps + 5):
            cp = CriticalPoint(theta=np.array([thread_mp.mpf(v) for v in json.loads(theta)], dtype=object),
                               loss=thread_mp.mpf(loss), gradient_norm=thread_mp.mpf(gnorm), dps=dps, digits=digits,
                               iterations=0, history=[], index=idx, nullity=nullity, kind=kind,
                               eigenvalues=None if eig is None else [thread_mp.mpf(v) for v in json.loads(eig)])
        return cp, row[12]

    def rows(self, problem=None, kind=None) -> list:
        """Every stored row as a dict (``id``, ``problem`` description, decimal strings, ``certificate``
        dict or None, ``count``, ``provenance``), by problem then loss."""
        sql = (f"SELECT points.id, problems.description, {_COLUMNS} FROM points JOIN problems "
               "ON points.problem_id = problems.id")
        args, cond = [], []
        if problem is not None:
            cond.append("problems.key = ?")
            args.append(json.dumps(_describe(problem), sort_keys=True))
        if kind is not None:
            cond.append("points.kind = ?")
            args.append(str(kind))
        if cond:
            sql += " WHERE " + " AND ".join(cond)
        with self._connect() as con:
            raw = con.execute(sql, args).fetchall()
        names = ["id", "problem"] + [c.strip() for c in _COLUMNS.split(",")]
        out = []
        for r in raw:
            d = dict(zip(names, r))
            d["problem"] = json.loads(d["problem"])
            d["theta"] = json.loads(d["theta"])
            d["eigenvalues"] = None if d["eigenvalues"] is None else json.loads(d["eigenvalues"])
            d["certificate"] = None if d["certificate"] is None else json.loads(d["certificate"])
            d["provenance"] = json.loads(d["provenance"])
            d["index"] = d.pop("idx")
            out.append(d)
        out.sort(key=lambda d: (json.dumps(d["problem"], sort_keys=True), float(d["loss"])))
        return out

    def points(self, problem, kind=None) -> list:
        """The stored points of ``problem`` as :class:`~symland.landscape.survey.SurveyPoint` pairs
        (CriticalPoint with every stored digit, count), sorted by loss -- as a survey returns them."""
        sql = (f"SELECT {_COLUMNS} FROM points JOIN problems ON points.problem_id = problems.id "
               "WHERE problems.key = ?")
        args = [json.dumps(_describe(problem), sort_keys=True)]
        if kind is not None:
            sql += " AND points.kind = ?"
            args.append(str(kind))
        with self._connect() as con:
            pairs = [self._point(row) for row in con.execute(sql, args).fetchall()]
        return [SurveyPoint(cp, count) for cp, count in sorted(pairs, key=lambda t: t[0].loss)]

    def problem(self, description: dict):
        """Rebuild a teacher-student problem from a stored description."""
        if description.get("landscape") != "teacher-student":
            raise DomainError(f"only teacher-student problems are rebuilt from a catalog, got "
                              f"{description.get('landscape')!r}")
        V = np.array([[float(x) for x in row] for row in description["V"]])
        b = np.array([float(x) for x in description["b"]])
        so = description["student_output"]
        return TeacherStudent(description["activation"], V, b, n=description["n"],
                              train_output=description["train_output"],
                              student_output=None if so is None else np.array([float(x) for x in so]))

    # -- showing and exporting ---------------------------------------------------------------------
    _HEADERS = ("id", "problem", "loss", "index", "nullity", "kind", "isotropy", "count", "certified")

    def _table_rows(self, rows, digits):
        def prob(d):
            p = d["problem"]
            return (f"{p['activation']} k={len(p['V'])} n={p['n']} d={p['d']}" if p["landscape"] == "teacher-student"
                    else p["repr"])

        return [[str(d["id"]), prob(d), d["loss"][:digits + 2], str(d["index"]), str(d["nullity"]), str(d["kind"]),
                 d["isotropy"] or "-", str(d["count"]),
                 "-" if d["certificate"] is None else str(d["certificate"].get("certified"))] for d in rows]

    def table(self, digits: int = 20, kind=None) -> str:
        rows = self._table_rows(self.rows(kind=kind), digits)
        widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(self._HEADERS)]
        line = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths))  # noqa: E731
        return "\n".join([f"catalog {self.path}: {len(rows)} points", line(self._HEADERS)] + [line(r) for r in rows])

    def _repr_html_(self):
        return html_table(self._HEADERS, self._table_rows(self.rows(), 20), caption=f"catalog {self.path}")

    def export(self, fmt: str, digits: int = 20) -> str:
        """The catalog as ``"json"`` (every stored field, strict JSON), ``"csv"`` or ``"latex"`` (a tabular
        of the table's columns, losses to ``digits`` characters)."""
        rows = self.rows()
        if fmt == "json":
            return json.dumps({"schema_version": SCHEMA_VERSION, "points": rows}, indent=2, allow_nan=False)
        if fmt == "csv":
            buf = io.StringIO()
            writer = csv.writer(buf)
            writer.writerow(["id", "problem", "loss", "index", "nullity", "kind", "isotropy", "count", "dps",
                             "digits", "theta"])
            for d in rows:
                writer.writerow([d["id"], json.dumps(d["problem"], sort_keys=True), d["loss"], d["index"],
                                 d["nullity"], d["kind"], d["isotropy"], d["count"], d["dps"], d["digits"],
                                 " ".join(d["theta"])])
            return buf.getvalue()
        if fmt == "latex":
            return latex_table(self._HEADERS, self._table_rows(rows, digits), caption=f"symland catalog {self.path}")
        raise DomainError(f"argument fmt must be 'json', 'csv' or 'latex', got {fmt!r}")


_COLUMNS = ("theta, loss, gradient_norm, dps, digits, idx, nullity, kind, eigenvalues, isotropy, certificate, "
            "closed_form, count, provenance")
