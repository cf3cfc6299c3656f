"""Darknet's layer semantics in plain PyTorch: conv+BN+activation, shortcut, route, max-pool."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def make_activation(name: str) -> nn.Module:
    """The module for a darknet activation name (linear, leaky, relu, relu6, mish, swish, logistic)."""
    table: dict[str, nn.Module] = {
        "linear": nn.Identity(),
        "leaky": nn.LeakyReLU(0.1, inplace=True),  # darknet's leaky slope is 0.1
        "relu": nn.ReLU(inplace=True),
        "relu6": nn.ReLU6(inplace=True),
        "mish": nn.Mish(inplace=True),
        "swish": nn.SiLU(inplace=True),
        "logistic": nn.Sigmoid(),
    }
    if name not in table:
        raise ValueError(f"unknown activation {name!r}; known: {', '.join(table)}")
    return table[name]


class ConvBNAct(nn.Module):
    """A darknet ``[convolutional]`` layer: conv, optional BN, activation.

    With ``batch_normalize=1`` darknet's conv has no bias (BN carries it); without BN it has one.
    Padding is ``size // 2`` as darknet's ``pad=1`` gives.
    """

    def __init__(
        self,
        c_in: int,
        c_out: int,
        k: int = 1,
        stride: int = 1,
        groups: int = 1,
        act: str = "leaky",
        bn: bool = True,
        dilation: int = 1,
    ) -> None:
        super().__init__()
        pad = dilation * (k - 1) // 2
        self.conv = nn.Conv2d(c_in, c_out, k, stride, pad, dilation, groups, bias=not bn)
        self.bn = nn.BatchNorm2d(c_out) if bn else nn.Identity()
        self.act = make_activation(act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """conv -> BN -> activation."""
        return self.act(self.bn(self.conv(x)))


class Shortcut(nn.Module):
    """A darknet ``[shortcut]``: add ``x`` (the earlier layer) into ``y`` (the latest one).

    The result has ``y``'s shape. When channels differ only the overlapping ``min(c_x, c_y)``
    channels are added; when ``x`` is spatially larger it is sampled with stride ``w_x // w_y``
    (darknet's ``shortcut_cpu``). This is how darknet's ResNet-50 avoids projection convs.
    """

    def __init__(self, act: str = "linear") -> None:
        super().__init__()
        self.act = make_activation(act)

    def forward(self, y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """``y`` plus the overlapping part of ``x``, then the activation."""
        stride = x.shape[-1] // y.shape[-1]
        if stride > 1:
            x = x[:, :, ::stride, ::stride]
        if x.shape[-2:] != y.shape[-2:]:
            raise ValueError(f"shortcut cannot sample {tuple(x.shape)} onto {tuple(y.shape)}")
        c = min(x.shape[1], y.shape[1])
        if c == y.shape[1] == x.shape[1]:
            out = y + x
        elif c == y.shape[1]:
            out = y + x[:, :c]
        else:
            out = torch.cat([y[:, :c] + x[:, :c], y[:, c:]], dim=1)
        return self.act(out)


class MaxPool(nn.Module):
    """A darknet ``[maxpool]``: default padding ``size - 1``, split ``pad // 2`` before, rest after.

    Output side is ``(w + padding - size) // stride + 1``. An even padding is PyTorch's symmetric
    padding; an odd one at stride 2 (the usual 2x2/2) is ``ceil_mode``, which gives the same windows
    without materialising a padded tensor (darknet's layer reads the unpadded input, and CIO counts
    it); any other odd one (e.g. size 2, stride 1) pads right/bottom with -inf first.
    """

    def __init__(self, size: int = 2, stride: int = 2, padding: int | None = None) -> None:
        super().__init__()
        pad = size - 1 if padding is None else padding
        self.before, self.after = pad // 2, pad - pad // 2
        symmetric = self.before == self.after
        # floor((w + 2b + 1 - k) / 2) == ceil((w + 2b - k) / 2): ceil_mode is darknet's extra pad
        ceil = not symmetric and stride == 2
        self.pool = nn.MaxPool2d(size, stride, padding=self.before if symmetric or ceil else 0, ceil_mode=ceil)
        self.explicit_pad = not (symmetric or ceil)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Max-pool with darknet's padding."""
        if self.explicit_pad:
            x = F.pad(x, (self.before, self.after, self.before, self.after), value=float("-inf"))
        return self.pool(x)
