r"""Kernels with means: neurons $s(w\cdot x + \beta)$ and teacher/student pairs of activations.

For pre-activations $(u, v)$ jointly Gaussian with means $(\mu_1, \mu_2)$,
variances $a, b$ and covariance $c$, the kernel with means is

.. math:: \kappa(a, b, c, \mu_1, \mu_2) = E[s(u)\,t(v)]

($t = s$ for a single activation).  Price's theorem with means gives every
partial derivative as an expectation of derivatives:

.. math:: \partial_a^i\partial_b^j\partial_c^l\partial_{\mu_1}^p\partial_{\mu_2}^q\kappa
          = 2^{-i-j}\,E\!\left[s^{(2i+l+p)}(u)\,t^{(2j+l+q)}(v)\right].

Closed forms (exact SymPy, in ``a, b, c, D, mu1, mu2`` with $D = ab - c^2$),
derived in ``derivations/bias_kernels.py``:

* **piecewise polynomials** $s(z) = P(z) + \mathbf 1[z>0]\,Q(z)$ (relu, step,
  sign, leaky relu, abs, relu powers, linear, quadratic, monomials, Hermite,
  any pair of them): Stein's lemma $E[u f(u) g(v)] = \mu_1 E[fg] + aE[f'g] + cE[fg']$
  reduces everything to $E[\mathbf 1[u>0]\mathbf 1[v>0]] = \Phi_2(h, k; \rho)$
  ($h = \mu_1/\sqrt a$, $k = \mu_2/\sqrt b$, $\rho = c/\sqrt{ab}$), to
  $\delta$ terms $E[\delta(u) g(v)] = \varphi(h)/\sqrt a\;E[g(v)\mid u = 0]$ and
  to one-dimensional truncated moments;
* **the normal CDF family** $s = p + q\,\Phi(rz)$ (``normal_cdf``, ``erf`` =
  $2\Phi(z) - 1$, ``erf_plain`` = $2\Phi(\sqrt2 z) - 1$):
  $E[\Phi(ru)\Phi(r'v)] = \Phi_2\big(r\mu_1/\sqrt{1+r^2a},\ r'\mu_2/\sqrt{1+r'^2b};\ rr'c/\sqrt{(1+r^2a)(1+r'^2b)}\big)$;
* **Gaussian-exponential sums** $s = \sum_k C_k e^{\alpha_k z^2 + \lambda_k z}$
  ($\alpha_k \le 0$, complex $\lambda_k$: ``exp``, ``sin``/``cos`` with
  frequency, the Gaussian bump with width): the Gaussian integral
  $E[e^{-\frac12 x^\top A x + \lambda^\top x}] = \det(I + \Sigma A)^{-1/2}
  \exp(-\tfrac12 m^\top A m + \lambda^\top m + \tfrac12\nu^\top\Sigma(I + A\Sigma)^{-1}\nu)$,
  $\nu = \lambda - Am$.

$\Phi_2$ is :class:`symland.kernels.normal.BivariateNormalCDF` (a SymPy function with its
derivative rules, evaluated through Owen's $T$, :class:`symland.kernels.normal.OwensT`).  Pairs without a closed
form (gelu, selu, tanh, sigmoid, softplus, user activations, or two activations
of different families) use quadrature (:func:`mean_kernel_method`):

* **1-D reduction** when either activation has a closed-form mean function
  $m_t(\mu, \sigma) = E[t(\mu + \sigma y)]$ (:mod:`symland.kernels.gaussian_atoms`): conditioning on $u$,
  $E[s^{(P)}(u)t^{(Q)}(v)] = E_u[s^{(P)}(u)\,\partial_\mu^Q m_t(\mu_2 + c(u - \mu_1)/a, \sqrt{D/a})]$,
  taken by parts when $s$ is kinked (only $s$ is evaluated) and split at its
  kinks (:mod:`symland.kernels.fallback`); this covers selu with biases and every kinked
  activation with a teacher of another family;
* **2-D quadrature** otherwise: on classical derivatives for smooth pairs
  (tanh, sigmoid, softplus, silu; :mod:`symland.kernels.quadrature`), and split at the
  kinks with the derivatives moved onto the Gaussian density for kinked user
  activations (:mod:`symland.kernels.kinks`).

Index convention for partials: ``(i, j, l, p, q)`` = orders in ``(a, b, c, mu1, mu2)``.
The diagonal $\varphi(t, m) = E[s(u)^2]$, $u \sim N(m, t)$, with index ``(i, p)``
in ``(t, m)``, is kept separately (it is smooth where $\kappa$'s partials are
singular at $D = 0$); $\partial_t^i\partial_m^p\varphi = 2^{-i}E[(s^2)^{(2i+p)}(u)]$.
"""

from __future__ import annotations

import functools
import operator

import numpy as np
import sympy

