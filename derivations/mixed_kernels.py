r"""Derivations of the cross kernels $K_{s,t}(a, b, c) = E[s(u)t(v)]$ of symland/kernels/gaussian_atoms.py.

Run ``python derivations/mixed_kernels.py`` (``--small``: fewer numeric spot checks).  Every
closed form used by :mod:`symland.kernels.cross` is derived here by SymPy and asserted equal to the
form in :mod:`symland.kernels.gaussian_atoms` (exact and safe forms); results are printed in LaTeX.

Convention: $(u, v)$ centred Gaussian, $\mathrm{Var}\,u = a$, $\mathrm{Var}\,v = b$,
$\mathrm{Cov} = c$, $D = ab - c^2$; $N_s(x)$ the $N(0, s)$ density; $M_p = E[\max(x,0)^p]$.

1. Orthant: Price, $\partial_c E[\Phi(u/w_1)\Phi(v/w_2)] = E[N_{w_1^2}(u)N_{w_2^2}(v)]
   = 1/(2\pi\sqrt{(a+w_1^2)(b+w_2^2) - c^2})$, from $1/4$ at $c = 0$.
2. $\max(u,0)^p\,\Phi(v/w)$: Price, $\partial_c K = p\,E[\max(u,0)^{p-1}N_{w^2}(v)]
   = p\,N_{b+w^2}(0)\,M_{p-1}\,(a - c^2/(b+w^2))^{(p-1)/2}$ (conditioning on $v + wx = 0$).
3. $\max(u,0)^p\max(v,0)^q$: $\partial_c K_{p,q} = pq\,K_{p-1,q-1}$ from $K_{0,q}$ (rule 2 at $w = 0$).
4. $u\Phi(u/w_1)$ with $\Phi(v/w_2)$ or $\max(v,0)^p$: Stein on $u$.
5. Exponential tilting for $e^{\alpha v^2 + \beta v}$: the tilted law of $u$ is
   $N(c\beta/(1-2\alpha b), (a - 2\alpha D)/(1 - 2\alpha b))$ with mass $Z$.
6. Polynomials: the Price-Taylor sum equals Isserlis' moments.
"""

from __future__ import annotations

import random
import sys
import zlib

import mpmath
import sympy
from sympy import Rational as R
from sympy import pi, sqrt

import symland
from symland.numerics import symbols
from symland.numerics.mpcontext import thread_mp
from symland.kernels import library as lib
from symland.kernels import gaussian_atoms as atoms
from symland.kernels import cross as mixed

SMALL = "--small" in sys.argv
a, b, c, D = symbols.a_, symbols.b_, symbols.c_, symbols.D_
ap, bp = sympy.symbols("a_p b_p", positive=True)
w2 = sympy.Symbol("w2", nonnegative=True)
x = sympy.Symbol("x", real=True)
M = {0: R(1, 2), 1: 1 / sqrt(2 * pi), 2: R(1, 2), 3: 2 / sqrt(2 * pi)}


def N0(s):
    """N(0, s) density at 0."""
    return 1 / sqrt(2 * pi * s)


def _points(n, seed, w=None):
    rng = random.Random(seed)
    for _ in range(n):
        av, bv = R(rng.randint(2, 40), 10), R(rng.randint(2, 40), 10)
        cv = R(rng.randint(-95, 95), 100) * sqrt(av * bv)
        yield {a: av, b: bv, c: cv, D: av * bv - cv**2, **({w2: w} if w is not None else {})}


def same(name, derived, pair, w=None, n=None):
    """derived (exact, in a, b, c) == pair[0] and == pair[1] (safe, with D) at random points, 50 digits."""
    n = n or (2 if SMALL else 6)
    for vals in _points(n, zlib.crc32(name.encode()) % 1000, w):
        d = sympy.N(derived.subs(vals), 60)
        for form in pair:
            f = sympy.N(form.subs(vals), 60)
            assert abs(d - f) < sympy.Float(10) ** -50 * (1 + abs(d)), (name, vals, d, f)
    print(f"  [{name}: derived == symland.kernels.gaussian_atoms (exact and safe forms), 50 digits at {n} covariances]")


def price_integral(k0, dk):
    """K(c) = K(0) + int_0^c dK(c') dc' with a, b positive."""
    cc = sympy.Symbol("cc", real=True)
    val = sympy.integrate(dk.subs(c, cc).subs({a: ap, b: bp}), (cc, 0, c))
    return (k0.subs({a: ap, b: bp}) + val).subs({ap: a, bp: b})


