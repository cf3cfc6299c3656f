"""MobileNet-v2 and CSPMobileNet-v2, layer for layer as the CSPNet authors' darknet cfgs build them.

Sources: ``cfg/mobilenet-v2.cfg`` and ``cfg/csmobilenet-v2.cfg`` in WongKinYiu/CrossStagePartialNetworks.
Both nets come from one :class:`MobileNetV2Cfg`; only ``stage_type`` differs.

The cfg differs from the MobileNetV2 paper in two ways that the paper's 0.858 BFLOPs depend on:
every bottleneck, the first one too, opens with a 1x1 expand conv (32->32 where the paper has
t=1 and no expand), and the 64-wide group runs at 28x28 (the stride-2 conv sits in the
96-wide group instead), so the net costs 429M MACs rather than the paper's 300M.

A stage ends with the 1x1 expand conv that opens the next stage's first bottleneck: that conv is
where CSPMobileNet-v2 fuses its two paths, so both variants call it ``transition``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from .layers import ConvBNAct
from .registry import register

StageType = Literal["plain", "csp"]


@dataclass(frozen=True)
class MobileStageCfg:
    """One resolution of the network: groups of inverted-residual blocks of equal width."""

    widths: tuple[int, ...]  # output channels of each group of blocks
    depths: tuple[int, ...]  # number of blocks in each group
    stride: int  # stride of the stage's first depth-wise conv
    entry_expand: int = 0  # first block's own 1x1 expand ratio; 0: the previous transition expanded
    bypass_ratio: float = 1.0  # CSP part-1 width as a share of the stage input (csmobilenet-v2.cfg)


@dataclass(frozen=True)
class MobileNetV2Cfg:
    """The whole network; the CSP model and its baseline differ only in ``stage_type``."""

    stem_channels: int = 32
    stages: tuple[MobileStageCfg, ...] = (
        # the 112x112 stage: the cfg's conv2_1 keeps a 32->32 expand; CSP bypasses it with a
        # 3x3 conv 32->16 in 16 groups
        MobileStageCfg((16,), (1,), 1, entry_expand=1, bypass_ratio=0.5),
        MobileStageCfg((24,), (2,), 2),
        MobileStageCfg((32, 64), (3, 4), 2),  # conv_4_3 widens to 64 at stride 1 (cfg)
        MobileStageCfg((96,), (3,), 2),
        MobileStageCfg((160, 320), (3, 1), 2),
    )
    expand_ratio: int = 6  # t of every bottleneck but the first
    head_channels: int = 1280  # conv_6_4 (the last stage's transition)
    act: str = "relu"
    num_classes: int = 1000
    stage_type: StageType = "plain"  # "csp": halve every t=6 expand and double the depth-wise width


class InvertedResidual(nn.Module):
    """A MobileNet-v2 bottleneck: [1x1 expand] -> 3x3 depth-wise -> 1x1 linear project [+ input].

    ``dw_width`` may be a multiple of ``mid_width`` (CSPMobileNet-v2's depth-wise convs double it).
    The residual is a darknet ``[shortcut]`` and exists only where shapes match.
    """

    def __init__(
        self, c_in: int, c_out: int, mid_width: int, dw_width: int, stride: int, expand: bool, act: str
    ) -> None:
        super().__init__()
        self.expand = ConvBNAct(c_in, mid_width, 1, act=act) if expand else nn.Identity()
        mid = mid_width if expand else c_in
        self.dw = ConvBNAct(mid, dw_width, 3, stride, groups=mid, act=act)
        self.project = ConvBNAct(dw_width, c_out, 1, act="linear")
        self.residual = stride == 1 and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Expand, filter, project, then add the input when shapes match."""
        y = self.project(self.dw(self.expand(x)))
        return y + x if self.residual else y


def _csp(cfg: MobileNetV2Cfg) -> bool:
    """Whether the config builds the CSP variant."""
    return cfg.stage_type == "csp"


def _expanded(cfg: MobileNetV2Cfg, c: int) -> int:
    """Width of a t=6 expand of ``c`` channels; CSP halves it (and doubles the depth-wise conv)."""
    return cfg.expand_ratio * c // (2 if _csp(cfg) else 1)


def _head_width(cfg: MobileNetV2Cfg) -> int:
    """Width of the last 1x1 conv before the pool: csmobilenet-v2.cfg halves it (640)."""
    return cfg.head_channels // (2 if _csp(cfg) else 1)


def _make_blocks(cfg: MobileNetV2Cfg, stage: MobileStageCfg, c_in: int) -> tuple[nn.Sequential, int]:
    """The blocks of one stage and their output width."""
    dw_mult = 2 if _csp(cfg) else 1
    if stage.entry_expand:  # the first block expands its own input (t=1 in the cfg: no doubling)
        mid = c_in * stage.entry_expand
        entry = InvertedResidual(c_in, stage.widths[0], mid, mid, stage.stride, True, cfg.act)
    else:  # the previous transition already expanded the input
        width = stage.widths[0]
        entry = InvertedResidual(c_in, width, c_in, c_in * dw_mult, stage.stride, False, cfg.act)
    blocks, c = [entry], stage.widths[0]
    for i, (width, depth) in enumerate(zip(stage.widths, stage.depths)):
        for _ in range(depth - 1 if i == 0 else depth):
            mid = _expanded(cfg, c)
            blocks.append(InvertedResidual(c, width, mid, mid * dw_mult, 1, True, cfg.act))
            c = width
    return nn.Sequential(*blocks), c


class PlainStage(nn.Module):
    """MobileNet-v2 stage: bottlenecks, then the 1x1 expand that opens the next stage."""

    def __init__(self, cfg: MobileNetV2Cfg, stage: MobileStageCfg, c_in: int, c_next: int) -> None:
        super().__init__()
        self.blocks, c = _make_blocks(cfg, stage, c_in)
        self.transition = ConvBNAct(c, c_next, 1, act=cfg.act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Blocks, then transition."""
        return self.transition(self.blocks(x))


class CrossStage(nn.Module):
    """CSPMobileNet-v2 stage: a depth-wise bypass (part 1) beside the bottlenecks (part 2).

    Both parts read the whole stage input (the cfg routes it twice rather than slicing it). The
    last bottleneck's linear 1x1 projection is the partial transition; the concatenation
    ``[part 2, part 1]`` (the cfg's route order) is fused by the 1x1 ``transition``.
    """

    def __init__(self, cfg: MobileNetV2Cfg, stage: MobileStageCfg, c_in: int, c_next: int) -> None:
        super().__init__()
        c_bypass = int(c_in * stage.bypass_ratio)
        self.part1 = ConvBNAct(c_in, c_bypass, 3, stage.stride, groups=c_bypass, act=cfg.act)
        self.blocks, c = _make_blocks(cfg, stage, c_in)
        self.transition = ConvBNAct(c + c_bypass, c_next, 1, act=cfg.act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Bypass and blocks side by side, concatenated, then fused."""
        return self.transition(torch.cat([self.blocks(x), self.part1(x)], dim=1))


class MobileNetV2(nn.Module):
    """MobileNet-v2 (darknet cfg) or its CSP version: stem, five stages, pool, 1x1-conv classifier."""

    def __init__(self, cfg: MobileNetV2Cfg) -> None:
        super().__init__()
        stage_cls = CrossStage if _csp(cfg) else PlainStage
        self.stem = ConvBNAct(3, cfg.stem_channels, 3, 2, act=cfg.act)
        stages, c = [], cfg.stem_channels
        for i, stage in enumerate(cfg.stages):
            last = i == len(cfg.stages) - 1
            c_next = _head_width(cfg) if last else _expanded(cfg, stage.widths[-1])
            stages.append(stage_cls(cfg, stage, c, c_next))
            c = c_next
        self.stages = nn.Sequential(*stages)
        self.pool = nn.AdaptiveAvgPool2d(1)  # darknet's global [avgpool]
        self.classifier = nn.Conv2d(c, cfg.num_classes, 1)  # darknet conv without BN: has a bias

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of shape (N, num_classes); darknet's final [softmax] is left to the loss."""
        return self.classifier(self.pool(self.stages(self.stem(x)))).flatten(1)


_MOBILENET_NOTES = (
    "darknet cfg: every bottleneck opens with a 1x1 expand (the first one too, 32->32) and the "
    "64-wide group runs at 28x28, so 0.858 BFLOPs (429M MACs) rather than the MobileNetV2 paper's 300M. "
    "A stage's `transition` is the 1x1 expand that opens the next stage (where CSP fuses)."
)


@register(
    family="mobilenet",
    input_size=(3, 224, 224),
    source="WongKinYiu/CrossStagePartialNetworks cfg/mobilenet-v2.cfg",
    paper_params=3.47e6,
    paper_bflops=0.858,
    notes=_MOBILENET_NOTES,
)
def mobilenetv2(num_classes: int = 1000) -> nn.Module:
    """MobileNet-v2 as the CSPNet authors' darknet cfg builds it."""
    return MobileNetV2(MobileNetV2Cfg(num_classes=num_classes))


@register(
    family="mobilenet",
    input_size=(3, 224, 224),
    source="WongKinYiu/CrossStagePartialNetworks cfg/csmobilenet-v2.cfg",
    baseline="mobilenetv2",
    paper_params=2.51e6,
    paper_bflops=0.764,
    notes=_MOBILENET_NOTES
    + " CSP (cfg): both parts read the whole transition output; part 1 is a 3x3 depth-wise conv "
    "(a 3x3 conv 32->16 in 16 groups at 112x112), part 2 halves every t=6 expand and doubles its "
    "depth-wise width; the fusion 1x1 and the head conv (640, not 1280) are half as wide.",
)
def cspmobilenetv2(num_classes: int = 1000) -> nn.Module:
    """CSPMobileNet-v2 as the CSPNet authors' darknet cfg builds it."""
    return MobileNetV2(MobileNetV2Cfg(num_classes=num_classes, stage_type="csp"))
