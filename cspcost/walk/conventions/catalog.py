"""The counting conventions (``--convention``): what each counts, and where its numbers come from.

- ``pytorch`` (default): every op priced by cspcost's own rules, every parameter counted.
- ``darknet``: as the CSPNet paper counted (darknet's own totals): FLOPs = 2 x conv/connected MACs
  plus local pool window operations (``size^2 x C x H_out x W_out``); BN, activation, shortcut,
  route, global avg-pool, upsample and softmax free; params = conv (and connected) weights only.
- ``torchvision``, ``timm``, ``ultralytics``: the numbers those ecosystems publish, from the
  per-op rules of the tool each one uses (``counting.py``): ``macs`` is that tool's count and
  ``flops = 2 x macs``.

Every convention is applied to the one capture of the model: no second walk, no peer library run.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from cspcost.errors import UsageError
from cspcost.walk.conventions.cio import CIO_KINDS
from cspcost.walk.conventions.counting import (
    FVCORE,
    THOP_HOOKS,
    TORCHVISION_OPS,
    RuleSet,
    make_site,
)
from cspcost.walk.records import OpCost, OpEvent

if TYPE_CHECKING:  # torch only where a model is prepared: budgets validate names without it
    from torch import nn

    from cspcost.walk.capture import Capture

_DARKNET_FLOPS = frozenset({"conv", "linear", "matmul", "maxpool", "avgpool"})
# darknet prices an XNOR conv at 1/32 of its FLOPs (make_convolutional_layer:
# ``if (l.xnor) l.bflops = l.bflops / 32``): 32 binary products per XNOR-popcount word.
_DARKNET_DIVISORS = {"XnorConvolutional": 32}


@dataclass(frozen=True)
class About:
    """What a convention counts and whose numbers it reproduces, for ``cspcost conventions``."""

    name: str
    source: str  # where the numbers it reproduces are published
    macs: str  # what totals.macs holds
    params: str  # what totals.params holds
    counting: RuleSet | None = None  # a peer tool's per-op rules (None: cspcost's own prices)
    cio: str = "hardnet"  # the default CIO convention
    fold_bn: bool = False  # BN after a conv folded (free; its scale and shift become the conv's bias)


CATALOG: dict[str, About] = {c.name: c for c in (
    About("pytorch", "cspcost's own rules (cspcost rules lists them)",
          "conv, linear and matmul MACs; flops price every op (BN, activations, pools, adds ...)",
          "every parameter"),
    About("darknet", "darknet's layer totals, as the CSPNet paper's Table 3 (arXiv 1911.11929)",
          "conv and connected MACs; flops = 2 x MACs + local pool windows, nothing else",
          "conv and connected weights only (no bias, no BN)", cio="cspnet"),
    About("torchvision", "torchvision weights metadata _ops (docs column GFLOPS; pytorch/vision PR 6936)",
          "conv, linear and matrix-product MACs only; flops = 2 x macs", "every parameter (num_params)",
          TORCHVISION_OPS),
    About("timm", "timm results/benchmark-infer-*.csv infer_gmacs = fvcore FlopCountAnalysis(...).total()",
          "fvcore's default handles: conv/linear/matmul MACs + eval BN 1-2, norms 4-5, adaptive avg pool 1 "
          "per input, upsample nearest 1 / bilinear 4 per output; the rest 0; flops = 2 x macs",
          "every parameter (param_count)", FVCORE),
    About("ultralytics", "Ultralytics docs tables FLOPs (B) and params (M): thop on the fused model",
          "thop's module hooks on the model as model.fuse() leaves it (another library's model: BN folded): "
          "conv/linear MACs without bias, norms, nn.Upsample, avg pools; functional ops 0; flops = 2 x macs",
          "every parameter of the fused model (BN folded into conv biases)", THOP_HOOKS, fold_bn=True),
)}


@dataclass(frozen=True)
class Convention:
    """How raw op costs become the reported totals."""

    name: str  # a key of CATALOG
    cio: str  # a key of CIO_KINDS
    fuse_bn: bool = False  # BN right after a conv is folded into it (free), as deployment does
    shortcut_flops: bool = False  # darknet 2020+: a [shortcut] costs one add per output element

    @property
    def about(self) -> About:
        """The catalog entry: what this convention counts and where its numbers come from."""
        return CATALOG[self.name]

    @property
    def flops_kinds(self) -> frozenset[str] | None:
        """The op kinds whose flops count under cspcost's own prices; None means all."""
        return _DARKNET_FLOPS if self.name == "darknet" else None

    @property
    def conv_weights_only(self) -> bool:
        """True when ``params`` means conv (and connected) weights only, as darknet counts."""
        return self.name == "darknet"

    @property
    def fold_bn_params(self) -> bool:
        """True when a folded BN's params leave and the conv it folds into gains a bias."""
        return self.about.fold_bn

    @property
    def cio_kinds(self) -> frozenset[str]:
        """The op kinds whose input + output elements count toward CIO."""
        return CIO_KINDS[self.cio]

    def count(self, event: OpEvent, cost: OpCost, capture: Capture) -> tuple[int, int]:
        """An op's (macs, flops) under this convention."""
        rules = self.about.counting
        if rules is not None:
            n = rules.count(make_site(event, cost, capture.module_types, capture.module_bases))
            return n, 2 * n
        counted = self.flops_kinds is None or cost.kind in self.flops_kinds
        if not counted:
            return cost.macs, 0
        module_type = capture.module_types.get(event.module, "?")
        divisor = _DARKNET_DIVISORS.get(module_type, 1) if self.name == "darknet" and cost.kind == "conv" else 1
        return cost.macs, cost.flops if divisor == 1 else (cost.flops + divisor // 2) // divisor

    def prepare(self, model: nn.Module) -> nn.Module:
        """The module to capture: under ``ultralytics``, Ultralytics' fuse on a meta copy."""
        if self.name == "ultralytics":
            from cspcost.walk.conventions.fusion import fused_copy

            return fused_copy(model) or model
        return model

    def label(self) -> str:
        """A short label for tables and plots, e.g. ``darknet, CIO cspnet``."""
        fused = ", BN fused" if self.fuse_bn and not self.about.fold_bn else ""
        shortcuts = ", shortcut adds counted" if self.shortcut_flops else ""
        return f"{self.name}, CIO {self.cio}{fused}{shortcuts}"


def make_convention(name: str = "pytorch", cio: str | None = None, fuse_bn: bool = False,
                    shortcut_flops: bool = False) -> Convention:
    """Validate the names; each convention brings its default CIO (darknet: cspnet, else hardnet)."""
    if name not in CATALOG:
        raise UsageError(f"unknown convention {name!r}; use {', '.join(CATALOG)}")
    cio = cio or CATALOG[name].cio
    if cio not in CIO_KINDS:
        raise UsageError(f"unknown CIO convention {cio!r}; use {', '.join(CIO_KINDS)}")
    return Convention(name, cio, fuse_bn or CATALOG[name].fold_bn, shortcut_flops)
