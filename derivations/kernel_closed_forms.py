r"""Derive the closed-form dual kernels of symland's built-in activations, then check them.

Run:  python derivations/kernel_closed_forms.py      (exit code 0 = every check passed)

$\kappa(a, b, c) = E[s(u)s(v)]$ for a centred Gaussian pair with variances
$a, b$ and covariance $c$.  Each kernel is derived here with SymPy from first
principles and compared with ``symland.activation(name).kernel_expr``:

(a) erf(beta z) (beta = 1/sqrt 2 is symland's "erf", beta = 1 is "erf_plain"):
    Price's theorem $\partial_c\kappa = E[s'(u)s'(v)]$ with
    $s'(z) = (2\beta/\sqrt\pi)e^{-\beta^2z^2}$, a Gaussian integral
    $E[e^{-\beta^2(u^2+v^2)}] = \det(I + 2\beta^2\Sigma)^{-1/2}$ done in SymPy,
    then integrated in $c$ from $\kappa(a, b, 0) = E[s(u)]E[s(v)] = 0$ ($s$ odd).
(b) ReLU: $\partial_c\kappa = P(u > 0, v > 0) = 1/4 + \arcsin(\rho)/(2\pi)$
    (Sheppard; derived in polar coordinates), $\kappa(a, b, 0) = E[\max(u,0)]^2$-type
    product $= \sqrt{ab}/(2\pi)$, integrated in $c$.
(c) linear and quadratic: Isserlis (sum over pairings) and, independently, the
    moment generating function $E[e^{su + tv}] = e^{(as^2 + 2cst + bt^2)/2}$.
"""

from __future__ import annotations

import sys

import mpmath
import sympy as sp

import symland
from symland.numerics import symbols
from symland.numerics.mpcontext import thread_mp

FAILURES: list[str] = []


def check(ok: bool, what: str) -> None:
    """Record one assertion (not `assert`: the checks must also run under python -O)."""
    print(("PASS  " if ok else "FAIL  ") + what)
    if not ok:
        FAILURES.append(what)


def show(title: str, expr) -> None:
    print(f"\n{title}:")
    print(sp.pretty(expr, use_unicode=True))
    print("LaTeX: " + sp.latex(expr))


# symbols: a, b > 0 variances, c real covariance with c^2 < ab
a, b = sp.symbols("a b", positive=True)
c, t = sp.symbols("c t", real=True)
z, x, y = sp.symbols("z x y", real=True)
r, theta = sp.symbols("r theta", nonnegative=True)
rho = sp.Symbol("rho", real=True)
SYM = {symbols.a_: a, symbols.b_: b, symbols.c_: c}


def symland_kernel(name):
    """symland's kernel_expr with its symbols mapped onto the positive ones used here."""
    return symland.activation(name).kernel_expr.xreplace(SYM)


def same(e1, e2) -> bool:
    """Symbolic equality, with inverse trig functions put in asin form and square roots factored."""
    def norm(e):
        e = e.rewrite(sp.asin)
        return e.replace(
            lambda q: q.is_Pow and q.exp.is_Rational and q.exp.q == 2, lambda q: sp.factor(q.base) ** q.exp
        )

    return sp.simplify(norm(e1) - norm(e2)) == 0


def numeric_same(e1, e2, points, digits=30) -> bool:
    f1 = sp.lambdify((a, b, c), e1, modules="mpmath")
    f2 = sp.lambdify((a, b, c), e2, modules="mpmath")
    with mpmath.workdps(digits + 10), thread_mp.workdps(digits + 10):
        return all(
            abs(f1(*map(mpmath.mpf, p)) - f2(*map(mpmath.mpf, p))) <= mpmath.mpf(10) ** -digits for p in points
        )


POINTS = [("1.3", "0.7", "0.4"), ("0.5", "2", "-0.8"), ("0.001", "3", "0.05")]


def agree(derived, target, what) -> None:
    """Symbolic equality; if SymPy cannot decide it, 30-digit agreement at three covariances."""
    if same(derived, target):
        check(True, what + "  (symbolic)")
    else:
        check(numeric_same(derived, target, POINTS), what + "  (numerical, 30 digits)")


