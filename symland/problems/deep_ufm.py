r"""Deep unconstrained features (deep UFM): the landscape of deep neural collapse.

**Model** (symland's statement of the deep unconstrained features model of Súkeník, Mondelli and
Lampert, extended to cross-entropy by Garrod and Keating).  $K$ classes with $N$ samples each,
$M = KN$ samples ordered class by class (sample $i = kN + j$ has class $k$, ``0 <= k < K``); width
$d \ge K$ (default $d = K$); depth $L \ge 1$ weight matrices.  The parameters are the free
features $H_1 \in \mathbb R^{d\times M}$ and the weights $W_1, \dots, W_{L-1} \in \mathbb R^{d\times d}$,
$W_L \in \mathbb R^{K\times d}$:

.. math::  h_1 = H_1,\quad A_l = W_l h_l,\quad h_{l+1} = \sigma(A_l)\ (l < L),\quad Z = W_L h_L,

with $\sigma$ the identity (``"linear"``) or $\max(x, 0)$ (``"relu"``, applied after each of the
first $L - 1$ layers, never after the last).  The objective is

.. math::  \mathcal L = \ell(Z) + \tfrac{\lambda_H}2\|H_1\|_F^2 + \sum_{l=1}^L \tfrac{\lambda_l}2\|W_l\|_F^2,

* ``"mse"``: $\ell = \frac1{2M}\|Z - Y\|_F^2$, $Y = I_K \otimes 1_N^\top$ (one-hot columns; the
  factor 1/2 is symland's convention);
* ``"ce"``: $\ell = \frac1M\sum_i\bigl[\log\sum_c e^{Z_{ci}} - Z_{y_i i}\bigr]$.

``theta`` packs $H_1, W_1, \dots, W_L$, each row-major.  The regularisation strengths are exact
(SymPy rationals; floats at their exact binary values), so the loss is one closed form in every
precision context: float64, mpmath at any digits, and python-flint balls.

**Derivatives.**  With $G = \partial\ell/\partial Z$ ($\frac1M(Z - Y)$; for cross-entropy
$\frac1M(p_i - y_i)$ per column, $p_i = \mathrm{softmax}(Z_{:i})$), backpropagation gives
$\partial/\partial W_L = G h_L^\top$, $\delta_L = W_L^\top G$, and for $l = L-1, \dots, 1$:
$e_l = \sigma'(A_l)\odot\delta_{l+1}$, $\partial/\partial W_l = e_l h_l^\top$,
$\delta_l = W_l^\top e_l$; $\partial/\partial H_1 = \delta_1$; plus $\lambda\theta$.  The Hessian is
the derivative of that map along every unit direction, computed by carrying tangents through the
forward and backward passes ($\sigma'' = 0$; $\partial G = \frac1M\partial Z$, for cross-entropy
$\frac1M(p\odot\partial Z - p\,(p\cdot\partial Z))$ per column): exact, not finite differences.

**ReLU kinks.**  The relu loss is not twice differentiable where a pre-activation $A_l$ vanishes.
Loss and gradient use $\sigma'(0) = 0$ there (the gradient of the piece on which the unit is
off; the true gradient wherever the loss is differentiable).  A Hessian at such a point raises
:class:`~symland.errors.NonSmoothError`: :meth:`DeepUFM.piece` gives the smooth landscape with the
activation pattern frozen (it equals the loss on the closure of the pattern's region), which
refinement and classification accept, labelled as the piece.  Deep neural collapse with relu sits
on such kinks (orthogonal features give zero pre-activations), so its refinement and
classification are those of its pieces (:meth:`DeepUFM.kinks`).

**Deep neural collapse** (:meth:`DeepUFM.dnc`).  Every representation collapses to its class means
and the means form a fixed frame: the orthogonal frame $e_k$ for MSE (and for relu hidden layers),
the simplex frame $E e_k$ with $E = I_K - \frac1K 11^\top$ for cross-entropy (its last layer always;
its representations where no relu acts on them).
With structure matrices $S_i$ ($\|S_i\|_F^2 = n_i$) and scales $s_i$, $Z = mY$ (MSE) or $mEY$
(cross-entropy) with $m = \prod s_i$.  The regularisation at fixed $m$ is smallest for balanced
scales, $\lambda_i n_i s_i^2 = t$ for every factor, and then equals
$\tfrac{L+1}2 C m^{2/(L+1)}$, $C = (\prod_i\lambda_i n_i)^{1/(L+1)}$ (AM-GM).  So the DNC critical
points are the critical points $m > 0$ of

.. math::  f(m) = \ell(m) + \tfrac{L+1}2\,C\,m^{2/(L+1)},\qquad
           \ell(m) = \tfrac12(1 - m)^2\ \text{(MSE)},\quad \log\bigl(1 + (K-1)e^{-m}\bigr)\ \text{(CE)},

solved here in mpmath ($f'(m) = \ell'(m) + C m^{(1-L)/(L+1)} = 0$).  Smallest case by hand
(the tests): MSE, linear, $K = 2$, $N = 1$, $L = 1$, $\lambda_H = \lambda_1 = \lambda$: $C = 2\lambda$,
$m = 1 - 2\lambda$, $\mathcal L = 2\lambda - 2\lambda^2$.

**Symmetry.**  Permutations of samples within a class, of classes (with the rows of $W_L$), and
per hidden representation an orthogonal group acting as $h \mapsto Qh$: $O(d)$ on every
representation for linear layers, on $h_1 = H_1$ only for relu (hidden relu units are permuted, and
the $L_2$ penalty breaks their rescaling).  $O(d)$ on a representation moves the point along
$\binom d2 - \binom{d-r}2$ directions ($r$: rank of the producer and consumer together), the
Hessian's predicted zero modes (:meth:`DeepUFM.zero_modes`).
"""