from ..errors import DomainError, NoClosedFormError
from ..numerics.ball import as_ball, lambdify_ball, may_be_zero, unbounded_ball
from ..numerics.compile import lambdify_mpmath
from ..numerics.mpcontext import thread_mp
from ..numerics.precision import Precision, check_covariance, gram_determinant, mp_kernel_arguments
from ..numerics.symbols import D_, a_, b_, c_, t_, z
from . import gaussian_atoms as _atoms
from . import fallback
from .activation import Activation
from .normal import MPMATH_FUNCTIONS, NUMPY_MODULES, BivariateNormalCDF, Phi, phi
from .quadrature import derivative_function, expect1_float, expect1_mp, expect2_float, expect2_mp
from .registry import activation

__all__ = [
    "mu1_",
    "mu2_",
    "m_",
    "MEAN_ARGS",
    "DIAG_ARGS",
    "mean_kernel_expr",
    "mean_partial_expr",
    "mean_diagonal_expr",
    "mean_kernel_method",
    "mean_partial_evaluator",
    "mean_partials_evaluator",
    "mean_diagonal_evaluator",
    "ball_mean_partials_evaluator",
    "ball_mean_diagonal_evaluator",
    "kernel_with_means",
    "diagonal_with_means",
]

#: means of the two pre-activations, and the mean of the diagonal's variable
mu1_, mu2_ = sympy.symbols("mu1 mu2", real=True)
m_ = sympy.Symbol("m", real=True)
#: argument order of every compiled kernel-with-means expression
MEAN_ARGS = (a_, b_, c_, D_, mu1_, mu2_)
#: argument order of compiled diagonal expressions
DIAG_ARGS = (t_, m_)

_sqrt2 = sympy.sqrt(2)


@functools.lru_cache(maxsize=None)
def _compile(expr, args, mp):
    if mp:
        return lambdify_mpmath(args, expr, MPMATH_FUNCTIONS, cse=True)
    return sympy.lambdify(args, expr, modules=NUMPY_MODULES, cse=True)


# ---------------------------------------------------------------------------
# decomposition of an activation into a family
# ---------------------------------------------------------------------------
def _poly_coeffs(expr, var):
    """{degree: coefficient} of a polynomial with exact coefficients, or None."""
    expr = sympy.expand(expr)
    if not expr.is_polynomial(var):
        return None
    poly = sympy.Poly(expr, var)
    if poly.free_symbols_in_domain:
        return None
    out = {}
    for (j,), co in poly.terms():
        co = sympy.nsimplify(co) if co.atoms(sympy.Float) else co
        if co.atoms(sympy.Float):
            return None
        out[int(j)] = co
    return out


@functools.lru_cache(maxsize=None)
def _family(act: Activation):
    r"""Classify $s$: ``("pp", P, Q)``, ``("phi", p, q, r)``, ``("gexp", ((C, alpha, lam), ...))`` or None.

    ``pp``: $s = \sum_j P_j z^j + \mathbf 1[z>0]\sum_j Q_j z^j$ (from the
    branches $z > 0$ and $z < 0$, both polynomials).  ``phi``: $s = p + q\Phi(rz)$.
    ``gexp``: $s = \sum C e^{\alpha z^2 + \lambda z}$ with real $\alpha \le 0$.
    """
    expr = act.expr
    zp, zn = sympy.Symbol("zp", positive=True), sympy.Symbol("zn", negative=True)

    def branch(x):
        e = expr.subs(z, x)  # Max, Min, Abs, Heaviside, sign evaluate on a signed symbol
        if not e.is_polynomial(x) and e.has(sympy.Piecewise, sympy.Max, sympy.Min, sympy.Abs, sympy.sign):
            e = sympy.simplify(e)
        return _poly_coeffs(e, x)

    sp_, sn_ = branch(zp), branch(zn)
    if sp_ is not None and sn_ is not None:
        Q = {j: sp_.get(j, 0) - sn_.get(j, 0) for j in set(sp_) | set(sn_)}
        return ("pp", tuple(sorted(sn_.items())), tuple(sorted((j, v) for j, v in Q.items() if v != 0)))
    P, Qw, R = (sympy.Wild(n, exclude=[z]) for n in "PQR")
    e = sympy.expand(expr)
    mt = e.match(P + Qw * sympy.erf(R * z))
    if mt and mt[R] != 0 and mt[Qw] != 0 and all(v.is_real and not v.atoms(sympy.Float) for v in mt.values()):
        # p + q erf(r z) = (p - q) + 2q Phi(sqrt2 r z)
        return ("phi", mt[P] - mt[Qw], 2 * mt[Qw], _sqrt2 * mt[R])
    terms = []
    e = sympy.powsimp(sympy.expand(expr.rewrite(sympy.exp)))
    for term in sympy.Add.make_args(e):
        coef, dep = term.as_independent(z, as_Add=False)
        if dep == 1:
            arg = sympy.Integer(0)
        elif isinstance(dep, sympy.exp):
            arg = dep.args[0]
        else:
            return None
        pc = _poly_coeffs(arg, z)
        if pc is None or max(pc, default=0) > 2:
            return None
        alpha, lam = pc.get(2, sympy.Integer(0)), pc.get(1, sympy.Integer(0))
        if not (alpha.is_real and alpha <= 0):
            return None
        terms.append((coef * sympy.exp(pc.get(0, 0)), alpha, lam))
    if terms and not all(a == 0 and l == 0 for _, a, l in terms):
        return ("gexp", tuple(terms))
    return None


