"""Plain records shared by every stage: tensor metadata, captured op events, op costs."""
from __future__ import annotations

from dataclasses import dataclass
from math import prod
from typing import Any, TypedDict

# The headline costs that structure sums by role and comparison by stage.
METRICS = ("flops", "params", "cio_elems")


@dataclass(frozen=True, slots=True)
class TensorMeta:
    """What a cost rule may know of a tensor: its shape, dtype and layout, never its values."""

    shape: tuple[int, ...]
    dtype: str  # e.g. "torch.float32"
    itemsize: int  # bytes per element
    contiguous: bool = True

    @property
    def numel(self) -> int:
        """Number of elements."""
        return prod(self.shape)

    @property
    def nbytes(self) -> int:
        """Size in bytes at the tensor's dtype."""
        return self.numel * self.itemsize


@dataclass(frozen=True, slots=True)
class PackedWeight(TensorMeta):
    """A quantized op's packed weight (torch.ao): the weight's shape and integer dtype, plus the
    bytes of the bias packed with it, so that a rule reads it as the weight tensor it stands for."""

    bias_bytes: int = 0

    @property
    def nbytes(self) -> int:
        """The weight at its integer dtype and the bias packed with it."""
        return self.numel * self.itemsize + self.bias_bytes


@dataclass(frozen=True, slots=True)
class OpEvent:
    """One aten op as executed: its name, the innermost module running it, its arguments.

    ``args`` and ``kwargs`` keep the op's schema order, with every tensor replaced by a
    ``TensorMeta`` (lists of tensors become lists of ``TensorMeta``).
    """

    op: str  # e.g. "aten.conv2d"
    module: str  # dotted path as named_modules() gives it; "" for the root module
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    outputs: tuple[TensorMeta, ...]

    def tensors(self) -> list[TensorMeta]:
        """Every tensor argument, flattened, in order."""
        found: list[TensorMeta] = []
        _collect(self.args, found)
        _collect(tuple(self.kwargs.values()), found)
        return found


def _collect(items: tuple[Any, ...] | list[Any], found: list[TensorMeta]) -> None:
    """Append every TensorMeta in a (nested) sequence to ``found``."""
    for item in items:
        if isinstance(item, TensorMeta):
            found.append(item)
        elif isinstance(item, (list, tuple)):
            _collect(item, found)


# The kinds of work an op can do. Conventions select kinds (darknet prices only conv, linear and
# local pools; CIO counts conv and linear, plus pools under the CSPNet convention).
KINDS = (
    "conv", "linear", "matmul", "bn", "norm", "act", "eltwise", "reduce",
    "maxpool", "avgpool", "globalpool", "resize", "move", "view", "create",
)


@dataclass(frozen=True, slots=True)
class OpCost:
    """The cost of one op, in raw integers (formatting happens only at display time)."""

    kind: str  # one of KINDS
    macs: int = 0  # multiply-accumulates (conv, linear, matmul only)
    flops: int = 0  # floating-point operations: 2 x macs for MAC ops, a documented count otherwise
    io_elems: int = 0  # activation input + output elements (the CIO term of conv/linear/pool ops)
    out_elems: int = 0  # elements written
    bytes_read: int = 0  # inputs and weights, at their dtypes
    bytes_written: int = 0  # outputs, at their dtypes


class Totals(TypedDict):
    """A model's totals (``AnalysisResult.totals``, JSON ``totals``): sums over its layer rows, plus
    the activation memory peak. Every value a raw integer."""

    macs: int
    flops: int
    params: int
    conv_weight_params: int  # conv and linear weights only (darknet's params)
    cio_elems: int
    out_elems: int
    bytes_read: int
    bytes_written: int
    peak_activation_bytes: int  # the most activation memory alive at once, in execution order


class LayerRow(TypedDict):
    """One layer (a module's own ops and params) before the DataFrame adds intensity and shares."""

    name: str  # dotted module path, or "(root)" for the model's own forward
    type: str  # class name
    label: str  # its own label (darknet: "12 conv 3x3/2"), else ""
    calls: int  # times the module ran at this call site
    ops: int
    macs: int
    flops: int
    params: int
    conv_weight_params: int
    cio_elems: int
    cio_in_elems: int
    cio_out_elems: int
    out_elems: int
    bytes_read: int
    bytes_written: int
    out_shape: tuple[int, ...]  # of its last non-view op
