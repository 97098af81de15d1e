"""Layer 1, numerics: the SymPy symbols, compilation of SymPy expressions to float64 and
mpmath functions, and the one precision context (guard digits, coercion and validation of
input, rounding of results, accurate Gram determinants, extra digits near alignment).

Imports nothing else from symland except :mod:`symland.errors`.
"""
