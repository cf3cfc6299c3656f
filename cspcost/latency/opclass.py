"""Op classes of the latency model and the work features each class is fitted on.

Every captured op (an ``OpEvent`` with its priced row from ``cspcost.walk.metrics.price_ops``) falls
in one class; a class's time is fitted as a non-negative sum of its features (see ``fit.py``):

    t = c_0 * 1  +  c_1 * feature_1  +  ...    (seconds; every c_j >= 0)

The constant is the fixed per-op overhead. The other features are amounts of work whose cost per
unit the calibration learns, so a class's attainable throughput depends on the shape, not on one
peak number: for a dense conv, ``flops / cin_per_group`` grows when few input channels feed each
output (short dot products, poor vector use), ``flops / w_out`` when rows are short. Memory-bound
classes pay more per byte once the working set leaves the caches: ``bytes * max(0, log2(ws / knot))``
with knots near the L2 and L3 sizes of common CPUs.

Adding a class is one entry in ``CLASSES`` and a branch in ``classify``.
"""
from __future__ import annotations

from dataclasses import dataclass
from math import log2, prod
from typing import Any, Callable

from cspcost.walk.records import OpEvent, TensorMeta

KNOTS_BYTES = (1 << 20, 16 << 20)  # cache knots of the memory terms: about L2 and L3 sizes
LANES = 16  # float32 lanes of an AVX-512 register; channel blocks of oneDNN's blocked layouts
L2_RAMP_BYTES = (256 << 10, 2 << 20)  # where a working set leaves L2, smallest to largest L2 of current CPUs


@dataclass(frozen=True)
class Work:
    """The shape facts of one op that the features are made of (plain numbers)."""

    flops: float
    bytes: float  # read + written, activations and weights
    weight_bytes: float = 0.0
    cin_g: float = 1.0  # input channels per group (conv), contracted length (matmul)
    cout_g: float = 1.0  # output channels per group (conv), output columns (matmul)
    rows: float = 1.0  # output width (conv) or output rows (matmul)
    category: str = ""  # what must match for two ops to be neighbours (stride, op name)
    key: tuple[float, ...] = ()  # where the op sits in its class's shape space (log2 sizes)
    outputs: float = 0.0  # output elements (pooling: one window each)
    stride: float = 1.0  # the conv's stride along the width
    planes: float = 0.0  # output channel planes (conv: batch x output channels)
    lane_waste: float = 0.0  # share of vector lanes idle when channels are packed by LANES (conv)
    inplace: bool = False  # an in-place op (``relu_``): it writes over its input


def _memory_terms(w: Work) -> list[float]:
    """Bytes, plus bytes scaled by how far the working set exceeds each cache knot."""
    return [w.bytes] + [w.bytes * max(0.0, log2(max(w.bytes, 1.0) / knot)) for knot in KNOTS_BYTES]


def _conv_features(w: Work) -> list[float]:
    """Dense or grouped conv: flops, flops/cin_g, flops/cout_g, flops/w_out, activation and weight
    bytes, and activation bytes beyond the cache knots (a 256x256 map of 32 channels is 8 MB: the
    conv then streams it from memory, timed here at 15-20% above the in-cache rate)."""
    act = w.bytes - w.weight_bytes
    return [1.0, w.flops, w.flops / w.cin_g, w.flops / w.cout_g, w.flops / w.rows, act, w.weight_bytes,
            *(act * max(0.0, log2(max(act, 1.0) / knot)) for knot in KNOTS_BYTES)]


def _grouped_features(w: Work) -> list[float]:
    """Grouped conv: the dense conv's features and ``flops / (cin_g * cout_g)``.

    The last is 2 k^2 x groups x output pixels: the count of per-group, per-pixel kernel calls,
    whose fixed cost dominates when each group is a few channels (a 2-in, 1-out group runs
    several times slower per FLOP than a 32-in, 32-out one).
    """
    return [*_conv_features(w), w.flops / (w.cin_g * w.cout_g)]


def _depthwise_features(w: Work) -> list[float]:
    """Depthwise conv: flops, flops/w_out, output planes (a fixed cost per channel, which
    dominates on 7x7 maps), flops times the idle share of vector lanes (timed here, 24 channels
    run at half the speed per output of 32 or 48: kernels pack channels by 16), memory terms."""
    return [1.0, w.flops, w.flops / w.rows, w.planes, w.flops * w.lane_waste, *_memory_terms(w)]


