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
        _add(ops, kind, fn, _first_paragraph(fn.__doc__ or ""))
        return fn

    return decorator


def _first_paragraph(doc: str) -> str:
    """A docstring's first paragraph on one line (a convention may take two or three lines)."""
    return " ".join(line.strip() for line in doc.strip().split("\n\n")[0].splitlines())


def free(*ops: str, kind: str, reason: str) -> None:
    """Declare ``ops`` free of arithmetic, with the reason (traffic still follows the kind)."""
    _add(ops, kind, lambda ev: Work(), f"free: {reason}", reason)


def lookup(op: str) -> Rule | None:
    """The rule for an op name, or None when the op is unsupported."""
    return RULES.get(op)


def rule_for(ev: OpEvent) -> Rule | None:
    """The rule that prices this event, or None when it is unsupported: no rule for its op, or
    complex operands that only a rule of ``COMPLEX_RULES`` prices (views and copies excepted)."""
    found = RULES.get(ev.op)
    if found is None or found.kind in _ANY_DTYPE or not is_complex(ev):
        return found
    return COMPLEX_RULES.get(ev.op)


def listed() -> list[Rule]:
    """Every rule, for ``cspcost rules``: the registry, then each complex-operand form (``aten.mul on complex``)."""
    return [*RULES.values(), *(Rule(f"{r.op} on complex", r.kind, r.price, r.doc) for r in COMPLEX_RULES.values())]


def unsupported_name(ev: OpEvent) -> str:
    """The name an unsupported event is reported under (``aten.sin on complex`` when only the
    complex form lacks a rule)."""
    return f"{ev.op} on complex" if ev.op in RULES else ev.op


def is_complex(ev: OpEvent) -> bool:
    """True when any tensor argument or output has a complex dtype."""
    return any("complex" in t.dtype for t in (*ev.tensors(), *ev.outputs))


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
_COPY_IF_NEEDED = {"aten.contiguous", "aten.reshape", "aten.reshape_as", "aten.to", "aten.type_as"}
_DTYPE_CASTS = {"aten.to", "aten.type_as"}  # copy only when the dtype changes


def _moves(ev: OpEvent) -> bool:
    """False for a conditional copy that the input makes unnecessary."""
    if ev.op not in _COPY_IF_NEEDED:
        return True
    src, out = ev.args[0], ev.outputs[0]
    if ev.op in _DTYPE_CASTS:
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
    transposed = ev.op in _CONV_TRANSPOSED or ev.op.startswith("quantized.conv_transpose") or (
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
                     "floor", "ceil", "round", "sign", "sin", "cos", "tan", "asin", "acos", "atan",
                     "sinh", "cosh", "atan2", "erf", "erfinv", "log2", "log10", "log1p", "expm1",
                     "exp2", "remainder", "fmod", "floor_divide", "trunc", "frac", "sgn",
                     "nan_to_num", "cumsum", "cumprod")
       + ("aten.rsub", "aten.maximum", "aten.minimum", "aten.where", "aten.fmax", "aten.fmin",
          "aten.hypot"),
    2: _with_inplace("clamp", "addcmul", "addcdiv", "lerp"),
}
# Comparisons and logic: one operation per output element (broadcast included); bool results.
_COMPARISONS = _with_inplace("eq", "ne", "gt", "lt", "ge", "le", "logical_and", "logical_or",
                             "logical_xor", "logical_not", "bitwise_and", "bitwise_or",
                             "bitwise_xor", "bitwise_not") + (
    "aten.__and__", "aten.__or__", "aten.__xor__", "aten.__iand__", "aten.__ior__", "aten.__ixor__",
    "aten.isnan", "aten.isinf", "aten.isfinite", "aten.isneginf", "aten.isposinf", "aten.nonzero",
    "aten.masked_select")
_SOFTMAX = ("aten.softmax", "aten._softmax", "aten.log_softmax", "aten._log_softmax")

for _n, _ops in _ACTIVATIONS.items():
    _add(_ops, "act", per_element(_n), f"{_n} flop(s) per element")
for _n, _ops in _ELEMENTWISE.items():
    _add(_ops, "eltwise", per_element(_n), f"{_n} flop(s) per output element (broadcast included)")
_add(_COMPARISONS, "eltwise", per_element(1),
     "1 operation per element (a comparison or logic op; nonzero/masked_select test each input)")
