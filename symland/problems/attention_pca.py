r"""Attention as PCA: a rank-one self-attention layer reconstructing Gaussian tokens.

**Model** (symland's statement of the setting of *Attention-based PCA*: a rank-one attention
head trained on Gaussian tokens with an unsupervised reconstruction objective).  Tokens
$x_1, \dots, x_L$ i.i.d. $N(0, \Sigma)$ in $\mathbb R^d$, $\Sigma$ symmetric positive definite.
One parameter vector $w \in \mathbb R^d$ ties the query-key and the value matrix to rank one,
$W_{QK} = W_V = w w^\top$.  Each token is reconstructed by attending over the prompt, the query
token included ($l = i$ is a term), with $z_l = w\cdot x_l$:

* linear attention: $f(x_i; X) = \frac1L\sum_{l=1}^L (x_i^\top W_{QK} x_l)\,W_V x_l
  = \frac1L z_i \sum_l z_l^2\, w$;
* softmax attention: $f(x_i; X) = \sum_l \mathrm{softmax}_l(x_i^\top W_{QK} x_l)\,W_V x_l
  = \sum_l p_l z_l\, w$, $p = \mathrm{softmax}(z_i z_1, \dots, z_i z_L)$;
* objective: the population reconstruction risk $R(w) = \tfrac12 E\,\|x_i - f(x_i; X)\|^2$
  (symland's factor 1/2; the same for every $i$ by exchangeability).

**Reduction.**  $f = g\,w$ with a scalar $g$ of the $z$'s, $E[x_i\cdot w\,g] = E[z_i g]$ and
$z \sim N(0, sI_L)$ with $s = w^\top\Sigma w$; so $R$ depends on $w$ only through $s$ and
$n = |w|^2$: $R(w) = F(s, n)$, $T = \operatorname{tr}\Sigma$,

* linear, any $L$ (Isserlis: $E z^4 = 3s^2$, $E z^6 = 15 s^3$, $E[z_i^2(\sum_l z_l^2)^2] = (L+2)(L+4)s^3$):
  $F = \tfrac12\bigl[T - \tfrac{2(L+2)}{L}s^2 + \tfrac{(L+2)(L+4)}{L^2}\,n s^3\bigr]$;
* $L \to \infty$ (``L=None``), both layers: $f(x) = (w^\top\Sigma w)(w\cdot x)\,w$ (linear: the law of
  large numbers; softmax: the Gaussian tilt $E[e^{c\cdot x'}x']/E[e^{c\cdot x'}] = \Sigma c$), so
  $F = \tfrac12[T - 2s^2 + n s^3]$ -- an Oja-type objective;
* softmax, $L = 1$: the softmax over one token is 1, $F = \tfrac12[T - 2s + ns]$;
* softmax, $L = 2$: $F = \tfrac12[T - 2sA(s) + n s B(s)]$, $A = E[\zeta_1 g]$, $B = E[g^2]$,
  $g = \sum_l \mathrm{softmax}_l(s\zeta_1\zeta_l)\zeta_l$, $\zeta \sim N(0, I_2)$, by a product
  Gauss-Legendre rule split on the lines where the softmax switches (:func:`_split_rule`), in
  float64 (the $s$-derivatives by differentiating the softmax, $\partial_s E_p[h] = \mathrm{Cov}_p(c, h)$);
  its accuracy at a point is :meth:`AttentionPCA.quadrature_error` (about $10^{-13}$ for $s \le 8$).
  No closed form, so no mpmath or
  ball evaluation (:class:`~symland.errors.PrecisionError`).

Chain rule: $\nabla R = 2F_s\Sigma w + 2F_n w$ and
$\nabla^2 R = 2F_s\Sigma + 2F_n I + 4F_{ss}\Sigma w w^\top\Sigma + 4F_{sn}(\Sigma w w^\top + w w^\top\Sigma)
+ 4F_{nn}ww^\top$.

**Critical points** (derived here, checked in the tests).  $\nabla R = 0$ iff $w = 0$ or
$F_s\Sigma w = -F_n w$: $w = r e_j$ for an eigenpair $(\lambda_j, e_j)$ with
$\lambda_j F_s + F_n = 0$ at $(s, n) = (\lambda_j r^2, r^2)$.  Linear attention:
$r_j^4 = L/((L+4)\lambda_j)$ ($1/\lambda_j$ at $L = \infty$) and
$R_j = \tfrac12[T - \lambda_j (L+2)/(L+4)]$, so the global minimum is the top eigenvector and
finite $L$ shrinks $|w|$ by the factor $(L/(L+4))^{1/4}$ (a sampling effect of order $1/L$).
**Index.**  Along another eigenvector $e_m$, $s$ gains $\lambda_m\varepsilon^2$ and $n$ gains
$\varepsilon^2$: $\partial^2_\varepsilon R = 2(\lambda_m F_s + F_n) = 2F_s(\lambda_m - \lambda_j)$; with
$F_s < 0$ there (linear: $F_s = -\tfrac14 a s$, $a = 2(L+2)/L$) it is negative exactly for
$\lambda_m > \lambda_j$, and along $e_j$ itself $R$ has a minimum in $r$.  So the critical point
on the $j$-th eigenvector (eigenvalues in decreasing order, distinct) has index $j - 1$.
$w = 0$ is critical with $F_s = F_n = 0$ for linear attention (a degenerate point, Hessian 0) and
with Hessian $-\tfrac2L\Sigma$ (a maximum, index $d$) for softmax at finite $L$ ($A_L(0) = B_L(0) = 1/L$).

**Symmetry.**  $R(Qw) = R(w)$ for every orthogonal $Q$ with $Q\Sigma Q^\top = \Sigma$: sign flips of
the eigen-coordinates $y = E^\top w$, and rotations inside an eigenspace of multiplicity $m$
($m - 1$ zero modes of the Hessian at a point with a nonzero component there).
"""

