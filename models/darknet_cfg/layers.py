"""darknet's layers as modules: each runs its own ops, so it is one row of a cost report."""
from __future__ import annotations

from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .reader import Options

BN_EPS = 1e-6  # darknet's normalize_cpu adds .000001 to the variance


# ---------------------------------------------------------------------------------- activations
ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
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


def activation_name(opts: Options, default: str) -> str:
    """The layer's activation name, checked against the ones this reader runs."""
    name = opts.str("activation", default)
    if name not in ACTIVATIONS:
        raise opts.error(f"unknown activation (known: {', '.join(ACTIVATIONS)})", "activation")
    return name


# -------------------------------------------------------------------------------------- layers
class Convolutional(nn.Conv2d):
    """darknet ``[convolutional]``: conv, then BN (``scales``, ``bias``, rolling stats) or a bias, then activation.

    ``bias`` is darknet's ``biases``: BN's shift with ``batch_normalize=1``, the conv bias without.
    """

    def __init__(self, c_in: int, filters: int, size: int, stride: tuple[int, int], padding: int,
                 dilation: int, groups: int, batch_normalize: bool, activation: str, binary: bool = False) -> None:
        super().__init__(c_in, filters, size, stride, padding * dilation, dilation, groups, bias=True)
        self.batch_normalize, self.activation, self.binary = batch_normalize, activation, binary
        if batch_normalize:
            self.scales = nn.Parameter(torch.ones(filters))
            self.register_buffer("rolling_mean", torch.zeros(filters))
            self.register_buffer("rolling_variance", torch.ones(filters))

    def share(self, other: Convolutional) -> None:
        """Use ``other``'s weights, bias, scales and rolling statistics (darknet's ``share_index``)."""
        self.weight, self.bias = other.weight, other.bias
        if self.batch_normalize:
            self.scales = other.scales
            self.rolling_mean, self.rolling_variance = other.rolling_mean, other.rolling_variance

    def kernel(self) -> torch.Tensor:
        """The weights the conv runs: with ``binary=1`` darknet's binarize_weights, sign(w) times
        each filter's mean |w|."""
        if not self.binary:
            return self.weight
        scale = self.weight.abs().mean(dim=(1, 2, 3), keepdim=True)
        return torch.where(self.weight > 0, scale, -scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """conv -> (BN | bias) -> activation, all in this module (one report row)."""
        return self.finish(self.convolve(x))

    def convolve(self, x: torch.Tensor) -> torch.Tensor:
        """The convolution alone (with the bias when there is no BN)."""
        bias = None if self.batch_normalize else self.bias
        return F.conv2d(x, self.kernel(), bias, self.stride, self.padding, self.dilation, self.groups)

    def finish(self, y: torch.Tensor) -> torch.Tensor:
        """BN with the rolling statistics (when ``batch_normalize``), then the activation."""
        if self.batch_normalize:
            y = F.batch_norm(y, self.rolling_mean, self.rolling_variance, self.scales, self.bias,
                             False, 0.0, BN_EPS)
        return ACTIVATIONS[self.activation](y)


class XnorConvolutional(Convolutional):
    """darknet ``[convolutional] xnor=1``: binarized weights (as ``binary=1``) on a binarized input.

    darknet's forward_convolutional_layer turns the input into sign(x) (binarize_cpu: +1 where x > 0,
    else -1) and the weights into sign(w) * mean|w|, then convolves. The module runs exactly that as
    float ops; darknet prices the conv at 1/32 of its FLOPs (make_convolutional_layer:
    ``if (l.xnor) l.bflops = l.bflops / 32``, 32 binary products per XNOR-popcount word), and the
    darknet convention does the same for this class (cspcost.walk.conventions).
    """

    def convolve(self, x: torch.Tensor) -> torch.Tensor:
        """The conv of sign(x) with the binarized weights."""
        return super().convolve(torch.where(x > 0, 1.0, -1.0).to(x.dtype))


class Local(nn.Module):
    """darknet ``[local]``: a locally connected layer, a conv with its own weights at every output pixel.

    ``weight`` is (locations, filters, C*size*size) and ``bias`` one value per output element, as
    make_local_layer allocates them; forward is im2col (``unfold``) and one product per location.
    ``conv_weights`` names the weight for the darknet parameter count (it is the layer's kernel).
    """

    conv_weights = ("weight",)

    def __init__(self, c_in: int, filters: int, size: int, stride: int, padding: int, out_hw: tuple[int, int],
                 activation: str) -> None:
        super().__init__()
        locations = out_hw[0] * out_hw[1]
        self.size, self.stride, self.padding, self.out_hw, self.activation = size, stride, padding, out_hw, activation
        self.weight = nn.Parameter(torch.empty(locations, filters, c_in * size * size))
        self.bias = nn.Parameter(torch.zeros(filters, *out_hw))
        nn.init.uniform_(self.weight, -(2.0 / (c_in * size * size)) ** 0.5, (2.0 / (c_in * size * size)) ** 0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Patches (N, C*k*k, L), each location's (filters x C*k*k) product, bias, activation."""
        patches = F.unfold(x, self.size, padding=self.padding, stride=self.stride)
        y = torch.einsum("nkl,lfk->nfl", patches, self.weight)
        y = y.reshape(x.shape[0], -1, *self.out_hw) + self.bias
        return ACTIVATIONS[self.activation](y)


class Crop(nn.Module):
    """darknet ``[crop]`` at inference: the centre ``crop_height x crop_width`` window, then
    ``x*2 - 1`` (forward_crop_layer's scale and shift; ``noadjust=1`` keeps x)."""

    def __init__(self, out_hw: tuple[int, int], adjust: bool) -> None:
        super().__init__()
        self.out_hw, self.adjust = out_hw, adjust

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The centred window (darknet's dh = (h - out_h)/2, dw = (w - out_w)/2), rescaled."""
        (h, w), (oh, ow) = x.shape[-2:], self.out_hw
        dh, dw = (h - oh) // 2, (w - ow) // 2
        y = x[:, :, dh:dh + oh, dw:dw + ow]
        return y * 2 - 1 if self.adjust else y


class Batchnorm(nn.Module):
    """darknet ``[batchnorm]``: normalisation with the rolling statistics, then ``scales`` and ``biases``."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.scales = nn.Parameter(torch.ones(channels))
        self.biases = nn.Parameter(torch.zeros(channels))
        self.register_buffer("rolling_mean", torch.zeros(channels))
        self.register_buffer("rolling_variance", torch.ones(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Inference batch norm (darknet's normalize_cpu, scale_bias, add_bias)."""
        return F.batch_norm(x, self.rolling_mean, self.rolling_variance, self.scales, self.biases,
                            False, 0.0, BN_EPS)


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
                             False, 0.0, BN_EPS)
        return ACTIVATIONS[self.activation](y)


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
        if tuple(self.stride) == (2, 2) and before <= self.size // 2:
            # floor((w + 2b + 1 - k) / 2) == ceil((w + 2b - k) / 2): ceil_mode is darknet's extra
            # right/bottom pad, and the pool reads the unpadded tensor (as CIO should count it)
            return F.max_pool2d(x, self.size, self.stride, before, ceil_mode=True)
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
        return ACTIVATIONS[self.activation](y)


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
        return ACTIVATIONS[self.activation](x * scale)


class Sam(ScaleChannels):
    """darknet ``[sam]``: element-wise product of the previous output and ``from`` (same shape).

    The same multiply-then-activate as ``[scale_channels]``, without the broadcast; its own class
    so a report names the darknet kind.
    """


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


class Reorg3d(nn.Module):
    """darknet ``[reorg3d]`` (reorg_layer.c): space-to-depth in darknet's element order.

    forward_reorg_layer calls reorg_cpu on the *output* sizes. Without ``reverse``, output channel
    ``k = (dy*s + dx)*C + c`` holds input pixel (y*s + dy, x*s + dx) of channel c. With ``reverse=1``
    darknet reads the (C, H, W) input as (C/s^2, H*s, W*s) blocks of C/s^4 channels and writes the
    (C/s^2, H*s, W*s) output; the module makes the same permutation.
    """

    def __init__(self, stride: int, reverse: bool) -> None:
        super().__init__()
        self.stride, self.reverse = stride, reverse

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The same permutation of elements darknet's forward_reorg_layer makes."""
        n, c, h, w = x.shape
        s = self.stride
        if self.reverse:  # A (C/s^2, H*s, W*s) -> B (C/s^4, H*s^2, W*s^2), as the output buffer
            a = x.reshape(n, s, s, c // s**4, h * s, w * s).permute(0, 3, 4, 1, 5, 2)
            return a.reshape(n, c // (s * s), h * s, w * s)
        y = x.reshape(n, c, h // s, s, w // s, s).permute(0, 3, 5, 1, 2, 4)
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


class Head(PassThrough):
    """A detection head marker (``[yolo]``, ``[region]``, ``[detection]``): free at inference; its
    input is one of the network's outputs."""


class Yolo(Head):
    """darknet ``[yolo]``: a detection marker, free at inference; its input is a network output."""


class Region(Head):
    """darknet ``[region]`` (YOLOv2): a detection marker; its input is a network output."""


class Detection(Head):
    """darknet ``[detection]`` (YOLOv1): a detection marker after the last connected layer."""


class Contrastive(PassThrough):
    """darknet ``[contrastive]``: a training loss over a ``[yolo]`` layer's embeddings; identity at inference."""


class Activation(nn.Module):
    """darknet ``[activation]``: the activation alone, on any input."""

    def __init__(self, activation: str) -> None:
        super().__init__()
        self.activation = activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The named activation, element-wise."""
        return ACTIVATIONS[self.activation](x)


class Normalization(nn.Module):
    """darknet ``[normalization]``/``[lrn]``: x / (kappa + alpha * sum of x^2 over ``size`` channels)^beta.

    darknet does not divide alpha by the window (normalization_layer.c); PyTorch's
    ``local_response_norm`` does, so the module passes ``alpha * size``.
    """

    def __init__(self, size: int, alpha: float, beta: float, kappa: float) -> None:
        super().__init__()
        self.size, self.alpha, self.beta, self.kappa = size, alpha, beta, kappa

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Local response normalisation across channels."""
        return F.local_response_norm(x, self.size, self.alpha * self.size, self.beta, self.kappa)


class Empty(PassThrough):
    """darknet ``[empty]``/``[silence]``: its output is its input."""


class Implicit(nn.Module):
    """darknet ``[implicit]`` (YOLOR): a learned (filters, 1, 1) tensor that ignores its input."""

    def __init__(self, filters: int, mean: float) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.full((1, filters, 1, 1), mean))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The learned tensor, one per batch item."""
        return self.weight.expand(x.shape[0], -1, -1, -1)
