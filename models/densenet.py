"""DenseNet-201 as darknet's ``cfg/densenet201.cfg`` builds it, and its CSP version, from one config.

The darknet model differs from torchvision's DenseNet-201: post-activation conv+BN+leaky layers,
a 7x7/2 stem followed by a 2x2 max-pool, transitions to 128/256/512 channels (the third
compresses 1792 -> 512, not 896) followed by 2x2 max-pools, a last dense block ending at 1536
channels, and the 1x1-conv classifier applied *before* the global average pool (at 8x8 for a
256x256 input). CSPDenseNet-201 has no released cfg; it is built from the CSPNet text (split
ratio gamma = 0.5, partial dense blocks, CSP fusion: transition, concatenate, transition).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from .layers import ConvBNAct, MaxPool
from .registry import register

StageType = Literal["plain", "csp"]


@dataclass(frozen=True)
class DenseNetCfg:
    """The whole network; CSPDenseNet-201 and DenseNet-201 differ only in ``stage_type``."""

    stem_channels: int = 64
    depths: tuple[int, ...] = (6, 12, 48, 32)  # dense layers per stage (densenet201.cfg)
    stage_channels: tuple[int, ...] = (128, 256, 512, 1536)  # width each stage hands on (see below)
    growth_rate: int = 32
    bottleneck: int = 128  # 1x1 width inside a dense layer (4 x growth)
    act: str = "leaky"
    num_classes: int = 1000
    stage_type: StageType = "plain"
    # CSP only. The last stage of the cfg has no transition (its dense output is 1536 already);
    # the CSP stage fuses back to that width.
    split_ratio: float = 0.5  # gamma: share of the stage input that enters the dense path
    partial_bottleneck: int = 96  # 1x1 width of the dense layers in the partial block (see notes)
    # partial transition widths: the cfg's transitions; None keeps the dense path's width
    partial_channels: tuple[int | None, ...] = (128, 256, 512, None)


class DenseLayer(nn.Module):
    """A darknet dense layer: 1x1 conv, 3x3 conv to ``growth_rate``, route ``[new, input]``."""

    def __init__(self, c_in: int, bottleneck: int, growth_rate: int, act: str) -> None:
        super().__init__()
        self.conv1 = ConvBNAct(c_in, bottleneck, 1, act=act)
        self.conv2 = ConvBNAct(bottleneck, growth_rate, 3, act=act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """New features first, then the input (the cfg's ``layers=-1,-3``)."""
        return torch.cat([self.conv2(self.conv1(x)), x], dim=1)


def _dense_layers(cfg: DenseNetCfg, depth: int, c_in: int, bottleneck: int) -> tuple[nn.Sequential, int]:
    """``depth`` dense layers on ``c_in`` channels and their output width."""
    layers, c = [], c_in
    for _ in range(depth):
        layers.append(DenseLayer(c, bottleneck, cfg.growth_rate, cfg.act))
        c += cfg.growth_rate
    return nn.Sequential(*layers), c


class DenseStage(nn.Module):
    """A densenet201.cfg stage: dense layers, then (but after the last) a 1x1 transition and 2x2 max-pool."""

    def __init__(self, cfg: DenseNetCfg, index: int, c_in: int, last: bool) -> None:
        super().__init__()
        self.blocks, c = _dense_layers(cfg, cfg.depths[index], c_in, cfg.bottleneck)
        c_out = cfg.stage_channels[index]
        if last and c != c_out:
            raise ValueError(f"last dense block ends at {c} channels, config says {c_out}")
        self.transition = nn.Identity() if last else ConvBNAct(c, c_out, 1, act=cfg.act)
        self.pool = nn.Identity() if last else MaxPool(2, 2)
        self.out_channels = c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Dense layers, transition, pool."""
        return self.pool(self.transition(self.blocks(x)))


class CrossStageDense(nn.Module):
    """CSPDenseNet stage: split, partial dense block, partial transition, concat, transition, pool.

    Part 1 (``1 - gamma`` of the input channels) skips the stage; the final 1x1 transition fuses
    ``[part 1, partial transition output]`` to the same width the cfg stage hands on.
    """

    def __init__(self, cfg: DenseNetCfg, index: int, c_in: int, last: bool) -> None:
        super().__init__()
        self.c_part2 = int(c_in * cfg.split_ratio)
        self.blocks, c = _dense_layers(cfg, cfg.depths[index], self.c_part2, cfg.partial_bottleneck)
        c_partial = cfg.partial_channels[index] or c
        self.partial_transition = ConvBNAct(c, c_partial, 1, act=cfg.act)
        self.out_channels = cfg.stage_channels[index]
        c_fused = c_in - self.c_part2 + c_partial
        self.transition = ConvBNAct(c_fused, self.out_channels, 1, act=cfg.act)
        self.pool = nn.Identity() if last else MaxPool(2, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Part 1 bypasses; part 2 runs the dense path; the two are fused, then pooled."""
        part1, part2 = x.split([x.shape[1] - self.c_part2, self.c_part2], dim=1)
        part2 = self.partial_transition(self.blocks(part2))
        return self.pool(self.transition(torch.cat([part1, part2], dim=1)))


class DenseNet(nn.Module):
    """darknet DenseNet-201 or its CSP version: stem, four stages, 1x1-conv classifier, global pool."""

    def __init__(self, cfg: DenseNetCfg) -> None:
        super().__init__()
        stage_cls = CrossStageDense if cfg.stage_type == "csp" else DenseStage
        self.stem = nn.Sequential(ConvBNAct(3, cfg.stem_channels, 7, 2, act=cfg.act), MaxPool(2, 2))
        stages, c = [], cfg.stem_channels
        for i in range(len(cfg.depths)):
            stages.append(stage_cls(cfg, i, c, last=i == len(cfg.depths) - 1))
            c = stages[-1].out_channels
        self.stages = nn.Sequential(*stages)
        self.classifier = nn.Conv2d(c, cfg.num_classes, 1)  # darknet conv without BN: has a bias
        self.pool = nn.AdaptiveAvgPool2d(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of shape (N, num_classes); the cfg classifies every position, then averages."""
        return self.pool(self.classifier(self.stages(self.stem(x)))).flatten(1)


@register(
    family="densenet",
    input_size=(3, 256, 256),
    source="AlexeyAB/darknet cfg/densenet201.cfg (read from pjreddie/darknet, same layers)",
    notes=(
        "Exactly the cfg at 256: 17,138,880 conv weights (17.14M), 10.850 BFLOPs (conv 10.84804, "
        "max-pools 0.00197), matching darknet's published 10.85 Bn ops. Not the paper's "
        "DenseNet-201-Elastic (19.48M / 8.77): that is the ELASTIC model (Wang et al., CVPR "
        "2019), dense layers with a half-resolution branch and DenseNet's own widths, which "
        "the authors did not release as a cfg."
    ),
)
def densenet201(num_classes: int = 1000) -> nn.Module:
    """DenseNet-201 as darknet's cfg builds it."""
    return DenseNet(DenseNetCfg(num_classes=num_classes))


@register(
    family="densenet",
    input_size=(3, 256, 256),
    source="CSPNet paper Sec. 3.1 (partial dense block, CSP fusion, gamma = 0.5) on densenet201.cfg",
    baseline="densenet201",
    notes=(
        "The CSP version of the cfg model densenet201, so that its cut is comparable with the "
        "paper's CSPDenseNet-201-Elastic vs DenseNet-201-Elastic (20.17M / 7.13 vs 19.48M / "
        "8.77: -18.7% BFLOPs, +3.5% params); those absolute figures belong to the Elastic pair "
        "and are not targets here. Design: each stage's input is split by channels (gamma = "
        "0.5); the dense path keeps growth 32 and depth; the cfg's transition (to 128/256/512) "
        "becomes the partial transition (the last stage, which has none in the cfg, keeps its "
        "1280 channels); the concatenation with the bypassing half is fused by a 1x1 transition "
        "to the cfg's stage widths (128/256/512/1536), then the cfg's max-pool. Guess: the "
        "partial block's 1x1 bottleneck is 96 (3 x growth) instead of 128, chosen so the cut is "
        "comparable: 16.38M / 8.726 BFLOPs, -19.6% (params -4.4%), heaviest layer 0.436 vs "
        "0.470. With 128 the same design saves 0.2% (10.825): the 3x3 convs and the stem, 38% "
        "of the cost, are untouched by a channel split, and the added transitions cost about "
        "what the split saves; in the Elastic pair part of every dense layer runs at half "
        "resolution, so the split saves a larger share there."
    ),
)
def cspdensenet201(num_classes: int = 1000) -> nn.Module:
    """The CSP version of darknet's DenseNet-201, designed from the CSPNet paper's text."""
    return DenseNet(DenseNetCfg(num_classes=num_classes, stage_type="csp"))
