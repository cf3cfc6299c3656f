"""The one record every model source returns."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from torch import nn

# The input a model gets when neither the user nor the model says otherwise (C, H, W): ImageNet's.
DEFAULT_INPUT: tuple[int, ...] = (3, 224, 224)


@dataclass(frozen=True)
class Resolved:
    """A model ready to build: its display name, factory and default input size (C, H, W)."""

    name: str
    factory: Callable[[], nn.Module]
    input_size: tuple[int, ...] | None