# ---------------------------------------------------------------------------
# the bivariate Gaussian integral E[exp(-x^T M x / 2)] = det(I + Sigma M)^(-1/2)
# ---------------------------------------------------------------------------
def gaussian_exp_quadratic(m: sp.Expr):
    r"""$E[e^{-m(u^2+v^2)/2}]$ for $(u,v) \sim N(0, \Sigma)$, derived by integrating the density.

    With $P = \Sigma^{-1} + mI$ (positive definite), the integrand is
    $e^{-w^T P w/2} / (2\pi\sqrt{\det\Sigma})$; integrate over $v$, then $u$.
    """
    Sigma = sp.Matrix([[a, c], [c, b]])
    P = Sigma.inv() + m * sp.eye(2)
    p11, p12, p22 = sp.symbols("p11 p12 p22", positive=True)  # generic positive definite P
    q = p11 * x**2 + 2 * p12 * x * y + p22 * y**2
    inner = sp.integrate(sp.exp(-q / 2), (y, -sp.oo, sp.oo), conds="none")
    k = sp.Symbol("k", positive=True)  # k = p11 - p12^2/p22 > 0 for positive definite P
    inner = sp.simplify(inner.subs(p11, k + p12**2 / p22))
    outer = sp.simplify(sp.integrate(inner, (x, -sp.oo, sp.oo), conds="none"))
    outer = sp.simplify(outer.subs(k, p11 - p12**2 / p22))
    # outer == 2 pi / sqrt(det P) with det P = p11 p22 - p12^2
    check(same(outer, 2 * sp.pi / sp.sqrt(p11 * p22 - p12**2)), "Gaussian integral: int exp(-w^T P w/2) dw = 2 pi / sqrt(det P)")
    # E = (2 pi sqrt(det Sigma))^-1 * 2 pi / sqrt(det P) = (det(Sigma) det(P))^(-1/2), and
    # det(Sigma) det(Sigma^-1 + m I) = det(I + m Sigma)
    detP = sp.simplify(P.det())
    check(sp.simplify(Sigma.det() * detP - (sp.eye(2) + m * Sigma).det()) == 0,
          f"det(Sigma) det(Sigma^-1 + {m} I) = det(I + {m} Sigma)")
    return sp.simplify(1 / sp.sqrt((sp.eye(2) + m * Sigma).det()))


# ---------------------------------------------------------------------------
# (a) erf(beta z)
# ---------------------------------------------------------------------------
def derive_erf(name: str, beta: sp.Expr):
    print(f"\n=== (a) {name}: s(z) = erf({beta} z) ===")
    s = sp.erf(beta * z)
    check(sp.simplify(s.subs(z, -z) + s) == 0, f"{name}: s is odd, so E[s(u)] = 0 and kappa(a, b, 0) = 0")
    ds = sp.diff(s, z)
    check(sp.simplify(ds - 2 * beta / sp.sqrt(sp.pi) * sp.exp(-beta**2 * z**2)) == 0,
          f"{name}: s'(z) = (2 beta/sqrt(pi)) exp(-beta^2 z^2)")
    # E[s'(u) s'(v)] = (4 beta^2 / pi) E[exp(-beta^2 (u^2 + v^2))], m = 2 beta^2
    gauss = gaussian_exp_quadratic(2 * beta**2)
    dkappa = sp.simplify(4 * beta**2 / sp.pi * gauss)
    show(f"{name}: d kappa / dc = E[s'(u) s'(v)]", dkappa)
    kappa = sp.integrate(dkappa.subs(c, t), (t, 0, c))
    kappa = sp.simplify(kappa)
    show(f"{name}: kappa(a, b, c) = int_0^c E[s'(u)s'(v)] dc'", kappa)
    check(same(sp.diff(kappa, c), dkappa) and kappa.subs(c, 0) == 0, f"{name}: derived kappa solves the ODE in c")
    agree(kappa, symland_kernel(name), f"{name}: derived kappa == symland kernel_expr")
    expected = 2 / sp.pi * sp.asin(2 * beta**2 * c / sp.sqrt((1 + 2 * beta**2 * a) * (1 + 2 * beta**2 * b)))
    agree(kappa, expected, f"{name}: kappa == (2/pi) asin(2 beta^2 c / sqrt((1 + 2 beta^2 a)(1 + 2 beta^2 b)))")
    return kappa


