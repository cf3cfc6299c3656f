"""The one record every model source returns."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from torch import nn


@dataclass(frozen=True)
class Resolved:
    """A model ready to build: its display name, factory and default input size (C, H, W)."""

    name: str
    factory: Callable[[], nn.Module]
    input_size: tuple[int, ...] | None
