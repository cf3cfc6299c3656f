"""The zoo registry: one short decorated entry point per model."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from torch import nn


@dataclass(frozen=True)
class ModelSpec:
    """What the zoo knows about one model besides its code."""

    name: str
    family: str  # e.g. "resnext", "darknet", "peleenet", "example"
    input_size: tuple[int, int, int]  # (C, H, W) the paper used
    source: str  # cfg file or paper section the model is built from
    build: Callable[..., nn.Module]  # zero-argument factory (num_classes may be passed)
    baseline: str | None = None  # the baseline of a CSP model
    paper_params: float | None = None  # paper's #Parameter (conv weights), in elements
    paper_bflops: float | None = None  # paper's BFLOPs (darknet counting), in 1e9 FLOPs
    notes: str = ""  # design decisions the sources leave open


_REGISTRY: dict[str, ModelSpec] = {}


def register(
    *,
    family: str,
    input_size: tuple[int, int, int],
    source: str,
    baseline: str | None = None,
    paper_params: float | None = None,
    paper_bflops: float | None = None,
    notes: str = "",
) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Register a factory under its function name; registering a name twice raises."""

    def decorator(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        name = fn.__name__
        if name in _REGISTRY:
            raise ValueError(f"model {name!r} is registered twice")
        _REGISTRY[name] = ModelSpec(
            name, family, input_size, source, fn, baseline, paper_params, paper_bflops, notes
        )
        return fn

    return decorator


def list_models() -> list[str]:
    """All registered model names, sorted."""
    return sorted(_REGISTRY)


def get(name: str) -> ModelSpec:
    """The spec of a registered model; KeyError if unknown."""
    return _REGISTRY[name]


def create(name: str, **kwargs: object) -> nn.Module:
    """Build a registered model (on the current default device)."""
    return _REGISTRY[name].build(**kwargs)
