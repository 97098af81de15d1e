r"""Layer 2, kernels: activations and their Gaussian expectations.

The activation record and the built-in library, the exact dual kernels
$\kappa(a, b, c) = E[s(u)s(v)]$ and their Price partials, cross kernels of two
activations, kernels with means (biases), and the quadrature paths (smooth, 1-D
reductions, kink-split) for activations without a closed form; ``coverage`` reports
which path each activation takes.

Imports only :mod:`symland.numerics` and :mod:`symland.errors`.
"""
