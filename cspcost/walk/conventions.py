"""Counting conventions: which kinds of op count toward FLOPs and CIO, and which params count.

- ``pytorch`` (default): every op priced, every parameter counted, CIO as HarDNet (conv + linear).
- ``darknet``: as the CSPNet paper counted (darknet's own totals): FLOPs = 2 x conv/connected MACs
  plus local pool window operations (``size^2 x C x H_out x W_out``); BN, activation, shortcut,
  route, global avg-pool, upsample and softmax free; params = conv (and connected) weights only;
  CIO as the paper's Fig. 8 (conv, linear, max-pool and avg-pool layers, input + output).

CIO (``--cio``): ``hardnet`` counts conv and fully connected layers (an FC is a 1x1 conv on a 1x1
map); ``cspnet`` also counts every pooling layer, as behind the paper's 34.4M / 32.6M.
"""
from __future__ import annotations

from dataclasses import dataclass

from cspcost.errors import UsageError

CIO_KINDS: dict[str, frozenset[str]] = {
    "hardnet": frozenset({"conv", "linear"}),
    "cspnet": frozenset({"conv", "linear", "maxpool", "avgpool", "globalpool"}),
}
_DARKNET_FLOPS = frozenset({"conv", "linear", "matmul", "maxpool", "avgpool"})


@dataclass(frozen=True)
class Convention:
    """How raw op costs become the reported totals."""

    name: str  # "pytorch" or "darknet"
    cio: str  # "hardnet" or "cspnet"
    fuse_bn: bool = False  # BN right after a conv is folded into it (free), as deployment does
    shortcut_flops: bool = False  # darknet 2020+: a [shortcut] costs one add per output element

    @property
    def flops_kinds(self) -> frozenset[str] | None:
        """The op kinds whose flops count; None means all."""
        return _DARKNET_FLOPS if self.name == "darknet" else None

    @property
    def conv_weights_only(self) -> bool:
        """True when ``params`` means conv (and connected) weights only, as darknet counts."""
        return self.name == "darknet"

    @property
    def cio_kinds(self) -> frozenset[str]:
        """The op kinds whose input + output elements count toward CIO."""
        return CIO_KINDS[self.cio]

    def label(self) -> str:
        """A short label for tables and plots, e.g. ``darknet, CIO cspnet``."""
        fused = ", BN fused" if self.fuse_bn else ""
        shortcuts = ", shortcut adds counted" if self.shortcut_flops else ""
        return f"{self.name}, CIO {self.cio}{fused}{shortcuts}"


def make_convention(name: str = "pytorch", cio: str | None = None, fuse_bn: bool = False,
                    shortcut_flops: bool = False) -> Convention:
    """Validate the names; darknet defaults to the CSPNet CIO convention, pytorch to HarDNet's."""
    if name not in ("pytorch", "darknet"):
        raise UsageError(f"unknown convention {name!r}; use pytorch or darknet")
    cio = cio or ("cspnet" if name == "darknet" else "hardnet")
    if cio not in CIO_KINDS:
        raise UsageError(f"unknown CIO convention {cio!r}; use hardnet or cspnet")
    return Convention(name, cio, fuse_bn, shortcut_flops)
