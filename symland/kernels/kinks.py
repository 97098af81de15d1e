r"""Kink-aware Gaussian quadrature for any piecewise-smooth activation.

Activations with kinks or jumps (``Min(Max(z, -1), 1)``, ``Max(z - 1, 0)``,
``Max(z, 0)*tanh(z)``, ``Heaviside(z - 1/2)`` ...) have no classical
derivatives, but Price's partials $E[s^{(P)}(u)\,t^{(Q)}(v)]$ exist in the
sense of distributions (a jump contributes a $\delta$).  This module evaluates
them while evaluating only $s$ and $t$ themselves.

**Bivariate formula.**  $(u, v)$ Gaussian with means $(m_1, m_2)$, covariance
$\Sigma = [[a, c], [c, b]]$, $D = ab - c^2 > 0$, density $N(u, v; m, \Sigma)$.
Because $E[s(u)t(v)]$ depends on the means only through $s(m_1 + \cdot)$ and
$t(m_2 + \cdot)$,

.. math:: E[s^{(P)}(u)\,t^{(Q)}(v)] = \partial_{m_1}^P\partial_{m_2}^Q E[s(u)t(v)]
          = E\big[s(u)\,t(v)\,H_{P,Q}(u - m_1, v - m_2)\big],
          \qquad H_{P,Q} = \frac{\partial_{m_1}^P\partial_{m_2}^Q N}{N},

a bivariate Hermite polynomial with generating function
$N(w; m + h)/N(w; m) = \exp(h^\top\Sigma^{-1}(w - m) - \tfrac12 h^\top\Sigma^{-1}h)$.
With the Cholesky variables $u = m_1 + \sqrt a\,x$,
$v = m_2 + (c/\sqrt a)\,x + \sqrt{D/a}\,y$ ($x, y$ independent standard
normals) the generating function factorises: $h^\top\Sigma^{-1}(w - m) = g_1x + g_2y$
and $h^\top\Sigma^{-1}h = g_1^2 + g_2^2$ with $g_1 = h_1/\sqrt a$,
$g_2 = (a h_2 - c h_1)/\sqrt{aD}$, so by $e^{gx - g^2/2} = \sum_n \mathrm{He}_n(x)g^n/n!$

.. math:: H_{P,Q} = P!\,Q!\sum_{j + k = P + Q}\frac{\mathrm{He}_j(x)\,\mathrm{He}_k(y)}{j!\,k!}
          \,[h_1^P h_2^Q]\,g_1^j g_2^k
          = \sum_{r=0}^{P}\binom{P}{r}\frac{(-c)^r a^{Q/2}}{a^{(P-r)/2}(aD)^{(r+Q)/2}}
            \,\mathrm{He}_{P-r}(x)\,\mathrm{He}_{Q+r}(y).

:func:`hermite_weight_terms` derives this once in SymPy (exact in ``a, c, D``;
$b = (c^2 + D)/a$ does not appear) and caches it.  **One dimension**
($u \sim N(m, t)$, used for diagonals $E[h^{(n)}(u)]$ with $h = s^2$):
$E[h^{(n)}(u)] = t^{-n/2}\,E[h(u)\,\mathrm{He}_n((u - m)/\sqrt t)]$.

**Quadrature.**  The kinks of $s$ and $t$ (:func:`kink_points`, exact SymPy
reals) are panel edges: in float64 a composite 12-point Gauss–Legendre rule on
the standard-normal variables truncated to $[-L, L]$ ($L = 8.5$, grown for high
orders so that $L^{P+Q}\varphi(L) < 10^{-17}$), outer panels in $x$ with the
kinks $x = (k_s - m_1)/\sqrt a$ of $s$ as extra edges, and for every outer node
inner panels in $y$ with the kinks $y = (k_t - m_2 - cx/\sqrt a)/\sqrt{D/a}$ of
$t$ as extra edges (they move with $x$); every panel therefore sees an analytic
integrand.  Panels are narrower than half the distance $\pi/(2\sigma)$ of the
complex poles of tanh-like activations (as ``quadrature._panels``), per
direction.  Fully vectorised over the nodes; a Python loop runs over the
broadcast entries only.  At high precision, nested ``mpmath.quad``
(Gauss–Legendre) with the kinks as interval end points, on $[-L_{mp}, L_{mp}]$
with a tail below $10^{-(dps + 15)}$, at ``dps + 8`` working digits (fewer guard digits than
the context's 15, for speed); $s$ and $t$ are evaluated at ``dps + 15`` digits (the context's
guard digits; so are the irrational constants in them) and the kinks are rounded from their exact values at ``dps + 20``;
the outer error estimate and the worst inner one (times the outer weight and
the interval length) are checked against $10^{-dps}\max(1, |value|)$ (i.e.
``dps`` digits, absolute for values below 1, as ``quadrature._mp_check``), and a
:class:`~symland.errors.ConvergenceError` is raised otherwise.

**Accuracy** (measured against independent closed forms with means of
:mod:`symland.kernels.means`: relu6 x relu and $\max(z - 1, 0)$ x step at 30 digits,
hardtanh x erf, $H(z - 1/2)$ x sin, tanh x hardtanh and SELU x relu by 1-D
reduction at 20 digits; ``tests/kernels/test_kinks.py`` and random grids of 30-40
points per pair).  float64, $P + Q \le 4$, variances $0.3..4$,
$|c|/\sqrt{ab} \le 0.95$, $|m_{1,2}| \le 1.5$: relative error median
$3\cdot10^{-16}$, worst $6\cdot10^{-12}$ (a value $6\cdot10^{-5}$ at
$\rho = -0.95$).  The integrand $s\,t\,H_{P,Q}$ is summed in float64, so the
absolute error is about $10^{-14}$ times its magnitude $E|s\,t\,H_{P,Q}|$
(measured $\le 1.4\cdot10^{-14}$), which grows like $(1 - \rho^2)^{-(P+Q)/2}$
(up to $6\cdot10^3$ for $P + Q = 4$, $\rho = 0.95$, variance 0.3): a partial
much smaller than that magnitude (a $\delta$ term where the density is tiny)
has only this absolute accuracy.  mpmath at ``dps=30``: agreement with the
references to the tests' tolerance of 25 digits in every case checked (all
$P + Q \le 4$ with ``SYMLAND_FULL=1``); spot checks agreed in all 30 digits.

**Cost** (one core of a shared 2-core machine): float64 3-25 ms per value for
$P + Q \le 4$ at variances $\le 4$ (about half where $s$ vanishes on a half
line, as for relu-like $s$; an activation with special functions is put in the
outer loop), up to ~80 ms for $P = Q = 6$; the panel count
grows like the standard deviation (tanh-pole rule), 0.3-0.8 s per value at
variance 100.  mpmath at ``dps=30``: 4-8 s per value for piecewise polynomial,
sin or SELU partners, ~15 s when a partner is erf or tanh (the nested rule
needs ~$3\cdot10^5$ evaluations of the inner activation at 45 digits; the
cheaper activation is put inside, and z-free constants are folded once), plus
~3 s once per precision for mpmath's Gauss–Legendre nodes.

Limitations: the pieces between kinks must be analytic (``Abs(z)**(1/2)``
has its singular point as a panel edge, but Gauss–Legendre converges only
algebraically there); an expression containing ``DiracDelta`` is not a
function and is refused by the evaluators (its kinks are still reported).
"""

