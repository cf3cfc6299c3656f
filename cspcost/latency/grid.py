"""The calibration grids: one tiny module per microbenchmark, spread over each op class's shapes.

Each point is an ``nn.Module`` that runs one op (a conv, a BN, an add ...) and its input shapes. The
same module is timed under the runtime and captured on meta by the walker, so the features the
calibration fits on come from exactly the code path the prediction uses. Shapes are drawn with a
fixed seed from ranges typical of CNNs and vision transformers at batch 1, keeping each point's
work between about 10 kFLOP and 1 GFLOP so the default grid runs in well under three minutes.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class Point:
    """One microbenchmark: the class it calibrates, a label, a module factory and its input shapes."""

    op_class: str
    label: str
    build: Callable[[], nn.Module]
    shapes: tuple[tuple[int, ...], ...]


class _Binary(nn.Module):
    """``a + b`` or ``a * b``: a residual add or a gating multiply."""

    def __init__(self, op: str) -> None:
        super().__init__()
        self.op = op

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """The element-wise op."""
        return a + b if self.op == "add" else a * b


class _Cat(nn.Module):
    """Channel concatenation of the inputs."""

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        """``torch.cat(xs, 1)``."""
        return torch.cat(xs, 1)


class _Pad(nn.Module):
    """Zero padding by one pixel on each side."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``F.pad(x, (1, 1, 1, 1))``."""
        return F.pad(x, (1, 1, 1, 1))


class _Mean(nn.Module):
    """A global average pool written as ``mean``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x.mean((2, 3), keepdim=True)``."""
        return x.mean((2, 3), keepdim=True)


class _Attention(nn.Module):
    """``scaled_dot_product_attention`` of three inputs."""

    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """The fused attention op."""
        return F.scaled_dot_product_attention(q, k, v)


class _View(nn.Module):
    """A reshape that moves nothing."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x.flatten(1)``."""
        return x.flatten(1)


class _Bmm(nn.Module):
    """A batched matrix product of two inputs."""

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """``a @ b``."""
        return a @ b


def _bn(c: int) -> nn.Module:
    """An eval BatchNorm2d with non-trivial statistics."""
    bn = nn.BatchNorm2d(c)
    assert bn.running_mean is not None and bn.running_var is not None  # track_running_stats=True
    bn.running_mean.uniform_(-0.5, 0.5)
    bn.running_var.uniform_(0.5, 1.5)
    return bn


_ELTWISE: dict[str, Callable[[], nn.Module]] = {  # in-place too, as torchvision and timm build them
    "relu": nn.ReLU, "silu": nn.SiLU, "sigmoid": nn.Sigmoid, "hardswish": nn.Hardswish,
    "gelu": nn.GELU, "leaky_relu": lambda: nn.LeakyReLU(0.1), "relu6": nn.ReLU6,
    "relu_": lambda: nn.ReLU(inplace=True), "silu_": lambda: nn.SiLU(inplace=True),
    "leaky_relu_": lambda: nn.LeakyReLU(0.1, inplace=True), "hardswish_": lambda: nn.Hardswish(inplace=True),
    "relu6_": lambda: nn.ReLU6(inplace=True),
}
_POOLS: dict[str, Callable[[], nn.Module]] = {  # the windows CNNs use: stems, darknet, SPP(F), DenseNet, Inception
    "maxpool3s2": lambda: nn.MaxPool2d(3, 2, 1), "maxpool2": lambda: nn.MaxPool2d(2),
    "avgpool2": lambda: nn.AvgPool2d(2), "maxpool5s1": lambda: nn.MaxPool2d(5, 1, 2),
    "maxpool3s1": lambda: nn.MaxPool2d(3, 1, 1), "avgpool3s1": lambda: nn.AvgPool2d(3, 1, 1),
    "maxpool2s1": lambda: nn.MaxPool2d(2, 1),
}


SIDES = (7, 10, 14, 20, 28, 40, 56, 80, 112)  # map sides the convs are calibrated on


