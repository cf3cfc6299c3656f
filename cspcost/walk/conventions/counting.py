"""How other tools count, as named per-op rules applied to cspcost's own op records.

Each peer convention is a ``RuleSet``: the tool that publishes the numbers and an ordered tuple of
``CountRule``s, each naming one thing that tool counts ("fvcore: eval batch_norm 1 or 2 per
element"). An op no rule of the set claims counts 0 under that tool, as it does there (fvcore
skips what it has no handle for; thop's module hooks never see a functional op). The counts are in
the tool's own unit, multiply-accumulates or per-element operations counted like them; a
convention reports them as ``macs`` and ``flops = 2 x macs``.

The rules are written from the tools' documented behaviour and source (fvcore's
``flop_count.py`` defaults and ``jit_handles.py``; torchvision's ``_ops`` counter from
pytorch/vision PR 6936; thop's ``profile.py`` hooks and ``vision/basic_hooks.py``), not copied.
They are defined once here, so that the conventions (``torchvision``, ``timm``, ``ultralytics``)
and a later per-peer prediction (``cspcost peers``) use the same rule for the same thing.

Adding a rule: write a function ``Site -> int`` (plain integer math on the shapes of
``site.event``, or reuse ``site.cost``), wrap it in ``CountRule(name, ops, count, modules)``
with a name of the form ``"tool: what it counts"`` and the aten ops it covers (``modules``
restricts it to ops run directly by modules of those class names, for tools that count through
module hooks), and add it to its tool's ``RuleSet``. A rule set refuses an op claimed twice.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from math import prod
from typing import Callable

from cspcost.walk.records import OpCost, OpEvent


@dataclass(frozen=True)
class Site:
    """One recorded op as a counting rule sees it: the event, cspcost's cost, the module's class."""

    event: OpEvent
    cost: OpCost
    module_type: str  # class name of the innermost module that ran the op
    # For rules that follow a tool's module hooks exactly (``cspcost peers`` fills these in):
    bases: tuple[str, ...] = ()  # the innermost module's class and its bases, most derived first
    outer: tuple[tuple[str, ...], ...] = ()  # the same for each enclosing module, outermost first


@dataclass(frozen=True)
class CountRule:
    """One named thing a tool counts, for a set of aten ops."""

    name: str  # "tool: what it counts", e.g. "fvcore: eval batch_norm 1 or 2 per element"
    ops: tuple[str, ...]
    count: Callable[[Site], int]
    modules: tuple[str, ...] | None = None  # only ops run directly by these module classes (hooks)
    where: Callable[[Site], bool] | None = None  # a further condition on the site (module ancestry)

    def applies(self, site: Site) -> bool:
        """True when the tool would see this op (module-hook tools see only their module types)."""
        return ((self.modules is None or site.module_type in self.modules)
                and (self.where is None or self.where(site)))


@dataclass(frozen=True)
class RuleSet:
    """A tool's counting: its rules, each op claimed by at most one; everything else counts 0."""

    tool: str
    rules: tuple[CountRule, ...]
    zero: str  # what the tool leaves out, one line
    # A tool that counts one call twice (ptflops: nn.ReLU's hook and its patched F.relu) stacks
    # rules: an op may then be claimed by several, and the counts of those that apply add up.
    stacked: bool = False
    _index: dict[str, tuple[CountRule, ...]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        """Index the rules by op; an op claimed twice is a bug in an unstacked set."""
        index: dict[str, tuple[CountRule, ...]] = {}
        for rule in self.rules:
            for op in rule.ops:
                if op in index and not self.stacked:
                    raise ValueError(f"{self.tool}: op {op!r} claimed by {index[op][0].name!r} and {rule.name!r}")
                index[op] = (*index.get(op, ()), rule)
        object.__setattr__(self, "_index", index)

    def rules_for(self, site: Site) -> list[CountRule]:
        """Every rule that counts this op under the tool (empty: it counts 0)."""
        return [rule for rule in self._index.get(site.event.op, ()) if rule.applies(site)]

    def claims(self, op: str) -> bool:
        """True when some rule of the set counts ``op`` (under its conditions)."""
        return op in self._index

    def rule_for(self, site: Site) -> CountRule | None:
        """The (first) rule that counts this op under the tool, or None (it counts 0)."""
        found = self.rules_for(site)
        return found[0] if found else None

    def count(self, site: Site) -> int:
        """The op's count in the tool's unit."""
        return sum(rule.count(site) for rule in self.rules_for(site))

    def without(self, prefix: str, zero: str) -> RuleSet:
        """The same set less the rules named ``prefix...`` (an older release of the tool), ``zero`` its new gap."""
        return RuleSet(self.tool, tuple(r for r in self.rules if not r.name.startswith(prefix)), zero, self.stacked)


def make_site(event: OpEvent, cost: OpCost, module_types: dict[str, str],
              module_bases: dict[str, tuple[str, ...]]) -> Site:
    """An op as the rules see it: with the classes of its module and of every module around it."""
    parts = event.module.split(".") if event.module else []
    outer = tuple(module_bases.get(".".join(parts[:i]), ()) for i in range(len(parts)))
    return Site(event, cost, module_types.get(event.module, "?"), module_bases.get(event.module, ()), outer)


# --------------------------------------------------------------------------- shared pieces
CONV_OPS = ("aten.conv1d", "aten.conv2d", "aten.conv3d", "aten.convolution", "aten._convolution",
            "aten._convolution_mode", "aten.conv_transpose1d", "aten.conv_transpose2d",
            "aten.conv_transpose3d")
PRODUCT_OPS = ("aten.linear", "aten.addmm", "aten.mm", "aten.bmm", "aten.matmul", "aten.einsum")
NORM_OPS = ("aten.batch_norm", "aten.layer_norm", "aten.group_norm", "aten.instance_norm")


def macs(site: Site) -> int:
    """cspcost's own multiply-accumulates of a conv, linear or matrix product (bias free)."""
    return site.cost.macs


def _in_elems(site: Site) -> int:
    """Elements of the op's first (activation) input."""
    return site.event.args[0].numel


def _out_elems(site: Site) -> int:
    """Elements of the op's first output."""
    return site.event.outputs[0].numel


def _has(site: Site, index: int) -> bool:
    """True when the schema argument at ``index`` (an affine weight) is a tensor."""
    args = site.event.args
    return len(args) > index and args[index] is not None


def per_input(n: int) -> Callable[[Site], int]:
    """``n`` per element of the first input."""
    return lambda site: n * _in_elems(site)


def per_output(n: int) -> Callable[[Site], int]:
    """``n`` per element of the first output."""
    return lambda site: n * _out_elems(site)


def affine_per_input(affine_index: int, with_affine: int, without: int) -> Callable[[Site], int]:
    """A normalisation's per-element count, depending on whether its weight is given."""
    return lambda site: (with_affine if _has(site, affine_index) else without) * _in_elems(site)


# cspcost peers marks an nn.MultiheadAttention that runs PyTorch's fused fast path on real tensors
# (eval, batch_first, packed in-projection with bias): there the whole attention is one op,
# aten._native_multi_head_attention, that no dispatch- or trace-based tool has a formula for. On
# meta it takes the slow path, so the capture still shows its linears and attention.
MHA_FAST_PATH = "nn.MultiheadAttention:fast path"


def not_fused(site: Site) -> bool:
    """False for an op inside an nn.MultiheadAttention that runs its fused fast path."""
    return not any(MHA_FAST_PATH in bases for bases in (site.bases, *site.outer))


# --------------------------------------------------------------------------------- fvcore
# fvcore's FlopCountAnalysis defaults: what timm publishes as infer_gmacs. fvcore traces with
# TorchScript, so its op names are the ones cspcost records (aten::conv2d is traced as
# aten::_convolution, counted the same way).
FVCORE = RuleSet("fvcore", (
    CountRule("fvcore: conv MACs, bias free", CONV_OPS, macs),
    CountRule("fvcore: linear, addmm, mm, bmm, matmul, einsum MACs", PRODUCT_OPS, macs, where=not_fused),
    CountRule("fvcore: eval batch_norm 1 or 2 per element", ("aten.batch_norm",), affine_per_input(1, 2, 1)),
    CountRule("fvcore: group_norm and layer_norm 5 per element (4 without affine)",
              ("aten.group_norm", "aten.layer_norm"), affine_per_input(2, 5, 4)),
    CountRule("fvcore: instance_norm 5 per element (4 without affine)", ("aten.instance_norm",),
              affine_per_input(1, 5, 4)),
    CountRule("fvcore: upsample_nearest2d 1 per output element", ("aten.upsample_nearest2d",), per_output(1)),
    CountRule("fvcore: upsample_bilinear2d 4 per output element", ("aten.upsample_bilinear2d",), per_output(4)),
    CountRule("fvcore: adaptive_avg_pool2d 1 per input element",
              ("aten.adaptive_avg_pool2d", "aten._adaptive_avg_pool2d"), per_input(1)),
    CountRule("fvcore: grid_sampler 4 per output element", ("aten.grid_sampler", "aten.grid_sampler_2d"),
              per_output(4)),
), zero="every other op: activations, element-wise ops, pools other than adaptive average, mean, "
        "softmax, scaled_dot_product_attention")

def attention_macs(site: Site) -> int:
    """Scaled dot-product attention as its two products: q @ k^T (L x S x E) and attn @ v (L x S x Ev)."""
    q, k, v = site.event.args[:3]
    batch = prod(q.shape[:-2])
    return batch * q.shape[-2] * k.shape[-2] * (q.shape[-1] + v.shape[-1])


# ------------------------------------------------------------------------- torchvision _ops
# PR 6936's counter was a __torch_dispatch__ mode over convolution, addmm, mm and bmm; in 2022
# nn.MultiheadAttention ran its attention as two bmm, today one scaled_dot_product_attention.
# Its counter also mapped quantized::conv2d and conv2d_relu; the quantized tables publish the float
# models' _ops, so every quantized conv and linear counts its float MACs here.
QUANTIZED_PRODUCT_OPS = tuple(f"quantized.conv{n}d{r}" for n in (1, 2, 3) for r in ("", "_relu")) + tuple(
    f"quantized.conv_transpose{n}d" for n in (1, 2, 3)) + (
    "quantized.linear", "quantized.linear_relu", "quantized.linear_dynamic", "quantized.linear_relu_dynamic",
    "quantized.linear_dynamic_fp16", "quantized.linear_relu_dynamic_fp16", "quantized.linear_tanh")
TORCHVISION_OPS = RuleSet("torchvision", (
    CountRule("torchvision: conv, linear and matrix-product MACs (quantized ones as their float forms)",
              CONV_OPS + PRODUCT_OPS + ("aten.baddbmm",) + QUANTIZED_PRODUCT_OPS, macs),
    CountRule("torchvision: attention's two matrix products (q @ k^T, attn @ v) MACs",
              ("aten.scaled_dot_product_attention",), attention_macs),
), zero="everything else: BN, activations, pools, element-wise ops, bias, softmax")


# ------------------------------------------------------------------------------ thop hooks
def _window(i: int, o: int) -> int:
    """Input elements an adaptive pool's windows read along one axis (output j spans
    [floor(j*i/o), ceil((j+1)*i/o)))."""
    return o if i == o else sum(-(-(j + 1) * i // o) - j * i // o for j in range(o))


def _adaptive_avg(site: Site) -> int:
    """One add per pooled input element (per window, overlaps counted) and one divide per output."""
    x, y = site.event.args[0], site.event.outputs[0]
    return prod(_window(i, o) for i, o in zip(x.shape, y.shape)) + y.numel


def _avg_pool(site: Site) -> int:
    """Window adds (kernel size per output element, padding included) and one divide per output."""
    return site.cost.flops + _out_elems(site)


def _softmax(site: Site) -> int:
    """Per row of n: n exps, n - 1 adds, n divides."""
    x, dim = site.event.args[0], site.event.args[1] if len(site.event.args) > 1 else -1
    n = x.shape[dim] if x.shape else 1
    return (x.numel // n) * (3 * n - 1) if n else 0


def _thop_norm(site: Site) -> int:
    """2 per element, doubled when the norm has an affine weight."""
    affine_index = 2 if site.event.op in ("aten.layer_norm", "aten.group_norm") else 1
    return 2 * _in_elems(site) * (2 if _has(site, affine_index) else 1)


_UPSAMPLE_PER_OUTPUT = {"aten.upsample_nearest1d": 0, "aten.upsample_nearest2d": 0, "aten.upsample_nearest3d": 0,
                        "aten._upsample_nearest_exact2d": 0, "aten.upsample_linear1d": 5,
                        "aten.upsample_bilinear2d": 11, "aten.upsample_bicubic2d": 259,
                        "aten.upsample_trilinear3d": 31}


# ------------------------------------------------------------------------ module-hook tools
# Tools that count through module hooks match classes exactly as they do: thop by the first class
# of the module's MRO it has a rule for, ptflops by the exact class (a subclass is invisible to it).
# The sites carry ``bases`` (class names, torch.nn classes as ``nn.Name``) and ``outer``.
def _mro_first(bases: tuple[str, ...], known: frozenset[str]) -> str | None:
    """The most derived of ``bases`` that a tool has a rule for."""
    return next((b for b in bases if b in known), None)


def _bias_per_output(site: Site) -> int:
    """One add per output element when the conv or linear is given a bias (schema argument 2)."""
    return _out_elems(site) if _has(site, 2) else 0


def _macs_and_bias(site: Site) -> int:
    """Multiply-accumulates plus one bias add per output element."""
    return macs(site) + _bias_per_output(site)


def _nn(*names: str) -> frozenset[str]:
    """torch.nn class names as ``Site.bases`` spells them."""
    return frozenset(f"nn.{n}" for n in names)


def _dims(*stems: str) -> tuple[str, ...]:
    """``Conv`` -> Conv1d, Conv2d, Conv3d."""
    return tuple(f"{s}{d}d" for s in stems for d in (1, 2, 3))


# thop.profile (ultralytics-thop 2.2.x): every module is hooked by the rule of the first class in
# its MRO that thop knows; functional products are counted while no module with a counting rule runs
# (the "thop: functional" rules: Ultralytics' docs tables predate them, see THOP_HOOKS).
_THOP_CONV = _nn(*_dims("Conv", "ConvTranspose"))
_THOP_NORM = _nn("_NormBase", "LayerNorm", "GroupNorm", "RMSNorm")
_THOP_UPSAMPLE = _nn("Upsample", "UpsamplingBilinear2d", "UpsamplingNearest2d")
_THOP_AVG = _nn(*_dims("AvgPool"))
_THOP_ADAPTIVE = _nn(*_dims("AdaptiveAvgPool"))
_THOP_SOFTMAX = _nn("Softmax", "LogSoftmax", "Softmin", "Softmax2d")
_THOP_COUNTED = (_THOP_CONV | _THOP_NORM | _THOP_UPSAMPLE | _THOP_AVG | _THOP_ADAPTIVE | _THOP_SOFTMAX
                 | _nn("Linear", "Bilinear", "PReLU", "MultiheadAttention", "Embedding", "RNN", "GRU", "LSTM",
                       "RNNCell", "GRUCell", "LSTMCell"))
_THOP_FREE = _nn("ReLU", "ReLU6", "LeakyReLU", *_dims("MaxPool", "AdaptiveMaxPool"), "_DropoutNd", "Sequential",
                 "ModuleList", "ModuleDict", "Identity", "Flatten", "Unflatten", "Unfold", "PixelShuffle",
                 "PixelUnshuffle", "ChannelShuffle", "_ConstantPadNd", "_ReflectionPadNd", "_ReplicationPadNd")
_THOP_KNOWN = _THOP_COUNTED | _THOP_FREE


def _thop_hook(classes: frozenset[str]) -> Callable[[Site], bool]:
    """True for an op run directly by a module whose thop rule is one of ``classes``."""
    return lambda site: _mro_first(site.bases, _THOP_KNOWN) in classes


def _thop_outside(site: Site) -> bool:
    """True while no running module (the op's own or an enclosing one) has a thop counting rule."""
    return all(_mro_first(b, _THOP_KNOWN) not in _THOP_COUNTED for b in (site.bases, *site.outer))


def _attention_dims(site: Site) -> tuple[int, int, int, int, int]:
    """(batch, heads, query length, key length, head dim) of an attention op's q (B, H, L, E/H) and k."""
    q, k = site.event.args[:2]
    return q.shape[0], q.shape[1], q.shape[2], k.shape[2], q.shape[3]


def _ptf_mha(site: Site) -> int:
    """ptflops' nn.MultiheadAttention hook, self-attention with in-projection bias: q scaling, the three
    projections and their bias, per head q @ k^T + softmax + attn @ v, the output projection with bias."""
    b, h, n, s, d = _attention_dims(site)
    e = h * d
    return b * (n * e + (n + 2 * s) * e * e + (n + 2 * s) * e + h * (2 * n * s * d + n * s) + n * e * (e + 1))


def _thop_mha(site: Site) -> int:
    """thop's nn.MultiheadAttention rule: q and out projections, k and v projections, both products, softmax."""
    b, h, n, s, d = _attention_dims(site)
    e = h * d
    return b * (e * (2 * n * e + s * 2 * e) + 2 * n * s * e) + b * h * n * (3 * s - 1)


THOP = RuleSet("thop", (
    CountRule("thop: conv MACs, bias free (nn.ConvNd and subclasses)", CONV_OPS, macs, where=_thop_hook(_THOP_CONV)),
    CountRule("thop: nn.Linear MACs, bias free", ("aten.linear",), macs, where=_thop_hook(_nn("Linear"))),
    CountRule("thop: norm modules 2 per element, 4 with affine (BN subclasses too)", NORM_OPS + ("aten.rms_norm",),
              _thop_norm, where=_thop_hook(_THOP_NORM)),
    CountRule("thop: nn.Upsample per output element: nearest 0, linear 5, bilinear 11, bicubic 259, trilinear 31",
              tuple(_UPSAMPLE_PER_OUTPUT), lambda site: _UPSAMPLE_PER_OUTPUT[site.event.op] * _out_elems(site),
              where=_thop_hook(_THOP_UPSAMPLE)),
    CountRule("thop: nn.AvgPool window adds + 1 divide per output", ("aten.avg_pool1d", "aten.avg_pool2d",
              "aten.avg_pool3d"), _avg_pool, where=_thop_hook(_THOP_AVG)),
    CountRule("thop: nn.AdaptiveAvgPool 1 per pooled input + 1 per output",
              ("aten.adaptive_avg_pool1d", "aten.adaptive_avg_pool2d", "aten.adaptive_avg_pool3d"), _adaptive_avg,
              where=_thop_hook(_THOP_ADAPTIVE)),
    CountRule("thop: nn.Softmax 3n - 1 per row of n", ("aten.softmax", "aten._softmax"), _softmax,
              where=_thop_hook(_THOP_SOFTMAX)),
    CountRule("thop: nn.PReLU 1 per element", ("aten.prelu",), per_input(1), where=_thop_hook(_nn("PReLU"))),
    CountRule("thop: nn.MultiheadAttention rule (4 projections, q @ k^T, attn @ v, softmax 3n - 1 per row)",
              ("aten.scaled_dot_product_attention",), _thop_mha, where=_thop_hook(_nn("MultiheadAttention"))),
    CountRule("thop: functional matmul, @, bmm, einsum, F.linear, attention MACs outside counted modules",
              ("aten.matmul", "aten.bmm", "aten.einsum", "aten.linear"), macs, where=_thop_outside),
    CountRule("thop: functional scaled_dot_product_attention's two products outside counted modules",
              ("aten.scaled_dot_product_attention",), attention_macs, where=_thop_outside),
), zero="activations, element-wise ops, concat, max pools, mean, torch.mm, Tensor.softmax, bias, "
        "F.interpolate", stacked=True)
# thop's module hooks alone, as the Ultralytics docs tables count (the ultralytics convention).
THOP_HOOKS = THOP.without("thop: functional", zero="functional ops (no module hook sees them): activations, "
                          "adds, concat, attention matmul and softmax, F.interpolate; max pools; bias")


# ptflops get_model_complexity_info, pytorch backend (its default): forward hooks on modules of
# exactly these classes, summed from the root down to the first hooked module (a hooked module's
# children are not summed), plus patched torch.nn.functional calls, counted wherever they run.
_PTF_CONV = _nn(*_dims("Conv", "ConvTranspose"))
_PTF_ACT = _nn("ReLU", "PReLU", "ELU", "LeakyReLU", "ReLU6", "GELU")
_PTF_POOL = _nn(*_dims("MaxPool", "AvgPool", "AdaptiveMaxPool", "AdaptiveAvgPool"))
_PTF_AFFINE_NORM = _nn(*_dims("BatchNorm", "InstanceNorm"), "GroupNorm")
_PTF_TIMM_ATTENTION = frozenset({"timm.layers.attention.Attention", "timm.models.vision_transformer.Attention"})
_PTF_HOOKED = (_PTF_CONV | _PTF_ACT | _PTF_POOL | _PTF_AFFINE_NORM | _PTF_TIMM_ATTENTION
               | _nn("LayerNorm", "Linear", "Upsample", "MultiheadAttention", "RNN", "GRU", "LSTM", "RNNCell",
                     "LSTMCell", "GRUCell"))
_POOL_OPS = tuple(f"aten.{p}{d}d" for p in ("max_pool", "avg_pool", "adaptive_max_pool", "adaptive_avg_pool")
                  for d in (1, 2, 3))
_UPSAMPLE_OPS = tuple(_UPSAMPLE_PER_OUTPUT)


def _ptf_hook(classes: frozenset[str]) -> Callable[[Site], bool]:
    """True for an op run by a module of exactly one of ``classes`` that ptflops' sum reaches."""
    return lambda site: (bool(site.bases) and site.bases[0] in classes
                         and not any(b and b[0] in _PTF_HOOKED for b in site.outer))


def _ptf_norm(site: Site) -> int:
    """1 per element, 2 when the module has ``affine`` set (nn.LayerNorm has no such attribute)."""
    affine_index = 2 if site.event.op == "aten.group_norm" else 1
    return _in_elems(site) * (2 if site.bases[0] in _PTF_AFFINE_NORM and _has(site, affine_index) else 1)


def _ptf_timm_attention(site: Site) -> int:
    """ptflops' timm Attention hook: q scaling, q @ k^T, softmax and attn @ v per head (projections are children)."""
    q = site.event.args[0]
    batch, heads, n, head_dim = q.shape
    return batch * heads * (n * head_dim + 2 * n * n * head_dim + n * n)


PTFLOPS = RuleSet("ptflops", (
    CountRule("ptflops: conv MACs + bias (nn.ConvNd hooks)", CONV_OPS, _macs_and_bias, where=_ptf_hook(_PTF_CONV)),
    CountRule("ptflops: nn.Linear MACs + bias", ("aten.linear",), _macs_and_bias, where=_ptf_hook(_nn("Linear"))),
    CountRule("ptflops: BN, InstanceNorm, GroupNorm 2 per element (1 without affine), LayerNorm 1",
              NORM_OPS, _ptf_norm, where=_ptf_hook(_PTF_AFFINE_NORM | _nn("LayerNorm"))),
    CountRule("ptflops: nn.ReLU, ReLU6, LeakyReLU, ELU, PReLU, GELU hooks 1 per element",
              ("aten.relu", "aten.relu_", "aten.hardtanh", "aten.hardtanh_", "aten.leaky_relu", "aten.leaky_relu_",
               "aten.elu", "aten.elu_", "aten.prelu", "aten.gelu"), per_output(1), where=_ptf_hook(_PTF_ACT)),
    CountRule("ptflops: pool module hooks 1 per input element", _POOL_OPS, per_input(1), where=_ptf_hook(_PTF_POOL)),
    CountRule("ptflops: nn.Upsample hook 1 per output element", _UPSAMPLE_OPS, per_output(1),
              where=_ptf_hook(_nn("Upsample"))),
    CountRule("ptflops: timm Attention hook (q scale, q @ k^T, softmax, attn @ v); its qkv and proj not summed",
              ("aten.scaled_dot_product_attention",), _ptf_timm_attention, where=_ptf_hook(_PTF_TIMM_ATTENTION)),
    CountRule("ptflops: nn.MultiheadAttention hook (projections + bias, q scale, q @ k^T, softmax, attn @ v)",
              ("aten.scaled_dot_product_attention",), _ptf_mha, where=_ptf_hook(_nn("MultiheadAttention"))),
    CountRule("ptflops: patched F.relu, F.elu, F.gelu, F.silu, F.prelu 1 per element (nn modules call them too)",
              ("aten.relu", "aten.relu_", "aten.elu", "aten.elu_", "aten.gelu", "aten.silu", "aten.silu_",
               "aten.prelu"), per_input(1)),
    CountRule("ptflops: patched F.*pool* 1 per input element (pool modules call them too)", _POOL_OPS, per_input(1)),
    CountRule("ptflops: patched F.interpolate 1 per output element (nn.Upsample calls it too)", _UPSAMPLE_OPS,
              per_output(1)),
    CountRule("ptflops: patched F.softmax 1 per element (as nn.Softmax calls it)", ("aten.softmax", "aten._softmax"),
              per_input(1), modules=("Softmax",)),
), zero="module classes it has no hook for (SiLU, Hardswish, Sigmoid, subclasses such as timm BatchNormAct2d), "
        "children of a hooked module, operators (+, *, @), Tensor methods (.mean, .softmax), "
        "scaled_dot_product_attention outside timm Attention", stacked=True)


# ptflops with backend="aten": a __torch_dispatch__ mode over mm, matmul, addmm, bmm, convolution.
PTFLOPS_ATEN = RuleSet("ptflops-aten", (
    CountRule("ptflops-aten: aten.convolution MACs + bias", CONV_OPS, _macs_and_bias),
    CountRule("ptflops-aten: linear as addmm: MACs + bias", ("aten.linear", "aten.addmm"), _macs_and_bias,
              where=not_fused),
    CountRule("ptflops-aten: mm, matmul, bmm, einsum MACs", ("aten.mm", "aten.matmul", "aten.bmm", "aten.einsum"),
              macs, where=not_fused),
), zero="everything else: BN, activations, pools, element-wise ops, baddbmm, scaled_dot_product_attention")


# torch.utils.flop_counter.FlopCounterMode: 2 FLOPs per MAC of convolution, mm, addmm, bmm,
# baddbmm and the CUDA attention kernels; the CPU attention kernel has no formula (0).
def _two_per_mac(site: Site) -> int:
    """2 FLOPs per multiply-accumulate, bias free."""
    return 2 * macs(site)


FLOP_COUNTER = RuleSet("flopcountermode", (
    CountRule("flopcountermode: 2 x conv MACs", CONV_OPS, _two_per_mac),
    CountRule("flopcountermode: 2 x linear, mm, addmm, bmm, baddbmm, matmul, einsum MACs",
              PRODUCT_OPS + ("aten.baddbmm",), _two_per_mac, where=not_fused),
), zero="everything else: BN, activations, pools, element-wise ops, bias; scaled_dot_product_attention on "
        "CPU (its CPU flash kernel has no formula; on CUDA it counts 2 x both products)")

PEER_RULE_SETS = {rules.tool: rules for rules in (FVCORE, PTFLOPS, PTFLOPS_ATEN, THOP, FLOP_COUNTER)}
