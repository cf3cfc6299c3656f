"""``torchvision:NAME``: a torchvision model with random weights, at its weights' crop size.

``torchvision.models.get_model(NAME, weights=None)``, and ``weights_backbone=None`` for the
detection, segmentation and video models that take a backbone, so nothing is ever downloaded.
The default input is the crop size of the model's DEFAULT weights' transforms (224 for most,
299 for inception_v3, 240-600 for the EfficientNets), the size torchvision's published ``_ops``
and accuracies use; 224 when the weights name none (their metadata is read, nothing fetched).
"""
from __future__ import annotations

import inspect
from typing import Any

from torch import nn

from cspcost.sources.libraries import require, unknown
from cspcost.sources.record import DEFAULT_INPUT, Resolved

PREFIX = "torchvision:"


def resolve(spec: str) -> Resolved:
    """A ``torchvision:NAME`` spec."""
    models = require("torchvision.models", "torchvision", spec)
    name = spec[len(PREFIX):]
    if name not in models.list_models():
        raise unknown("torchvision", name, models.list_models(), "torchvision.models.list_models() lists all")
    return Resolved(spec, lambda: _build(models, name), _crop_size(models, name))


def _crop_size(models: Any, name: str) -> tuple[int, int, int]:
    """(3, S, S) with S the DEFAULT weights' transforms crop size, else 224."""
    try:
        transforms = models.get_model_weights(name).DEFAULT.transforms
        crop = transforms.keywords.get("crop_size") if hasattr(transforms, "keywords") else None
    except (ValueError, AttributeError, KeyError):  # a builder without registered weights
        crop = None
    side = crop[0] if isinstance(crop, (list, tuple)) else crop
    return (3, side, side) if isinstance(side, int) else DEFAULT_INPUT


def _build(models: Any, name: str) -> nn.Module:
    """Build with no weights at all: neither the model's nor its backbone's."""
    kwargs: dict[str, Any] = {"weights": None}
    if _takes_backbone(models, name):
        kwargs["weights_backbone"] = None
    if name in ("inception_v3", "googlenet"):
        kwargs["init_weights"] = True  # their default; said explicitly to silence the FutureWarning
    return models.get_model(name, **kwargs)


def _takes_backbone(models: Any, name: str) -> bool:
    """Detection, segmentation and video builders accept ``weights_backbone``."""
    builder = models.get_model_builder(name)
    return "weights_backbone" in inspect.signature(builder).parameters
