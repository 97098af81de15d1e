"""Layer 5a, symmetric configurations: critical points derived symbolically.

Group ansatzes with exact reduced losses, copy-average configurations, the closed-form
critical points of one neuron, and fixed-point subspaces of the permutation symmetry.

Imports only :mod:`symland.landscape` and below (never :mod:`symland.channels`).
"""
