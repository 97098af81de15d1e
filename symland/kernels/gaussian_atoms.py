r"""Activation expressions as linear combinations of Gaussian-integrable atoms.

An activation $s(z)$ is split exactly into $s = \sum_i x_i A_i(z)$ with constant
$x_i$ and atoms

=====================  ===========================  ===============================================
atom                   $A(z)$                       mean function $m(\mu,\sigma) = E[A(\mu+\sigma y)]$
=====================  ===========================  ===============================================
``("poly", k)``        $z^k$                        $\sum_{j\,\mathrm{even}}\binom kj\mu^{k-j}\sigma^j(j-1)!!$
``("phi", w2)``        $\Phi(z/w)$, $w^2$ = ``w2``  $\Phi(\mu/\sqrt{w^2+\sigma^2})$ (``w2 = 0``: step)
``("relu", p)``        $\max(z,0)^p$, $p \ge 1$     $\sum_j\binom pj\mu^{p-j}\sigma^jT_j(\mu/\sigma)$
``("zphi", w2)``       $z\Phi(z/w)$                 $\mu\Phi(\mu/q) + \sigma^2\varphi(\mu/q)/q$, $q^2 = w^2+\sigma^2$
``("expq", al, be)``   $e^{\alpha z^2+\beta z}$     $(1-2\alpha\sigma^2)^{-1/2}\exp(\alpha\mu^2+\beta\mu+\frac{(2\alpha\mu+\beta)^2\sigma^2}{2(1-2\alpha\sigma^2)})$
``("sin", w)``         $\sin\omega z$               $\sin(\omega\mu)e^{-\omega^2\sigma^2/2}$
``("cos", w)``         $\cos\omega z$               $\cos(\omega\mu)e^{-\omega^2\sigma^2/2}$
``("expstep", be)``    $e^{\beta z}1\{z>0\}$        $e^{\beta\mu+\beta^2\sigma^2/2}\Phi(\mu/\sigma+\beta\sigma)$
=====================  ===========================  ===============================================

with truncated moments $T_j(r) = E[y^j 1\{y > -r\}]$: $T_0 = \Phi(r)$,
$T_1 = \varphi(r)$, $T_j = (-r)^{j-1}\varphi(r) + (j-1)T_{j-2}$ (by parts).
Rewrites used: $|z| = 2\max(z,0) - z$, $\min(z,0) = z - \max(z,0)$,
$\mathrm{sign} = 2H - 1$, $H(-z) = 1 - H(z)$, $\operatorname{erf}(kz) = 2\Phi(\sqrt2 kz) - 1$,
$z^k\max(z,0)^p = \max(z,0)^{p+k}$ (equalities almost everywhere, which is
all a Gaussian expectation sees).

:func:`atom_pair` gives the exact cross kernel $E[A(u)B(v)]$ of two atoms
(covariance $[[a, c], [c, b]]$) where a rule is known; see
:mod:`symland.kernels.cross` for the rules and ``derivations/mixed_kernels.py`` for
their derivations.
"""

from __future__ import annotations

import functools

import sympy

from ..numerics.expression import to_sympy
from ..numerics.symbols import D_, a_, b_, c_, z
from .library import GELU, arccos_kernels

__all__ = ["mu", "sigma", "decompose", "mean_function", "atom_mean", "atom_pair", "atom_pair_supported", "tidy"]

mu = sympy.Symbol("mu", real=True)
sigma = sympy.Symbol("sigma", positive=True)
_pi = sympy.pi
_sqrt2 = sympy.sqrt(2)
_ap = sympy.Symbol("a_pos", positive=True)
_bp = sympy.Symbol("b_pos", positive=True)

_PhiA = sympy.Function("PhiAtom")  # PhiAtom(w2) = Phi(z / sqrt(w2))
_ReluA = sympy.Function("ReluAtom")  # ReluAtom(p) = max(z, 0)^p


def Phi(x):
    """Standard normal CDF as a SymPy expression."""
    return (1 + sympy.erf(x / _sqrt2)) / 2


def phi(x):
    """Standard normal density as a SymPy expression."""
    return sympy.exp(-(x**2) / 2) / sympy.sqrt(2 * _pi)


def _exact_const(x):
    return x.is_number and not x.atoms(sympy.Float) and x.is_real


