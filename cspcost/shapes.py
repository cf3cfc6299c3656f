"""Parsing what users type: input sizes (``3x256x256``, ``256``) and comma-separated grids."""
from __future__ import annotations

import math
import numbers
from fractions import Fraction
from typing import Any, Sequence

from cspcost.errors import UsageError

# The most elements one input may have, batch included: 2^40 (1.1e12, 4 TiB of float32). Beyond
# it no device holds the activations, and a layer's MACs (elements x up to ~2^23 per element)
# would overflow int64, which torch and cspcost count in.
MAX_INPUT_ELEMENTS = 2**40


def check_shape(shape: Sequence[Any], batch: int = 1) -> tuple[int, ...]:
    """``shape`` as a tuple of Python ints (numpy integers accepted), each positive, with at most
    ``MAX_INPUT_ELEMENTS`` elements times ``batch``; else a one-line UsageError."""
    if isinstance(shape, (str, bytes)) or not isinstance(shape, Sequence) or not shape or any(
            isinstance(d, bool) or not isinstance(d, numbers.Integral) or d <= 0 for d in shape):
        raise UsageError(f"malformed input size {tuple(shape) if isinstance(shape, Sequence) else shape!r}; "
                         "expected positive ints such as (3, 224, 224)")
    dims = tuple(int(d) for d in shape)
    elements = int(batch) * math.prod(dims)  # Python ints: a numpy product would wrap around silently
    if elements > MAX_INPUT_ELEMENTS:
        size = "x".join(map(str, dims))
        raise UsageError(f"input {batch}x{size} has {elements:.3g} elements; the limit is 2^40 "
                         f"({MAX_INPUT_ELEMENTS:.3g}) per input, batch included")
    return dims


def parse_input(text: str) -> tuple[int, ...]:
    """``"3x256x256"`` -> (3, 256, 256); ``"256"`` -> (3, 256, 256). Sizes must be positive."""
    if not text.strip():
        raise UsageError("empty input size; expected e.g. 3x256x256 or 256")
    parts = text.lower().replace("*", "x").split("x")
    try:
        dims = tuple(int(p) for p in parts)
    except ValueError:
        raise UsageError(f"malformed input size {text!r}; expected e.g. 3x256x256 or 256") from None
    if any(d <= 0 for d in dims):
        raise UsageError(f"malformed input size {text!r}; every dimension must be positive")
    return check_shape((3, dims[0], dims[0]) if len(dims) == 1 else dims)


def parse_int_list(text: str) -> list[int]:
    """'32,64,256' -> [32, 64, 256]; every value a positive integer."""
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise UsageError(f"expected comma-separated integers, got {text!r}") from None
    if not values or any(v <= 0 for v in values):
        raise UsageError(f"expected positive integers, got {text!r}")
    return values


def parse_fraction_list(text: str) -> list[Fraction]:
    """'1/4,1/2,1' -> [Fraction(1, 4), Fraction(1, 2), Fraction(1)]; each in (0, 1]."""
    try:
        values = [Fraction(v.strip()) for v in text.split(",") if v.strip()]
    except (ValueError, ZeroDivisionError):
        raise UsageError(f"expected comma-separated fractions such as 1/2, got {text!r}") from None
    if not values or any(not 0 < v <= 1 for v in values):
        raise UsageError(f"split ratios must lie in (0, 1], got {text!r}")
    return values


def check_sizes(size: Sequence[Any], batch: int = 1) -> list[tuple[int, ...]]:
    """One (C, H, W) or a sequence of them (a model with several inputs), each validated with ``batch``."""
    if isinstance(size, (str, bytes)) or not isinstance(size, Sequence) or not size:
        raise UsageError(f"malformed input size {size!r}; expected positive ints such as (3, 224, 224)")
    several = isinstance(size[0], Sequence) and not isinstance(size[0], (str, bytes))
    return [check_shape(s, batch) for s in size] if several else [check_shape(size, batch)]
