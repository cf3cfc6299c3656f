"""Building a DarknetNet from cfg sections: shapes, references and darknet's FLOPs, layer by layer."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, NamedTuple, Sequence

import torch
from torch import nn

from .layers import (
    Avgpool, Connected, Convolutional, Cost, Dropout, LocalAvgpool, Maxout, Maxpool, Reorg, Route, Sam,
    ScaleChannels, Shortcut, Softmax, Upsample, Yolo, activation_name,
)
from .reader import NET_IGNORED, YOLO_IGNORED, CfgError, Options, Section, Shape, load


# ------------------------------------------------------------------------------------- building
class Built(NamedTuple):
    """What a section builder returns."""

    module: nn.Module
    sources: tuple[int, ...]  # absolute layer indexes fed to forward, -1 = the network input
    shape: Shape
    label: str  # after the layer number, e.g. "conv 3x3/2"
    flops: int = 0  # what darknet adds to its Total BFLOPS, in FLOPs


@dataclass
class _Ctx:
    """The state the builders see: the current index, earlier shapes and the input shape."""

    index: int
    shapes: list[Shape]
    input_shape: Shape

    def shape(self, layer: int) -> Shape:
        """Output shape of an earlier layer (-1: the network input)."""
        return self.input_shape if layer < 0 else self.shapes[layer]

    @property
    def prev(self) -> int:
        """Index of the previous layer (-1 for the first one: the image)."""
        return self.index - 1


def _ref(opts: Options, key: str, value: int, ctx: _Ctx) -> int:
    """An absolute layer index from a (possibly negative) reference; CfgError if it does not exist."""
    index = ctx.index + value if value < 0 else value
    if not 0 <= index < ctx.index:
        raise opts.error(f"no such layer (only {ctx.index} before it)", key)
    return index


def _one_ref(opts: Options, ctx: _Ctx) -> int:
    """The single layer a ``[sam]`` / ``[scale_channels]`` takes ``from``."""
    values = opts.ints("from")
    if len(values) != 1:
        raise opts.error("takes exactly one layer", "from")
    return _ref(opts, "from", values[0], ctx)


def _strides(opts: Options, default: int) -> tuple[int, int]:
    """(stride_y, stride_x), darknet's ``stride`` unless overridden per axis."""
    stride = opts.int("stride", default)
    pair = opts.int("stride_y", stride), opts.int("stride_x", stride)
    if min(pair) < 1:
        raise opts.error("stride must be at least 1", "stride")
    return pair


def _positive(opts: Options, key: str, default: int | None = None) -> int:
    """An integer option that must be at least 1."""
    value = opts.int(key, default)
    if value < 1:
        raise opts.error("must be at least 1", key)
    return value


