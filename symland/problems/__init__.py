r"""Layer 3, problems: loss landscapes assembled from kernel partials.

The teacher-student problem $L = \tfrac12 E_x[(f(x) - f^*(x))^2]$, $x \sim N(0, I_d)$, with
loss, gradient and Hessian in float64 or at any precision; biases, a teacher activation
different from the student's, and gated linear units are assemblies of the same problem;
``reduction`` solves problems with large ``d`` in the span of the weights.

Imports only :mod:`symland.kernels` and below.
"""
