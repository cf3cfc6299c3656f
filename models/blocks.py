"""Reference blocks that are exactly what the CSPNet closed forms assume (conv layers only).

A dense layer is one bias-free k x k conv (or a DenseNet-B 1x1 -> k x k pair) reading the running
concatenation; the partial block splits its input by ``gamma`` and fuses as the paper's Fig. 3
shows. No BN or activation: the formulas count conv layers only, and the walker prices those
separately anyway.
"""
from __future__ import annotations

import torch
from torch import nn


class DenseLayer(nn.Module):
    """One dense layer: ``c_in -> d`` (single conv), or ``c_in -> b -> d`` (DenseNet-B)."""

    def __init__(self, c_in: int, d: int, k: int = 3, bottleneck: int | None = None) -> None:
        super().__init__()
        if bottleneck is None:
            self.conv = nn.Conv2d(c_in, d, k, padding=k // 2, bias=False)
        else:
            self.conv = nn.Sequential(nn.Conv2d(c_in, bottleneck, 1, bias=False),
                                      nn.Conv2d(bottleneck, d, k, padding=k // 2, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Append ``d`` new channels to the running concatenation."""
        return torch.cat([x, self.conv(x)], dim=1)


class DenseBlock(nn.Sequential):
    """``m`` dense layers on ``c_in`` channels, growth ``d``: outputs ``c_in + m*d`` channels."""

    def __init__(self, c_in: int, d: int, m: int, k: int = 3, bottleneck: int | None = None) -> None:
        super().__init__(*(DenseLayer(c_in + i * d, d, k, bottleneck) for i in range(m)))


class PartialDenseBlock(nn.Module):
    """Split ``gamma`` of the channels into a dense block; fuse per the paper's Fig. 3.

    ``fusion``: ``none`` (concatenate only), ``first`` (concatenate, transition), ``last``
    (partial transition, concatenate) or ``csp`` (partial transition, concatenate, transition).
    """

    def __init__(self, c: int, d: int, m: int, gamma_c: int, *, k: int = 3, fusion: str = "none",
                 bottleneck: int | None = None, t1: int | None = None, t2: int | None = None) -> None:
        super().__init__()
        self.gamma_c = gamma_c
        self.dense = DenseBlock(gamma_c, d, m, k, bottleneck)
        dense_out = gamma_c + m * d
        t1 = dense_out if t1 is None else t1
        self.partial_transition = (nn.Conv2d(dense_out, t1, 1, bias=False)
                                   if fusion in ("last", "csp") else None)
        fused = c - gamma_c + (t1 if self.partial_transition is not None else dense_out)
        self.transition = (nn.Conv2d(fused, fused if t2 is None else t2, 1, bias=False)
                           if fusion in ("first", "csp") else None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Part 1 bypasses the block; part 2 (``gamma*c`` channels) runs it."""
        part1, part2 = x[:, : x.shape[1] - self.gamma_c], x[:, x.shape[1] - self.gamma_c:]
        part2 = self.dense(part2)
        if self.partial_transition is not None:
            part2 = self.partial_transition(part2)
        out = torch.cat([part1, part2], dim=1)
        return out if self.transition is None else self.transition(out)
