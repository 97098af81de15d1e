r"""Layer 2, kernels: activations and their Gaussian expectations.

Modules, each importing only those listed before it (and :mod:`symland.numerics`,
:mod:`symland.errors`):

* ``quadrature``: Gaussian expectations by quadrature (composite Gauss–Legendre, ``mpmath.quad``);
* ``activation``: the :class:`~symland.kernels.activation.Activation` record (pure data);
* ``library``: the built-in records and the parametrised families' builders;
* ``registry``: activations by name (built-ins registered on import, user activations);
* ``normal``: $\Phi$, $\varphi$, Owen's $T$ and the bivariate normal CDF (SymPy and numeric);
* ``atoms``: activations as sums of atoms with closed-form mean functions and pair kernels;
* ``price``: the total-derivative recursion for Price partials of safe forms in $(a, b, c, D)$;
* ``partials``: the dual kernel's Price partials and diagonal, symbolically;
* ``kinks``: kink-aware quadrature for piecewise-smooth activations;
* ``fallback``: quadrature for pairs without a closed form (1-D reduction, 2-D, kinked);
* ``cross``: cross kernels $E[s(u)t(v)]$ of two activations;
* ``means``: kernels with means (biases);
* ``evaluate``: numeric kernels, Price partials and diagonals of one activation;
* ``coverage``: the README table of which path each activation takes.
"""