# ---------------------------------------------------------------------------
# 1. orthant
# ---------------------------------------------------------------------------
w1s = sympy.Symbol("w1", nonnegative=True)
Q = sympy.Symbol("Q", positive=True)  # (a + w1)(b + w2)
cc = sympy.Symbol("cc", real=True)
k_orth = R(1, 4) + sympy.integrate(1 / (2 * pi * sqrt(Q - cc**2)), (cc, 0, c))
k_orth = k_orth.subs(Q, (a + w1s) * (b + w2))
print(f"1. E[Phi(u/w1) Phi(v/w2)] = ${sympy.latex(k_orth)}$")
for wa, wb in [(R(1), R(1, 2)), (R(0), R(1)), (R(0), R(0)), (R(3), R(2, 7))]:
    same(f"orthant w1^2={wa}, w2^2={wb}", k_orth.subs(w1s, wa), atoms._orthant(wa, wb), w=wb)

# ---------------------------------------------------------------------------
# 2. relu^p x Phi(v/w)
# ---------------------------------------------------------------------------
K_relu_phi = {}
for p in (1, 2, 3):
    B = b + w2
    dk = p * N0(B) * M[p - 1] * (a - c**2 / B) ** R(p - 1, 2)
    k0 = a ** R(p, 2) * M[p] / 2  # E[max(u,0)^p] E[Phi] at c = 0
    Bp = sympy.Symbol("B", positive=True)
    k = price_integral(k0.subs(w2, Bp - b), dk.subs(w2, Bp - b)).subs(Bp, b + w2)
    K_relu_phi[p] = sympy.simplify(k)
    print(f"2. E[max(u,0)^{p} Phi(v/w)] = ${sympy.latex(K_relu_phi[p])}$")
    for wv in (R(1), R(0), R(5, 3)):
        same(f"relu^{p} x Phi, w^2={wv}", K_relu_phi[p].subs(w2, wv), atoms._relu_phi(p, wv), w=wv)

# ---------------------------------------------------------------------------
# 3. relu^p x relu^q, p < q: dK_{p,q}/dc = pq K_{p-1,q-1}; K_{0,q}(a, b, c) = E[step(u) relu^q(v)]
# ---------------------------------------------------------------------------
def swap(e):
    return e.xreplace({a: b, b: a})


Kpq = {(0, q): swap(K_relu_phi[q].subs(w2, 0)) for q in (1, 2, 3)}
for p, q in [(1, 2), (1, 3), (2, 3)]:
    k0 = a ** R(p, 2) * M[p] * b ** R(q, 2) * M[q]
    Kpq[(p, q)] = sympy.simplify(price_integral(k0, p * q * Kpq[(p - 1, q - 1)]))
    print(f"3. E[max(u,0)^{p} max(v,0)^{q}] = ${sympy.latex(Kpq[(p, q)])}$")
    same(f"relu^{p} x relu^{q}", Kpq[(p, q)], atoms._relu_cross(p, q))
# equal powers: the same recursion reproduces the registered arc-cosine kernels (skipped with --small)
Kpp = {0: lib.arccos_kernels(0)[0]}
for p in () if SMALL else (1, 2, 3):
    Kpp[p] = price_integral(a ** R(p, 2) * b ** R(p, 2) * M[p] ** 2, p**2 * Kpp[p - 1])
    same(f"relu^{p} x relu^{p} (arc-cosine)", Kpp[p], lib.arccos_kernels(p))

# ---------------------------------------------------------------------------
# 4. u Phi(u/w1) x Phi(v/w2) and x relu^p(v): Stein E[u F] = a E[d_u F] + c E[d_v F]
# ---------------------------------------------------------------------------
# E[N_{w1}(u) g(v)] = N_{a+w1}(0) E[g(v')], v' ~ N(0, b - c^2/(a+w1)) (condition on u + w x = 0)
A_ = a + w1s
s2 = b - c**2 / A_
k_zphi_phi = a * N0(A_) * R(1, 2) + c * N0(b + w2) * R(1, 2)
print(f"4. E[u Phi(u/w1) Phi(v/w2)] = ${sympy.latex(k_zphi_phi)}$")
for wa, wb in [(R(1), R(1)), (R(1), R(0)), (R(2), R(1, 3))]:
    same(f"zPhi x Phi ({wa}, {wb})", k_zphi_phi.subs(w1s, wa), atoms._zphi_phi(wa, wb), w=wb)
