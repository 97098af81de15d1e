"""Layer 5b, channels to infinity: splitting lines, channels that end in gated linear units,
and training paths (gradient flow, SGD, Adam) whose end points are detected and classified.

Imports only :mod:`symland.landscape` and below (never :mod:`symland.symmetric`).
"""
