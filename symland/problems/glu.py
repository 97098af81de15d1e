r"""Gated linear units (GLUs) in closed form: pair terms of the loss, gradient and Hessian.

A GLU unit $(c, w, v)$ computes $g(x) = c\,s(w\cdot x) + (v\cdot x)\,s'(w\cdot x)$.  It is the
tangent of a neuron: $(v\cdot x)s'(w\cdot x) = \tfrac{d}{dt}s((w + tv)\cdot x)|_{t=0}$,
so every expectation involving GLUs is a directional derivative of the dual kernel
$\kappa(a, b, c)$ through the Gram entries.  With $K(x, y) = \kappa(|x|^2, |y|^2, x\cdot y)$:

* GLU $j$ with an ordinary unit $q$ (student neuron $a_q s(u_q\cdot x)$ or teacher
  $-b_q s(u_q\cdot x)$, signed output weight $\alpha_q$):

  .. math:: \alpha_q E[g_j\,s(u_q\cdot x)] = \alpha_q\bigl(c_j\kappa + 2(w_j\cdot v_j)\kappa_a
            + (v_j\cdot u_q)\kappa_c\bigr),

  $\kappa$ and its partials at $(|w_j|^2, |u_q|^2, w_j\cdot u_q)$.
* Two distinct GLUs $j \ne l$: $E[g_j g_l] = (c_j + \partial_t)(c_l + \partial_{t'})
  K(w_j + t v_j, w_l + t' v_l)|_{t = t' = 0}$, i.e. $c_jc_l\kappa + c_j(2m_l\kappa_b
  + (w_j\cdot v_l)\kappa_c) + c_l(2m_j\kappa_a + (v_j\cdot w_l)\kappa_c) + 4m_jm_l\kappa_{ab}
  + 2m_j(w_j\cdot v_l)\kappa_{ac} + 2m_l(v_j\cdot w_l)\kappa_{bc}
  + (v_j\cdot w_l)(w_j\cdot v_l)\kappa_{cc} + (v_j\cdot v_l)\kappa_c$ with $m_j = w_j\cdot v_j$.
* The self term of one GLU cannot use the kernel partials (they sit at $ab = c^2$, where
  those of ReLU are singular).  Splitting $v = \beta w + r$ with $r \perp w$, $\beta = m/T$,
  $T = |w|^2$, $m = w\cdot v$, and using Stein's lemma $E[u^2 h(u)] = tE[h] + t^2E[h'']$ for
  $u \sim N(0, t)$:

  .. math:: E[g^2] = c^2\varphi(T) + 2cm\,\varphi'(T) + |v|^2\psi(T) + 2m^2\psi'(T),

  with $\varphi(t) = E[s(u)^2]$ and $\psi(t) = E[s'(u)^2]$, $u \sim N(0, t)$ (the cross term is
  $E[s(u)(v\cdot x)s'(u)] = \tfrac12\tfrac{d}{d\tau}\varphi(|w + \tau v|^2) = m\varphi'(T)$).

The loss contribution of the GLUs is $\sum_{j,q}\alpha_q E[g_j s_q] + \sum_{j<l}E[g_jg_l]
+ \tfrac12\sum_j E[g_j^2]$ (loss $L = \tfrac12E[(f - f^*)^2]$).  Each pair term is a function
$F$ of its scalars and of the Gram entries of its vectors, derived once in SymPy (activation
independent: the kernel partials $\partial_a^i\partial_b^j\partial_c^l\kappa$, $\varphi^{(m)}$,
$\psi^{(m)}$ enter as symbols, and $\partial/\partial G$ of a partial is the next partial).
Gradients follow from $\partial G_{xy}/\partial x = y$ ($2x$ on the diagonal), Hessians from
$\nabla^2 = J^\top F_{GG}J + \sum_e F_e\,\nabla^2 G_e$ per pair; GLU gradients need kernel
partials of total order 3, Hessians order 4 (:data:`symland.kernels.partials.MAX_ORDER`).

The assembly of a whole problem with GLU units is :mod:`symland.problems.glu_assembly`.

Limits: pair terms of a ReLU GLU exactly aligned (or anti-aligned) with another unit use
partials that are infinite at $ab = c^2$ and are refused with a
:class:`~symland.errors.DomainError` (the loss itself is finite there); nearly aligned ReLU
pairs cancel those partials, so they are evaluated in mpmath with the digits the
cancellation costs (also when float64 is requested).
Quadrature activations (softplus, tanh, sigmoid) work in float64; their mpmath kernels take
seconds per value.
"""

