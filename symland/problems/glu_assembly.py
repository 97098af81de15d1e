r"""The assembly of a teacher-student problem with gated linear units (GLUs).

Student $f(x) = \sum_i a_i s(w_i\cdot x) + \sum_j g_j(x)$ with GLU units
$g_j(x) = c_j s(w_j\cdot x) + (v_j\cdot x)s'(w_j\cdot x)$, teacher $f^*(x) = \sum_r b_r s(v_r\cdot x)$,
loss $L = \tfrac12 E[(f - f^*)^2]$, $x \sim N(0, I_d)$.  The loss splits into the ordinary part
(neurons with neurons and teacher, by the plain :class:`~symland.problems.gram.GramAssembly`) and
the GLU pair terms of :mod:`symland.problems.glu`: $\sum_{j,q}\alpha_q E[g_j s_q] +
\sum_{j<l}E[g_jg_l] + \tfrac12\sum_j E[g_j^2]$ ($\alpha = [a; -b]$ over neurons and teacher).

Parameters ``theta = [W.ravel(), a (if trained), glu_c (m), glu_w.ravel() (m d), glu_v.ravel() (m d)]``.
For ReLU-type kernels (singular second partials at alignment) a GLU pair near alignment
(:data:`_BOOST_BELOW`) is evaluated in mpmath with
:func:`~symland.numerics.precision.alignment_digits` (power 2: partials up to order 4 cancel)
more digits, also when float64 is requested.
"""

from __future__ import annotations

import numpy as np

from ..errors import DomainError
from ..kernels.activation import Activation
from ..kernels.partials import singular_at_alignment
from ..numerics.precision import Precision, alignment_digits
from .glu import check_activation, glu_pair_sum, sum_terms
from .gram import WHAT, Evaluation, GramAssembly
from .params import Layout

__all__ = ["GluAssembly"]

#: D/(ab) below which GLU pairs of a non-smooth kernel are evaluated with extra digits, per order
#: (float64 errors measured on relu: ~1e-16 (ab/D)^(order/2) relative)
_BOOST_BELOW = {0: 1e-8, 1: 1e-4, 2: 1e-2}


class _Names:
    """Human-readable names of the pairs, built only when an error message needs one."""

    def __init__(self, fn, *cols):
        self.fn, self.cols = fn, cols

    def __getitem__(self, k):
        return self.fn(*(int(c[k]) for c in self.cols))


