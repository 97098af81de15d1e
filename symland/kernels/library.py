r"""The built-in activation records, and builders for the parametrised families.

This module only builds :class:`~symland.kernels.activation.Activation` records (pure
data); :mod:`symland.kernels.registry` puts :data:`BUILTINS` under their names when it is
imported, and its ``*_activation`` factories register family instances built here
(``leaky_relu_record(slope)`` -> ``registry.leaky_relu_activation(slope)`` ...).

Every kernel here is $\kappa(a, b, c) = E[s(u)s(v)]$ for a centred Gaussian pair
with variances $a, b$ and covariance $c$, given twice: exactly in ``a, b, c``
and in a numerically safe form in ``a, b, c, D`` ($D = ab - c^2$), with
$\theta = \arccos(c/\sqrt{ab}) = \operatorname{atan2}(\sqrt D, c)$ and
$P = (1+a)(1+b) - c^2 = 1 + a + b + D$.  Exact constants only.

Derivations: ``derivations/activation_library.py``; checks against mpmath
quadrature (>= 25 digits) and of the Price partials against differentiation
under the integral sign: ``tests/kernels/test_library.py``.

Kernels (with $\rho = c/\sqrt{ab}$):

* arc-cosine family $\max(z,0)^p$ (Cho & Saul 2009):
  $\kappa_p = (ab)^{p/2} J_p(\theta)/(2\pi)$ with
  $J_0 = \pi - \theta$ (``"step"``), $J_1 = \sin\theta + (\pi-\theta)\cos\theta$ (``"relu"``),
  $J_2 = 3\sin\theta\cos\theta + (\pi-\theta)(1 + 2\cos^2\theta)$ (``"relu_pow2"``),
  $J_3 = 15\sin\theta - 11\sin^3\theta + (\pi-\theta)(9\cos\theta + 6\cos^3\theta)$ (``"relu_pow3"``);
* ``"sign"``: $(2/\pi)\arcsin\rho$;
* $s = A\,\mathrm{relu}(z) + B z$: $\kappa = A^2\kappa_1 + B(A+B)c$ (Stein:
  $E[\mathrm{relu}(u) v] = c/2$); leaky ReLU with slope $\alpha$ is
  $A = 1-\alpha$, $B = \alpha$; $|z|$ is $A = 2$, $B = -1$, i.e.
  $\kappa = (2/\pi)(\sqrt D + c\,\operatorname{atan2}(c, \sqrt D))$;
* ``"normal_cdf"`` $\Phi(z)$: $1/4 + \arcsin(c/\sqrt{(1+a)(1+b)})/(2\pi)$;
* ``"gelu"`` $z\Phi(z)$: $c\,\kappa_\Phi + (c^2 + abP)/(2\pi(1+a)(1+b)\sqrt P)$;
* ``"sin"``, ``"cos"``: $e^{-(a+b)/2}\sinh c$, $e^{-(a+b)/2}\cosh c$;
  ``"exp"``: $e^{(a+b+2c)/2}$; ``"gauss"`` $e^{-z^2/2}$: $1/\sqrt P$;
* polynomials of any degree by Isserlis/Wick (:func:`polynomial_kernel`),
  ``"monomial_<p>"`` and probabilists' Hermite ``"hermite_<n>"``;
* by quadrature (no closed form known): ``"tanh"``, ``"sigmoid"``, ``"softplus"``,
  ``"silu"``, ``"selu"``.

The core records (closed forms checked in ``tests/kernels/test_activation.py``):

* ``"erf"`` $= \operatorname{erf}(z/\sqrt2)$ (Saad & Solla 1995):
  $\kappa = (2/\pi)\arcsin(c/\sqrt{(1+a)(1+b)})$, safe
  $(2/\pi)\operatorname{atan2}(c, \sqrt{1 + a + b + D})$ ($(1+a)(1+b) - c^2 = 1 + a + b + D > 0$,
  so atan2 is well conditioned everywhere); ``"erf_plain"`` $= \operatorname{erf}(z)$ is the
  erf kernel at $(2a, 2b, 2c)$;
* ``"relu"``: the arc-cosine kernel of degree 1, $\kappa_1$ above;
* ``"linear"`` $z$: $c$; ``"quadratic"`` $z^2$: $ab + 2c^2$ (Isserlis).
"""

from __future__ import annotations

import sympy

from ..numerics.expression import to_sympy
from ..numerics.symbols import D_, a_, b_, c_, z
from .activation import Activation