for p in (1, 2, 3):
    rest = k_orth.subs(w2, 0) if p == 1 else swap(K_relu_phi[p - 1]).subs(w2, w1s)
    k = a * N0(A_) * M[p] * s2 ** R(p, 2) + c * p * rest
    print(f"4. E[u Phi(u/w) max(v,0)^{p}] = ${sympy.latex(sympy.simplify(k.subs(w1s, 1)))}$ (w = 1)")
    for wa in (R(1), R(3, 2)):
        same(f"zPhi x relu^{p} (w^2={wa})", k.subs(w1s, wa), atoms._zphi_relu(wa, p))

# ---------------------------------------------------------------------------
# 5. exponential tilting: E[f(u) e^{al v^2 + be v}] = Z E[f(u')], u' ~ N(mu', s'^2)
# ---------------------------------------------------------------------------
al, be, t = sympy.symbols("alpha beta t", real=True)
# joint exponent of (u, v) with the tilt and a probe e^{t u}; integrate v, then u, and read off
# Z E[e^{t u'}] = Z exp(t mu' + t^2 s'^2 / 2)
Sinv = sympy.Matrix([[b, -c], [-c, a]]) / (a * b - c**2)
Aq = Sinv - sympy.diag(0, 2 * al)  # exponent -1/2 z^T Aq z + (t, be) . z
lin = sympy.Matrix([t, be])
logmgf = (lin.T * Aq.inv() * lin)[0] / 2
detfac = sympy.sqrt(sympy.simplify(1 / ((a * b - c**2) * Aq.det())))  # sqrt(det Aq^{-1} / det Sigma)
den = 1 - 2 * al * b
mu_p = c * be / den
s2_p = (a - 2 * al * (a * b - c**2)) / den
Z = sympy.exp(be**2 * b / (2 * den)) / sympy.sqrt(den)
lhs = logmgf - (t * mu_p + t**2 * s2_p / 2 + be**2 * b / (2 * den))
assert sympy.simplify(lhs) == 0
assert sympy.simplify(detfac**2 - 1 / den) == 0
print(f"5. tilt: $\\mu' = {sympy.latex(mu_p)}$, $\\sigma'^2 = {sympy.latex(s2_p)}$, $Z = {sympy.latex(Z)}$ (asserted)")

# ---------------------------------------------------------------------------
# 6. polynomials: Price-Taylor sum == Isserlis moments
# ---------------------------------------------------------------------------
for j in range(6):
    for k in range(6):
        got = atoms._price_taylor(("poly", j), k)[0]
        assert sympy.expand(got - lib.moment(j, k)) == 0, (j, k)
print("6. Price-Taylor E[u^j v^k] == Isserlis for j, k < 6 (asserted)")

# ---------------------------------------------------------------------------
# numeric spot checks of whole pairs against 1-D mpmath quadrature (inner E[t(v) | u] by mpmath.quad)
# ---------------------------------------------------------------------------
def quad_pair(s, t, av, bv, cv, dps=20):
    fs = sympy.lambdify(symbols.z, symland.activation(s).expr, "mpmath")
    ft = sympy.lambdify(symbols.z, symland.activation(t).expr, "mpmath")
    with mpmath.workdps(dps), thread_mp.workdps(dps):
        A, Bv, C = mpmath.mpf(av), mpmath.mpf(bv), mpmath.mpf(cv)
        sa, sig = mpmath.sqrt(A), mpmath.sqrt((A * Bv - C * C) / A)
        nrm = 1 / mpmath.sqrt(2 * mpmath.pi)

        def inner(xx):
            m = C * xx / sa
            return mpmath.quad(lambda y: ft(m + sig * y) * nrm * mpmath.exp(-y * y / 2), [-mpmath.inf, -m / sig, mpmath.inf])

        return mpmath.quad(lambda xx: fs(sa * xx) * nrm * mpmath.exp(-xx * xx / 2) * inner(xx), [-mpmath.inf, 0, mpmath.inf])


pairs = [("gelu", "relu_pow2")]
if not SMALL:
    pairs += [("erf", "relu"), ("relu", "relu_pow3"), ("sin", "normal_cdf"), ("abs", "gelu"), ("cos", "relu"),
              ("step", "relu_pow2"), ("gauss", "sign")]
for s, t in pairs:
    got = mixed.cross_kernel(s, t, 1.3, 0.8, -0.4, dps=20)
    ref = quad_pair(s, t, 1.3, 0.8, -0.4)
    assert abs(got - ref) < mpmath.mpf(10) ** -15 * (1 + abs(ref)), (s, t, got, ref)
    print(f"  [{s} x {t}: closed form == nested mpmath quadrature to 1e-15 at (1.3, 0.8, -0.4)]")

print("all mixed-kernel derivations asserted")