from __future__ import annotations

import dataclasses
import functools
import math

import numpy as np
import scipy.optimize
import sympy

from ..errors import DomainError, NoClosedFormError, PrecisionError, ShapeError
from ..numerics.arguments import check_choice, check_count
from ..numerics.ball import lambdify_ball
from ..numerics.compile import compile_mpmath, compile_numpy
from ..numerics.mpcontext import thread_mp
from ..numerics.precision import FLOAT64, Precision, as_float_array
from .exact_loss import exact_number
from .protocol import Evaluation, Landscape

__all__ = ["AttentionPCA", "AttentionCriticalPoint", "QUADRATURE_NODES", "MAX_SOFTMAX_L"]

#: Gauss-Legendre nodes per segment of the L = 2 softmax quadrature (:func:`_split_rule`): 96
#: give ~1e-13 for s <= 8 against 400 (measured); :meth:`AttentionPCA.quadrature_error` estimates it
QUADRATURE_NODES = 96
#: largest finite prompt length of softmax attention (L = 1 is a closed form, L = 2 a quadrature)
MAX_SOFTMAX_L = 2
#: truncation of the Gaussian quadrature, |zeta| <= _RANGE (the density there is 8e-23)
_RANGE = 10.0
#: largest input dimension (exact checks of Sigma are done in rational arithmetic)
MAX_D = 64

_S, _N = sympy.symbols("s n", nonnegative=True)
#: the partial derivatives of F returned by the evaluators, in this order
_ORDERS = ((0, 0), (1, 0), (0, 1), (2, 0), (1, 1), (0, 2))


@dataclasses.dataclass(frozen=True)
class AttentionCriticalPoint:
    """A critical point from the derivation (module docstring): ``theta`` (float64, or mpf at the
    requested digits), its ``loss``, Hessian ``index`` (derived, not computed from a Hessian),
    ``label`` (``"0"``, ``"e1+"``, ``"e1-"``, ... with eigenvalues in decreasing order),
    ``eigenvalue`` ($\\lambda_j$, ``None`` at 0) and, for linear attention or $L = \\infty$,
    ``radius4``: $r_j^4$ as an exact SymPy number when $\\lambda_j$ is exact (else ``None``)."""

    theta: np.ndarray
    loss: object
    index: int
    label: str
    eigenvalue: object = None
    radius4: object = None