from __future__ import annotations

import dataclasses
import fractions
import math

import numpy as np
import sympy

from ..errors import DomainError, NonSmoothError, ShapeError
from ..numerics.arguments import check_choice, check_count
from ..numerics.mpcontext import thread_mp
from ..numerics.precision import FLOAT64, Precision, as_float_array
from .protocol import Evaluation, Landscape

__all__ = ["DeepUFM", "DNCPoint", "exact_strength", "MAX_PARAMS"]

#: largest number of parameters (the Hessian is a dense P x P matrix)
MAX_PARAMS = 2000
#: a relu pre-activation counts as zero (a kink) when |A| <= tol * max(1, max |A|): tol is
#: KINK_TOL_FLOAT in float64 and 10**(-dps/2) in mpmath
KINK_TOL_FLOAT = 1e-12


def exact_strength(value, name: str) -> sympy.Rational:
    """A regularisation strength as an exact rational: ints, fractions and SymPy rationals as they
    are, floats at their exact binary values (never parsed from strings); must be finite and > 0."""
    if isinstance(value, fractions.Fraction):
        value = sympy.Rational(value.numerator, value.denominator)
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating,
                                                                    sympy.Rational)):
        raise DomainError(f"argument {name} must be a real number, got {value!r}")
    if isinstance(value, (float, np.floating)):
        if not math.isfinite(float(value)):
            raise DomainError(f"argument {name} must be finite, got {value!r}")
        value = sympy.Rational(float(value))
    value = sympy.Rational(value)
    if not value > 0:
        raise DomainError(f"argument {name} must be > 0 (an L2 strength), got {value}")
    return value


@dataclasses.dataclass(frozen=True)
class DNCPoint:
    r"""The deep-neural-collapse critical point (module docstring): ``theta`` (float64 or mpf),
    ``loss``, the output scale ``m`` ($Z = mY$ or $mEY$), the per-factor ``scales`` $s_i$ and the
    loss at the origin ``loss_at_zero`` ($\ell(0)$: DNC is worse than the trivial point when larger)."""

    theta: np.ndarray
    loss: object
    m: object
    scales: tuple
    loss_at_zero: object


