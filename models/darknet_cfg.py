"""Build a PyTorch module from a darknet ``.cfg`` file, with darknet's own layer semantics.

``build("csresnext50.cfg")`` returns a :class:`DarknetNet` whose ``layers.<i>`` is darknet's layer
``i`` (its class names the darknet kind: ``Convolutional``, ``Maxpool``, ``Route``, ...), so a cost
report lines up with the table darknet prints when it loads the cfg. Each layer module runs its
own ops (no child modules), so it is exactly one row of a per-layer report, and carries
``label`` (``"12 conv 3x3/2"``), ``out_shape`` (C, H, W) and ``darknet_flops`` (what darknet adds
to its "Total BFLOPS", as an integer number of FLOPs).

Semantics follow darknet's sources (AlexeyAB/darknet ``src/parser.c`` and the layer files):
- ``[convolutional]``: ``pad=1`` means padding ``size//2``; output ``(h + 2*pad - size)//stride + 1``;
  a dilated conv pads ``pad*dilation``; BN keeps darknet's ``biases``/``scales``/rolling stats.
- ``[maxpool]``: padding defaults to ``size-1``, ``pad//2`` before and the rest after (so an odd
  padding is asymmetric); ``maxpool_depth=1`` is Maxout: the channel-wise max over channels
  ``g, g+out_channels, ...``. ``[local_avgpool]`` is the same window, averaging only real pixels.
- ``[route]``: concatenation of whole layers, or of channel group ``group_id`` of ``groups``.
- ``[shortcut]``: the previous layer's output plus the overlapping channels of ``from``; a larger
  ``from`` map is sampled with stride ``w_from // w``, a smaller one adds to every
  ``w // w_from``-th pixel (darknet's ``shortcut_cpu``, the version the CSPNet models were
  trained with). The output has the previous layer's shape.
- ``[yolo]``, ``[dropout]`` and ``[cost]`` pass their input through (inference).

The network returns the last layer's output, or, when the cfg has ``[yolo]`` layers, the tuple of
their outputs (each yolo layer's input, in cfg order). Any unknown section or option, and any
cfg darknet could not build, raises :class:`CfgError` naming ``file:line``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, NamedTuple, Sequence

import torch
import torch.nn.functional as F
from torch import nn

Shape = tuple[int, int, int]  # (C, H, W) as darknet's out_c, out_h, out_w
_BN_EPS = 1e-6  # darknet's normalize_cpu adds .000001 to the variance


class CfgError(ValueError):
    """A cfg darknet would reject (or that this reader cannot build); the message names file:line."""


# ------------------------------------------------------------------------------------- reading
@dataclass
class Section:
    """One ``[kind]`` block: its header line and its ``key -> (value, line)`` options."""

    kind: str
    line: int
    options: dict[str, tuple[str, int]] = field(default_factory=dict)


def read_sections(text: str, file: str = "<cfg>") -> list[Section]:
    """Split cfg text into sections, as darknet's ``read_cfg`` does (all whitespace removed)."""
    sections: list[Section] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = re.sub(r"\s+", "", raw)  # darknet's strip() drops every blank, even inside a line
        if not line or line[0] in "#;":
            continue
        if line[0] == "[":
            if not line.endswith("]"):
                raise CfgError(f"{file}:{number}: malformed section header {raw.strip()!r}")
            sections.append(Section(line[1:-1].lower(), number))
            continue
        key, sep, value = line.partition("=")
        if not sep or not key:
            raise CfgError(f"{file}:{number}: expected key=value, got {raw.strip()!r}")
        if not sections:
            raise CfgError(f"{file}:{number}: option {key!r} before any [section]")
        sections[-1].options[key] = (value.split("#", 1)[0], number)  # an inline '#' starts a comment
    return sections


def load(path_or_text: str | Path) -> tuple[str, list[Section]]:
    """The display name and sections of a cfg given as a path or as the text itself."""
    if isinstance(path_or_text, Path) or "\n" not in path_or_text and "[" not in path_or_text:
        path = Path(path_or_text)
        if not path.is_file():
            raise CfgError(f"{path}: no such cfg file")
        return path.name, read_sections(path.read_text(), path.name)
    return "<cfg>", read_sections(path_or_text)