def _exact_matrix(Sigma) -> sympy.Matrix:
    """``Sigma`` as an exact SymPy matrix: ints and SymPy rationals as they are, floats as their
    exact binary values (never parsed from strings)."""
    if isinstance(Sigma, sympy.MatrixBase):
        M = sympy.Matrix(Sigma)
        if not all(x.is_Rational for x in M):
            raise DomainError("argument Sigma: a SymPy matrix must have rational entries")
        return M
    arr = np.asarray(Sigma, dtype=object)
    if arr.ndim != 2 or arr.shape[0] != arr.shape[1] or arr.shape[0] < 1:
        raise ShapeError(f"argument Sigma must be a square (d, d) matrix, got shape {arr.shape}")
    if arr.shape[0] > MAX_D:
        raise ShapeError(f"argument Sigma: d = {arr.shape[0]} exceeds MAX_D = {MAX_D}")

    def entry(x):
        if isinstance(x, (bool, np.bool_)) or not isinstance(x, (int, float, np.integer, np.floating, sympy.Rational)):
            raise DomainError(f"argument Sigma: entries must be real numbers, got {x!r}")
        if isinstance(x, (float, np.floating)) and not math.isfinite(float(x)):
            raise DomainError(f"argument Sigma has a non-finite entry {x!r}")
        return sympy.Rational(float(x)) if isinstance(x, (float, np.floating)) else sympy.Rational(x)

    return sympy.Matrix(arr.shape[0], arr.shape[1], [entry(x) for x in arr.ravel()])


@functools.lru_cache(maxsize=None)
def _closed_form(L, attention="linear") -> sympy.Expr:
    r"""$F(s, n)$ without the $\tfrac12 T$ term (module docstring), exact in ``L`` (``None`` = infinity);
    softmax over one token ($L = 1$) is the weight 1: $A_1 = B_1 = 1$."""
    if attention == "softmax" and L == 1:
        return sympy.Rational(1, 2) * (-2 * _S + _N * _S)
    if L is None:
        return sympy.Rational(1, 2) * (-2 * _S**2 + _N * _S**3)
    a = sympy.Rational(2 * (L + 2), L)
    b = sympy.Rational((L + 2) * (L + 4), L * L)
    return sympy.Rational(1, 2) * (-a * _S**2 + b * _N * _S**3)


@functools.lru_cache(maxsize=None)
def _closed_partials(L, attention="linear") -> tuple:
    F = _closed_form(L, attention)
    return tuple(sympy.diff(F, _S, i, _N, j) if i + j else F for i, j in _ORDERS)


@functools.lru_cache(maxsize=None)
def _split_rule(nodes: int):
    r"""A product rule for $N(0, I_2)$ that resolves the softmax's switching lines: Gauss-Legendre
    with ``nodes`` points on $[-R, 0]$ and $[0, R]$ in $\zeta_1$ and, for each $\zeta_1 = t$, on
    $[-R, t]$ and $[t, R]$ in $\zeta_2$ ($R$ = :data:`_RANGE`; the logits differ by
    $st(t - \zeta_2)$, which switches sign on $t = 0$ and $\zeta_2 = t$, sharply for large $s$).
    Points (M, 2) and weights (M,) including the Gaussian density."""
    x, w = np.polynomial.legendre.leggauss(nodes)

    def segments(a, b):
        a, b = np.asarray(a, float)[..., None], np.asarray(b, float)[..., None]
        return (b - a) / 2 * x + (b + a) / 2, (b - a) / 2 * w

    t, wt = (v.ravel() for v in segments(np.array([-_RANGE, 0.0]), np.array([0.0, _RANGE])))
    lo, wlo = segments(np.full_like(t, -_RANGE), t)
    hi, whi = segments(t, np.full_like(t, _RANGE))
    z2, w2 = np.concatenate([lo, hi], axis=1), np.concatenate([wlo, whi], axis=1)
    density = lambda z: np.exp(-z * z / 2) / math.sqrt(2 * math.pi)  # noqa: E731
    points = np.stack([np.repeat(t, z2.shape[1]), z2.ravel()], axis=1)
    return points, ((wt * density(t))[:, None] * w2 * density(z2)).ravel()


def _softmax_moments(s: float, nodes: int):
    r"""$(A, A', A'', B, B', B'')$ of the module docstring at $s$ by the tensor rule: with
    $c_l = \zeta_1\zeta_l$, $p = \mathrm{softmax}(sc)$, $g = E_p[\zeta]$,
    $g' = \mathrm{Cov}_p(c, \zeta)$, $g'' = \mathrm{Cov}_p(c, c\zeta) - \mathrm{Var}_p(c)E_p[\zeta] - E_p[c]g'$."""
    z, w = _split_rule(nodes)
    c = z[:, :1] * z
    e = s * c
    p = np.exp(e - e.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)

    def E(h):
        return (p * h).sum(axis=1)

    Ez, Ec = E(z), E(c)
    g = Ez
    g1 = E(c * z) - Ec * Ez
    varc = E(c * c) - Ec * Ec
    g2 = (E(c * c * z) - Ec * E(c * z)) - varc * Ez - Ec * g1
    z1 = z[:, 0]
    A = (w * z1 * g).sum(), (w * z1 * g1).sum(), (w * z1 * g2).sum()
    B = (w * g * g).sum(), 2 * (w * g * g1).sum(), 2 * (w * (g1 * g1 + g * g2)).sum()
    return A + B


