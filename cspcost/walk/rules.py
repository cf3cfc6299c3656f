"""The op cost registry: one rule per aten op, keyed by its name (``aten.conv2d``).

Every op the walker meets is either priced by a rule here, declared free here (views, dropout at
inference, ...: each with its reason), or reported as unsupported: never silently zero. A rule
returns the op's arithmetic (``Work``); its memory traffic follows from its kind (``_traffic``).

Conventions (each rule's docstring states its own):
- ``macs`` come only from conv, linear and matmul ops; their ``flops`` are 2 x macs, bias excluded
  (as torch's FlopCounterMode and fvcore count).
- Other ops count ``flops`` per element with the documented operation count; their macs are 0.
- ``bytes_read`` is every tensor argument (activations and weights) at its dtype, ``bytes_written``
  every output; views move nothing; tensor creation only writes.
"""
from __future__ import annotations

from dataclasses import dataclass
from math import prod
from typing import Any, Callable, NamedTuple

from cspcost.walk.records import KINDS, OpCost, OpEvent, TensorMeta


class Work(NamedTuple):
    """The arithmetic of one op: multiply-accumulates, flops, and its CIO term."""

    macs: int = 0
    flops: int = 0
    io_elems: int = 0  # activation input + output elements, for ops CIO may count
    kind: str | None = None  # overrides the rule's kind for this event (a mean that is a global pool)


Pricer = Callable[[OpEvent], Work]


@dataclass(frozen=True)
class Rule:
    """How one aten op is priced, or why it is free."""

    op: str
    kind: str
    price: Pricer
    doc: str  # the convention, one line
    free_reason: str = ""  # non-empty for ops declared free

    def cost(self, ev: OpEvent) -> OpCost:
        """Price an event: its work from the rule, its traffic from its kind."""
        work = self.price(ev)
        out_elems, read, written = _traffic(ev, self.kind)
        kind = work.kind or self.kind
        return OpCost(kind, work.macs, work.flops, work.io_elems, out_elems, read, written)


RULES: dict[str, Rule] = {}


def _add(ops: tuple[str, ...], kind: str, price: Pricer, doc: str, reason: str = "") -> None:
    """Register one rule for each op name; a name registered twice is an error."""
    for op in ops:
        if op in RULES:
            raise ValueError(f"op {op!r} already has a rule")
    if kind not in KINDS or not doc:
        raise ValueError(f"a rule needs a known kind and a documented convention (kind {kind!r})")
    for op in ops:
        RULES[op] = Rule(op, kind, price, doc, reason)


def rule(*ops: str, kind: str) -> Callable[[Pricer], Pricer]:
    """Decorator: register a pricing function (its docstring is the convention) for ``ops``."""

    def decorator(fn: Pricer) -> Pricer:
        _add(ops, kind, fn, ((fn.__doc__ or "").strip().splitlines() or [""])[0])
        return fn

    return decorator


def free(*ops: str, kind: str, reason: str) -> None:
    """Declare ``ops`` free of arithmetic, with the reason (traffic still follows the kind)."""
    _add(ops, kind, lambda ev: Work(), f"free: {reason}", reason)


def lookup(op: str) -> Rule | None:
    """The rule for an op name, or None when the op is unsupported."""
    return RULES.get(op)


# ---------------------------------------------------------------------------------- traffic
def _traffic(ev: OpEvent, kind: str) -> tuple[int, int, int]:
    """Elements written, bytes read and bytes written by an op of this kind."""
    if kind == "view" or not _moves(ev):
        return 0, 0, 0
    out_elems = sum(t.numel for t in ev.outputs)
    written = sum(t.nbytes for t in ev.outputs)
    if kind == "create":
        return out_elems, 0, 0 if ev.op in _UNINITIALISED else written
    return out_elems, sum(t.nbytes for t in ev.tensors()), written


_UNINITIALISED = {"aten.empty", "aten.empty_like", "aten.empty_strided", "aten.new_empty",
                  "aten.new_empty_strided"}
