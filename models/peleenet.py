"""PeleeNet (Wang, Li & Ling, NeurIPS 2018) and CSPPeleeNet (CSPNet paper, Sec. 3.1), from one config.

PeleeNet follows the paper and its reference code: a stem block, four stages of two-way dense
layers, a 1x1 transition without compression after each stage (2x2 average pool after the first
three), global pool and a fully connected classifier. CSPPeleeNet has no released cfg; it is built
from the CSPNet text (split ratio gamma = 0.5, partial dense blocks, CSP fusion: transition,
concatenate, transition). See the registered ``notes`` for the one choice the text leaves open.
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from .layers import ConvBNAct
from .registry import register

StageType = Literal["plain", "csp"]


@dataclass(frozen=True)
class PeleeNetCfg:
    """The whole network; CSPPeleeNet and PeleeNet differ only in ``stage_type``."""

    stem_channels: int = 32
    depths: tuple[int, ...] = (3, 4, 8, 6)  # two-way dense layers per stage
    bottleneck_widths: tuple[int, ...] = (1, 2, 4, 4)  # bottleneck width factor per stage
    growth_rate: int = 32  # channels each dense layer adds (half from each branch)
    act: str = "leaky"  # the CSPNet authors trained PeleeNet with leaky ReLU (their README)
    num_classes: int = 1000
    stage_type: StageType = "plain"
    split_ratio: float = 0.5  # gamma: share of the stage input that enters the dense path (CSP)
    pool_first_stages: tuple[int, ...] = ()  # CSP stages that pool before the partial transition


def bottleneck_channels(c_in: int, growth_rate: int, width: int) -> int:
    """Inner width of a two-way dense layer, rounded to a multiple of 4 as the reference code does.

    The reference caps it at ``c_in / 2`` (rounded down to a multiple of 4) for thin inputs.
    """
    inter = (growth_rate // 2) * width // 4 * 4
    return c_in // 8 * 4 if inter > c_in / 2 else inter


class StemBlock(nn.Module):
    """PeleeNet's stem: 3x3/2 conv, then a strided-conv branch beside a 2x2 max-pool, fused by a 1x1."""

    def __init__(self, c_out: int, act: str) -> None:
        super().__init__()
        self.conv1 = ConvBNAct(3, c_out, 3, 2, act=act)
        self.branch_conv = nn.Sequential(
            OrderedDict(
                reduce=ConvBNAct(c_out, c_out // 2, 1, act=act),
                conv=ConvBNAct(c_out // 2, c_out, 3, 2, act=act),
            )
        )
        self.branch_pool = nn.MaxPool2d(2, 2)
        self.fuse = ConvBNAct(2 * c_out, c_out, 1, act=act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Both branches at stride 4, concatenated and fused."""
        x = self.conv1(x)
        return self.fuse(torch.cat([self.branch_conv(x), self.branch_pool(x)], dim=1))


class TwoWayDenseLayer(nn.Module):
    """Two branches (one 3x3, two stacked 3x3) of ``growth_rate / 2`` channels each, appended to the input."""

    def __init__(self, c_in: int, growth_rate: int, width: int, act: str) -> None:
        super().__init__()
        half = growth_rate // 2
        inter = bottleneck_channels(c_in, growth_rate, width)
        self.branch1 = nn.Sequential(
            OrderedDict(reduce=ConvBNAct(c_in, inter, 1, act=act), conv=ConvBNAct(inter, half, 3, act=act))
        )
        self.branch2 = nn.Sequential(
            OrderedDict(
                reduce=ConvBNAct(c_in, inter, 1, act=act),
                conv1=ConvBNAct(inter, half, 3, act=act),
                conv2=ConvBNAct(half, half, 3, act=act),
            )
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The input followed by both branches' outputs (dense connectivity)."""
        return torch.cat([x, self.branch1(x), self.branch2(x)], dim=1)


def _dense_layers(cfg: PeleeNetCfg, index: int, c_in: int) -> tuple[nn.Sequential, int]:
    """The dense layers of stage ``index`` and their output width."""
    layers, c = [], c_in
    for _ in range(cfg.depths[index]):
        layers.append(TwoWayDenseLayer(c, cfg.growth_rate, cfg.bottleneck_widths[index], cfg.act))
        c += cfg.growth_rate
    return nn.Sequential(*layers), c


class DenseStage(nn.Module):
    """PeleeNet stage: dense layers, 1x1 transition (no compression), optional 2x2 average pool."""

    def __init__(self, cfg: PeleeNetCfg, index: int, c_in: int, pool: bool) -> None:
        super().__init__()
        self.blocks, c = _dense_layers(cfg, index, c_in)
        self.transition = ConvBNAct(c, c, 1, act=cfg.act)
        self.pool = nn.AvgPool2d(2, 2) if pool else nn.Identity()
        self.out_channels = c
        self.emit_level = False  # the detectors set it to also get the map before the pool

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """Dense layers, transition, pool; with ``emit_level``, (pre-pool map, output)."""
        level = self.transition(self.blocks(x))
        out = self.pool(level)
        return (level, out) if self.emit_level else out


class CrossStageDense(nn.Module):
    """CSPPeleeNet stage: split, partial dense block, partial transition, concat, pool, transition.

    Part 1 (``1 - gamma`` of the input channels) skips the stage. The final transition runs after
    the 2x2 average pool: pooling and a 1x1 conv commute up to the activation, and this order is
    what brings the model to the paper's cost (see the registered notes).
    """

    def __init__(self, cfg: PeleeNetCfg, index: int, c_in: int, pool: bool) -> None:
        super().__init__()
        self.c_part2 = int(c_in * cfg.split_ratio)
        self.blocks, c = _dense_layers(cfg, index, self.c_part2)
        self.partial_transition = ConvBNAct(c, c, 1, act=cfg.act)
        self.pool = nn.AvgPool2d(2, 2) if pool else nn.Identity()
        self.out_channels = c_in - self.c_part2 + c
        self.transition = ConvBNAct(self.out_channels, self.out_channels, 1, act=cfg.act)
        # Pooling first keeps the partial transition off the stage's full resolution (detectors).
        self.pool_first = pool and index in cfg.pool_first_stages
        self.emit_level = False  # the detectors set it to also get the concatenated map

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """Part 1 bypasses; part 2 runs the dense path; the two are fused.

        With ``emit_level`` it returns (the concatenation before the final transition, output).
        """
        part1, part2 = x.split([x.shape[1] - self.c_part2, self.c_part2], dim=1)
        part2 = self.blocks(part2)
        if self.pool_first:
            part1, part2 = self.pool(part1), self.pool(part2)
        level = torch.cat([part1, self.partial_transition(part2)], dim=1)
        out = self.transition(level if self.pool_first else self.pool(level))
        return (level, out) if self.emit_level else out


class PeleeNet(nn.Module):
    """PeleeNet or CSPPeleeNet: stem block, four dense stages, global pool, FC classifier."""

    def __init__(self, cfg: PeleeNetCfg) -> None:
        super().__init__()
        stage_cls = CrossStageDense if cfg.stage_type == "csp" else DenseStage
        self.stem = StemBlock(cfg.stem_channels, cfg.act)
        stages, c = [], cfg.stem_channels
        for i in range(len(cfg.depths)):
            stages.append(stage_cls(cfg, i, c, pool=i < len(cfg.depths) - 1))
            c = stages[-1].out_channels
        self.stages = nn.Sequential(*stages)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c, cfg.num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of shape (N, num_classes)."""
        return self.classifier(self.pool(self.stages(self.stem(x))).flatten(1))


@register(
    family="peleenet",
    input_size=(3, 224, 224),
    source="PeleeNet paper (Wang, Li & Ling, NeurIPS 2018) and its reference code",
    paper_params=2.79e6,
    paper_bflops=1.017,
    notes=(
        "2.79M = conv weights + the FC weight (704x1000). 1.017 BFLOPs = conv (1.01411) + FC "
        "(0.00141) + the stem's 2x2 max-pool and the three 2x2 average pools counted as darknet "
        "counts pools, size^2*C*H_out*W_out (0.00110): 1.01662. Without the pools it is 1.016, "
        "without the FC too 1.014 (the paper's 507M conv MACs). Activation: leaky, as the CSPNet "
        "authors trained it (the PeleeNet paper uses ReLU; no effect on cost)."
    ),
)
def peleenet(num_classes: int = 1000) -> nn.Module:
    """PeleeNet as in its paper."""
    return PeleeNet(PeleeNetCfg(num_classes=num_classes))


@register(
    family="peleenet",
    input_size=(3, 224, 224),
    source="CSPNet paper Sec. 3.1 (partial dense block, CSP fusion, gamma = 0.5); no released cfg",
    baseline="peleenet",
    paper_params=2.83e6,
    paper_bflops=0.888,
    notes=(
        "Designed from the paper text: each stage's input is split by channels (gamma = 0.5); "
        "the half in the dense path gets the stage's two-way dense layers (growth 32, the "
        "reference code's bottleneck rule), a 1x1 partial transition without compression, is "
        "concatenated with the bypassing half and fused by a 1x1 transition to PeleeNet's widths "
        "(128/256/512/704). Guess: the fusing transition runs after the 2x2 average pool (pool "
        "and 1x1 conv commute up to the activation). This gives 2.841M / 0.8773 BFLOPs (-13.7%; "
        "paper 2.83M / 0.888, -13%). With the transition before the pool, as in PeleeNet, the "
        "same design costs 1.109 BFLOPs (+9%), as the unofficial tomotana14/CSPPeleeNet.pytorch "
        "port also finds (569M MACs). At 416 this design's 192->192 and 384->384 partial "
        "transitions cost 0.199 BFLOPs each, Fig. 7's ~0.20 heaviest layer, but its stage-1 "
        "112->112 one costs 0.271, so Fig. 7 does not confirm the stage-1 widths."
    ),
)
def csppeleenet(num_classes: int = 1000) -> nn.Module:
    """CSPPeleeNet, designed from the CSPNet paper's text."""
    return PeleeNet(PeleeNetCfg(num_classes=num_classes, stage_type="csp"))