from __future__ import annotations

import functools
import itertools
import math

import numpy as np
import sympy

from ..errors import DomainError, NoClosedFormError
from ..kernels.activation import Activation
from ..kernels.evaluate import (
    ball_diagonal_evaluator, ball_partial_evaluator, diagonal_evaluator, heat_evaluator, partial_evaluator,
    variance_function_evaluator,
)
from ..kernels.partials import kernel_partial_expr
from ..kernels.registry import activation
from ..numerics.ball import BallPrecision, as_ball, flint, lambdify_ball, may_be_zero, unbounded_ball
from ..numerics.compile import lambdify_mpmath
from ..numerics.mpcontext import thread_mp
from ..numerics.precision import FLOAT64, Precision, exact_products
from ..numerics.symbols import D_, a_, b_, c_, t_, z
from .gram import NEAR, finite

__all__ = ["check_activation", "psi_expr", "psi_evaluator", "ball_psi_evaluator", "glu_self_expectation", "pair_terms",
           "glu_pair_sum", "sum_terms"]

# ---------------------------------------------------------------------------
# psi(t) = E[s'(u)^2]
# ---------------------------------------------------------------------------


def _finite(e):
    return not (e.has(sympy.zoo, sympy.oo, -sympy.oo, sympy.nan) or e.is_finite is False)


@functools.lru_cache(maxsize=None)
def _psi_cached(act: Activation, m: int):
    if m == 0:
        # psi(t) = kappa_c(t, t, t): the safe form at D = 0, or its limit D -> 0+ where the safe
        # form has removable 0/0 terms (relu powers)
        tp = sympy.Symbol("t", positive=True)
        Dp = sympy.Symbol("D", positive=True)
        e = kernel_partial_expr(act, (0, 0, 1)).subs({a_: tp, b_: tp, c_: tp})
        direct = sympy.simplify(e.subs(D_, 0))
        if not _finite(direct):
            direct = sympy.simplify(sympy.limit(e.subs(D_, Dp), Dp, 0, "+"))
        if not _finite(direct):
            raise NoClosedFormError(
                f"activation {act.name!r}: E[s'(u)^2] is not finite (s' has a delta), so a GLU "
                "unit (v.x) s'(w.x) has infinite second moment")
        return sympy.factor(sympy.together(direct)).subs(tp, t_)
    return sympy.factor(sympy.together(sympy.diff(_psi_cached(act, m - 1), t_)))


def psi_expr(act, m: int = 0) -> sympy.Expr:
    r"""$\psi^{(m)}(t)$ with $\psi(t) = E[s'(u)^2]$, $u \sim N(0, t)$, exact (closed-form kernels).

    $\psi(t) = \partial_c\kappa(t, t, t)$ (Price), taken from the safe form of $\kappa_c$ at
    $D = 0$ (or its limit $D \to 0^+$).
    """
    act = activation(act)
    if not act.has_closed_form:
        raise NoClosedFormError(f"activation {act.name!r} has no closed-form kernel; psi is by quadrature")
    if not 0 <= int(m) <= 4:
        raise ValueError(f"m must be in 0..4, got {m!r}")
    return _psi_cached(act, int(m))


def _psi_heat_expr(act, m):
    """$(s')^2 / 2^m$: psi^(m)(t) = 2^-m E[(s'^2)^(2m)(u)]  (d/dt E[h(u)] = E[h''(u)]/2)."""
    return sympy.diff(act.expr, z) ** 2 / 2**m


@functools.lru_cache(maxsize=None)
def psi_evaluator(act: Activation, m: int, mp: bool):
    r"""Function ``t -> psi^(m)(t)`` on arrays, like :func:`symland.kernels.evaluate.diagonal_evaluator`:
    the closed form of :func:`psi_expr`, or 1-D quadrature of $2^{-m}E[(s'^2)^{(2m)}(u)]$."""
    if act.has_closed_form:
        return variance_function_evaluator(psi_expr(act, m), mp)
    return heat_evaluator(_psi_heat_expr(act, m), 2 * m, mp, f"psi of activation {act.name!r} (GLU units)")