# ---------------------------------------------------------------------------
# decomposition
# ---------------------------------------------------------------------------
def _rewrite(expr):
    # exp(beta min(z, 0)) = e^{beta z} (1 - H(z)) + H(z)  (SELU)
    def expmin(e):
        arg = e.args[0]
        mins = [m for m in arg.atoms(sympy.Min) if set(m.args) == {z, sympy.Integer(0)}]
        if len(mins) != 1:
            return None
        be = sympy.simplify(arg / mins[0])
        if be.has(z) or not _exact_const(be):
            return None
        return sympy.exp(be * z) * (1 - sympy.Heaviside(z)) + sympy.Heaviside(z)

    expr = expr.replace(lambda e: isinstance(e, sympy.exp) and expmin(e) is not None, expmin)
    expr = expr.replace(lambda e: isinstance(e, sympy.Abs) and e.args[0] == z, lambda e: 2 * sympy.Max(z, 0) - z)
    expr = expr.replace(
        lambda e: isinstance(e, sympy.Min) and set(e.args) == {z, sympy.Integer(0)}, lambda e: z - sympy.Max(z, 0)
    )
    expr = expr.replace(lambda e: isinstance(e, sympy.sign) and e.args[0] == z, lambda e: 2 * sympy.Heaviside(z) - 1)

    def heav(e):
        if e.args[0] == z:
            return _PhiA(0)
        if e.args[0] == -z:
            return 1 - _PhiA(0)
        return None

    expr = expr.replace(lambda e: isinstance(e, sympy.Heaviside) and heav(e) is not None, heav)

    def erfk(e):
        k = sympy.simplify(e.args[0] / z)
        if k.has(z) or not _exact_const(k) or k == 0:
            return None
        return (2 * _PhiA(1 / (2 * k**2)) - 1) * sympy.sign(k)

    expr = expr.replace(lambda e: isinstance(e, sympy.erf) and erfk(e) is not None, erfk)
    expr = expr.replace(
        lambda e: isinstance(e, sympy.Max) and set(e.args) == {z, sympy.Integer(0)}, lambda e: _ReluA(1)
    )
    return expr


def _term_atom(term):
    """(coefficient, atom) of one product term, or None."""
    coeff = sympy.Integer(1)
    k = 0
    relu = 0  # total relu power (0: none)
    step = False
    phis = []
    expo = sympy.Integer(0)
    trig = []
    for f in sympy.Mul.make_args(term):
        base, e = f.as_base_exp()
        if not f.has(z) and not f.has(_PhiA, _ReluA) and not (f.is_Pow and f.base == z):
            coeff *= f
        elif base == z and e.is_Integer and e > 0:
            k += int(e)
        elif isinstance(base, sympy.exp) or base is sympy.E:
            expo += (base.args[0] if isinstance(base, sympy.exp) else 1) * e
        elif isinstance(base, type(_ReluA(1))) and base.func == _ReluA and e.is_Integer and e > 0:
            relu += int(base.args[0]) * int(e)
        elif isinstance(base, type(_PhiA(0))) and base.func == _PhiA and e.is_Integer and e > 0:
            if base.args[0] == 0:
                step = True
            elif e == 1:
                phis.append(base.args[0])
            else:
                return None
        elif isinstance(base, (sympy.sin, sympy.cos)) and e == 1:
            trig.append(base)
        else:
            return None
    if coeff.atoms(sympy.Float) or coeff.has(z):
        return None
    expo = sympy.expand(expo)
    if expo != 0:
        poly = sympy.Poly(expo, z) if expo.has(z) else None
        if poly is None or poly.degree() > 2 or not all(_exact_const(co) for co in poly.all_coeffs()):
            return None
        al, be, ga = (poly.coeff_monomial(z**j) for j in (2, 1, 0))
        coeff *= sympy.exp(ga)
        if trig or phis or relu or k:
            return None
        if step:
            return (coeff, ("expstep", be)) if al == 0 else None
        return coeff, ("expq", al, be)
    if trig:
        if len(trig) > 1 or phis or relu or step or k:
            return None
        w = sympy.simplify(trig[0].args[0] / z)
        if w.has(z) or not _exact_const(w) or w == 0:
            return None
        if isinstance(trig[0], sympy.sin):
            return (coeff, ("sin", w)) if w > 0 else (-coeff, ("sin", -w))
        return coeff, ("cos", abs(w))
    if phis:
        if len(phis) > 1 or relu or step or k > 1:
            return None
        return coeff, ("zphi", phis[0]) if k == 1 else ("phi", phis[0])
    p = relu + k
    if relu or step:
        return coeff, ("phi", sympy.Integer(0)) if p == 0 else ("relu", p)
    return coeff, ("poly", k)