__all__ = [
    "polynomial_kernel",
    "moment",
    "arccos_kernels",
    "leaky_relu_record",
    "sin_record",
    "cos_record",
    "gauss_record",
    "monomial_record",
    "hermite_record",
    "relu_power_record",
    "ERF",
    "ERF_PLAIN",
    "RELU",
    "GELU",
    "BUILTINS",
    "SELU_ALPHA",
    "SELU_LAMBDA",
]

_pi = sympy.pi
_half = sympy.Rational(1, 2)

# --- shared pieces ----------------------------------------------------------
#: exact arccos of the correlation and its safe form
_theta = sympy.acos(c_ / sympy.sqrt(a_ * b_))
_theta_safe = sympy.atan2(sympy.sqrt(D_), c_)
#: pi - theta, safe: atan2(sqrt(D), -c) (no cancellation as theta -> pi; equal whenever ab > 0)
_pi_minus_theta_safe = sympy.atan2(sympy.sqrt(D_), -c_)
_sqrtD = sympy.sqrt(a_ * b_ - c_**2)
_sqrtD_safe = sympy.sqrt(D_)
#: relu kernel k1, exact and safe
_k1 = (_sqrtD + c_ * (_pi - _theta)) / (2 * _pi)
_k1_safe = (_sqrtD_safe + c_ * (_pi - _theta_safe)) / (2 * _pi)
#: P = (1+a)(1+b) - c^2 = 1 + a + b + D
_P = (1 + a_) * (1 + b_) - c_**2
_P_safe = 1 + a_ + b_ + D_


def _exact(x) -> sympy.Expr:
    """Sympify a parameter and insist on an exact real constant (Rational, pi, sqrt ...)."""
    x = to_sympy(x)
    if x.free_symbols or x.atoms(sympy.Float) or not x.is_real:
        raise ValueError(f"parameter must be an exact real constant (Rational, pi), got {x!r}")
    return x


def _param_name(prefix, x) -> str:
    return f"{prefix}_{sympy.sstr(x)}"


def _record(name, expr, kernel=None, safe=None, description="") -> Activation:
    """An :class:`Activation`; the safe form defaults to the exact kernel."""
    return Activation(name, expr, kernel, safe if safe is not None else kernel, description)


# --- polynomials: Isserlis / Wick ---------------------------------------------
def _double_factorial_odd(n: int) -> int:
    """(n-1)!! for even n >= 0: the number of perfect matchings of n points."""
    return int(sympy.factorial2(n - 1)) if n > 0 else 1


