r"""Derivations of the closed-form kernels in symland/kernels/library.py.

Run ``python derivations/activation_library.py``: every step is done by SymPy and asserted
against the registered form; the results are printed in LaTeX.

Convention: $\kappa(a, b, c) = E[s(u)s(v)]$, $(u, v)$ centred Gaussian with variances $a, b$
and covariance $c$; $D = ab - c^2$, $P = (1+a)(1+b) - c^2$.

1. Gaussian MGF by completing the square (1-D integrals done by SymPy):
   $E[e^{su + tv}] = \exp((as^2 + 2cst + bt^2)/2)$.
   => ``exp`` ($s = t = 1$), ``sin``/``cos`` (imaginary $s, t$).
2. ``gauss`` $e^{-z^2/2}$: 1-D reduction, inner and outer Gaussian integrals by SymPy:
   $\kappa = 1/\sqrt{P}$.
3. ``normal_cdf`` $\Phi$: Price, $\partial_c\kappa = E[\varphi(u)\varphi(v)] = \kappa_{\rm gauss}/(2\pi)$,
   integrated in $c$ from $\kappa(c{=}0) = 1/4$.
4. ``gelu`` $z\Phi(z)$: Stein's lemma reduces it to $E[\Phi\Phi]$ and $E[\varphi\varphi]$.
5. ``step``/``sign``/relu powers: Price, $\partial_c\kappa_p = p^2\kappa_{p-1}$ ($p \ge 1$),
   $\partial_c\kappa_0 = E[\delta(u)\delta(v)] = 1/(2\pi\sqrt D)$, each integrated from $c = 0$
   where $\kappa_p(0) = (ab)^{p/2} E[\max(x,0)^p]^2$.
6. leaky relu / abs: $A\,\mathrm{relu}(z) + Bz$ and Stein's $E[\mathrm{relu}(u)v] = c/2$.
7. Hermite: Mehler $E[\mathrm{He}_n(u)\mathrm{He}_n(v)] = n!c^n$ at $a = b = 1$ from Isserlis.
"""

from __future__ import annotations

import random

import sympy
from sympy import Rational as R
from sympy import exp, pi, sqrt

import symland
from symland.numerics import symbols
from symland.kernels import registry

a, b, c, D = symbols.a_, symbols.b_, symbols.c_, symbols.D_
ap, bp = sympy.symbols("a_p b_p", positive=True)
x, y = sympy.symbols("x y", real=True)
s_, t_ = sympy.symbols("s t", real=True)
mu = sympy.Symbol("mu", real=True)
sig = sympy.Symbol("sigma", positive=True)
cc = sympy.Symbol("c'", real=True)


def N(v):
    return exp(-v**2 / 2) / sqrt(2 * pi)


def show(name, expr):
    print(f"{name}: $\\kappa = {sympy.latex(expr)}$")


def registered(name, safe=False):
    act = symland.activation(name)
    return act.safe_kernel_expr if safe else act.kernel_expr


def assert_equal(name, derived, ref=None, safe_too=True):
    """derived == registered exact form (symbolically for a, b > 0; else to 60 digits at random
    covariances) and the safe form == derived at random covariances with D = ab - c^2."""
    ref = registered(name) if ref is None else ref
    diff = (derived - ref).subs({a: ap, b: bp})
    symbolic = sympy.expand(diff) == 0  # cheap symbolic test; otherwise 50 digits at random points
    rng = random.Random(1)
    for _ in range(4):
        av, bv = R(rng.randint(1, 40), 10), R(rng.randint(1, 40), 10)
        rho = R(rng.randint(-95, 95), 100)
        cv = rho * sqrt(av * bv)
        vals = {a: av, b: bv, c: cv, D: av * bv - cv**2}
        d = sympy.N(derived.subs(vals), 60)
        if not symbolic:
            e = sympy.N(ref.subs(vals), 60)
            assert abs(d - e) < sympy.Float(10) ** -50 * (1 + abs(e)), (name, vals, d, e)
        if safe_too:
            f = sympy.N(registered(name, safe=True).subs(vals), 60)
            assert abs(d - f) < sympy.Float(10) ** -50 * (1 + abs(d)), (name, vals, d, f)
    print(f"  [{name}: equal to the registered form {'symbolically' if symbolic else 'to 50 digits'}]")


# ---------------------------------------------------------------------------
# 1. MGF by completing the square, in the 1-D reduction u = sqrt(a) x, v = c x/sqrt(a) + sqrt(D/a) y
# ---------------------------------------------------------------------------
def num_zero(expr, n=4):
    """expr vanishes to 50 digits at random points (a, b > 0, |c| < sqrt(ab), mu real, sigma > 0)."""
    rng = random.Random(2)
    for _ in range(n):
        av, bv = R(rng.randint(1, 40), 10), R(rng.randint(1, 40), 10)
        cv = R(rng.randint(-95, 95), 100) * sqrt(av * bv)
        vals = {a: av, b: bv, ap: av, bp: bv, c: cv, mu: R(rng.randint(-30, 30), 10), sig: R(rng.randint(1, 30), 10)}
        if abs(sympy.N(expr.subs(vals), 60)) > sympy.Float(10) ** -50:
            return False
    return True


