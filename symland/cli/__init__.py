"""Layer 6, the ``symland`` command line: one module per group of subcommands."""

from .main import build_parser, main

__all__ = ["main", "build_parser"]