from __future__ import annotations

import functools
import math

import numpy as np
import sympy

from ..errors import ConvergenceError, DomainError, NoClosedFormError
from ..numerics.compile import lambdify_mpmath
from ..numerics.expression import to_sympy
from ..numerics.mpcontext import sympy_evalf, thread_mp
from ..numerics.precision import GUARD_DIGITS, check_dps
from ..numerics.symbols import D_, a_, c_, z
from .activation import Activation
from .quadrature import hermite_table

__all__ = [
    "ACCURACY",
    "kink_points",
    "hermite_weight_terms",
    "hermite_weight_expr",
    "expect2_float",
    "expect2_mp",
    "expect1_float",
    "expect1_mp",
]

#: measured accuracy and cost (tests/kernels/test_kinks.py; figures in the module docstring)
ACCURACY = (
    "kink-aware quadrature: float64 composite Gauss-Legendre with the kinks as panel edges, "
    "relative error <= 1e-11 for Price partials up to total order 4 at variances 0.3..4, "
    "|c|/sqrt(ab) <= 0.95, |means| <= 1.5, absolute error ~1e-14 x E|s t H_PQ| for partials much "
    "smaller than that; 3-25 ms per value. mpmath nested quad (Gauss-Legendre) with the kinks as end "
    "points and its error estimate checked: 4-8 s (piecewise polynomials, sin, SELU) to ~15 s (erf, "
    "tanh) per value at 30 digits"
)

#: standard-normal variables for the Cholesky form and the Hermite weights
x_, y_ = sympy.symbols("x y", real=True)

_Q = 12  # Gauss-Legendre nodes per panel (float64)
_WIDTH = 0.5  # panel width / distance of the nearest complex pole (as quadrature._WIDTH)
_MAX_ORDER = 12  # P, Q <= 6 each in practice; the derivation works for any order


# ---------------------------------------------------------------------------
# kinks
# ---------------------------------------------------------------------------
#: functions whose non-smooth points cannot be listed (periodic jumps) or have no real meaning here
_REFUSED = (sympy.floor, sympy.ceiling, sympy.frac, sympy.Mod, sympy.re, sympy.im, sympy.arg)


def _normalise(expr):
    """``expr`` (SymPy expression, string or :class:`Activation`) rewritten in :data:`z`; a string
    is parsed by the restricted expression parser, never evaluated as Python."""
    if isinstance(expr, Activation):
        expr = expr.expr
    expr = to_sympy(expr, "expr")
    free = expr.free_symbols
    if len(free) > 1:
        raise ValueError(f"expression {expr} must depend on one variable, found {sorted(map(str, free))}")
    if free:
        sym = free.pop()
        if sym != z:
            expr = expr.xreplace({sym: z})
    return expr