# Ops that copy only when they must: a no-op on a contiguous input (or an unchanged dtype).
_COPY_IF_NEEDED = {"aten.contiguous", "aten.reshape", "aten.to"}


def _moves(ev: OpEvent) -> bool:
    """False for a conditional copy that the input makes unnecessary."""
    if ev.op not in _COPY_IF_NEEDED:
        return True
    src, out = ev.args[0], ev.outputs[0]
    if ev.op == "aten.to":
        return src.dtype != out.dtype
    return not src.contiguous


# ------------------------------------------------------------------------------ shape helpers
def _first(ev: OpEvent) -> TensorMeta:
    """The first tensor argument (the activation input for most ops)."""
    return ev.tensors()[0]


def _out(ev: OpEvent) -> TensorMeta:
    """The first output."""
    return ev.outputs[0]


def _arg(ev: OpEvent, index: int, name: str, default: Any = None) -> Any:
    """An argument by schema position or keyword (dispatch omits trailing defaults)."""
    if len(ev.args) > index:
        return ev.args[index]
    return ev.kwargs.get(name, default)


def _spatial(value: Any, n: int) -> tuple[int, ...]:
    """An int or a list of ints, broadcast to ``n`` spatial dims."""
    if isinstance(value, int):
        return (value,) * n
    vals = tuple(value)
    return vals * n if len(vals) == 1 else vals


# -------------------------------------------------------------------------------- convolution
_CONV_TRANSPOSED = ("aten.conv_transpose1d", "aten.conv_transpose2d", "aten.conv_transpose3d")


@rule("aten.conv1d", "aten.conv2d", "aten.conv3d", "aten.convolution", "aten._convolution",
      "aten._convolution_mode", *_CONV_TRANSPOSED, kind="conv")
def conv(ev: OpEvent) -> Work:
    """N*C_out*H_out*W_out*(C_in/groups)*kH*kW MACs (transposed: per input element); bias free."""
    x, w, y = ev.args[0], ev.args[1], _out(ev)
    transposed = ev.op in _CONV_TRANSPOSED or (
        ev.op in ("aten.convolution", "aten._convolution") and bool(_arg(ev, 6, "transposed")))
    # A weight is [C_out, C_in/g, k...]; transposed it is [C_in, C_out/g, k...] and every input
    # element is scattered to C_out/g * k... outputs.
    macs = (x.numel if transposed else y.numel) * prod(w.shape[1:])
    return Work(macs, 2 * macs, x.numel + y.numel)


# -------------------------------------------------------------------------- linear and matmul
@rule("aten.linear", kind="linear")
def linear(ev: OpEvent) -> Work:
    """in_features*out_features MACs per row; bias free."""
    x, w, y = ev.args[0], ev.args[1], _out(ev)
    macs = y.numel * w.shape[-1]
    return Work(macs, 2 * macs, x.numel + y.numel)


@rule("aten.addmm", "aten.mm", kind="linear")
def mm(ev: OpEvent) -> Work:
    """[n,k] @ [k,m]: n*k*m MACs; addmm's bias add free (FlopCounterMode's convention)."""
    a, b = ev.args[-2:] if ev.op == "aten.addmm" else ev.args[:2]
    macs = a.shape[0] * a.shape[1] * b.shape[1]
    return Work(macs, 2 * macs, a.numel + _out(ev).numel)


@rule("aten.bmm", "aten.baddbmm", "aten.matmul", "aten.mv", "aten.addmv", "aten.dot", kind="matmul")
def matmul(ev: OpEvent) -> Work:
    """Output elements x contracted length (broadcast batch dims included)."""
    a = ev.args[1] if ev.op in ("aten.baddbmm", "aten.addmv") else ev.args[0]
    macs = _out(ev).numel * a.shape[-1]
    return Work(macs, 2 * macs, a.numel + _out(ev).numel)


