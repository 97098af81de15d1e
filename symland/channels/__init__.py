"""Layer 5b, channels to infinity: splitting lines, channels that end in gated linear units,
training paths (gradient flow, SGD, Adam) whose end points are detected and classified, and
surveys that report end points in channels with their GLU limits.

Imports only :mod:`symland.landscape` and below (never :mod:`symland.symmetric`).
"""