def _real_roots(g, what):
    """Exact real roots of ``g(z)``; the boundary points if ``g`` vanishes on intervals."""
    if not g.has(z):
        return set()
    try:
        sol = sympy.solveset(g, z, sympy.S.Reals)
        if sol is sympy.S.EmptySet:
            return set()
        if not isinstance(sol, sympy.FiniteSet):
            if isinstance(sol, sympy.ConditionSet):
                raise NotImplementedError
            sol = sol.boundary
    except NotImplementedError:
        sol = None
    if not isinstance(sol, sympy.FiniteSet):
        raise NoClosedFormError(
            f"cannot list the kinks of {what}: the real roots of {g} are not a finite set of exact "
            f"numbers (found {sol}); kink-aware quadrature needs every non-smooth point"
        )
    out = set()
    for r in sol:
        if r in (sympy.oo, -sympy.oo):
            continue
        if r.is_real is False or r.free_symbols:
            continue
        if r.is_real is None:
            val = sympy_evalf(r, 50)
            if abs(sympy.im(val)) > 1e-40:
                continue
        out.add(r)
    return out


@functools.lru_cache(maxsize=None)
def _kinks_cached(expr):
    pts = set()
    for node in sympy.preorder_traversal(expr):
        if isinstance(node, _REFUSED) and node.has(z):
            raise NoClosedFormError(
                f"cannot list the kinks of {expr}: {type(node).__name__} has infinitely many or no "
                "well-defined non-smooth points"
            )
        args = []
        if isinstance(node, (sympy.Heaviside, sympy.DiracDelta, sympy.Abs, sympy.sign)):
            args = [node.args[0]]
        elif isinstance(node, (sympy.Max, sympy.Min)):
            xs = node.args
            args = [xs[i] - xs[j] for i in range(len(xs)) for j in range(i + 1, len(xs))]
        elif isinstance(node, sympy.Piecewise):
            for _, cond in node.args:
                if cond in (sympy.true, sympy.false) or not cond.has(z):
                    continue
                rels = cond.atoms(sympy.core.relational.Relational)
                if not rels:
                    raise NoClosedFormError(f"cannot list the kinks of {expr}: condition {cond} is not relational")
                args += [r.lhs - r.rhs for r in rels]
        elif isinstance(node, sympy.Pow) and node.base.has(z) and node.exp.is_integer is not True:
            args = [node.base]  # non-integer power: not smooth where the base vanishes
        elif isinstance(node, sympy.Pow) and node.base.has(z) and node.exp.is_negative:
            poles = _real_roots(node.base, expr)
            if poles:
                raise NoClosedFormError(
                    f"{expr} has poles at {sorted(poles, key=lambda r: sympy_evalf(r, 30))} (from {node}): "
                    "not a piecewise-smooth activation"
                )
        elif isinstance(node, sympy.log) and node.args[0].has(z):
            args = [node.args[0]]
        for g in args:
            pts |= _real_roots(g, expr)
    pts = sorted(pts, key=lambda r: sympy_evalf(r, 50))
    out = []
    for r in pts:  # drop exact duplicates written differently
        if out and abs(sympy_evalf(r - out[-1], 60)) < sympy.Float("1e-45"):
            continue
        out.append(r)
    return tuple(out)


def kink_points(expr) -> tuple:
    r"""Sorted exact real points where ``expr`` or one of its derivatives is not smooth.

    ``expr`` is a SymPy expression (or string, or :class:`~symland.kernels.activation.Activation`)
    in :data:`symland.kernels.activation.z` or any single free symbol.  Candidates are the
    real roots of the arguments of ``Heaviside``, ``DiracDelta``, ``Abs``, ``sign``,
    of the pairwise differences of ``Max``/``Min`` arguments, of the two sides of
    every relation in a ``Piecewise`` condition, and of the bases of non-integer
    powers and the arguments of ``log`` (a superset of the kinks: an extra point
    only adds a panel edge).  Returns ``()`` for smooth expressions.

    Raises :class:`~symland.errors.NoClosedFormError` when the candidates cannot be
    listed exactly (infinitely many, as for ``Heaviside(sin(z))``, or roots SymPy
    cannot find), and ``ValueError`` for more than one free symbol.
    """
    return _kinks_cached(_normalise(expr))


