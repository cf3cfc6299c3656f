"""The user's model comes back exactly as it was: a snapshot of everything a run may change, restored.

Peer counters attach attributes, buffers and hooks to every module (ptflops' ``__flops__`` and
``compute_average_flops_cost``, thop's ``total_ops``), ``eval()`` flips training flags, and a forward
may write its own buffers or weights (BN running stats in train mode, a step counter, a cache).
``untouched(model)`` records each module's training flag, attribute dict, parameter/buffer/submodule
and hook dicts, and a copy of every tensor's values, dtype, device and ``requires_grad``; on exit
it puts all of them back in place (the same tensor objects, refilled).
"""
from __future__ import annotations

from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any, Iterator

import torch
from torch import nn


@dataclass(frozen=True)
class _TensorState:
    """One tensor's values (a CPU copy: the snapshot never costs device memory) and its flags."""

    tensor: torch.Tensor
    values: torch.Tensor
    device: torch.device
    requires_grad: bool


def _tensor_states(model: nn.Module) -> list[_TensorState]:
    """A copy of every distinct parameter, buffer and plain tensor attribute (tied ones once)."""
    seen: set[int] = set()
    states = []
    for module in model.modules():
        plain = [v for v in module.__dict__.values() if isinstance(v, torch.Tensor)]
        for t in [*module._parameters.values(), *module._buffers.values(), *plain]:
            if t is None or id(t) in seen:
                continue
            seen.add(id(t))
            with torch.no_grad():
                values = t.detach().to("cpu", copy=True) if not t.is_meta else t.detach()
            states.append(_TensorState(t, values, t.device, t.requires_grad))
    return states


def _restore_tensor(state: _TensorState) -> None:
    """Put a tensor's values, dtype, device and ``requires_grad`` back, in the same object."""
    t = state.tensor
    with torch.no_grad():
        same = t.shape == state.values.shape and t.dtype == state.values.dtype and t.device == state.device
        if same and not t.is_meta:
            try:
                t.copy_(state.values)
            except RuntimeError:  # an inference tensor cannot be written outside inference mode
                t.data = state.values.to(state.device)
        elif not same:
            t.data = state.values.to(state.device)
    if t.is_leaf:
        t.requires_grad_(state.requires_grad)


def _dict_states(module: nn.Module) -> list[tuple[dict[Any, Any], dict[Any, Any]]]:
    """The module's attribute dict and every dict it holds (parameters, buffers, submodules, hooks),
    each with a shallow copy of its contents."""
    own = module.__dict__
    return [(own, dict(own))] + [(d, dict(d)) for d in own.values() if isinstance(d, dict)]


@contextmanager
def untouched(model: nn.Module) -> Iterator[nn.Module]:
    """Run the body on ``model`` itself, then restore every module's flags, attributes, hooks and
    tensors as they were (values, dtype, device, requires_grad)."""
    flags = [(m, m.training) for m in model.modules()]
    dicts = [state for m in model.modules() for state in _dict_states(m)]
    tensors = _tensor_states(model)
    try:
        yield model
    finally:
        for store, before in dicts:
            store.clear()
            store.update(before)
        for module, flag in flags:
            module.training = flag
        for state in tensors:
            _restore_tensor(state)


def kept(model_or_name: Any) -> AbstractContextManager[Any]:
    """``untouched`` for a user's module; nothing to keep for a spec (cspcost builds its own)."""
    return untouched(model_or_name) if isinstance(model_or_name, nn.Module) else nullcontext()
