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
import os

import numpy as np

from ..errors import SymlandError
from ..kernels.registry import known_activations
from ..problems.teacher_student import TeacherStudent
from ..numerics.mpcontext import thread_mp, is_mpf

__all__ = ["add_problem_options", "problem_from_args", "load_arrays", "positive_int", "format_number"]


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
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {v}")
    return v


def load_arrays(path, what):
    """The arrays of a ``.npz`` file or the object of a ``.json`` file; ``what`` names the option in errors."""
    if not (path.endswith(".npz") or path.endswith(".json")):
        raise SymlandError(f"{what} {path!r}: expected a .npz or .json file")
    if not os.path.isfile(path):
        raise SymlandError(f"{what} {path!r}: no such file")
    try:
        if path.endswith(".npz"):
            with np.load(path, allow_pickle=False) as f:
                return {k: f[k] for k in f.files}
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError) as exc:
        raise SymlandError(f"{what} {path!r}: cannot read it ({exc})") from None


def _load_weights(path):
    data = load_arrays(path, "--weights")
    if not isinstance(data, dict):
        raise SymlandError(f"--weights {path!r}: expected an object with arrays W, optional a, V, b")
    if "W" not in data:
        raise SymlandError(f"--weights {path!r}: needs an array 'W' (student weights, n x d); "
                           "optional 'a' (n,), 'V' (k x d), 'b' (k,)")
    return data


def add_problem_options(p, n_default=2):
    """Options that define a teacher-student problem (shared by subcommands)."""
    p.add_argument("--activation", default="erf", help=f"one of {', '.join(known_activations())} (default erf)")
    p.add_argument("--k", type=int, default=4, help="teacher neurons (orthonormal teacher; default 4)")
    p.add_argument("--n", type=int, default=n_default, help=f"student neurons (default {n_default})")
    p.add_argument("--d", type=int, default=None, help="input dimension (default k)")
    p.add_argument("--fixed-output", action="store_true", help="fix student output weights to 1")
    p.add_argument("--weights", help="weights file (.npz or .json) with W, optional a, V, b")
    p.add_argument("--seed", type=int, default=0, help="seed of the random student (default 0)")


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
    d = args.d or args.k
    prob = TeacherStudent.orthonormal(args.activation, args.k, args.n, d=d, train_output=not args.fixed_output)
    rng = np.random.default_rng(args.seed)
    W = rng.normal(size=(args.n, d)) / np.sqrt(d)
    a = rng.normal(size=args.n)
    return prob, prob.pack(W, a if prob.train_output else None)