# ---------------------------------------------------------------------------
# piecewise polynomials: Stein recursion
# ---------------------------------------------------------------------------
_sa, _sb, _sD = sympy.sqrt(a_), sympy.sqrt(b_), sympy.sqrt(D_)


def _moment1(kind, j, mu, sig):
    r"""$E[X(y)]$, $y \sim N(\mu, \sigma^2)$: ``("z", j)`` $y^j$ or ``("r", j)`` $\mathbf 1[y>0]y^j$."""
    if kind == "z":
        total = sympy.Integer(0)
        for k in range(0, j + 1, 2):
            total += sympy.binomial(j, k) * mu ** (j - k) * sig**k * (sympy.factorial2(k - 1) if k else 1)
        return total
    # truncated moments: M_0 = Phi(mu/sig), M_1 = mu M_0 + sig phi(mu/sig), M_j = mu M_{j-1} + (j-1) sig^2 M_{j-2}
    M = [Phi(mu / sig)]
    if j >= 1:
        M.append(mu * M[0] + sig * phi(mu / sig))
    for q in range(2, j + 1):
        M.append(mu * M[q - 1] + (q - 1) * sig**2 * M[q - 2])
    return M[j]


def _pp_pair(X, Y):
    r"""$E[X(u)Y(v)]$ for basis functions ``("z", j)`` = $z^j$, ``("r", j)`` = $\mathbf 1[z>0]z^j$."""
    return _pp_cache(X, Y)


@functools.lru_cache(maxsize=None)
def _pp_cache(X, Y):
    (kx, i), (ky, j) = X, Y
    if i >= 1:  # Stein on u: E[u f(u) g(v)] = mu1 E[fg] + a E[f'g] + c E[fg']
        f = (kx, i - 1)
        return mu1_ * _pp_cache(f, Y) + a_ * _pp_deriv_left(f, Y) + c_ * _pp_deriv_right(f, Y)
    if j >= 1:
        g = (ky, j - 1)
        return mu2_ * _pp_cache(X, g) + b_ * _pp_deriv_right(X, g) + c_ * _pp_deriv_left(X, g)
    # base: X, Y in {1, step}
    h, k = mu1_ / _sa, mu2_ / _sb
    if kx == "z" and ky == "z":
        return sympy.Integer(1)
    if kx == "r" and ky == "z":
        return Phi(h)
    if kx == "z" and ky == "r":
        return Phi(k)
    return BivariateNormalCDF(h, k, c_ / (_sa * _sb), _sD / (_sa * _sb))


def _pp_deriv_left(f, Y):
    """$E[f'(u) Y(v)]$ for a basis function f (a delta when f is the step)."""
    kind, i = f
    if i >= 1:
        return i * _pp_cache((kind, i - 1), Y)
    if kind == "z":
        return sympy.Integer(0)
    # E[delta(u) Y(v)] = phi(mu1/sqrt a)/sqrt a * E[Y(v) | u = 0], v|u=0 ~ N(mu2 - c mu1/a, D/a)
    return phi(mu1_ / _sa) / _sa * _moment1(Y[0], Y[1], mu2_ - c_ * mu1_ / a_, _sD / _sa)


def _pp_deriv_right(X, g):
    kind, j = g
    if j >= 1:
        return j * _pp_cache(X, (kind, j - 1))
    if kind == "z":
        return sympy.Integer(0)
    return phi(mu2_ / _sb) / _sb * _moment1(X[0], X[1], mu1_ - c_ * mu2_ / b_, _sD / _sb)


def _pp_basis(fam):
    _, P, Q = fam
    return [(("z", j), co) for j, co in P] + [(("r", j), co) for j, co in Q]


# ---------------------------------------------------------------------------
# kernel expressions
# ---------------------------------------------------------------------------
_IU = sympy.Symbol("iu")


def _re_im(e):
    """Real and imaginary part of a rational expression in real symbols with complex constants."""
    num, den = sympy.fraction(sympy.together(e))
    if den.has(sympy.I):
        num, den = sympy.expand(num * sympy.conjugate(den)), sympy.expand(den * sympy.conjugate(den))
    r = sympy.Poly(sympy.expand(num.subs(sympy.I, _IU)), _IU).rem(sympy.Poly(_IU**2 + 1, _IU))
    return r.coeff_monomial(1) / den, r.coeff_monomial(_IU) / den


