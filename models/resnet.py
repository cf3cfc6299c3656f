"""ResNet-10/50, ResNeXt-50 and their CSP versions, layer for layer as the authors' darknet cfgs.

Sources: ``cfg/resnet10.cfg``, ``resnet50.cfg``, ``csresnet50.cfg``, ``resnext50.cfg`` and
``csresnext50.cfg`` in WongKinYiu/CrossStagePartialNetworks. A CSP model and its baseline come
from one :class:`ModelCfg` that differs only in ``stage_type``, except for the head order, which
the released cfgs vary (``cspresnet50`` pools before its classifier, ``resnet50`` does not).

Darknet semantics kept here (they are what the paper's numbers count):
- no projection convs: a residual between tensors of different width or size is a darknet
  ``[shortcut]`` that adds the overlapping channels and samples the larger map (``Shortcut``);
- the stem's ``[maxpool] size=2 stride=2`` with darknet's padding (``MaxPool``);
- the classifier is a biased 1x1 conv, and ``[avgpool]`` is a global average pool.

The generic pieces (:class:`ModelCfg`, :class:`CrossStage`, :class:`Backbone`) also build the
Darknet-53 family in ``darknet.py``.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal, Protocol

import torch
from torch import nn

from .layers import ConvBNAct, MaxPool, Shortcut
from .registry import register

StageType = Literal["plain", "csp"]
DownType = Literal["block", "conv"]


class BlockFactory(Protocol):
    """What builds a residual block: ``(c_in, mid_chs, c_out, stride, groups) -> nn.Module``."""

    def __call__(self, c_in: int, mid_chs: int, c_out: int, stride: int, groups: int) -> nn.Module:
        """Build one block."""
        ...


@dataclass(frozen=True)
class StemCfg:
    """The layers before the first stage."""

    out_chs: int = 64
    kernel_size: int = 7
    stride: int = 2
    pool: bool = True  # a darknet [maxpool] size=2 stride=2 after the conv


@dataclass(frozen=True)
class StageCfg:
    """One stage as the plain net has it, plus where its CSP version leaves the gamma=0.5 rule."""

    depth: int  # residual blocks in the plain stage
    out_chs: int  # plain stage output = width of the CSP stage's concatenation
    mid_chs: int  # width inside a block (the 3x3 of a bottleneck, the 1x1 of a darknet block)
    stride: int = 2
    part_chs: int | None = None  # CSP: width of each part; None = out_chs // 2 (gamma = 0.5)
    entry_chs: int | None = None  # CSP: width of the block path's entry conv; None = part_chs
    part_act: str = "leaky"  # CSP: activation of the two 1x1 convs that split the base layer
    transition_chs: int | None = None  # CSP: transition output; None = transition_ratio * out_chs
    cross_stage: bool = True  # CSP: False keeps this stage plain in the CSP model


@dataclass(frozen=True)
class ModelCfg:
    """A whole classifier; a CSP model and its baseline differ only in ``stage_type``."""

    stem: StemCfg
    stages: tuple[StageCfg, ...]
    block: BlockFactory  # BasicBlock, Bottleneck or darknet.DarkBlock
    groups: int = 1  # groups of every 3x3 block conv (32 for ResNeXt)
    # "block": the first block strides (ResNet); "conv": a 3x3/2 conv opens each stage (Darknet)
    down: DownType = "block"
    stage_type: StageType = "plain"
    transition_ratio: float = 1.0  # CSP: stage output = ratio * out_chs (csresnet50.cfg halves it)
    down_replaces_block: bool = True  # CSP, down="block": the 3x3/2 conv replaces the first block
    classifier_before_pool: bool = False  # resnet50.cfg runs its 1x1 classifier at 8x8, then pools
    num_classes: int = 1000


class BasicBlock(nn.Module):
    """A ResNet basic block: 3x3 (leaky) -> 3x3 (linear) -> darknet shortcut (leaky).

    Both convs are ``c_out`` wide; ``mid_chs`` is accepted for the common block signature only.
    """

    def __init__(
        self, c_in: int, mid_chs: int, c_out: int, stride: int = 1, groups: int = 1
    ) -> None:
        super().__init__()
        self.conv1 = ConvBNAct(c_in, c_out, 3, stride, groups)
        self.conv2 = ConvBNAct(c_out, c_out, 3, act="linear")
        self.shortcut = Shortcut(act="leaky")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Two 3x3 convs plus the (overlapping part of the) input."""
        return self.shortcut(self.conv2(self.conv1(x)), x)


