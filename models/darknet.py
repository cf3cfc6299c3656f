"""Darknet-53 and CSPDarknet-53, layer for layer as the authors' darknet cfgs.

Sources: ``cfg/darknet53.cfg`` and ``cfg/csdarknet53.cfg`` in WongKinYiu/CrossStagePartialNetworks.
Both come from one :class:`~.resnet.ModelCfg` that differs only in ``stage_type``; the stage,
stem and head machinery is shared with ``resnet.py``.
"""
from __future__ import annotations

from dataclasses import replace

import torch
from torch import nn

from .layers import ConvBNAct, Shortcut
from .registry import register
from .resnet import Backbone, ModelCfg, StageCfg, StemCfg, csp


class DarkBlock(nn.Module):
    """A Darknet-53 residual: 1x1 (leaky) -> 3x3 (leaky) -> darknet shortcut (linear)."""

    def __init__(
        self, c_in: int, mid_chs: int, c_out: int, stride: int = 1, groups: int = 1
    ) -> None:
        super().__init__()
        if stride != 1 or c_in != c_out:
            raise ValueError("a darknet block keeps width and size; the stage's down conv strides")
        self.conv1 = ConvBNAct(c_in, mid_chs, 1)
        self.conv2 = ConvBNAct(mid_chs, c_out, 3, groups=groups)
        self.shortcut = Shortcut(act="linear")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Two convs plus the input."""
        return self.shortcut(self.conv2(self.conv1(x)), x)


DARKNET53 = ModelCfg(
    stem=StemCfg(out_chs=32, kernel_size=3, stride=1, pool=False),
    stages=(
        # csdarknet53.cfg keeps the first stage's parts at full width (64, not 32), so its
        # block is the baseline's (1x1 64->32, 3x3 32->64) and the transition maps 128 -> 64
        StageCfg(1, 64, 32, part_chs=64),
        StageCfg(2, 128, 64),
        StageCfg(8, 256, 128),
        StageCfg(8, 512, 256),
        StageCfg(4, 1024, 512),
    ),
    block=DarkBlock,
    down="conv",  # "# Downsample": a 3x3/2 conv opens every stage, in both cfgs
)


@register(
    family="darknet",
    input_size=(3, 256, 256),
    source="cfg/darknet53.cfg (WongKinYiu/CrossStagePartialNetworks)",
    paper_params=41.57e6,
    paper_bflops=18.57,
)
def darknet53(num_classes: int = 1000) -> nn.Module:
    """Darknet-53: a 3x3 stem, five 3x3/2 down convs, residual blocks 1,2,8,8,4."""
    return Backbone(replace(DARKNET53, num_classes=num_classes))


@register(
    family="darknet",
    input_size=(3, 256, 256),
    source="cfg/csdarknet53.cfg (WongKinYiu/CrossStagePartialNetworks)",
    baseline="darknet53",
    paper_params=27.61e6,
    paper_bflops=13.07,
)
def cspdarknet53(num_classes: int = 1000) -> nn.Module:
    """CSPDarknet-53: DARKNET53 with CSP stages; half the channels (stage 1: all) run the blocks."""
    return Backbone(replace(csp(DARKNET53), num_classes=num_classes))
