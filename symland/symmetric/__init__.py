"""Layer 5a, symmetric configurations: critical points derived symbolically.

Group ansatzes with exact reduced losses, copy-average configurations, the closed-form
critical points of one neuron, fixed-point subspaces of the permutation symmetry and the
critical points found in them (classified by the inertia of their mpmath Hessians).

Imports only :mod:`symland.landscape` and below (never :mod:`symland.channels`).
"""
