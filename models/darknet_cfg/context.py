"""What every section builder shares: its result record, the build context, option helpers."""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from torch import nn

from .reader import Options, Shape


class Built(NamedTuple):
    """What a section builder returns."""

    module: nn.Module
    sources: tuple[int, ...]  # absolute layer indexes fed to forward, -1 = the network input
    shape: Shape
    label: str  # after the layer number, e.g. "conv 3x3/2"
    flops: int = 0  # what darknet adds to its Total BFLOPS, in FLOPs


@dataclass
class Ctx:
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


def ref(opts: Options, key: str, value: int, ctx: Ctx) -> int:
    """An absolute layer index from a (possibly negative) reference; CfgError if it does not exist."""
    index = ctx.index + value if value < 0 else value
    if not 0 <= index < ctx.index:
        raise opts.error(f"no such layer (only {ctx.index} before it)", key)
    return index


def one_ref(opts: Options, ctx: Ctx) -> int:
    """The single layer a ``[sam]`` / ``[scale_channels]`` takes ``from``."""
    values = opts.ints("from")
    if len(values) != 1:
        raise opts.error("takes exactly one layer", "from")
    return ref(opts, "from", values[0], ctx)


def strides(opts: Options, default: int) -> tuple[int, int]:
    """(stride_y, stride_x), darknet's ``stride`` unless overridden per axis."""
    stride = opts.int("stride", default)
    pair = opts.int("stride_y", stride), opts.int("stride_x", stride)
    if min(pair) < 1:
        raise opts.error("stride must be at least 1", "stride")
    return pair


def positive(opts: Options, key: str, default: int | None = None) -> int:
    """An integer option that must be at least 1."""
    value = opts.int(key, default)
    if value < 1:
        raise opts.error("must be at least 1", key)
    return value