def _freeze(expr, table):
    """Replace irrational constant factors by placeholders (keeps coefficients such as SELU's compact)."""
    if not expr.args or not expr.has(z):
        return expr
    if isinstance(expr, sympy.Mul):
        const = [f for f in expr.args if not f.has(z)]
        rest = [f for f in expr.args if f.has(z)]
        k = sympy.Mul(*const)
        if not k.is_Rational:
            d = table.setdefault(k, sympy.Dummy("k"))
            k = d
        return k * sympy.Mul(*[_freeze(f, table) for f in rest])
    if isinstance(expr, sympy.Add):
        return sympy.Add(*[_freeze(a, table) for a in expr.args])
    return expr  # function arguments (erf(z/sqrt 2), sin(w z)) keep their exact constants


@functools.lru_cache(maxsize=None)
def decompose(expr):
    """``{atom: coefficient}`` with ``expr`` equal (a.e.) to ``sum(coefficient * atom)``, or None."""
    expr = to_sympy(expr)
    if expr.free_symbols - {z}:
        return None
    table = {}
    frozen = _freeze(expr, table)
    back = {d: k for k, d in table.items()}
    out = {}
    for term in sympy.Add.make_args(sympy.expand(_rewrite(frozen))):
        r = _term_atom(term)
        if r is None:
            return None
        co, atom = r
        if atom[0] == "expq" and atom[1] == 0 and atom[2] == 0:
            atom = ("poly", 0)
        out[atom] = out.get(atom, 0) + co
    out = {k: sympy.factor(v).xreplace(back) if back else v for k, v in out.items()}
    return {k: v for k, v in out.items() if v != 0}


# ---------------------------------------------------------------------------
# mean functions
# ---------------------------------------------------------------------------
def _truncated_moments(n, r):
    T = [Phi(r), phi(r)]
    for j in range(2, n + 1):
        T.append((-r) ** (j - 1) * phi(r) + (j - 1) * T[j - 2])
    return T


@functools.lru_cache(maxsize=None)
def atom_mean(atom):
    r"""$m(\mu, \sigma) = E[A(\mu + \sigma y)]$, $y \sim N(0,1)$, in the symbols :data:`mu`, :data:`sigma`."""
    kind = atom[0]
    if kind == "poly":
        k = atom[1]
        return sum(
            sympy.binomial(k, j) * mu ** (k - j) * sigma**j * sympy.factorial2(j - 1) for j in range(0, k + 1, 2)
        )
    if kind == "phi":
        return Phi(mu / sympy.sqrt(atom[1] + sigma**2))
    if kind == "relu":
        p = atom[1]
        T = _truncated_moments(p, mu / sigma)
        return sum(sympy.binomial(p, j) * mu ** (p - j) * sigma**j * T[j] for j in range(p + 1))
    if kind == "zphi":
        q = sympy.sqrt(atom[1] + sigma**2)
        return mu * Phi(mu / q) + sigma**2 * phi(mu / q) / q
    if kind == "expq":
        al, be = atom[1], atom[2]
        den = 1 - 2 * al * sigma**2
        return sympy.exp(al * mu**2 + be * mu + (2 * al * mu + be) ** 2 * sigma**2 / (2 * den)) / sympy.sqrt(den)
    if kind == "sin":
        return sympy.sin(atom[1] * mu) * sympy.exp(-atom[1] ** 2 * sigma**2 / 2)
    if kind == "cos":
        return sympy.cos(atom[1] * mu) * sympy.exp(-atom[1] ** 2 * sigma**2 / 2)
    if kind == "expstep":
        be = atom[1]
        return sympy.exp(be * mu + be**2 * sigma**2 / 2) * Phi(mu / sigma + be * sigma)
    raise ValueError(f"unknown atom {atom!r}")


@functools.lru_cache(maxsize=None)
def mean_function(expr):
    r"""$E[s(\mu + \sigma y)]$ in closed form for an activation expression, or None."""
    d = decompose(to_sympy(expr))
    if d is None:
        return None
    return sum((x * atom_mean(A) for A, x in d.items()), sympy.Integer(0))


# ---------------------------------------------------------------------------
# pairs of atoms: (exact in a, b, c; safe in a, b, c, D)
# ---------------------------------------------------------------------------
_TILT = ("expq", "sin", "cos")


