r"""Derivation of the kernels with means (neurons with biases), asserted step by step.

Run: ``python derivations/bias_kernels.py [--small]``.  Prints the closed forms
(LaTeX) and asserts:

1. Owen's T derivative rules, from the definition
   $T(h, a) = \frac1{2\pi}\int_0^a e^{-h^2(1+x^2)/2}/(1+x^2)\,dx$: $\partial_a$ by
   the fundamental theorem of calculus, $\partial_h$ by differentiating under the
   integral and integrating in closed form (SymPy).
2. The bivariate normal CDF rules: conditioning on $X = x$ gives
   $\Phi_2(h, k; \rho) = \int_{-\infty}^h \varphi(x)\Phi((k-\rho x)/\sqrt{1-\rho^2})dx$, hence
   $\partial_h\Phi_2 = \varphi(h)\Phi((k-\rho h)/\sqrt{1-\rho^2})$; Plackett's identity
   $\partial_\rho\Phi_2 = \varphi_2(h, k; \rho)$ is checked numerically; Owen's formula
   for $\Phi_2$ through $T$ against the Plackett integral.
3. Stein's lemma with means, $E[(u-\mu_1)g(u, v)] = aE[\partial_ug] + cE[\partial_vg]$,
   reduces $E[\mathrm{relu}(u)\mathrm{relu}(v)]$ to $\Phi_2$, delta terms and
   1-D truncated moments:
   $E[\mathrm{relu}\,\mathrm{relu}] = \mu_1E[\mathbf 1\,\mathrm{relu}] + aE[\delta\,\mathrm{relu}] + cE[\mathbf 1\,\mathbf 1]$, ...;
   the result at zero means equals the arc-cosine kernel (Cho & Saul), and it
   matches a 1-D mpmath quadrature with means.
4. Normal-CDF family: $E[\Phi(ru)\Phi(r'v)] = P(Z_1 - ru \le 0, Z_2 - r'v \le 0)$,
   a bivariate normal CDF; erf = $2\Phi(z) - 1$; zero means give Saad & Solla's kernel.
5. Gaussian-exponential sums (exp, sin, cos, Gaussian bump) by the Gaussian
   integral with a complex linear term: real forms printed; zero means give the
   registered kernels (symbolically); the heat equation
   $\partial_a\kappa = \tfrac12\partial_{\mu_1}^2\kappa$ (Price with means) holds symbolically.
"""

from __future__ import annotations

import argparse
import sys

import mpmath
import sympy

import symland
from symland.kernels import means as bias
from symland.numerics.compile import lambdify_mpmath
from symland.numerics.mpcontext import thread_mp
from symland.kernels import normal
from symland.numerics.symbols import D_, a_, b_, c_

mpf = mpmath.mpf


def owens_t_rules():
    h = sympy.Symbol("h", positive=True)
    a, x = sympy.symbols("a x", positive=True)
    integrand = sympy.exp(-h**2 * (1 + x**2) / 2) / (1 + x**2) / (2 * sympy.pi)
    T = sympy.Integral(integrand, (x, 0, a))
    da = sympy.diff(T, a).doit()
    assert sympy.simplify(da - sympy.diff(normal.OwensT(h, a), a)) == 0
    dh = sympy.integrate(sympy.diff(integrand, h), (x, 0, a))
    assert sympy.simplify(dh - sympy.diff(normal.OwensT(h, a), h)) == 0
    print("Owen's T:  dT/dh =", sympy.latex(sympy.diff(normal.OwensT(h, a), h)))
    print("           dT/da =", sympy.latex(sympy.diff(normal.OwensT(h, a), a)))


def _plackett(h, k, rho):
    f = lambda t: mpmath.exp(-(h * h + k * k - 2 * h * k * mpmath.sin(t)) / (2 * mpmath.cos(t) ** 2))  # noqa: E731
    return mpmath.ncdf(h) * mpmath.ncdf(k) + mpmath.quad(f, [0, mpmath.asin(rho)]) / (2 * mpmath.pi)


def bvn_rules():
    h, k, r = sympy.symbols("h k rho", real=True)
    x = sympy.Symbol("x", real=True)
    q = sympy.sqrt(1 - r**2)
    Phi = lambda t: (1 + sympy.erf(t / sympy.sqrt(2))) / 2  # noqa: E731
    phi = lambda t: sympy.exp(-t**2 / 2) / sympy.sqrt(2 * sympy.pi)  # noqa: E731
    cond = sympy.Integral(phi(x) * Phi((k - r * x) / q), (x, -sympy.oo, h))
    assert sympy.simplify(sympy.diff(cond, h).doit() - sympy.diff(normal.BivariateNormalCDF(h, k, r, q), h)) == 0
    with mpmath.workdps(30), thread_mp.workdps(30):
        for hh, kk, rr in ((mpf("0.3"), mpf("-0.7"), mpf("0.45")), (mpf("-1.1"), mpf("0.2"), mpf("-0.8")),
                           (mpf(0), mpf("0.9"), mpf("0.3"))):
            got = sympy.lambdify((h, k, r), sympy.diff(normal.BivariateNormalCDF(h, k, r, q), r), "mpmath")(hh, kk, rr)
            assert abs(got - mpmath.diff(lambda t: _plackett(hh, kk, t), rr)) < mpf(10) ** -25
            owen = normal.bvn_mp(hh, kk, rr, mpmath.sqrt(1 - rr * rr))
            assert abs(owen - _plackett(hh, kk, rr)) < mpf(10) ** -28
    print("Phi_2:  dPhi_2/dh =", sympy.latex(sympy.diff(normal.BivariateNormalCDF(h, k, r, q), h)))
    print("        dPhi_2/drho =", sympy.latex(sympy.diff(normal.BivariateNormalCDF(h, k, r, q), r)))