def _gexp_term(t1, t2):
    r"""Real part of $C_1C_2E[e^{\alpha_1u^2+\lambda_1u}e^{\alpha_2v^2+\lambda_2v}]$ (general Gaussian integral).

    With $A = \mathrm{diag}(-2\alpha_1, -2\alpha_2)$, $\nu = \lambda - Am$:
    $\det(I + \Sigma A)^{-1/2}\exp(-\tfrac12 m^\top Am + \lambda^\top m
    + \tfrac12\nu^\top\Sigma\,\mathrm{adj}(I + A\Sigma)\nu/\det(I + \Sigma A))$.
    The exponent $X + iY$ and the constant $C_r + iC_i$ are split exactly, so the
    real part is $e^X(C_r\cos Y - C_i\sin Y)/\sqrt{\det}$ (the sum over all
    terms of a real activation pair is real, so this is the kernel).
    """
    (C1, al1, la1), (C2, al2, la2) = t1, t2
    S = sympy.Matrix([[a_, c_], [c_, b_]])
    A = sympy.diag(-2 * al1, -2 * al2)
    m = sympy.Matrix([mu1_, mu2_])
    lam = sympy.Matrix([la1, la2])
    det = sympy.expand((sympy.eye(2) + S * A).det())
    nu = lam - A * m
    quad = (nu.T * S * (sympy.eye(2) + A * S).adjugate() * nu)[0] / det
    expo = -(m.T * A * m)[0] / 2 + (lam.T * m)[0] + quad / 2
    X, Y = _re_im(expo)
    Cr, Ci = (sympy.nsimplify(v) if v.atoms(sympy.Float) else v for v in sympy.expand_complex(C1 * C2).as_real_imag())
    return sympy.exp(sympy.factor(X)) * (Cr * sympy.cos(sympy.factor(Y)) - Ci * sympy.sin(sympy.factor(Y))) / sympy.sqrt(det)


@functools.lru_cache(maxsize=None)
def _mean_kernel_cached(s: Activation, t: Activation):
    fs, ft = _family(s), _family(t)
    if fs is None or ft is None or fs[0] != ft[0]:
        return None
    if fs[0] == "pp":
        total = sympy.Integer(0)
        for X, cx in _pp_basis(fs):
            for Y, cy in _pp_basis(ft):
                total += cx * cy * _pp_pair(X, Y)
        return total
    if fs[0] == "phi":
        _, p1, q1, r1 = fs
        _, p2, q2, r2 = ft
        n1, n2 = 1 + r1**2 * a_, 1 + r2**2 * b_
        h, k = r1 * mu1_ / sympy.sqrt(n1), r2 * mu2_ / sympy.sqrt(n2)
        rho = r1 * r2 * c_ / sympy.sqrt(n1 * n2)
        q = sympy.sqrt(1 + r1**2 * a_ + r2**2 * b_ + r1**2 * r2**2 * D_) / sympy.sqrt(n1 * n2)
        return p1 * p2 + p1 * q2 * Phi(k) + q1 * p2 * Phi(h) + q1 * q2 * BivariateNormalCDF(h, k, rho, q)
    return sum((_gexp_term(t1, t2) for t1 in fs[1] for t2 in ft[1]), sympy.Integer(0))


def mean_kernel_expr(s, t=None):
    r"""Exact $E[s(u)t(v)]$ with means in ``a, b, c, D, mu1, mu2`` ($t = s$ by default), or None.

    ``None`` means no closed form is known for the pair; then quadrature is used.
    """
    s = activation(s)
    t = s if t is None else activation(t)
    return _mean_kernel_cached(s, t)


def _check_index5(index):
    try:
        idx = tuple(operator.index(v) for v in index)
    except (TypeError, ValueError):
        raise ValueError(f"index must be 5 non-negative integers (a, b, c, mu1, mu2), got {index!r}") from None
    if len(idx) != 5 or min(idx) < 0:
        raise ValueError(f"index must be 5 non-negative integers (a, b, c, mu1, mu2), got {index!r}")
    return idx


@functools.lru_cache(maxsize=None)
def _pp_dm(X, Y, p, q):
    r"""$\partial_{\mu_1}^p\partial_{\mu_2}^q E[X(u)Y(v)] = E[X^{(p)}(u)Y^{(q)}(v)]$ at the basis level.

    Basis derivatives: $(z^j)' = jz^{j-1}$, $(\mathbf 1[z>0]z^j)' = j\mathbf 1[z>0]z^{j-1}$
    ($j \ge 1$), and the step's derivative is the delta, whose (small) term
    $E[\delta(u)Y(v)]$ is then differentiated symbolically in the means.
    """
    if p:
        kind, j = X
        if j:
            return j * _pp_dm((kind, j - 1), Y, p - 1, q)
        if kind == "z":
            return sympy.Integer(0)
        return _diff_means(_pp_deriv_left(("r", 0), Y), p - 1, q)
    if q:
        kind, j = Y
        if j:
            return j * _pp_dm(X, (kind, j - 1), p, q - 1)
        if kind == "z":
            return sympy.Integer(0)
        return _diff_means(_pp_deriv_right(X, ("r", 0)), 0, q - 1)
    return _pp_pair(X, Y)


