r"""The normal distribution: $\Phi$, $\varphi$, Owen's $T$ and the bivariate normal CDF $\Phi_2$.

SymPy forms (:func:`Phi`, :func:`phi`, the functions :class:`OwensT` and
:class:`BivariateNormalCDF` with their derivative rules) for the closed-form kernels with
means of :mod:`symland.kernels.means`, and their numeric evaluation for compiled
expressions: :data:`NUMPY_MODULES` and :data:`MPMATH_FUNCTIONS` (for :func:`~symland.numerics.compile.lambdify_mpmath`) are the ``lambdify`` modules
that map the two functions to :func:`owens_t_float` / :func:`bvn_float` (float64) and
:func:`owens_t_mp` / :func:`bvn_mp` (mpmath at the current working precision).

:func:`bvn` is written once for both kinds of number (as mpmath writes its functions once
for ``fp`` and ``mp``): numpy float64 arrays with scipy's Owen's T, or numpy object arrays
of ``mpmath.mpf`` with :func:`owens_t_mp`; only the elementary operations differ.
"""

from __future__ import annotations

import types

import numpy as np
import scipy.special
import sympy

from ..numerics.mpcontext import thread_mp

__all__ = [
    "Phi",
    "phi",
    "OwensT",
    "BivariateNormalCDF",
    "owens_t_float",
    "owens_t_mp",
    "bvn",
    "bvn_float",
    "bvn_mp",
    "NUMPY_MODULES",
]

_pi = sympy.pi
_sqrt2 = sympy.sqrt(2)


def Phi(x):
    """Standard normal CDF as a SymPy expression."""
    return (1 + sympy.erf(x / _sqrt2)) / 2


def phi(x):
    """Standard normal density as a SymPy expression."""
    return sympy.exp(-(x**2) / 2) / sympy.sqrt(2 * _pi)


class OwensT(sympy.Function):
    r"""Owen's $T(h, a) = \frac1{2\pi}\int_0^a \frac{e^{-h^2(1+x^2)/2}}{1+x^2}\,dx$.

    Derivatives: $\partial_h T = -\varphi(h)\,\operatorname{erf}(ah/\sqrt2)/2$,
    $\partial_a T = e^{-h^2(1+a^2)/2}/(2\pi(1+a^2))$.  Numeric kernels:
    :func:`owens_t_float` (scipy) and :func:`owens_t_mp` (mpmath, any precision).
    """

    nargs = 2

    @classmethod
    def eval(cls, h, a):
        if a.is_zero:
            return sympy.Integer(0)
        if h.is_zero:
            return sympy.atan(a) / (2 * _pi)
        return None

    def fdiff(self, argindex=1):
        h, a = self.args
        if argindex == 1:
            return -phi(h) * sympy.erf(a * h / _sqrt2) / 2
        if argindex == 2:
            return sympy.exp(-h**2 * (1 + a**2) / 2) / (2 * _pi * (1 + a**2))
        raise sympy.ArgumentIndexError(self, argindex)


class BivariateNormalCDF(sympy.Function):
    r"""$\Phi_2(h, k; \rho) = P(X \le h, Y \le k)$, standard normals with correlation $\rho$.

    Called as ``BivariateNormalCDF(h, k, rho, q)`` with $q = \sqrt{1-\rho^2}$
    passed separately, so that callers can supply it without cancellation
    (e.g. $q = \sqrt D/\sqrt{ab}$).  The value does not depend on ``q`` off the
    manifold $q^2 = 1 - \rho^2$ (``fdiff`` in ``q`` is 0), and

    $\partial_h\Phi_2 = \varphi(h)\,\Phi((k-\rho h)/q)$,
    $\partial_\rho\Phi_2 = e^{-(h^2 - 2\rho hk + k^2)/(2q^2)}/(2\pi q)$,

    so every total derivative along $q = \sqrt{1-\rho^2}$ is exact.  Evaluated
    through Owen's T: $\Phi_2 = \tfrac12\Phi(h) + \tfrac12\Phi(k) - T(h, a_h) - T(k, a_k) - \beta$,
    $a_h = (k - \rho h)/(hq)$, $a_k = (h - \rho k)/(kq)$, $\beta = \tfrac12$ if
    $hk < 0$ or ($hk = 0$ and $h + k < 0$), else 0 (Owen 1956, eq. 3.1).
    """

    nargs = 4

    @classmethod
    def eval(cls, h, k, rho, q):
        if h.is_zero and k.is_zero:  # Sheppard: P(X <= 0, Y <= 0) = 1/4 + asin(rho)/(2 pi)
            return sympy.Rational(1, 4) + sympy.atan2(rho, q) / (2 * _pi)
        return None

    def fdiff(self, argindex=1):
        h, k, rho, q = self.args
        if argindex == 1:
            return phi(h) * Phi((k - rho * h) / q)
        if argindex == 2:
            return phi(k) * Phi((h - rho * k) / q)
        if argindex == 3:
            return sympy.exp(-(h**2 - 2 * rho * h * k + k**2) / (2 * q**2)) / (2 * _pi * q)
        if argindex == 4:
            return sympy.Integer(0)
        raise sympy.ArgumentIndexError(self, argindex)


def owens_t_float(h, a):
    """Owen's T in float64 (``scipy.special.owens_t``), broadcasting."""
    return scipy.special.owens_t(np.asarray(h, dtype=float), np.asarray(a, dtype=float))


