"""Small example models: quick to analyse, used in docs and tests."""
from __future__ import annotations

import torch
from torch import nn

from .layers import ConvBNAct
from .registry import register


class TinyCSPNet(nn.Module):
    """A four-layer CSP-style network: stem, split, a two-layer block path, transition, concat."""

    def __init__(self, num_classes: int = 10, width: int = 32) -> None:
        super().__init__()
        self.stem = ConvBNAct(3, width, 3, stride=2)
        half = width // 2
        self.block = nn.Sequential(ConvBNAct(half, half, 3), ConvBNAct(half, half, 3))
        self.partial_transition = ConvBNAct(half, half, 1)
        self.transition = ConvBNAct(width, width, 1)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Stem, cross-stage split and fusion, global pool, classifier."""
        x = self.stem(x)
        part1, part2 = x.chunk(2, dim=1)
        part2 = self.partial_transition(self.block(part2))
        x = self.transition(torch.cat([part1, part2], dim=1))
        return self.fc(self.pool(x).flatten(1))


@register(family="example", input_size=(3, 64, 64), source="cspcost example (CSPNet Fig. 3, CSP fusion)")
def tinycsp(num_classes: int = 10) -> nn.Module:
    """A tiny CSP-fusion network for demos and tests."""
    return TinyCSPNet(num_classes)