class Bottleneck(nn.Module):
    """A ResNet/ResNeXt bottleneck: 1x1 -> 3x3 (strided, grouped) -> 1x1 linear -> shortcut."""

    def __init__(
        self, c_in: int, mid_chs: int, c_out: int, stride: int = 1, groups: int = 1
    ) -> None:
        super().__init__()
        self.conv1 = ConvBNAct(c_in, mid_chs, 1)
        self.conv2 = ConvBNAct(mid_chs, mid_chs, 3, stride, groups)
        self.conv3 = ConvBNAct(mid_chs, c_out, 1, act="linear")
        self.shortcut = Shortcut(act="leaky")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Bottleneck convs plus the (overlapping, sampled) input: no projection conv."""
        return self.shortcut(self.conv3(self.conv2(self.conv1(x))), x)


class Stem(nn.Module):
    """The first conv, and darknet's 2x2/2 max-pool where the cfg has one."""

    def __init__(self, cfg: StemCfg, c_in: int = 3) -> None:
        super().__init__()
        self.conv = ConvBNAct(c_in, cfg.out_chs, cfg.kernel_size, cfg.stride)
        self.pool = MaxPool(2, 2) if cfg.pool else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """conv -> max-pool."""
        return self.pool(self.conv(x))


class PlainStage(nn.Module):
    """A stage of the baseline: an optional down-sampling conv, then residual blocks."""

    def __init__(self, down: nn.Module, blocks: list[nn.Module]) -> None:
        super().__init__()
        self.down = down
        self.blocks = nn.Sequential(*blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """down -> blocks."""
        return self.blocks(self.down(x))


class CrossStage(nn.Module):
    """A CSP stage (paper Fig. 5): split the base layer in two, run blocks on one part, fuse.

    ``part1`` bypasses the stage; ``part2`` enters the blocks, whose output goes through the
    ``partial_transition``; the two are concatenated (block path first, as the cfg's
    ``[route] layers=-1,-N``) and the ``transition`` fuses them.
    """

    def __init__(
        self,
        down: nn.Module,
        c_in: int,
        part_chs: int,
        entry_chs: int,
        blocks: list[nn.Module],
        out_chs: int,
        part_act: str = "leaky",
    ) -> None:
        super().__init__()
        self.down = down
        self.part1 = ConvBNAct(c_in, part_chs, 1, act=part_act)
        self.part2 = ConvBNAct(c_in, entry_chs, 1, act=part_act)
        self.blocks = nn.Sequential(*blocks)
        self.partial_transition = ConvBNAct(part_chs, part_chs, 1)
        self.transition = ConvBNAct(2 * part_chs, out_chs, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Base layer -> (blocks on part 2 -> partial transition) ++ part 1 -> transition."""
        base = self.down(x)
        path = self.partial_transition(self.blocks(self.part2(base)))
        return self.transition(torch.cat([path, self.part1(base)], dim=1))


class Head(nn.Module):
    """Darknet's classifier: a biased 1x1 conv and a global ``[avgpool]``, in the cfg's order."""

    def __init__(self, c_in: int, num_classes: int, conv_first: bool = False) -> None:
        super().__init__()
        self.conv_first = conv_first
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Conv2d(c_in, num_classes, 1)  # no batch_normalize in the cfg: a bias

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of shape (N, num_classes)."""
        x = self.pool(self.fc(x)) if self.conv_first else self.fc(self.pool(x))
        return x.flatten(1)


class Backbone(nn.Module):
    """stem -> stages -> head, built from a :class:`ModelCfg`."""

    def __init__(self, cfg: ModelCfg) -> None:
        super().__init__()
        self.stem = Stem(cfg.stem)
        stages, c = [], cfg.stem.out_chs
        for stage_cfg in cfg.stages:
            stage, c = make_stage(cfg, stage_cfg, c)
            stages.append(stage)
        self.stages = nn.Sequential(*stages)
        self.head = Head(c, cfg.num_classes, cfg.classifier_before_pool)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Image batch to logits."""
        return self.head(self.stages(self.stem(x)))


def make_stage(cfg: ModelCfg, s: StageCfg, c_in: int) -> tuple[nn.Module, int]:
    """One stage of ``cfg.stage_type`` and its output width."""
    if cfg.stage_type not in ("plain", "csp"):
        raise ValueError(f"unknown stage_type {cfg.stage_type!r}; use 'plain' or 'csp'")
    if cfg.stage_type == "csp" and s.cross_stage:
        return _csp_stage(cfg, s, c_in)
    return _plain_stage(cfg, s, c_in), s.out_chs


def _plain_stage(cfg: ModelCfg, s: StageCfg, c_in: int) -> PlainStage:
    """Baseline stage: the first block strides (ResNet) or a 3x3/2 conv opens it (Darknet)."""
    if cfg.down == "conv":
        down: nn.Module = ConvBNAct(c_in, s.out_chs, 3, s.stride)
        c_in, stride = s.out_chs, 1
    else:
        down, stride = nn.Identity(), s.stride
    widths = [c_in] + [s.out_chs] * (s.depth - 1)
    strides = [stride] + [1] * (s.depth - 1)
    blocks = [cfg.block(c, s.mid_chs, s.out_chs, st, cfg.groups) for c, st in zip(widths, strides)]
    return PlainStage(down, blocks)


def _csp_stage(cfg: ModelCfg, s: StageCfg, c_in: int) -> tuple[CrossStage, int]:
    """CSP stage as csresnet50/csresnext50/csdarknet53.cfg build it, and its output width.

    ResNet family: a strided stage opens with a 3x3/2 conv that keeps the width and takes the place
    of the plain stage's strided first block (depths 3,4,6,3 -> 3,3,5,2). Darknet: the same 3x3/2
    conv as the baseline. Blocks run at ``part_chs`` with the baseline's ``mid_chs``.
    """
    down, depth = _csp_down(cfg, s, c_in)
    c_base = s.out_chs if cfg.down == "conv" else c_in
    part = s.part_chs or s.out_chs // 2
    entry = s.entry_chs or part
    widths = [entry] + [part] * (depth - 1)
    blocks = [cfg.block(c, s.mid_chs, part, 1, cfg.groups) for c in widths[:depth]]
    out = s.transition_chs or int(s.out_chs * cfg.transition_ratio)
    return CrossStage(down, c_base, part, entry, blocks, out, s.part_act), out


def _csp_down(cfg: ModelCfg, s: StageCfg, c_in: int) -> tuple[nn.Module, int]:
    """The CSP stage's down-sampling conv (or none) and the number of blocks left after it."""
    if cfg.down == "conv":
        return ConvBNAct(c_in, s.out_chs, 3, s.stride), s.depth
    if s.stride == 1:
        return nn.Identity(), s.depth
    return ConvBNAct(c_in, c_in, 3, s.stride, cfg.groups), s.depth - int(cfg.down_replaces_block)


def csp(cfg: ModelCfg) -> ModelCfg:
    """The cross-stage-partial version of a baseline config."""
    return replace(cfg, stage_type="csp")


_STEM = StemCfg(out_chs=64, kernel_size=7, stride=2, pool=True)

RESNET10 = ModelCfg(
    stem=_STEM,
    stages=(
        # CSPResNet-10 has no released cfg; see cspresnet10's notes for this design. The two
        # early stages hold 6% of the weights but 46% of the FLOPs: CSP leaves them plain.
        StageCfg(1, 64, 64, stride=1, cross_stage=False),
        StageCfg(1, 128, 128, cross_stage=False),
        StageCfg(1, 256, 256, transition_chs=136),  # 17/32 of the concatenation (fitted)
        StageCfg(1, 512, 512, transition_chs=272),
    ),
    block=BasicBlock,
    down_replaces_block=False,  # one block per stage: the CSP path keeps it after the down conv
)

RESNET50 = ModelCfg(
    stem=_STEM,
    stages=(
        # the CSP block path starts from the pooled stem's 64 channels (csresnet50.cfg layer 4),
        # the split convs are leaky in the first and last stage and linear in between (cfg)
        StageCfg(3, 256, 64, stride=1, entry_chs=64),
        StageCfg(4, 512, 128, part_act="linear"),
        StageCfg(6, 1024, 256, part_act="linear"),
        StageCfg(3, 2048, 512),
    ),
    block=Bottleneck,
    transition_ratio=0.5,  # csresnet50.cfg: each transition halves the concatenation (256 -> 128)
    classifier_before_pool=True,  # resnet50.cfg: [convolutional] filters=1000 precedes [avgpool]
)

RESNEXT50 = ModelCfg(
    stem=_STEM,
    stages=(
        StageCfg(3, 256, 128, stride=1, entry_chs=64),  # csresnext50.cfg layer 4: 64 channels
        StageCfg(4, 512, 256, part_act="linear"),
        StageCfg(6, 1024, 512, part_act="linear"),
        StageCfg(3, 2048, 1024),
    ),
    block=Bottleneck,
    groups=32,  # ResNeXt 32x4d: cardinality 32
)


@register(
    family="resnet",
    input_size=(3, 256, 256),
    source="cfg/resnet10.cfg (WongKinYiu/CrossStagePartialNetworks)",
    paper_params=5.24e6,
    paper_bflops=2.273,
)
def resnet10(num_classes: int = 1000) -> nn.Module:
    """ResNet-10 (darknet): basic blocks 1,1,1,1, no projection shortcuts."""
    return Backbone(replace(RESNET10, num_classes=num_classes))


@register(
    family="resnet",
    input_size=(3, 256, 256),
    source="no released cfg: designed for cspcost from CSPNet Sec. 3 and csresnet50.cfg",
    baseline="resnet10",
    paper_params=2.73e6,
    paper_bflops=1.905,
    notes=(
        "No cfg was released, so this is a cspcost design, not the authors' net: 2.72M conv "
        "weights (-0.25%) and 1.878 BFLOPs (-1.4%) against the paper's 2.73M / 1.905. Stages 3-4 "
        "use csresnet50.cfg's recipe (a width-keeping 3x3/2 down conv, two 1x1 convs splitting "
        "it in halves (gamma=0.5), the basic block on one half, partial transition, concat, "
        "transition); stages 1-2 stay plain and the 1x1 classifier runs before the pool, as in "
        "resnet50.cfg. Why: the paper cuts 48% of the weights but only 16% of the FLOPs. "
        "ResNet-10 keeps 84% of its weights in stages 3-4 but 46% of its FLOPs in stages 1-2, "
        "and applying the released recipes to every strided stage gives either too few FLOPs "
        "(1.56-1.62 BFLOPs at 2.37-2.46M) or too many weights (3.2-4.5M). The transition widths "
        "(136, 272 = 17/32 of the concatenation, between csresnet50's 1/2 and csresnext50's 1) "
        "are fitted to the paper's totals; with 1/2 the net has 2.67M / 1.871 (-2.1% / -1.8%)."
    ),
)
def cspresnet10(num_classes: int = 1000) -> nn.Module:
    """CSPResNet-10 (cspcost design): CSP on the two deepest stages of RESNET10."""
    cfg = replace(csp(RESNET10), classifier_before_pool=True, num_classes=num_classes)
    return Backbone(cfg)


@register(
    family="resnet",
    input_size=(3, 256, 256),
    source="cfg/resnet50.cfg (WongKinYiu/CrossStagePartialNetworks)",
    paper_params=22.73e6,
    paper_bflops=9.74,
    notes=(
        "Built as the released resnet50.cfg, whose 1x1 classifier conv (2048->1000) runs at 8x8 "
        "before [avgpool]: 10.00 BFLOPs. The README's 9.74 is the variant that pools first: the "
        "classifier then costs 2*2048*1000 = 0.004 BFLOPs instead of 0.262 (10.00 - 0.262 + 0.004 "
        "= 9.74), params unchanged at 22.73M. No projection shortcuts (darknet [shortcut])."
    ),
)
def resnet50(num_classes: int = 1000) -> nn.Module:
    """ResNet-50 (darknet): bottlenecks 3,4,6,3, no projection shortcuts, classifier before pool."""
    return Backbone(replace(RESNET50, num_classes=num_classes))


@register(
    family="resnet",
    input_size=(3, 256, 256),
    source="cfg/csresnet50.cfg (WongKinYiu/CrossStagePartialNetworks)",
    baseline="resnet50",
    paper_params=21.57e6,
    paper_bflops=8.97,
    notes="Pools before the classifier, as csresnet50.cfg does (resnet50.cfg does not).",
)
def cspresnet50(num_classes: int = 1000) -> nn.Module:
    """CSPResNet-50: RESNET50 with CSP stages (3,3,5,2 blocks after 3x3/2 down convs)."""
    # the released cfgs disagree on the head order; the CSP cfg pools first
    cfg = replace(csp(RESNET50), classifier_before_pool=False, num_classes=num_classes)
    return Backbone(cfg)


@register(
    family="resnext",
    input_size=(3, 256, 256),
    source="cfg/resnext50.cfg (WongKinYiu/CrossStagePartialNetworks)",
    paper_params=22.19e6,
    paper_bflops=10.11,
    notes=(
        "No projection shortcuts (darknet [shortcut]): 22.19M conv weights, not torchvision's "
        "25.0M."
    ),
)
def resnext50(num_classes: int = 1000) -> nn.Module:
    """ResNeXt-50 32x4d (darknet): grouped bottlenecks 3,4,6,3, no projection shortcuts."""
    return Backbone(replace(RESNEXT50, num_classes=num_classes))


@register(
    family="resnext",
    input_size=(3, 256, 256),
    source="cfg/csresnext50.cfg (WongKinYiu/CrossStagePartialNetworks)",
    baseline="resnext50",
    paper_params=20.50e6,
    paper_bflops=7.93,
)
def cspresnext50(num_classes: int = 1000) -> nn.Module:
    """CSPResNeXt-50: RESNEXT50 with CSP stages; half the channels run blocks without bottleneck."""
    return Backbone(replace(csp(RESNEXT50), num_classes=num_classes))
