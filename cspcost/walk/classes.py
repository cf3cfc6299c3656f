"""Module classes as counting rules name them: each module's class and bases, most derived first.

Tools that count through module hooks (thop, ptflops) match classes as they do: thop by the first
class of a module's MRO it has a rule for, ptflops by the exact class. The capture records these
names for every module, so the conventions and ``cspcost peers`` match them the same way.
"""
from __future__ import annotations

import torch
from torch import nn

from cspcost.walk.conventions.counting import MHA_FAST_PATH


def class_name(cls: type) -> str:
    """A class as counting rules name it: ``nn.Conv2d`` for torch.nn, else ``module.Qualname``."""
    if cls.__module__.startswith("torch.nn"):
        return f"nn.{cls.__name__}"
    return f"{cls.__module__}.{cls.__qualname__}"


def module_bases(model: nn.Module, mark_fast_path: bool = True) -> dict[str, tuple[str, ...]]:
    """Every module path -> its class and bases, most derived first (without nn.Module, object); an
    nn.MultiheadAttention that will run PyTorch's fused fast path is marked (counting.MHA_FAST_PATH)
    when ``mark_fast_path``."""
    return {path: tuple(class_name(c) for c in type(m).__mro__ if c not in (nn.Module, object))
            + ((MHA_FAST_PATH,) if mark_fast_path and _fast_path(m) else ()) for path, m in model.named_modules()}


def _fast_path(m: nn.Module) -> bool:
    """True for an eval nn.MultiheadAttention that PyTorch runs as one fused op on real CPU/CUDA tensors
    (torch's own conditions that do not depend on the call: batch_first, packed projections with bias)."""
    return (isinstance(m, nn.MultiheadAttention) and m.batch_first and not m.training
            and m._qkv_same_embed_dim and m.in_proj_bias is not None and m.bias_k is None and not m.add_zero_attn
            and torch.backends.mha.get_fastpath_enabled())
