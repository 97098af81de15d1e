"""Layer 4, landscape: critical points of a problem.

Float64 solvers (trust region, gradient flow, Newton), refinement to many digits by
mpmath Newton, classification by the Hessian spectrum, symmetry groups and deduplication
of points modulo symmetry, and multi-start surveys.

Imports only :mod:`symland.problems` and below.
"""