def _ref_1d(s, t_mean, a, b, c, m1, m2):
    """E[s(u) t(v)] = E_x[s(m1 + sqrt(a) x) m_t(m2 + c x / sqrt(a), sqrt(D/a))] by 1-D mpmath.quad."""
    sa = mpmath.sqrt(a)
    mu, sig = c / sa, mpmath.sqrt((a * b - c * c) / a)
    return mpmath.quad(lambda x: s(m1 + sa * x) * t_mean(m2 + mu * x, sig) * mpmath.npdf(x), [-14, -m1 / sa, 14])


def relu_with_means(small):
    k = bias.mean_kernel_expr("relu")
    print("E[relu(u) relu(v)] with means =", sympy.latex(k))
    f = lambdify_mpmath(bias.MEAN_ARGS, k, normal.MPMATH_FUNCTIONS)
    relu_mean = lambda m, s: m * mpmath.ncdf(m / s) + s * mpmath.npdf(m / s)  # noqa: E731
    relu = lambda x: x if x > 0 else mpf(0)  # noqa: E731
    pts = [("1.3", "0.8", "0.4", "0.3", "-0.5"), ("0.7", "1.9", "-0.9", "-1.2", "0.4")]
    with mpmath.workdps(35), thread_mp.workdps(35):
        for p in pts[: 1 if small else 2]:
            a, b, c, m1, m2 = (mpf(v) for v in p)
            got = f(a, b, c, a * b - c * c, m1, m2)
            ref = _ref_1d(relu, relu_mean, a, b, c, m1, m2)
            assert abs(got - ref) < mpf(10) ** -28, (got, ref)
            # zero means: the arc-cosine kernel of degree 1
            z0 = f(a, b, c, a * b - c * c, 0, 0)
            arccos = (mpmath.sqrt(a * b - c * c) + c * (mpmath.pi - mpmath.acos(c / mpmath.sqrt(a * b)))) / (2 * mpmath.pi)
            assert abs(z0 - arccos) < mpf(10) ** -30
    print("  relu with means: matches 1-D quadrature to 28 digits; zero means = arc-cosine kernel")


def phi_family():
    k = bias.mean_kernel_expr("erf")
    print("E[erf(u/sqrt2) erf(v/sqrt2)] with means =", sympy.latex(k))
    k0 = k.subs({bias.mu1_: 0, bias.mu2_: 0})
    with mpmath.workdps(30), thread_mp.workdps(30):
        f = lambdify_mpmath((a_, b_, c_, D_), k0, normal.MPMATH_FUNCTIONS)
        a, b, c = mpf("1.2"), mpf("0.6"), mpf("-0.5")
        saad = 2 / mpmath.pi * mpmath.asin(c / mpmath.sqrt((1 + a) * (1 + b)))
        assert abs(f(a, b, c, a * b - c * c) - saad) < mpf(10) ** -28
    print("  zero means: (2/pi) asin(c/sqrt((1+a)(1+b))) (Saad & Solla)")


def gexp_family():
    for s, t in (("sin", "sin"), ("cos", "cos"), ("exp", "exp"), ("gauss", "gauss"), ("sin", "gauss")):
        k = bias.mean_kernel_expr(s, t)
        print(f"E[{s}(u) {t}(v)] with means =", sympy.latex(k))
        # heat equation (Price with means): d/da = 1/2 d^2/dmu1^2, d/dc = d^2/dmu1 dmu2
        assert sympy.simplify(sympy.diff(k, a_) - sympy.diff(k, bias.mu1_, 2) / 2) == 0
        assert sympy.simplify(sympy.diff(k, c_) - sympy.diff(k, bias.mu1_, bias.mu2_)) == 0
        if s == t:
            k0 = k.subs({bias.mu1_: 0, bias.mu2_: 0})
            reg = symland.activation(s).kernel_expr
            assert sympy.simplify((k0 - reg).rewrite(sympy.exp)) == 0, (s, k0, reg)
    print("  zero means = registered kernels; heat equation holds symbolically")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--small", action="store_true", help="fewer numeric check points")
    args = ap.parse_args(argv)
    owens_t_rules()
    bvn_rules()
    relu_with_means(args.small)
    phi_family()
    gexp_family()
    print("all bias-kernel derivations asserted")
    return 0


if __name__ == "__main__":
    sys.exit(main())