def gauss_expect(f, var):
    r"""$\int N(var) f\,d var$ for $f = K e^{\alpha v^2 + \beta v + \gamma}$ by completing the square:
    $K e^{\gamma + \beta^2/(2(1 - 2\alpha))}/\sqrt{1 - 2\alpha}$ (checked once against sympy.integrate)."""
    f = sympy.powsimp(sympy.expand_power_exp(f), combine="exp")
    K = sympy.Integer(1)
    E = sympy.Integer(0)
    for fac in sympy.Mul.make_args(f):
        if isinstance(fac, sympy.exp):
            E += fac.args[0]
        else:
            assert not fac.has(var), fac
            K *= fac
    poly = sympy.Poly(sympy.expand(E), var)
    assert poly.degree() <= 2
    al, be, ga = (poly.coeff_monomial(var**k) for k in (2, 1, 0))
    return K * exp(ga + be**2 / (2 * (1 - 2 * al))) / sqrt(1 - 2 * al)


_check = sympy.integrate(N(y) * exp(-(mu + sig * y) ** 2 / 2), (y, -sympy.oo, sympy.oo))
assert num_zero(_check - gauss_expect(exp(-(mu + sig * y) ** 2 / 2), y))


Dp = ap * bp - c**2
inner = gauss_expect(exp(t_ * sqrt(Dp / ap) * y), y)  # = exp(t^2 D / (2a))
mgf = gauss_expect(exp(s_ * sqrt(ap) * x + t_ * c * x / sqrt(ap)) * inner, x)
mgf_ref = exp((ap * s_**2 + 2 * c * s_ * t_ + bp * t_**2) / 2)
assert sympy.simplify(mgf - mgf_ref) == 0
print(f"MGF: $E[e^{{su+tv}}] = {sympy.latex(mgf_ref)}$")

k_exp = mgf_ref.subs({s_: 1, t_: 1}).subs({ap: a, bp: b})
show("exp", k_exp)
assert_equal("exp", k_exp)

# sin u sin v = -(e^{iu} - e^{-iu})(e^{iv} - e^{-iv})/4; the MGF is entire, so s, t may be imaginary
I = sympy.I
M = lambda s, t: mgf_ref.subs({s_: s, t_: t}, simultaneous=True).subs({ap: a, bp: b})  # noqa: E731
k_sin = sympy.powsimp(sympy.expand(-(M(I, I) - M(I, -I) - M(-I, I) + M(-I, -I)) / 4))
k_cos = sympy.powsimp(sympy.expand((M(I, I) + M(I, -I) + M(-I, I) + M(-I, -I)) / 4))
show("sin", k_sin)
show("cos", k_cos)
assert sympy.expand((k_sin - exp(-(a + b) / 2) * sympy.sinh(c)).rewrite(exp)) == 0
assert sympy.expand((k_cos - exp(-(a + b) / 2) * sympy.cosh(c)).rewrite(exp)) == 0
assert_equal("sin", k_sin)
assert_equal("cos", k_cos)
# SIREN frequency w: sin(w u) sin(w v) is the unit kernel at (w^2 a, w^2 b, w^2 c)
w = R(7, 3)
assert_equal("sin_7/3", k_sin.subs({a: w**2 * a, b: w**2 * b, c: w**2 * c}, simultaneous=True),
             ref=registry.sin_activation(w).kernel_expr)

# ---------------------------------------------------------------------------
# 2. gauss exp(-z^2/2): inner E_y[exp(-(mu + sigma y)^2/2)], then the outer x integral
# ---------------------------------------------------------------------------
m_gauss = gauss_expect(exp(-(mu + sig * y) ** 2 / 2), y)
assert num_zero(m_gauss - exp(-mu**2 / (2 * (1 + sig**2))) / sqrt(1 + sig**2))
k_gauss = gauss_expect(exp(-ap * x**2 / 2) * m_gauss.subs({mu: c * x / sqrt(ap), sig: sqrt(Dp / ap)}), x)
k_gauss = k_gauss.subs({ap: a, bp: b})
assert_equal("gauss", k_gauss)
P = (1 + a) * (1 + b) - c**2
assert num_zero(k_gauss - 1 / sqrt(P))
k_gauss = 1 / sqrt(P)  # the same function, simplified
show("gauss", k_gauss)
# width w: exp(-z^2/(2w^2)) = gauss(z/w): kernel at (a, b, c)/w^2
w = R(3, 2)
assert_equal("gauss_3/2", k_gauss.subs({a: a / w**2, b: b / w**2, c: c / w**2}, simultaneous=True),
             ref=registry.gauss_activation(w).kernel_expr)