@rule("aten.einsum", kind="matmul")
def einsum(ev: OpEvent) -> Work:
    """Naive nested-loop cost: output elements x sizes of the contracted letters."""
    equation, operands = ev.args[0].replace(" ", ""), ev.args[1]
    lhs, _, rhs = equation.partition("->")
    sizes: dict[str, int] = {}
    for term, t in zip(lhs.split(","), operands):
        letters = term.replace("...", "")
        # Letters after an ellipsis align with the trailing dims.
        dims = t.shape[len(t.shape) - len(letters):] if "..." in term else t.shape
        sizes.update(zip(letters, dims))
    out_letters = rhs if "->" in equation else "".join(sorted(c for c in sizes if lhs.count(c) == 1))
    contracted = prod(n for c, n in sizes.items() if c not in out_letters)
    macs = _out(ev).numel * contracted if len(operands) > 1 else 0
    flops = 2 * macs if macs else operands[0].numel
    return Work(macs, flops, sum(t.numel for t in operands) + _out(ev).numel)


# ----------------------------------------------------------------------------- normalisation
_STATS_FLOPS = 6  # mean (add), variance (sub, square, add), normalise (sub, multiply by rstd)


def _norm_work(x: TensorMeta, affine: bool, runtime_stats: bool) -> Work:
    """Flops of a normalisation: 6/elem for statistics computed at run time, 2/elem affine."""
    per_elem = (_STATS_FLOPS if runtime_stats else 0) + (2 if affine or not runtime_stats else 0)
    return Work(0, per_elem * x.numel)


@rule("aten.batch_norm", "aten.native_batch_norm", "aten._native_batch_norm_legit",
      "aten._native_batch_norm_legit_no_training", "aten.cudnn_batch_norm", kind="bn")
def batch_norm(ev: OpEvent) -> Work:
    """Eval: scale and shift, 2 flops/elem (0 when folded by --fuse-bn); train: 6 more for stats."""
    training = ev.op != "aten._native_batch_norm_legit_no_training" and bool(_arg(ev, 5, "training"))
    return _norm_work(ev.args[0], True, training)


@rule("aten.layer_norm", "aten.native_layer_norm", kind="norm")
def layer_norm(ev: OpEvent) -> Work:
    """Statistics at run time: 6 flops/elem, plus 2 with an affine weight."""
    return _norm_work(ev.args[0], _arg(ev, 2, "weight") is not None, True)


@rule("aten.group_norm", kind="norm")
def group_norm(ev: OpEvent) -> Work:
    """Statistics at run time: 6 flops/elem, plus 2 with an affine weight."""
    return _norm_work(ev.args[0], _arg(ev, 2, "weight") is not None, True)


@rule("aten.native_group_norm", kind="norm")
def native_group_norm(ev: OpEvent) -> Work:
    """Statistics at run time: 6 flops/elem, plus 2 with an affine weight."""
    return _norm_work(ev.args[0], ev.args[1] is not None, True)


@rule("aten.instance_norm", kind="norm")
def instance_norm(ev: OpEvent) -> Work:
    """Input statistics: 6 flops/elem (+2 affine); running statistics: 2 flops/elem."""
    return _norm_work(ev.args[0], _arg(ev, 1, "weight") is not None, bool(_arg(ev, 5, "use_input_stats")))


# ------------------------------------------------------------------ element-wise, per element
def per_element(n: int) -> Pricer:
    """A pricer of ``n`` flops per output element (the larger of input and output for reductions)."""

    def price(ev: OpEvent) -> Work:
        """``n`` flops per element."""
        return Work(0, n * max(_out(ev).numel, _first(ev).numel))

    return price


def _with_inplace(*names: str) -> tuple[str, ...]:
    """``aten.NAME`` and its in-place twin ``aten.NAME_`` for each name."""
    return tuple(f"aten.{n}{s}" for n in names for s in ("", "_"))


