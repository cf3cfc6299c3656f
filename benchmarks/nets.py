"""Benchmark models written the torchvision way (with projection shortcuts), independent of the zoo."""
from __future__ import annotations

import torch
from torch import nn


def _cbr(c_in: int, c_out: int, k: int, stride: int = 1, groups: int = 1, relu: bool = True) -> nn.Sequential:
    """conv -> BN (-> ReLU)."""
    layers: list[nn.Module] = [nn.Conv2d(c_in, c_out, k, stride, k // 2, groups=groups, bias=False),
                               nn.BatchNorm2d(c_out)]
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class Bottleneck(nn.Module):
    """ResNeXt bottleneck: 1x1, grouped 3x3, 1x1, projection shortcut where shapes change."""

    def __init__(self, c_in: int, width: int, c_out: int, stride: int, groups: int) -> None:
        super().__init__()
        self.conv1 = _cbr(c_in, width, 1)
        self.conv2 = _cbr(width, width, 3, stride, groups)
        self.conv3 = _cbr(width, c_out, 1, relu=False)
        self.down = _cbr(c_in, c_out, 1, stride, relu=False) if stride > 1 or c_in != c_out else None
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Residual block."""
        identity = x if self.down is None else self.down(x)
        return self.relu(self.conv3(self.conv2(self.conv1(x))) + identity)


def resnext50_32x4d(num_classes: int = 1000) -> nn.Module:
    """ResNeXt-50 (32x4d) as torchvision builds it: 25.0M params, 4.26 GMACs at 224."""
    layers: list[nn.Module] = [_cbr(3, 64, 7, 2), nn.MaxPool2d(3, 2, 1)]
    c_in = 64
    for i, (blocks, c_out) in enumerate(zip((3, 4, 6, 3), (256, 512, 1024, 2048))):
        width = c_out // 2
        for b in range(blocks):
            layers.append(Bottleneck(c_in, width, c_out, 2 if b == 0 and i > 0 else 1, 32))
            c_in = c_out
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(2048, num_classes)]
    return nn.Sequential(*layers)


class DenseLayer(nn.Module):
    """DenseNet-B layer: BN-ReLU-1x1 (4*growth), BN-ReLU-3x3 (growth), concatenated to its input."""

    def __init__(self, c_in: int, growth: int) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.BatchNorm2d(c_in), nn.ReLU(inplace=True),
                                  nn.Conv2d(c_in, 4 * growth, 1, bias=False),
                                  nn.BatchNorm2d(4 * growth), nn.ReLU(inplace=True),
                                  nn.Conv2d(4 * growth, growth, 3, padding=1, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Append ``growth`` new channels."""
        return torch.cat([x, self.body(x)], 1)


def densenet201(num_classes: int = 1000, growth: int = 32) -> nn.Module:
    """DenseNet-201 as torchvision builds it: 20.0M params, 4.34 GMACs at 224."""
    layers: list[nn.Module] = [_cbr(3, 64, 7, 2), nn.MaxPool2d(3, 2, 1)]
    c = 64
    for i, n in enumerate((6, 12, 48, 32)):
        for _ in range(n):
            layers.append(DenseLayer(c, growth))
            c += growth
        if i < 3:
            layers += [nn.BatchNorm2d(c), nn.ReLU(inplace=True), nn.Conv2d(c, c // 2, 1, bias=False),
                       nn.AvgPool2d(2)]
            c //= 2
    layers += [nn.BatchNorm2d(c), nn.ReLU(inplace=True), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
               nn.Linear(c, num_classes)]
    return nn.Sequential(*layers)


def billion(depth: int = 16, width: int = 8192) -> nn.Module:
    """A 1.07-billion-parameter model: 16 linear layers of 8192x8192 with ReLU."""
    layers: list[nn.Module] = []
    for _ in range(depth):
        layers += [nn.Linear(width, width), nn.ReLU()]
    return nn.Sequential(nn.Flatten(), *layers)