def _conv(opts: Options, ctx: _Ctx) -> Built:
    """``[convolutional]`` (parse_convolutional + make_convolutional_layer)."""
    c, h, w = ctx.shape(ctx.prev)
    filters, size, groups = _positive(opts, "filters", 1), _positive(opts, "size", 1), _positive(opts, "groups", 1)
    sy, sx = _strides(opts, 1)
    dilation = 1 if size == 1 else _positive(opts, "dilation", 1)
    explicit = opts.int("padding", 0)
    padding = size // 2 if opts.int("pad", 0) else explicit
    bn = bool(opts.int("batch_normalize", 0) or opts.int("cbn", 0))
    opts.neutral(antialiasing=0, binary=0, xnor=0, sway=0, rotate=0, stretch=0, stretch_sway=0,
                 coordconv=0)
    if opts.raw("share_index") is not None:
        raise opts.error("shared weights are not supported by this reader", "share_index")
    if c % groups or filters % groups:
        raise opts.error(f"does not divide the {c} input channels and {filters} filters", "groups")
    out_h, out_w = (h + 2 * padding - size) // sy + 1, (w + 2 * padding - size) // sx + 1
    if (size - 1) * dilation + 1 > size and 2 * padding != size - 1 or min(out_h, out_w) < 1:
        raise opts.error(f"cannot convolve a {h}x{w} input (padding {padding}, dilation {dilation})", "size")
    act = activation_name(opts, "logistic")
    module = Convolutional(c, filters, size, (sy, sx), padding, dilation, groups, bn, act)
    flops = 2 * (c // groups) * filters * size * size * out_h * out_w
    stride = f"{sy}" if sy == sx else f"{sy}x{sx}"
    extra = (f" g{groups}" if groups > 1 else "") + (f" d{dilation}" if dilation > 1 else "")
    return Built(module, (ctx.prev,), (filters, out_h, out_w), f"conv {size}x{size}/{stride}{extra}", flops)


def _pool_geometry(opts: Options, ctx: _Ctx) -> tuple[int, tuple[int, int], int, Shape]:
    """size, strides, padding and output shape of a ``[maxpool]`` / ``[local_avgpool]`` window."""
    c, h, w = ctx.shape(ctx.prev)
    sy, sx = _strides(opts, 1)
    size = _positive(opts, "size", sx)
    pad = opts.int("padding", size - 1)
    if pad < 0 or h + pad < size or w + pad < size:
        raise opts.error(f"a {size}x{size} window does not fit a {h}x{w} input padded by {pad}", "size")
    return size, (sy, sx), pad, (c, (h + pad - size) // sy + 1, (w + pad - size) // sx + 1)


def _maxpool(opts: Options, ctx: _Ctx) -> Built:
    """``[maxpool]``, or Maxout with ``maxpool_depth=1``."""
    opts.neutral(antialiasing=0)
    size, (sy, sx), pad, shape = _pool_geometry(opts, ctx)
    c, h, w = ctx.shape(ctx.prev)
    if opts.int("maxpool_depth", 0):
        out_c = _positive(opts, "out_channels", 1)
        if c % out_c:
            raise opts.error(f"must divide the {c} input channels", "out_channels")
        return Built(Maxout(out_c), (ctx.prev,), (out_c, h, w), f"max depth {c}->{out_c}", size * size * c * h * w)
    opts.int("out_channels", 1)
    stride = f"{sy}" if sy == sx else f"{sy}x{sx}"
    flops = size * size * c * shape[1] * shape[2]
    return Built(Maxpool(size, (sy, sx), pad), (ctx.prev,), shape, f"max {size}x{size}/{stride}", flops)


def _local_avgpool(opts: Options, ctx: _Ctx) -> Built:
    """``[local_avgpool]``: darknet builds it as a maxpool layer that averages."""
    size, (sy, sx), pad, shape = _pool_geometry(opts, ctx)
    stride = f"{sy}" if sy == sx else f"{sy}x{sx}"
    flops = size * size * shape[0] * shape[1] * shape[2]
    return Built(LocalAvgpool(size, (sy, sx), pad), (ctx.prev,), shape, f"avg {size}x{size}/{stride}", flops)


def _avgpool(opts: Options, ctx: _Ctx) -> Built:
    """``[avgpool]``: global; darknet counts no FLOPs for it."""
    c, _, _ = ctx.shape(ctx.prev)
    return Built(Avgpool(), (ctx.prev,), (c, 1, 1), "avg")


def _route(opts: Options, ctx: _Ctx) -> Built:
    """``[route]``: all inputs must share H x W; channels sum, divided by ``groups``."""
    sources = tuple(_ref(opts, "layers", v, ctx) for v in opts.ints("layers"))
    groups, group_id = _positive(opts, "groups", 1), opts.int("group_id", 0)
    if not 0 <= group_id < groups:
        raise opts.error(f"must be in 0..{groups - 1}", "group_id")
    shapes = [ctx.shape(i) for i in sources]
    if any(s[1:] != shapes[0][1:] for s in shapes):
        sizes = ", ".join(f"{s[1]}x{s[2]}" for s in shapes)
        raise opts.error(f"inputs differ in size ({sizes})", "layers")
    if any(s[0] % groups for s in shapes):
        raise opts.error("does not divide every input's channels", "groups")
    shape = (sum(s[0] for s in shapes) // groups, *shapes[0][1:])
    label = "route " + ",".join(map(str, sources)) + (f" {group_id}/{groups}" if groups > 1 else "")
    return Built(Route(groups, group_id), sources, shape, label)


def _shortcut(opts: Options, ctx: _Ctx) -> Built:
    """``[shortcut]``: output shaped like the previous layer; every ``from`` must be sampleable onto it."""
    if opts.str("weights_type", "none") != "none":
        raise opts.error("weighted shortcuts are not supported by this reader", "weights_type")
    opts.str("weights_normalization", "none")
    froms = tuple(_ref(opts, "from", v, ctx) for v in opts.ints("from"))
    shape = ctx.shape(ctx.prev)
    for index in froms:
        _check_overlap(opts, ctx.shape(index), shape)
    act = activation_name(opts, "linear")
    return Built(Shortcut(act), (ctx.prev, *froms), shape, "shortcut " + ",".join(map(str, froms)))


def _check_overlap(opts: Options, x: Shape, y: Shape) -> None:
    """darknet's shortcut_cpu asserts the same sampling ratio on both axes."""
    ratios_x = (max(x[2] // y[2], 1), max(y[2] // x[2], 1))
    ratios_y = (max(x[1] // y[1], 1), max(y[1] // x[1], 1))
    if ratios_x != ratios_y:
        raise opts.error(f"cannot add a {x[0]}x{x[1]}x{x[2]} output onto {y[0]}x{y[1]}x{y[2]}", "from")


def _upsample(opts: Options, ctx: _Ctx) -> Built:
    """``[upsample]``: stride s multiplies H and W (a negative one divides them)."""
    c, h, w = ctx.shape(ctx.prev)
    stride = opts.int("stride", 2)
    if stride == 0 or stride < 0 and min(h, w) < -stride:
        raise opts.error(f"cannot resample a {h}x{w} input", "stride")
    shape = (c, h * stride, w * stride) if stride > 0 else (c, h // -stride, w // -stride)
    return Built(Upsample(stride, opts.float("scale", 1.0)), (ctx.prev,), shape, f"upsample {stride}x")


def _scale_channels(opts: Options, ctx: _Ctx) -> Built:
    """``[scale_channels]``: output shaped like ``from``; the previous layer is (C,1,1) or, with scale_wh, (1,H,W)."""
    source = _one_ref(opts, ctx)
    scale, target = ctx.shape(ctx.prev), ctx.shape(source)
    wh = bool(opts.int("scale_wh", 0))
    fits = scale[0] == 1 and scale[1:] == target[1:] if wh else scale == (target[0], 1, 1)
    if not fits:
        raise opts.error(f"cannot scale a {'x'.join(map(str, target))} output by {'x'.join(map(str, scale))}", "from")
    act = activation_name(opts, "linear")
    return Built(ScaleChannels(act), (ctx.prev, source), target, f"scale_channels {source}")


def _sam(opts: Options, ctx: _Ctx) -> Built:
    """``[sam]``: the previous output and ``from`` must have the same shape."""
    source = _one_ref(opts, ctx)
    if ctx.shape(ctx.prev) != ctx.shape(source):
        raise opts.error(f"shapes differ: {ctx.shape(ctx.prev)} and {ctx.shape(source)}", "from")
    act = activation_name(opts, "linear")
    return Built(Sam(act), (ctx.prev, source), ctx.shape(source), f"sam {source}")


def _dropout(opts: Options, ctx: _Ctx) -> Built:
    """``[dropout]``: identity at inference."""
    opts.float("probability", 0.2)
    return Built(Dropout(), (ctx.prev,), ctx.shape(ctx.prev), "dropout")


def _connected(opts: Options, ctx: _Ctx) -> Built:
    """``[connected]``: darknet sets no BFLOPs for it (make_connected_layer), so it adds 0 to its total."""
    c, h, w = ctx.shape(ctx.prev)
    outputs = _positive(opts, "output", 1)
    bn = bool(opts.int("batch_normalize", 0))
    module = Connected(c * h * w, outputs, bn, activation_name(opts, "logistic"))
    return Built(module, (ctx.prev,), (outputs, 1, 1), f"connected {c * h * w}->{outputs}")


def _softmax(opts: Options, ctx: _Ctx) -> Built:
    """``[softmax]``: same shape as its input."""
    shape = ctx.shape(ctx.prev)
    groups = _positive(opts, "groups", 1)
    if (shape[0] * shape[1] * shape[2]) % groups:
        raise opts.error("does not divide the input", "groups")
    spatial = bool(opts.float("spatial", 0))
    opts.float("temperature", 1.0)
    for key in ("tree", "noloss"):
        opts.raw(key)
    return Built(Softmax(groups, spatial), (ctx.prev,), shape, "softmax")


def _cost(opts: Options, ctx: _Ctx) -> Built:
    """``[cost]``: training only; passes through at inference."""
    for key in ("type", "scale", "ratio", "noobject_scale", "thresh"):
        opts.raw(key)
    return Built(Cost(), (ctx.prev,), ctx.shape(ctx.prev), "cost")


def _yolo(opts: Options, ctx: _Ctx) -> Built:
    """``[yolo]``: checks darknet's ``filters == len(mask) * (classes + 5)``; free at inference."""
    classes, total = opts.int("classes", 20), opts.int("num", 1)
    mask = opts.ints("mask") if opts.raw("mask") is not None else list(range(total))
    shape = ctx.shape(ctx.prev)
    if shape[0] != len(mask) * (classes + 5):
        raise opts.error(f"the layer before has {shape[0]} filters, [yolo] needs "
                         f"{len(mask)}*({classes}+5) = {len(mask) * (classes + 5)}", "classes")
    return Built(Yolo(), (ctx.prev,), shape, "yolo")


def _reorg(opts: Options, ctx: _Ctx) -> Built:
    """``[reorg]`` (darknet's reorg_old): stride s trades H and W for channels (reverse: back)."""
    c, h, w = ctx.shape(ctx.prev)
    s, reverse = _positive(opts, "stride", 1), bool(opts.int("reverse", 0))
    ok = c % (s * s) == 0 if reverse else h % s == 0 and w % s == 0 and c % (s * s) == 0
    if not ok:
        raise opts.error(f"cannot reorganise a {c}x{h}x{w} input", "stride")
    shape = (c // (s * s), h * s, w * s) if reverse else (c * s * s, h // s, w // s)
    return Built(Reorg(s, reverse), (ctx.prev,), shape, f"reorg /{s}")


_BUILDERS: dict[str, tuple[Callable[[Options, _Ctx], Built], frozenset[str]]] = {
    "convolutional": (_conv, frozenset({"flipped", "dot", "angle", "grad_centr", "reverse",
                                        "assisted_excitation", "bin_output"})),
    "maxpool": (_maxpool, frozenset({"maxpool_zero_nonmax"})),
    "local_avgpool": (_local_avgpool, frozenset()),
    "avgpool": (_avgpool, frozenset()),
    "route": (_route, frozenset()),
    "shortcut": (_shortcut, frozenset()),
    "upsample": (_upsample, frozenset()),
    "scale_channels": (_scale_channels, frozenset()),
    "sam": (_sam, frozenset()),
    "dropout": (_dropout, frozenset({"dropblock", "dropblock_size_rel", "dropblock_size_abs"})),
    "connected": (_connected, frozenset()),
    "softmax": (_softmax, frozenset()),
    "cost": (_cost, frozenset()),
    "yolo": (_yolo, YOLO_IGNORED),
    "reorg": (_reorg, frozenset()),
}
_ALIASES = {"conv": "convolutional", "network": "net", "conn": "connected", "max": "maxpool",
            "local_avg": "local_avgpool", "avg": "avgpool", "soft": "softmax"}


# ------------------------------------------------------------------------------------ the model
class DarknetNet(nn.Module):
    """A darknet cfg as a module: ``layers[i]`` is darknet's layer i; ``labels[i]`` its table label.

    ``forward`` returns the last layer's output, or the tuple of ``[yolo]`` outputs for a detector.
    """

    def __init__(self, name: str, input_size: Shape, layers: list[nn.Module], outputs: list[int]) -> None:
        super().__init__()
        self.name, self.input_size = name, input_size
        self.layers = nn.ModuleList(layers)
        self.outputs = outputs  # indexes of the layers whose outputs forward returns

    @property
    def labels(self) -> list[str]:
        """darknet-style labels, ``"12 conv 3x3/2"``, one per layer."""
        return [layer.label for layer in self.layers]

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, ...]:
        """Run every layer on the outputs it references."""
        outs: list[torch.Tensor] = []
        for layer in self.layers:
            outs.append(layer(*(x if i < 0 else outs[i] for i in layer.sources)))
        if len(self.outputs) == 1 and not isinstance(self.layers[self.outputs[0]], Yolo):
            return outs[self.outputs[0]]
        return tuple(outs[i] for i in self.outputs)

    def darknet_flops(self, shortcut_cost: bool = False) -> int:
        """darknet's "Total BFLOPS" x 1e9 as an exact integer; ``shortcut_cost`` adds the 2020+ shortcut term."""
        total = sum(layer.darknet_flops for layer in self.layers)
        if shortcut_cost:
            total += sum(shortcut_flops(layer.out_shape, len(layer.sources) - 1)
                         for layer in self.layers if isinstance(layer, Shortcut))
        return total


def shortcut_flops(out_shape: Shape, n_from: int = 1, weighted: bool = False) -> int:
    """The cost AlexeyAB darknet (2020+, ``make_shortcut_layer``) adds per ``[shortcut]``, in FLOPs.

    ``l.bflops = out_w * out_h * out_c * n / 1e9`` with ``n`` the number of ``from`` layers,
    doubled for weighted shortcuts (``weights_type`` other than none): one add (and one multiply)
    per output element per added layer. Earlier darknet, and the CSPNet paper, count 0.
    """
    c, h, w = out_shape
    return c * h * w * n_from * (2 if weighted else 1)


def shortcut_bflops(out_shape: Shape, n_from: int = 1, weighted: bool = False) -> float:
    """:func:`shortcut_flops` in darknet's unit, billions of FLOPs."""
    return shortcut_flops(out_shape, n_from, weighted) / 1e9


def _net_input(sections: list[Section], file: str, input_size: int | Sequence[int] | None) -> Shape:
    """(C, H, W) from ``[net]`` (which must come first), unless ``input_size`` overrides it."""
    if not sections or _ALIASES.get(sections[0].kind, sections[0].kind) != "net":
        line = sections[0].line if sections else 1
        raise CfgError(f"{file}:{line}: the first section must be [net] or [network]")
    opts = Options(sections[0], file)
    shape = (opts.int("channels", 0), opts.int("height", 0), opts.int("width", 0))
    opts.finish(NET_IGNORED)
    if input_size is not None:
        shape = (3, input_size, input_size) if isinstance(input_size, int) else tuple(input_size)
    if len(shape) != 3 or min(shape) < 1:
        raise CfgError(f"{file}:{sections[0].line}: [net] needs positive channels, height and width, got {shape}")
    return shape  # type: ignore[return-value]


def _build_layer(section: Section, file: str, ctx: _Ctx) -> nn.Module:
    """One section as a tagged layer module."""
    kind = _ALIASES.get(section.kind, section.kind)
    if kind not in _BUILDERS:
        raise CfgError(f"{file}:{section.line}: unknown section [{section.kind}]")
    builder, ignored = _BUILDERS[kind]
    opts = Options(section, file)
    built = builder(opts, ctx)
    opts.finish(ignored)
    module = built.module
    module.index, module.sources, module.out_shape = ctx.index, built.sources, built.shape
    module.label, module.darknet_flops = f"{ctx.index} {built.label}", built.flops
    return module


def build(path_or_text: str | Path, *, input_size: int | Sequence[int] | None = None) -> DarknetNet:
    """Build a darknet cfg as a PyTorch module with darknet's layer semantics.

    Args:
        path_or_text: a ``.cfg`` path, or the cfg text itself.
        input_size: (C, H, W) (or one int for 3 x S x S) instead of ``[net]``'s size.
    Returns:
        A :class:`DarknetNet`; ``model.input_size`` is the (C, H, W) it was built for.
    Raises:
        CfgError: an unknown section or option, or a cfg darknet could not build (file:line).
    """
    file, sections = load(path_or_text)
    ctx = _Ctx(0, [], _net_input(sections, file, input_size))
    layers: list[nn.Module] = []
    for ctx.index, section in enumerate(sections[1:]):
        layers.append(_build_layer(section, file, ctx))
        ctx.shapes.append(layers[-1].out_shape)
    if not layers:
        raise CfgError(f"{file}:{sections[0].line}: the cfg has no layers after [net]")
    yolos = [i for i, layer in enumerate(layers) if isinstance(layer, Yolo)]
    last = max(i for i, layer in enumerate(layers) if not isinstance(layer, Cost) or i == 0)
    return DarknetNet(file, ctx.input_shape, layers, yolos or [last])