def moment(i: int, j: int, a=a_, b=b_, c=c_) -> sympy.Expr:
    r"""$E[u^i v^j]$ for the centred pair with variances $a, b$, covariance $c$ (Isserlis).

    A pairing with $k$ cross pairs chooses $k$ of the $u$'s and $k$ of the $v$'s
    and matches them ($\binom ik\binom jk k!$ ways, weight $c^k$); the remaining
    $i-k$ and $j-k$ factors pair among themselves ($(i-k-1)!!\,a^{(i-k)/2}$ and
    $(j-k-1)!!\,b^{(j-k)/2}$).
    """
    i, j = int(i), int(j)
    if i < 0 or j < 0:
        raise ValueError(f"moment orders must be >= 0, got i={i}, j={j}")
    total = sympy.Integer(0)
    for k in range(min(i, j) + 1):
        if (i - k) % 2 or (j - k) % 2:
            continue
        w = sympy.binomial(i, k) * sympy.binomial(j, k) * sympy.factorial(k)
        w *= _double_factorial_odd(i - k) * _double_factorial_odd(j - k)
        total += w * c**k * a ** ((i - k) // 2) * b ** ((j - k) // 2)
    return total


def polynomial_kernel(expr, var=None) -> sympy.Expr:
    r"""Exact $\kappa(a, b, c) = E[s(u)s(v)]$ for a polynomial $s$ (any degree), by Isserlis.

    ``expr`` is a polynomial with exact coefficients in one variable (``var``,
    default its only free symbol).  Returns an expanded polynomial in ``a, b, c``.
    """
    expr = to_sympy(expr, "expr")
    if var is not None:
        var = to_sympy(var, "var")  # sympy.Poly would sympify (eval) a string generator
    if var is None:
        free = expr.free_symbols
        if len(free) > 1:
            raise ValueError(f"expr must be a polynomial in one variable, found {sorted(map(str, free))}")
        var = free.pop() if free else z
    poly = sympy.Poly(expr, var)
    if poly.free_symbols_in_domain or any(to_sympy(co).atoms(sympy.Float) for co in poly.coeffs()):
        raise ValueError("polynomial coefficients must be exact constants (Rational, pi)")
    terms = poly.terms()
    total = sympy.Integer(0)
    for (i,), p in terms:
        for (j,), q in terms:
            total += p * q * moment(i, j)
    return sympy.expand(total)


def monomial_record(p: int) -> Activation:
    """``"monomial_<p>"``, $s(z) = z^p$ (kernel by Isserlis)."""
    p = int(p)
    if p < 0:
        raise ValueError(f"p must be a non-negative integer, got {p}")
    k = polynomial_kernel(z**p)
    return _record(f"monomial_{p}", z**p, k, k, f"z^{p} (Isserlis)")


def hermite_record(n: int) -> Activation:
    r"""``"hermite_<n>"``: probabilists' $\mathrm{He}_n(z)$.

    At $a = b = 1$ the kernel is $n!\,c^n$ (Mehler); in general a polynomial in $a, b, c$.
    """
    n = int(n)
    if n < 0:
        raise ValueError(f"n must be a non-negative integer, got {n}")
    e = sympy.expand(sympy.hermite_prob(n, z))
    k = polynomial_kernel(e, z)
    return _record(f"hermite_{n}", e, k, k, f"probabilists' Hermite He_{n}(z) (Isserlis)")


# --- relu family -------------------------------------------------------------
def _relu_linear_kernels(A, B):
    r"""$s = A\,\mathrm{relu}(z) + Bz$: $\kappa = A^2\kappa_1 + B(A + B)c$."""
    return A**2 * _k1 + B * (A + B) * c_, A**2 * _k1_safe + B * (A + B) * c_


def leaky_relu_record(slope) -> Activation:
    r"""``"leaky_relu_<slope>"``: $\max(z,0) + \alpha\min(z,0)$.

    $s = (1-\alpha)\,\mathrm{relu}(z) + \alpha z$, so
    $\kappa = (1-\alpha)^2\kappa_{\mathrm{relu}} + \alpha c$ (exact constant ``slope``).
    """
    al = _exact(slope)
    k, ks = _relu_linear_kernels(1 - al, al)
    return _record(
        _param_name("leaky_relu", al), sympy.Max(z, 0) + al * sympy.Min(z, 0), k, ks,
        f"leaky relu max(z,0) + {al} min(z,0)",
    )


def arccos_kernels(p: int):
    r"""(exact, safe) arc-cosine kernel of degree ``p`` in 0..3 (Cho & Saul):
    $(ab)^{p/2}J_p(\theta)/(2\pi)$, $\cos\theta = c/\sqrt{ab}$, $\sin\theta = \sqrt D/\sqrt{ab}$."""
    ab = a_ * b_
    if p == 0:
        return (_pi - _theta) / (2 * _pi), _pi_minus_theta_safe / (2 * _pi)
    if p == 1:
        return _k1, _k1_safe
    if p == 2:
        ex = (3 * c_ * _sqrtD + (_pi - _theta) * (ab + 2 * c_**2)) / (2 * _pi)
        sf = (3 * c_ * _sqrtD_safe + _pi_minus_theta_safe * (ab + 2 * c_**2)) / (2 * _pi)
        return ex, sf
    if p == 3:
        # (ab)^{3/2}(15 sin t - 11 sin^3 t) = sqrt(D)(15ab - 11D) = sqrt(D)(4ab + 11c^2)
        ex = (_sqrtD * (4 * ab + 11 * c_**2) + (_pi - _theta) * (9 * ab * c_ + 6 * c_**3)) / (2 * _pi)
        sf = (_sqrtD_safe * (4 * ab + 11 * c_**2) + _pi_minus_theta_safe * (9 * ab * c_ + 6 * c_**3)) / (2 * _pi)
        return ex, sf
    raise ValueError(f"relu powers are implemented for p in 0..3, got {p}")


def relu_power_record(p: int) -> Activation:
    """``"step"`` (p=0), ``"relu"`` (p=1, the record :data:`RELU`), ``"relu_pow2"``, ``"relu_pow3"``: $\\max(z,0)^p$."""
    p = int(p)
    names = {0: "step", 1: "relu", 2: "relu_pow2", 3: "relu_pow3"}
    if p not in names:
        raise ValueError(f"relu powers are implemented for p in 0..3, got {p}")
    if p == 1:
        return RELU
    ex, sf = arccos_kernels(p)
    expr = sympy.Heaviside(z) if p == 0 else sympy.Max(z, 0) ** p
    what = "Heaviside step 1{z > 0}" if p == 0 else f"max(z,0)^{p}"
    return _record(names[p], expr, ex, sf, f"{what} (arc-cosine kernel of degree {p}, Cho & Saul)")


# --- trigonometric / exponential / Gaussian ---------------------------------
def sin_record(omega=1) -> Activation:
    r"""$\sin(\omega z)$ (``"sin"``, ``"sin_<omega>"``): $\kappa = e^{-\omega^2(a+b)/2}\sinh(\omega^2 c)$."""
    w = _exact(omega)
    k = sympy.exp(-(w**2) * (a_ + b_) / 2) * sympy.sinh(w**2 * c_)
    name = "sin" if w == 1 else _param_name("sin", w)
    return _record(name, sympy.sin(w * z), k, k, f"{sympy.sin(w * z)} (SIREN)")


def cos_record(omega=1) -> Activation:
    r"""$\cos(\omega z)$ (``"cos"``, ``"cos_<omega>"``): $\kappa = e^{-\omega^2(a+b)/2}\cosh(\omega^2 c)$."""
    w = _exact(omega)
    k = sympy.exp(-(w**2) * (a_ + b_) / 2) * sympy.cosh(w**2 * c_)
    name = "cos" if w == 1 else _param_name("cos", w)
    return _record(name, sympy.cos(w * z), k, k, f"{sympy.cos(w * z)}")


def gauss_record(width=1) -> Activation:
    r"""$e^{-z^2/(2w^2)}$ (``"gauss"``, ``"gauss_<w>"``): $\kappa = w^2/\sqrt{w^4 + w^2(a+b) + D}$."""
    w = _exact(width)
    if not w.is_positive:
        raise ValueError(f"width must be a positive exact constant, got {w}")
    w2 = w**2
    k = w2 / sympy.sqrt(w2**2 + w2 * (a_ + b_) + a_ * b_ - c_**2)
    ks = w2 / sympy.sqrt(w2**2 + w2 * (a_ + b_) + D_)
    name = "gauss" if w == 1 else _param_name("gauss", w)
    return _record(name, sympy.exp(-(z**2) / (2 * w2)), k, ks, f"Gaussian bump {sympy.exp(-(z**2) / (2 * w2))}")


# ---------------------------------------------------------------------------
# the built-in records.  Each closed form is checked in tests/kernels/test_activation.py or
# tests/kernels/test_library.py against mpmath quadrature to >= 25 digits and the safe form
# against the exact form symbolically; derivations/ holds the derivations.
# ---------------------------------------------------------------------------
_sqrt2 = sympy.sqrt(2)

ERF = _record(
    "erf",
    sympy.erf(z / _sqrt2),
    2 / _pi * sympy.asin(c_ / sympy.sqrt((1 + a_) * (1 + b_))),
    2 / _pi * sympy.atan2(c_, sympy.sqrt(1 + a_ + b_ + D_)),
    "erf(z/sqrt(2)), the Saad & Solla scaling",
)
ERF_PLAIN = _record(
    "erf_plain",
    sympy.erf(z),
    2 / _pi * sympy.asin(2 * c_ / sympy.sqrt((1 + 2 * a_) * (1 + 2 * b_))),
    2 / _pi * sympy.atan2(2 * c_, sympy.sqrt(1 + 2 * a_ + 2 * b_ + 4 * D_)),
    "plain erf(z) (no 1/sqrt(2) scaling)",
)
#: relu: the arc-cosine kernel of degree 1 [Cho & Saul 2009]; arccos(c/sqrt(ab)) = atan2(sqrt(D), c)
RELU = _record(
    "relu",
    sympy.Max(z, 0),
    (sympy.sqrt(a_ * b_ - c_**2) + c_ * (_pi - sympy.acos(c_ / sympy.sqrt(a_ * b_)))) / (2 * _pi),
    (sympy.sqrt(D_) + c_ * (_pi - sympy.atan2(sympy.sqrt(D_), c_))) / (2 * _pi),
    "max(z, 0)",
)

_k, _ks = _relu_linear_kernels(1 - sympy.Rational(1, 100), sympy.Rational(1, 100))
_kPhi = sympy.Rational(1, 4) + sympy.asin(c_ / sympy.sqrt((1 + a_) * (1 + b_))) / (2 * _pi)
_kPhi_safe = sympy.Rational(1, 4) + sympy.atan2(c_, sympy.sqrt(_P_safe)) / (2 * _pi)
_kexp = sympy.exp((a_ + b_ + 2 * c_) / 2)

GELU = _record(
    "gelu",
    z * (1 + sympy.erf(z / sympy.sqrt(2))) / 2,
    c_ * _kPhi + (c_**2 + a_ * b_ * _P) / (2 * _pi * (1 + a_) * (1 + b_) * sympy.sqrt(_P)),
    # (1+a)(1+b) written as P + c^2: the same function, but Price partials simplify ~3x faster
    c_ * _kPhi_safe + (c_**2 + a_ * b_ * _P_safe) / (2 * _pi * (_P_safe + c_**2) * sympy.sqrt(_P_safe)),
    "GELU z Phi(z) (exact, not the tanh approximation)",
)

#: SELU constants (Klambauer et al. 2017, "Self-Normalizing Neural Networks", eq. 14: the fixed
#: point mean 0, variance 1), exact; they equal the published decimals
#: alpha_01 = 1.6732632423543772848170429916717, lambda_01 = 1.0507009873554804934193349852946
#: (checked to 31 digits in tests/kernels/test_library.py).
_h = sympy.erfc(1 / sympy.sqrt(2))
_e = sympy.E
SELU_ALPHA = -sympy.sqrt(2 / _pi) / (_h * sympy.sqrt(_e) - 1)
SELU_LAMBDA = (1 - _h * sympy.sqrt(_e)) * sympy.sqrt(2 * _pi) / sympy.sqrt(
    2 * sympy.erfc(sympy.sqrt(2)) * _e**2 + _pi * _h**2 * _e - 2 * (2 + _pi) * _h * sympy.sqrt(_e) + _pi + 2
)

#: every built-in record, in registration order
BUILTINS = (
    ERF,
    ERF_PLAIN,
    RELU,
    _record("linear", z, c_, c_, "identity z"),
    _record("quadratic", z**2, a_ * b_ + 2 * c_**2, a_ * b_ + 2 * c_**2, "z^2"),
    # no closed form known: quadrature in both precisions
    _record("tanh", sympy.tanh(z), description="tanh(z) (quadrature)"),
    _record("sigmoid", 1 / (1 + sympy.exp(-z)), description="logistic 1/(1+exp(-z)) (quadrature)"),
    _record("softplus", sympy.log(1 + sympy.exp(z)), description="log(1+exp(z)) (quadrature)"),
    relu_power_record(0),
    relu_power_record(2),
    relu_power_record(3),
    _record(
        "sign",
        sympy.sign(z),
        2 / _pi * sympy.asin(c_ / sympy.sqrt(a_ * b_)),
        2 / _pi * sympy.atan2(c_, _sqrtD_safe),
        "sign(z)",
    ),
    _record("leaky_relu", sympy.Max(z, 0) + sympy.Min(z, 0) / 100, _k, _ks, "leaky relu, slope 1/100"),
    _record(
        "abs",
        sympy.Abs(z),
        2 / _pi * (_sqrtD + c_ * sympy.asin(c_ / sympy.sqrt(a_ * b_))),
        2 / _pi * (_sqrtD_safe + c_ * sympy.atan2(c_, _sqrtD_safe)),
        "|z| = 2 relu(z) - z",
    ),
    _record("normal_cdf", (1 + sympy.erf(z / sympy.sqrt(2))) / 2, _kPhi, _kPhi_safe, "standard normal CDF Phi(z)"),
    GELU,
    sin_record(1),
    cos_record(1),
    _record("exp", sympy.exp(z), _kexp, _kexp, "exp(z)"),
    gauss_record(1),
    _record("silu", z / (1 + sympy.exp(-z)), description="SiLU / swish z*sigmoid(z) (quadrature)"),
    # selu(z) = lambda (max(z, 0) + alpha (exp(min(z, 0)) - 1)): continuous, but its derivative jumps
    # at 0 (from lambda*alpha to lambda), so the second derivative has a delta of weight lambda (1 - alpha).
    # No closed-form kernel (E[e^u 1{u<0} e^v 1{v<0}] is a bivariate normal CDF); it has a closed-form
    # mean function, so symland.kernels.cross evaluates it by a 1-D reduction split at the kink.
    _record(
        "selu",
        SELU_LAMBDA * (sympy.Max(z, 0) + SELU_ALPHA * (sympy.exp(sympy.Min(z, 0)) - 1)),
        description="SELU lambda*(max(z,0) + alpha*(exp(min(z,0)) - 1)), exact Klambauer et al. constants (quadrature)",
    ),
)

del _k, _ks, _kexp, _h, _e
