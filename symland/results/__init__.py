"""Layer 6, results: what people keep: the catalog of critical points (``catalog``, one SQLite
file, merged modulo symmetries across runs) and what they show: figures (``plot``).

Imports from every layer below (landscape, symmetric, channels), never from the command line.
"""