# ---------------------------------------------------------------------------
# 3. normal_cdf: Price in c from c = 0 (E[Phi(u)] = 1/2 by symmetry)
# ---------------------------------------------------------------------------
Q = sympy.Symbol("Q", positive=True)  # Q = (1+a)(1+b)
dk = 1 / (2 * pi * sqrt(Q - cc**2))  # E[phi(u) phi(v)] = kappa_gauss / (2 pi) at covariance c'
k_Phi = (R(1, 4) + sympy.integrate(dk, (cc, 0, c))).subs(Q, (1 + a) * (1 + b))
show("normal_cdf", k_Phi)
assert_equal("normal_cdf", k_Phi)

# ---------------------------------------------------------------------------
# 4. gelu by Stein: E[u F] = a E[F_u] + c E[F_v] with F = v Phi(u) Phi(v), then again on v:
#    E[v phi(u) Phi(v)] = Psi (b + D)/(1 + a), E[v Phi(u) phi(v)] = c Psi/(1 + b), Psi = E[phi phi]
# ---------------------------------------------------------------------------
Psi = k_gauss / (2 * pi)
# E[u phi(u) Phi(v)] = -a E[u phi(u) Phi(v)] + c Psi  (Stein on u; phi'(u) = -u phi(u))
X = sympy.Symbol("X")
E_u_phi_Phi = sympy.solve(sympy.Eq(X, -a * X + c * Psi), X)[0]
E_v_phi_Phi = b * Psi - c * E_u_phi_Phi  # Stein on v of phi(u) Phi(v)
E_v_Phi_phi = sympy.solve(sympy.Eq(X, c * Psi - b * X), X)[0]
k_gelu = a * E_v_phi_Phi + c * k_Phi + c * E_v_Phi_phi
show("gelu", sympy.simplify(k_gelu))
assert_equal("gelu", k_gelu)

# ---------------------------------------------------------------------------
# 5. step, sign, relu powers by Price in c from c = 0
# ---------------------------------------------------------------------------
def relu_moment(p):
    """E[max(x, 0)^p], x ~ N(0, 1)."""
    return sympy.simplify(sympy.integrate(x**p * N(x), (x, 0, sympy.oo)))


# d kappa_0 / dc = E[delta(u) delta(v)] = density of (u, v) at 0 = 1/(2 pi sqrt(D))
k_step = relu_moment(0) ** 2 + sympy.integrate(1 / (2 * pi * sqrt(ap * bp - cc**2)), (cc, 0, c)).subs({ap: a, bp: b})
show("step", k_step)
assert_equal("step", k_step)
k_sign = sympy.expand(4 * k_step - 2 * R(1, 2) - 2 * R(1, 2) + 1)  # sign = 2 step - 1, E[step] = 1/2
show("sign", k_sign)
assert_equal("sign", k_sign)

kp = {0: k_step}
for p in (1, 2, 3):
    # d/dc kappa_p = E[s_p'(u) s_p'(v)] = p^2 kappa_{p-1}
    integrand = (p**2 * kp[p - 1]).subs(c, cc).subs({a: ap, b: bp})
    val = (ap * bp) ** R(p, 2) * relu_moment(p) ** 2 + sympy.integrate(integrand, (cc, 0, c))
    kp[p] = val.subs({ap: a, bp: b})
    name = {1: "relu", 2: "relu_pow2", 3: "relu_pow3"}[p]
    show(name, sympy.simplify(kp[p]))
    assert_equal(name, kp[p])

# ---------------------------------------------------------------------------
# 6. leaky relu and abs: s = A relu + B z, E[relu(u) v] = c E[relu'(u)] = c/2 (Stein)
# ---------------------------------------------------------------------------
A_, B_ = sympy.symbols("A B")
k_lin = A_**2 * kp[1] + 2 * A_ * B_ * c / 2 + B_**2 * c
al = R(1, 100)
assert_equal("leaky_relu", k_lin.subs({A_: 1 - al, B_: al}))
assert_equal("abs", k_lin.subs({A_: 2, B_: -1}))
assert_equal("leaky_relu_1/5", k_lin.subs({A_: R(4, 5), B_: R(1, 5)}), ref=registry.leaky_relu_activation(R(1, 5)).kernel_expr)
show("A relu + B z", k_lin)

# ---------------------------------------------------------------------------
# 7. polynomials: Mehler's formula from Isserlis
# ---------------------------------------------------------------------------
for n in range(11):
    k = registry.hermite_activation(n).kernel_expr
    assert sympy.expand(k.subs({a: 1, b: 1}) - sympy.factorial(n) * c**n) == 0
print("hermite_n at a = b = 1: $\\kappa = n!\\,c^n$ (Mehler), n = 0..10")
show("hermite_3", sympy.factor(registry.hermite_activation(3).kernel_expr))
print("all derivations asserted")