def _depthwise_mult_features(w: Work) -> list[float]:
    """Depthwise conv with a channel multiplier: as depthwise, ``flops / multiplier`` (a
    multiplier of 2 runs slower per FLOP than one of 4: the per-group cost is shared by fewer),
    and both flops terms again when strided (timed here: 2-3x the time per output at stride 2)."""
    strided = 1.0 if w.stride > 1 else 0.0
    return [1.0, w.flops, w.flops / w.rows, w.flops / w.cout_g, strided * w.flops, strided * w.flops / w.cout_g,
            w.planes, w.flops * w.lane_waste, *_memory_terms(w)]


def _pool_features(w: Work) -> list[float]:
    """Pooling: output elements (one window each), flops (window taps), both again once the
    working set outgrows the L2 cache (``_l2_ramp``), and the memory terms.

    Timed here, PyTorch's max pool costs about a + b k^2 per output: 13, 16, 18, 23 and 39 ns
    per output for 2x2/s1, 2x2/s2, 3x3/s1, 3x3/s2 and 5x5/s1 on maps of a few MB, but a third of
    that on maps that fit in L2 (5 ns per output for a 2x2/s2 pool of 32x28x28).
    """
    ramp = _l2_ramp(w.bytes)
    return [1.0, w.outputs, w.flops, w.outputs * ramp, w.flops * ramp, *_memory_terms(w)]


def _l2_ramp(moved: float) -> float:
    """0 for a working set of at most 256 KiB, 1 from 2 MiB, linear in log2 between: where an L2
    cache (256 KiB to 2 MiB on current CPUs) stops holding it."""
    return min(1.0, max(0.0, log2(max(moved, 1.0) / L2_RAMP_BYTES[0]) / log2(L2_RAMP_BYTES[1] / L2_RAMP_BYTES[0])))


def _matmul_features(w: Work) -> list[float]:
    """Matrix products: flops, flops/rows (few rows: matrix-vector), flops/k, bytes."""
    return [1.0, w.flops, w.flops / w.rows, w.flops / w.cin_g, w.bytes]


def _memory_features(w: Work) -> list[float]:
    """Memory-bound ops: memory terms and flops (transcendental activations cost more per byte)."""
    return [1.0, *_memory_terms(w), w.flops]


def _eltwise_features(w: Work) -> list[float]:
    """Element-wise ops: the memory features, and the bytes again for an in-place op (``relu_``),
    whose output lands in the lines its input, just written, already holds: no fresh output
    buffer to fault in and fill (the fit may discount it)."""
    return [*_memory_features(w), w.bytes if w.inplace else 0.0]


def _overhead_features(w: Work) -> list[float]:
    """Views and no-ops: the fixed cost only."""
    return [1.0]


MEMORY_NAMES = ["bytes", "bytes_beyond_1MiB", "bytes_beyond_16MiB"]


@dataclass(frozen=True)
class OpClass:
    """A class of ops fitted together: its feature names and how to compute them."""

    name: str
    feature_names: tuple[str, ...]
    features: Callable[[Work], list[float]]
    description: str


def _cls(name: str, names: list[str], fn: Callable[[Work], list[float]], description: str) -> OpClass:
    """An OpClass (names include the constant ``overhead`` first)."""
    return OpClass(name, ("overhead", *names), fn, description)


_CONV = ["flops", "flops_per_cin_g", "flops_per_cout_g", "flops_per_w_out", "act_bytes", "weight_bytes",
         "act_bytes_beyond_1MiB", "act_bytes_beyond_16MiB"]