class DeepUFM(Landscape):
    r"""The deep unconstrained features model (module docstring).

    Parameters
    ----------
    K : int
        Classes (>= 2).
    N : int
        Samples per class (>= 1).
    L : int
        Weight matrices (>= 1; ``L = 1`` is the plain unconstrained features model).
    width : int or None
        Width $d$ of $H_1$ and the hidden layers (default ``K``; at least ``K``).
    activation : ``"linear"`` | ``"relu"``
    loss : ``"mse"`` | ``"ce"``
    lambda_H : number
        $\lambda_H$ (exact; default 1/100).
    lambda_W : number or sequence of L numbers
        $\lambda_1, \dots, \lambda_L$ (one number for all; default 1/100).
    """

    name = "deep-ufm"

    def __init__(self, K: int, N: int = 1, L: int = 2, width=None, activation: str = "linear",
                 loss: str = "mse", lambda_H=sympy.Rational(1, 100), lambda_W=sympy.Rational(1, 100)):
        self.K = check_count(K, "K", minimum=2, maximum=64)
        self.N = check_count(N, "N", minimum=1, maximum=256)
        self.L = check_count(L, "L", minimum=1, maximum=64)
        self.d = self.K if width is None else check_count(width, "width", minimum=1, maximum=128)
        if self.d < self.K:
            raise DomainError(f"argument width must be >= K = {self.K} (the DNC frame needs K directions), "
                              f"got {self.d}")
        self.activation = check_choice(activation, "activation", ("linear", "relu"))
        self.loss_kind = check_choice(loss, "loss", ("mse", "ce"))
        self.lambda_H = exact_strength(lambda_H, "lambda_H")
        if isinstance(lambda_W, (list, tuple, np.ndarray)):
            if len(lambda_W) != self.L:
                raise ShapeError(f"argument lambda_W must be one number or {self.L} numbers (one per layer), "
                                 f"got {len(lambda_W)}")
            self.lambda_W = tuple(exact_strength(v, f"lambda_W[{i}]") for i, v in enumerate(lambda_W))
        else:
            self.lambda_W = (exact_strength(lambda_W, "lambda_W"),) * self.L
        self.M = self.K * self.N
        d, M, K = self.d, self.M, self.K
        self.shapes = [(d, M)] + [(d, d)] * (self.L - 1) + [(K, d)]
        self.sizes = [a * b for a, b in self.shapes]
        self.offsets = np.concatenate([[0], np.cumsum(self.sizes)]).astype(int)
        self.num_params = int(self.offsets[-1])
        if self.num_params > MAX_PARAMS:
            raise DomainError(f"the model has {self.num_params} parameters, more than MAX_PARAMS = {MAX_PARAMS} "
                              "(its Hessian is dense)")
        self.labels = np.repeat(np.arange(K), self.N)
        self.Y = np.zeros((K, M))
        self.Y[self.labels, np.arange(M)] = 1.0
        self.pattern = None  # frozen relu activation pattern (see piece)
        self.loss_statement = (
            f"loss = {'1/(2M)|Z - Y|^2' if self.loss_kind == 'mse' else 'mean cross-entropy of Z'}"
            f" + lambda_H/2 |H1|^2 + sum_l lambda_l/2 |W_l|^2, Z = W_L s(...s(W_1 H1)), s = {self.activation}")

    def __repr__(self):
        lam = self.lambda_W[0] if len(set(self.lambda_W)) == 1 else list(self.lambda_W)
        frozen = ", piece" if self.pattern is not None else ""
        return (f"DeepUFM(K={self.K}, N={self.N}, L={self.L}, width={self.d}, activation={self.activation!r}, "
                f"loss={self.loss_kind!r}, lambda_H={self.lambda_H}, lambda_W={lam}{frozen})")

    # -- packing ------------------------------------------------------------------------------
    def unpack(self, theta) -> list:
        """``[H_1, W_1, ..., W_L]`` as views of ``theta`` (no validation)."""
        theta = np.asarray(theta)
        return [theta[a:b].reshape(s) for a, b, s in zip(self.offsets[:-1], self.offsets[1:], self.shapes)]

    def pack(self, matrices) -> np.ndarray:
        """The parameter vector of ``[H_1, W_1, ..., W_L]`` (shapes checked)."""
        if len(matrices) != self.L + 1:
            raise ShapeError(f"argument matrices must hold L + 1 = {self.L + 1} arrays, got {len(matrices)}")
        for i, (X, s) in enumerate(zip(matrices, self.shapes)):
            if np.shape(X) != s:
                raise ShapeError(f"argument matrices[{i}] must have shape {s}, got {np.shape(X)}")
        dtype = object if any(np.asarray(X).dtype == object for X in matrices) else float
        return np.concatenate([np.asarray(X, dtype=dtype).ravel() for X in matrices])

    def check_theta(self, theta, prec: Precision = FLOAT64):
        """``theta``: shape ``(num_params,)``, finite and real, as an array of ``prec``."""
        if np.shape(theta) != (self.num_params,):
            raise ShapeError(f"argument theta must have shape ({self.num_params},), got {np.shape(theta)}")
        return prec.array(theta, "theta", (self.num_params,)) if prec.mp else \
            as_float_array(theta, "theta", shape=(self.num_params,))

    def missing_ball_form(self) -> str:
        return ""

    # -- the evaluation ---------------------------------------------------------------------------
    def _strengths(self, prec) -> list:
        """$[\\lambda_H, \\lambda_1, \\dots, \\lambda_L]$ as numbers of ``prec`` (exact rationals divided there)."""
        return [prec.num(int(x.p)) / prec.num(int(x.q)) for x in (self.lambda_H,) + self.lambda_W]

    def _mask(self, l, A, prec, order, dead_columns):
        """The relu derivative mask $\\sigma'(A_{l+1})$ (a 0/1 array; ``None`` for linear layers), the
        frozen pattern when there is one; raises at kinks for a Hessian (and on balls for any order:
        their signs must be certain).  A pre-activation whose input column vanishes near ``theta``
        (``dead_columns``: every unit feeding it is off with a margin) is identically 0 there: no kink."""
        if self.activation == "linear":
            return None
        if self.pattern is not None:
            return np.array(self.pattern[l], dtype=bool)
        if getattr(prec, "ball", False):
            pos = np.vectorize(lambda x: bool(x > 0), otypes=[bool])(A)
            neg = np.vectorize(lambda x: bool(x < 0), otypes=[bool])(A)
            unsure = ~(pos | neg) & ~dead_columns[None, :]
            if unsure.any():
                i, j = np.argwhere(unsure)[0]
                raise NonSmoothError(f"relu pre-activation A_{l + 1}[{i}, {j}] is a ball containing 0: its sign "
                                     "is not certain (use piece(theta) to fix the activation pattern)")
            return pos
        pos = np.array(A > 0, dtype=bool)
        if order >= 2:
            Af = np.abs(np.array(A, dtype=float))
            tol = KINK_TOL_FLOAT if not prec.mp else 10.0 ** (-prec.dps / 2)
            near = (Af <= tol * max(1.0, float(Af.max()) if Af.size else 1.0)) & ~dead_columns[None, :]
            if near.any():
                i, j = np.argwhere(near)[0]
                raise NonSmoothError(
                    f"relu pre-activation A_{l + 1}[{i}, {j}] = {float(A[i, j]):.3g} is zero (a kink; {int(near.sum())} "
                    f"in layer {l + 1}): the Hessian is one-sided here; use piece(theta), the smooth piece "
                    "with the activation pattern frozen")
        return pos

    @staticmethod
    def _masked(X, mask):
        """$\\sigma'(A)\\odot X$: ``X`` where the mask is on, 0 (of ``X``'s kind) elsewhere; ``X`` itself
        for linear layers (``mask`` None).  Serves the activation, the backward pass and its tangents."""
        return X if mask is None else np.where(mask, X, 0 * X)

    def _data_term(self, Z, prec):
        r"""$\ell(Z)$, $G = \partial\ell/\partial Z$ and the map $\partial Z \mapsto \partial G$."""
        M = prec.num(self.M)
        Y = self.Y if not prec.mp else np.vectorize(lambda v: prec.num(int(v)), otypes=[object])(self.Y)
        if self.loss_kind == "mse":
            R = Z - Y
            value = _sum(R * R, prec) / (2 * M)
            return value, R / M, (lambda dZ: dZ / M)
        exp, log = _elementwise(prec, "exp"), _elementwise(prec, "log")
        if prec.mp:
            shift = np.array([max(Z[:, i], key=float) if not getattr(prec, "ball", False) else prec.num(0)
                              for i in range(self.M)], dtype=object)
        else:
            shift = Z.max(axis=0)
        E = exp(Z - shift[None, :])
        S = E.sum(axis=0)
        P = E / S[None, :]
        value = (_sum(log(S) + shift, prec) - _sum(Z * Y, prec)) / M
        G = (P - Y) / M

        def dG(dZ):
            return (P * dZ - P * (P * dZ).sum(axis=-2, keepdims=True)) / M

        return value, G, dG

    def evaluate(self, theta, prec: Precision, order: int) -> Evaluation:
        r"""$\mathcal L$, $\nabla\mathcal L$ (backpropagation) and $\nabla^2\mathcal L$ (tangents of
        backpropagation along every unit direction) up to ``order`` (module docstring)."""
        with prec:
            th = self.check_theta(theta, prec)
            mats = self.unpack(th)
            lam = self._strengths(prec)
            Ws = mats[1:]
            h, masks = [mats[0]], []
            dead = np.zeros(self.shapes[0], dtype=bool)  # entries of h_l that vanish near theta
            for l in range(self.L - 1):
                A = Ws[l] @ h[-1]
                mask = self._mask(l, A, prec, order, dead.all(axis=0))
                masks.append(mask)
                dead = np.zeros(A.shape, dtype=bool) if mask is None else ~mask
                h.append(self._masked(A, mask))
            Z = Ws[-1] @ h[-1]
            data, G, dG = self._data_term(Z, prec)
            reg = sum((lam[i] * _sum(X * X, prec) for i, X in enumerate(mats)), prec.num(0)) / 2
            loss = data + reg
            if order == 0:
                return Evaluation(prec.finalize(loss))
            grads = self._backward(Ws, h, masks, G)
            grad = np.concatenate([(g + lam[i] * X).ravel() for i, (g, X) in enumerate(zip(grads, mats))])
            if order == 1:
                return Evaluation(prec.finalize(loss), prec.finalize(grad))
            H = self._hessian(mats, h, masks, G, dG, prec)
            diag = np.concatenate([[lam[i]] * self.sizes[i] for i in range(self.L + 1)])
            for p in range(self.num_params):
                H[p, p] = H[p, p] + diag[p]
            return Evaluation(prec.finalize(loss), prec.finalize(grad), prec.finalize(H))

    def _backward(self, Ws, h, masks, G) -> list:
        """Data-term gradients ``[dH_1, dW_1, ..., dW_L]`` by backpropagation."""
        gW = [None] * self.L
        gW[-1] = G @ h[-1].T
        delta = Ws[-1].T @ G
        for l in range(self.L - 2, -1, -1):
            e = self._masked(delta, masks[l])
            gW[l] = e @ h[l].T
            delta = Ws[l].T @ e
        return [delta] + gW

    def _hessian(self, mats, h, masks, G, dG, prec):
        """The data-term Hessian: backpropagation differentiated along all P unit directions at once
        (leading tangent axis), then symmetrised (exactly symmetric up to rounding)."""
        P = self.num_params
        Ws = mats[1:]
        tangents = []
        for i, s in enumerate(self.shapes):
            T = prec.zeros((P,) + s)
            flat = T.reshape(P, -1)
            one = prec.num(1)
            for j in range(self.sizes[i]):
                flat[self.offsets[i] + j, j] = one
            tangents.append(T)
        dWs = tangents[1:]
        dh = [tangents[0]]
        for l in range(self.L - 1):
            dA = dWs[l] @ h[l] + Ws[l] @ dh[l]
            dh.append(self._masked(dA, masks[l]))
        dZ = dWs[-1] @ h[-1] + Ws[-1] @ dh[-1]
        dGv = dG(dZ)
        T_ = lambda X: np.swapaxes(X, -1, -2)  # noqa: E731
        dgW = [None] * self.L
        dgW[-1] = dGv @ h[-1].T + G @ T_(dh[-1])
        delta = Ws[-1].T @ G
        ddelta = T_(dWs[-1]) @ G + Ws[-1].T @ dGv
        for l in range(self.L - 2, -1, -1):
            e, de = self._masked(delta, masks[l]), self._masked(ddelta, masks[l])
            dgW[l] = de @ h[l].T + e @ T_(dh[l])
            ddelta = T_(dWs[l]) @ e + Ws[l].T @ de
            delta = Ws[l].T @ e
        H = np.concatenate([X.reshape(P, -1) for X in [ddelta] + dgW], axis=1)
        half = prec.num(1) / 2
        return (H + H.T) * half if H.dtype == object else (H + H.T) / 2

    # -- relu pieces -------------------------------------------------------------------------------
    def _float_forward(self, theta):
        """``(matrices, [A_1 .. A_{L-1}], [h_1 .. h_L, Z])`` at ``theta`` in float64 (true relu, never
        a frozen pattern: what the loss itself computes)."""
        mats = self.unpack(self.check_theta(theta))
        A_list, h = [], [mats[0]]
        for W in mats[1:-1]:
            A_list.append(W @ h[-1])
            h.append(A_list[-1] if self.activation == "linear" else np.maximum(A_list[-1], 0.0))
        return mats, A_list, h + [mats[-1] @ h[-1]]

    def pre_activations(self, theta) -> list:
        """The relu pre-activations $A_1, \\dots, A_{L-1}$ at ``theta`` in float64."""
        return self._float_forward(theta)[1]

    @staticmethod
    def _scale(A_list) -> float:
        """$\\max(1, \\max|A|)$ over the pre-activations: the size the kink tolerances are relative to."""
        return max([1.0] + [float(np.abs(A).max()) for A in A_list if A.size])

    def kinks(self, theta, tol: float = 1e-9) -> list:
        """Relu pre-activations with $|A_l[i,j]| \\le$ ``tol`` $\\max(1, \\max|A|)$, as
        ``(layer, unit, sample)`` triples (empty for linear layers)."""
        if self.activation == "linear":
            return []
        A_list = self.pre_activations(theta)
        scale = self._scale(A_list)
        out, dead = [], np.zeros(self.shapes[0], dtype=bool)
        for l, A in enumerate(A_list):
            near = (np.abs(A) <= tol * scale) & ~dead.all(axis=0)[None, :]
            out += [(l + 1, int(i), int(j)) for i, j in np.argwhere(near)]
            dead = A <= tol * scale
        return out

    def piece(self, theta, tol: float = 1e-9) -> "DeepUFM":
        r"""The smooth piece through ``theta``: the same model with the relu activation pattern frozen at
        $A_l > $ ``tol`` $\max(1, \max|A|)$ (near-zero pre-activations count as off).  It equals the
        loss wherever the frozen pattern is the true one (on the closure of that region), so a critical
        point of the piece whose frozen pattern holds there and whose backpropagated signal vanishes
        at the kinks is a critical point of the loss (:meth:`kink_slope`, :meth:`pattern_violation`)."""
        if self.activation == "linear":
            return self
        A_list = self.pre_activations(theta)
        scale = self._scale(A_list)
        out = self._unfrozen()
        out.pattern = tuple(A > tol * scale for A in A_list)
        out.name = "deep-ufm-piece"
        return out

    def kink_slope(self, theta) -> float:
        r"""$\min \partial\ell/\partial A_l[i,j]$ over the kinks of ``theta`` (float64; 0.0 without kinks):
        the rate at which the loss changes when a unit at a kink is switched on ($A \to 0^+$), the
        piece being critical.  ``>= 0`` (to rounding): no direction descends at first order, so a
        critical point of the piece is a critical point of the non-smooth loss (both one-sided rates
        vanish when it is 0); ``< 0``: switching that unit on descends, not a minimum."""
        kinks = self.kinks(theta)
        if not kinks:
            return 0.0
        mats, A_list, reps = self._float_forward(theta)
        Ws = mats[1:]
        _, G, _ = self._data_term(reps[-1], FLOAT64)
        delta, signals = Ws[-1].T @ G, [None] * (self.L - 1)
        for l in range(self.L - 2, -1, -1):
            signals[l] = delta  # dl/dh_{l+1}: the rate a unit switched on at A = 0+ would see
            delta = Ws[l].T @ self._masked(delta, A_list[l] > 0)
        return min(float(signals[l - 1][i, j]) for l, i, j in kinks)

    def pattern_violation(self, theta) -> float:
        """For a piece (frozen pattern): the largest wrong-side pre-activation at ``theta`` relative to
        ``max(1, max|A|)``: an "on" entry below 0 or an "off" entry above 0 (0.0 when the pattern is
        the true one up to kinks, so that the piece equals the loss there)."""
        if self.pattern is None:
            return 0.0
        A_list = self.pre_activations(theta)
        scale = self._scale(A_list)
        worst = 0.0
        for A, on in zip(A_list, self.pattern):
            worst = max(worst, float(np.max(np.where(on, -A, A), initial=0.0)))
        return worst / scale

    def _unfrozen(self) -> "DeepUFM":
        return DeepUFM(self.K, self.N, self.L, self.d, self.activation, self.loss_kind, self.lambda_H,
                       list(self.lambda_W))

    # -- symmetry hooks ------------------------------------------------------------------------------
    def random_start(self, rng: np.random.Generator) -> np.ndarray:
        r"""$H_1$ entries $N(0, 1)$, weights $N(0, 1/d)$ (variance one over the fan-in)."""
        parts = [rng.normal(0.0, 1.0, size=self.sizes[0])]
        parts += [rng.normal(0.0, 1.0 / math.sqrt(self.d), size=s) for s in self.sizes[1:]]
        return np.concatenate(parts)

    def _orthogonal_spaces(self) -> list:
        """Indices l (1-based) of the representations h_l on which O(d) acts."""
        return list(range(1, self.L + 1)) if self.activation == "linear" else [1]

    def zero_modes(self, theta, tol: float = 1e-8) -> dict:
        r"""Per representation with an orthogonal symmetry: $\binom d2 - \binom{d-r}2$ zero modes, $r$ the
        rank of $[P_l, W_l^\top]$ (producer $P_1 = H_1$, $P_l = W_{l-1}$; consumer $W_l$)."""
        mats = self.unpack(np.array([float(v) for v in theta]))
        count = 0
        for l in self._orthogonal_spaces():
            X = np.concatenate([mats[l - 1], mats[l].T], axis=1)
            s = np.linalg.svd(X, compute_uv=False)
            r = int((s > tol * max(1.0, s[0] if s.size else 1.0)).sum())
            count += self.d * (self.d - 1) // 2 - (self.d - r) * (self.d - r - 1) // 2
        return {"rotations": count} if count else {}

    def canonical(self, theta) -> np.ndarray:
        """Orbit invariants: the singular values (descending) of the class-mean matrix of every
        representation and of the output, then of every weight matrix."""
        th = np.array([float(v) for v in theta])
        mats = self.unpack(th)
        out = [np.linalg.svd(X, compute_uv=False) for X in self.class_means(th)]
        out += [np.linalg.svd(W, compute_uv=False) for W in mats[1:]]
        return np.concatenate(out)

    # -- collapse measures ---------------------------------------------------------------------------
    def representations(self, theta) -> list:
        """$h_1, \\dots, h_L$ and $Z$ at ``theta`` (float64)."""
        return self._float_forward(theta)[2]

    def _class_means_of(self, reps) -> list:
        return [X.reshape(X.shape[0], self.K, self.N).mean(axis=2) for X in reps]

    def class_means(self, theta) -> list:
        """The class-mean matrices (columns $\\bar h_k$) of $h_1, \\dots, h_L$ and $Z$."""
        return self._class_means_of(self.representations(theta))

    def within_class_spread(self, theta) -> list:
        r"""NC1 per representation: $\max_i |h_i - \bar h_{y_i}| / \max(\max_k|\bar h_k|, 10^{-300})$."""
        reps = self.representations(theta)
        out = []
        for X, Mk in zip(reps, self._class_means_of(reps)):
            dev = X - np.repeat(Mk, self.N, axis=1)
            scale = max(float(np.linalg.norm(Mk, axis=0).max()), 1e-300)
            out.append(float(np.linalg.norm(dev, axis=0).max()) / scale)
        return out

    def singular_values(self, theta) -> dict:
        """Singular values (descending, float64) of ``H1``, ``W1`` .. ``WL``, ``h2`` .. ``hL`` and ``Z``."""
        mats, _, reps = self._float_forward(theta)
        out = {"H1": np.linalg.svd(mats[0], compute_uv=False)}
        for l, W in enumerate(mats[1:], start=1):
            out[f"W{l}"] = np.linalg.svd(W, compute_uv=False)
        for l, X in enumerate(reps[1:-1], start=2):
            out[f"h{l}"] = np.linalg.svd(X, compute_uv=False)
        out["Z"] = np.linalg.svd(reps[-1], compute_uv=False)
        return out

    def rank_profile(self, theta, threshold: float = 1e-6) -> dict:
        """Per matrix of :meth:`singular_values`: how many singular values exceed ``threshold`` times
        the largest singular value of all of them."""
        sv = self.singular_values(theta)
        top = max(float(s[0]) for s in sv.values() if s.size)
        return {k: int((s > threshold * top).sum()) for k, s in sv.items()}

    # -- deep neural collapse --------------------------------------------------------------------------
    def _dnc_structure(self) -> list:
        """The structure matrices $S_i$ (exact integers/rationals as SymPy matrices) of the DNC frame."""
        K, d, N = self.K, self.d, self.N
        ce = self.loss_kind == "ce"
        E = sympy.eye(K) - sympy.ones(K, K) / K
        # relu representations are orthogonal (non-negative); without a relu between them (linear
        # layers, or L = 1) the cross-entropy frame is the simplex, which its E-shaped last layer keeps
        frame = E if ce and (self.activation == "linear" or self.L == 1) else sympy.eye(K)

        def embed(B, rows, cols):
            out = sympy.zeros(rows, cols)
            out[:B.shape[0], :B.shape[1]] = B
            return out

        H = embed(sympy.Matrix.hstack(*[frame[:, k] for k in range(K) for _ in range(N)]), d, self.M)
        hidden = [embed(frame, d, d) for _ in range(self.L - 1)]
        last = embed(E if ce else sympy.eye(K), K, d)
        return [H] + hidden + [last]

    def dnc(self, dps=None) -> DNCPoint:
        r"""The deep-neural-collapse critical point (module docstring), at ``dps`` digits (float64 for
        ``None``): the largest critical point $m^*$ of $f(m)$ found by a scan of $f'$ and then mpmath's
        root finder.  Raises :class:`~symland.errors.DomainError` when $f' > 0$ on $(0, \infty)$ (the
        regularisation is too strong: no DNC point besides $\theta = 0$)."""
        prec = FLOAT64 if dps is None else Precision(dps)
        S = self._dnc_structure()
        lam = (self.lambda_H,) + self.lambda_W
        norms = [sum(x * x for x in Si) for Si in S]
        Lp1 = self.L + 1
        K = self.K
        with thread_mp.workdps((dps or 16) + 20):
            C = thread_mp.root(thread_mp.fprod(thread_mp.mpf(sympy.Rational(li * ni).p) / sympy.Rational(li * ni).q
                                               for li, ni in zip(lam, norms)), Lp1)

            def ell(m):
                return (1 - m) ** 2 / 2 if self.loss_kind == "mse" else thread_mp.log(1 + (K - 1) * thread_mp.exp(-m))

            def dell(m):
                if self.loss_kind == "mse":
                    return m - 1
                e = (K - 1) * thread_mp.exp(-m)
                return -e / (1 + e)

            def fprime(m):
                return dell(m) + C * m ** (thread_mp.mpf(1 - self.L) / Lp1)

            hi = thread_mp.mpf(1) if self.loss_kind == "mse" else thread_mp.mpf(800)
            grid = [hi * thread_mp.mpf(10) ** (-thread_mp.mpf(k) / 40) for k in range(0, 641)][::-1]
            bracket = None
            for a, b in zip(grid[:-1], grid[1:]):
                if fprime(a) < 0 <= fprime(b):
                    bracket = (a, b)
            if bracket is None:
                raise DomainError(f"{self!r}: f'(m) > 0 on the scanned range: the regularisation is too strong "
                                  "for a DNC critical point with m > 0 (only theta = 0)")
            m = thread_mp.findroot(fprime, bracket, solver="anderson")
            t = C * m ** (thread_mp.mpf(2) / Lp1)
            scales = [thread_mp.sqrt(t / (thread_mp.mpf(li.p) / li.q * ni)) for li, ni in zip(lam, norms)]
            parts = []
            for s, Si in zip(scales, S):
                parts += [s * (thread_mp.mpf(x.p) / x.q) for x in Si]
            theta = np.array(parts, dtype=object)
            loss_m = ell(m) + Lp1 * C * m ** (thread_mp.mpf(2) / Lp1) / 2
            at_zero = ell(thread_mp.mpf(0))
        fin = (lambda x: float(x)) if not prec.mp else (lambda x: prec.finalize(x))  # noqa: E731
        theta = np.array([float(v) for v in theta]) if not prec.mp else prec.finalize(theta)
        return DNCPoint(theta, fin(loss_m), fin(m), tuple(fin(s) for s in scales), fin(at_zero))

    def dnc_gram(self) -> np.ndarray:
        """The normalised class-mean Gram matrix of DNC at the last hidden layer (identity, or the
        simplex Gram $E$ scaled to unit diagonal for linear cross-entropy models)."""
        S = self._dnc_structure()
        F = np.array((S[-2] if self.L > 1 else S[0]).tolist(), dtype=float)
        means = F.reshape(F.shape[0], self.K, self.N).mean(axis=2)
        Gm = means.T @ means
        return Gm / Gm[0, 0]


def _sum(X, prec):
    """Sum of all entries (mpmath's fsum for object arrays, exact-rounded balls for balls)."""
    if X.dtype != object:
        return float(X.sum())
    if getattr(prec, "ball", False):
        return sum(X.ravel().tolist(), prec.num(0))
    return thread_mp.fsum(X.ravel().tolist())


def _elementwise(prec, name):
    """``exp`` or ``log`` for arrays of the context."""
    if getattr(prec, "ball", False):
        return np.vectorize(lambda x: getattr(x, name)(), otypes=[object])
    if prec.mp:
        return np.vectorize(getattr(thread_mp, name), otypes=[object])
    return getattr(np, name)
