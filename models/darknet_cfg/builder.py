"""Building a DarknetNet from cfg sections: shapes, references and darknet's FLOPs, layer by layer."""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, NamedTuple, Sequence

import torch
from torch import nn

from .layers import (
    Activation, Avgpool, Batchnorm, Empty, Gru, Head, Implicit, Lstm, Normalization, Rnn, Connected, Contrastive, Convolutional, Cost, Crnn, Crop, Detection, Dropout, Local,
    LocalAvgpool, Maxout, Maxpool, Region, Reorg, Reorg3d, Route, Sam, ScaleChannels, Shortcut, Softmax, Upsample,
    XnorConvolutional, Yolo, activation_name,
)
from .reader import (
    DETECTION_IGNORED, NET_IGNORED, REGION_IGNORED, YOLO_IGNORED, CfgError, Options, Section, Shape, load,
)


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
    modules: list[nn.Module]

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
    dilation = _positive(opts, "dilation", 1)
    dilation = 1 if size == 1 else dilation  # parse_convolutional: "if (size == 1) dilation = 1"
    explicit = opts.int("padding", 0)
    padding = size // 2 if opts.int("pad", 0) else explicit
    bn = bool(opts.int("batch_normalize", 0) or opts.int("cbn", 0))
    binary, xnor = bool(opts.int("binary", 0)), bool(opts.int("xnor", 0))
    opts.neutral(antialiasing=0, sway=0, rotate=0, stretch=0, stretch_sway=0, coordconv=0)
    if c % groups or filters % groups:
        raise opts.error(f"does not divide the {c} input channels and {filters} filters", "groups")
    out_h, out_w = (h + 2 * padding - size) // sy + 1, (w + 2 * padding - size) // sx + 1
    if (size - 1) * dilation + 1 > size and 2 * padding != size - 1 or min(out_h, out_w) < 1:
        raise opts.error(f"cannot convolve a {h}x{w} input (padding {padding}, dilation {dilation})", "size")
    act = activation_name(opts, "logistic")
    kind = XnorConvolutional if xnor else Convolutional
    module = kind(c, filters, size, (sy, sx), padding, dilation, groups, bn, act, binary or xnor)
    shared = _share(opts, ctx, module)
    flops = 2 * (c // groups) * filters * size * size * out_h * out_w
    stride = f"{sy}" if sy == sx else f"{sy}x{sx}"
    extra = (f" g{groups}" if groups > 1 else "") + (f" d{dilation}" if dilation > 1 else "")
    extra += " xnor" if xnor else " binary" if binary else ""
    extra += f" shares {shared}" if shared is not None else ""
    # darknet prints an XNOR conv at 1/32 of its FLOPs (make_convolutional_layer), here rounded to whole FLOPs
    flops = (flops + 16) // 32 if xnor else flops
    return Built(module, (ctx.prev,), (filters, out_h, out_w), f"conv {size}x{size}/{stride}{extra}", flops)


def _share(opts: Options, ctx: _Ctx, module: Convolutional) -> int | None:
    """``share_index``: the conv takes an earlier conv's weights (same shapes); returns that layer's index."""
    if opts.raw("share_index") is None:
        return None
    value = opts.int("share_index")
    index = value if value >= 0 else ctx.index + value  # parse_convolutional: absolute, or relative when < 0
    if not 0 <= index < ctx.index:
        raise opts.error(f"no such layer (only {ctx.index} before it)", "share_index")
    other = ctx.modules[index]
    if not isinstance(other, Convolutional) or other.weight.shape != module.weight.shape \
            or other.batch_normalize != module.batch_normalize:
        raise opts.error(f"layer {index} is not a [convolutional] of the same filters, size, input channels "
                         "and batch_normalize", "share_index")
    module.share(other)
    return index


def _local(opts: Options, ctx: _Ctx) -> Built:
    """``[local]`` (parse_local + make_local_layer): output ``(h - (pad ? 1 : size))//stride + 1``.

    darknet prints no BFLOPs for it (make_local_layer sets none), so it adds 0 to darknet's total.
    """
    c, h, w = ctx.shape(ctx.prev)
    filters, size, stride = _positive(opts, "filters", 1), _positive(opts, "size", 1), _positive(opts, "stride", 1)
    pad = opts.int("pad", 0)
    if pad and 2 * pad != size - 1:  # im2col pads by `pad` itself: only pad = (size-1)/2 matches the output size
        raise opts.error(f"pad={pad} with size={size}: darknet's output size and its im2col disagree", "pad")
    out_h, out_w = (h - (1 if pad else size)) // stride + 1, (w - (1 if pad else size)) // stride + 1
    if min(out_h, out_w) < 1:
        raise opts.error(f"a {size}x{size} window does not fit a {h}x{w} input", "size")
    module = Local(c, filters, size, stride, pad, (out_h, out_w), activation_name(opts, "logistic"))
    module.fixes_input = True
    return Built(module, (ctx.prev,), (filters, out_h, out_w), f"local {size}x{size}/{stride}")


def _crnn(opts: Options, ctx: _Ctx) -> Built:
    """``[crnn]``: three darknet convs (input, self, output); darknet's BFLOPs are their sum (make_crnn_layer)."""
    c, h, w = ctx.shape(ctx.prev)
    size, stride, dilation = _positive(opts, "size", 3), _positive(opts, "stride", 1), _positive(opts, "dilation", 1)
    padding = size // 2 if opts.int("pad", 0) else opts.int("padding", 0)
    hidden, output, groups = _positive(opts, "hidden", 1), _positive(opts, "output", 1), _positive(opts, "groups", 1)
    bn, act = bool(opts.int("batch_normalize", 0)), activation_name(opts, "logistic")
    opts.neutral(xnor=0)
    out_h, out_w = (h + 2 * padding - size) // stride + 1, (w + 2 * padding - size) // stride + 1
    if (out_h, out_w) != (h, w) or (size - 1) * dilation + 1 > size and 2 * padding != size - 1:
        # make_crnn_layer asserts input_layer->outputs == self_layer->outputs: the size must be kept
        raise opts.error(f"the convs must keep the {h}x{w} size (stride 1, pad=1); they give {out_h}x{out_w}", "size")
    if any(n % groups for n in (c, hidden, output)):
        raise opts.error(f"does not divide the {c} input, {hidden} hidden and {output} output channels", "groups")
    cells = [Convolutional(i, o, size, (stride, stride), padding, dilation, groups, bn, act)
             for i, o in ((c, hidden), (hidden, hidden), (hidden, output))]
    flops = sum(2 * (i // groups) * o * size * size * h * w for i, o in ((c, hidden), (hidden, hidden), (hidden, output)))
    module = Crnn(cells, bool(opts.int("shortcut", 0)))
    return Built(module, (ctx.prev,), (output, h, w), f"crnn {size}x{size} {c}->{hidden}->{output}", flops)


def _crop(opts: Options, ctx: _Ctx) -> Built:
    """``[crop]``: at inference the centre window, times 2 minus 1 unless ``noadjust=1`` (forward_crop_layer)."""
    c, h, w = ctx.shape(ctx.prev)
    out_h, out_w = _positive(opts, "crop_height", 1), _positive(opts, "crop_width", 1)
    if out_h > h or out_w > w:
        raise opts.error(f"a {out_h}x{out_w} crop does not fit the {h}x{w} input", "crop_height")
    for key, default in (("angle", 0.0), ("saturation", 1.0), ("exposure", 1.0), ("shift", 0.0)):
        opts.float(key, default)  # training augmentation only
    opts.int("flip", 0)
    adjust = not opts.int("noadjust", 0)
    return Built(Crop((out_h, out_w), adjust), (ctx.prev,), (c, out_h, out_w), f"crop {out_h}x{out_w}")


def _batchnorm(opts: Options, ctx: _Ctx) -> Built:
    """``[batchnorm]``: per-channel normalisation with darknet's rolling statistics; no BFLOPs printed."""
    shape = ctx.shape(ctx.prev)
    return Built(Batchnorm(shape[0]), (ctx.prev,), shape, "batchnorm")


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
    module.fixes_input = True
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
    return _yolo_like(opts, ctx, 5, "yolo")


def _gaussian_yolo(opts: Options, ctx: _Ctx) -> Built:
    """``[Gaussian_yolo]``: as ``[yolo]`` with 4 more (uncertainty) values per box: ``classes + 9``."""
    opts.str("yolo_point", "center")
    return _yolo_like(opts, ctx, 9, "gaussian_yolo")


def _yolo_like(opts: Options, ctx: _Ctx, per_box: int, label: str) -> Built:
    """A YOLO head marker: the layer before must give ``len(mask) * (classes + per_box)`` channels."""
    classes, total = opts.int("classes", 20), opts.int("num", 1)
    mask = opts.ints("mask") if opts.raw("mask") is not None else list(range(total))
    shape = ctx.shape(ctx.prev)
    if shape[0] != len(mask) * (classes + per_box):
        raise opts.error(f"the layer before has {shape[0]} filters, [{label}] needs "
                         f"{len(mask)}*({classes}+{per_box}) = {len(mask) * (classes + per_box)}", "classes")
    return Built(Yolo(), (ctx.prev,), shape, label)


def _region(opts: Options, ctx: _Ctx) -> Built:
    """``[region]`` (YOLOv2): make_region_layer needs ``h*w*num*(classes + coords + 1)`` inputs."""
    coords, classes, num = opts.int("coords", 4), opts.int("classes", 20), opts.int("num", 1)
    c, h, w = shape = ctx.shape(ctx.prev)
    if c != num * (classes + coords + 1):
        raise opts.error(f"the layer before has {c} filters, [region] needs {num}*({classes}+{coords}+1) = "
                         f"{num * (classes + coords + 1)}", "classes")
    return Built(Region(), (ctx.prev,), shape, "region")


def _detection(opts: Options, ctx: _Ctx) -> Built:
    """``[detection]`` (YOLOv1): make_detection_layer asserts ``side^2 * ((1 + coords)*num + classes)`` inputs."""
    coords, classes, num, side = opts.int("coords", 1), opts.int("classes", 1), opts.int("num", 1), opts.int("side", 7)
    shape = ctx.shape(ctx.prev)
    needed = side * side * ((1 + coords) * num + classes)
    if shape[0] * shape[1] * shape[2] != needed:
        raise opts.error(f"the layer before gives {shape[0] * shape[1] * shape[2]} values, [detection] needs "
                         f"{side}^2*((1+{coords})*{num}+{classes}) = {needed}", "side")
    module = Detection()
    module.fixes_input = True
    return Built(module, (ctx.prev,), shape, "detection")


def _contrastive(opts: Options, ctx: _Ctx) -> Built:
    """``[contrastive]``: a training loss; parse_contrastive requires ``yolo_layer`` to name a ``[yolo]``."""
    opts.int("classes", 1000)
    value = opts.int("yolo_layer", 0)
    index = ctx.index + value if value < 0 else value
    if value == 0 or not 0 <= index < ctx.index or not isinstance(ctx.modules[index], Yolo):
        raise opts.error("must name a [yolo] layer (darknet stops: \"[contrastive] layer should point to the "
                         "[yolo] layer\")", "yolo_layer")
    return Built(Contrastive(), (ctx.prev,), ctx.shape(ctx.prev), f"contrastive {index}")


def _reorg3d(opts: Options, ctx: _Ctx) -> Built:
    """``[reorg3d]`` (reorg_layer.c): stride s trades H and W for channels (reverse: back)."""
    c, h, w = ctx.shape(ctx.prev)
    s, reverse = _positive(opts, "stride", 1), bool(opts.int("reverse", 0))
    ok = c % s**4 == 0 if reverse else h % s == 0 and w % s == 0
    if not ok:
        raise opts.error(f"cannot reorganise a {c}x{h}x{w} input", "stride")
    shape = (c // (s * s), h * s, w * s) if reverse else (c * s * s, h // s, w // s)
    return Built(Reorg3d(s, reverse), (ctx.prev,), shape, f"reorg3d /{s}")


def _reorg(opts: Options, ctx: _Ctx) -> Built:
    """``[reorg]`` (darknet's reorg_old): stride s trades H and W for channels (reverse: back)."""
    c, h, w = ctx.shape(ctx.prev)
    s, reverse = _positive(opts, "stride", 1), bool(opts.int("reverse", 0))
    ok = c % (s * s) == 0 if reverse else h % s == 0 and w % s == 0 and c % (s * s) == 0
    if not ok:
        raise opts.error(f"cannot reorganise a {c}x{h}x{w} input", "stride")
    shape = (c // (s * s), h * s, w * s) if reverse else (c * s * s, h // s, w // s)
    return Built(Reorg(s, reverse), (ctx.prev,), shape, f"reorg /{s}")


def _activation(opts: Options, ctx: _Ctx) -> Built:
    """``[activation]`` (parse_activation): the activation alone; default linear."""
    act = activation_name(opts, "linear")
    return Built(Activation(act), (ctx.prev,), ctx.shape(ctx.prev), f"activation {act}")


def _normalization(opts: Options, ctx: _Ctx) -> Built:
    """``[normalization]``/``[lrn]`` (parse_normalization): local response normalisation; no BFLOPs printed."""
    size = _positive(opts, "size", 5)
    module = Normalization(size, opts.float("alpha", 0.0001), opts.float("beta", 0.75), opts.float("kappa", 1.0))
    return Built(module, (ctx.prev,), ctx.shape(ctx.prev), f"lrn {size}")


def _empty(opts: Options, ctx: _Ctx) -> Built:
    """``[empty]``/``[silence]``: the previous output passed through."""
    return Built(Empty(), (ctx.prev,), ctx.shape(ctx.prev), "empty")


def _implicit(opts: Options, ctx: _Ctx) -> Built:
    """``[implicit]`` (parse_implicit): a learned filters x 1 x 1 tensor; ``atoms`` other than 1 not built."""
    filters = _positive(opts, "filters", 128)
    opts.neutral(atoms=1)
    opts.float("std", 0.2)
    return Built(Implicit(filters, opts.float("mean", 0.0)), (ctx.prev,), (filters, 1, 1), f"implicit {filters}")


def _recurrent(module: nn.Module, ctx: _Ctx, outputs: int, label: str) -> Built:
    """A recurrent layer on the flattened previous output: (outputs, 1, 1), fixed input size, no BFLOPs."""
    module.fixes_input = True
    return Built(module, (ctx.prev,), (outputs, 1, 1), label)


def _rnn(opts: Options, ctx: _Ctx) -> Built:
    """``[rnn]`` (parse_rnn): three connected cells; darknet prints no BFLOPs for connected layers."""
    inputs = math.prod(ctx.shape(ctx.prev))
    output, hidden = _positive(opts, "output", 1), _positive(opts, "hidden", 1)
    act, bn = activation_name(opts, "logistic"), bool(opts.int("batch_normalize", 0))
    opts.int("logistic", 0)
    module = Rnn(inputs, hidden, output, act, bn, bool(opts.int("shortcut", 0)))
    return _recurrent(module, ctx, output, f"rnn {inputs}->{hidden}->{output}")


def _gru(opts: Options, ctx: _Ctx) -> Built:
    """``[gru]`` (parse_gru): six connected cells."""
    inputs, output = math.prod(ctx.shape(ctx.prev)), _positive(opts, "output", 1)
    return _recurrent(Gru(inputs, output, bool(opts.int("batch_normalize", 0))), ctx, output, f"gru {inputs}->{output}")


def _lstm(opts: Options, ctx: _Ctx) -> Built:
    """``[lstm]`` (parse_lstm): eight connected cells."""
    inputs, output = math.prod(ctx.shape(ctx.prev)), _positive(opts, "output", 1)
    return _recurrent(Lstm(inputs, output, bool(opts.int("batch_normalize", 0))), ctx, output, f"lstm {inputs}->{output}")


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
    "gaussian_yolo": (_gaussian_yolo, YOLO_IGNORED),
    "region": (_region, REGION_IGNORED),
    "detection": (_detection, DETECTION_IGNORED),
    "contrastive": (_contrastive, frozenset({"temperature", "cls_normalizer", "max_delta", "contrastive_neg_max"})),
    "reorg": (_reorg, frozenset()),
    "reorg3d": (_reorg3d, frozenset()),
    "local": (_local, frozenset()),
    "crnn": (_crnn, frozenset()),
    "crop": (_crop, frozenset()),
    "batchnorm": (_batchnorm, frozenset()),
    "activation": (_activation, frozenset()),
    "normalization": (_normalization, frozenset()),
    "empty": (_empty, frozenset()),
    "implicit": (_implicit, frozenset()),
    "rnn": (_rnn, frozenset()),
    "gru": (_gru, frozenset()),
    "lstm": (_lstm, frozenset()),
}
# Sections darknet's parser knows (string_to_layer_type) that are not built here, and why.
_NOT_BUILT = {"conv_lstm": "a convolutional LSTM over time steps", "history": "a buffer of past frames"}
_ALIASES = {"conv": "convolutional", "network": "net", "conn": "connected", "max": "maxpool",
            "local_avg": "local_avgpool", "avg": "avgpool", "soft": "softmax", "lrn": "normalization",
            "silence": "empty"}


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
        self._check_size(tuple(x.shape[1:]))
        outs: list[torch.Tensor] = []
        for layer in self.layers:
            outs.append(layer(*(x if i < 0 else outs[i] for i in layer.sources)))
        if len(self.outputs) == 1 and not isinstance(self.layers[self.outputs[0]], Head):
            return outs[self.outputs[0]]
        return tuple(outs[i] for i in self.outputs)

    def _check_size(self, size: tuple[int, ...]) -> None:
        """A layer whose weights depend on the input size ([connected], [local], [detection]) cannot
        take another size: say which layer and how to fix it, instead of a shape error deep inside."""
        if size == tuple(self.input_size):
            return
        fixed = next((layer for layer in self.layers if getattr(layer, "fixes_input", False)), None)
        if fixed is not None:
            want = "x".join(map(str, self.input_size))
            raise CfgError(f"{self.name}: layer {fixed.label} fixes the input size to {want} (its weights or "
                           f"outputs depend on it); analyse it at that size, or change width/height in [net] "
                           f"(got {'x'.join(map(str, size))})")

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
    inputs = opts.int("inputs", 0)
    if shape == (0, 0, 0) and inputs > 0:  # a text or sequence model (parse_net_options: net->inputs)
        shape = (inputs, 1, 1)
    opts.finish(NET_IGNORED)
    if input_size is not None:
        shape = (3, input_size, input_size) if isinstance(input_size, int) else tuple(input_size)
    if len(shape) != 3 or min(shape) < 1:
        raise CfgError(f"{file}:{sections[0].line}: [net] needs positive channels, height and width, got {shape}")
    return shape  # type: ignore[return-value]


def _build_layer(section: Section, file: str, ctx: _Ctx) -> nn.Module:
    """One section as a tagged layer module."""
    kind = _ALIASES.get(section.kind, section.kind)
    if kind in _NOT_BUILT:
        raise CfgError(f"{file}:{section.line}: [{section.kind}] is a darknet layer this reader does not build "
                       f"({_NOT_BUILT[kind]})")
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
    ctx = _Ctx(0, [], _net_input(sections, file, input_size), [])
    layers = ctx.modules
    for ctx.index, section in enumerate(sections[1:]):
        layers.append(_build_layer(section, file, ctx))
        ctx.shapes.append(layers[-1].out_shape)
    if not layers:
        raise CfgError(f"{file}:{sections[0].line}: the cfg has no layers after [net]")
    yolos = [i for i, layer in enumerate(layers) if isinstance(layer, Head)]
    last = max(i for i, layer in enumerate(layers) if not isinstance(layer, Cost) or i == 0)
    return DarknetNet(file, ctx.input_shape, layers, yolos or [last])