# ---------------------------------------------------------------------------
# Hermite weights
# ---------------------------------------------------------------------------
def _check_order(P, Q):
    for nm, v in (("P", P), ("Q", Q)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 0:
            raise ValueError(f"argument {nm} must be a non-negative integer (derivative order), got {v!r}")
    if P + Q > _MAX_ORDER:
        raise ValueError(f"derivative orders P + Q must be <= {_MAX_ORDER}, got P={P}, Q={Q}")
    return int(P), int(Q)


@functools.lru_cache(maxsize=None)
def hermite_weight_terms(P: int, Q: int):
    r"""$H_{P,Q}$ as exact terms ``((j, k, coefficient), ...)``: $H_{P,Q} = \sum C_{jk}(a, c, D)\,\mathrm{He}_j(x)\mathrm{He}_k(y)$.

    Derived from the generating function
    $\exp(g_1x + g_2y - (g_1^2 + g_2^2)/2)$, $g_1 = h_1/\sqrt a$,
    $g_2 = (ah_2 - ch_1)/\sqrt{aD}$: $H_{P,Q} = P!Q!\sum_{j+k=P+Q}
    \mathrm{He}_j(x)\mathrm{He}_k(y)[h_1^Ph_2^Q]g_1^jg_2^k/(j!k!)$.
    """
    P, Q = _check_order(P, Q)
    h1, h2 = sympy.symbols("h1 h2")
    g1 = h1 / sympy.sqrt(a_)
    g2 = (a_ * h2 - c_ * h1) / sympy.sqrt(a_ * D_)
    n = P + Q
    terms = []
    for j in range(n + 1):
        k = n - j
        poly = sympy.Poly(sympy.expand(g1**j * g2**k), h1, h2)
        coef = poly.coeff_monomial(h1**P * h2**Q)
        if coef != 0:
            coef = sympy.factor(sympy.factorial(P) * sympy.factorial(Q) * coef / (sympy.factorial(j) * sympy.factorial(k)))
            terms.append((j, k, coef))
    return tuple(terms)


def hermite_weight_expr(P: int, Q: int) -> sympy.Expr:
    r"""$H_{P,Q}(x, y; a, c, D)$ as one SymPy polynomial in the Cholesky variables :data:`x_`, :data:`y_`."""
    return sympy.Add(*(cf * sympy.hermite_prob(j, x_) * sympy.hermite_prob(k, y_) for j, k, cf in hermite_weight_terms(P, Q)))


@functools.lru_cache(maxsize=None)
def _coef_fn(P, Q, mp):
    terms = hermite_weight_terms(P, Q)
    coefficients = [cf for _, _, cf in terms]
    f = lambdify_mpmath((a_, c_, D_), coefficients) if mp else sympy.lambdify((a_, c_, D_), coefficients, modules="numpy")
    return [(j, k) for j, k, _ in terms], f


# ---------------------------------------------------------------------------
# compiled activations
# ---------------------------------------------------------------------------
@functools.lru_cache(maxsize=None)
def _compiled(expr):
    if expr.has(sympy.DiracDelta):
        raise NoClosedFormError(
            f"{expr} contains DiracDelta, which is not a function: the kink-aware quadrature "
            "evaluates the activation pointwise"
        )
    f = sympy.lambdify(z, expr, modules=["scipy", "numpy"])

    def g(v):
        with np.errstate(all="ignore"):  # overflow is reported once, as a DomainError on the result
            return np.asarray(f(v), dtype=float) * np.ones_like(v)

    return g


def _fold_constants(expr, digits: int):
    """``expr`` with every maximal z-free irrational subexpression (``erfc(sqrt(2)/2)``, ``exp(1/2)``,
    ``sqrt(pi)`` ...) replaced by its value to ``digits`` digits, so the mpmath function does not
    recompute it at every node."""
    if not expr.has(z):
        if expr.is_number and not expr.is_Rational and isinstance(expr, sympy.Expr):
            return sympy.Float(sympy_evalf(expr, digits + 5), digits + 5)
        return expr
    if not expr.args:
        return expr
    return expr.func(*(_fold_constants(a, digits) for a in expr.args))


@functools.lru_cache(maxsize=None)
def _compiled_mp(expr, digits: int):
    _compiled(expr)  # the same refusals
    return lambdify_mpmath(z, _fold_constants(expr, digits))


def _prepare(expr, mp_digits=None):
    """(expression in z, compiled function, kinks); float64 unless ``mp_digits`` (constants' digits)."""
    e = _normalise(expr)
    f = _compiled(e) if mp_digits is None else _compiled_mp(e, mp_digits)
    return e, f, kink_points(e)


# ---------------------------------------------------------------------------
# input checks
# ---------------------------------------------------------------------------
def _check_cov(a, b, c, D, m1, m2):
    vals = {"a": a, "b": b, "c": c, "D": D, "m1": m1, "m2": m2}
    for nm, v in vals.items():
        if not np.all(np.isfinite(v)):
            raise DomainError(f"argument {nm} must be finite")
    for nm in ("a", "b"):
        if np.any(vals[nm] <= 0):
            raise DomainError(
                f"argument {nm} is a variance and must be > 0 (the integration-by-parts weights need Sigma^-1)"
            )
    if np.any(D <= 0):
        raise DomainError("argument D = ab - c^2 must be > 0 (the integration-by-parts weights need Sigma^-1)")
    scale = a * b + c * c
    if np.any(np.abs(D - (a * b - c * c)) > 1e-8 * scale):
        raise DomainError("argument D must equal a*b - c**2 (to relative 1e-8)")


def _tail(n: int, eps: float, L0: float) -> float:
    """Smallest L >= L0 (step 0.25) with L^n phi(L) < eps."""
    L = L0
    while (n * math.log(L) - L * L / 2 - 0.5 * math.log(2 * math.pi)) > math.log(eps):
        L += 0.25
    return L


@functools.lru_cache(maxsize=None)
def _gl(nq):
    return np.polynomial.legendre.leggauss(nq)


def _panel_nodes(edges):
    """GL nodes/weights on panels between sorted ``edges`` (last axis); returns flattened last axis."""
    g, gw = _gl(_Q)
    half = (edges[..., 1:] - edges[..., :-1]) / 2
    mid = (edges[..., 1:] + edges[..., :-1]) / 2
    x = mid[..., :, None] + half[..., :, None] * g
    w = half[..., :, None] * gw
    shp = edges.shape[:-1] + (-1,)
    x = x.reshape(shp)
    w = w.reshape(shp) * np.exp(-x * x / 2) / np.sqrt(2 * np.pi)
    return x, w


def _edges(L, width, kinks):
    """Uniform edges of panels narrower than ``width`` on [-L, L] plus ``kinks`` (clipped), sorted."""
    n = int(min(4096, max(17, math.ceil(2 * L / width))))
    grid = np.linspace(-L, L, n + 1)
    kinks = np.clip(kinks, -L, L)
    if kinks.ndim == 1:
        return np.sort(np.concatenate([grid, kinks]))
    return np.sort(np.concatenate([np.broadcast_to(grid, kinks.shape[:-1] + grid.shape), kinks], axis=-1), axis=-1)


def _width(std):
    return min(1.0, _WIDTH * (np.pi / 2) / max(std, 1e-300))


# ---------------------------------------------------------------------------
# float64
# ---------------------------------------------------------------------------
_CHUNK = 1 << 20  # inner-grid points per numpy block (bounds memory at large variances)


def _one2(fs, ks, ft, kt, idx, cf, L, a, c, D, m1, m2):
    """One value: outer nodes in x (kinks of s as edges), inner nodes in y per outer node (kinks of t)."""
    sa = math.sqrt(a)
    mu, sig = c / sa, math.sqrt(D / a)
    X, WX = _panel_nodes(_edges(L, _width(sa), (ks - m1) / sa))
    SX = fs(m1 + sa * X) * WX
    keep = SX != 0  # rows where s vanishes (relu-like activations) need no inner integral
    X, SX = X[keep], SX[keep]
    if X.size == 0:
        return 0.0
    hx = hermite_table(max(j for j, _ in idx), X)
    need = sorted({k for _, k in idx})
    inner = {k: np.empty(X.size) for k in need}
    ny = _edges(L, _width(sig), kt[:0]).size * _Q + kt.size * _Q
    rows = max(1, _CHUNK // ny)
    for r0 in range(0, X.size, rows):
        Xb = X[r0:r0 + rows, None]
        Y, WY = _panel_nodes(_edges(L, _width(sig), (kt[None, :] - m2 - mu * Xb) / sig))
        T = ft(m2 + mu * Xb + sig * Y) * WY
        h0, h1 = np.ones_like(Y), Y
        for k in range(need[-1] + 1):  # He_k(y) by the three-term recurrence, moments on the fly
            hk = h0 if k == 0 else h1
            if k in inner:
                inner[k][r0:r0 + rows] = np.einsum("ij,ij->i", T, hk)
            if k >= 1:
                h0, h1 = h1, Y * h1 - k * h0
    return sum(C * np.dot(SX * hx[j], inner[k]) for (j, k), C in zip(idx, cf))


def expect2_float(s_expr, t_expr, P, Q, a, b, c, D, m1=0.0, m2=0.0):
    r"""$E[s^{(P)}(u)\,t^{(Q)}(v)]$ (distributional derivatives) in float64.

    $(u, v)$ Gaussian with means $(m_1, m_2)$ and covariance $[[a, c], [c, b]]$,
    $D = ab - c^2$ (passed separately, as computed accurately by the caller).
    Evaluated as $E[s(u)t(v)H_{P,Q}]$ by composite Gauss–Legendre with the kinks
    of $s$ (outer, in $x$) and of $t$ (inner, in $y$, moving with $x$) as panel
    edges; numpy-broadcast over ``a, b, c, D, m1, m2``.  Raises
    :class:`~symland.errors.DomainError` unless $a, b, D > 0$ and all finite.
    """
    P, Q = _check_order(P, Q)
    es, fs, ks = _prepare(s_expr)
    et, ft, kt = _prepare(t_expr)
    arrs = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (a, b, c, D, m1, m2)))
    _check_cov(*arrs)
    if _eval_cost(et) > _eval_cost(es):
        # the inner activation is evaluated ~10^5 times per value, the outer one ~10^3 times: exchange
        # the roles of (u, v) so that the cheaper one (no special function) is inside
        fs, ks, ft, kt, P, Q = ft, kt, fs, ks, Q, P
        arrs = [arrs[1], arrs[0], arrs[2], arrs[3], arrs[5], arrs[4]]
    shape = arrs[0].shape
    a, b, c, D, m1, m2 = (v.ravel() for v in arrs)
    ks = np.array([float(k) for k in ks], dtype=float)
    kt = np.array([float(k) for k in kt], dtype=float)
    idx, coef = _coef_fn(P, Q, False)
    L = _tail(P + Q, 1e-17, 8.5)
    out = np.empty(a.shape)
    for i in range(a.size):
        cf = [float(v) for v in coef(a[i], c[i], D[i])]
        out[i] = _one2(fs, ks, ft, kt, idx, cf, L, a[i], c[i], D[i], m1[i], m2[i])
    if not np.all(np.isfinite(out)):
        raise DomainError(
            f"E[s^({P})(u) t^({Q})(v)] is not finite at some inputs (the activations overflow in float64 "
            "at these variances and means)"
        )
    return out.reshape(shape) if shape else float(out[0])


