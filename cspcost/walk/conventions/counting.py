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
from typing import Callable, Iterable

from cspcost.walk.records import OpCost, OpEvent


@dataclass(frozen=True)
class Site:
    """One recorded op as a counting rule sees it: the event, cspcost's cost, the module's class."""

    event: OpEvent
    cost: OpCost
    module_type: str  # class name of the innermost module that ran the op


@dataclass(frozen=True)
class CountRule:
    """One named thing a tool counts, for a set of aten ops."""

    name: str  # "tool: what it counts", e.g. "fvcore: eval batch_norm 1 or 2 per element"
    ops: tuple[str, ...]
    count: Callable[[Site], int]
    modules: tuple[str, ...] | None = None  # only ops run directly by these module classes (hooks)

    def applies(self, site: Site) -> bool:
        """True when the tool would see this op (module-hook tools see only their module types)."""
        return self.modules is None or site.module_type in self.modules


@dataclass(frozen=True)
class RuleSet:
    """A tool's counting: its rules, each op claimed by at most one; everything else counts 0."""

    tool: str
    rules: tuple[CountRule, ...]
    zero: str  # what the tool leaves out, one line
    _index: dict[str, CountRule] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        """Index the rules by op; an op claimed twice is a bug in the set."""
        index: dict[str, CountRule] = {}
        for rule in self.rules:
            for op in rule.ops:
                if op in index:
                    raise ValueError(f"{self.tool}: op {op!r} claimed by {index[op].name!r} and {rule.name!r}")
                index[op] = rule
        object.__setattr__(self, "_index", index)

    def rule_for(self, site: Site) -> CountRule | None:
        """The rule that counts this op under the tool, or None (it counts 0)."""
        rule = self._index.get(site.event.op)
        return rule if rule is not None and rule.applies(site) else None

    def count(self, site: Site) -> int:
        """The op's count in the tool's unit."""
        rule = self.rule_for(site)
        return rule.count(site) if rule is not None else 0

    def amounts(self, sites: Iterable[Site]) -> dict[str, int]:
        """The total each rule contributes over ``sites``, by rule name (a tool's total, explained)."""
        totals: dict[str, int] = {}
        for site in sites:
            rule = self.rule_for(site)
            if rule is not None:
                totals[rule.name] = totals.get(rule.name, 0) + rule.count(site)
        return totals


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


# --------------------------------------------------------------------------------- fvcore
# fvcore's FlopCountAnalysis defaults: what timm publishes as infer_gmacs. fvcore traces with
# TorchScript, so its op names are the ones cspcost records (aten::conv2d is traced as
# aten::_convolution, counted the same way).
FVCORE = RuleSet("fvcore", (
    CountRule("fvcore: conv MACs, bias free", CONV_OPS, macs),
    CountRule("fvcore: linear, addmm, mm, bmm, matmul, einsum MACs", PRODUCT_OPS, macs),
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
TORCHVISION_OPS = RuleSet("torchvision", (
    CountRule("torchvision: conv, linear and matrix-product MACs", CONV_OPS + PRODUCT_OPS + ("aten.baddbmm",),
              macs),
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
_UPSAMPLE_MODULES = ("Upsample", "UpsamplingNearest2d", "UpsamplingBilinear2d")
_NORM_MODULES = ("BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "SyncBatchNorm", "LayerNorm", "GroupNorm",
                 "InstanceNorm1d", "InstanceNorm2d", "InstanceNorm3d")

THOP = RuleSet("thop", (
    CountRule("thop: conv and linear MACs, bias free (its nn.ConvNd and nn.Linear hooks)",
              CONV_OPS + ("aten.linear",), macs),
    CountRule("thop: norm modules 2 per element, 4 with affine", NORM_OPS, _thop_norm, _NORM_MODULES),
    CountRule("thop: nn.Upsample per output element: nearest 0, linear 5, bilinear 11, bicubic 259, trilinear 31",
              tuple(_UPSAMPLE_PER_OUTPUT),
              lambda site: _UPSAMPLE_PER_OUTPUT[site.event.op] * _out_elems(site), _UPSAMPLE_MODULES),
    CountRule("thop: nn.AvgPool window adds + 1 divide per output", ("aten.avg_pool1d", "aten.avg_pool2d",
              "aten.avg_pool3d"), _avg_pool, ("AvgPool1d", "AvgPool2d", "AvgPool3d")),
    CountRule("thop: nn.AdaptiveAvgPool 1 per pooled input + 1 per output",
              ("aten.adaptive_avg_pool1d", "aten.adaptive_avg_pool2d", "aten.adaptive_avg_pool3d",
               "aten._adaptive_avg_pool2d", "aten._adaptive_avg_pool3d"), _adaptive_avg,
              ("AdaptiveAvgPool1d", "AdaptiveAvgPool2d", "AdaptiveAvgPool3d")),
    CountRule("thop: nn.Softmax 3n - 1 per row of n", ("aten.softmax", "aten._softmax", "aten.log_softmax",
              "aten._log_softmax"), _softmax, ("Softmax", "LogSoftmax", "Softmin")),
    CountRule("thop: nn.PReLU 1 per element", ("aten.prelu", "aten._prelu_kernel"), per_input(1), ("PReLU",)),
), zero="functional ops (no module hook sees them): activations, adds, concat, attention matmul and "
        "softmax, F.interpolate; max pools; bias")

RULE_SETS = {rules.tool: rules for rules in (FVCORE, TORCHVISION_OPS, THOP)}