def _softmax_partials(s: float, n: float, nodes: int = QUADRATURE_NODES) -> tuple:
    r"""$(F, F_s, F_n, F_{ss}, F_{sn}, F_{nn})$ without $\tfrac12 T$ for softmax at $L = 2$."""
    A, A1, A2, B, B1, B2 = _softmax_moments(s, nodes)
    return (0.5 * (-2 * s * A + n * s * B),
            0.5 * (-2 * A - 2 * s * A1 + n * (B + s * B1)),
            0.5 * s * B,
            0.5 * (-4 * A1 - 2 * s * A2 + n * (2 * B1 + s * B2)),
            0.5 * (B + s * B1),
            0.0)


class AttentionPCA(Landscape):
    r"""The population reconstruction risk of a tied rank-one attention layer (module docstring).

    Parameters
    ----------
    Sigma : (d, d) array or SymPy matrix
        Token covariance, symmetric (exactly) and positive definite; numbers are taken at their
        exact binary values, SymPy rationals exactly.
    L : int or None
        Prompt length ($L \ge 1$), or ``None`` for the infinite-prompt limit.
    attention : ``"linear"`` | ``"softmax"``
        The layer; softmax at finite ``L`` needs ``L <= MAX_SOFTMAX_L`` (quadrature, float64 only).

    ``theta = w`` (``num_params = d``).  Loss, gradient and Hessian in float64 and, where $F$ is
    a closed form (linear attention, $L = \infty$), at any precision and on balls.
    """

    name = "attention-pca"
    loss_statement = "loss = 1/2 E|x_i - f(x_i; X)|^2 (tied rank-one attention), tokens x_l ~ N(0, Sigma)"

    def __init__(self, Sigma, L=None, attention: str = "linear"):
        self.attention = check_choice(attention, "attention", ("linear", "softmax"))
        if L is not None:
            L = check_count(L, "L", minimum=1, maximum=10**9)
            if self.attention == "softmax" and L > MAX_SOFTMAX_L:
                raise DomainError(f"argument L: softmax attention at finite L is a closed form for L = 1 and an "
                                  f"L-dimensional quadrature beyond, available for L <= MAX_SOFTMAX_L = "
                                  f"{MAX_SOFTMAX_L}; got L = {L} (use L=None for the infinite-prompt limit)")
        self.L = L
        S = _exact_matrix(Sigma)
        if S != S.T:
            raise DomainError("argument Sigma must be symmetric (exactly: Sigma == Sigma.T entry by entry)")
        if not S.is_positive_definite:
            raise DomainError("argument Sigma must be positive definite (a covariance of tokens with a density)")
        self.Sigma_exact = S
        self.d = self.num_params = S.shape[0]
        self.trace_exact = S.trace()
        self.Sigma = np.array(S.tolist(), dtype=float)
        self.closed = self.attention == "linear" or L is None or L == 1

    def __repr__(self):
        return f"AttentionPCA(d={self.d}, L={'inf' if self.L is None else self.L}, attention={self.attention!r})"

    @classmethod
    def spiked_wishart(cls, d: int, samples: int, beta: float, seed: int = 0, L=None, attention="linear"):
        r"""The problem for one spiked Wishart draw: $\Sigma = \frac1m\sum_{k=1}^m y_ky_k^\top$ with
        $y_k \sim N(0, I_d + \beta uu^\top)$ i.i.d., $u$ a uniformly random unit vector, $m$ =
        ``samples``; drawn by ``numpy.random.default_rng(seed)`` (first $u$, then the $y_k$ as an
        $m\times d$ array) and symmetrised exactly.  The spike is kept as ``problem.spike``.  For
        $d/m \to \gamma$ the top sample eigenvector has squared overlap with $u$ tending to
        $(1 - \gamma/\beta^2)/(1 + \gamma/\beta)$ above $\beta = \sqrt\gamma$ and 0 below (the BBP
        transition; :meth:`bbp_overlap`)."""
        d = check_count(d, "d", minimum=1, maximum=MAX_D)
        samples = check_count(samples, "samples", minimum=d, maximum=10**7)
        beta = float(beta)
        if not math.isfinite(beta) or beta < 0:
            raise DomainError(f"argument beta must be a finite number >= 0, got {beta!r}")
        rng = np.random.default_rng(check_count(seed, "seed", minimum=0))
        u = rng.standard_normal(d)
        u /= np.linalg.norm(u)
        Y = rng.standard_normal((samples, d)) + math.sqrt(beta) * np.outer(rng.standard_normal(samples), u)
        S = Y.T @ Y / samples
        problem = cls((S + S.T) / 2, L=L, attention=attention)
        problem.spike, problem.spike_strength, problem.samples = u, beta, samples
        return problem

    @staticmethod
    def bbp_overlap(gamma: float, beta: float) -> float:
        r"""Asymptotic squared overlap of the top sample eigenvector with the spike,
        $\max(0, (1 - \gamma/\beta^2)/(1 + \gamma/\beta))$ ($d/m \to \gamma$, spike strength $\beta$)."""
        if beta <= 0:
            return 0.0
        return max(0.0, (1 - gamma / beta**2) / (1 + gamma / beta))

    # -- the protocol -------------------------------------------------------------------
    def check_theta(self, theta, prec: Precision = FLOAT64):
        """``theta = w``: shape ``(d,)``, finite and real, as an array of ``prec``."""
        if np.shape(theta) != (self.d,):
            raise ShapeError(f"argument theta must have shape ({self.d},), got {np.shape(theta)}")
        if prec.mp and not self.closed:
            raise PrecisionError(self._no_precision())
        return prec.array(theta, "theta", (self.d,)) if prec.mp else as_float_array(theta, "theta", shape=(self.d,))

    def missing_ball_form(self) -> str:
        return "" if self.closed else self._no_precision()

    def _no_precision(self) -> str:
        return (f"softmax attention at L = {self.L} has no closed form: it is a float64 Gauss-Legendre "
                f"quadrature ({QUADRATURE_NODES} nodes per segment; accuracy at a point: quadrature_error), "
                "with no mpmath or ball evaluation")

    def evaluate(self, theta, prec: Precision, order: int) -> Evaluation:
        r"""$R$, $\nabla R$, $\nabla^2 R$ up to ``order`` by the chain rule through $(s, n)$."""
        with prec:  # mpmath inputs are converted at the working precision, not the thread's default
            w = self.check_theta(theta, prec)
            S = self._sigma(prec)
            Sw = np.array([prec.dot(row, w) for row in S], dtype=object if prec.mp else float)
            s, n = prec.dot(w, Sw), prec.dot(w, w)
            F, Fs, Fn, Fss, Fsn, Fnn = self._partials(s, n, prec)
            half_trace = prec.num(self.trace_exact.p) / prec.num(2 * self.trace_exact.q)
            loss = half_trace + F
            if order == 0:
                return Evaluation(prec.finalize(loss))
            grad = 2 * Fs * Sw + 2 * Fn * w
            if order == 1:
                return Evaluation(prec.finalize(loss), prec.finalize(grad))
            H = 2 * Fs * S + 4 * Fss * np.outer(Sw, Sw) + 4 * Fsn * (np.outer(Sw, w) + np.outer(w, Sw)) \
                + 4 * Fnn * np.outer(w, w)
            for i in range(self.d):
                H[i, i] = H[i, i] + 2 * Fn
            return Evaluation(prec.finalize(loss), prec.finalize(grad), prec.finalize(H))

    def exact_loss_and_gradient(self, theta) -> tuple:
        r"""$R$ and $\nabla R = 2F_s\Sigma w + 2F_n w$ as exact SymPy expressions (closed forms only)."""
        if not self.closed:
            raise NoClosedFormError(self._no_precision())
        if len(theta) != self.d:
            raise ShapeError(f"argument theta must have {self.d} entries, got {len(theta)}")
        w = sympy.Matrix([exact_number(v) for v in theta])
        Sw = self.Sigma_exact * w
        s, n = (w.T * Sw)[0], (w.T * w)[0]
        F = _closed_form(self.L, self.attention)
        values = {_S: s, _N: n}
        Fs, Fn = sympy.diff(F, _S).xreplace(values), sympy.diff(F, _N).xreplace(values)
        loss = self.trace_exact / 2 + F.xreplace(values)
        return loss, list(2 * Fs * Sw + 2 * Fn * w)

    def _sigma(self, prec):
        if not prec.mp:
            return self.Sigma
        out = prec.zeros((self.d, self.d))
        for i in range(self.d):
            for j in range(self.d):
                x = self.Sigma_exact[i, j]
                out[i, j] = prec.num(int(x.p)) / prec.num(int(x.q))
        return out

    def _partials(self, s, n, prec):
        if not self.closed:
            return _softmax_partials(float(s), float(n))
        exprs = _closed_partials(self.L, self.attention)
        if getattr(prec, "ball", False):
            return tuple(lambdify_ball((_S, _N), e)(s, n) for e in exprs)
        compile_ = compile_mpmath if prec.mp else compile_numpy
        return tuple(compile_(e, (_S, _N))(s, n) for e in exprs)

    # -- symmetry hooks ---------------------------------------------------------------------
    @functools.cached_property
    def _eigen(self):
        """Eigenvalues (decreasing), eigenvectors (columns) and eigenspaces (index groups) of Sigma."""
        lam, E = np.linalg.eigh(self.Sigma)
        order = np.argsort(-lam, kind="stable")
        lam, E = lam[order], E[:, order]
        groups, start = [], 0
        for i in range(1, self.d + 1):
            if i == self.d or lam[start] - lam[i] > 1e-9 * max(1.0, lam[0]):
                groups.append(list(range(start, i)))
                start = i
        return lam, E, groups

    def random_start(self, rng):
        r"""$w \sim N(0, I_d/d)$."""
        return rng.normal(0.0, 1.0 / np.sqrt(self.d), size=self.d)

    def canonical(self, theta) -> np.ndarray:
        """The norms of the eigenspace components of ``w`` (each eigenspace's orthogonal group acts)."""
        lam, E, groups = self._eigen
        y = E.T @ np.array([float(v) for v in theta])
        return np.array([np.linalg.norm(y[g]) for g in groups])

    def isotropy(self, theta, tol: float = 1e-8) -> str:
        """Stabiliser of ``w``: per eigenspace of multiplicity $m$, $O(m)$ where $w$ has no component
        and $O(m-1)$ where it has one ($O(1) = Z_2$, $O(0)$ trivial); written as a product."""
        parts = []
        scale = max(1.0, float(np.linalg.norm(np.array([float(v) for v in theta]))))
        for m, norm in zip((len(g) for g in self._eigen[2]), self.canonical(theta)):
            k = m if norm <= tol * scale else m - 1
            if k:
                parts.append("Z2" if k == 1 else f"O({k})")
        if not parts:
            return "trivial"
        counts = {p: parts.count(p) for p in dict.fromkeys(parts)}
        return " x ".join(p if c == 1 else f"{p}^{c}" for p, c in counts.items())

    def zero_modes(self, theta, tol: float = 1e-8) -> dict:
        """Rotations inside each eigenspace of multiplicity $m \\ge 2$ where $w$ has a component: $m - 1$ each."""
        scale = max(1.0, float(np.linalg.norm(np.array([float(v) for v in theta]))))
        count = sum(len(g) - 1 for g, norm in zip(self._eigen[2], self.canonical(theta))
                    if len(g) > 1 and norm > tol * scale)
        return {"rotations": count} if count else {}

    # -- the derivation -----------------------------------------------------------------------
    def quadrature_error(self, theta) -> float:
        """Softmax at finite L: |R| with :data:`QUADRATURE_NODES` nodes minus |R| with 3/2 as many
        (an estimate of the quadrature error of the loss at ``theta``); 0.0 for closed forms."""
        if self.closed:
            return 0.0
        w = self.check_theta(theta)
        s, n = float(w @ self.Sigma @ w), float(w @ w)
        a = _softmax_partials(s, n, QUADRATURE_NODES)[0]
        b = _softmax_partials(s, n, QUADRATURE_NODES * 3 // 2)[0]
        return abs(a - b)

    def critical_points(self, dps=None) -> list:
        r"""Every critical point (module docstring): $0$ and $\pm r_j e_j$ per eigenvector, sorted by
        loss, with the derived index.  Needs distinct eigenvalues (a repeated one gives a sphere of
        critical points: :class:`~symland.errors.DomainError`).  ``dps``: points at that precision
        (closed forms only; eigenvectors by mpmath's ``eigsy`` of the exact Sigma)."""
        lam, E, groups = self._eigen
        if any(len(g) > 1 for g in groups):
            raise DomainError("argument Sigma has a repeated eigenvalue: its critical points form spheres "
                              "inside the eigenspace, not isolated points")
        if dps is not None and not self.closed:
            raise PrecisionError(self._no_precision())
        prec = FLOAT64 if dps is None else Precision(dps)
        exact_eigs = self._exact_eigenvalues()
        with prec:
            if prec.mp:
                ev, EV = thread_mp.eigsy(thread_mp.matrix(self._sigma(prec).tolist()))
                pairs = sorted(((ev[i], [EV[r, i] for r in range(self.d)]) for i in range(self.d)),
                               key=lambda p: -p[0])
            else:
                pairs = [(lam[j], list(E[:, j])) for j in range(self.d)]
            out = [AttentionCriticalPoint(prec.finalize(np.array([prec.num(0)] * self.d, dtype=object)
                                                        if prec.mp else np.zeros(self.d)),
                                          self.loss(np.zeros(self.d), dps), self._origin_index(), "0")]
            for j, (lj, vec) in enumerate(pairs):
                r4 = self._radius4(float(lj)) if not prec.mp else self._radius4_mp(lj)
                r = prec.root(r4, 4)
                exact = exact_eigs[j] if exact_eigs is not None else None
                r4_exact = self._radius4_exact(exact) if exact is not None and self.closed else None
                for sign, tag in ((1, "+"), (-1, "-")):
                    th = np.array([sign * r * v for v in vec], dtype=object if prec.mp else float)
                    out.append(AttentionCriticalPoint(prec.finalize(th), self.loss(prec.finalize(th), dps), j,
                                                      f"e{j + 1}{tag}", prec.finalize(lj), r4_exact))
        return sorted(out, key=lambda p: float(p.loss))

    def _origin_index(self) -> int:
        """$w = 0$: Hessian $2F_s(0,0)\\Sigma$; $F_s(0, 0) = 0$ for linear attention and $L = \\infty$ (a
        degenerate point, index 0), $-1/L$ for softmax at finite L (a maximum, index d)."""
        return self.d if self.attention == "softmax" and self.L is not None else 0

    def _exact_eigenvalues(self):
        """The eigenvalues in decreasing order as exact SymPy numbers when Sigma is diagonal, else None."""
        S = self.Sigma_exact
        if any(S[i, j] != 0 for i in range(self.d) for j in range(self.d) if i != j):
            return None
        return sorted((S[i, i] for i in range(self.d)), reverse=True)

    def _radius4_exact(self, lam) -> sympy.Expr:
        r"""$r^4 = L/((L+4)\lambda)$ ($1/\lambda$ at $L = \infty$; softmax at $L = 1$:
        $\lambda F_s + F_n = \lambda(n - 1) = 0$, $r^4 = 1$), exact."""
        if self.attention == "softmax" and self.L == 1:
            return sympy.Integer(1)
        return 1 / lam if self.L is None else sympy.Rational(self.L, self.L + 4) / lam

    def _radius4_mp(self, lam):
        if self.attention == "softmax" and self.L == 1:
            return thread_mp.mpf(1)
        return 1 / lam if self.L is None else thread_mp.mpf(self.L) / (self.L + 4) / lam

    def _radius4(self, lam: float) -> float:
        r"""$r^4$ on the eigenvector with eigenvalue ``lam``: closed form, or the root of
        $\lambda F_s + F_n = 0$ at $(s, n) = (\lambda r^2, r^2)$ (softmax at $L = 2$, brentq)."""
        if self.closed:
            return float(self._radius4_exact(sympy.Rational(lam)))

        def h(r2):
            P = _softmax_partials(lam * r2, r2)
            return lam * P[1] + P[2]

        hi = 1.0 / lam
        while h(hi) <= 0:
            hi *= 2
            if hi > 1e6 / lam:
                raise DomainError(f"no critical radius found on the eigenvector with eigenvalue {lam}")
        r2 = scipy.optimize.brentq(h, 1e-12 / lam, hi, xtol=1e-15, rtol=1e-15)
        return r2 * r2