_DEPTHWISE = ["flops", "flops_per_w_out", "planes", "flops_idle_lanes", *MEMORY_NAMES]
_POOL = ["outputs", "flops", "outputs_beyond_L2", "flops_beyond_L2", *MEMORY_NAMES]
CLASSES: dict[str, OpClass] = {c.name: c for c in (
    _cls("conv1x1", _CONV, _conv_features, "dense 1x1 convolution"),
    _cls("convkxk", _CONV, _conv_features, "dense kxk convolution (k > 1), transposed convolution"),
    _cls("conv_grouped", [*_CONV, "flops_per_cin_cout_g"], _grouped_features,
         "grouped convolution (1 < groups < channels)"),
    _cls("conv_depthwise", _DEPTHWISE, _depthwise_features,
         "depthwise convolution (one input and one output channel per group)"),
    _cls("conv_depthwise_mult", ["flops", "flops_per_w_out", "flops_per_multiplier", "flops_strided",
                                 "flops_per_multiplier_strided", "planes", "flops_idle_lanes", *MEMORY_NAMES],
         _depthwise_mult_features,
         "depthwise convolution with a channel multiplier (one input, several output channels per group)"),
    _cls("matmul", ["flops", "flops_per_row", "flops_per_k", "bytes"], _matmul_features,
         "linear, mm, bmm, matmul, einsum"),
    _cls("attention", ["flops", "flops_per_row", "flops_per_k", "bytes"], _matmul_features,
         "scaled_dot_product_attention"),
    _cls("bn", [*MEMORY_NAMES, "flops"], _memory_features, "batch norm at inference (not folded)"),
    _cls("norm", [*MEMORY_NAMES, "flops"], _memory_features, "layer, group, instance norm"),
    _cls("eltwise", [*MEMORY_NAMES, "flops", "inplace_bytes"], _eltwise_features,
         "activations, add, mul and other element-wise ops"),
    _cls("maxpool", _POOL, _pool_features, "max pooling"),
    _cls("avgpool", _POOL, _pool_features, "average pooling (not global)"),
    _cls("reduce", [*MEMORY_NAMES, "flops"], _memory_features, "global pooling, mean, other reductions"),
    _cls("resize", [*MEMORY_NAMES, "flops"], _memory_features, "upsampling, interpolation"),
    _cls("copy", [*MEMORY_NAMES, "flops"], _memory_features, "concat, pad, clone, contiguous copies, indexing"),
    _cls("view", [], _overhead_features, "views, reshapes, dropout at inference, tensor creation"),
)}
NEAREST = {  # the class a missing one is predicted from (flagged)
    "conv1x1": "convkxk", "convkxk": "conv1x1", "conv_grouped": "convkxk", "conv_depthwise": "conv_grouped",
    "conv_depthwise_mult": "conv_grouped",
    "matmul": "conv1x1", "attention": "matmul", "bn": "eltwise", "norm": "bn", "eltwise": "copy",
    "maxpool": "avgpool", "avgpool": "maxpool", "reduce": "avgpool", "resize": "copy", "copy": "eltwise", "view": "eltwise",
}
MEMORY_KINDS = {"bn": "bn", "norm": "norm", "act": "eltwise", "eltwise": "eltwise", "maxpool": "maxpool",
                "avgpool": "avgpool", "globalpool": "reduce", "reduce": "reduce", "resize": "resize",
                "move": "copy", "view": "view", "create": "view", "unsupported": "eltwise"}


def classify(event: OpEvent, op: dict[str, Any]) -> tuple[str, Work]:
    """The class of one captured op and its work, from the event's shapes and the priced row.

    Args:
        event: the captured op (shapes of every argument).
        op: its priced row (``kind``, ``flops``, ``bytes_read``, ``bytes_written``).
    Returns:
        (class name, Work).
    """
    kind = op["kind"]
    flops, moved = float(op["flops"]), float(op["bytes_read"] + op["bytes_written"])
    if kind == "conv":
        return _conv_class(event, flops, moved)
    if kind in ("linear", "matmul"):
        name = "attention" if "attention" in event.op else "matmul"
        return name, _matmul_work(event, op, flops, moved)
    base = event.op.removesuffix("_")
    if kind in ("maxpool", "avgpool"):
        return kind, _pool_work(event, base, flops, moved)
    # In-place and out-of-place variants are neighbours only of their own kind (``relu_``, ``relu``).
    return MEMORY_KINDS.get(kind, "eltwise"), Work(flops, moved, category=event.op, key=(_log2(moved),),
                                                   inplace=event.op.endswith("_"))