# Operation counts per element; transcendental functions count 1.
_ACTIVATIONS: dict[int, tuple[str, ...]] = {
    1: _with_inplace("relu", "tanh", "threshold"),
    2: _with_inplace("leaky_relu", "hardtanh") + ("aten.relu6", "aten.prelu", "aten._prelu_kernel"),
    3: _with_inplace("sigmoid", "elu", "celu") + ("aten.softplus",),  # exp, add, div
    4: _with_inplace("silu", "hardsigmoid", "selu") + ("aten.log_sigmoid",),  # sigmoid + mul; add, min, max, div
    5: _with_inplace("mish", "gelu", "hardswish"),  # exp, add, log, tanh, mul; erf form; hardsigmoid + mul
}
_ELEMENTWISE: dict[int, tuple[str, ...]] = {
    1: _with_inplace("add", "sub", "mul", "div", "neg", "abs", "exp", "log", "sqrt", "rsqrt",
                     "reciprocal", "pow", "square", "clamp_min", "clamp_max", "masked_fill",
                     "floor", "ceil", "round", "sign")
       + ("aten.rsub", "aten.maximum", "aten.minimum", "aten.where", "aten.fmax", "aten.fmin"),
    2: _with_inplace("clamp", "addcmul", "addcdiv", "lerp"),
}
_SOFTMAX = ("aten.softmax", "aten._softmax", "aten.log_softmax", "aten._log_softmax")

for _n, _ops in _ACTIVATIONS.items():
    _add(_ops, "act", per_element(_n), f"{_n} flop(s) per element")
for _n, _ops in _ELEMENTWISE.items():
    _add(_ops, "eltwise", per_element(_n), f"{_n} flop(s) per output element (broadcast included)")
_add(_SOFTMAX, "act", per_element(5), "5 flops per element: max, subtract, exp, sum, divide")
_add(("aten.max", "aten.min"), "reduce", per_element(1),
     "1 flop per input element (reduction) or per output element (binary form)")

# -------------------------------------------------------------------------------- reductions
_REDUCTIONS = ("aten.sum", "aten.amax", "aten.amin", "aten.argmax", "aten.argmin", "aten.prod")
_add(_REDUCTIONS, "reduce", per_element(1), "1 flop per input element")
_add(("aten.var", "aten.std", "aten.var_mean", "aten.std_mean"), "reduce", per_element(3),
     "3 flops per input element: subtract, square, add")


def _is_global_mean(ev: OpEvent) -> bool:
    """A mean over every spatial dim (all dims after N, C) is a global average pool."""
    x = ev.args[0]
    dims = _arg(ev, 1, "dim")
    if x is None or len(x.shape) < 3 or not dims:
        return False
    return sorted(d % len(x.shape) for d in dims) == list(range(2, len(x.shape)))


@rule("aten.mean", kind="reduce")
def mean(ev: OpEvent) -> Work:
    """1 flop per input element; over every spatial dim it is a global pool, priced as one."""
    x = ev.args[0]
    if _is_global_mean(ev):
        return Work(0, x.numel, x.numel + _out(ev).numel, kind="globalpool")
    return Work(0, x.numel)


# --------------------------------------------------------------------------------- pooling
@rule("aten.max_pool1d", "aten.max_pool2d", "aten.max_pool3d", "aten.max_pool2d_with_indices",
      "aten.max_pool3d_with_indices", kind="maxpool")
def max_pool(ev: OpEvent) -> Work:
    """kernel-size comparisons per output element (darknet's size^2*C*H_out*W_out)."""
    x, y = ev.args[0], _out(ev)
    kernel = _spatial(_arg(ev, 1, "kernel_size"), len(y.shape) - 2)
    return Work(0, prod(kernel) * y.numel, x.numel + y.numel)


@rule("aten.avg_pool1d", "aten.avg_pool2d", "aten.avg_pool3d", kind="avgpool")
def avg_pool(ev: OpEvent) -> Work:
    """kernel-size adds per output element (the divide folded in, as darknet counts)."""
    x, y = ev.args[0], _out(ev)
    kernel = _spatial(_arg(ev, 1, "kernel_size"), len(y.shape) - 2)
    return Work(0, prod(kernel) * y.numel, x.numel + y.numel)