class Options:
    """Typed access to one section's options; remembers which keys were read."""

    def __init__(self, section: Section, file: str) -> None:
        self.section, self.file, self.used = section, file, set[str]()

    def error(self, problem: str, key: str | None = None) -> CfgError:
        """A CfgError at the option's line (or the section header), naming the section."""
        line = self.section.options[key][1] if key in self.section.options else self.section.line
        where = f"[{self.section.kind}] {key}={self.section.options[key][0]}: " if key in self.section.options else f"[{self.section.kind}]: "
        return CfgError(f"{self.file}:{line}: {where}{problem}")

    def raw(self, key: str) -> str | None:
        """The option's text, or None when absent."""
        self.used.add(key)
        entry = self.section.options.get(key)
        return None if entry is None else entry[0]

    def int(self, key: str, default: int | None = None) -> int:
        """An integer option (strict: darknet's atoi would silently read garbage as 0)."""
        value = self.raw(key)
        if value is None:
            if default is None:
                raise self.error(f"missing required option {key}=")
            return default
        if not re.fullmatch(r"[+-]?\d+", value):
            raise self.error("not an integer", key)
        return int(value)

    def float(self, key: str, default: float) -> float:
        """A float option."""
        value = self.raw(key)
        try:
            return default if value is None else float(value)
        except ValueError:
            raise self.error("not a number", key) from None

    def str(self, key: str, default: str) -> str:
        """A string option."""
        value = self.raw(key)
        return default if value is None else value

    def ints(self, key: str) -> list[int]:
        """A required comma-separated list of integers."""
        value = self.raw(key)
        if not value:
            raise self.error(f"missing required option {key}=")
        items = value.strip(",").split(",")
        if not all(re.fullmatch(r"[+-]?\d+", item) for item in items):
            raise self.error("not a list of integers", key)
        return [int(item) for item in items]

    def neutral(self, **defaults: int) -> None:
        """Options this reader accepts only at their default (they change what darknet computes)."""
        for key, default in defaults.items():
            if self.raw(key) is not None and self.int(key) != default:
                raise self.error("is not supported by this reader", key)

    def finish(self, ignored: frozenset[str]) -> None:
        """Raise on the first option that is neither read nor a known training-only option."""
        for key, (_, _line) in sorted(self.section.options.items(), key=lambda kv: kv[1][1]):
            if key not in self.used and key not in ignored and key not in _COMMON_IGNORED:
                raise self.error(f"unknown option {key!r}", key)


# Options darknet reads for every layer that only matter for training (parser.c, end of the loop).
_COMMON_IGNORED = frozenset({
    "clip", "onlyforward", "dont_update", "burnin_update", "stopbackward", "train_only_bn",
    "dontload", "dontloadscales", "learning_rate", "stream", "wait_stream",
})
# [net] keys darknet (AlexeyAB and pjreddie parse_net_options) reads for training and augmentation.
_NET_IGNORED = frozenset("""
    batch subdivisions max_batches learning_rate learning_rate_min sgdr_cycle sgdr_mult momentum
    decay time_steps track augment_speed sequential_subdivisions try_fix_nan weights_reject_freq
    equidistant_point badlabels_rejection_percentage num_sigmas_reject_badlabels ema_alpha
    use_cuda_graph loss_scale dynamic_minibatch optimized_memory workspace_size_limit_MB adam B1
    B2 eps inputs max_crop min_crop max_ratio min_ratio center flip blur gaussian_noise mixup cutmix
    mosaic letter_box mosaic_bound contrastive contrastive_jit_flip contrastive_color unsupervised
    label_smooth_eps resize_step attention adversarial_lr max_chart_loss angle aspect saturation
    exposure hue power policy burn_in step scale steps scales seq_scales gamma random notruth clip
    show_receptive_field cudnn_half
""".split())
_YOLO_IGNORED = frozenset("""
    anchors jitter ignore_thresh truth_thresh random scale_x_y iou_thresh cls_normalizer
    iou_normalizer obj_normalizer delta_normalizer iou_loss iou_thresh_kind nms_kind beta_nms
    max_delta resize max label_smooth_eps counters_per_class objectness_smooth new_coords focal_loss
    show_details track_history_size sim_thresh dets_for_track dets_for_show track_ciou_norm
    embedding_layer map uc_normalizer
""".split())