def _pool_work(event: OpEvent, base: str, flops: float, moved: float) -> Work:
    """A pooling op's work: its output elements, and a category naming its window and stride
    (only like pools are neighbours: a 3x3/s2 max pool is not a 2x2/s2 one at the same bytes)."""
    out = event.outputs[0] if event.outputs else TensorMeta((1,), "torch.float32", 4)
    x = event.args[0]
    window = round(flops / max(out.numel, 1))
    stride = _stride(event, 2, default=_last_int(event.args[1] if len(event.args) > 1 else None, 1))
    w_out = float(out.shape[-1]) if len(out.shape) > 2 else 1.0
    return Work(flops, moved, rows=w_out, outputs=float(out.numel), category=f"{base} w{window} s{stride}",
                key=(_log2(moved), _log2(w_out)))


def _log2(value: float) -> float:
    """log2 of a positive amount (0 for anything below 1)."""
    return log2(value) if value > 1 else 0.0


def _stride(event: OpEvent, index: int, default: int) -> int:
    """The op's stride along the width, from its argument (conv: ``args[3]``, pools: ``args[2]``);
    ``default`` where the dispatcher left it out as the default or it is empty (conv: 1; a pool:
    its kernel). Not the shape ratio: an unpadded 7x7 conv takes a 10-wide map to 4."""
    value = event.args[index] if len(event.args) > index else None
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, int) for v in value):
        return int(value[-1])
    return int(value) if isinstance(value, int) and not isinstance(value, bool) and value > 0 else max(default, 1)


def _last_int(value: Any, default: int) -> int:
    """The last int of an int or a list of ints (a kernel size), else ``default``."""
    if isinstance(value, (list, tuple)) and value and isinstance(value[-1], int):
        return int(value[-1])
    return int(value) if isinstance(value, int) and not isinstance(value, bool) else default


def _conv_class(event: OpEvent, flops: float, moved: float) -> tuple[str, Work]:
    """conv1x1, convkxk, conv_grouped or conv_depthwise, with the conv's channel geometry."""
    x, weight = event.args[0], event.args[1]
    out = event.outputs[0]
    transposed = "transpose" in event.op or (len(event.args) > 6 and event.args[6] is True)
    cin, cout = x.shape[1], out.shape[1]
    cin_g = weight.shape[0] if transposed else weight.shape[1]
    groups = max(1, cin // max(cin_g, 1)) if not transposed else max(1, cin // weight.shape[0])
    kernel = prod(weight.shape[2:])
    w_out = float(out.shape[-1] if len(out.shape) > 2 else 1)
    stride = _stride(event, 3, default=1)
    key = (_log2(cin_g), _log2(cout // groups), _log2(w_out), _log2(kernel), _log2(cin))
    work = Work(flops, moved, float(weight.nbytes), float(max(cin_g, 1)), float(max(cout // groups, 1)),
                w_out, f"s{min(stride, 2)}{'' if cin % LANES == 0 else ' unaligned'}", key, stride=float(max(stride, 1)),
                planes=float(out.shape[0] * cout), lane_waste=-(-cin // LANES) * LANES / max(cin, 1) - 1.0)
    if groups > 1 and cin_g == 1 and not transposed:
        # A channel multiplier (out = k x in, as darknet's csmobilenet-v2 has) is not the depthwise
        # kernel libraries specialise: oneDNN runs it several times slower per FLOP.
        return ("conv_depthwise" if cout == cin else "conv_depthwise_mult"), work
    if groups > 1:
        return "conv_grouped", work
    return ("conv1x1" if kernel == 1 and not transposed else "convkxk"), work


def _matmul_work(event: OpEvent, op: dict[str, Any], flops: float, moved: float) -> Work:
    """Rows of the output, its columns and the contracted length (from MACs = rows x cols x k)."""
    out: TensorMeta = event.outputs[0] if event.outputs else TensorMeta((1,), "torch.float32", 4)
    cols = float(out.shape[-1]) if out.shape else 1.0
    rows = float(max(out.numel / max(cols, 1.0), 1.0))
    k = float(max(op["macs"] / max(rows * cols, 1.0), 1.0))
    weights = [t for t in event.tensors()[1:] if len(t.shape) == 2]
    key = (_log2(rows), _log2(k), _log2(cols))
    return Work(flops, moved, float(sum(t.nbytes for t in weights)), k, cols, rows, "", key)


def feature_row(name: str, work: Work) -> list[float]:
    """The feature vector of one op of class ``name``."""
    return CLASSES[name].features(work)