def _diff_means(e, p, q):
    if p:
        e = sympy.diff(e, mu1_, p)
    if q:
        e = sympy.diff(e, mu2_, q)
    return e


@functools.lru_cache(maxsize=None)
def _mean_derivative(s, t, p, q):
    r"""$\partial_{\mu_1}^p\partial_{\mu_2}^q\kappa$ (closed form)."""
    fs, ft = _family(s), _family(t)
    if fs[0] == "pp":
        total = sympy.Integer(0)
        for X, cx in _pp_basis(fs):
            for Y, cy in _pp_basis(ft):
                total += cx * cy * _pp_dm(X, Y, p, q)
        return total
    if p:
        return sympy.diff(_mean_derivative(s, t, p - 1, q), mu1_)
    if q:
        return sympy.diff(_mean_derivative(s, t, p, q - 1), mu2_)
    return _mean_kernel_cached(s, t)


def _partial_cached(s, t, index):
    r"""Price/heat equation with means: $\partial_a^i\partial_b^j\partial_c^l\partial_{\mu_1}^p\partial_{\mu_2}^q\kappa
    = 2^{-i-j}\partial_{\mu_1}^{2i+l+p}\partial_{\mu_2}^{2j+l+q}\kappa$ (both sides equal
    $2^{-i-j}E[s^{(2i+l+p)}(u)t^{(2j+l+q)}(v)]$), so only derivatives in the means are taken."""
    i, j, l, p, q = index
    return _mean_derivative(s, t, 2 * i + l + p, 2 * j + l + q) / 2 ** (i + j)


def mean_partial_expr(s, index, t=None):
    r"""$\partial_a^i\partial_b^j\partial_c^l\partial_{\mu_1}^p\partial_{\mu_2}^q$ of the kernel with means (closed form).

    Taken as derivatives in the means (Price/heat equation, see
    :func:`_partial_cached`).  Raises
    :class:`~symland.errors.NoClosedFormError` when the pair has no closed form.
    """
    s = activation(s)
    t = s if t is None else activation(t)
    if _mean_kernel_cached(s, t) is None:
        raise NoClosedFormError(f"no closed-form kernel with means for the pair ({s.name}, {t.name})")
    return _partial_cached(s, t, _check_index5(index))


@functools.lru_cache(maxsize=None)
def _diag_cached(s: Activation, index):
    i, p = index
    if i:  # heat equation: d/dt E[g(u)] = 1/2 d^2/dm^2 E[g(u)], u ~ N(m, t)
        e = _diag_cached(s, (0, 2 * i + p))
        return None if e is None else e / 2**i
    if p:
        e = _diag_cached(s, (0, p - 1))
        return None if e is None else sympy.diff(e, m_)
    fam = _family(s)
    if fam is None:
        return None
    if fam[0] == "pp":
        # s = P + 1[z>0] Q  =>  s^2 = P^2 + 1[z>0](2PQ + Q^2)
        P = sum((co * z**j for j, co in fam[1]), sympy.Integer(0))
        Q = sum((co * z**j for j, co in fam[2]), sympy.Integer(0))
        st = sympy.sqrt(t_)
        total = sympy.Integer(0)
        for kind, poly in (("z", P**2), ("r", 2 * P * Q + Q**2)):
            for j, co in (_poly_coeffs(poly, z) or {}).items():
                total += co * _moment1(kind, j, m_, st)
        return total
    k = _mean_kernel_cached(s, s)
    return k.subs({D_: 0}).subs({a_: t_, b_: t_, c_: t_, mu1_: m_, mu2_: m_})


def mean_diagonal_expr(s, index=(0, 0)):
    r"""$\partial_t^i\partial_m^p\varphi(t, m)$, $\varphi = E[s(u)^2]$, $u \sim N(m, t)$, in ``t, m``."""
    s = activation(s)
    i, p = (operator.index(v) for v in index)
    if min(i, p) < 0:
        raise ValueError(f"index must be two non-negative integers (t, m), got {index!r}")
    e = _diag_cached(s, (i, p))
    if e is None:
        raise NoClosedFormError(f"activation {s.name!r} has no closed-form diagonal with a mean")
    return e


def _reduced_side(s: Activation, t: Activation):
    """Which activation's mean function carries the 1-D reduction: ``"t"``, ``"s"`` or None (2-D quadrature)."""
    if _atoms.mean_function(t.expr) is not None:
        return "t"
    if _atoms.mean_function(s.expr) is not None:
        return "s"
    return None


def mean_kernel_method(s, t=None) -> str:
    """The path of :func:`kernel_with_means` for the pair (s, t): ``"closed form"``,
    ``"1-D quadrature"`` (one activation has a closed-form mean function; kinks allowed) or
    ``"2-D quadrature"`` (classical derivatives for smooth pairs; split at the kinks and by
    parts, :mod:`symland.kernels.kinks`, when either activation is kinked)."""
    s = activation(s)
    t = s if t is None else activation(t)
    if mean_kernel_expr(s, t) is not None:
        return "closed form"
    return "1-D quadrature" if _reduced_side(s, t) else "2-D quadrature"


