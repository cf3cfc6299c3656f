"""The model a convention counts: for ``ultralytics``, Ultralytics' own fuse on a meta copy.

Ultralytics' docs tables count the model as ``model.fuse()`` leaves it: BN folded into the convs,
RepConv/RepVGG branches merged, auxiliary heads dropped where fuse drops them. cspcost calls that
same ``fuse`` (Ultralytics' code, run, not copied) on a copy whose parameters and buffers are meta
stand-ins, so the user's model is never changed and its weights are neither copied nor moved.
"""
from __future__ import annotations

import copy
import sys

import torch
from torch import nn


def meta_copy(model: nn.Module) -> nn.Module:
    """A deep copy of ``model`` whose parameters and buffers live on meta (nothing allocated)."""
    memo: dict[int, object] = {}
    for p in model.parameters():
        memo[id(p)] = nn.Parameter(torch.empty_like(p, device="meta"), requires_grad=p.requires_grad)
    for b in model.buffers():
        memo[id(b)] = torch.empty_like(b, device="meta")
    return copy.deepcopy(model, memo)


def ultralytics_model(model: nn.Module) -> nn.Module | None:
    """The Ultralytics ``BaseModel`` in ``model`` (itself, or inside a ``YOLO(...)`` wrapper), else None."""
    if "ultralytics" not in sys.modules:  # never import it for a model that cannot be one of its own
        return None
    from ultralytics.nn.tasks import BaseModel

    inner = model if isinstance(model, BaseModel) else getattr(model, "model", None)
    return inner if isinstance(inner, BaseModel) else None


def fused_copy(model: nn.Module) -> nn.Module | None:
    """Ultralytics' fuse applied to a meta copy of its model; None for a model of another library."""
    inner = ultralytics_model(model)
    if inner is None:
        return None
    fused = meta_copy(inner)
    with torch.device("meta"):  # the convs fuse makes (RepConv's merged kernel) are made on meta too
        fused.fuse(verbose=False)
    for module in fused.modules():
        if hasattr(module, "anchors") and hasattr(module, "shape"):
            # A head caches the anchors of its last real forward (on its old device) keyed by
            # input shape; forgetting the key makes the captured forward remake them.
            module.shape = None
    return fused