def _swap(pair):
    if pair is None:
        return None
    return tuple(e.xreplace({a_: b_, b_: a_}) for e in pair)


def _at_mu0(m, n):
    """$\\partial_\\mu^n m$ at $\\mu = 0$, $\\sigma = \\sqrt a$."""
    d = sympy.diff(m, mu, n).subs(mu, 0)
    return d.subs(sigma, sympy.sqrt(_ap)).subs(_ap, a_)


def _price_taylor(A, k):
    r"""$E[A(u)\,v^k] = \sum_n c^n/n!\,E[A^{(n)}(u)]\,E[(v^k)^{(n)}]$ (finite: Price's theorem)."""
    m = atom_mean(A)
    tot = sympy.Integer(0)
    for n in range(k + 1):
        r = k - n
        if r % 2:
            continue
        ev = sympy.factorial(k) / sympy.factorial(r) * b_ ** (r // 2) * sympy.factorial2(r - 1)
        tot += c_**n / sympy.factorial(n) * _at_mu0(m, n) * ev
    return tot, tot


def _erf_imag(expr):
    """erf(i y) -> i erfi(y) for real y, so that real and imaginary parts separate."""
    def f(e):
        y = sympy.expand(e.args[0] / sympy.I)
        return sympy.I * sympy.erfi(y) if y.is_real else None

    return expr.replace(lambda e: isinstance(e, sympy.erf) and f(e) is not None, f)


def _tilt(A, B):
    r"""$E[A(u)B(v)]$ for $B = e^{\alpha v^2+\beta v}$, $\sin\omega v$, $\cos\omega v$ by exponential tilting."""
    m = atom_mean(A)
    if B[0] == "expq":
        al, be = B[1], B[2]
        den = 1 - 2 * al * _bp
        Z = sympy.exp(be**2 * _bp / (2 * den)) / sympy.sqrt(den)
        mup = c_ * be / den
        out = []
        for Dv in (_ap * _bp - c_**2, D_):
            s2 = (_ap - 2 * al * Dv) / den
            out.append(Z * m.subs({mu: mup, sigma: sympy.sqrt(s2)}, simultaneous=True))
        return tuple(e.subs({_ap: a_, _bp: b_}) for e in out)
    w = B[1]
    val = sympy.exp(-(w**2) * _bp / 2) * m.subs({mu: sympy.I * w * c_, sigma: sympy.sqrt(_ap)}, simultaneous=True)
    val = sympy.expand(_erf_imag(sympy.expand(val)))
    re, im = val.as_real_imag()
    part = im if B[0] == "sin" else re
    part = part.subs({_ap: a_, _bp: b_})
    if part.has(sympy.I, sympy.re, sympy.im):
        return None
    return part, part


def _orthant(w1, w2):
    ex = sympy.Rational(1, 4) + sympy.asin(c_ / sympy.sqrt((a_ + w1) * (b_ + w2))) / (2 * _pi)
    # 1/4 + atan2(c, s)/(2 pi) = atan2(s, -c)/(2 pi): no cancellation as c -> -sqrt(ab) (step x step)
    sf = sympy.atan2(sympy.sqrt(D_ + a_ * w2 + b_ * w1 + w1 * w2), -c_) / (2 * _pi)
    return ex, sf


def _r_plus_c(r, Dx):
    """$r + c$ with $r^2 - c^2 = D_x$, without cancellation: $D_x/(r - c)$ for $c < 0$."""
    return sympy.Piecewise((r + c_, c_ >= 0), (Dx / (r - c_), True))


def _relu_phi(p, w2):
    r"""$E[\max(u,0)^p\,\Phi(v/w)]$ by Price in $c$ from $c = 0$ (``derivations/mixed_kernels.py``).

    With $B = b + w^2$ and $D_w = aB - c^2 = D + aw^2$:
    $p = 1$: $\sqrt a/(2\sqrt{2\pi}) + c/(2\sqrt{2\pi B})$;
    $p = 2$: $a/4 + (c\sqrt{D_w} + aB\arcsin(c/\sqrt{aB}))/(2\pi B)$;
    $p = 3$: $a^{3/2}/\sqrt{2\pi} + (3ac - c^3/B)/(2\sqrt{2\pi B})$.
    Safe forms avoid the cancellation at $c \to -\sqrt{aB}$ (only reachable for the step,
    $w = 0$): with $r = \sqrt{aB}$, $r + c = D_w/(r - c)$ and
    $\pi/2 + \arcsin(c/r) = \operatorname{atan2}(\sqrt{D_w}, -c)$.
    """
    B = b_ + w2
    r = sympy.sqrt(a_ * B)
    Dw = D_ + a_ * w2
    rc = _r_plus_c(r, Dw)
    if p == 1:
        ex = sympy.sqrt(a_) / (2 * sympy.sqrt(2 * _pi)) + c_ / (2 * sympy.sqrt(2 * _pi * B))
        return ex, rc / (2 * sympy.sqrt(2 * _pi * B))
    if p == 2:
        ex = a_ / 4 + (c_ * sympy.sqrt(a_ * B - c_**2) + a_ * B * sympy.asin(c_ / r)) / (2 * _pi * B)
        sf = c_ * sympy.sqrt(Dw) / (2 * _pi * B) + a_ * sympy.atan2(sympy.sqrt(Dw), -c_) / (2 * _pi)
        return ex, sf
    if p == 3:
        ex = a_ ** sympy.Rational(3, 2) / sympy.sqrt(2 * _pi) + (3 * a_ * c_ - c_**3 / B) / (2 * sympy.sqrt(2 * _pi * B))
        # a^{3/2}/sqrt(2 pi) + (3ac - c^3/B)/(2 sqrt(2 pi B)) = (r + c)^2 (2r - c) / (2 sqrt(2 pi) B^{3/2})
        sf = rc**2 * (2 * r - c_) / (2 * sympy.sqrt(2 * _pi) * B ** sympy.Rational(3, 2))
        return ex, sf
    return None


def _zphi_phi(w1, w2):
    r"""$E[u\Phi(u/w_1)\Phi(v/w_2)] = a\,E[N_{w_1^2}(u)\Phi_{w_2}(v)] + c\,E[\Phi_{w_1}(u)N_{w_2^2}(v)]$ (Stein)."""
    e = a_ / (2 * sympy.sqrt(2 * _pi * (a_ + w1))) + c_ / (2 * sympy.sqrt(2 * _pi * (b_ + w2)))
    return e, e


def _relu_relu(p, q):
    if p == q and p <= 3:
        return arccos_kernels(p)
    if p < q:
        return _relu_cross(p, q)
    return _swap(_relu_cross(q, p))


def _zphi_zphi(w1, w2):
    if w1 != w2:
        return None
    g = GELU
    sub = {a_: a_ / w1, b_: b_ / w1, c_: c_ / w1, D_: D_ / w1**2}
    return w1 * g.kernel_expr.xreplace(sub), w1 * g.safe_kernel_expr.xreplace(sub)


def _relu_cross(p, q):
    r"""$E[\max(u,0)^p\max(v,0)^q]$ for $1 \le p < q \le 3$, by Price integration in $c$
    ($\partial_c K_{p,q} = pq\,K_{p-1,q-1}$, $K_{0,q}$ from :func:`_relu_phi`; derived and asserted
    in ``derivations/mixed_kernels.py``).  With $r = \sqrt{ab}$:
    $K_{1,2} = (r + c)^2/(2\sqrt{2\pi a})$, $K_{2,3} = (r + c)^3/\sqrt{2\pi a}$,
    $K_{1,3} = 3bc/4 + \tfrac{3b}{2\pi}(c\arcsin(c/r) + \sqrt D) - D^{3/2}/(2\pi a)$.
    Safe forms: $r + c = D/(r - c)$, $\pi/2 + \arcsin(c/r) = \operatorname{atan2}(\sqrt D, -c)$."""
    r = sympy.sqrt(a_ * b_)
    rc = _r_plus_c(r, D_)
    if (p, q) == (1, 2):
        den = 2 * sympy.sqrt(2 * _pi * a_)
        return (r + c_) ** 2 / den, rc**2 / den
    if (p, q) == (2, 3):
        den = sympy.sqrt(2 * _pi * a_)
        return (r + c_) ** 3 / den, rc**3 / den
    if (p, q) == (1, 3):
        sD = sympy.sqrt(a_ * b_ - c_**2)
        ex = 3 * b_ * c_ / 4 + 3 * b_ / (2 * _pi) * (c_ * sympy.asin(c_ / r) + sD) - sD**3 / (2 * _pi * a_)
        sD = sympy.sqrt(D_)
        sf = 3 * b_ * (c_ * sympy.atan2(sD, -c_) + sD) / (2 * _pi) - D_ * sD / (2 * _pi * a_)
        return ex, sf
    return None


#: E[max(x,0)^p], x ~ N(0, 1)
_RELU_MOMENT = {0: sympy.Rational(1, 2), 1: 1 / sympy.sqrt(2 * _pi), 2: sympy.Rational(1, 2), 3: 2 / sympy.sqrt(2 * _pi)}


def _zphi_relu(w1, p):
    r"""$E[u\Phi(u/w)\max(v,0)^p]$ by Stein on $u$:
    $a\,E[N_{w^2}(u)\max(v,0)^p] + c\,p\,E[\Phi(u/w)\max(v,0)^{p-1}]$, where the first term is
    $a\,N_{a+w^2}(0)\,M_p\,s^p$ with $s^2 = (D + bw^2)/(a + w^2)$ (conditioning on $u + wx = 0$)."""
    if p > 3:
        return None
    A = a_ + w1
    if p == 1:
        rest = _orthant(w1, sympy.Integer(0))
    else:
        rest = _swap(_relu_phi(p - 1, w1))
    out = []
    for k, s2 in enumerate(((a_ * b_ - c_**2 + b_ * w1) / A, (D_ + b_ * w1) / A)):
        first = a_ / sympy.sqrt(2 * _pi * A) * _RELU_MOMENT[p] * sympy.sqrt(s2) ** p
        out.append(first + c_ * p * rest[k])
    return tuple(out)


_TABLE_KINDS = {("phi", "phi"), ("relu", "phi"), ("phi", "relu"), ("zphi", "phi"), ("phi", "zphi"),
                ("relu", "relu"), ("zphi", "relu"), ("relu", "zphi")}


def atom_pair_supported(A, B) -> bool:
    """Cheap structural test: does :func:`atom_pair` have a rule for (A, B)?  (Agrees with it; tested.)"""
    if "poly" in (A[0], B[0]):
        return True
    if B[0] in _TILT or A[0] in _TILT:
        other, tilt = (A, B) if B[0] in _TILT else (B, A)
        # sin/cos: erf of a complex (not purely imaginary) argument has no real/imaginary split here
        return not (tilt[0] in ("sin", "cos") and other[0] == "expstep")
    if (A[0], B[0]) in _TABLE_KINDS:
        if A[0] == "relu" and B[0] == "relu":
            return A[1] <= 3 and B[1] <= 3
        if "relu" in (A[0], B[0]):
            return (A[1] if A[0] == "relu" else B[1]) <= 3
        return True
    return A[0] == B[0] == "zphi" and A[1] == B[1]


def atom_pair(A, B):
    """(exact, safe) $E[A(u)B(v)]$ for atoms A (variance a) and B (variance b), or None."""
    return _atom_pair_cached(A, B)


@functools.lru_cache(maxsize=None)
def _atom_pair_cached(A, B):
    if B[0] == "poly":
        return _price_taylor(A, B[1])
    if A[0] == "poly":
        return _swap(_price_taylor(B, A[1]))
    if B[0] in _TILT:
        return _tilt(A, B)
    if A[0] in _TILT:
        return _swap(_tilt(B, A))
    kinds = (A[0], B[0])
    if kinds == ("phi", "phi"):
        return _orthant(A[1], B[1])
    if kinds == ("relu", "phi"):
        return _relu_phi(A[1], B[1])
    if kinds == ("phi", "relu"):
        return _swap(_relu_phi(B[1], A[1]))
    if kinds == ("zphi", "phi"):
        return _zphi_phi(A[1], B[1])
    if kinds == ("phi", "zphi"):
        return _swap(_zphi_phi(B[1], A[1]))
    if kinds == ("relu", "relu"):
        return _relu_relu(A[1], B[1])
    if kinds == ("zphi", "relu"):
        return _zphi_relu(A[1], B[1])
    if kinds == ("relu", "zphi"):
        return _swap(_zphi_relu(B[1], A[1]))
    if kinds == ("zphi", "zphi"):
        return _zphi_zphi(A[1], B[1])
    return None


def tidy(expr):
    """Light, cheap normalisation of a combined kernel (no floats, like terms collected)."""
    return sympy.expand(expr, deep=False, mul=True, multinomial=False, power_exp=False, power_base=False, log=False)
