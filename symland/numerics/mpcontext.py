r"""Private mpmath contexts: symland never reads or writes mpmath's process-wide precision.

mpmath keeps its working precision in one global context (``mpmath.mp``), and an ``mpf``
does its arithmetic at the precision of the context it belongs to.  Two threads that set
``mpmath.mp.dps`` to different values therefore corrupt each other's digits, and a library
that sets it changes its caller's state.  symland avoids both:

* :data:`thread_mp` stands for *the calling thread's own* ``mpmath.MPContext``.  Every
  mpmath operation in symland is written ``thread_mp.<name>`` (``thread_mp.mpf``,
  ``thread_mp.workdps``, ``thread_mp.asin``, ...), so the working precision a computation
  sets is seen by that thread alone.  Compiled mpmath kernels look their functions up the
  same way (:func:`symland.numerics.compile.lambdify_mpmath`).
* Results handed to the user belong to a *result context* for their precision
  (:func:`result_context`): one shared ``MPContext`` per ``dps`` whose precision is fixed at
  creation and never changed, so arithmetic on a returned number is done at the digits it
  was computed to, from any thread, independent of ``mpmath.mp``.
* Numbers that arrive from elsewhere (the user's global ``mpmath.mpf``, another thread's
  context, a result context, a cache) are converted into the calling thread's context with
  :func:`localize` before they are the left operand of any arithmetic.
* SymPy's numerical evaluation (``evalf``, ``N``) uses mpmath's global context internally;
  :func:`sympy_evalf` serialises it behind one lock.
"""

from __future__ import annotations

import copy
import dataclasses
import threading

import mpmath
import numpy as np
import sympy
from mpmath.ctx_mp_python import _mpc, _mpf

__all__ = ["MPReal", "thread_mp", "is_mpf", "is_mpc", "localize", "result_context", "result_context_of", "to_result", "sympy_evalf"]


#: type of a real mpmath number of any context (for annotations and ``isinstance``)
MPReal = _mpf


def _rebuild_thread_mpf(value):
    return thread_mp.make_mpf(value)


def _rebuild_thread_mpc(value):
    return thread_mp.make_mpc(value)


def _rebuild_result_mpf(dps, value):
    return result_context(dps).make_mpf(value)


def _rebuild_result_mpc(dps, value):
    return result_context(dps).make_mpc(value)


def _private_context(dps=None):
    """A new ``MPContext`` whose numbers pickle (and copy) by value: into the receiving thread's
    context, or for a result context (``dps`` given) into the result context of that ``dps``."""
    ctx = mpmath.MPContext()
    if dps is None:
        ctx.mpf.__reduce__ = lambda self: (_rebuild_thread_mpf, (self._mpf_,))
        ctx.mpc.__reduce__ = lambda self: (_rebuild_thread_mpc, (self._mpc_,))
    else:
        ctx.dps = dps
        ctx._symland_result_dps = dps
        ctx.mpf.__reduce__ = lambda self: (_rebuild_result_mpf, (dps, self._mpf_))
        ctx.mpc.__reduce__ = lambda self: (_rebuild_result_mpc, (dps, self._mpc_))
    return ctx


class _ThreadContext(threading.local):
    """Attribute access forwards to a private ``mpmath.MPContext`` owned by the calling thread."""

    def __init__(self):
        threading.local.__setattr__(self, "_ctx", _private_context())

    def __getattr__(self, name):
        return getattr(threading.local.__getattribute__(self, "_ctx"), name)

    def __setattr__(self, name, value):
        raise AttributeError(
            "thread_mp is read-only: change the working precision with thread_mp.workdps(...) "
            "or a symland Precision context, never by assignment"
        )

    def __repr__(self):
        return f"<symland per-thread mpmath context, dps={self.dps}>"


#: the calling thread's private mpmath context (see the module docstring)
thread_mp = _ThreadContext()


def is_mpf(x) -> bool:
    """True for a real mpmath number of any context."""
    return isinstance(x, _mpf)


def is_mpc(x) -> bool:
    """True for a complex mpmath number of any context."""
    return isinstance(x, _mpc)


def localize(x):
    """``x`` (mpmath number of any context, or an object array / list / tuple of them) as
    numbers of the calling thread's context, bit for bit (no rounding); other values unchanged."""
    if isinstance(x, _mpf):
        return thread_mp.make_mpf(x._mpf_)
    if isinstance(x, _mpc):
        return thread_mp.make_mpc(x._mpc_)
    if isinstance(x, np.ndarray) and x.dtype == object:
        out = np.empty(x.shape, dtype=object)
        flat_in, flat_out = x.reshape(-1), out.reshape(-1)
        for k, v in enumerate(flat_in):
            flat_out[k] = localize(v)
        return out
    if isinstance(x, (list, tuple)):
        return type(x)(localize(v) for v in x)
    return x


_RESULT_CONTEXTS: dict = {}
_RESULT_LOCK = threading.Lock()


def result_context(dps: int):
    """The shared, never-modified ``MPContext`` at ``dps`` digits that returned numbers belong to."""
    ctx = _RESULT_CONTEXTS.get(dps)
    if ctx is None:
        with _RESULT_LOCK:
            ctx = _RESULT_CONTEXTS.get(dps)
            if ctx is None:
                ctx = _private_context(dps)
                _RESULT_CONTEXTS[dps] = ctx
    return ctx


def result_context_of(x):
    """The ``dps`` of the result context the mpmath number ``x`` belongs to, or ``None``."""
    ctx = x.context
    dps = getattr(ctx, "_symland_result_dps", None)
    return dps if dps is not None and _RESULT_CONTEXTS.get(dps) is ctx else None


def to_result(x, dps: int):
    """``x`` rounded to ``dps`` digits as numbers of :func:`result_context` ``(dps)``.

    Scalars, object arrays, lists, tuples, dicts and dataclass instances (a shallow copy with
    every field converted) are walked; other values are returned unchanged."""
    ctx = result_context(dps)
    with thread_mp.workdps(dps):
        return _to_result(x, ctx)


def _to_result(x, ctx):
    if isinstance(x, _mpf):
        return ctx.make_mpf((+localize(x))._mpf_)
    if isinstance(x, _mpc):
        return ctx.make_mpc((+localize(x))._mpc_)
    if isinstance(x, np.ndarray) and x.dtype == object:
        out = np.empty(x.shape, dtype=object)
        flat_in, flat_out = x.reshape(-1), out.reshape(-1)
        for k, v in enumerate(flat_in):
            flat_out[k] = _to_result(v, ctx)
        return out
    if isinstance(x, (list, tuple)):
        return type(x)(_to_result(v, ctx) for v in x)
    if isinstance(x, dict):
        return {k: _to_result(v, ctx) for k, v in x.items()}
    if dataclasses.is_dataclass(x) and not isinstance(x, type):
        out = copy.copy(x)
        for f in dataclasses.fields(x):
            object.__setattr__(out, f.name, _to_result(getattr(x, f.name), ctx))
        return out
    return x


_SYMPY_EVALF_LOCK = threading.RLock()


def sympy_evalf(expr, dps: int):
    """``sympy.N(expr, dps)`` (any SymPy expression, numbers inside evaluated), serialised behind one
    lock because SymPy sets mpmath's global precision while it evaluates; the result is a SymPy expression."""
    with _SYMPY_EVALF_LOCK:
        return sympy.N(expr, dps)