class _Sampler:
    """Seeded draws of CNN-like shapes."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)

    def pick(self, options: list[int]) -> int:
        """One of ``options``."""
        return self.rng.choice(options)

    def spatial(self, channels: int, lo: int = 7, hi: int = 112) -> int:
        """A map side typical of a stage with ``channels`` channels (wide maps are small)."""
        sides = [s for s in SIDES if lo <= s <= hi]
        fits = [s for s in sides if channels * s * s <= 2_500_000] or sides[:1]
        return self.rng.choice(fits)

    def numel_shape(self, lo: float = 2e3, hi: float = 3e6) -> tuple[int, int]:
        """(channels, side) of a 4-d map of log-uniform size in [lo, hi] elements."""
        target = 10 ** self.rng.uniform(__import__("math").log10(lo), __import__("math").log10(hi))
        c = self.pick([8, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024])
        side = max(1, round((target / c) ** 0.5))
        return c, side


def _conv_points(s: _Sampler, n: int, kind: str) -> list[Point]:
    """Dense 1x1, dense kxk, grouped or depthwise convs over channels, sizes, strides, kernels."""
    points: list[Point] = []
    while len(points) < n:
        cin = s.pick([3, 8, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024])
        if kind in ("conv_depthwise", "conv_depthwise_mult"):
            cin = max(cin, 8)
            groups, k = cin, s.pick([3, 3, 3, 5, 7])
            cout = cin if kind == "conv_depthwise" else cin * s.pick([2, 2, 4, 6])
        elif kind == "conv_grouped":
            cin_g = s.pick([2, 2, 4, 4, 8, 16, 32])
            groups = max(2, cin // cin_g)
            cin = groups * cin_g
            cout_g = max(1, cin_g * s.pick([1, 1, 2]) // s.pick([1, 2]))
            cout, k = groups * cout_g, s.pick([3, 3, 1])
        else:
            groups, k = 1, 1 if kind == "conv1x1" else s.pick([3, 3, 3, 5, 7])
            cout = max(8, int(cin * s.pick([1, 1, 2, 4])) if cin > 3 else s.pick([16, 32, 64]))
            cout = min(cout, 2048)
        stride = s.pick([1, 1, 2] if kind.startswith("conv_depthwise") else [1, 1, 1, 2])
        side = s.spatial(cin)
        if kind == "conv1x1" and len(points) % 5 == 4:
            # A 1x1 map: squeeze-and-excitation gates and classifiers written as convs, which
            # stream their weights (a 1280->1000 classifier reads 5 MB for 2.6 MFLOPs).
            side, stride, cout = 1, 1, s.pick([16, 64, 256, 1000, 1280, 2048])
        side_out = (side + stride - 1) // stride
        flops = 2 * cin // groups * cout * k * k * side_out * side_out
        if not (1e3 if side == 1 else 1e4) <= flops <= 1.2e9:
            continue
        points.append(Point(kind, f"{kind} {cin}->{cout} k{k} s{stride} g{groups} @{side}",
                            _conv_factory(cin, cout, k, stride, groups), ((1, cin, side, side),)))
    return points


def _conv_factory(cin: int, cout: int, k: int, stride: int, groups: int) -> Callable[[], nn.Module]:
    """A factory of one bias-free conv with 'same'-style padding."""
    return lambda: nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False)


def _matmul_points(s: _Sampler, n: int) -> list[Point]:
    """Linear layers on token sequences and feature vectors, and batched products."""
    points: list[Point] = []
    while len(points) < n:
        rows = s.pick([1, 1, 16, 49, 64, 196, 197, 256, 784])
        fin, fout = s.pick([64, 128, 192, 256, 384, 512, 768, 1024, 1280, 2048]), s.pick(
            [64, 128, 192, 256, 384, 768, 1000, 1536, 3072])
        if 2 * rows * fin * fout > 1.2e9:
            continue
        if len(points) % 5 == 4:  # a batched product, as attention written by hand does
            heads, d = s.pick([3, 4, 6, 12]), s.pick([32, 64])
            points.append(Point("matmul", f"bmm {heads}x{rows}x{d}x{rows}", _Bmm,
                                ((1, heads, rows, d), (1, heads, d, rows))))
            continue
        points.append(Point("matmul", f"linear {rows}x{fin}->{fout}", _linear(fin, fout), ((1, rows, fin),)))
    return points


def _linear(fin: int, fout: int) -> Callable[[], nn.Module]:
    """A factory of one Linear with bias."""
    return lambda: nn.Linear(fin, fout)


def _attention_points(s: _Sampler, n: int) -> list[Point]:
    """Attention over heads, sequence lengths and head widths."""
    points = []
    for _ in range(n):
        heads, length, width = s.pick([1, 2, 3, 4, 6, 12]), s.pick([49, 64, 196, 197, 256, 400, 784]), s.pick([32, 64])
        shape = (1, heads, length, width)
        points.append(Point("attention", f"sdpa h{heads} L{length} E{width}", _Attention, (shape, shape, shape)))
    return points


def _memory_points(s: _Sampler, counts: dict[str, int]) -> list[Point]:
    """BN, norms, element-wise ops, pools, global reductions, resizes, copies and views."""
    points: list[Point] = []
    for i in range(counts.get("eltwise", 0)):
        c, side = s.numel_shape()
        shape = (1, c, side, side)
        if i % 4 == 3:
            op = s.pick([0, 1])
            points.append(Point("eltwise", f"{'add' if op == 0 else 'mul'} {c}x{side}",
                                _binary(op), (shape, shape)))
            continue
        name = s.rng.choice(sorted(_ELTWISE))
        points.append(Point("eltwise", f"{name} {c}x{side}", _ELTWISE[name], (shape,)))
    for _ in range(counts.get("bn", 0)):
        c, side = s.numel_shape()
        points.append(Point("bn", f"bn {c}x{side}", _bn_factory(c), ((1, c, side, side),)))
    for i in range(counts.get("norm", 0)):
        c, side = s.numel_shape(hi=1.5e6)
        if i % 3 == 2:
            groups = 8 if c % 8 == 0 else 1
            points.append(Point("norm", f"groupnorm {c}x{side}", _group_norm(groups, c), ((1, c, side, side),)))
        else:
            points.append(Point("norm", f"layernorm {side * side}x{c}", _layer_norm(c), ((1, side * side, c),)))
    for kind in ("maxpool", "avgpool"):
        kinds = sorted(name for name in _POOLS if name.startswith(kind))
        for _ in range(counts.get(kind, 0)):
            c, side = s.numel_shape(hi=2e6)
            name, side = s.rng.choice(kinds), max(side, 2)
            points.append(Point(kind, f"{name} {c}x{side}", _POOLS[name], ((1, c, side, side),)))
    for i in range(counts.get("reduce", 0)):
        c, side = s.numel_shape()
        build = (lambda: nn.AdaptiveAvgPool2d(1)) if i % 2 == 0 else _Mean
        points.append(Point("reduce", f"global pool {c}x{side}", build, ((1, c, side, side),)))
    for i in range(counts.get("resize", 0)):
        c, side = s.numel_shape(hi=1e6)
        mode = "nearest" if i % 3 else "bilinear"
        points.append(Point("resize", f"upsample {mode} {c}x{side}", _upsample(mode), ((1, c, side, side),)))
    for i in range(counts.get("copy", 0)):
        c, side = s.numel_shape()
        if i % 4 == 3:
            points.append(Point("copy", f"pad {c}x{side}", _Pad, ((1, c, side, side),)))
            continue
        parts = s.pick([2, 2, 3, 4])
        points.append(Point("copy", f"cat {parts}x{c}x{side}", _Cat, ((1, c, side, side),) * parts))
    for _ in range(counts.get("view", 0)):
        c, side = s.numel_shape()
        points.append(Point("view", f"flatten {c}x{side}", _View, ((1, c, side, side),)))
    return points


def _binary(op: int) -> Callable[[], nn.Module]:
    """A factory of an add (0) or a multiply (1)."""
    return lambda: _Binary("add" if op == 0 else "mul")


def _bn_factory(c: int) -> Callable[[], nn.Module]:
    """A factory of one eval BatchNorm2d."""
    return lambda: _bn(c)


def _group_norm(groups: int, c: int) -> Callable[[], nn.Module]:
    """A factory of one GroupNorm."""
    return lambda: nn.GroupNorm(groups, c)


def _layer_norm(c: int) -> Callable[[], nn.Module]:
    """A factory of one LayerNorm over the last dim."""
    return lambda: nn.LayerNorm(c)


def _upsample(mode: str) -> Callable[[], nn.Module]:
    """A factory of a x2 upsample."""
    return lambda: nn.Upsample(scale_factor=2, mode=mode)


GRIDS: dict[str, dict[str, int]] = {
    "default": {"conv1x1": 80, "convkxk": 100, "conv_grouped": 60, "conv_depthwise": 90, "conv_depthwise_mult": 40,
                "matmul": 30,
                "attention": 10, "bn": 16, "norm": 12, "eltwise": 64, "maxpool": 30, "avgpool": 12, "reduce": 10,
                "resize": 10, "copy": 16, "view": 6},
    "quick": {"conv1x1": 3, "convkxk": 3, "conv_grouped": 2, "conv_depthwise": 3, "conv_depthwise_mult": 1,
              "matmul": 3,
              "attention": 2, "bn": 2, "norm": 2, "eltwise": 4, "maxpool": 2, "avgpool": 1, "reduce": 2,
              "resize": 2, "copy": 2, "view": 2},
}


def make_grid(name: str = "default", seed: int = 0) -> list[Point]:
    """The points of grid ``name`` (default, quick), in a fixed order for a given seed."""
    counts = GRIDS[name]
    s = _Sampler(seed)
    points: list[Point] = []
    for kind in ("conv1x1", "convkxk", "conv_grouped", "conv_depthwise", "conv_depthwise_mult"):
        points += _conv_points(s, counts[kind], kind)
    points += _matmul_points(s, counts["matmul"]) + _attention_points(s, counts["attention"])
    points += _memory_points(s, counts)
    if name == "quick":  # tiny shapes: the smoke grid must run in seconds
        points = [p for p in points if _numel(p) <= 2_000_000] or points[:1]
    return points


def _numel(point: Point) -> int:
    """Input elements of a point."""
    total = 0
    for shape in point.shapes:
        n = 1
        for d in shape:
            n *= d
        total += n
    return total
