r"""Gaussian expectations by quadrature, for activations without a closed form.

Two-dimensional expectations $E[f(u)g(v)]$ with
$(u, v) \sim \mathcal N(0, [[a, c], [c, b]])$ are written with the Cholesky
factor: $u = \sqrt a\,x$, $v = (c/\sqrt a)\,x + \sqrt{D/a}\,y$ with
$x, y$ independent standard normals and $D = ab - c^2$.

* float64: tensor composite Gauss–Legendre on the truncated standard-normal
  domain $[-8.5, 8.5]$, 12 nodes per panel, panels narrower than half the
  distance to the nearest complex pole of tanh-like activations ($\pi/(2\sigma)$),
  vectorised over all covariances at once (Gauss–Hermite converges only like
  $e^{-c\sqrt N}$ for such integrands and lost up to 7 digits on fourth
  derivatives at variance 4);
* mpmath: ``mpmath.quad`` (tanh–sinh) on $\mathbb R^2$ at the working precision
  plus guard digits; the quadrature error estimate is checked and a
  :class:`~symland.errors.ConvergenceError` is raised if it exceeds the
  requested accuracy, so a number is never returned with fewer digits than
  asked for without notice.
"""

from __future__ import annotations

import functools

import numpy as np
import sympy

from ..errors import ConvergenceError, NoClosedFormError
from ..numerics.compile import compile_numpy, lambdify_mpmath
from ..numerics.mpcontext import thread_mp
from ..numerics.precision import gram_determinant
from ..numerics.symbols import NONSMOOTH, z

__all__ = [
    "FLOAT_NODES",
    "ACCURACY_STATEMENT",
    "hermite_normal",
    "hermite_table",
    "derivative_function",
    "expect2_float",
    "expect1_float",
    "expect2_mp",
    "expect1_mp",
    "check_kernel_against_quadrature",
]

#: Gauss–Hermite nodes per dimension (:func:`hermite_normal`, used for user checks only)
FLOAT_NODES = 96

#: what a quadrature kernel promises (measured for tanh, sigmoid, softplus in tests/kernels/test_quadrature.py)
ACCURACY_STATEMENT = (
    "quadrature: float64 tensor composite Gauss-Legendre (panels adapted to the largest variance), "
    "relative error <= 1e-10 for the kernel and its Price partials up to total order 4 at "
    "variances <= 10 (diagonal E[s(u)^2] and its first two derivatives <= 1e-12; orders 3-4, "
    "not used by loss, gradient or Hessian, <= 1e-8); mpmath quad (nested "
    "tanh-sinh) at any precision with its error estimate checked, ~10 s to a minute per value"
)

_CHUNK = 1 << 21  # evaluations per numpy chunk


@functools.lru_cache(maxsize=None)
def hermite_normal(n: int):
    """Nodes and weights with $\\sum_k w_k h(x_k) \\approx E[h(X)]$, $X \\sim N(0, 1)$."""
    x, w = np.polynomial.hermite.hermgauss(n)
    return np.sqrt(2.0) * x, w / np.sqrt(np.pi)


#: half-width of the truncated standard-normal domain (tail mass ~1e-17)
_L = 8.5
#: Gauss-Legendre nodes per panel
_Q = 12


def hermite_table(n: int, x):
    r"""``[He_0(x), ..., He_n(x)]``, probabilists' Hermite polynomials, by He_{k+1} = x He_k - k He_{k-1}
    (``x`` a number or an array; the derivatives of the standard normal density are
    $\varphi^{(k)} = (-1)^k\mathrm{He}_k\varphi$)."""
    out = [x * 0 + 1]
    if n >= 1:
        out.append(x * 1)
    for k in range(1, n):
        out.append(x * out[k] - k * out[k - 1])
    return out


