"""Parsing input sizes: ``3x256x256``, ``256`` (3 channels, square) or ``1x3x32x32``."""
from __future__ import annotations

from .errors import UsageError


def parse_input(text: str) -> tuple[int, ...]:
    """``"3x256x256"`` -> (3, 256, 256); ``"256"`` -> (3, 256, 256). Sizes must be positive."""
    parts = text.lower().replace("*", "x").split("x")
    try:
        dims = tuple(int(p) for p in parts)
    except ValueError:
        raise UsageError(f"malformed input size {text!r}; expected e.g. 3x256x256 or 256") from None
    if any(d <= 0 for d in dims):
        raise UsageError(f"malformed input size {text!r}; every dimension must be positive")
    return (3, dims[0], dims[0]) if len(dims) == 1 else dims
