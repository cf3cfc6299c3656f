"""Building a DarknetNet from cfg sections: the section registry, the model, darknet's total FLOPs."""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

import torch
from torch import nn

from . import heads, plumbing, weighted
from .context import Built, Ctx
from .layers import Cost, Head, Shortcut
from .reader import (
    DETECTION_IGNORED, NET_IGNORED, REGION_IGNORED, YOLO_IGNORED, CfgError, Options, Section, Shape, load,
)


# ------------------------------------------------------------------------------------- sections
_BUILDERS: dict[str, tuple[Callable[[Options, Ctx], Built], frozenset[str]]] = {
    "convolutional": (weighted.conv, frozenset({"flipped", "dot", "angle", "grad_centr", "reverse",
                                        "assisted_excitation", "bin_output"})),
    "maxpool": (plumbing.maxpool, frozenset({"maxpool_zero_nonmax"})),
    "local_avgpool": (plumbing.local_avgpool, frozenset()),
    "avgpool": (plumbing.avgpool, frozenset()),
    "route": (plumbing.route, frozenset()),
    "shortcut": (plumbing.shortcut, frozenset()),
    "upsample": (plumbing.upsample, frozenset()),
    "scale_channels": (plumbing.scale_channels, frozenset()),
    "sam": (plumbing.sam, frozenset()),
    "dropout": (plumbing.dropout, frozenset({"dropblock", "dropblock_size_rel", "dropblock_size_abs"})),
    "connected": (weighted.connected, frozenset()),
    "softmax": (plumbing.softmax, frozenset()),
    "cost": (plumbing.cost, frozenset()),
    "yolo": (heads.yolo, YOLO_IGNORED),
    "gaussian_yolo": (heads.gaussian_yolo, YOLO_IGNORED),
    "region": (heads.region, REGION_IGNORED),
    "detection": (heads.detection, DETECTION_IGNORED),
    "contrastive": (heads.contrastive, frozenset({"temperature", "cls_normalizer", "max_delta", "contrastive_neg_max"})),
    "reorg": (plumbing.reorg, frozenset()),
    "reorg3d": (plumbing.reorg3d, frozenset()),
    "local": (weighted.local, frozenset()),
    "crnn": (weighted.crnn, frozenset()),
    "crop": (plumbing.crop, frozenset()),
    "batchnorm": (plumbing.batchnorm, frozenset()),
    "activation": (plumbing.activation, frozenset()),
    "normalization": (plumbing.normalization, frozenset()),
    "empty": (plumbing.empty, frozenset()),
    "implicit": (plumbing.implicit, frozenset()),
    "rnn": (weighted.rnn, frozenset()),
    "gru": (weighted.gru, frozenset()),
    "lstm": (weighted.lstm, frozenset()),
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


def _build_layer(section: Section, file: str, ctx: Ctx) -> nn.Module:
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
    ctx = Ctx(0, [], _net_input(sections, file, input_size), [])
    layers = ctx.modules
    for ctx.index, section in enumerate(sections[1:]):
        layers.append(_build_layer(section, file, ctx))
        ctx.shapes.append(layers[-1].out_shape)
    if not layers:
        raise CfgError(f"{file}:{sections[0].line}: the cfg has no layers after [net]")
    yolos = [i for i, layer in enumerate(layers) if isinstance(layer, Head)]
    last = max(i for i, layer in enumerate(layers) if not isinstance(layer, Cost) or i == 0)
    return DarknetNet(file, ctx.input_shape, layers, yolos or [last])