# ---------------------------------------------------------------------------------- activations
_ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "linear": lambda x: x,
    "leaky": lambda x: F.leaky_relu(x, 0.1),  # darknet's leaky slope is 0.1
    "relu": F.relu,
    "relu6": F.relu6,
    "mish": F.mish,
    "swish": F.silu,
    "logistic": torch.sigmoid,
    "tanh": torch.tanh,
    "elu": F.elu,
    "selu": F.selu,
}


def _activation(opts: Options, default: str) -> str:
    """The layer's activation name, checked against the ones this reader runs."""
    name = opts.str("activation", default)
    if name not in _ACTIVATIONS:
        raise opts.error(f"unknown activation (known: {', '.join(_ACTIVATIONS)})", "activation")
    return name


# -------------------------------------------------------------------------------------- layers
class Convolutional(nn.Conv2d):
    """darknet ``[convolutional]``: conv, then BN (``scales``, ``bias``, rolling stats) or a bias, then activation.

    ``bias`` is darknet's ``biases``: BN's shift with ``batch_normalize=1``, the conv bias without.
    """

    def __init__(self, c_in: int, filters: int, size: int, stride: tuple[int, int], padding: int,
                 dilation: int, groups: int, batch_normalize: bool, activation: str) -> None:
        super().__init__(c_in, filters, size, stride, padding * dilation, dilation, groups, bias=True)
        self.batch_normalize, self.activation = batch_normalize, activation
        if batch_normalize:
            self.scales = nn.Parameter(torch.ones(filters))
            self.register_buffer("rolling_mean", torch.zeros(filters))
            self.register_buffer("rolling_variance", torch.ones(filters))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """conv -> (BN | bias) -> activation, all in this module (one report row)."""
        bias = None if self.batch_normalize else self.bias
        y = F.conv2d(x, self.weight, bias, self.stride, self.padding, self.dilation, self.groups)
        if self.batch_normalize:
            y = F.batch_norm(y, self.rolling_mean, self.rolling_variance, self.scales, self.bias,
                             False, 0.0, _BN_EPS)
        return _ACTIVATIONS[self.activation](y)


class Connected(nn.Linear):
    """darknet ``[connected]``: a fully connected layer on the flattened (C, H, W) input; output (N, C, 1, 1).

    The weight is ``nn.Linear``'s (so it counts as darknet counts weights); the product runs as a
    1x1 conv on the flattened input, so the layer's last op already has darknet's 4-d shape.
    """

    def __init__(self, inputs: int, outputs: int, batch_normalize: bool, activation: str) -> None:
        super().__init__(inputs, outputs, bias=True)
        self.batch_normalize, self.activation = batch_normalize, activation
        if batch_normalize:
            self.scales = nn.Parameter(torch.ones(outputs))
            self.register_buffer("rolling_mean", torch.zeros(outputs))
            self.register_buffer("rolling_variance", torch.ones(outputs))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(BN | bias) and activation after the product, run as a 1x1 conv as darknet's GPU path does."""
        n = x.shape[0]
        weight = self.weight[:, :, None, None]
        y = F.conv2d(x.reshape(n, -1, 1, 1), weight, None if self.batch_normalize else self.bias)
        if self.batch_normalize:
            y = F.batch_norm(y, self.rolling_mean, self.rolling_variance, self.scales, self.bias,
                             False, 0.0, _BN_EPS)
        return _ACTIVATIONS[self.activation](y)


class Maxpool(nn.Module):
    """darknet ``[maxpool]``: ``pad//2`` of -inf before, the rest after; output ``(w + pad - size)//stride + 1``."""

    def __init__(self, size: int, stride: tuple[int, int], pad: int) -> None:
        super().__init__()
        self.size, self.stride, self.pad = size, stride, pad

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Max over each window; symmetric padding runs inside the pool op (no copy)."""
        before = self.pad // 2
        if self.pad % 2 == 0 and before <= self.size // 2:
            return F.max_pool2d(x, self.size, self.stride, before)
        after = self.pad - before
        x = F.pad(x, (before, after, before, after), value=float("-inf"))
        return F.max_pool2d(x, self.size, self.stride)


class Maxout(nn.Module):
    """darknet ``[maxpool] maxpool_depth=1``: output channel g is the max of input channels g, g+out_c, ...

    Run as a (groups x 1) max-pool over a view, so it prices ``C*H*W`` comparisons as darknet does
    (darknet prints ``size^2*C*H*W``, the same for its default size 1).
    """

    def __init__(self, out_channels: int) -> None:
        super().__init__()
        self.out_channels = out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Channel-wise max in groups strided by ``out_channels``."""
        n, c, h, w = x.shape
        depth = c // self.out_channels
        # rows y*depth + j hold input channel j*out_c + g: a (depth x 1) window with stride depth
        stacked = x.reshape(n, depth, self.out_channels, h, w).permute(0, 2, 3, 1, 4)
        stacked = stacked.reshape(n, self.out_channels, h * depth, w)
        return F.max_pool2d(stacked, (depth, 1), (depth, 1))