@rule("aten.adaptive_avg_pool1d", "aten.adaptive_avg_pool2d", "aten.adaptive_avg_pool3d",
      "aten._adaptive_avg_pool2d", "aten._adaptive_avg_pool3d", "aten.adaptive_max_pool1d",
      "aten.adaptive_max_pool2d", "aten.adaptive_max_pool3d", kind="globalpool")
def adaptive_pool(ev: OpEvent) -> Work:
    """1 flop per input element (exact for global pooling, where each element is read once)."""
    x, y = ev.args[0], _out(ev)
    return Work(0, x.numel, x.numel + y.numel)


# ---------------------------------------------------------------------------------- resize
def _resize(per_output: int) -> Pricer:
    """A pricer of ``per_output`` flops per output element."""

    def price(ev: OpEvent) -> Work:
        """Interpolation weights per output element."""
        return Work(0, per_output * _out(ev).numel)

    return price


_add(("aten.upsample_nearest1d", "aten.upsample_nearest2d", "aten.upsample_nearest3d",
      "aten._upsample_nearest_exact1d", "aten._upsample_nearest_exact2d",
      "aten._upsample_nearest_exact3d"), "resize", _resize(0),
     "nearest: a copy, 0 flops (bytes moved)")
_add(("aten.upsample_linear1d",), "resize", _resize(3), "3 flops per output: 2 mul + 1 add")
_add(("aten.upsample_bilinear2d", "aten._upsample_bilinear2d_aa"), "resize", _resize(7),
     "7 flops per output: 4 mul + 3 add")
_add(("aten.upsample_trilinear3d",), "resize", _resize(15), "15 flops per output: 8 mul + 7 add")
_add(("aten.upsample_bicubic2d", "aten._upsample_bicubic2d_aa"), "resize", _resize(31),
     "31 flops per output: 16 mul + 15 add")

# ---------------------------------------------------------------------- free ops, with reasons
free("aten.cat", "aten.stack", "aten.constant_pad_nd", "aten.pad", "aten.reflection_pad1d",
     "aten.reflection_pad2d", "aten.reflection_pad3d", "aten.replication_pad1d",
     "aten.replication_pad2d", "aten.replication_pad3d", "aten.clone", "aten.copy_",
     "aten.repeat", "aten.tile", "aten._to_copy", "aten.flip", "aten.roll", "aten.index_select",
     "aten.pixel_shuffle", "aten.pixel_unshuffle", "aten.channel_shuffle",
     "aten.native_channel_shuffle", "aten.contiguous", "aten.reshape", "aten.to",
     kind="move", reason="data movement only: no arithmetic, bytes read and written")
free("aten.view", "aten._unsafe_view", "aten._reshape_alias", "aten.flatten", "aten.unflatten",
     "aten.squeeze", "aten.unsqueeze", "aten.squeeze_", "aten.unsqueeze_", "aten.permute",
     "aten.transpose", "aten.transpose_", "aten.t", "aten.t_", "aten.expand", "aten.expand_as",
     "aten.slice", "aten.select", "aten.split", "aten.split_with_sizes", "aten.unsafe_split",
     "aten.chunk", "aten.unbind", "aten.narrow", "aten.as_strided", "aten.alias", "aten.detach",
     "aten.view_as", "aten.movedim", "aten.swapaxes", "aten.lift_fresh",
     kind="view", reason="a view: no arithmetic and no copy")
free("aten.dropout", "aten.feature_dropout", "aten.alpha_dropout", "aten.feature_alpha_dropout",
     kind="view", reason="identity at inference (eval mode)")
free("aten.empty", "aten.empty_like", "aten.empty_strided", "aten.new_empty",
     "aten.new_empty_strided", "aten.zeros", "aten.zeros_like", "aten.ones", "aten.ones_like",
     "aten.full", "aten.full_like", "aten.new_zeros", "aten.new_ones", "aten.new_full",
     "aten.arange", "aten.randn", "aten.rand", "aten.randn_like", "aten.rand_like",
     "aten.scalar_tensor", "aten.zero_", "aten.fill_", "aten.linspace", "aten.eye",
     kind="create", reason="tensor creation: no arithmetic (initialised memory counts as written)")