def _check_1d(t, m):
    for nm, v in (("t", t), ("m", m)):
        if not np.all(np.isfinite(v)):
            raise DomainError(f"argument {nm} must be finite")
    if np.any(t <= 0):
        raise DomainError("argument t is a variance and must be > 0 (the integration-by-parts weight needs 1/t)")


def _check_n(n):
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0 or n > _MAX_ORDER:
        raise ValueError(f"argument n must be an integer in 0..{_MAX_ORDER} (derivative order), got {n!r}")
    return int(n)


def expect1_float(h_expr, n, t, m=0.0):
    r"""$E[h^{(n)}(u)]$, $u \sim N(m, t)$ (distributional derivative), in float64.

    $= t^{-n/2}E[h(u)\mathrm{He}_n((u - m)/\sqrt t)]$ by composite Gauss–Legendre with
    the kinks of $h$ as panel edges; broadcast over ``t, m``.
    """
    n = _check_n(n)
    _, fh, kh = _prepare(h_expr)
    tt, mm = np.broadcast_arrays(np.asarray(t, dtype=float), np.asarray(m, dtype=float))
    _check_1d(tt, mm)
    shape = tt.shape
    tt, mm = tt.ravel(), mm.ravel()
    kh = np.array([float(k) for k in kh], dtype=float)
    L = _tail(n, 1e-17, 8.5)
    out = np.empty(tt.shape)
    for i in range(tt.size):
        st = math.sqrt(tt[i])
        X, W = _panel_nodes(_edges(L, _width(st), (kh - mm[i]) / st))
        out[i] = np.dot(fh(mm[i] + st * X) * W, hermite_table(n, X)[n]) / st**n
    if not np.all(np.isfinite(out)):
        raise DomainError(f"E[h^({n})(u)] is not finite at some inputs (h overflows in float64)")
    return out.reshape(shape) if shape else float(out[0])


