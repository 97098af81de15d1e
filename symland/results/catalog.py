r"""A catalog of critical points in one SQLite file (standard library ``sqlite3``).

A row keeps what a result needs to be re-used and cited:

* the problem (a row of its own, shared by its points; see *Problems* below);
* the point: ``theta``, the loss, the gradient norm and the Hessian eigenvalues as decimal strings
  that give back the stored numbers bit for bit (:func:`exact_strings`: ``repr_dps`` digits of the
  binary precision of ``dps``), ``dps`` and ``digits``, the index, nullity and kind, and the rest of
  the :class:`~symland.landscape.point.CriticalPoint` (thresholds, eigenvalue error bounds, zero
  modes, Newton history) as JSON;
* the isotropy (*Isotropy* below), the certificate (``Certificate.to_dict()`` as JSON, every float
  written as its ``repr``), a closed form (text, :meth:`Catalog.set_closed_form`);
* ``count``, the number of starts that reached the point's orbit, and the provenance: one entry
  per run that contributed (symland version, command line, UTC date, count).

**Merging.**  A point equal modulo the problem's symmetries
(:func:`~symland.landscape.symmetry.same_point`) to a stored point *of the same problem* is merged
into its row, also across runs and ``Catalog`` objects: the counts add; the row keeps the better
point, the one first by (more ``digits``, smaller gradient norm, smaller ``theta`` strings), so
the stored point does not depend on the order of the adds; it keeps a certificate when either
has one (a certified one before one that is not; the first of two certified ones).  A kept
certificate may be centred at another point of the orbit than the stored ``theta``.

**Problems.**  A problem is keyed by a canonical JSON description.  A
:class:`~symland.problems.teacher_student.TeacherStudent` stores its activation (and the
teacher's), $V$ and $b$ (decimal strings that give back the float64 values), $n$, $k$, $d$,
``train_output``, the fixed ``student_output``, ``bias``, the teacher biases and the number of
GLUs, and is rebuilt by :meth:`StoredProblem.build`.  Any other landscape of the protocol stores
``problem.name``, ``repr(problem)`` and a fingerprint: its float64 loss at two fixed probe points
to 12 significant digits, so that two problems with one ``repr`` (``AttentionPCA`` does not print
$\Sigma$) are not taken for one.

**Isotropy.**  For a plain teacher-student problem whose teacher is symmetric under permutations
of its neurons ($VV^\top = I$, equal $b_r$, equal fixed outputs when they are not trained), the
Young type of the teacher permutations in the point's stabiliser (:func:`teacher_young_type`),
written as ``derivations/safran_shamir.py`` writes a point's isotropy (``S_3xS_1``); for $n = k$
and the Safran-Shamir families it is the type of the diagonal Young subgroup the point is fixed
by.  It is the same for every point of an orbit.  Other teacher-student problems: ``""``.  Other
landscapes: ``problem.isotropy(theta)``.

**Safety.**  Only parameterised SQL; nothing read is evaluated (JSON and decimal strings only).
A file is taken only when it is empty or carries this module's SQLite ``application_id`` and
schema version (the ``meta`` table); anything else is refused with :class:`SymlandError` before
it is written to.  Every call opens its own connection and runs in one transaction (writes hold
SQLite's write lock from the start, ``BEGIN IMMEDIATE``), so threads and processes may add to one
file at once, and the result equals that of the same adds made one after another.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import datetime
import io
import json
import math
import os
import shlex
import sqlite3
import sys
import threading

import numpy as np
from mpmath.libmp import dps_to_prec, repr_dps

from .._version import __version__
from ..errors import DomainError, SymlandError
from ..landscape.display import html_table, latex_escape
from ..landscape.point import CriticalPoint
from ..landscape.survey import SurveyPoint
from ..landscape.isotropy import permutation_symmetric_teacher, teacher_young_type
from ..landscape.symmetry import same_point
from ..numerics.arguments import check_count
from ..numerics.mpcontext import thread_mp, to_result
from ..numerics.precision import check_dps
from ..problems.protocol import Landscape
from ..problems.teacher_student import TeacherStudent

__all__ = ["Catalog", "CatalogPoint", "StoredProblem", "SCHEMA_VERSION", "APPLICATION_ID", "exact_strings",
           "describe_problem", "rebuild_problem",
           "point_isotropy", "teacher_young_type"]

#: version of the table layout; a file with another version is refused
SCHEMA_VERSION = 2
#: SQLite ``PRAGMA application_id`` of a catalog file (the bytes "SYML")
APPLICATION_ID = 0x53594D4C

_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE problems (id INTEGER PRIMARY KEY, key TEXT UNIQUE NOT NULL, landscape TEXT NOT NULL,
                       description TEXT NOT NULL);
CREATE TABLE points (
    id INTEGER PRIMARY KEY, problem_id INTEGER NOT NULL REFERENCES problems(id),
    theta TEXT NOT NULL, loss TEXT NOT NULL, gradient_norm TEXT NOT NULL, dps INTEGER NOT NULL,
    digits INTEGER NOT NULL, idx INTEGER, nullity INTEGER, kind TEXT, eigenvalues TEXT, extra TEXT NOT NULL,
    isotropy TEXT NOT NULL, certificate TEXT, closed_form TEXT, count INTEGER NOT NULL, provenance TEXT NOT NULL);
CREATE INDEX points_by_problem ON points(problem_id);
"""

