"""Options and helpers shared by the ``symland`` subcommands.

* :func:`add_problem_options` / :func:`problem_from_args` — a teacher-student problem (orthonormal
  teacher, or teacher and student read from ``--weights``) and its parameter vector;
* :func:`load_arrays` — named arrays from a ``.npz`` or ``.json`` file, with clear errors;
* :func:`positive_int` — an ``argparse`` type;
* :func:`format_number` — a number as a decimal string with all its digits (``--json`` output).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import zipfile

import numpy as np

from ..errors import SymlandError
from ..kernels.registry import known_activations
from ..numerics.mpcontext import is_mpf, thread_mp
from ..numerics.precision import MAX_DPS
from ..problems.teacher_student import TeacherStudent

__all__ = ["add_problem_options", "problem_from_args", "load_arrays", "positive_int", "nonnegative_int", "digits",
           "positive_float", "strict_json", "format_number", "MAX_FILE_BYTES", "MAX_ARRAY_ENTRIES"]


def format_number(x, digits=None):
    """Decimal string with all digits of an mpmath number (``digits``, default the working precision), or
    ``repr`` of a float; ``None`` stays ``None``."""
    if x is None:
        return None
    if is_mpf(x):
        return thread_mp.nstr(x, digits or thread_mp.dps, strip_zeros=False)
    return repr(float(x))


def positive_int(text):
    """``argparse`` type: a positive integer."""
    return _int_at_least(text, 1)


def nonnegative_int(text):
    """``argparse`` type: an integer >= 0 (seeds)."""
    return _int_at_least(text, 0)


def _int_at_least(text, minimum):
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}, got {text!r}") from None
    if v < minimum:
        raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}, got {v}")
    return v


def digits(text):
    """``argparse`` type: decimal digits of an mpmath computation, 16 <= dps <= MAX_DPS."""
    v = _int_at_least(text, 16)
    if v > MAX_DPS:
        raise argparse.ArgumentTypeError(f"expected at most MAX_DPS = {MAX_DPS} digits, got {v}")
    return v


def positive_float(text):
    """``argparse`` type: a finite number > 0 (tolerances)."""
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not (math.isfinite(v) and v > 0):
        raise argparse.ArgumentTypeError(f"expected a finite number > 0, got {text!r}")
    return v


#: largest weights file read (bytes) and largest array in it (entries); a weights file of a
#: two-layer network is kilobytes, and a compressed .npz can expand a thousandfold on loading
MAX_FILE_BYTES = 50_000_000
MAX_ARRAY_ENTRIES = 10_000_000


def _npz_header(zf, member, path, what):
    """``(shape, dtype)`` of one ``.npy`` member of an open ``.npz``, read from its header only."""
    with zf.open(member) as f:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
        else:
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
    if dtype.hasobject or dtype.kind not in "biuf":
        raise SymlandError(f"{what} {path!r}: array {member[:-4]!r} has dtype {dtype}; only numbers are read")
    if math.prod(shape) > MAX_ARRAY_ENTRIES:
        raise SymlandError(f"{what} {path!r}: array {member[:-4]!r} has shape {shape}, more than "
                           f"{MAX_ARRAY_ENTRIES} entries")
    return shape, dtype


def load_arrays(path, what, keys):
    """The arrays named ``keys`` (those present) of a ``.npz`` file, or of the object of a ``.json``
    file; ``what`` names the option in errors.

    Read without pickle; only the named keys are loaded, each after its header was checked (numbers
    only, at most :data:`MAX_ARRAY_ENTRIES` entries); files above :data:`MAX_FILE_BYTES` are refused.
    JSON must be strict (no NaN / Infinity literals) with lists of finite numbers.
    """
    if not (path.endswith(".npz") or path.endswith(".json")):
        raise SymlandError(f"{what} {path!r}: expected a .npz or .json file")
    if not os.path.isfile(path):
        raise SymlandError(f"{what} {path!r}: no such file")
    if os.path.getsize(path) > MAX_FILE_BYTES:
        raise SymlandError(f"{what} {path!r}: larger than {MAX_FILE_BYTES} bytes")
    if path.endswith(".npz"):
        try:
            with zipfile.ZipFile(path) as zf:
                members = {m[:-4]: m for m in zf.namelist() if m.endswith(".npy")}
                for key in keys:
                    if key in members:
                        _npz_header(zf, members[key], path, what)
            with np.load(path, allow_pickle=False) as f:
                return {k: f[k] for k in keys if k in members}
        except SymlandError:
            raise
        except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
            reason = type(exc).__name__ if "pickle" in str(exc) else f"{type(exc).__name__}: {exc}"
            raise SymlandError(f"{what} {path!r}: not a readable .npz file of numeric arrays ({reason})") from None
    try:
        with open(path) as f:
            data = json.load(f, parse_constant=_refuse_constant)
    except (OSError, ValueError) as exc:
        raise SymlandError(f"{what} {path!r}: cannot read it as strict JSON ({exc})") from None
    if not isinstance(data, dict):
        raise SymlandError(f"{what} {path!r}: expected a JSON object with arrays {', '.join(keys)}")
    out = {}
    for key in keys:
        if key in data:
            try:
                arr = np.array(data[key], dtype=float)
            except (TypeError, ValueError):
                raise SymlandError(f"{what} {path!r}: {key!r} must be a (nested) list of numbers") from None
            if arr.size > MAX_ARRAY_ENTRIES:
                raise SymlandError(f"{what} {path!r}: {key!r} has more than {MAX_ARRAY_ENTRIES} entries")
            out[key] = arr
    return out


def _refuse_constant(name):
    raise ValueError(f"non-standard JSON constant {name}")


def strict_json(obj) -> str:
    """``obj`` as strict JSON: non-finite floats become ``null`` (never ``NaN``/``Infinity`` literals)."""
    return json.dumps(_finite_or_none(obj), indent=2, allow_nan=False, default=str)


def _finite_or_none(obj):
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite_or_none(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite_or_none(v) for v in obj]
    return obj


def _load_weights(path):
    data = load_arrays(path, "--weights", ("W", "a", "V", "b"))
    if "W" not in data:
        raise SymlandError(f"--weights {path!r}: needs an array 'W' (student weights, n x d); "
                           "optional 'a' (n,), 'V' (k x d), 'b' (k,)")
    W = data["W"]
    if W.ndim != 2 or min(W.shape) < 1:
        raise SymlandError(f"--weights {path!r}: 'W' must be a non-empty n x d matrix, got shape {W.shape}")
    return data


def add_problem_options(p, n_default=2):
    """Options that define a teacher-student problem (shared by subcommands)."""
    p.add_argument("--activation", default="erf", help=f"one of {', '.join(known_activations())} (default erf)")
    p.add_argument("--k", type=positive_int, default=4, help="teacher neurons (orthonormal teacher; default 4)")
    p.add_argument("--n", type=positive_int, default=n_default, help=f"student neurons (default {n_default})")
    p.add_argument("--d", type=positive_int, default=None, help="input dimension (default k)")
    p.add_argument("--fixed-output", action="store_true", help="fix student output weights to 1")
    p.add_argument("--weights", help="weights file (.npz or .json) with W, optional a, V, b")
    p.add_argument("--seed", type=nonnegative_int, default=0, help="seed of the random student (default 0)")


def problem_from_args(args):
    """``(problem, theta)``: the TeacherStudent problem and a parameter vector from the problem options.

    With ``--weights``: W (n x d), optional a (default 1), teacher V, b (default: orthonormal ``--k``);
    otherwise the orthonormal teacher and a random student W ~ N(0, 1/d), a ~ N(0, 1) (``--seed``).
    """
    if getattr(args, "weights", None):
        data = _load_weights(args.weights)
        W = np.asarray(data["W"], dtype=float)
        if "V" in data:
            V = np.asarray(data["V"], dtype=float)
            b = np.asarray(data.get("b", np.ones(len(V))), dtype=float)
            prob = TeacherStudent(args.activation, V, b, n=W.shape[0], train_output=not args.fixed_output)
        else:
            prob = TeacherStudent.orthonormal(args.activation, args.k, W.shape[0], d=W.shape[1],
                                              train_output=not args.fixed_output)
        a = np.asarray(data["a"], dtype=float) if "a" in data else np.ones(W.shape[0])
        theta = prob.pack(W, a if prob.train_output else None)
        return prob, theta
    d = args.k if args.d is None else args.d
    prob = TeacherStudent.orthonormal(args.activation, args.k, args.n, d=d, train_output=not args.fixed_output)
    rng = np.random.default_rng(args.seed)
    W = rng.normal(size=(args.n, d)) / np.sqrt(d)
    a = rng.normal(size=args.n)
    return prob, prob.pack(W, a if prob.train_output else None)
