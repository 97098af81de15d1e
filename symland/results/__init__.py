"""Layer 6, results: what people keep and show -- figures (``plot``).

Imports from every layer below (landscape, symmetric, channels), never from the command line.
"""
