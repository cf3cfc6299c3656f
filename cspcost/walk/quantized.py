"""torch.ao quantized models as the walker sees them: packed weights and where they must run.

A quantized conv or linear keeps its int8 weight and fp32 bias inside a packed-params
``torch.ScriptObject`` (fbgemm, x86, qnnpack, onednn alike), not in parameters: ops receive that
object, and ``module.parameters()`` does not see it. Both are unpacked here, once per op or module.
Quantized kernels (``quantized::conv2d``, ``quantized::add``, ...) have no meta implementation and
their packed weights cannot be given meta stand-ins, so a quantized model runs on the CPU.
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from cspcost.walk.records import PackedWeight

REASON = "quantized kernels have no meta implementation"


def unpack(obj: Any) -> tuple[torch.Tensor, torch.Tensor | None] | None:
    """(weight, bias) of a packed-params object, or None for anything else."""
    if isinstance(obj, torch.ScriptObject) and obj._has_method("unpack"):
        weight, bias = obj.unpack()
        return weight, bias
    return None


def packed_meta(obj: Any) -> PackedWeight | None:
    """A packed-params object as a PackedWeight: the weight's shape and dtype, plus its bias bytes."""
    found = unpack(obj)
    if found is None:
        return None
    weight, bias = found
    bias_bytes = 0 if bias is None else bias.numel() * bias.element_size()
    return PackedWeight(tuple(weight.shape), str(weight.dtype), weight.element_size(), True, bias_bytes)


def packed_params(module: nn.Module) -> tuple[int, int]:
    """(weight + bias elements, weight elements) held in a quantized module's own packed params."""
    packed = module.__dict__.get("_packed_params")  # quantized conv: the ScriptObject itself
    found = unpack(packed) if packed is not None else None
    if found is None:
        return 0, 0
    weight, bias = found
    return weight.numel() + (0 if bias is None else bias.numel()), weight.numel()


def is_quantized(model: nn.Module) -> bool:
    """True when any module holds packed quantized weights or is a torch.ao quantized module."""
    return any(type(m).__module__.startswith(("torch.ao.nn.quantized", "torch.ao.nn.intrinsic.quantized"))
               for m in model.modules())
