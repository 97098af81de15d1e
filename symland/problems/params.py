r"""Parameters of a teacher-student problem: one packed layout, one unpacked type.

The flat parameter vector is

.. math:: \theta = [\operatorname{vec} W,\ a,\ \beta,\ c,\ \operatorname{vec} W_g,\ \operatorname{vec} V_g]

($W$ row-major, $n \times d$; output weights $a$ ($n$) only when they are trained; student
biases $\beta$ ($n$) only with ``bias=True``; GLU coefficients $c$ ($m$), gate weights $W_g$
and linear weights $V_g$ ($m \times d$ each) only with ``glus = m > 0``).  :class:`Layout`
packs, validates and splits it; :class:`Params` is the unpacked form, the same type for every
kind of problem, with ``None`` for the parts a problem does not have.
"""

from __future__ import annotations

import dataclasses
import math
import numbers

import numpy as np

from ..errors import DomainError, ShapeError
from ..numerics.precision import FLOAT64, Precision, as_float_array

__all__ = ["Params", "Layout"]

#: the GLU parts of theta, in their packed order
GLU_PARTS = ("glu_c", "glu_w", "glu_v")


def _check_real_entries(arr, name):
    """Every entry of the object array ``arr`` a finite real number (mpf, float, int; not a string,
    complex or bool), checked without converting, so that no digit is lost; DomainError otherwise."""
    for k, v in enumerate(arr.reshape(-1)):
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Real):
            raise DomainError(f"argument {name}: entry {k} ({v!r}) is not a real number")
        if not math.isfinite(v):
            raise DomainError(f"argument {name} must be finite; entry {k} is {v}")


@dataclasses.dataclass(frozen=True, eq=False)
class Params:
    """Unpacked parameters: ``W`` (n, d), ``a`` (n,), and ``beta`` (n,), ``glu_c`` (m,),
    ``glu_w`` (m, d), ``glu_v`` (m, d) or ``None`` where the problem has no such part.

    ``a`` is the fixed ``student_output`` when the output weights are not trained.  Arrays
    are float64, or numpy object arrays of ``mpmath.mpf`` when unpacked from one.
    """

    W: np.ndarray
    a: np.ndarray
    beta: np.ndarray | None = None
    glu_c: np.ndarray | None = None
    glu_w: np.ndarray | None = None
    glu_v: np.ndarray | None = None


@dataclasses.dataclass(frozen=True)
class Layout:
    """Shape of ``theta``: ``n`` neurons in ``d`` inputs, trained outputs, biases, ``glus`` GLU units."""

    n: int
    d: int
    train_output: bool
    bias: bool = False
    glus: int = 0

    def sizes(self):
        """``[(part, length)]`` of the parts present in ``theta``, in packed order."""
        n, d, m = self.n, self.d, self.glus
        parts = [("W", n * d)]
        if self.train_output:
            parts.append(("a", n))
        if self.bias:
            parts.append(("beta", n))
        if m:
            parts += [("glu_c", m), ("glu_w", m * d), ("glu_v", m * d)]
        return parts

    @property
    def size(self) -> int:
        """Length of ``theta``."""
        return sum(length for _, length in self.sizes())

    def offsets(self) -> dict:
        """``part -> slice`` of ``theta`` for every part present."""
        out, start = {}, 0
        for name, length in self.sizes():
            out[name] = slice(start, start + length)
            start += length
        return out

    # ------------------------------------------------------------------
    def check(self, theta, prec: Precision = FLOAT64):
        """``theta`` as a validated array of ``prec`` (float64, or finite mpf at the working precision)."""
        return prec.array(theta, "theta", shape=(self.size,))

    def split(self, theta) -> dict:
        """``part -> array`` (views of ``theta``; matrices reshaped) for every part present."""
        d = self.d
        shapes = {"W": (self.n, d), "glu_w": (self.glus, d), "glu_v": (self.glus, d)}
        return {name: theta[sl].reshape(shapes[name]) if name in shapes else theta[sl]
                for name, sl in self.offsets().items()}

    def unpack(self, theta, student_output) -> Params:
        """:class:`Params` of ``theta``: float64 input is validated; an object array of mpf keeps every digit."""
        if np.asarray(theta).dtype == object:
            theta = np.array(theta, dtype=object)
            if theta.shape != (self.size,):
                raise ShapeError(f"argument theta must have shape {(self.size,)}, got {theta.shape}")
            _check_real_entries(theta, "theta")
        else:
            theta = self.check(theta)
        parts = self.split(theta)
        if "a" not in parts:
            parts["a"] = np.array(student_output, dtype=float)
        return Params(**parts)

    def pack(self, student_output, W, a=None, beta=None, glu_c=None, glu_w=None, glu_v=None):
        """Flat float64 ``theta`` from its parts (each validated; a missing required part is named)."""
        n, d, m = self.n, self.d, self.glus
        if m and n == 0:
            W = np.zeros((0, d)) if W is None else W
            a = np.zeros(0) if a is None and self.train_output else a
        out = [as_float_array(W, "W", shape=(n, d)).ravel()]
        if self.train_output:
            if a is None:
                raise ShapeError("argument a (student output weights) is required when train_output=True")
            out.append(as_float_array(a, "a", shape=(n,)))
        elif a is not None and not np.array_equal(as_float_array(a, "a", shape=(n,)), student_output):
            raise ShapeError("argument a must be omitted (or equal the fixed student_output) "
                             "when train_output=False")
        if self.bias:
            if beta is None:
                raise ShapeError("argument beta (student biases) is required when bias=True")
            out.append(as_float_array(beta, "beta", shape=(n,)))
        elif beta is not None and np.any(as_float_array(beta, "beta", shape=(n,)) != 0):
            raise ShapeError("argument beta must be omitted (or zero) when bias=False")
        glu = dict(zip(GLU_PARTS, (glu_c, glu_w, glu_v)))
        for name, val in glu.items():
            if m and val is None:
                raise ShapeError(f"argument {name} is required: the problem has glus={m}")
            if not m and val is not None:
                raise ShapeError(f"argument {name} must be omitted: the problem has no GLU units (glus=0)")
        if m:
            out.append(as_float_array(glu_c, "glu_c", shape=(m,)))
            out += [as_float_array(glu[name], name, shape=(m, d)).ravel() for name in ("glu_w", "glu_v")]
        return np.concatenate(out)