@functools.lru_cache(maxsize=None)
def ball_psi_evaluator(act: Activation, m: int):
    r"""Function ``t -> psi^(m)(t)`` on object arrays of python-flint balls: the closed form of
    :func:`psi_expr` compiled by :func:`~symland.numerics.ball.lambdify_ball`, the non-finite ball
    where ``t`` may be 0 (a zero-norm GLU is refused by the caller)."""
    f = lambdify_ball((t_,), psi_expr(act, m))
    fv = np.frompyfunc(lambda t: unbounded_ball() if may_be_zero(t) else as_ball(f(t)), 1, 1)
    return lambda t: np.asarray(fv(t), dtype=object)


def sum_terms(values, mp):
    """Sum of a sequence: float, mpmath (``fsum``) or balls (exact additions of enclosures)."""
    if mp == "ball":
        return sum(values, flint.arb(0))
    return thread_mp.fsum(values)


def _zero(mp):
    return flint.arb(0) if mp == "ball" else thread_mp.mpf(0)


def check_activation(act) -> None:
    r"""Raise :class:`~symland.errors.NoClosedFormError` if GLU terms cannot be evaluated for ``act``.

    GLUs need $\psi(t) = E[s'(u)^2]$ finite (not so for step or sign, whose $s'$ is a delta)
    and, for quadrature activations, smooth classical derivatives (checked here for $\psi$;
    the Hessian's $\psi^{(3)}$ needs $s^{(7)}$ and is built on first use).
    """
    act = activation(act)
    if act.has_closed_form:
        psi_expr(act, 0)
    else:
        psi_evaluator(act, 0, False)


def glu_self_expectation(act, c, w, v, dps=None):
    r"""$E[g(x)^2]$ for one GLU $g = c\,s(w\cdot x) + (v\cdot x)s'(w\cdot x)$, $x \sim N(0, I)$.

    $= c^2\varphi(T) + 2cm\varphi'(T) + |v|^2\psi(T) + 2m^2\psi'(T)$, $T = |w|^2$, $m = w\cdot v$.
    """
    act = activation(act)
    prec = FLOAT64 if dps is None else Precision(dps)
    with prec:
        w, v = prec.array(np.ravel(w), "w"), prec.array(np.ravel(v), "v")
        c = prec.num(c)
        T, m, vv = prec.dot(w, w), prec.dot(w, v), prec.dot(v, v)
        arr = np.array([T], dtype=object if prec.mp else float)
        P = [diagonal_evaluator(act, k, prec.mp)(arr)[0] for k in (0, 1)]
        Q = [psi_evaluator(act, k, prec.mp)(arr)[0] for k in (0, 1)]
        val = c * c * P[0] + 2 * c * m * P[1] + vv * Q[0] + 2 * m * m * Q[1]
    return prec.finalize(val) if prec.mp else float(val)


# ---------------------------------------------------------------------------
# symbolic pair terms
# ---------------------------------------------------------------------------
def _K(i, j, l):
    return sympy.Symbol(f"K_{i}{j}{l}")


def _P(m):
    return sympy.Symbol(f"P_{m}")  # phi^(m)(T)


def _Q(m):
    return sympy.Symbol(f"Q_{m}")  # psi^(m)(T)


def _parse(sym):
    """('K', (i, j, l)) / ('P', m) / ('Q', m) / None for a symbol name."""
    name = sym.name
    if name.startswith("K_") and len(name) == 5:
        return "K", tuple(int(ch) for ch in name[2:])
    if name[:2] in ("P_", "Q_"):
        return name[0], int(name[2:])
    return None