#: the columns a point's own data fills (replaced together when a better point of the orbit arrives)
_POINT_COLUMNS = ("theta", "loss", "gradient_norm", "dps", "digits", "idx", "nullity", "kind", "eigenvalues",
                  "extra", "isotropy")
#: every column of a stored point after ``id`` and ``problem_id``
_COLUMNS = _POINT_COLUMNS + ("certificate", "closed_form", "count", "provenance")

#: probe points of the fingerprint of a landscape other than TeacherStudent (seed, scale)
_PROBES = ((20240917, 0.7), (31415926, 1.3))

_LOCKS: dict = {}
_LOCKS_GUARD = threading.Lock()


def _lock_for(path):
    """One lock per catalog file in this process (SQLite's lock serialises processes)."""
    with _LOCKS_GUARD:
        return _LOCKS.setdefault(os.path.abspath(path), threading.Lock())


# -- numbers as decimal strings -----------------------------------------------------------------
def exact_strings(values, dps: int) -> list:
    """Decimal strings of the mpmath numbers ``values`` with ``repr_dps(prec)`` significant digits,
    ``prec`` the binary precision of ``dps`` decimal digits: parsed at ``dps`` digits they give back
    every number rounded to ``dps`` digits bit for bit (mpmath's round-trip rule)."""
    n = repr_dps(dps_to_prec(dps))
    return [thread_mp.nstr(v, n, strip_zeros=False) for v in values]


def _parse(strings, dps: int) -> list:
    """Decimal strings as numbers of the result context of ``dps`` digits (one rounding, at ``dps``)."""
    with thread_mp.workdps(dps):
        values = [thread_mp.mpf(s) for s in strings]
    return to_result(values, dps)


