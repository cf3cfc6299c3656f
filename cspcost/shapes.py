"""Parsing what users type: input sizes (``3x256x256``, ``256``) and comma-separated grids."""
from __future__ import annotations

from fractions import Fraction
from typing import Any, Sequence

from cspcost.errors import UsageError


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


def check_shape(shape: Sequence[Any]) -> tuple[int, ...]:
    """``shape`` as a tuple, or a UsageError unless it is a non-empty sequence of positive ints."""
    if not shape or any(not isinstance(d, int) or d <= 0 for d in shape):
        raise UsageError(f"malformed input size {tuple(shape)!r}; expected positive ints such as (3, 224, 224)")
    return tuple(shape)


def check_sizes(size: Sequence[Any]) -> list[tuple[int, ...]]:
    """One (C, H, W) or a sequence of them (a model with several inputs), each validated."""
    if not size:
        raise UsageError("malformed input size (); expected positive ints such as (3, 224, 224)")
    several = isinstance(size[0], (list, tuple))
    return [check_shape(s) for s in size] if several else [check_shape(size)]