class LocalAvgpool(nn.Module):
    """darknet ``[local_avgpool]``: a maxpool-shaped window that averages the pixels inside the image."""

    def __init__(self, size: int, stride: tuple[int, int], pad: int) -> None:
        super().__init__()
        self.size, self.stride, self.pad = size, stride, pad

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Average over real pixels only (darknet divides by the count of valid ones)."""
        before = self.pad // 2
        if self.pad % 2 == 0 and before <= self.size // 2:
            return F.avg_pool2d(x, self.size, self.stride, before, count_include_pad=False)
        after = self.pad - before
        summed = F.avg_pool2d(F.pad(x, (before, after, before, after)), self.size, self.stride)
        return summed * self._rescale(x.shape[-2:], summed.shape[-2:], x.device)

    def _rescale(self, size: Sequence[int], out: Sequence[int], device: torch.device) -> torch.Tensor:
        """size^2 / (valid pixels in each window), built from shapes alone."""
        counts = [[min(o * s - self.pad // 2 + self.size, n) - max(o * s - self.pad // 2, 0)
                   for o in range(m)] for n, m, s in zip(size, out, (self.stride[0], self.stride[1]))]
        table = [[self.size * self.size / (r * c) for c in counts[1]] for r in counts[0]]
        return torch.tensor(table, device=device)


class Avgpool(nn.Module):
    """darknet ``[avgpool]``: global average, output (C, 1, 1)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Mean over the spatial dims."""
        return F.adaptive_avg_pool2d(x, 1)


class Route(nn.Module):
    """darknet ``[route]``: concatenate layers along channels, or channel group ``group_id`` of ``groups`` of each."""

    def __init__(self, groups: int, group_id: int) -> None:
        super().__init__()
        self.groups, self.group_id = groups, group_id

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        """The (grouped) inputs, copied side by side as darknet copies them."""
        if self.groups > 1:
            xs = tuple(x.chunk(self.groups, dim=1)[self.group_id] for x in xs)
        return torch.cat(xs, dim=1)


class Shortcut(nn.Module):
    """darknet ``[shortcut]``: the previous output plus the overlapping part of each ``from`` output.

    ``from`` maps larger than the output are sampled with stride ``w_from // w``; smaller ones
    are added to every ``w // w_from``-th pixel; channels beyond the smaller count are left alone.
    """

    def __init__(self, activation: str) -> None:
        super().__init__()
        self.activation = activation

    def forward(self, y: torch.Tensor, *froms: torch.Tensor) -> torch.Tensor:
        """``y`` plus each ``from``, then the activation."""
        for x in froms:
            y = _add_overlap(y, x)
        return _ACTIVATIONS[self.activation](y)


def _add_overlap(y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """darknet's shortcut_cpu: add x into y where both exist, sampling the larger map."""
    (cy, hy, wy), (cx, hx, wx) = y.shape[1:], x.shape[1:]
    stride, sample = max(wx // wy, 1), max(wy // wx, 1)
    c, h, w = min(cx, cy), min(hx, hy), min(wx, wy)
    part = x[:, :c, : h * stride : stride, : w * stride : stride]
    if (c, h, w, sample) == (cy, hy, wy, 1):
        return y + part  # the common case: one add over the whole output
    if (h, w, sample) == (hy, wy, 1):  # fewer channels in x: add to the first c, keep the rest
        return torch.cat([y[:, :c] + part, y[:, c:]], dim=1)
    spread = torch.zeros_like(y)  # x placed on every sample-th pixel, then one full-size add
    spread[:, :c, : h * sample : sample, : w * sample : sample] = part
    return y + spread


class Upsample(nn.Module):
    """darknet ``[upsample]``: nearest-neighbour by ``stride`` (negative: sum-pool down by it), times ``scale``."""

    def __init__(self, stride: int, scale: float) -> None:
        super().__init__()
        self.stride, self.scale = stride, scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Repeat (or sum) each pixel stride x stride times."""
        if self.stride > 0:
            y = F.interpolate(x, scale_factor=self.stride, mode="nearest")
        else:
            s = -self.stride
            n, c, h, w = x.shape
            y = x[:, :, : h // s * s, : w // s * s].reshape(n, c, h // s, s, w // s, s).sum((3, 5))
        return y if self.scale == 1 else y * self.scale


class ScaleChannels(nn.Module):
    """darknet ``[scale_channels]``: ``from`` times the previous (C,1,1) output (or (1,H,W) with ``scale_wh``)."""

    def __init__(self, activation: str) -> None:
        super().__init__()
        self.activation = activation

    def forward(self, scale: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Broadcast multiply, then the activation."""
        return _ACTIVATIONS[self.activation](x * scale)


class Sam(nn.Module):
    """darknet ``[sam]``: element-wise product of the previous output and ``from`` (same shape)."""

    def __init__(self, activation: str) -> None:
        super().__init__()
        self.activation = activation

    def forward(self, attention: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Multiply, then the activation."""
        return _ACTIVATIONS[self.activation](x * attention)


class Reorg(nn.Module):
    """darknet ``[reorg]`` (reorg_old_layer.c): darknet's space-to-depth, element order included.

    darknet reads the (C, H, W) input buffer as (C/s^2, H*s, W*s) and writes the output as
    (C*s^2, H/s, W/s); ``reverse=1`` is the inverse permutation.
    """

    def __init__(self, stride: int, reverse: bool) -> None:
        super().__init__()
        self.stride, self.reverse = stride, reverse

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The same permutation of elements darknet's reorg_cpu makes."""
        n, c, h, w = x.shape
        s = self.stride
        if self.reverse:
            y = x.reshape(n, s, s, c // (s * s), h, w).permute(0, 3, 4, 1, 5, 2)
            return y.reshape(n, c // (s * s), h * s, w * s)
        y = x.reshape(n, c // (s * s), h, s, w, s).permute(0, 3, 5, 1, 2, 4)
        return y.reshape(n, c * s * s, h // s, w // s)


class Softmax(nn.Module):
    """darknet ``[softmax]``: softmax over each of ``groups`` slices of the flattened input (per pixel if ``spatial``)."""

    def __init__(self, groups: int, spatial: bool) -> None:
        super().__init__()
        self.groups, self.spatial = groups, spatial

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Probabilities, same shape as the input."""
        if self.spatial or self.groups == 1 and x.shape[2:] == (1, 1):
            return x.softmax(dim=1)  # per pixel, or a classifier's (N, C, 1, 1): no reshaping
        return x.reshape(x.shape[0], self.groups, -1).softmax(-1).view_as(x)


class PassThrough(nn.Module):
    """A layer that is the identity at inference: base of ``Dropout``, ``Cost`` and ``Yolo``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The input itself (no op, no cost)."""
        return x


class Dropout(PassThrough):
    """darknet ``[dropout]`` at inference: its output is its input."""


class Cost(PassThrough):
    """darknet ``[cost]`` at inference: the loss is not computed; the input passes through."""


class Yolo(PassThrough):
    """darknet ``[yolo]``: a detection marker, free at inference; its input is a network output."""


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
    act = _activation(opts, "logistic")
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
    act = _activation(opts, "linear")
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
    act = _activation(opts, "linear")
    return Built(ScaleChannels(act), (ctx.prev, source), target, f"scale_channels {source}")


def _sam(opts: Options, ctx: _Ctx) -> Built:
    """``[sam]``: the previous output and ``from`` must have the same shape."""
    source = _one_ref(opts, ctx)
    if ctx.shape(ctx.prev) != ctx.shape(source):
        raise opts.error(f"shapes differ: {ctx.shape(ctx.prev)} and {ctx.shape(source)}", "from")
    act = _activation(opts, "linear")
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
    module = Connected(c * h * w, outputs, bn, _activation(opts, "logistic"))
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
    "yolo": (_yolo, _YOLO_IGNORED),
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
    opts.finish(_NET_IGNORED)
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