@functools.lru_cache(maxsize=None)
def derivative_function(expr, order: int, mp: bool = False, what: str = "the activation",
                        hint: str = "register a closed-form kernel"):
    r"""$h^{(order)}(z)$ of a SymPy expression $h$ in :data:`~symland.numerics.symbols.z`, compiled for
    quadrature: numpy float64 (``mp=False``) or mpmath at the current precision.

    Quadrature of Price partials needs classical derivatives, so a derivative that still contains
    kinks or jumps (``Max``, ``Heaviside``, ``DiracDelta`` ...) raises
    :class:`~symland.errors.NoClosedFormError` naming ``what`` and ``hint``.
    """
    e = sympy.diff(expr, z, order) if order else expr
    if e.has(*NONSMOOTH):
        raise NoClosedFormError(
            f"{what}: the derivative of order {order} is not a smooth function ({e}); "
            f"quadrature needs classical derivatives ({hint})"
        )
    return lambdify_mpmath(z, e) if mp else sympy.lambdify(z, e, modules=["scipy", "numpy"])


def composite_normal(panels: int, points=()):
    """Composite Gauss–Legendre nodes/weights for $E[h(X)]$, $X \\sim N(0,1)$, on $[-L, L]$.

    About ``panels`` panels, split at ``points`` (those outside $(-L, L)$ are ignored) and
    shared between the pieces in proportion to their lengths (at least one each), so kinks or
    jumps of $h$ at the split points sit on panel edges.  Rules without a split or split at 0
    (kinks at the mean) are cached; others depend on the means and are not.
    """
    points = tuple(sorted(float(x) for x in points if -_L < x < _L))
    return _composite_cached(panels, points) if points in ((), (0.0,)) else _composite(panels, points)


def _composite(panels, points):
    g, gw = np.polynomial.legendre.leggauss(_Q)
    cuts = [-_L, *points, _L]
    edges = [np.array([-_L])]
    for lo, hi in zip(cuts[:-1], cuts[1:]):
        edges.append(np.linspace(lo, hi, max(1, int(round(panels * (hi - lo) / (2 * _L)))) + 1)[1:])
    edges = np.concatenate(edges)
    half = (edges[1:] - edges[:-1]) / 2
    mid = (edges[1:] + edges[:-1]) / 2
    x = (mid[:, None] + half[:, None] * g[None, :]).ravel()
    w = (half[:, None] * gw[None, :]).ravel() * np.exp(-x * x / 2) / np.sqrt(2 * np.pi)
    return x, w


_composite_cached = functools.lru_cache(maxsize=None)(_composite)


#: panel width relative to the distance of the nearest complex pole (measured: 0.5 keeps
#: fourth derivatives of tanh at variance 10 to ~1e-14 relative)
_WIDTH = 0.5


def _panels(std_max: float) -> int:
    """Panels so that each is narrower than ``_WIDTH`` x the distance to the nearest complex pole.

    Activations like tanh have poles at distance pi/2 from the real axis, i.e.
    pi/(2 std) in the standard-normal variable.
    """
    width = min(1.0, _WIDTH * (np.pi / 2) / max(std_max, 1e-300))
    return int(min(4096, max(17, np.ceil(2 * _L / width))))


def expect1_float(h, t, m=0.0):
    """$E[h(u)]$, $u \\sim N(m, t)$, vectorised over ``t, m`` (float64, composite Gauss–Legendre)."""
    t, m = np.broadcast_arrays(np.asarray(t, dtype=float), np.asarray(m, dtype=float))
    x, w = composite_normal(_panels(float(np.sqrt(np.max(t))) if t.size else 1.0))
    u = m[..., None] + np.sqrt(t)[..., None] * x
    return np.asarray(h(u) * np.ones_like(u)) @ w


