"""The ``cspcost`` command line: option declarations plus one call into the library each.

The only package that prints or chooses an exit code: 0 ok, 1 budget exceeded, 2 bad usage or
input, 3 internal error. Data goes to stdout, diagnostics to stderr. torch is imported only inside
the commands that need it, so ``cspcost --help`` stays fast. ``app`` holds the typer app and the
error handling, ``output`` and ``options`` what the commands share; ``measure``, ``latency`` and
``catalog`` declare the commands (each registers its own on the app when imported).
"""
from cspcost.cli import catalog, latency, measure  # noqa: F401 - importing them registers the commands
from cspcost.cli.app import app, main

__all__ = ["app", "main"]