# ---------------------------------------------------------------------------
# numeric evaluators
# ---------------------------------------------------------------------------
def _deriv_fn(expr, order, mp, what):
    return derivative_function(expr, order, mp, what, "no closed form with means")


def _nan_on_error(f):
    def g(*args):
        try:
            return f(*args)
        except (ZeroDivisionError, ValueError):
            return thread_mp.mpf("nan")

    return g


@functools.lru_cache(maxsize=None)
def mean_partials_evaluator(s: Activation, t: Activation, indices, mp: bool):
    r"""Function ``(a, b, c, D, mu1, mu2) -> [partial for each index]``, compiled together.

    Closed forms are compiled into one function (common subexpressions shared);
    pairs without one evaluate each index by :func:`mean_partial_evaluator`.
    """
    indices = tuple(_check_index5(i) for i in indices)
    if _mean_kernel_cached(s, t) is None:
        # quadrature: partials with the same derivative orders (P, Q) = (2i+l+p, 2j+l+q) differ only by
        # the factor 2^(i+j) (heat equation), so each distinct (P, Q) is integrated once
        key = {idx: fallback.derivative_orders(*idx)[:2] for idx in indices}
        rep = {}
        for idx in indices:
            rep.setdefault(key[idx], (0, 0, 0) + key[idx])  # (i, j, l, p, q) = (0, 0, 0, P, Q)
        evs = {pq: mean_partial_evaluator(s, t, r, mp) for pq, r in rep.items()}

        def run_quadrature(*args):
            vals = {pq: ev(*args) for pq, ev in evs.items()}
            return [vals[key[idx]] / fallback.derivative_orders(*idx)[2] for idx in indices]
        return run_quadrature
    f = _compile(tuple(_partial_cached(s, t, i) for i in indices), MEAN_ARGS, mp)
    if not mp:
        def run(*args):
            ones = np.ones(np.shape(args[0]))
            return [np.asarray(v * ones, dtype=float) for v in f(*args)]
        return run
    g = _nan_on_error(lambda *x: tuple(f(*x)))
    shape_n = len(indices)

    def run_mp(*args):
        args = np.broadcast_arrays(*(np.asarray(v, dtype=object) for v in args))
        out = [np.empty(args[0].shape, dtype=object) for _ in range(shape_n)]
        for k in np.ndindex(args[0].shape):
            vals = g(*(x[k] for x in args))
            if not isinstance(vals, tuple):  # an error was mapped to nan
                vals = (vals,) * shape_n
            for o, v in zip(out, vals):
                o[k] = v
        return out
    return run_mp


@functools.lru_cache(maxsize=None)
def mean_partial_evaluator(s: Activation, t: Activation, index, mp: bool):
    r"""Function ``(a, b, c, D, mu1, mu2) -> partial`` on arrays (float64, or mpf object arrays).

    Closed form where :func:`mean_kernel_expr` has one, else quadrature of
    $2^{-i-j}E[s^{(2i+l+p)}(u)t^{(2j+l+q)}(v)]$.
    """
    i, j, l, p, q = _check_index5(index)
    if _mean_kernel_cached(s, t) is not None:
        expr = _partial_cached(s, t, (i, j, l, p, q))
        f = _compile(expr, MEAN_ARGS, mp)
        if not mp:
            return lambda *args: np.asarray(f(*args) * np.ones(np.shape(args[0])), dtype=float)
        fv = np.frompyfunc(_nan_on_error(f), 6, 1)
        return lambda *args: fv(*args)
    side = _reduced_side(s, t)
    if side is not None:
        return _reduction_evaluator(s, t, (i, j, l, p, q), side, mp)
    if fallback.nonsmooth(s) or fallback.nonsmooth(t):  # kinks, no mean function: 2-D by parts, split at kinks
        return fallback.kinked_quadrature_evaluator(s, t, (i, j, l, p, q), mp)
    what = f"kernel with means of ({s.name}, {t.name})"
    fs = _deriv_fn(s.expr, 2 * i + l + p, mp, what)
    gt = _deriv_fn(t.expr, 2 * j + l + q, mp, what)
    scale = 2 ** (i + j)
    if not mp:
        return lambda a, b, c, D, m1, m2: expect2_float(fs, gt, a, b, c, D, m1, m2) / scale

    def one(a, b, c, D, m1, m2):
        return expect2_mp(fs, gt, a, b, c, D, thread_mp.dps, m1, m2) / scale

    fv = np.frompyfunc(one, 6, 1)
    return lambda *args: fv(*args)