class PairTerms:
    """One kind of pair term: its scalars, vectors, Gram entries, value and derivatives.

    ``kind`` is ``"gp"`` (GLU with an ordinary unit), ``"gg"`` (two distinct GLUs) or
    ``"self"`` (one GLU with itself, including the factor 1/2).  Variables are
    ``scalars + entries`` (entries are the Gram products $x\\cdot y$, $x \\le y$, of the
    vectors in order); ``slots`` maps each entry that is an argument of $\\kappa$
    (or of $\\varphi, \\psi$) to the index it raises.
    """

    def __init__(self, kind):
        self.kind = kind
        if kind == "gp":
            self.scalars = sympy.symbols("c alpha")
            self.vectors = ("w", "v", "u")
        elif kind == "gg":
            self.scalars = sympy.symbols("c1 c2")
            self.vectors = ("w1", "v1", "w2", "v2")
        elif kind == "self":
            self.scalars = (sympy.Symbol("c"),)
            self.vectors = ("w", "v")
        else:
            raise ValueError(f"unknown pair kind {kind!r}")
        r = len(self.vectors)
        self.pairs = [(x, y) for x in range(r) for y in range(x, r)]
        g = {(x, y): sympy.Symbol(f"g_{self.vectors[x]}_{self.vectors[y]}") for x, y in self.pairs}
        self.entries = [g[e] for e in self.pairs]
        self.value = self._value(g)
        self.variables = list(self.scalars) + self.entries
        self.grad = [self._d(self.value, x) for x in self.variables]
        nv = len(self.variables)
        self.hess = [[None] * nv for _ in range(nv)]
        for p in range(nv):
            for q in range(p, nv):
                self.hess[p][q] = self.hess[q][p] = sympy.expand(self._d(self.grad[p], self.variables[q]))
        self._compiled = {}

    def _value(self, g):
        t, tp = sympy.symbols("t tp")
        if self.kind == "self":
            (c,) = self.scalars
            T, m, vv = g[(0, 0)], g[(0, 1)], g[(1, 1)]
            self.slots = {T: "t"}
            return sympy.Rational(1, 2) * (c**2 * _P(0) + 2 * c * m * _P(1) + vv * _Q(0) + 2 * m**2 * _Q(1))
        if self.kind == "gp":
            c, alpha = self.scalars
            A0, B0, C0 = g[(0, 0)], g[(2, 2)], g[(0, 2)]
            dA = 2 * t * g[(0, 1)] + t**2 * g[(1, 1)]
            dB = sympy.Integer(0)
            dC = t * g[(1, 2)]
            coef = lambda ex: alpha * (c * ex.coeff(t, 0) + ex.coeff(t, 1))  # noqa: E731
        else:
            c1, c2 = self.scalars
            A0, B0, C0 = g[(0, 0)], g[(2, 2)], g[(0, 2)]
            dA = 2 * t * g[(0, 1)] + t**2 * g[(1, 1)]
            dB = 2 * tp * g[(2, 3)] + tp**2 * g[(3, 3)]
            dC = t * g[(1, 2)] + tp * g[(0, 3)] + t * tp * g[(1, 3)]

            def coef(ex):
                ex = sympy.Poly(ex, t, tp)
                return (c1 * c2 * ex.coeff_monomial(1) + c1 * ex.coeff_monomial(tp)
                        + c2 * ex.coeff_monomial(t) + ex.coeff_monomial(t * tp))
        self.slots = {A0: "a", B0: "b", C0: "c"}
        # Taylor expansion of kappa to second order in (dA, dB, dC): enough for the t, t', t t' terms
        taylor = sympy.Integer(0)
        for i, j, l in itertools.product(range(3), repeat=3):
            if i + j + l <= 2:
                fact = math.factorial(i) * math.factorial(j) * math.factorial(l)
                taylor += _K(i, j, l) * dA**i * dB**j * dC**l / fact
        return sympy.expand(coef(sympy.expand(taylor)))

    def _d(self, expr, var):
        """Total derivative: explicit, plus the chain through kernel/diagonal symbols."""
        out = sympy.diff(expr, var)
        slot = self.slots.get(var)
        if slot is None:
            return sympy.expand(out)
        for s in expr.free_symbols:
            kind = _parse(s)
            if kind is None:
                continue
            if kind[0] == "K":
                i, j, l = kind[1]
                nxt = {"a": (i + 1, j, l), "b": (i, j + 1, l), "c": (i, j, l + 1)}[slot]
                out += sympy.diff(expr, s) * _K(*nxt)
            else:
                out += sympy.diff(expr, s) * sympy.Symbol(f"{kind[0]}_{kind[1] + 1}")
        return sympy.expand(out)

    def outputs(self, order):
        out = [self.value]
        if order >= 1:
            out += self.grad
        if order >= 2:
            nv = len(self.variables)
            out += [self.hess[p][q] for p in range(nv) for q in range(p, nv)]
        return out

    def symbols_needed(self, order):
        """Kernel/diagonal symbols the outputs of ``order`` use, sorted by name."""
        syms = set()
        for e in self.outputs(order):
            syms |= {s for s in e.free_symbols if _parse(s) is not None}
        return sorted(syms, key=lambda s: s.name)

    def compiled(self, order, mp):
        """``(f, symbols)``: the value and derivatives up to ``order`` compiled for float64
        (``mp`` False), mpmath (True) or python-flint balls (``"ball"``)."""
        key = (order, mp)
        if key not in self._compiled:
            args = list(self.variables) + self.symbols_needed(order)
            outs = self.outputs(order)
            if mp == "ball":
                f = lambdify_ball(tuple(args), sympy.Tuple(*outs))
            elif mp:
                f = lambdify_mpmath(args, outs, cse=True)
            else:
                f = sympy.lambdify(args, outs, modules=["numpy"], cse=True)
            self._compiled[key] = (f, self.symbols_needed(order))
        return self._compiled[key]


