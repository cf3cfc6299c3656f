"""The user's model comes back exactly as it was from analyze (meta and cpu), compare, peers and profile.

The model below writes to itself in forward: a step counter buffer, its conv weight, a BN in train
mode (running stats), a cached attribute; and it starts in train mode with a frozen parameter.
"""
from __future__ import annotations

from typing import Any, Callable

import pytest
import torch
from torch import nn

import cspcost
from cspcost.walk.untouched import untouched


class SelfMutating(nn.Module):
    """A model whose forward changes its own buffers, weights and attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.head = nn.Linear(8, 4)
        self.register_buffer("steps", torch.zeros((), dtype=torch.int64))
        self.head.bias.requires_grad_(False)
        self.cache = torch.zeros(3)  # a plain tensor attribute (no buffer), small: read by value

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Counts the call, nudges the conv weight, caches the last input shape."""
        self.steps += 1
        self.cache.add_(1.0)
        with torch.no_grad():
            self.conv.weight.add_(1.0)
        self.last_shape = tuple(x.shape)
        self.bn.train()  # running stats update even when the caller put the model in eval
        y = self.bn(self.conv(x)).mean((2, 3))
        return self.head(y)


def _snapshot(model: nn.Module) -> dict[str, Any]:
    """Everything the promise covers: tensors (values, dtype, device, requires_grad), flags, attributes, hooks."""
    return {
        "state": {k: (v.detach().clone(), v.dtype, v.device, v.requires_grad)
                  for k, v in model.state_dict(keep_vars=True).items()},
        "training": [(n, m.training) for n, m in model.named_modules()],
        "vars": [(n, sorted(vars(m))) for n, m in model.named_modules()],
        "hooks": [(n, len(m._forward_hooks), len(m._forward_pre_hooks)) for n, m in model.named_modules()],
        "ids": [(k, id(v)) for k, v in model.state_dict(keep_vars=True).items()],
        "cache": (id(model.cache), model.cache.clone()),
    }


def _assert_same(before: dict[str, Any], after: dict[str, Any]) -> None:
    """Deep compare of two snapshots."""
    assert after["training"] == before["training"]
    assert after["vars"] == before["vars"]
    assert after["hooks"] == before["hooks"]
    assert after["ids"] == before["ids"]
    assert after["cache"][0] == before["cache"][0] and torch.equal(after["cache"][1], before["cache"][1])
    assert after["state"].keys() == before["state"].keys()
    for key, (values, dtype, device, grad) in before["state"].items():
        now = after["state"][key]
        assert (now[1], now[2], now[3]) == (dtype, device, grad), key
        assert torch.equal(now[0], values), key


def _model() -> nn.Module:
    """A fresh self-mutating model in train mode."""
    torch.manual_seed(0)
    return SelfMutating().train()


def test_the_model_does_mutate_itself() -> None:
    """The fixture is a real test: a plain forward changes the snapshot."""
    model = _model()
    before = _snapshot(model)
    model(torch.zeros(1, 3, 8, 8))
    with pytest.raises(AssertionError):
        _assert_same(before, _snapshot(model))


CALLS: dict[str, Callable[[nn.Module], Any]] = {
    "analyze-meta": lambda m: cspcost.analyze(m, (3, 8, 8)),
    "analyze-cpu": lambda m: cspcost.analyze(m, (3, 8, 8), device="cpu"),
    "compare": lambda m: cspcost.compare([m, m], (3, 8, 8)),
    "peers": lambda m: cspcost.peers(m, (3, 8, 8), tools=["fvcore", "ptflops", "thop", "flopcountermode"]),
    "profile": lambda m: cspcost.profile(m, (3, 8, 8), warmup=1, repeat=2, peaks=False),
    "paired": lambda m: cspcost.paired([m, m], (3, 8, 8), warmup=1, rounds=6),
}


@pytest.mark.parametrize("call", list(CALLS))
def test_model_comes_back_as_it_was(call: str) -> None:
    """State dict, training flags, attributes and hooks are identical before and after."""
    model = _model()
    before = _snapshot(model)
    CALLS[call](model)
    _assert_same(before, _snapshot(model))


def test_analyze_cpu_still_counts_the_real_run() -> None:
    """Running on copies changes no number: cpu and meta agree on this model."""
    meta = cspcost.analyze(_model(), (3, 8, 8)).totals
    cpu = cspcost.analyze(_model(), (3, 8, 8), device="cpu").totals
    assert (cpu["macs"], cpu["params"]) == (meta["macs"], meta["params"])
    # conv 8*3*9 MACs x 64 outputs + linear 8*4 = 13824 + 32
    assert meta["macs"] == 8 * 3 * 9 * 64 + 8 * 4


def test_untouched_restores_dtype_device_and_added_state() -> None:
    """A body that converts dtype, adds attributes, buffers and hooks leaves no trace."""
    model = _model()
    before = _snapshot(model)
    with untouched(model):
        model.half()
        model.eval()
        model.extra = 1
        model.conv.register_buffer("total_ops", torch.zeros(1))
        model.conv.register_forward_hook(lambda *a: None)
        model.head.bias.requires_grad_(True)
    _assert_same(before, _snapshot(model))
