"""Section builders for darknet's weightless layers: pools, route, shortcut, resampling, reorgs, attention
products, crop, normalisation, activation and pass-throughs."""
from __future__ import annotations

from .context import Built, Ctx, one_ref, positive, ref, strides
from .layers import (
    Activation, Avgpool, Batchnorm, Cost, Crop, Dropout, Empty, Implicit, LocalAvgpool, Maxout, Maxpool, Normalization,
    Reorg, Reorg3d, Route, Sam, ScaleChannels, Shortcut, Softmax, Upsample, activation_name,
)
from .reader import Options, Shape


def pool_geometry(opts: Options, ctx: Ctx) -> tuple[int, tuple[int, int], int, Shape]:
    """size, strides, padding and output shape of a ``[maxpool]`` / ``[local_avgpool]`` window."""
    c, h, w = ctx.shape(ctx.prev)
    sy, sx = strides(opts, 1)
    size = positive(opts, "size", sx)
    pad = opts.int("padding", size - 1)
    if pad < 0 or h + pad < size or w + pad < size:
        raise opts.error(f"a {size}x{size} window does not fit a {h}x{w} input padded by {pad}", "size")
    return size, (sy, sx), pad, (c, (h + pad - size) // sy + 1, (w + pad - size) // sx + 1)


def maxpool(opts: Options, ctx: Ctx) -> Built:
    """``[maxpool]``, or Maxout with ``maxpool_depth=1``."""
    opts.neutral(antialiasing=0)
    size, (sy, sx), pad, shape = pool_geometry(opts, ctx)
    c, h, w = ctx.shape(ctx.prev)
    if opts.int("maxpool_depth", 0):
        out_c = positive(opts, "out_channels", 1)
        if c % out_c:
            raise opts.error(f"must divide the {c} input channels", "out_channels")
        return Built(Maxout(out_c), (ctx.prev,), (out_c, h, w), f"max depth {c}->{out_c}", size * size * c * h * w)
    opts.int("out_channels", 1)
    stride = f"{sy}" if sy == sx else f"{sy}x{sx}"
    flops = size * size * c * shape[1] * shape[2]
    return Built(Maxpool(size, (sy, sx), pad), (ctx.prev,), shape, f"max {size}x{size}/{stride}", flops)


def local_avgpool(opts: Options, ctx: Ctx) -> Built:
    """``[local_avgpool]``: darknet builds it as a maxpool layer that averages."""
    size, (sy, sx), pad, shape = pool_geometry(opts, ctx)
    stride = f"{sy}" if sy == sx else f"{sy}x{sx}"
    flops = size * size * shape[0] * shape[1] * shape[2]
    return Built(LocalAvgpool(size, (sy, sx), pad), (ctx.prev,), shape, f"avg {size}x{size}/{stride}", flops)


def avgpool(opts: Options, ctx: Ctx) -> Built:
    """``[avgpool]``: global; darknet counts no FLOPs for it."""
    c, _, _ = ctx.shape(ctx.prev)
    return Built(Avgpool(), (ctx.prev,), (c, 1, 1), "avg")


def route(opts: Options, ctx: Ctx) -> Built:
    """``[route]``: all inputs must share H x W; channels sum, divided by ``groups``."""
    sources = tuple(ref(opts, "layers", v, ctx) for v in opts.ints("layers"))
    groups, group_id = positive(opts, "groups", 1), opts.int("group_id", 0)
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


def shortcut(opts: Options, ctx: Ctx) -> Built:
    """``[shortcut]``: output shaped like the previous layer; every ``from`` must be sampleable onto it."""
    if opts.str("weights_type", "none") != "none":
        raise opts.error("weighted shortcuts are not supported by this reader", "weights_type")
    opts.str("weights_normalization", "none")
    froms = tuple(ref(opts, "from", v, ctx) for v in opts.ints("from"))
    shape = ctx.shape(ctx.prev)
    for index in froms:
        check_overlap(opts, ctx.shape(index), shape)
    act = activation_name(opts, "linear")
    return Built(Shortcut(act), (ctx.prev, *froms), shape, "shortcut " + ",".join(map(str, froms)))


def check_overlap(opts: Options, x: Shape, y: Shape) -> None:
    """darknet's shortcut_cpu asserts the same sampling ratio on both axes."""
    ratios_x = (max(x[2] // y[2], 1), max(y[2] // x[2], 1))
    ratios_y = (max(x[1] // y[1], 1), max(y[1] // x[1], 1))
    if ratios_x != ratios_y:
        raise opts.error(f"cannot add a {x[0]}x{x[1]}x{x[2]} output onto {y[0]}x{y[1]}x{y[2]}", "from")


def upsample(opts: Options, ctx: Ctx) -> Built:
    """``[upsample]``: stride s multiplies H and W (a negative one divides them)."""
    c, h, w = ctx.shape(ctx.prev)
    stride = opts.int("stride", 2)
    if stride == 0 or stride < 0 and min(h, w) < -stride:
        raise opts.error(f"cannot resample a {h}x{w} input", "stride")
    shape = (c, h * stride, w * stride) if stride > 0 else (c, h // -stride, w // -stride)
    return Built(Upsample(stride, opts.float("scale", 1.0)), (ctx.prev,), shape, f"upsample {stride}x")


def scale_channels(opts: Options, ctx: Ctx) -> Built:
    """``[scale_channels]``: output shaped like ``from``; the previous layer is (C,1,1) or, with scale_wh, (1,H,W)."""
    source = one_ref(opts, ctx)
    scale, target = ctx.shape(ctx.prev), ctx.shape(source)
    wh = bool(opts.int("scale_wh", 0))
    fits = scale[0] == 1 and scale[1:] == target[1:] if wh else scale == (target[0], 1, 1)
    if not fits:
        raise opts.error(f"cannot scale a {'x'.join(map(str, target))} output by {'x'.join(map(str, scale))}", "from")
    act = activation_name(opts, "linear")
    return Built(ScaleChannels(act), (ctx.prev, source), target, f"scale_channels {source}")


def sam(opts: Options, ctx: Ctx) -> Built:
    """``[sam]``: the previous output and ``from`` must have the same shape."""
    source = one_ref(opts, ctx)
    if ctx.shape(ctx.prev) != ctx.shape(source):
        raise opts.error(f"shapes differ: {ctx.shape(ctx.prev)} and {ctx.shape(source)}", "from")
    act = activation_name(opts, "linear")
    return Built(Sam(act), (ctx.prev, source), ctx.shape(source), f"sam {source}")


def dropout(opts: Options, ctx: Ctx) -> Built:
    """``[dropout]``: identity at inference."""
    opts.float("probability", 0.2)
    return Built(Dropout(), (ctx.prev,), ctx.shape(ctx.prev), "dropout")


def softmax(opts: Options, ctx: Ctx) -> Built:
    """``[softmax]``: same shape as its input."""
    shape = ctx.shape(ctx.prev)
    groups = positive(opts, "groups", 1)
    if (shape[0] * shape[1] * shape[2]) % groups:
        raise opts.error("does not divide the input", "groups")
    spatial = bool(opts.float("spatial", 0))
    opts.float("temperature", 1.0)
    for key in ("tree", "noloss"):
        opts.raw(key)
    return Built(Softmax(groups, spatial), (ctx.prev,), shape, "softmax")


def cost(opts: Options, ctx: Ctx) -> Built:
    """``[cost]``: training only; passes through at inference."""
    for key in ("type", "scale", "ratio", "noobject_scale", "thresh"):
        opts.raw(key)
    return Built(Cost(), (ctx.prev,), ctx.shape(ctx.prev), "cost")


def reorg(opts: Options, ctx: Ctx) -> Built:
    """``[reorg]`` (darknet's reorg_old): stride s trades H and W for channels (reverse: back)."""
    c, h, w = ctx.shape(ctx.prev)
    s, reverse = positive(opts, "stride", 1), bool(opts.int("reverse", 0))
    ok = c % (s * s) == 0 if reverse else h % s == 0 and w % s == 0 and c % (s * s) == 0
    if not ok:
        raise opts.error(f"cannot reorganise a {c}x{h}x{w} input", "stride")
    shape = (c // (s * s), h * s, w * s) if reverse else (c * s * s, h // s, w // s)
    return Built(Reorg(s, reverse), (ctx.prev,), shape, f"reorg /{s}")


def reorg3d(opts: Options, ctx: Ctx) -> Built:
    """``[reorg3d]`` (reorg_layer.c): stride s trades H and W for channels (reverse: back)."""
    c, h, w = ctx.shape(ctx.prev)
    s, reverse = positive(opts, "stride", 1), bool(opts.int("reverse", 0))
    ok = c % s**4 == 0 if reverse else h % s == 0 and w % s == 0
    if not ok:
        raise opts.error(f"cannot reorganise a {c}x{h}x{w} input", "stride")
    shape = (c // (s * s), h * s, w * s) if reverse else (c * s * s, h // s, w // s)
    return Built(Reorg3d(s, reverse), (ctx.prev,), shape, f"reorg3d /{s}")


def crop(opts: Options, ctx: Ctx) -> Built:
    """``[crop]``: at inference the centre window, times 2 minus 1 unless ``noadjust=1`` (forward_crop_layer)."""
    c, h, w = ctx.shape(ctx.prev)
    out_h, out_w = positive(opts, "crop_height", 1), positive(opts, "crop_width", 1)
    if out_h > h or out_w > w:
        raise opts.error(f"a {out_h}x{out_w} crop does not fit the {h}x{w} input", "crop_height")
    for key, default in (("angle", 0.0), ("saturation", 1.0), ("exposure", 1.0), ("shift", 0.0)):
        opts.float(key, default)  # training augmentation only
    opts.int("flip", 0)
    adjust = not opts.int("noadjust", 0)
    return Built(Crop((out_h, out_w), adjust), (ctx.prev,), (c, out_h, out_w), f"crop {out_h}x{out_w}")


def batchnorm(opts: Options, ctx: Ctx) -> Built:
    """``[batchnorm]``: per-channel normalisation with darknet's rolling statistics; no BFLOPs printed."""
    shape = ctx.shape(ctx.prev)
    return Built(Batchnorm(shape[0]), (ctx.prev,), shape, "batchnorm")


def activation(opts: Options, ctx: Ctx) -> Built:
    """``[activation]`` (parse_activation): the activation alone; default linear."""
    act = activation_name(opts, "linear")
    return Built(Activation(act), (ctx.prev,), ctx.shape(ctx.prev), f"activation {act}")


def normalization(opts: Options, ctx: Ctx) -> Built:
    """``[normalization]``/``[lrn]`` (parse_normalization): local response normalisation; no BFLOPs printed."""
    size = positive(opts, "size", 5)
    module = Normalization(size, opts.float("alpha", 0.0001), opts.float("beta", 0.75), opts.float("kappa", 1.0))
    return Built(module, (ctx.prev,), ctx.shape(ctx.prev), f"lrn {size}")


def empty(opts: Options, ctx: Ctx) -> Built:
    """``[empty]``/``[silence]``: the previous output passed through."""
    return Built(Empty(), (ctx.prev,), ctx.shape(ctx.prev), "empty")


def implicit(opts: Options, ctx: Ctx) -> Built:
    """``[implicit]`` (parse_implicit): a learned filters x 1 x 1 tensor; ``atoms`` other than 1 not built."""
    filters = positive(opts, "filters", 128)
    opts.neutral(atoms=1)
    opts.float("std", 0.2)
    return Built(Implicit(filters, opts.float("mean", 0.0)), (ctx.prev,), (filters, 1, 1), f"implicit {filters}")
