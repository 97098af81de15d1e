"""Layer 4, landscape: critical points of a problem.

Float64 solvers (trust region, gradient flow, Newton), refinement to many digits by
mpmath Newton, classification by the Hessian spectrum, symmetry groups and deduplication
of points modulo symmetry, and multi-start surveys (with an optional end-point classifier:
the channels layer passes one that recognises channels to infinity).

Imports only :mod:`symland.problems` and below.
"""
