"""Small test networks that exercise every family of op a CNN cost tool must price."""
from __future__ import annotations

import torch
from torch import nn


class SqueezeExcite(nn.Module):
    """SE gating: global pool, two 1x1 convs, sigmoid, channel-wise multiply."""

    def __init__(self, c: int, r: int = 4) -> None:
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.reduce = nn.Conv2d(c, c // r, 1)
        self.act = nn.ReLU(inplace=True)
        self.expand = nn.Conv2d(c // r, c, 1)
        self.gate = nn.Sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x * sigmoid(W2 relu(W1 pool(x)))."""
        return x * self.gate(self.expand(self.act(self.reduce(self.pool(x)))))


class MixNet(nn.Module):
    """Grouped, depthwise, dilated and strided convs, SE, concat, upsampling, pools and a linear."""

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, 2, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU(inplace=True))
        self.grouped = nn.Conv2d(16, 32, 3, 1, 1, groups=4, bias=False)
        self.depthwise = nn.Conv2d(32, 32, 3, 1, 1, groups=32, bias=False)
        self.pointwise = nn.Conv2d(32, 32, 1)
        self.se = SqueezeExcite(32)
        self.dilated = nn.Conv2d(32, 16, 3, 1, 2, dilation=2, bias=False)
        self.pool = nn.MaxPool2d(2)
        self.avg = nn.AvgPool2d(2)
        self.up_nearest = nn.Upsample(scale_factor=2, mode="nearest")
        self.up_bilinear = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False)
        self.fuse = nn.Conv2d(48, 32, 1, bias=False)
        self.act = nn.SiLU()
        self.head_pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(32, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """A small multi-branch network."""
        x = self.stem(x)
        x = self.se(self.pointwise(self.depthwise(self.grouped(x))))
        a = self.up_nearest(self.pool(self.dilated(x)))
        b = self.up_bilinear(self.avg(x[:, :16]))
        x = self.act(self.fuse(torch.cat([x, a + b], dim=1)))
        return self.fc(self.head_pool(x).flatten(1))


class Single(nn.Module):
    """Wraps one function as a module, so that a single op can be priced."""

    def __init__(self, fn, *children: nn.Module) -> None:  # noqa: ANN001
        super().__init__()
        self.fn = fn
        self.inner = nn.ModuleList(children)

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        """Apply the function."""
        return self.fn(*xs)


class MetaHostile(nn.Module):
    """A forward that needs real values (``.item()``): it cannot run on the meta device."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.gate = Gate()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Data-dependent control flow."""
        return self.gate(self.conv(x))


class Gate(nn.Module):
    """Reads a value from its input."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Scale by the mean, read as a Python float."""
        return x * float(x.mean().item())


class Broken(nn.Module):
    """A forward that fails inside a named submodule (shape mismatch)."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 8, 3), nn.Conv2d(4, 8, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Fails in features.1."""
        return self.features(x)


def mixnet() -> nn.Module:
    """Factory for file.py:factory tests."""
    return MixNet()


def broken() -> nn.Module:
    """Factory of a model whose forward fails."""
    return Broken()


def meta_hostile() -> nn.Module:
    """Factory of a model that cannot run on meta."""
    return MetaHostile()


def raises() -> nn.Module:
    """A factory that raises."""
    raise RuntimeError("weights file missing")


def unpriced_net() -> nn.Module:
    """A model whose only op (a Bessel function) has no cost rule."""
    return Single(torch.special.bessel_j0)