def _floats_as_strings(obj):
    """``obj`` (JSON-ready) with every float replaced by its ``repr`` (strict JSON, numbers as decimals)."""
    if isinstance(obj, float):
        return repr(obj)
    if isinstance(obj, dict):
        return {str(k): _floats_as_strings(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_floats_as_strings(v) for v in obj]
    return obj


# -- problems --------------------------------------------------------------------------------------
def _float_strings(x) -> list:
    """float64 values as ``repr`` strings (``-0.0`` written as ``0.0``), nested as ``x``."""
    arr = np.asarray(x, dtype=float)
    if arr.ndim == 0:
        return repr(float(arr) + 0.0)
    return [_float_strings(v) for v in arr]


def describe_problem(problem) -> dict:
    """The canonical description of ``problem`` stored in a catalog (module docstring, *Problems*)."""
    if isinstance(problem, TeacherStudent):
        means = not problem.is_plain and not problem.glus
        return {"landscape": "teacher-student", "activation": problem.activation.name,
                "teacher_activation": problem.teacher_activation.name,
                "V": _float_strings(problem.teacher_weights), "b": _float_strings(problem.teacher_output),
                "n": problem.n, "k": problem.k, "d": problem.d, "train_output": problem.train_output,
                "student_output": None if problem.train_output else _float_strings(problem.student_output),
                "bias": problem.bias, "teacher_bias": _float_strings(problem.teacher_bias) if means else None,
                "glus": problem.glus}
    if isinstance(problem, Landscape):
        text = repr(problem)
        if " object at 0x" in text:
            raise DomainError(f"argument problem: the landscape {type(problem).__name__} needs a __repr__ that "
                              "names its parameters to be stored in a catalog")
        return {"landscape": str(problem.name), "repr": text, "fingerprint": _fingerprint(problem)}
    raise DomainError(f"argument problem must be a landscape (symland.Landscape), got {type(problem).__name__}")


def _fingerprint(problem) -> list:
    """The float64 loss of ``problem`` at the fixed probe points, 12 significant digits each."""
    out = []
    for seed, scale in _PROBES:
        theta = np.random.default_rng(seed).normal(0.0, scale / math.sqrt(problem.num_params), problem.num_params)
        try:
            out.append(f"{float(problem.loss(theta)):.12g}")
        except SymlandError as exc:  # a probe outside the domain: the refusal itself is the fingerprint
            out.append(type(exc).__name__)
    return out


def _problem_key(problem) -> str:
    return json.dumps(describe_problem(problem), sort_keys=True)


def rebuild_problem(description: dict) -> TeacherStudent:
    """The TeacherStudent problem of a stored description (DomainError for other landscapes)."""
    if description.get("landscape") != "teacher-student":
        raise DomainError(f"argument description: only teacher-student problems are rebuilt from a catalog, "
                          f"got the landscape {description.get('landscape')!r} ({description.get('repr')})")
    arr = lambda x: None if x is None else np.array(x, dtype=float)  # noqa: E731  (float() of repr strings)
    return TeacherStudent(description["activation"], arr(description["V"]), arr(description["b"]),
                          n=description["n"], train_output=description["train_output"],
                          student_output=arr(description["student_output"]), bias=description["bias"],
                          teacher_activation=description["teacher_activation"],
                          teacher_bias=arr(description["teacher_bias"]), glus=description["glus"])


@dataclasses.dataclass(frozen=True)
class StoredProblem:
    """A problem of a catalog: row ``id``, ``landscape`` name, ``description`` (dict), number of points."""

    id: int
    landscape: str
    description: dict
    points: int

    def build(self) -> TeacherStudent:
        """The problem object again (teacher-student problems only; :func:`rebuild_problem`)."""
        return rebuild_problem(self.description)

    def label(self) -> str:
        """A short label for tables: ``erf k=4 n=2 d=4`` or the landscape's ``repr``."""
        p = self.description
        if p["landscape"] != "teacher-student":
            return p["repr"]
        extra = "".join([" fixed-a" if not p["train_output"] else "", " bias" if p["bias"] else "",
                         f" glus={p['glus']}" if p["glus"] else ""])
        return f"{p['activation']} k={p['k']} n={p['n']} d={p['d']}{extra}"


# -- isotropy ----------------------------------------------------------------------------------------
def point_isotropy(problem, theta) -> str:
    """The isotropy stored with a point (module docstring, *Isotropy*)."""
    if not isinstance(problem, TeacherStudent):
        return str(problem.isotropy(theta))
    if not permutation_symmetric_teacher(problem):
        return ""
    return "x".join(f"S_{b}" for b in teacher_young_type(problem, theta))


def _isotropy_latex(text: str) -> str:
    """``S_3xS_1`` as ``$S_{3}\\times S_{1}$``; other names escaped as text."""
    parts = text.split("x")
    if text and all(p.startswith("S_") and p[2:].isdigit() for p in parts):
        return "$" + r"\times ".join(f"S_{{{p[2:]}}}" for p in parts) + "$"
    return latex_escape(text) if text else "--"


# -- points <-> columns --------------------------------------------------------------------------------
def _extra(cp: CriticalPoint) -> dict:
    """The CriticalPoint fields beyond the main columns, JSON-ready (numbers as decimal strings)."""
    return {"iterations": cp.iterations, "history": [str(h) for h in cp.history],
            "predicted_nullity": cp.predicted_nullity,
            "zero_mode_sources": None if cp.zero_mode_sources is None else
            {str(k): v for k, v in cp.zero_mode_sources.items()},
            "threshold": None if cp.threshold is None else exact_strings([cp.threshold], cp.dps)[0],
            "frozen": cp.frozen, "null_rel": repr(float(cp.null_rel)), "spectrum_method": cp.spectrum_method,
            "eigenvalue_errors": None if cp.eigenvalue_errors is None else
            [repr(float(e)) for e in cp.eigenvalue_errors]}


def _point_values(problem, cp: CriticalPoint) -> dict:
    """The point columns (``_POINT_COLUMNS``) of ``cp``."""
    dps = check_dps(cp.dps)
    with thread_mp.workdps(dps):
        return {"theta": json.dumps(exact_strings(cp.theta, dps)), "loss": exact_strings([cp.loss], dps)[0],
                "gradient_norm": exact_strings([cp.gradient_norm], dps)[0], "dps": dps, "digits": int(cp.digits),
                "idx": cp.index, "nullity": cp.nullity, "kind": cp.kind,
                "eigenvalues": None if cp.eigenvalues is None else json.dumps(exact_strings(cp.eigenvalues, dps)),
                "extra": json.dumps(_extra(cp)), "isotropy": point_isotropy(problem, cp.theta)}


def _point_from(values: dict) -> CriticalPoint:
    """The CriticalPoint of stored point columns (numbers in the result context of its ``dps``)."""
    dps, extra = values["dps"], json.loads(values["extra"])
    eig = values["eigenvalues"]
    return CriticalPoint(
        theta=np.array(_parse(json.loads(values["theta"]), dps), dtype=object),
        loss=_parse([values["loss"]], dps)[0], gradient_norm=_parse([values["gradient_norm"]], dps)[0],
        dps=dps, digits=values["digits"], iterations=extra["iterations"], history=list(extra["history"]),
        eigenvalues=None if eig is None else _parse(json.loads(eig), dps), index=values["idx"],
        nullity=values["nullity"], predicted_nullity=extra["predicted_nullity"],
        zero_mode_sources=extra["zero_mode_sources"], kind=values["kind"],
        threshold=None if extra["threshold"] is None else _parse([extra["threshold"]], dps)[0],
        frozen=extra["frozen"], null_rel=float(extra["null_rel"]), spectrum_method=extra["spectrum_method"],
        eigenvalue_errors=None if extra["eigenvalue_errors"] is None else
        [float(e) for e in extra["eigenvalue_errors"]])


def _rank(values: dict):
    """Sort key of the better of two points of one orbit: more digits, smaller |grad|, smaller theta strings."""
    with thread_mp.workdps(values["dps"]):
        return (-values["digits"], thread_mp.mpf(values["gradient_norm"]), values["theta"])


def _better(new: dict, old: dict) -> bool:
    a, b = _rank(new), _rank(old)
    return (a[0], a[1]) < (b[0], b[1]) or ((a[0], a[1]) == (b[0], b[1]) and a[2] < b[2])


def _certificate_json(cert):
    if cert is None:
        return None
    if not callable(getattr(cert, "to_dict", None)) or not hasattr(cert, "certified"):
        raise DomainError(f"argument certificates: expected symland Certificates or None, got {type(cert).__name__}")
    return json.dumps(_floats_as_strings(cert.to_dict()), allow_nan=False)


def _keep_certificate(old, new):
    """A certified certificate before one that is not; otherwise the stored one (or the new one if none)."""
    if old is None or (new is not None and json.loads(new)["certified"] and not json.loads(old)["certified"]):
        return new
    return old


def _items(points) -> list:
    """``(CriticalPoint, count)`` pairs of a SurveyResult, CriticalPoints or ``(point, count)`` pairs."""
    if hasattr(points, "points") and hasattr(points, "starts"):
        points = points.points
    if isinstance(points, CriticalPoint):
        points = [points]
    items = []
    for p in points:
        cp, count = (p[0], p[1]) if isinstance(p, tuple) else (p, 1)
        if not isinstance(cp, CriticalPoint):
            raise DomainError(f"argument points: expected CriticalPoints or (CriticalPoint, count) pairs, "
                              f"got {type(cp).__name__}")
        items.append((cp, check_count(count, "count of a point", minimum=1)))
    return items


_PROBLEMS_SQL = ("SELECT problems.id, landscape, description, count(points.id) FROM problems LEFT JOIN points "
                 "ON points.problem_id = problems.id GROUP BY problems.id ORDER BY problems.id")


def _stored_problems(rows) -> list:
    return [StoredProblem(i, land, json.loads(desc), n) for i, land, desc, n in rows]


class CatalogPoint(SurveyPoint):
    """A stored point: a :class:`~symland.landscape.survey.SurveyPoint` (``point``, ``count``; unpacks
    as ``(point, count)``; other attributes are the point's) with the row's ``id``, ``problem``
    (:class:`StoredProblem`), ``isotropy``, ``certificate`` (dict or None), ``closed_form`` (text or
    None) and ``provenance`` (list of runs)."""

    def __new__(cls, point, count, row_id, problem, isotropy, certificate, closed_form, provenance):
        self = super().__new__(cls, point, count)
        self.id, self.problem, self.isotropy = row_id, problem, isotropy
        self.certificate, self.closed_form, self.provenance = certificate, closed_form, provenance
        return self

    def __getnewargs__(self):
        return (self[0], self[1], self.id, self.problem, self.isotropy, self.certificate, self.closed_form,
                self.provenance)

    def __repr__(self):
        return f"CatalogPoint(id={self.id}, {self[0]}, count={self[1]})"


class Catalog:
    """The catalog in the SQLite file ``path`` (module docstring); created when missing or empty.

    A context manager for symmetry with files; it holds no connection between calls."""

    def __init__(self, path):
        self.path = os.fspath(path)
        try:
            with self._transaction(write=False) as con:  # a read first: a read-only catalog can be read
                empty = self._inspect(con)
            if empty:
                with self._transaction(write=True) as con:
                    if self._inspect(con):  # still empty under the write lock: create it
                        self._create(con)
        except sqlite3.DatabaseError as exc:
            raise SymlandError(f"catalog {self.path!r} is not a symland catalog (SQLite: {exc})") from None

    @staticmethod
    def _create(con):
        con.execute(f"PRAGMA application_id = {APPLICATION_ID}")  # an int constant: not user input
        for statement in _SCHEMA.split(";"):
            if statement.strip():
                con.execute(statement)
        con.execute("INSERT INTO meta VALUES ('schema_version', ?), ('created_by', ?)",
                    (str(SCHEMA_VERSION), f"symland {__version__}"))

    def _inspect(self, con) -> bool:
        """True for an empty file (a new catalog); nothing for a catalog of this schema; else SymlandError."""
        app = con.execute("PRAGMA application_id").fetchone()[0]
        tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        if app == 0 and not tables:
            return True
        if app != APPLICATION_ID:
            raise SymlandError(f"catalog {self.path!r} is not a symland catalog (an SQLite file of another "
                               f"application: tables {', '.join(sorted(tables)) or 'none'}); refused, left unchanged")
        row = (con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
               if "meta" in tables else None)
        if row is None or row[0] != str(SCHEMA_VERSION):
            found = "no schema version" if row is None else f"schema version {row[0]}"
            raise SymlandError(f"catalog {self.path!r} has {found}; this symland reads schema version "
                               f"{SCHEMA_VERSION} only")
        if not {"problems", "points"} <= set(tables):
            raise SymlandError(f"catalog {self.path!r} is damaged: tables problems and points are missing")
        return False

    @contextlib.contextmanager
    def _transaction(self, write: bool):
        """One connection, one transaction (``BEGIN IMMEDIATE`` for writes), closed afterwards."""
        try:
            con = sqlite3.connect(self.path, timeout=60, isolation_level=None)
        except sqlite3.Error as exc:
            raise SymlandError(f"catalog {self.path!r} cannot be opened (SQLite: {exc})") from None
        try:
            con.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            yield con
            con.execute("COMMIT")
        except BaseException:
            if con.in_transaction:
                con.execute("ROLLBACK")
            raise
        finally:
            con.close()

    def _read(self, *queries) -> list:
        """The rows of each ``(sql, args)`` query, all read in one transaction (one snapshot)."""
        try:
            with self._transaction(write=False) as con:
                return [con.execute(sql, args).fetchall() for sql, args in queries]
        except sqlite3.Error as exc:
            raise SymlandError(f"catalog {self.path!r} cannot be read (SQLite: {exc})") from None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def __repr__(self):
        [(n_problems,)], [(n_points,)] = self._read(("SELECT count(*) FROM problems", ()),
                                                    ("SELECT count(*) FROM points", ()))
        return f"Catalog({self.path!r}: {n_problems} problems, {n_points} points)"

    # -- writing -------------------------------------------------------------------------------
    def add(self, problem, points, certificates=None, command=None) -> list:
        """Store ``points`` of ``problem`` and return their row ids (one per point, in order).

        ``points``: a :class:`~symland.landscape.survey.SurveyResult`, CriticalPoints, or
        ``(CriticalPoint, count)`` pairs (count: starts that reached it, default 1).  A point in the
        orbit of a stored point of the same problem is merged into its row (module docstring).
        ``certificates``: one :class:`~symland.landscape.certify.Certificate` or ``None`` per point.
        ``command``: the command line for the provenance (default: this process's ``sys.argv``).
        """
        items = _items(points)
        certs = [None] * len(items) if certificates is None else list(certificates)
        if len(certs) != len(items):
            raise DomainError(f"argument certificates must have one entry (or None) per point: "
                              f"{len(certs)} for {len(items)} points")
        certs = [_certificate_json(c) for c in certs]
        desc = describe_problem(problem)
        key = json.dumps(desc, sort_keys=True)
        new = [_point_values(problem, cp) for cp, _ in items]
        run = {"symland": __version__, "command": command if command is not None else shlex.join(sys.argv),
               "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
        try:
            with _lock_for(self.path), self._transaction(write=True) as con:
                return self._add(con, problem, desc, key, items, new, certs, run)
        except sqlite3.Error as exc:
            raise SymlandError(f"catalog {self.path!r} cannot be written (SQLite: {exc})") from None

    def _add(self, con, problem, desc, key, items, new, certs, run) -> list:
        con.execute("INSERT OR IGNORE INTO problems (key, landscape, description) VALUES (?, ?, ?)",
                    (key, desc["landscape"], key))
        pid = con.execute("SELECT id FROM problems WHERE key = ?", (key,)).fetchone()[0]
        cols = ", ".join(_COLUMNS)
        stored = []  # [row id, column dict, CriticalPoint]
        for row in con.execute(f"SELECT id, {cols} FROM points WHERE problem_id = ?", (pid,)).fetchall():
            values = dict(zip(_COLUMNS, row[1:]))
            stored.append([row[0], values, _point_from(values)])
        ids, touched = [], set()  # rows this call has stored to (one provenance entry each)
        for (cp, count), values, cert in zip(items, new, certs):
            match = next((s for s in stored if same_point(problem, s[2], cp)), None)
            if match is None:
                values = dict(values, certificate=cert, closed_form=None, count=count,
                              provenance=json.dumps([dict(run, count=count)]))
                rid = con.execute(f"INSERT INTO points (problem_id, {cols}) VALUES (?{', ?' * len(_COLUMNS)})",
                                  (pid, *(values[c] for c in _COLUMNS))).lastrowid
                stored.append([rid, values, cp])
            else:
                rid, old = match[0], match[1]
                merged = dict(old) if not _better(values, old) else dict(old, **values)
                merged["count"] = old["count"] + count
                merged["certificate"] = _keep_certificate(old["certificate"], cert)
                runs = json.loads(old["provenance"])
                if rid in touched:  # another point of this call in the same orbit: its entry counts it
                    runs[-1]["count"] += count
                else:
                    runs.append(dict(run, count=count))
                merged["provenance"] = json.dumps(runs)
                con.execute(f"UPDATE points SET {', '.join(c + ' = ?' for c in _COLUMNS)} WHERE id = ?",
                            (*(merged[c] for c in _COLUMNS), rid))
                match[1] = merged
                if merged["theta"] != old["theta"]:
                    match[2] = cp
            ids.append(rid)
            touched.add(rid)
        return ids

    def set_closed_form(self, point_id: int, text: str):
        """Store a closed form (text, e.g. ``str(symland.closed_form(...))``) for the row ``point_id``."""
        point_id = check_count(point_id, "point_id", minimum=1)
        with _lock_for(self.path), self._transaction(write=True) as con:
            if con.execute("UPDATE points SET closed_form = ? WHERE id = ?", (str(text), point_id)).rowcount != 1:
                raise DomainError(f"argument point_id: the catalog {self.path!r} has no point {point_id}")

    # -- reading -------------------------------------------------------------------------------
    def problems(self) -> list:
        """The stored problems (:class:`StoredProblem`), by id."""
        (rows,) = self._read((_PROBLEMS_SQL, ()))
        return _stored_problems(rows)

    def _select(self, problem=None, kind=None, point_id=None) -> tuple:
        """``(problems by id, rows (problem_id, id, columns...) matching the filters)``, one snapshot."""
        sql = (f"SELECT points.problem_id, points.id, {', '.join('points.' + c for c in _COLUMNS)} FROM points "
               "JOIN problems ON points.problem_id = problems.id")
        cond, args = [], []
        if isinstance(problem, StoredProblem):
            cond.append("problems.id = ?")
            args.append(problem.id)
        elif problem is not None:
            cond.append("problems.key = ?")
            args.append(_problem_key(problem))
        if kind is not None:
            cond.append("points.kind = ?")
            args.append(str(kind))
        if point_id is not None:
            cond.append("points.id = ?")
            args.append(check_count(point_id, "point_id", minimum=1))
        problems, rows = self._read((_PROBLEMS_SQL, ()), (sql + (" WHERE " + " AND ".join(cond) if cond else ""), args))
        return {p.id: p for p in _stored_problems(problems)}, rows

    def points(self, problem=None, kind=None, isotropy=None) -> list:
        """Stored points as :class:`CatalogPoint` s (SurveyPoints with every stored digit: the
        numbers of each in the result context of its ``dps``), by problem id, then loss.

        ``problem``: a landscape or a :class:`StoredProblem` (default: every problem);
        ``kind``/``isotropy``: only points of that kind / isotropy name."""
        problems, rows = self._select(problem, kind)
        out = [self._catalog_point(row, problems) for row in rows]
        out = [p for p in out if isotropy is None or p.isotropy == isotropy]
        out.sort(key=lambda p: (p.problem.id, p.point.loss, p.id))
        return out

    @staticmethod
    def _catalog_point(row, problems) -> CatalogPoint:
        values = dict(zip(_COLUMNS, row[2:]))
        cert = values["certificate"]
        return CatalogPoint(_point_from(values), values["count"], row[1], problems[row[0]], values["isotropy"],
                            None if cert is None else json.loads(cert), values["closed_form"],
                            json.loads(values["provenance"]))

    def point(self, point_id: int) -> CatalogPoint:
        """The stored point of row ``point_id`` (DomainError when there is none)."""
        problems, rows = self._select(point_id=point_id)
        if not rows:
            raise DomainError(f"argument point_id: the catalog {self.path!r} has no point {point_id}")
        return self._catalog_point(rows[0], problems)

    def rows(self, problem=None, kind=None) -> list:
        """Every stored row as a JSON-ready dict (``id``, ``problem`` description, the columns with
        numbers as decimal strings, ``index``, ``certificate`` dict or None, ``provenance`` list),
        by problem id, then loss."""
        problems, rows = self._select(problem, kind)
        out = []
        for row in rows:
            d = dict(zip(_COLUMNS, row[2:]))
            d = {"id": row[1], "problem_id": row[0], "problem": problems[row[0]].description,
                 "problem_label": problems[row[0]].label(), **d}
            d["index"] = d.pop("idx")
            for name in ("theta", "eigenvalues", "extra", "certificate", "provenance"):
                d[name] = None if d[name] is None else json.loads(d[name])
            out.append(d)
        with thread_mp.workdps(max([d["dps"] for d in out], default=16)):
            out.sort(key=lambda d: (d["problem_id"], thread_mp.mpf(d["loss"]), d["id"]))
        return out

    # -- showing and exporting ---------------------------------------------------------------------
    #: columns of :meth:`table` and the HTML view
    HEADERS = ("id", "problem", "loss", "index", "nullity", "kind", "isotropy", "count", "certified")

    def _table_rows(self, digits, problem=None, kind=None):
        def certified(p):
            return "-" if p.certificate is None else ("yes" if p.certificate["certified"] else "no")

        return [[str(p.id), p.problem.label(), p.point.loss_string(digits), str(p.point.index),
                 str(p.point.nullity), str(p.point.kind), p.isotropy or "-", str(p.count), certified(p)]
                for p in self.points(problem, kind)]

    def table(self, digits: int = 20, problem=None, kind=None) -> str:
        """A terminal table, one line per point (the loss with its correct digits, at most ``digits``)."""
        rows = self._table_rows(digits, problem, kind)
        widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(self.HEADERS)]
        line = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()  # noqa: E731
        return "\n".join([f"catalog {self.path}: {len(rows)} points", line(self.HEADERS)] + [line(r) for r in rows])

    def _repr_html_(self):
        return html_table(self.HEADERS, self._table_rows(20), caption=f"catalog {self.path}")

    def _repr_latex_(self):
        return self.export("latex")

    def export(self, fmt: str, digits: int = 20, problem=None, kind=None) -> str:
        """The catalog (or the points of ``problem``/``kind``) as text.

        * ``"json"``: strict JSON, ``{"schema_version", "points": rows}`` with every field of
          :meth:`rows`; every real number a decimal string (integers: ids, index, nullity, count,
          dps, digits);
        * ``"csv"``: one line per point (problem label, loss with every stored digit, index, nullity,
          kind, isotropy, count, certified, dps, digits, closed form, theta and eigenvalues as
          space-separated decimal strings);
        * ``"latex"``: a plain ``tabular`` (no booktabs) of loss (correct digits, at most
          ``digits``), index, nullity, kind, isotropy, count, one block per problem.
        """
        if fmt not in ("json", "csv", "latex"):
            raise DomainError(f"argument fmt must be 'json', 'csv' or 'latex', got {fmt!r}")
        digits = check_count(digits, "digits", minimum=1)
        if fmt == "json":
            return json.dumps({"schema_version": SCHEMA_VERSION, "points": self.rows(problem, kind)}, indent=2,
                              allow_nan=False)
        if fmt == "csv":
            return self._csv(problem, kind)
        return self._latex(digits, problem, kind)

    def _csv(self, problem, kind) -> str:
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(["id", "problem_id", "problem", "loss", "index", "nullity", "kind", "isotropy", "count",
                         "certified", "dps", "digits", "closed_form", "theta", "eigenvalues"])
        for d in self.rows(problem, kind):
            cert = "" if d["certificate"] is None else str(d["certificate"]["certified"]).lower()
            writer.writerow([d["id"], d["problem_id"], d["problem_label"], d["loss"], d["index"], d["nullity"],
                             d["kind"], d["isotropy"], d["count"], cert, d["dps"], d["digits"],
                             d["closed_form"] or "", " ".join(d["theta"]), " ".join(d["eigenvalues"] or [])])
        return buf.getvalue()

    def _latex(self, digits, problem, kind) -> str:
        lines = [f"% symland catalog: {latex_escape(os.path.basename(self.path))}", r"\begin{tabular}{llllll}",
                 r"\hline", r"loss & index & nullity & kind & isotropy & count \\", r"\hline"]
        current = None
        for p in self.points(problem, kind):
            if p.problem.id != current:
                current = p.problem.id
                lines.append(r"\multicolumn{6}{l}{" + latex_escape(p.problem.label()) + r"} \\")
            lines.append(" & ".join([p.point.loss_string(digits), str(p.point.index), str(p.point.nullity),
                                     latex_escape(p.point.kind), _isotropy_latex(p.isotropy), str(p.count)])
                         + r" \\")
        lines += [r"\hline", r"\end{tabular}"]
        return "\n".join(lines) + "\n"