def _reduction_evaluator(s, t, index, side, mp):
    r"""The 1-D reduction of :mod:`symland.kernels.fallback` with means: condition $v$ on $u$, the inner
    expectation is $\partial_\mu^{2j+l+q} m_t(\mu_2 + c(u - \mu_1)/a, \sqrt{D/a})$ in closed form, the
    outer one is split at the kink $u = 0$ of $s$ and taken by parts where $s$ is not smooth.
    ``side == "s"`` uses $E[s(u)t(v)] = E[t(v)s(u)]$ with the roles of the arguments swapped."""
    i, j, l, p, q = index
    if side == "s":
        s, t, (i, j, p, q), swap = t, s, (j, i, q, p), True
    else:
        swap = False

    def order(a, b, c, D, m1, m2):
        return (b, a, c, D, m2, m1) if swap else (a, b, c, D, m1, m2)

    if not mp:
        def run(*args):
            args = order(*np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in args)))
            out = np.empty(args[0].shape)
            for k in np.ndindex(out.shape):  # _reduce_float loops over entries anyway
                try:
                    out[k] = fallback.reduce_float(s, t, i, j, l, *(np.array([x[k]]) for x in args), p, q)[0]
                except DomainError:  # zero variance or D = 0: nan there, reported by the caller
                    out[k] = np.nan
            return out
        return run

    def one(*args):
        a, b, c, D, m1, m2 = order(*(thread_mp.mpf(v) for v in args))
        try:
            return fallback.reduce_mp(s, t, i, j, l, a, b, c, D, thread_mp.dps, m1, m2, p, q)
        except DomainError:  # zero variance or a partial singular at D = 0: reported as not finite
            return thread_mp.mpf("nan")

    fv = np.frompyfunc(one, 6, 1)
    return lambda *args: fv(*args)


@functools.lru_cache(maxsize=None)
def mean_diagonal_evaluator(s: Activation, index, mp: bool):
    r"""Function ``(t, m) -> d_t^i d_m^p phi(t, m)`` on arrays (see :func:`mean_partial_evaluator`)."""
    i, p = index
    if _diag_cached(s, (0, 0)) is not None:
        f = _compile(_diag_cached(s, (i, p)), DIAG_ARGS, mp)
        if not mp:
            return lambda t, m: np.asarray(f(t, m) * np.ones(np.shape(t)), dtype=float)
        fv = np.frompyfunc(_nan_on_error(f), 2, 1)
        return lambda t, m: fv(t, m)
    if fallback.nonsmooth(s):  # kinks and jumps: by parts, only s itself is evaluated
        return fallback.kinked_diagonal_with_mean_evaluator(s, (i, p), mp)
    h = _deriv_fn(s.expr**2, 2 * i + p, mp, f"diagonal with a mean of {s.name}")
    if not mp:
        return lambda t, m: expect1_float(h, t, m) / 2**i
    fv = np.frompyfunc(lambda t, m: expect1_mp(h, t, thread_mp.dps, m) / 2**i, 2, 1)
    return lambda t, m: fv(t, m)


# ---------------------------------------------------------------------------
# ball evaluators (python-flint arb): closed forms only
# ---------------------------------------------------------------------------
def _no_ball_quadrature(what: str, method: str):
    return NoClosedFormError(f"{what} has no closed form (symland computes it by {method}); quadrature has no "
                             "rigorous error bound in symland, so there is no ball enclosure")


@functools.lru_cache(maxsize=None)
def ball_mean_partials_evaluator(s: Activation, t: Activation, indices):
    r"""Function ``(a, b, c, D, mu1, mu2) -> [partial for each index]`` on object arrays of ``arb``
    balls (call it inside :func:`~symland.numerics.ball.ball_precision`): each entry a ball that
    contains the partial for every argument in the input balls.

    The closed forms of :func:`mean_partial_expr` compiled by
    :func:`~symland.numerics.ball.lambdify_ball` (the bivariate normal CDF by its rigorous
    integral, :func:`~symland.numerics.ball.bvn_ball`); ``D`` must be a ball containing
    $ab - c^2$.  Entries are the non-finite ball where a variance ball may be 0 (the closed forms
    divide by $\sqrt a$, $\sqrt b$).  Pairs without a closed form (quadrature) and formulas with a
    function that has no ``arb`` form raise :class:`~symland.errors.NoClosedFormError`."""
    indices = tuple(_check_index5(i) for i in indices)
    if _mean_kernel_cached(s, t) is None:
        raise _no_ball_quadrature(f"the kernel with means of ({s.name}, {t.name})", mean_kernel_method(s, t))
    fs = [lambdify_ball(MEAN_ARGS, _partial_cached(s, t, i)) for i in indices]

    def one(a, b, c, D, m1, m2):
        if may_be_zero(a) or may_be_zero(b):
            return tuple(unbounded_ball() for _ in fs)
        return tuple(as_ball(f(a, b, c, D, m1, m2)) for f in fs)  # a constant partial is a Python number

    def run(*args):
        args = np.broadcast_arrays(*(np.asarray(v, dtype=object) for v in args))
        out = [np.empty(args[0].shape, dtype=object) for _ in fs]
        for k in np.ndindex(args[0].shape):
            for o, v in zip(out, one(*(x[k] for x in args))):
                o[k] = v
        return out
    return run


