"""``timm:NAME``: a timm model with random weights, at its own ``pretrained_cfg`` input size.

``timm.create_model(NAME, pretrained=False)``: nothing is downloaded. The default input is the
model's ``pretrained_cfg["input_size"]`` (cspresnext50 3x256x256, inception_v3 3x299x299,
vit_small_patch14_dinov2 3x518x518), which is what timm's benchmark tables use.
"""
from __future__ import annotations

from cspcost.sources.libraries import require, unknown
from cspcost.sources.record import DEFAULT_INPUT, Resolved

PREFIX = "timm:"


def resolve(spec: str) -> Resolved:
    """A ``timm:NAME`` spec (a pretrained tag such as ``.a1_in1k`` may follow the name)."""
    timm = require("timm", "timm", spec)
    name = spec[len(PREFIX):]
    if not timm.is_model(name):
        raise unknown("timm", name, timm.list_models(), "timm.list_models() lists all")
    cfg = timm.get_pretrained_cfg(name)
    size = tuple(cfg.input_size) if cfg is not None and cfg.input_size else DEFAULT_INPUT
    return Resolved(spec, lambda: timm.create_model(name, pretrained=False), size)