_add(_SOFTMAX, "act", per_element(5), "5 flops per element: max, subtract, exp, sum, divide")
_add(("aten.max", "aten.min"), "reduce", per_element(1),
     "1 flop per input element (reduction) or per output element (binary form)")

# -------------------------------------------------------------------------------- reductions
_REDUCTIONS = ("aten.sum", "aten.amax", "aten.amin", "aten.argmax", "aten.argmin", "aten.prod",
               "aten.all", "aten.any", "aten.count_nonzero", "aten.nansum")
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

# -------------------------------------------------------------------------------- attention
_SDPA_SOFTMAX_SCALE = 6  # per score element: 1 scale + softmax's 5 (max, subtract, exp, sum, divide)


@rule("aten.scaled_dot_product_attention", "aten._scaled_dot_product_attention_math",
      "aten._scaled_dot_product_flash_attention", "aten._scaled_dot_product_flash_attention_for_cpu",
      "aten._scaled_dot_product_efficient_attention", "aten._scaled_dot_product_cudnn_attention",
      "aten._scaled_dot_product_fused_attention_overrideable", kind="matmul")
def sdpa(ev: OpEvent) -> Work:
    """batch x heads x L x S x (E + Ev) MACs (Q K^T, then scores x V), as FlopCounterMode counts;
    causal counted in full (as FlopCounterMode); flops 2 x MACs + 6 per score (scale, softmax),
    +1 per score with a mask or bias."""
    q, k, v = ev.args[:3]
    batch_heads, length = prod(q.shape[:-2]), q.shape[-2]
    scores = batch_heads * length * k.shape[-2]
    macs = scores * (q.shape[-1] + v.shape[-1])
    masked = any(isinstance(a, TensorMeta) for a in ev.args[3:]) or any(
        isinstance(a, TensorMeta) for a in ev.kwargs.values())
    flops = 2 * macs + scores * (_SDPA_SOFTMAX_SCALE + masked)
    return Work(macs, flops, q.numel + k.numel + v.numel + _out(ev).numel)


# ------------------------------------------------------------------------ recurrent layers
# Per hidden unit and step, beyond the gate matmuls: LSTM 4 gate sums (input + hidden part), 3
# sigmoids (3 each), 2 tanh, cell update f*c + i*g (3), h = o*tanh(c) (1); GRU 2 sums + 2 sigmoids,
# n = tanh(x_n + r*h_n) (3), h = (1-z)*n + z*h (4); RNN 1 sum + tanh or relu. Biases: 1 add per gate
# row each for b_ih and b_hh.
_RNN_GATES = {"lstm": (4, 19), "gru": (3, 15), "rnn_tanh": (1, 2), "rnn_relu": (1, 2)}


def _rnn_work(family: str, rows: int, weights: list[TensorMeta], has_biases: bool, x_elems: int,
              out_elems: int) -> Work:
    """``rows`` (steps x batch) passes through every gate matrix, plus the gate arithmetic."""
    gates, per_unit = _RNN_GATES[family]
    mats = [w for w in weights if len(w.shape) == 2]
    macs = rows * sum(w.numel for w in mats)
    # Each layer-direction's matrices are W_ih [gates*H, I], W_hh [gates*H, H or P] (and W_hr).
    hidden = sum(w.shape[0] for w in mats[::3 if _has_proj(mats) else 2]) // gates
    flops = 2 * macs + rows * hidden * (per_unit + (2 * gates if has_biases else 0))
    return Work(macs, flops, x_elems + out_elems)


def _has_proj(mats: list[TensorMeta]) -> bool:
    """An LSTM with proj_size: a third [P, H] matrix per layer-direction (fewer rows than gates*H)."""
    return len(mats) >= 3 and mats[2].shape[0] != mats[0].shape[0]


@rule("aten.lstm", "aten.gru", "aten.rnn_tanh", "aten.rnn_relu", kind="matmul")
def rnn(ev: OpEvent) -> Work:
    """Per layer, direction and step, every gate matmul (W_ih x, W_hh h, LSTM W_hr): steps x batch x
    weight elements MACs, as FlopCounterMode's decomposition counts; gate arithmetic per hidden unit
    and step: LSTM 19, GRU 15, RNN 2 flops, +2 per gate with biases."""
    x = ev.args[0]
    if len(ev.args) > 1 and isinstance(ev.args[1], TensorMeta) and len(ev.args[1].shape) == 1:
        # The packed overload (data, batch_sizes, hx, params, has_biases, ...): rows = total steps.
        params, has_biases, rows = ev.args[3], ev.args[4], x.shape[0]
    else:
        params, has_biases, rows = ev.args[2], ev.args[3], x.numel // x.shape[-1]
    return _rnn_work(ev.op.split(".")[-1], rows, list(params), bool(has_biases), x.numel, _out(ev).numel)