@functools.lru_cache(maxsize=None)
def pair_terms(kind) -> PairTerms:
    """The (cached, activation-independent) :class:`PairTerms` of ``kind``."""
    return PairTerms(kind)


# ---------------------------------------------------------------------------
# numeric evaluation of one kind of pair over many pairs
# ---------------------------------------------------------------------------
def _pair_gram(X1, X2, mp):
    """Variances, covariance and a stable $D = ab - c^2$ for rows of X1, X2 (paired)."""
    if mp == "ball":
        A = np.array([sum_terms((x * x for x in r), mp) for r in X1], dtype=object)
        B = np.array([sum_terms((x * x for x in r), mp) for r in X2], dtype=object)
        C = np.array([sum_terms((x * y for x, y in zip(r, q)), mp) for r, q in zip(X1, X2)], dtype=object)
        D = np.array([BallPrecision.gram_determinant(a, b, c) for a, b, c in zip(A, B, C)], dtype=object)
        return A, B, C, D
    if mp:
        with exact_products():
            A = np.array([thread_mp.fsum(x * x for x in r) for r in X1], dtype=object)
            B = np.array([thread_mp.fsum(x * x for x in r) for r in X2], dtype=object)
            C = np.array([thread_mp.fsum(x * y for x, y in zip(r, s)) for r, s in zip(X1, X2)], dtype=object)
            D = A * B - C * C
        fin = np.vectorize(lambda v: +v, otypes=[object])
        A, B, C, D = (fin(x) if x.size else x for x in (A, B, C, D))
        D = np.array([max(v, thread_mp.mpf(0)) for v in D], dtype=object)
        return A, B, C, D
    A = np.einsum("pd,pd->p", X1, X1)
    B = np.einsum("pd,pd->p", X2, X2)
    C = np.einsum("pd,pd->p", X1, X2)
    D = A * B - C * C
    near = D < NEAR * A * B
    if np.any(near):
        coef = np.where(A[near] > 0, C[near] / np.where(A[near] > 0, A[near], 1.0), 0.0)
        r = X2[near] - coef[:, None] * X1[near]
        D = D.copy()
        D[near] = A[near] * np.einsum("pd,pd->p", r, r)
    return A, B, C, np.maximum(D, 0.0)


def _kernel_values(act, syms, A, B, C, D, T, mp, names, what):
    """Numeric arrays for the kernel/diagonal symbols ``syms`` (pairs indexed like A)."""
    vals = []
    p = len(A) if A is not None else len(T)
    for s in syms:
        kind, idx = _parse(s)
        if kind == "K":
            i, j, l = idx
            first, second, idx_ = (B, A, (j, i, l)) if j > i else (A, B, idx)  # kappa(a, b, c) = kappa(b, a, c)
            if mp == "ball":
                v = ball_partial_evaluator(act, idx_)(first, second, C, D)
            else:
                v = partial_evaluator(act, idx_, mp, raw=not mp)(first, second, C, D)
        elif kind == "P":
            v = ball_diagonal_evaluator(act, idx)(T) if mp == "ball" else diagonal_evaluator(act, idx, mp)(T)
        else:
            v = ball_psi_evaluator(act, idx)(T) if mp == "ball" else psi_evaluator(act, idx, mp)(T)
        v = np.array(np.broadcast_to(v, (p,)), dtype=object if mp else float)
        ok = finite(v, mp)
        if not ok.all():
            k = int(np.flatnonzero(~ok)[0])
            if kind == "K":
                if A[k] == 0 or B[k] == 0:
                    why = "has zero norm"
                elif D[k] == 0:
                    why = "is exactly aligned with the other (c**2 = a*b)"
                else:
                    why = "gives a non-finite value"
                raise DomainError(f"cannot evaluate the {what}: {names[k]}: {why}, where the {act.name} "
                                  f"kernel partial {idx} is not finite")
            raise DomainError(f"cannot evaluate the {what}: {names[k]} has zero norm, where "
                              f"{'phi' if kind == 'P' else 'psi'}^({idx}) of {act.name} is not finite")
        vals.append(v)
    return vals


