"""The detectors of the CSPNet paper's Fig. 7: PeleeNet-YOLO, PeleeNet-PRN and CSPPeleeNet-EFM.

None was released as a cfg. PeleeNet-PRN is the YOLOv3-tiny-PRN head (``yolov3-tiny-prn.cfg``)
on the PeleeNet backbone, as the PRN paper says, layer for layer. PeleeNet-YOLO is the same head
with the pyramid merged the YOLOv3 way (concatenation and a 3x3 conv) instead of by partial
residual shortcuts. CSPPeleeNet-EFM is the Exact Fusion Model of CSPNet Sec. 3.2 on CSPPeleeNet.
Each head returns its raw YOLO maps (N, anchors * (classes + 5), H, W), coarsest first; decoding
them (darknet's ``[yolo]`` layer) costs nothing in darknet's count and is not modelled. Every
choice the papers leave open is in the registered ``notes``.
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import torch
from torch import nn

from .layers import ConvBNAct, Shortcut
from .peleenet import PeleeNet, PeleeNetCfg
from .registry import register

ANCHORS_PER_SCALE = 3  # yolov3-tiny: 6 anchors, masks 3,4,5 (13x13) and 0,1,2 / 1,2,3 (26x26)
COCO_CLASSES = 80


def yolo_channels(num_classes: int) -> int:
    """Filters of a YOLO output conv: per anchor 4 box terms, objectness and the class scores."""
    return ANCHORS_PER_SCALE * (num_classes + 5)


def yolo_output(c_in: int, num_classes: int) -> ConvBNAct:
    """darknet's conv before a ``[yolo]`` layer: 1x1, no BN (so a bias), linear."""
    return ConvBNAct(c_in, yolo_channels(num_classes), 1, act="linear", bn=False)