@rule("aten.lstm_cell", "aten.gru_cell", "aten.rnn_tanh_cell", "aten.rnn_relu_cell", kind="matmul")
def rnn_cell(ev: OpEvent) -> Work:
    """One step of one layer: batch x (W_ih + W_hh elements) MACs; gate arithmetic as aten.lstm's."""
    x = ev.args[0]
    family = ev.op.split(".")[-1].removesuffix("_cell")
    weights, biases = [ev.args[2], ev.args[3]], _arg(ev, 4, "b_ih") is not None
    rows = x.numel // x.shape[-1]
    return _rnn_work(family, rows, weights, biases, x.numel, _out(ev).numel)


# ------------------------------------------------------------------------- sampling and boxes
_SAMPLE_FLOPS = {0: 7, 1: 0, 2: 31}  # per output element, 2-D: bilinear 4 mul + 3 add; nearest; bicubic


@rule("aten.grid_sampler", "aten.grid_sampler_2d", "aten.grid_sampler_3d", kind="resize")
def grid_sampler(ev: OpEvent) -> Work:
    """Per output element bilinear 7 (trilinear 15), nearest 0, bicubic 31 flops, as the resize
    rules count; plus 2 flops (scale, shift) per grid coordinate to unnormalise it."""
    grid, mode = ev.args[1], _arg(ev, 2, "interpolation_mode", 0)
    per_output = 15 if len(grid.shape) == 5 and mode == 0 else _SAMPLE_FLOPS.get(mode, 7)
    return Work(0, per_output * _out(ev).numel + 2 * grid.numel)


_ROI_SAMPLES = 2  # sampling_ratio <= 0 is adaptive (ceil(roi size / bins), data-dependent): assume 2


@rule("torchvision.roi_align", kind="resize")
def roi_align(ev: OpEvent) -> Work:
    """Per output bin, sampling_ratio^2 bilinear samples (7 flops each) summed and averaged:
    (8 x sampling_ratio^2 + 1) flops; an adaptive ratio (<= 0) is taken as 2."""
    ratio = _arg(ev, 5, "sampling_ratio", -1)
    samples = (ratio if ratio > 0 else _ROI_SAMPLES) ** 2
    return Work(0, (8 * samples + 1) * _out(ev).numel)


_IOU_FLOPS = 12  # intersection: 4 min/max, 2 sub, 2 clamp, 1 mul; union: 2 add/sub; 1 divide
_AREA_FLOPS = 3  # per box: 2 sub, 1 mul