def owens_t_mp(h, a):
    r"""Owen's T at the current mpmath precision.

    $|a| \le 1$: the defining integral by ``mpmath.quad`` (smooth integrand on
    $[0, a]$).  $|a| > 1$: the reflection
    $T(h, a) = \tfrac12\Phi(h) + \tfrac12\Phi(ah) - \Phi(h)\Phi(ah) - T(ah, 1/a)$
    ($h, a \ge 0$; $T$ is even in $h$, odd in $a$); $T(0, a) = \arctan(a)/(2\pi)$.
    """
    h, a = thread_mp.mpf(h), thread_mp.mpf(a)
    if a == 0:
        return thread_mp.mpf(0)
    if a < 0:
        return -owens_t_mp(h, -a)
    h = abs(h)
    if h == 0:  # the defining integral is elementary: atan(a) / (2 pi)
        return thread_mp.atan(a) / (2 * thread_mp.pi)
    if thread_mp.isinf(a):
        return thread_mp.ncdf(-h) / 2
    if a > 1:
        ph, pah = thread_mp.ncdf(h), thread_mp.ncdf(a * h)
        return ph / 2 + pah / 2 - ph * pah - owens_t_mp(a * h, 1 / a)
    f = lambda x: thread_mp.exp(-h * h * (1 + x * x) / 2) / (1 + x * x)  # noqa: E731
    return thread_mp.quad(f, [0, a]) / (2 * thread_mp.pi)


#: elementary operations of :func:`bvn` for each kind of number
_FLOAT = types.SimpleNamespace(
    array=lambda v: np.asarray(v, dtype=float), owens_t=scipy.special.owens_t, ncdf=scipy.special.ndtr,
    atan2=np.arctan2, sign=np.sign, pi=np.pi, zero=0.0, quarter=0.25, half=0.5,
)
# every mpmath name is looked up at call time: the calling thread's own context
_MP = types.SimpleNamespace(
    array=lambda v: np.asarray(np.frompyfunc(lambda x: thread_mp.mpf(x), 1, 1)(v), dtype=object),
    owens_t=np.frompyfunc(owens_t_mp, 2, 1), ncdf=np.frompyfunc(lambda x: thread_mp.ncdf(x), 1, 1),
    atan2=np.frompyfunc(lambda y, x: thread_mp.atan2(y, x), 2, 1),
    sign=np.frompyfunc(lambda x: thread_mp.sign(x), 1, 1),
)


def bvn(h, k, rho, q, mp: bool = False):
    r"""$\Phi_2(h, k; \rho)$ through Owen's T (Owen 1956, eq. 3.1), ``q`` $= \sqrt{1-\rho^2}$.

    $\Phi_2 = \tfrac12\Phi(h) + \tfrac12\Phi(k) - T(h, a_h) - T(k, a_k) - \beta$ with
    $a_h = (k - \rho h)/(hq)$, $a_k = (h - \rho k)/(kq)$, $\beta = \tfrac12$ if $hk < 0$ or
    ($hk = 0$ and $h + k < 0$), else 0; $T(0, \cdot)$ is replaced by its limit
    $\operatorname{sign}(k)/4$ (resp. $\operatorname{sign}(h)/4$).  Exactly at $h = k = 0$:
    Sheppard's $\tfrac14 + \operatorname{atan2}(\rho, q)/(2\pi)$; at $q = 0$ (perfectly
    correlated): $\min(\Phi(h), \Phi(k))$ for $\rho > 0$, $\max(0, \Phi(h) + \Phi(k) - 1)$ otherwise.

    ``mp=False``: float64, broadcasting numpy arrays (a float for scalar input).
    ``mp=True``: mpmath numbers at the current working precision (as set by the caller's
    :class:`~symland.numerics.precision.Precision` context), scalars or object arrays.
    """
    X = _MP if mp else _FLOAT
    if mp:
        X = types.SimpleNamespace(**vars(_MP), pi=thread_mp.pi, zero=thread_mp.mpf(0),
                                  quarter=thread_mp.mpf(1) / 4, half=thread_mp.mpf(1) / 2)
    h, k, rho, q = np.broadcast_arrays(*(X.array(v) for v in (h, k, rho, q)))
    hz, kz, qz = h == 0, k == 0, q == 0
    with np.errstate(all="ignore"):
        # a vanishing denominator is replaced by 1: its term is replaced by the limit below
        ah = (k - rho * h) / np.where(hz | qz, 1, h * q)
        ak = (h - rho * k) / np.where(kz | qz, 1, k * q)
        th = np.where(hz, X.sign(k) / 4, X.owens_t(h, ah))
        tk = np.where(kz, X.sign(h) / 4, X.owens_t(k, ak))
        beta = np.where((h * k < 0) | ((h * k == 0) & (h + k < 0)), X.half, X.zero)
        ph, pk = X.ncdf(h), X.ncdf(k)
        val = (ph + pk) / 2 - th - tk - beta
        if np.any(qz):
            val = np.where(qz, np.where(rho > 0, np.minimum(ph, pk), np.maximum(X.zero, ph + pk - 1)), val)
        if np.any(hz & kz):
            val = np.where(hz & kz, X.quarter + X.atan2(rho, q) / (2 * X.pi), val)
    val = np.asarray(val, dtype=object if mp else float)
    return val if val.shape else val.item()


def bvn_float(h, k, rho, q):
    r"""$\Phi_2(h, k; \rho)$ in float64 (:func:`bvn`)."""
    return bvn(h, k, rho, q, mp=False)


def bvn_mp(h, k, rho, q):
    r"""$\Phi_2(h, k; \rho)$ at the current mpmath precision (:func:`bvn`)."""
    return bvn(h, k, rho, q, mp=True)


#: ``lambdify`` modules (numpy) and functions (mpmath) for expressions containing OwensT / BivariateNormalCDF
NUMPY_MODULES = [{"OwensT": owens_t_float, "BivariateNormalCDF": bvn_float}, "scipy", "numpy"]
MPMATH_FUNCTIONS = {"OwensT": owens_t_mp, "BivariateNormalCDF": bvn_mp}
