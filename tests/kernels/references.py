r"""Independent references shared by the kernel tests, typed by hand (not read from symland).

``INNER[name]`` is the mean function $m(\mu, \sigma) = E_y[s(\mu + \sigma y)]$, $y \sim N(0, 1)$,
derived by hand for the activations whose closed forms the tests check through it:
erf(z/sqrt 2): $\operatorname{erf}(\mu/\sqrt{2(1+\sigma^2)})$; plain erf: $\operatorname{erf}(\mu/\sqrt{1+2\sigma^2})$;
relu: $\mu\Phi(\mu/\sigma) + \sigma\varphi(\mu/\sigma)$; linear: $\mu$; quadratic: $\mu^2 + \sigma^2$.
"""

import sympy

MU = sympy.Symbol("mu", real=True)
SIGMA = sympy.Symbol("sigma", positive=True)


def Phi(t):
    """Standard normal CDF, SymPy."""
    return (1 + sympy.erf(t / sympy.sqrt(2))) / 2


def phi(t):
    """Standard normal density, SymPy."""
    return sympy.exp(-t**2 / 2) / sympy.sqrt(2 * sympy.pi)


INNER = {
    "erf": sympy.erf(MU / sympy.sqrt(2 * (1 + SIGMA**2))),
    "erf_plain": sympy.erf(MU / sympy.sqrt(1 + 2 * SIGMA**2)),
    "relu": MU * Phi(MU / SIGMA) + SIGMA * phi(MU / SIGMA),
    "linear": MU,
    "quadratic": MU**2 + SIGMA**2,
}