@functools.lru_cache(maxsize=None)
def ball_mean_diagonal_evaluator(s: Activation, index):
    r"""Function ``(t, m) -> d_t^i d_m^p phi(t, m)`` on object arrays of ``arb`` balls: the closed
    form :func:`mean_diagonal_expr` compiled by :func:`~symland.numerics.ball.lambdify_ball`; the
    non-finite ball where ``t`` may be 0.  No closed form: :class:`~symland.errors.NoClosedFormError`."""
    if _diag_cached(s, (0, 0)) is None:
        raise _no_ball_quadrature(f"the diagonal E[s(u)^2] with a mean of {s.name!r}", "quadrature")
    f = lambdify_ball(DIAG_ARGS, _diag_cached(s, tuple(index)))
    fv = np.frompyfunc(lambda t, m: unbounded_ball() if may_be_zero(t) else as_ball(f(t, m)), 2, 1)
    return lambda t, m: np.asarray(fv(t, m), dtype=object)


# ---------------------------------------------------------------------------
# user-facing evaluation
# ---------------------------------------------------------------------------
def kernel_with_means(s, a, b, c, mu1=0.0, mu2=0.0, dps=None, t=None, index=(0, 0, 0, 0, 0)):
    r"""$\partial^{index}E[s(u)t(v)]$, $(u, v)$ Gaussian with means $(\mu_1, \mu_2)$, covariance $[[a, c], [c, b]]$.

    ``dps=None``: float64 with numpy broadcasting.  ``dps=N``: one mpmath number
    with ``N`` digits (scalars).  ``t`` defaults to ``s``.  Raises
    :class:`~symland.errors.DomainError` for negative variances, $c^2 > ab$,
    non-finite input or a value that is not finite (a singular partial at
    zero variance or $D = 0$).
    """
    s = activation(s)
    t = s if t is None else activation(t)
    index = _check_index5(index)
    what = f"kernel with means of ({s.name}, {t.name})" + ("" if not any(index) else f", partial {index}")
    if dps is None:
        a, b, c, m1, m2 = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (a, b, c, mu1, mu2)))
        for nm, v in (("mu1", m1), ("mu2", m2)):
            if not np.all(np.isfinite(v)):
                raise DomainError(f"argument {nm} must be finite")
        D = check_covariance(a, b, c, gram_determinant(a, b, c))
        with np.errstate(all="ignore"):
            out = np.array(mean_partial_evaluator(s, t, index, False)(a, b, c, D, m1, m2), dtype=float)
        if not np.all(np.isfinite(out)):
            raise DomainError(f"{what} is not finite at some inputs (zero variance, or c**2 = a*b where it is singular)")
        return out if out.shape else float(out)
    prec = Precision(dps)
    with prec:
        a, b, c, D, m1, m2 = mp_kernel_arguments(a, b, c, mu1=mu1, mu2=mu2)
        val = mean_partial_evaluator(s, t, index, True)(*(np.array(v, dtype=object) for v in (a, b, c, D, m1, m2)))
        val = thread_mp.mpmathify(val.item() if isinstance(val, np.ndarray) else val)
        if not thread_mp.isfinite(val):
            raise DomainError(f"{what} is not finite at a={a}, b={b}, c={c}, mu1={m1}, mu2={m2}")
    return prec.finalize(val)


def diagonal_with_means(s, t, m=0.0, index=(0, 0), dps=None):
    r"""$\partial_t^i\partial_m^p\varphi(t, m)$ with $\varphi(t, m) = E[s(u)^2]$, $u \sim N(m, t)$."""
    s = activation(s)
    i, p = (operator.index(v) for v in index)
    if dps is None:
        tt, mm = np.broadcast_arrays(np.asarray(t, dtype=float), np.asarray(m, dtype=float))
        if not (np.all(np.isfinite(tt)) and np.all(np.isfinite(mm))) or np.any(tt < 0):
            raise DomainError("argument t is a variance and must be finite and >= 0; m must be finite")
        with np.errstate(all="ignore"):
            out = np.array(mean_diagonal_evaluator(s, (i, p), False)(tt, mm), dtype=float)
        if not np.all(np.isfinite(out)):
            raise DomainError(f"diagonal partial {(i, p)} of {s.name!r} is not finite at some t (t = 0?)")
        return out if out.shape else float(out)
    prec = Precision(dps)
    with prec:
        tt, mm = thread_mp.mpf(t), thread_mp.mpf(m)
        if not (thread_mp.isfinite(tt) and thread_mp.isfinite(mm)) or tt < 0:
            raise DomainError("argument t is a variance and must be finite and >= 0; m must be finite")
        val = mean_diagonal_evaluator(s, (i, p), True)(np.array(tt, dtype=object), np.array(mm, dtype=object))
        val = thread_mp.mpmathify(val.item() if isinstance(val, np.ndarray) else val)
        if not thread_mp.isfinite(val):
            raise DomainError(f"diagonal partial {(i, p)} of {s.name!r} is not finite at t={tt}")
    return prec.finalize(val)