# ---------------------------------------------------------------------------
# mpmath
# ---------------------------------------------------------------------------
#: digits beyond the requested ones at which s and t (and so their irrational constants) and the kinks
#: are evaluated: the context's guard digits
_GUARD_EVAL = GUARD_DIGITS
#: working digits of the nested Gauss-Legendre rule beyond the requested ones.  Fewer than the
#: context's GUARD_DIGITS for speed: the cost of mpmath's Gauss-Legendre grows with the working
#: precision (its degree and node computation), and the error estimate is checked against ``dps``
#: digits, so these digits only absorb the rounding of the rule itself.
_GUARD_QUAD = 8


def _mp_tail(n, dps):
    """L with L^n phi(L) < 10^-(dps + _GUARD_EVAL)."""
    return thread_mp.mpf(_tail(n, 10.0 ** (-(dps + _GUARD_EVAL)), 8.5))


def _points(L, width, kinks):
    """Interval end points for mpmath quad: [-L, L] cut into pieces of at most ``width`` and at the kinks."""
    n = max(2, int(math.ceil(2 * float(L) / width)))
    pts = [-L + 2 * L * i / n for i in range(n + 1)]
    pts += [k for k in kinks if -L < k < L]
    return sorted(set(pts))


def _mp_check(val, err, what, dps):
    tol = thread_mp.mpf(10) ** (-dps) * max(1, abs(val))
    if not (err <= tol):
        raise ConvergenceError(
            f"mpmath quadrature of {what} did not reach {dps} digits (error estimate "
            f"{thread_mp.nstr(err, 3)}, value {thread_mp.nstr(val, 10)}); the integrand may not be "
            "piecewise analytic between the listed kinks",
            [thread_mp.nstr(err, 5)],
        )