def _local_terms(terms: PairTerms, order, mp, scalars, X, kvals):
    """Value (p,), gradient w.r.t. [scalars, vec X] (p, ns + r d), Hessian (p, N, N)."""
    f, _ = terms.compiled(order, mp)
    p, r, d = X.shape
    ns = len(terms.scalars)
    ents = []
    for x, y in terms.pairs:
        if mp:
            ents.append(np.array([sum_terms((u * w for u, w in zip(X[k, x], X[k, y])), mp) for k in range(p)],
                                 dtype=object))
        else:
            ents.append(np.einsum("pd,pd->p", X[:, x], X[:, y]))
    args = list(scalars) + ents + list(kvals)
    if mp:  # one call per pair: the argument count exceeds what numpy ufuncs accept
        rows = [f(*[a[k] for a in args]) for k in range(p)]
        outs = [np.array([row[o] for row in rows], dtype=object) for o in range(len(rows[0]))]
    else:
        outs = [np.broadcast_to(np.asarray(o, dtype=float), (p,)) for o in f(*args)]
    dt = object if mp else float
    value = outs[0]
    if order == 0:
        return value, None, None
    nv = len(terms.variables)
    Fg = np.stack(outs[1:1 + nv], axis=1).astype(dt)  # (p, nv)
    nE = len(terms.pairs)
    # J[p, e, :] = d G_e / d vec(X)
    J = np.zeros((p, nE, r * d), dtype=dt)
    if mp:
        J.fill(_zero(mp))
    for e, (x, y) in enumerate(terms.pairs):
        J[:, e, x * d:(x + 1) * d] += X[:, y]
        J[:, e, y * d:(y + 1) * d] += X[:, x]
    gvec = np.matmul(Fg[:, None, ns:], J)[:, 0, :]
    grad = np.concatenate([Fg[:, :ns], gvec], axis=1)
    if order == 1:
        return value, grad, None
    N = ns + r * d
    Fh = np.empty((p, nv, nv), dtype=dt)
    k = 1 + nv
    for a_i in range(nv):
        for b_i in range(a_i, nv):
            Fh[:, a_i, b_i] = Fh[:, b_i, a_i] = outs[k]
            k += 1
    H = np.zeros((p, N, N), dtype=dt)
    if mp:
        H.fill(_zero(mp))
    H[:, :ns, :ns] = Fh[:, :ns, :ns]
    Hsv = np.matmul(Fh[:, :ns, ns:], J)  # (p, ns, r d)
    H[:, :ns, ns:] = Hsv
    H[:, ns:, :ns] = Hsv.transpose(0, 2, 1)
    H[:, ns:, ns:] = np.matmul(J.transpose(0, 2, 1), np.matmul(Fh[:, ns:, ns:], J))
    ar = np.arange(d)
    for e, (x, y) in enumerate(terms.pairs):
        fe = Fg[:, ns + e]
        if x == y:
            H[:, ns + x * d + ar, ns + x * d + ar] += 2 * fe[:, None]
        else:
            H[:, ns + x * d + ar, ns + y * d + ar] += fe[:, None]
            H[:, ns + y * d + ar, ns + x * d + ar] += fe[:, None]
    return value, grad, H


def glu_pair_sum(kind, act, order, mp, scalars, X, names, what):
    r"""Value (p,), gradient (p, N) and Hessian (p, N, N) of the pair terms of ``kind`` over p pairs,
    in float64 (``mp`` False), mpmath (True) or python-flint balls (``"ball"``: enclosures).

    ``X`` (p, r, d) holds the vectors of each pair in the order of :class:`PairTerms` (``"gp"``:
    $w, v, u$; ``"gg"``: $w_1, v_1, w_2, v_2$; ``"self"``: $w, v$), ``scalars`` the scalar
    arrays; the kernel enters at the Gram entries of the first and third vector ($\varphi$,
    $\psi$ at $|w|^2$ for ``"self"``); derivatives are with respect to ``[scalars, vec X]``.
    """
    terms = pair_terms(kind)
    syms = terms.compiled(order, mp)[1]
    if kind == "self":
        if mp:
            T = np.array([sum_terms((x * x for x in r), mp) for r in X[:, 0]], dtype=object)
        else:
            T = np.einsum("pd,pd->p", X[:, 0], X[:, 0])
        kv = _kernel_values(act, syms, None, None, None, None, T, mp, names, what)
    else:
        A, B, C, D = _pair_gram(X[:, 0], X[:, 2], mp)
        kv = _kernel_values(act, syms, A, B, C, D, A, mp, names, what)
    return _local_terms(terms, order, mp, scalars, X, kv)