class GluAssembly:
    """Loss, gradient and Hessian of a problem with ``layout.glus`` GLU units (module docstring)."""

    def __init__(self, act: Activation, teacher_weights, teacher_output, layout: Layout, student_output):
        check_activation(act)
        self.activation = act
        self.layout = layout
        self.student_output = student_output
        # the ordinary neurons with the teacher (n may be 0: then only its teacher constant is used)
        self.gram = GramAssembly(act, teacher_weights, teacher_output,
                                 Layout(layout.n, layout.d, layout.train_output), student_output)
        self.structure = self._structure()

    def _structure(self):
        """Pairs of each kind and the global parameter index of every local variable (-1: fixed)."""
        n, d, m = self.layout.n, self.layout.d, self.layout.glus
        P = n + self.gram.k
        off = self.layout.offsets()
        off_c, off_w, off_v = (off[name].start for name in ("glu_c", "glu_w", "glu_v"))
        vec = lambda base, row: np.arange(base + row * d, base + (row + 1) * d)  # noqa: E731
        none_d = -np.ones(d, dtype=int)
        out = {}
        if P:
            jj, qq = (x.ravel() for x in np.meshgrid(np.arange(m), np.arange(P), indexing="ij"))
            rows = []
            for j, q in zip(jj, qq):
                if q < n:
                    a_idx, u_idx = [n * d + q] if self.layout.train_output else [-1], vec(0, q)
                else:
                    a_idx, u_idx = [-1], none_d
                rows.append(np.concatenate([[off_c + j], a_idx, vec(off_w, j), vec(off_v, j), u_idx]))
            out["gp"] = (jj, qq, np.array(rows, dtype=int))
        if m > 1:
            jl = np.array([(j, l) for j in range(m) for l in range(j + 1, m)])
            jj, ll = jl[:, 0], jl[:, 1]
            rows = [np.concatenate([[off_c + j, off_c + l], vec(off_w, j), vec(off_v, j), vec(off_w, l),
                                    vec(off_v, l)]) for j, l in zip(jj, ll)]
            out["gg"] = (jj, ll, np.array(rows, dtype=int))
        jj = np.arange(m)
        rows = [np.concatenate([[off_c + j], vec(off_w, j), vec(off_v, j)]) for j in jj]
        out["self"] = (jj, None, np.array(rows, dtype=int))
        return out

    def _alignment_digits(self, theta, order):
        r"""Digits lost to cancellation in GLU pairs of a non-smooth kernel (ReLU) near alignment.

        Kernel partials of order $r$ grow like $D^{1 - r/2}$ as $D = ab - c^2 \to 0$ and cancel in
        the pair terms; up to order 4 (Hessian) that costs up to $2\log_{10}(ab/D)$ digits
        (:func:`~symland.numerics.precision.alignment_digits` with power 2).  Returns 0 when no GLU
        pair has $D/(ab)$ below ``_BOOST_BELOW[order]``, or when a pair is exactly aligned (refused
        with a clear error by the evaluation itself).
        """
        parts = self.layout.split(np.array([float(x) for x in theta]))
        W, Wg, V = parts["W"], parts["glu_w"], self.gram.V
        others = np.concatenate([W, V, Wg])
        worst = np.inf
        for j in range(self.layout.glus):
            rest = np.delete(others, len(W) + len(V) + j, axis=0)
            A = Wg[j] @ Wg[j]
            B = np.einsum("pd,pd->p", rest, rest)
            C = rest @ Wg[j]
            ok = (A > 0) & (B > 0)
            if not np.any(ok):
                continue
            # D from the residual of each row against w_j (accurate near alignment)
            r = rest[ok] - (C[ok] / A)[:, None] * Wg[j][None, :]
            ratio = np.einsum("pd,pd->p", r, r) / B[ok]
            worst = min(worst, float(np.min(ratio)))
        return alignment_digits(worst, 2, threshold=_BOOST_BELOW[order])

    # ------------------------------------------------------------------
    def evaluate(self, theta, prec: Precision, order: int) -> Evaluation:
        """Loss (order 0), + gradient (1), + Hessian (2), boosted near alignment (module docstring;
        balls are not boosted: their enclosures widen near alignment instead, and say so)."""
        if singular_at_alignment(self.activation) and not getattr(prec, "ball", False):
            extra = self._alignment_digits(self.layout.check(theta, prec), order)
            if extra:
                ev = self._evaluate(theta, Precision((prec.dps or 16) + extra), order)
                return ev.finalized(prec) if prec.mp else ev.as_float()
        return self._evaluate(theta, prec, order)

    def _evaluate(self, theta, prec: Precision, order: int) -> Evaluation:
        act, what = self.activation, WHAT[order]
        n, N = self.layout.n, self.layout.size
        struct = self.structure
        with prec:
            mp = "ball" if getattr(prec, "ball", False) else prec.mp
            th = self.layout.check(theta, prec)
            parts = self.layout.split(th)
            W, c, Wg, Vg = parts["W"], parts["glu_c"], parts["glu_w"], parts["glu_v"]
            a = parts.get("a")
            if a is None:
                a = prec.array(self.student_output, "student_output") if mp else self.student_output
            Vt, bt = self.gram.teacher(prec)
            grad = prec.zeros((N,)) if order >= 1 else None
            H = prec.zeros((N, N)) if order >= 2 else None
            nplain = self.gram.layout.size
            # ordinary part: neurons with neurons and teacher (the plain assembly, rounded to this working
            # precision), or the teacher constant alone
            if n:
                sub = self.gram.evaluate(th[:nplain], prec.boosted(prec.guard), order)
                loss = sub.loss
                if order >= 1:
                    grad[:nplain] = sub.gradient
                if order >= 2:
                    H[:nplain, :nplain] = sub.hessian
            else:
                loss = self.gram.teacher_constant(prec)
            # plain units: student neurons then teacher neurons
            Up = np.concatenate([W, Vt], axis=0)
            alp = np.concatenate([a, -bt])

            def unit(q):
                return f"student neuron {q}" if q < n else f"teacher neuron {q - n}"

            def scatter(val, g, h, index):
                nonlocal loss
                loss = loss + (sum_terms(val, mp) if mp else float(np.sum(val)))
                if order >= 1:
                    keep = index >= 0
                    np.add.at(grad, index[keep], g[keep])
                if order >= 2:
                    for k in range(len(index)):
                        ix = index[k][keep[k]]
                        H[np.ix_(ix, ix)] += h[k][np.ix_(keep[k], keep[k])]

            if "gp" in struct:  # GLU x plain unit
                jj, qq, index = struct["gp"]
                names = _Names(lambda j, q: f"GLU unit {j} and {unit(q)}", jj, qq)
                scatter(*glu_pair_sum("gp", act, order, mp, [c[jj], alp[qq]],
                                      np.stack([Wg[jj], Vg[jj], Up[qq]], axis=1), names, what), index)
            if "gg" in struct:  # two distinct GLUs
                jj, ll, index = struct["gg"]
                names = _Names(lambda j, l: f"GLU units {j} and {l}", jj, ll)
                scatter(*glu_pair_sum("gg", act, order, mp, [c[jj], c[ll]],
                                      np.stack([Wg[jj], Vg[jj], Wg[ll], Vg[ll]], axis=1), names, what), index)
            jj, _, index = struct["self"]  # each GLU with itself
            names = _Names(lambda j: f"GLU unit {j}", jj)
            scatter(*glu_pair_sum("self", act, order, mp, [c], np.stack([Wg, Vg], axis=1), names, what), index)
            out = Evaluation(prec.finalize(loss), None if order < 1 else prec.finalize(grad),
                             None if order < 2 else prec.finalize(H))
            if not mp and not all(x is None or np.all(np.isfinite(x)) for x in (out.loss, out.gradient, out.hessian)):
                raise DomainError(f"cannot evaluate the {what}: a GLU term is not finite in float64")
            return out
