"""The one record every model source returns."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from torch import nn

# The input a model gets when neither the user nor the model says otherwise (C, H, W): ImageNet's.
DEFAULT_INPUT: tuple[int, ...] = (3, 224, 224)


@dataclass(frozen=True)
class Resolved:
    """A model ready to build: its display name, factory and default input size (C, H, W).

    ``input_size`` may also be a tuple of such shapes (a model of several inputs). A model whose
    forward takes something else (a list of images) or needs real values gives ``inputs``: a
    factory of the forward's positional arguments, made on the CPU; ``device`` then names the
    device its forward needs ("cpu" when it reads tensor values, where meta cannot go), and
    ``reason`` says why in a few words.
    """

    name: str
    factory: Callable[[], nn.Module]
    input_size: tuple[Any, ...] | None
    inputs: Callable[[], list[Any]] | None = None
    device: str | None = None
    reason: str = ""
