"""Section builders for darknet's detection heads and losses: they check their input's shape and pass it on."""
from __future__ import annotations

from .context import Built, Ctx
from .layers import Contrastive, Detection, Region, Yolo
from .reader import Options


def yolo(opts: Options, ctx: Ctx) -> Built:
    """``[yolo]``: checks darknet's ``filters == len(mask) * (classes + 5)``; free at inference."""
    return yolo_like(opts, ctx, 5, "yolo")


def gaussian_yolo(opts: Options, ctx: Ctx) -> Built:
    """``[Gaussian_yolo]``: as ``[yolo]`` with 4 more (uncertainty) values per box: ``classes + 9``."""
    opts.str("yolo_point", "center")
    return yolo_like(opts, ctx, 9, "gaussian_yolo")


def yolo_like(opts: Options, ctx: Ctx, per_box: int, label: str) -> Built:
    """A YOLO head marker: the layer before must give ``len(mask) * (classes + per_box)`` channels."""
    classes, total = opts.int("classes", 20), opts.int("num", 1)
    mask = opts.ints("mask") if opts.raw("mask") is not None else list(range(total))
    shape = ctx.shape(ctx.prev)
    if shape[0] != len(mask) * (classes + per_box):
        raise opts.error(f"the layer before has {shape[0]} filters, [{label}] needs "
                         f"{len(mask)}*({classes}+{per_box}) = {len(mask) * (classes + per_box)}", "classes")
    return Built(Yolo(), (ctx.prev,), shape, label)


def region(opts: Options, ctx: Ctx) -> Built:
    """``[region]`` (YOLOv2): make_region_layer needs ``h*w*num*(classes + coords + 1)`` inputs."""
    coords, classes, num = opts.int("coords", 4), opts.int("classes", 20), opts.int("num", 1)
    c, h, w = shape = ctx.shape(ctx.prev)
    if c != num * (classes + coords + 1):
        raise opts.error(f"the layer before has {c} filters, [region] needs {num}*({classes}+{coords}+1) = "
                         f"{num * (classes + coords + 1)}", "classes")
    return Built(Region(), (ctx.prev,), shape, "region")


def detection(opts: Options, ctx: Ctx) -> Built:
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


def contrastive(opts: Options, ctx: Ctx) -> Built:
    """``[contrastive]``: a training loss; parse_contrastive requires ``yolo_layer`` to name a ``[yolo]``."""
    opts.int("classes", 1000)
    value = opts.int("yolo_layer", 0)
    index = ctx.index + value if value < 0 else value
    if value == 0 or not 0 <= index < ctx.index or not isinstance(ctx.modules[index], Yolo):
        raise opts.error("must name a [yolo] layer (darknet stops: \"[contrastive] layer should point to the "
                         "[yolo] layer\")", "yolo_layer")
    return Built(Contrastive(), (ctx.prev,), ctx.shape(ctx.prev), f"contrastive {index}")