def _mp_width(std):
    """Panel width in the standard-normal variable for mpmath's Gauss-Legendre.

    Much wider than in float64: mpmath raises the degree instead of splitting, and wide
    panels are cheapest for entire integrands (measured: 7 -> 14 halves the cost for
    relu x relu); for tanh-like poles at distance pi/(2 std), at most 8x that distance
    (but not below 7).
    """
    return max(7.0, min(14.0, 8 * (math.pi / 2) / max(float(std), 1e-300)))


def _hermite_poly_coeffs(n):
    """Monomial coefficients of He_0..He_n (exact integers), highest degree first, for polyval."""
    out = []
    for k in range(n + 1):
        p = sympy.Poly(sympy.hermite_prob(k, x_), x_)
        out.append([int(cf) for cf in p.all_coeffs()])
    return out


def _at_eval_precision(f, dps):
    """``f`` evaluated at ``dps + _GUARD_EVAL`` digits (so its irrational constants carry them)."""
    prec = dps + _GUARD_EVAL

    def g(x):
        with thread_mp.workdps(prec):
            return f(x)

    return g


def _mp_kinks(kinks, dps):
    return [thread_mp.mpf(sympy_evalf(k, dps + _GUARD_EVAL + 5)) for k in kinks]


def _mp_scalars(names, values):
    for nm, v in zip(names, values):
        if np.ndim(v) != 0:
            raise ValueError(f"argument {nm} must be a scalar on the mpmath path")
    out = []
    for nm, v in zip(names, values):
        try:
            out.append(thread_mp.mpf(v))
        except (TypeError, ValueError):
            raise DomainError(f"argument {nm} must be a real number, got {v!r}") from None
    return out


_CHEAP = (sympy.Max, sympy.Min, sympy.Heaviside, sympy.Abs, sympy.sign, sympy.Piecewise)
_LIGHT = (sympy.sin, sympy.cos, sympy.exp, sympy.log)


def _eval_cost(expr) -> float:
    """Rough cost of one mpmath evaluation of ``expr`` relative to the quadrature's own work per node.

    Measured at 38-45 digits: kink functions and arithmetic ~0, sin/cos/exp/log ~0.3, erf, tanh and
    other special functions ~3 (each).
    """
    n = 0.0
    for node in sympy.preorder_traversal(expr):
        if not node.has(z) or isinstance(node, _CHEAP):
            continue
        if isinstance(node, _LIGHT) or (isinstance(node, sympy.Pow) and node.exp.is_integer is not True):
            n += 0.3
        elif isinstance(node, sympy.Function):
            n += 3.0
    return n


def _zero_fraction(expr, mean, std, L) -> float:
    """Fraction of a uniform grid on [-L, L] where ``expr(mean + std x)`` is exactly 0 (those outer nodes
    need no inner integral)."""
    x = np.linspace(-float(L), float(L), 201)
    with np.errstate(all="ignore"):
        vals = _compiled(expr)(float(mean) + float(std) * x)
    return float(np.mean(vals == 0))


def _inner_is_s(es, et, a, b, m1, m2, L) -> bool:
    """True when the nested rule is cheaper with s inside: the inner activation is evaluated once per
    (outer node where the outer activation is nonzero) x (inner node)."""
    keep_s = 1 - _zero_fraction(es, m1, thread_mp.sqrt(a), L)
    keep_t = 1 - _zero_fraction(et, m2, thread_mp.sqrt(b), L)
    return keep_t * (1 + _eval_cost(es)) < keep_s * (1 + _eval_cost(et))