def expect2_float(f, g, a, b, c, D, m1=0.0, m2=0.0):
    """$E[f(u) g(v)]$ for Gaussian $(u, v)$ with means $(m_1, m_2)$ and covariance $[[a, c], [c, b]]$.

    Tensor composite Gauss–Legendre on the Cholesky variables, vectorised over
    broadcast ``a, b, c, D, m1, m2``; a zero variance ``a`` is handled by
    conditioning on ``v`` instead.  The means only shift the nodes
    ($u = m_1 + \\sqrt a\\,x$, $v = m_2 + \\ldots$), so the stated accuracy holds
    for smooth integrands whatever the means.
    """
    a, b, c, D, m1, m2 = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (a, b, c, D, m1, m2)))
    shape = a.shape
    a, b, c, D, m1, m2 = (v.ravel() for v in (a, b, c, D, m1, m2))
    std = float(np.sqrt(max(np.max(a), np.max(b)))) if a.size else 1.0
    x, w = composite_normal(_panels(std))
    n = x.size
    X = np.repeat(x, n)
    Y = np.tile(x, n)
    W = np.repeat(w, n) * np.tile(w, n)
    out = np.empty(a.shape)
    step = max(1, _CHUNK // W.size)
    for s in range(0, a.size, step):
        sl = slice(s, s + step)
        aa, bb, cc, dd = a[sl, None], b[sl, None], c[sl, None], D[sl, None]
        s1, s2 = m1[sl, None], m2[sl, None]
        pos = aa > 0
        sa = np.sqrt(aa)
        with np.errstate(divide="ignore", invalid="ignore"):
            mu = np.where(pos, cc / np.where(pos, sa, 1.0), 0.0)
            sig = np.where(pos, np.sqrt(dd / np.where(pos, aa, 1.0)), np.sqrt(bb))
        u = s1 + sa * X
        v = s2 + mu * X + sig * Y
        vals = np.asarray(f(u) * np.ones_like(u)) * np.asarray(g(v) * np.ones_like(v))
        out[sl] = vals @ W
    return out.reshape(shape)


def _mp_check(val, err, what):
    tol = thread_mp.mpf(10) ** (-thread_mp.dps + 2) * max(1, abs(val))
    if not (err <= tol):
        raise ConvergenceError(
            f"mpmath quadrature of {what} did not reach {thread_mp.dps - 2} digits "
            f"(error estimate {thread_mp.nstr(err, 3)}); the integrand may be non-smooth",
            [err],
        )
    return val


#: working digits beyond the requested ``dps`` inside ``mpmath.quad``.  Fewer than the context's
#: GUARD_DIGITS on purpose: tanh-sinh's cost grows with the working precision, and the error estimate
#: is checked against ``dps`` digits, so these digits only absorb the rounding of the rule itself.
_GUARD_QUAD = 10


def expect1_mp(h, t, dps: int, m=0, split=None):
    """$E[h(u)]$, $u \\sim N(m, t)$, by ``mpmath.quad`` at ``dps`` digits.

    The integral is split at the mean and, if given, at ``split`` (a point of $u$,
    or a list of them, where $h$ has a kink or jump), so tanh-sinh sees smooth pieces only.
    """
    with thread_mp.workdps(dps + _GUARD_QUAD):
        t = thread_mp.mpf(t)
        m = thread_mp.mpf(m)
        st = thread_mp.sqrt(t)
        norm = 1 / thread_mp.sqrt(2 * thread_mp.pi)
        points = {thread_mp.mpf(0)}
        if split is not None and st > 0:
            for k in (split if isinstance(split, (list, tuple)) else [split]):
                points.add((thread_mp.mpf(k) - m) / st)
        val, err = thread_mp.quad(
            lambda x: h(m + st * x) * thread_mp.exp(-x * x / 2) * norm, [-thread_mp.inf, *sorted(points), thread_mp.inf],
            error=True,
        )
        with thread_mp.workdps(dps):
            val = _mp_check(val, err, "a one-dimensional Gaussian expectation")
    with thread_mp.workdps(dps):
        return +val


def expect2_mp(f, g, a, b, c, D, dps: int, m1=0, m2=0):
    r"""$E[f(u) g(v)]$ by nested one-dimensional ``mpmath.quad`` at ``dps`` digits.

    $(u, v)$ Gaussian with means $(m_1, m_2)$ and covariance $[[a, c], [c, b]]$:
    $E[f(u)g(v)] = E_x[f(m_1 + \sqrt a\,x)\,E_y[g(m_2 + \mu x + \sigma y)]]$; both levels
    use tanh-sinh with the error estimates checked.  Cost: of the order of
    10 s per value at 20 digits, a minute at 30 (this path is for checking
    and polishing, the float64 path for exploring).
    """
    with thread_mp.workdps(dps + _GUARD_QUAD):
        a, b, c, D, m1, m2 = (thread_mp.mpf(v) for v in (a, b, c, D, m1, m2))
        if a > 0:
            sa = thread_mp.sqrt(a)
            mu, sig = c / sa, thread_mp.sqrt(D / a)
        else:
            sa, mu, sig = thread_mp.mpf(0), thread_mp.mpf(0), thread_mp.sqrt(b)
        norm = 1 / thread_mp.sqrt(2 * thread_mp.pi)
        ii = [-thread_mp.inf, 0, thread_mp.inf]
        worst = [thread_mp.mpf(0)]

        def inner(x, weight):
            m = m2 + mu * x
            if sig == 0:
                return g(m)
            val, err = thread_mp.quad(lambda y: g(m + sig * y) * thread_mp.exp(-y * y / 2), ii, error=True)
            # the inner error enters the outer integral weighted by |f| times the outer density
            worst[0] = max(worst[0], err * norm * abs(weight))
            return val * norm

        def outer(x):
            weight = f(m1 + sa * x) * thread_mp.exp(-x * x / 2)
            return weight * inner(x, weight * norm) if weight else weight

        if sa == 0:
            val, err = f(m1) * inner(thread_mp.mpf(0), f(m1)), thread_mp.mpf(0)
        else:
            val, err = thread_mp.quad(outer, ii, error=True)
            val *= norm
        with thread_mp.workdps(dps):
            val = _mp_check(val, max(err, worst[0]), "a two-dimensional Gaussian expectation")
    with thread_mp.workdps(dps):
        return +val


def check_kernel_against_quadrature(act, rtol: float = 1e-8) -> None:
    """Refuse a user-supplied closed form that disagrees with float64 quadrature.

    Compares the kernel at four fixed covariances with composite Gauss–Legendre
    quadrature at two fine resolutions (panels 2 and 8 times narrower than
    the default); their difference estimates the quadrature error (large for
    kinked activations such as relu), and the closed
    form must agree within twice that estimate plus ``rtol``.
    """
    global _WIDTH
    s = sympy.lambdify(z, act.expr, modules=["scipy", "numpy"])
    f = compile_numpy(act.safe_kernel_expr)
    a = np.array([1.0, 0.7, 2.0, 1.3])
    b = np.array([1.0, 1.5, 0.5, 1.3])
    c = np.array([0.3, -0.6, 0.9, 1.2])
    D = gram_determinant(a, b, c)
    got = np.asarray(f(a, b, c, D) * np.ones_like(a), dtype=float)
    saved = _WIDTH
    try:
        _WIDTH = saved / 2
        coarse = expect2_float(s, s, a, b, c, D)
        _WIDTH = saved / 8
        fine = expect2_float(s, s, a, b, c, D)
    finally:
        _WIDTH = saved
    # the fine level's error is below |fine - coarse| whenever refining 4x gains a factor 2
    tol = 2 * np.abs(fine - coarse) + rtol * (1 + np.abs(fine))
    if not np.all(np.abs(got - fine) <= tol):
        raise ValueError(
            f"kernel of activation {act.name!r} disagrees with quadrature: "
            f"closed form {got.tolist()} vs quadrature {fine.tolist()} (error estimate "
            f"{np.abs(fine - coarse).tolist()}) at a={a.tolist()}, b={b.tolist()}, c={c.tolist()}"
        )
