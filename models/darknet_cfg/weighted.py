"""Section builders for darknet's layers with weights: conv (binary, XNOR, shared), local, connected, recurrent."""
from __future__ import annotations

import math

from torch import nn

from .context import Built, Ctx, positive, strides
from .layers import Connected, Convolutional, Local, XnorConvolutional, activation_name
from .reader import Options
from .recurrent import Crnn, Gru, Lstm, Rnn


def conv(opts: Options, ctx: Ctx) -> Built:
    """``[convolutional]`` (parse_convolutional + make_convolutional_layer)."""
    c, h, w = ctx.shape(ctx.prev)
    filters, size, groups = positive(opts, "filters", 1), positive(opts, "size", 1), positive(opts, "groups", 1)
    sy, sx = strides(opts, 1)
    dilation = positive(opts, "dilation", 1)
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
    shared = share(opts, ctx, module)
    flops = 2 * (c // groups) * filters * size * size * out_h * out_w
    stride = f"{sy}" if sy == sx else f"{sy}x{sx}"
    extra = (f" g{groups}" if groups > 1 else "") + (f" d{dilation}" if dilation > 1 else "")
    extra += " xnor" if xnor else " binary" if binary else ""
    extra += f" shares {shared}" if shared is not None else ""
    # darknet prints an XNOR conv at 1/32 of its FLOPs (make_convolutional_layer), here rounded to whole FLOPs
    flops = (flops + 16) // 32 if xnor else flops
    return Built(module, (ctx.prev,), (filters, out_h, out_w), f"conv {size}x{size}/{stride}{extra}", flops)


def share(opts: Options, ctx: Ctx, module: Convolutional) -> int | None:
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


def local(opts: Options, ctx: Ctx) -> Built:
    """``[local]`` (parse_local + make_local_layer): output ``(h - (pad ? 1 : size))//stride + 1``.

    darknet prints no BFLOPs for it (make_local_layer sets none), so it adds 0 to darknet's total.
    """
    c, h, w = ctx.shape(ctx.prev)
    filters, size, stride = positive(opts, "filters", 1), positive(opts, "size", 1), positive(opts, "stride", 1)
    pad = opts.int("pad", 0)
    if pad and 2 * pad != size - 1:  # im2col pads by `pad` itself: only pad = (size-1)/2 matches the output size
        raise opts.error(f"pad={pad} with size={size}: darknet's output size and its im2col disagree", "pad")
    out_h, out_w = (h - (1 if pad else size)) // stride + 1, (w - (1 if pad else size)) // stride + 1
    if min(out_h, out_w) < 1:
        raise opts.error(f"a {size}x{size} window does not fit a {h}x{w} input", "size")
    module = Local(c, filters, size, stride, pad, (out_h, out_w), activation_name(opts, "logistic"))
    module.fixes_input = True
    return Built(module, (ctx.prev,), (filters, out_h, out_w), f"local {size}x{size}/{stride}")


def connected(opts: Options, ctx: Ctx) -> Built:
    """``[connected]``: darknet sets no BFLOPs for it (make_connected_layer), so it adds 0 to its total."""
    c, h, w = ctx.shape(ctx.prev)
    outputs = positive(opts, "output", 1)
    bn = bool(opts.int("batch_normalize", 0))
    module = Connected(c * h * w, outputs, bn, activation_name(opts, "logistic"))
    module.fixes_input = True
    return Built(module, (ctx.prev,), (outputs, 1, 1), f"connected {c * h * w}->{outputs}")


def crnn(opts: Options, ctx: Ctx) -> Built:
    """``[crnn]``: three darknet convs (input, self, output); darknet's BFLOPs are their sum (make_crnn_layer)."""
    c, h, w = ctx.shape(ctx.prev)
    size, stride, dilation = positive(opts, "size", 3), positive(opts, "stride", 1), positive(opts, "dilation", 1)
    padding = size // 2 if opts.int("pad", 0) else opts.int("padding", 0)
    hidden, output, groups = positive(opts, "hidden", 1), positive(opts, "output", 1), positive(opts, "groups", 1)
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


def sequence_layer(module: nn.Module, ctx: Ctx, outputs: int, label: str) -> Built:
    """A recurrent layer on the flattened previous output: (outputs, 1, 1), fixed input size, no BFLOPs."""
    module.fixes_input = True
    return Built(module, (ctx.prev,), (outputs, 1, 1), label)


def rnn(opts: Options, ctx: Ctx) -> Built:
    """``[rnn]`` (parse_rnn): three connected cells; darknet prints no BFLOPs for connected layers."""
    inputs = math.prod(ctx.shape(ctx.prev))
    output, hidden = positive(opts, "output", 1), positive(opts, "hidden", 1)
    act, bn = activation_name(opts, "logistic"), bool(opts.int("batch_normalize", 0))
    opts.int("logistic", 0)
    module = Rnn(inputs, hidden, output, act, bn, bool(opts.int("shortcut", 0)))
    return sequence_layer(module, ctx, output, f"rnn {inputs}->{hidden}->{output}")


def gru(opts: Options, ctx: Ctx) -> Built:
    """``[gru]`` (parse_gru): six connected cells."""
    inputs, output = math.prod(ctx.shape(ctx.prev)), positive(opts, "output", 1)
    return sequence_layer(Gru(inputs, output, bool(opts.int("batch_normalize", 0))), ctx, output, f"gru {inputs}->{output}")


def lstm(opts: Options, ctx: Ctx) -> Built:
    """``[lstm]`` (parse_lstm): eight connected cells."""
    inputs, output = math.prod(ctx.shape(ctx.prev)), positive(opts, "output", 1)
    return sequence_layer(Lstm(inputs, output, bool(opts.int("batch_normalize", 0))), ctx, output, f"lstm {inputs}->{output}")