# ---------------------------------------------------------------------------
# (b) relu
# ---------------------------------------------------------------------------
def derive_relu():
    print("\n=== (b) relu: s(z) = max(z, 0) ===")
    # E[relu(u)], u ~ N(0, a)
    mean = sp.integrate(z * sp.exp(-z**2 / (2 * a)) / sp.sqrt(2 * sp.pi * a), (z, 0, sp.oo))
    check(sp.simplify(mean - sp.sqrt(a / (2 * sp.pi))) == 0, "relu: E[max(u, 0)] = sqrt(a / (2 pi))")
    kappa0 = sp.simplify(mean * mean.subs(a, b))
    show("relu: kappa(a, b, 0) = E[s(u)] E[s(v)]", kappa0)
    check(sp.simplify(kappa0 - sp.sqrt(a * b) / (2 * sp.pi)) == 0, "relu: kappa(a, b, 0) = sqrt(ab)/(2 pi)")

    # Sheppard: (u, v) ~ (x, rho x + sqrt(1 - rho^2) y) up to positive scales; with
    # phi0 = acos(rho): rho cos(th) + sin(phi0) sin(th) = cos(th - phi0)
    phi0 = sp.Symbol("phi0", positive=True)  # phi0 in (0, pi)
    check(sp.simplify(sp.expand_trig(sp.cos(theta - phi0)) - (sp.cos(phi0) * sp.cos(theta) + sp.sin(phi0) * sp.sin(theta))) == 0,
          "relu: rho x + sqrt(1-rho^2) y = r cos(theta - acos(rho)) in polar coordinates")
    # {x > 0} = {|theta| < pi/2}, {v > 0} = {|theta - phi0| < pi/2}: the wedge (phi0 - pi/2, pi/2)
    density = r * sp.exp(-r**2 / 2) / (2 * sp.pi)
    prob = sp.integrate(sp.integrate(density, (r, 0, sp.oo)), (theta, phi0 - sp.pi / 2, sp.pi / 2))
    prob = sp.simplify(prob.subs(phi0, sp.acos(rho)))
    sheppard = sp.Rational(1, 4) + sp.asin(rho) / (2 * sp.pi)
    show("relu: P(u > 0, v > 0)", prob)
    check(sp.simplify(prob.rewrite(sp.asin) - sheppard) == 0, "relu: P(u>0, v>0) = 1/4 + asin(rho)/(2 pi)  (Sheppard)")
    # numerical check of the wedge argument: P = int_0^inf phi(x) Phi(rho x / sqrt(1 - rho^2)) dx
    with mpmath.workdps(30), thread_mp.workdps(30):
        ok = True
        for rv in ("-0.9", "-0.3", "0.2", "0.95"):
            rv = mpmath.mpf(rv)
            num = mpmath.quad(lambda xx: mpmath.npdf(xx) * mpmath.ncdf(rv * xx / mpmath.sqrt(1 - rv * rv)), [0, mpmath.inf])
            ok &= abs(num - (mpmath.mpf(1) / 4 + mpmath.asin(rv) / (2 * mpmath.pi))) < mpmath.mpf(10) ** -25
    check(ok, "relu: Sheppard's formula agrees with 1-D quadrature at 25 digits")

    # Price: d kappa / dc = E[s'(u) s'(v)] = P(u > 0, v > 0) with rho = c / sqrt(ab)
    dkappa = sheppard.subs(rho, c / sp.sqrt(a * b))
    show("relu: d kappa / dc", dkappa)
    kappa = kappa0 + sp.integrate(dkappa.subs(c, t), (t, 0, c))
    kappa = sp.simplify(kappa)
    show("relu: kappa(a, b, c) = kappa(a, b, 0) + int_0^c P(u>0, v>0) dc'", kappa)
    check(same(sp.diff(kappa, c), dkappa), "relu: derived kappa solves the ODE in c")
    agree(kappa, symland_kernel("relu"), "relu: derived kappa == symland kernel_expr")
    return kappa


# ---------------------------------------------------------------------------
# (c) polynomials: Isserlis and the moment generating function
# ---------------------------------------------------------------------------
def isserlis(variables):
    """E[prod variables] for a centred Gaussian, summing covariances over all perfect matchings."""
    cov = {("u", "u"): a, ("v", "v"): b, ("u", "v"): c, ("v", "u"): c}
    items = list(variables)
    if not items:
        return sp.Integer(1)
    if len(items) % 2:
        return sp.Integer(0)
    first, rest = items[0], items[1:]
    total = sp.Integer(0)
    for k in range(len(rest)):
        total += cov[(first, rest[k])] * isserlis(rest[:k] + rest[k + 1:])
    return sp.expand(total)


def mgf_moment(p, q):
    s1, s2 = sp.symbols("s1 s2", real=True)
    M = sp.exp((a * s1**2 + 2 * c * s1 * s2 + b * s2**2) / 2)
    return sp.expand(sp.diff(M, s1, p, s2, q).subs({s1: 0, s2: 0}))


def derive_polynomials():
    print("\n=== (c) linear and quadratic ===")
    for name, (p, q) in (("linear", (1, 1)), ("quadratic", (2, 2))):
        iss = isserlis(["u"] * p + ["v"] * q)
        mgf = mgf_moment(p, q)
        show(f"{name}: kappa = E[u^{p} v^{q}] (Isserlis)", iss)
        check(sp.simplify(iss - mgf) == 0, f"{name}: Isserlis == moment generating function")
        check(sp.simplify(iss - symland_kernel(name)) == 0, f"{name}: derived kappa == symland kernel_expr")
    # quadratic, a third way: Price gives d kappa / dc = E[2u 2v] = 4c and kappa(a, b, 0) = E[u^2]E[v^2] = ab
    via_price = a * b + sp.integrate(4 * t, (t, 0, c))
    check(sp.simplify(via_price - symland_kernel("quadratic")) == 0, "quadratic: ab + int_0^c 4 c' dc' == symland kernel_expr")


def main() -> int:
    derive_erf("erf", 1 / sp.sqrt(2))
    derive_erf("erf_plain", sp.Integer(1))
    derive_relu()
    derive_polynomials()
    print()
    if FAILURES:
        print(f"{len(FAILURES)} check(s) FAILED:")
        for f in FAILURES:
            print("  - " + f)
        return 1
    print("all derivations agree with symland's closed forms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