def expect2_mp(s_expr, t_expr, P, Q, a, b, c, D, m1=0, m2=0, dps=30):
    r"""$E[s^{(P)}(u)\,t^{(Q)}(v)]$ at ``dps`` digits (one mpmath number).

    Same formula as :func:`expect2_float`; nested ``mpmath.quad``
    (Gauss–Legendre) on $[-L_{mp}, L_{mp}]^2$ in the Cholesky variables with the
    kinks of $s$ and (for each outer node) of $t$ as interval end points, at
    ``dps + 8`` working digits, $s$ and $t$ evaluated at ``dps + 15``.  The
    outer error estimate and the worst inner one (times the outer weight and the
    interval length) must be below $10^{-dps}\max(1, |value|)$, else
    :class:`~symland.errors.ConvergenceError`.  The inner activation is
    evaluated ~10^5 times, the outer one ~10^3 times, so the roles of $(u, v)$
    are exchanged when a cost estimate (special functions, and outer nodes
    where the outer activation vanishes) says so.  Cost: see the module docstring.
    """
    P, Q = _check_order(P, Q)
    dps = check_dps(dps)
    es, fs, ks = _prepare(s_expr, dps + _GUARD_EVAL)
    et, ft, kt = _prepare(t_expr, dps + _GUARD_EVAL)
    with thread_mp.workdps(dps + _GUARD_EVAL):
        a, b, c, D, m1, m2 = _mp_scalars(("a", "b", "c", "D", "m1", "m2"), (a, b, c, D, m1, m2))
        _check_cov(*(np.array(float(v) if thread_mp.isfinite(v) else np.nan) for v in (a, b, c, D, m1, m2)))
    if _inner_is_s(es, et, a, b, m1, m2, _mp_tail(P + Q, dps)):
        # the inner activation is evaluated ~10^5 times, the outer one ~10^3 times: exchange the roles
        # of (u, v) when that is cheaper (E[s^(P)(u) t^(Q)(v)] is the same expectation)
        es, fs, ks, et, ft, kt = et, ft, kt, es, fs, ks
        P, Q, a, b, m1, m2 = Q, P, b, a, m2, m1
    fs, ft = _at_eval_precision(fs, dps), _at_eval_precision(ft, dps)
    with thread_mp.workdps(dps + _GUARD_EVAL):
        ks, kt = _mp_kinks(ks, dps), _mp_kinks(kt, dps)
        idx, coef = _coef_fn(P, Q, True)
        cf = coef(a, c, D)
        sa = thread_mp.sqrt(a)
        mu, sig = c / sa, thread_mp.sqrt(D / a)
        L = _mp_tail(P + Q, dps)
        xk = [(k - m1) / sa for k in ks]
    nx, ny = max(j for j, _ in idx), max(k for _, k in idx)
    he = _hermite_poly_coeffs(max(nx, ny))
    with thread_mp.workdps(dps + _GUARD_QUAD):
        norm = 1 / thread_mp.sqrt(2 * thread_mp.pi)
        xpts = _points(L, _mp_width(sa), xk)
        wy = _mp_width(sig)
        worst = [thread_mp.mpf(0)]

        def outer(x):
            sv = fs(m1 + sa * x)
            if not sv:
                return thread_mp.mpf(0)
            weight = sv * thread_mp.exp(-x * x / 2) * norm
            hx = [thread_mp.polyval(he[j], x) for j in range(nx + 1)]
            # H as a polynomial in y at this x: sum_k A_k He_k(y), A_k = sum_j C_jk He_j(x)
            A = [thread_mp.mpf(0)] * (ny + 1)
            for (j, k), C in zip(idx, cf):
                A[k] += C * hx[j]
            poly = [thread_mp.mpf(0)] * (ny + 1)  # monomial coefficients, highest degree first
            for k in range(ny + 1):
                if A[k]:
                    for d, h in enumerate(he[k]):
                        poly[ny - k + d] += A[k] * h
            base = m2 + mu * x
            ypts = _points(L, wy, [(k - base) / sig for k in kt])
            val, err = thread_mp.quad(
                lambda y: ft(base + sig * y) * thread_mp.polyval(poly, y) * thread_mp.exp(-y * y / 2),
                ypts, method="gauss-legendre", error=True,
            )
            worst[0] = max(worst[0], abs(weight) * err * norm)
            return weight * val * norm

        val, err = thread_mp.quad(outer, xpts, method="gauss-legendre", error=True)
        _mp_check(val, max(err, worst[0] * 2 * L), f"E[s^({P})(u) t^({Q})(v)] for s = {es}, t = {et}", dps)
    with thread_mp.workdps(dps):
        return +val


def expect1_mp(h_expr, n, t, m=0, dps=30):
    r"""$E[h^{(n)}(u)]$, $u \sim N(m, t)$, at ``dps`` digits: $t^{-n/2}E[h(u)\mathrm{He}_n((u-m)/\sqrt t)]$ by
    ``mpmath.quad`` (Gauss–Legendre) split at the kinks of $h$, error estimate checked
    (working digits and guards as :func:`expect2_mp`)."""
    n = _check_n(n)
    dps = check_dps(dps)
    eh, fh, kh = _prepare(h_expr, dps + _GUARD_EVAL)
    fh = _at_eval_precision(fh, dps)
    with thread_mp.workdps(dps + _GUARD_EVAL):
        t, m = _mp_scalars(("t", "m"), (t, m))
        _check_1d(np.array(float(t) if thread_mp.isfinite(t) else np.nan), np.array(float(m) if thread_mp.isfinite(m) else np.nan))
        st = thread_mp.sqrt(t)
        xk = [(k - m) / st for k in _mp_kinks(kh, dps)]
        L = _mp_tail(n, dps)
    he = _hermite_poly_coeffs(n)[n]
    with thread_mp.workdps(dps + _GUARD_QUAD):
        norm = 1 / thread_mp.sqrt(2 * thread_mp.pi)
        pts = _points(L, _mp_width(st), xk)
        val, err = thread_mp.quad(
            lambda x: fh(m + st * x) * thread_mp.polyval(he, x) * thread_mp.exp(-x * x / 2),
            pts, method="gauss-legendre", error=True,
        )
        val, err = val * norm / st**n, err * norm / st**n
        _mp_check(val, err, f"E[h^({n})(u)] for h = {eh}", dps)
    with thread_mp.workdps(dps):
        return +val