class PeleeBackbone(nn.Module):
    """A PeleeNet or CSPPeleeNet without its classifier; returns the stride-8, -16 and -32 maps."""

    def __init__(self, cfg: PeleeNetCfg) -> None:
        super().__init__()
        net = PeleeNet(cfg)  # borrow the stem and stages; the pool and FC are left behind
        self.stem, self.stages = net.stem, net.stages
        for stage in self.stages:
            stage.emit_level = True
        widths = [stage.out_channels for stage in self.stages]
        self.channels = (widths[1], widths[2], widths[3])

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The stride-8 and stride-16 maps (stages 1 and 2, before their pools) and the output."""
        x = self.stem(x)
        levels = []
        for stage in self.stages:
            level, x = stage(x)
            levels.append(level)
        return [levels[1], levels[2], x]


class PRNHead(nn.Module):
    """YOLOv3-tiny-PRN's head (``yolov3-tiny-prn.cfg`` from layer 14) on a stride-16/32 pyramid.

    Partial residual shortcuts add only the overlapping channels of two maps (``Shortcut``);
    the 26x26 branch merges the backbone's stride-16 map by such a shortcut, not by concatenation.
    """

    def __init__(self, c16: int, c32: int, num_classes: int) -> None:
        super().__init__()
        self.p5 = nn.ModuleDict(
            OrderedDict(
                reduce=ConvBNAct(c32, 256, 1),
                conv=ConvBNAct(256, 256, 3),
                shortcut=Shortcut("leaky"),
                out=yolo_output(256, num_classes),
            )
        )
        self.p4 = nn.ModuleDict(
            OrderedDict(
                lateral=ConvBNAct(256, 128, 1),
                upsample=nn.Upsample(scale_factor=2, mode="nearest"),
                merge=Shortcut("leaky"),  # cfg's "shortcut from=8": the backbone's stride-16 map
                conv=ConvBNAct(128, 128, 3),
                shortcut=Shortcut("leaky"),  # "from=-3": the upsampled map
                shortcut2=Shortcut("leaky"),  # "from=8" again
                out=yolo_output(128, num_classes),
            )
        )

    def forward(self, levels: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """The 13x13 and 26x26 YOLO maps (at 416) from the stride-8/16/32 levels."""
        _, c16, c32 = levels
        p5 = self.p5
        reduced = p5["reduce"](c32)
        conv5 = p5["conv"](reduced)
        out5 = p5["out"](p5["shortcut"](conv5, reduced))
        p4 = self.p4
        up = p4["upsample"](p4["lateral"](conv5))  # the cfg's "route -4" is the 3x3 conv
        x = p4["shortcut"](p4["conv"](p4["merge"](up, c16)), up)
        return out5, p4["out"](p4["shortcut2"](x, c16))


class YOLOTinyHead(nn.Module):
    """The PRN head without partial residuals, merging the pyramid as YOLOv3 does.

    The upsampled 13x13 branch is concatenated with the backbone's stride-16 map and fused by a
    3x3 conv (``p4.fuse``): the layer that makes this head's computational bottleneck.
    """

    def __init__(self, c16: int, c32: int, num_classes: int) -> None:
        super().__init__()
        self.p5 = nn.ModuleDict(
            OrderedDict(
                reduce=ConvBNAct(c32, 256, 1),
                conv=ConvBNAct(256, 256, 3),
                out=yolo_output(256, num_classes),
            )
        )
        self.p4 = nn.ModuleDict(
            OrderedDict(
                lateral=ConvBNAct(256, 128, 1),
                upsample=nn.Upsample(scale_factor=2, mode="nearest"),
                fuse=ConvBNAct(128 + c16, 128, 3),
                conv=ConvBNAct(128, 128, 3),
                out=yolo_output(128, num_classes),
            )
        )

    def forward(self, levels: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """The 13x13 and 26x26 YOLO maps (at 416) from the stride-8/16/32 levels."""
        _, c16, c32 = levels
        p5, p4 = self.p5, self.p4
        conv5 = p5["conv"](p5["reduce"](c32))
        up = p4["upsample"](p4["lateral"](conv5))
        fused = p4["fuse"](torch.cat([up, c16], dim=1))  # darknet's "route -1, <stride-16 map>"
        return p5["out"](conv5), p4["out"](p4["conv"](fused))


class Maxout(nn.Module):
    """Cross-channel pooling: the element-wise max over ``groups`` equal channel groups."""

    def __init__(self, groups: int) -> None:
        super().__init__()
        self.groups = groups

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, groups * C, H, W) -> (N, C, H, W)."""
        n, c, h, w = x.shape
        return x.view(n, self.groups, c // self.groups, h, w).amax(1)


class SpatialAttention(nn.Module):
    """ThunderNet's SAM without an RPN: a 1x1 conv + BN + sigmoid gate multiplied into the map."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.gate = ConvBNAct(c, c, 1, act="logistic")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The map re-weighted per position and channel."""
        return x * self.gate(x)


class Resample(nn.Module):
    """One pyramid level at the output's scale and width: max-pool down, 1x1 conv, upsample."""

    def __init__(self, c_in: int, c_out: int, scale: float) -> None:
        super().__init__()
        down = round(1 / scale) if scale < 1 else 1
        # Pool before the 1x1 (and upsample after it): the conv always runs at the coarser size.
        self.pool = nn.MaxPool2d(down, down) if down > 1 else nn.Identity()
        self.reduce = ConvBNAct(c_in, c_out, 1)
        up = scale > 1
        self.upsample = nn.Upsample(scale_factor=scale, mode="nearest") if up else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The level at the output's resolution, ``c_out`` channels."""
        return self.upsample(self.reduce(self.pool(x)))


class FusionLevel(nn.Module):
    """One anchor scale of EFM/GFM: resample levels, concatenate, Maxout, (SAM), conv, YOLO."""

    def __init__(
        self, sources: list[tuple[int, float]], width: int, sam: bool, num_classes: int
    ) -> None:
        super().__init__()
        self.inputs = nn.ModuleList(Resample(c, width, scale) for c, scale in sources)
        self.fuse = Maxout(len(sources))
        self.sam = SpatialAttention(width) if sam else nn.Identity()
        self.conv = ConvBNAct(width, width, 3)
        self.out = yolo_output(width, num_classes)

    def forward(self, levels: list[torch.Tensor]) -> torch.Tensor:
        """This scale's YOLO map from the pyramid levels it fuses (in the order of ``sources``)."""
        x = torch.cat([resample(level) for resample, level in zip(self.inputs, levels)], dim=1)
        return self.out(self.conv(self.sam(self.fuse(x))))


@dataclass(frozen=True)
class FusionCfg:
    """Which pyramid levels (0: stride 8, 1: 16, 2: 32) each anchor scale fuses, and its width."""

    p5_levels: tuple[int, ...] = (1, 2)  # EFM: s-1 and s (no stride-64 level exists)
    p4_levels: tuple[int, ...] = (0, 1, 2)  # EFM: s-1, s, s+1
    p5_width: int = 256  # the PRN head's widths: 256 at 13x13, 128 at 26x26
    p4_width: int = 128
    sam: bool = True


class FusionHead(nn.Module):
    """The Exact (or Global) Fusion Model head of CSPNet Sec. 3.2 with two YOLO scales."""

    STRIDES = (8, 16, 32)

    def __init__(self, channels: tuple[int, int, int], cfg: FusionCfg, num_classes: int) -> None:
        super().__init__()
        self.cfg = cfg
        self.p5 = self._level(channels, cfg.p5_levels, 32, cfg.p5_width, num_classes)
        self.p4 = self._level(channels, cfg.p4_levels, 16, cfg.p4_width, num_classes)

    def _level(
        self,
        channels: tuple[int, ...],
        levels: tuple[int, ...],
        stride: int,
        width: int,
        classes: int,
    ) -> FusionLevel:
        """The fusion of ``levels`` onto the scale of ``stride``."""
        sources = [(channels[i], self.STRIDES[i] / stride) for i in levels]
        return FusionLevel(sources, width, self.cfg.sam, classes)

    def forward(self, levels: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """The 13x13 and 26x26 YOLO maps (at 416) from the stride-8/16/32 levels."""
        p5 = self.p5([levels[i] for i in self.cfg.p5_levels])
        return p5, self.p4([levels[i] for i in self.cfg.p4_levels])


class PeleeDetector(nn.Module):
    """A PeleeNet-family backbone and a two-scale YOLO head."""

    def __init__(self, backbone: PeleeBackbone, head: nn.Module) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = head

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """The YOLO maps, coarsest first."""
        return self.head(self.backbone(x))


def _pelee_detector(head_cls: type[PRNHead | YOLOTinyHead], num_classes: int) -> PeleeDetector:
    """PeleeNet with a PRN or YOLO head."""
    backbone = PeleeBackbone(PeleeNetCfg())
    _, c16, c32 = backbone.channels
    return PeleeDetector(backbone, head_cls(c16, c32, num_classes))


def _csppelee_detector(fusion: FusionCfg, num_classes: int) -> PeleeDetector:
    """CSPPeleeNet (stage 0 pooled before its partial transition) with a fusion head."""
    backbone = PeleeBackbone(PeleeNetCfg(stage_type="csp", pool_first_stages=(0,)))
    return PeleeDetector(backbone, FusionHead(backbone.channels, fusion, num_classes))


_PRN_SOURCE = (
    "PRN repo (WongKinYiu/PartialResidualNetworks) README/Results.md figures; PRN paper Sec. 4.1; "
    "yolov3-tiny-prn.cfg head on the PeleeNet paper's backbone"
)
_BACKBONE_NOTE = (
    "Backbone: the zoo's peleenet without pool and FC (2,087,520 weights, 3.5014 BFLOPs at 416); "
    "the stride-16 map is stage 2's transition output (512 ch, 26x26 at 416) before its pool, "
    "the stride-32 map the backbone's output (704 ch, 13x13). "
)


@register(
    family="detector",
    input_size=(3, 416, 416),
    source=_PRN_SOURCE,
    paper_params=3.16e6,
    paper_bflops=4.04,
    notes=_BACKBONE_NOTE
    + (
        "Head: yolov3-tiny-prn.cfg from layer 14 on, layer for layer: 1x1 704->256, 3x3 256->256, "
        "shortcut, 1x1 ->255 (yolo 13x13); route to the 3x3, 1x1 256->128, upsample, shortcut "
        "with the stride-16 map (only the overlapping 128 channels are added), 3x3 128->128, "
        "shortcut from the upsample, shortcut with the stride-16 map, 1x1 ->255 (yolo 26x26). "
        "Guess: which backbone map the cfg's 'from=8' becomes (any map with >= 128 channels at "
        "stride 16 costs the same). Result: 3.136M weights (-0.8%), 4.038 BFLOPs (-0.04%); the "
        "heaviest layers are PeleeNet's 128/256/512-channel transitions (0.354 each), as Fig. 7."
    ),
)
def peleenet_prn(num_classes: int = COCO_CLASSES) -> nn.Module:
    """PeleeNet-PRN: the YOLOv3-tiny-PRN head on PeleeNet."""
    return _pelee_detector(PRNHead, num_classes)


@register(
    family="detector",
    input_size=(3, 416, 416),
    source=_PRN_SOURCE + "; YOLOv3 (route + conv) pyramid merge",
    paper_params=3.91e6,
    paper_bflops=5.06,
    notes=_BACKBONE_NOTE
    + (
        "Guess (no cfg; the repo calls it Pelee-YOLOv3-tiny): the PRN head with its shortcuts "
        "dropped and the 26x26 branch merged as YOLOv3 does: concat(upsampled 128, stride-16 map "
        "512) -> 3x3 640->128 (p4.fuse), then the PRN head's 3x3 128->128 and output. Why: the "
        "repo's two models differ by 1.02 BFLOPs and 0.75M weights, one conv with ~754K weights "
        "at 26x26; the 3x3 640->128 has 737K (0.997 BFLOPs). The literal yolov3-tiny head (3x3 "
        "256->512 at 13x13, 3x3 640->256 at 26x26) would give 6.10 BFLOPs / 5.15M. Result: "
        "3.873M weights (-0.9%), 5.035 BFLOPs (-0.5%); heaviest layer p4.fuse 0.997 BFLOPs "
        "(Fig. 7: ~1.02). Alternative fitting the totals as well (3.906M, 5.079): the 13x13 "
        "branch of PRN and concat(128, a 256-ch stride-16 map) -> 3x3 384->256 as in yolov3-tiny, "
        "but its 1.196 BFLOPs bottleneck gives -83% in Fig. 7, not the paper's -80%."
    ),
)
def peleenet_yolo(num_classes: int = COCO_CLASSES) -> nn.Module:
    """PeleeNet-YOLO: PeleeNet with a YOLOv3-tiny-style head that concatenates the pyramid."""
    return _pelee_detector(YOLOTinyHead, num_classes)


_CSP_SOURCE = "CSPNet paper Sec. 3.2 (EFM, Maxout), Fig. 6, Table 2; ThunderNet (SAM); no cfg"
_CSP_NOTE = (
    "Backbone: the zoo's csppeleenet design (gamma 0.5, CSP fusion, transition after the pool) "
    "without pool/FC, except that stage 0 also pools before its partial transition (guess): "
    "with the zoo's order its 112->112 partial transition at 104x104 costs 0.271 BFLOPs at 416, "
    "which would make the bottleneck cut vs PeleeNet-PRN -23%, not Fig. 7's -44% (0.354 -> "
    "~0.20). Pooling first moves it to 52x52 (0.068); the heaviest backbone layers are then "
    "stage 1's 192->192 and stage 2's 384->384 partial transitions, 0.199 each. (At 224 this "
    "backbone would cost 0.059 BFLOPs less than csppeleenet.) Pyramid: stage 1's and stage 2's "
    "concatenations (256@52, 512@26) before their pools and the backbone output (704@13). "
    "Head guesses: two YOLO scales as the PRN head it is compared with (3 anchors each); each "
    "fused level is brought to the output scale by a 2x2 max-pool (finer) or a nearest "
    "upsample (coarser) around a 1x1 conv+BN+leaky to the scale's width (256 at 13x13, 128 at "
    "26x26, the PRN head's widths), concatenated and compressed by Maxout over the levels "
    "(element-wise max of the k level maps), then a 3x3 conv at that width and the 1x1 YOLO "
    "output. "
)


@register(
    family="detector",
    input_size=(3, 416, 416),
    source=_CSP_SOURCE,
    baseline="peleenet_prn",
    notes=_CSP_NOTE
    + (
        "EFM: the 26x26 scale fuses strides 8, 16, 32 (s-1, s, s+1); the 13x13 scale fuses "
        "strides 16 and 32 only (there is no stride-64 level). SAM (the variant the paper "
        "chose): a 1x1 conv+BN+sigmoid on the fused map multiplied into it (ThunderNet gates with "
        "RPN features; a one-stage detector has none). Heaviest layers: the backbone's 0.199 "
        "partial transitions and the head's 3x3 128->128 at 26x26 and 256->256 at 13x13, all "
        "0.199 BFLOPs (Fig. 7: ~0.20). Totals: 3.554M weights, 3.596 BFLOPs (no paper figure)."
    ),
)
def csppeleenet_efm(num_classes: int = COCO_CLASSES) -> nn.Module:
    """CSPPeleeNet-EFM (SAM): CSPPeleeNet with the Exact Fusion Model head and spatial attention."""
    return _csppelee_detector(FusionCfg(), num_classes)


@register(
    family="detector",
    input_size=(3, 416, 416),
    source=_CSP_SOURCE,
    baseline="peleenet_prn",
    notes=_CSP_NOTE + "EFM as csppeleenet_efm, without SAM: 3.472M weights, 3.552 BFLOPs.",
)
def csppeleenet_efm_nosam(num_classes: int = COCO_CLASSES) -> nn.Module:
    """CSPPeleeNet-EFM without the spatial attention module."""
    return _csppelee_detector(FusionCfg(sam=False), num_classes)


@register(
    family="detector",
    input_size=(3, 416, 416),
    source=_CSP_SOURCE,
    baseline="peleenet_prn",
    notes=_CSP_NOTE
    + (
        "GFM (global fusion): both scales fuse all three levels (the 13x13 scale pools the "
        "stride-8 map 4x4/4), Maxout as EFM, no SAM: 3.537M weights, 3.575 BFLOPs."
    ),
)
def csppeleenet_gfm(num_classes: int = COCO_CLASSES) -> nn.Module:
    """CSPPeleeNet-GFM: every anchor scale fuses the whole pyramid."""
    return _csppelee_detector(FusionCfg(p5_levels=(0, 1, 2), sam=False), num_classes)