@rule("torchvision.nms", kind="reduce")
def nms(ev: OpEvent) -> Work:
    """Worst case (nothing suppressed): the sort (N x ceil(log2 N) comparisons), 3 flops per box
    area and 12 per IoU of each of the N(N-1)/2 pairs."""
    n = ev.args[0].shape[0]
    return Work(0, n * _log2(n) + _AREA_FLOPS * n + _IOU_FLOPS * n * (n - 1) // 2)


# --------------------------------------------------------------------------- norms and scans
@rule("aten.linalg_vector_norm", "aten.norm", kind="reduce")
def vector_norm(ev: OpEvent) -> Work:
    """2 flops per input element (|x|^p and add; 3 for a general p: abs, pow, add) plus 1 per
    output element for the root (none for ord 1, inf, 0)."""
    x, order = ev.args[0], _arg(ev, 1, "ord", _arg(ev, 1, "p", 2))
    order = 2 if order is None else order
    per_input = 2 if order in (1, 2, float("inf"), float("-inf"), 0) else 3
    root = 0 if order in (1, float("inf"), float("-inf"), 0) else _out(ev).numel
    return Work(0, per_input * x.numel + root)


def _log2(n: int) -> int:
    """ceil(log2 n), at least 1: comparisons per element of a sort of n."""
    return max(1, (n - 1).bit_length())


def _sorted_length(ev: OpEvent) -> int:
    """The length of the sorted dimension (``dim`` argument, default last)."""
    x = ev.args[0]
    dim = _arg(ev, 1 if ev.op != "aten.topk" else 2, "dim", -1)
    dim = -1 if not isinstance(dim, int) else dim
    return x.shape[dim] if x.shape else 1


@rule("aten.sort", "aten.argsort", kind="reduce")
def sort(ev: OpEvent) -> Work:
    """A comparison sort: ceil(log2 n) comparisons per element, n the sorted length."""
    return Work(0, _first(ev).numel * _log2(_sorted_length(ev)))


@rule("aten.topk", kind="reduce")
def topk(ev: OpEvent) -> Work:
    """A heap of k: ceil(log2 k) comparisons (at least 1) per input element."""
    k = _arg(ev, 1, "k", 1)
    return Work(0, _first(ev).numel * _log2(k))


@rule("aten._unique2", "aten.unique_dim", "aten.unique_consecutive", "aten._unique", kind="reduce")
def unique(ev: OpEvent) -> Work:
    """Sort-based: n x ceil(log2 n) comparisons, plus 1 per element to compare neighbours."""
    n = _first(ev).numel
    return Work(0, n * _log2(n) + n)


# ---------------------------------------------------------------------- free ops, with reasons
free("aten.cat", "aten.stack", "aten.constant_pad_nd", "aten.pad", "aten.reflection_pad1d",
     "aten.reflection_pad2d", "aten.reflection_pad3d", "aten.replication_pad1d",
     "aten.replication_pad2d", "aten.replication_pad3d", "aten.clone", "aten.copy_",
     "aten.repeat", "aten.tile", "aten._to_copy", "aten.flip", "aten.roll", "aten.index_select",
     "aten.pixel_shuffle", "aten.pixel_unshuffle", "aten.channel_shuffle",
     "aten.native_channel_shuffle", "aten.contiguous", "aten.reshape", "aten.to",
     "aten.reshape_as", "aten.type_as", "aten.index", "aten.index_put", "aten.index_put_",
     "aten._index_put_impl_", "aten.gather", "aten.scatter", "aten.scatter_", "aten.take",
     "aten.take_along_dim", "aten.masked_scatter", "aten.masked_scatter_", "aten.repeat_interleave",
     "aten.im2col", "aten.tril", "aten.triu", "aten.tril_", "aten.triu_", "aten.diag_embed",
     "aten.index_copy", "aten.index_copy_", "aten.index_fill", "aten.index_fill_", "aten.diagonal_scatter",
     "aten.slice_scatter", "aten.select_scatter", "aten._pack_padded_sequence",
     "aten._pad_packed_sequence",
     kind="move", reason="data movement only: no arithmetic, bytes read and written "
                         "(gathers, scatters, casts, im2col's patch copy)")
_add(("aten.col2im", "aten.scatter_add", "aten.scatter_add_", "aten.index_add", "aten.index_add_",
      "aten.scatter_reduce", "aten.scatter_reduce_", "aten.index_reduce", "aten.index_reduce_"),
     "eltwise", per_element(1), "1 add per element (the larger of input and output): col2im sums "
     "overlapping patches, scatter/index adds accumulate")
free("aten.view", "aten._unsafe_view", "aten._reshape_alias", "aten.flatten", "aten.unflatten",
     "aten.squeeze", "aten.unsqueeze", "aten.squeeze_", "aten.unsqueeze_", "aten.permute",
     "aten.transpose", "aten.transpose_", "aten.t", "aten.t_", "aten.expand", "aten.expand_as",
     "aten.slice", "aten.select", "aten.split", "aten.split_with_sizes", "aten.unsafe_split",
     "aten.chunk", "aten.unbind", "aten.narrow", "aten.as_strided", "aten.alias", "aten.detach",
     "aten.view_as", "aten.movedim", "aten.swapaxes", "aten.lift_fresh", "aten.detach_",
     "aten.meshgrid", "aten.unfold", "aten.diagonal", "aten.view_as_real", "aten.view_as_complex",
     "aten.broadcast_tensors", "aten.tensor_split", "aten.hsplit", "aten.vsplit", "aten.atleast_1d", "aten.atleast_2d", "aten.atleast_3d",
     kind="view", reason="a view: no arithmetic and no copy (meshgrid: expanded views; "
                         "Tensor.unfold: a strided window view)")
free("aten.dropout", "aten.feature_dropout", "aten.alpha_dropout", "aten.feature_alpha_dropout",
     "aten.dropout_", "aten.feature_dropout_", "aten.alpha_dropout_", "aten.feature_alpha_dropout_",
     kind="view", reason="identity at inference (eval mode)")
free("aten.item", "aten._local_scalar_dense", "aten.is_nonzero", "aten.is_same_size",
     "torchvision._cuda_version",
     kind="view", reason="reads one value (or metadata, a library version) back to Python: no tensor arithmetic")
free("aten.empty", "aten.empty_like", "aten.empty_strided", "aten.new_empty",
     "aten.new_empty_strided", "aten.zeros", "aten.zeros_like", "aten.ones", "aten.ones_like",
     "aten.full", "aten.full_like", "aten.new_zeros", "aten.new_ones", "aten.new_full",
     "aten.arange", "aten.randn", "aten.rand", "aten.randn_like", "aten.rand_like",
     "aten.scalar_tensor", "aten.zero_", "aten.fill_", "aten.linspace", "aten.eye",
     kind="create", reason="tensor creation: no arithmetic (initialised memory counts as written)")


# ------------------------------------------------------------------- quantized ops (torch.ao)
# Captured on the CPU: quantized kernels have no meta implementation (see walk/quantized.py). A
# packed weight arrives as a PackedWeight (the int8 weight's shape and dtype, plus its fp32 bias
# bytes), so a quantized conv or linear has exactly the MACs of its float counterpart and its bytes
# at the integer dtypes. Element-wise ops cost what their float forms cost; a fused ReLU adds the
# float ReLU's 1 flop per output element. Requantisation (rescaling the int32 accumulator to the
# output's scale and zero point) is not counted, as the float model has no such step.
def _fused_relu(base: Pricer) -> Pricer:
    """``base`` plus 1 flop per output element for the fused ReLU."""

    def price(ev: OpEvent) -> Work:
        """The op's own work plus its ReLU."""
        work = base(ev)
        return work._replace(flops=work.flops + _out(ev).numel)

    return price


_Q_CONV = tuple(f"quantized.conv{n}d" for n in (1, 2, 3)) + tuple(
    f"quantized.conv_transpose{n}d" for n in (1, 2, 3))
_Q_CONV_RELU = tuple(f"quantized.conv{n}d_relu" for n in (1, 2, 3))
_Q_LINEAR = ("quantized.linear", "quantized.linear_dynamic", "quantized.linear_dynamic_fp16",
             "quantized.linear_tanh")
_Q_LINEAR_RELU = ("quantized.linear_relu", "quantized.linear_relu_dynamic", "quantized.linear_relu_dynamic_fp16")
_add(_Q_CONV, "conv", conv, "as the float conv: N*C_out*H_out*W_out*(C_in/groups)*kH*kW MACs from the "
     "packed weight; bytes at int8 (activations quint8, weight qint8) plus the fp32 bias")
_add(_Q_CONV_RELU, "conv", _fused_relu(conv), "as the float conv, plus 1 flop per output element (fused ReLU)")
_add(_Q_LINEAR, "linear", linear, "as the float linear: in_features*out_features MACs per row from the "
     "packed weight (dynamic: float activations, int8 weight; linear_tanh's tanh not counted)")
_add(_Q_LINEAR_RELU, "linear", _fused_relu(linear), "as the float linear, plus 1 flop per output element (fused ReLU)")
_add(("quantized.add", "quantized.mul", "quantized.add_scalar", "quantized.mul_scalar", "quantized.add_out",
      "quantized.mul_out"), "eltwise", per_element(1), "1 flop per output element, as float add and mul")
_add(("quantized.add_relu", "quantized.mul_relu", "quantized.add_scalar_relu", "quantized.mul_scalar_relu"),
     "eltwise", per_element(2), "2 flops per output element: the add or mul, then the fused ReLU")
_add(("quantized.hardswish",), "act", per_element(5), "5 flops per element, as float hardswish")
_add(("quantized.sigmoid", "quantized.elu", "quantized.celu"), "act", per_element(3),
     "3 flops per element, as their float forms")
_add(("quantized.leaky_relu", "quantized.relu6"), "act", per_element(2), "2 flops per element, as float "
     "leaky_relu and relu6")
_add(("quantized.threshold",), "act", per_element(1), "1 flop per element, as float threshold")
_add(("quantized.batch_norm1d", "quantized.batch_norm2d", "quantized.batch_norm3d", "quantized.batch_norm"),
     "bn", per_element(2), "2 flops per element: eval batch norm's scale and shift")
_add(("quantized.batch_norm2d_relu", "quantized.batch_norm3d_relu"), "bn", per_element(3),
     "3 flops per element: scale, shift and the fused ReLU")
_add(("quantized.layer_norm", "quantized.group_norm", "quantized.instance_norm"), "norm", per_element(8),
     "8 flops per element: run-time statistics (6) and the affine weight (2), as the float norms with a weight")
_add(("quantized.cat_relu",), "eltwise", per_element(1), "1 flop per output element: the fused ReLU (the "
     "concat itself moves data)")
free("quantized.cat", "quantized.cat_out", kind="move", reason="data movement only: a concat of quantized tensors")
_add(("aten.quantize_per_tensor", "aten.quantize_per_channel", "aten.quantize_per_tensor_dynamic"), "move",
     per_element(4), "a conversion: 4 flops per element (multiply by 1/scale, round, add the zero point, "
     "saturate); the dynamic form's min/max scan is not counted")
_add(("aten.dequantize",), "move", per_element(2), "a conversion: 2 flops per element (subtract the zero "
     "point, multiply by the scale)")
_add(("aten.fake_quantize_per_tensor_affine", "aten.fake_quantize_per_channel_affine"), "eltwise",
     per_element(6), "quantize (4) and dequantize (2) in one op: 6 flops per element")
free("aten.q_scale", "aten.q_zero_point", "aten.q_per_channel_scales", "aten.q_per_channel_zero_points",
     "aten.qscheme", kind="view", reason="reads a quantized tensor's metadata: no arithmetic")
free("aten.int_repr", kind="move", reason="a quantized tensor's integers as a plain tensor: a copy")


# ---------------------------------------------------------------------------- complex operands
# NB: a complex element is two reals, and each op on complex operands is priced at its real
# arithmetic: add/sub/neg 2; mul 6 (4 mul + 2 add; 2 when one operand is real); div 11 (the
# denominator c^2+d^2: 3, the numerators: 6, two divides; 2 by a real); abs 4 (2 mul, 1 add, 1 sqrt,
# as the real count of the modulus); exp 5 (exp, cos, sin, 2 mul); a sum 2 per input element.
# Any other op that would be priced on complex operands is reported unsupported, not guessed.
COMPLEX_RULES: dict[str, Rule] = {}
_ANY_DTYPE = frozenset({"view", "move", "create"})  # no arithmetic: the same on complex operands


def _complex_operands(ev: OpEvent) -> int:
    """How many of the op's (first two) tensor arguments are complex."""
    return sum("complex" in t.dtype for t in ev.tensors()[:2])


def _complex_product(both: int, one: int) -> Pricer:
    """``both`` flops per output element when both operands are complex, ``one`` when one is real."""

    def price(ev: OpEvent) -> Work:
        """Real flops per complex output element."""
        per = both if _complex_operands(ev) == 2 else one
        return Work(0, per * max(_out(ev).numel, _first(ev).numel))

    return price


def _complex(ops: tuple[str, ...], price: Pricer, doc: str) -> None:
    """Register the complex-operand form of ``ops`` (each must have a real-operand rule)."""
    for op in ops:
        COMPLEX_RULES[op] = Rule(op, RULES[op].kind, price, f"complex operands: {doc}")


_complex(_with_inplace("add", "sub", "neg") + ("aten.rsub",), per_element(2),
         "2 flops per element (real and imaginary parts)")
_complex(_with_inplace("mul", "square"), _complex_product(6, 2),
         "6 flops per element (4 mul + 2 add); 2 when one operand is real")
_complex(_with_inplace("div"), _complex_product(11, 2),
         "11 flops per element (c^2+d^2: 3, numerators: 6, 2 divides); 2 when the divisor is real")
_complex(_with_inplace("abs"), per_element(4), "4 flops per element: 2 mul, 1 add, 1 sqrt")
_complex(_with_inplace("exp"), per_element(5), "5 flops per element: exp, cos, sin, 2 mul")
_complex(("aten.sum", "aten.mean"), per_element(2), "2 flops per input element (real and imaginary adds)")
_add(("aten.conj_physical", "aten._conj_physical"), "eltwise", per_element(1),
     "1 flop per element (negates the imaginary part; a copy of a real tensor)")
_complex(("aten.conj_physical", "aten._conj_physical"), per_element(1),
         "1 flop per element (the imaginary part negated)")
free("aten.real", "aten.imag", "aten.conj", "aten._conj", "aten._neg_view", kind="view",
     reason="a view of a complex tensor (its real or imaginary part, or a lazily conjugated view)")
free("aten.complex", "aten.resolve_conj", "aten.resolve_neg", kind="move",
     reason="data movement only: two real tensors interleaved into a complex one, or a lazy "
            "conjugate/negation materialised as a copy")
