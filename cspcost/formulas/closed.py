"""Closed forms of the CSPNet paper (Sec. 3.1) on plain integers, and their generalisations.

Symbols follow the paper: a base feature map of ``w x h x c``, growth rate ``d``, ``m`` dense
layers. Dense layer ``i`` (1-based) reads the running concatenation, ``c + (i-1)*d`` channels, and
writes ``d``. CIO is HarDNet's (Chao et al., ICCV 2019, Eq. 1): input plus output elements of
every conv layer. ``gamma`` is the split ratio: the share of the base channels entering the block
path (the paper's partial dense block has gamma = 1/2). Exact rational arithmetic throughout.
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

Number = int | Fraction


def dense_block_cio(c: int, d: int, m: int, w: int = 1, h: int = 1) -> Number:
    """Paper, Sec. 3.1: CIO of a dense block = ``w*h*(c*m + (m^2 + m)*d/2)``."""
    return w * h * (c * m + Fraction((m * m + m) * d, 2))


def partial_dense_block_cio(c: int, d: int, m: int, w: int = 1, h: int = 1) -> Number:
    """Paper, Sec. 3.1: CIO of a partial dense block = ``w*h*(c*m + (m^2 + m)*d)/2``."""
    return w * h * Fraction(c * m + (m * m + m) * d, 2)


def split_channels(c: int, gamma: Fraction) -> int:
    """``gamma * c``, the channels entering the block path; it must be a whole number."""
    gc = Fraction(gamma) * c
    if gc.denominator != 1 or not 0 < gamma <= 1:
        raise ValueError(f"gamma*c must be a whole number of channels and 0 < gamma <= 1 (c={c}, gamma={gamma})")
    return int(gc)


def block_inputs(c_in: int, d: int, m: int) -> int:
    """Sum of the m dense layers' input widths: ``c_in*m + d*(m^2 - m)/2``."""
    return c_in * m + d * (m * m - m) // 2


@dataclass(frozen=True)
class BlockCost:
    """CIO (elements), MACs and params (conv weights, no bias) of a block and of its transitions."""

    cio_block: int
    cio_transitions: int
    macs_block: int
    macs_transitions: int
    params_block: int
    params_transitions: int

    @property
    def cio(self) -> int:
        """Block plus transitions."""
        return self.cio_block + self.cio_transitions

    @property
    def macs(self) -> int:
        """Block plus transitions."""
        return self.macs_block + self.macs_transitions

    @property
    def params(self) -> int:
        """Block plus transitions."""
        return self.params_block + self.params_transitions


def dense_path(c_in: int, d: int, m: int, k: int = 3, bottleneck: int | None = None) -> tuple[int, int, int]:
    """(CIO, MACs, params) per unit area of m dense layers on ``c_in`` channels.

    Single-conv layers (the paper's assumption): CIO ``c_in*m + (m^2+m)*d/2``, MACs and params
    ``k^2*d*S`` with ``S = c_in*m + d*(m^2-m)/2`` (the summed input widths). DenseNet-B layers
    (1x1 to ``b`` channels, then k x k to ``d``): CIO grows by ``2*m*b`` (the 1x1 output is written
    and read again), MACs and params are ``b*S + k^2*b*d*m``.
    """
    inputs = block_inputs(c_in, d, m)
    if bottleneck is None:
        return inputs + m * d, k * k * d * inputs, k * k * d * inputs
    b = bottleneck
    weights = b * inputs + k * k * b * d * m
    return inputs + 2 * m * b + m * d, weights, weights


def _transition(c_in: int, c_out: int) -> tuple[int, int, int]:
    """(CIO, MACs, params) per unit area of a 1x1 transition conv."""
    return c_in + c_out, c_in * c_out, c_in * c_out


FUSIONS = ("none", "first", "last", "csp")


def csp_block(
    c: int, d: int, m: int, w: int = 1, h: int = 1, gamma: Fraction = Fraction(1, 2), *,
    fusion: str = "none", k: int = 3, bottleneck: int | None = None,
    t1: int | None = None, t2: int | None = None,
) -> BlockCost:
    """A cross-stage partial dense block with split ``gamma`` and one of the paper's Fig. 3 fusions.

    - ``none``: split, dense path, concatenate: the partial dense block of Sec. 3.1;
    - ``first`` (fusion first): concatenate, then one transition (``c + m*d -> t2``);
    - ``last`` (fusion last): partial transition on the dense path (``gamma*c + m*d -> t1``), then
      concatenate;
    - ``csp``: partial transition, concatenate, transition (``(1-gamma)*c + t1 -> t2``).
    Defaults: no compression, ``t1 = gamma*c + m*d``, ``t2`` = the concatenation's width.
    gamma = 1 with ``none`` is the plain dense block.
    """
    if fusion not in FUSIONS:
        raise ValueError(f"fusion must be one of {FUSIONS}")
    gc = split_channels(c, gamma)
    cio, macs, params = dense_path(gc, d, m, k, bottleneck)
    dense_out = gc + m * d
    t1 = dense_out if t1 is None else t1
    transitions = []
    if fusion in ("last", "csp"):
        transitions.append(_transition(dense_out, t1))
    if fusion == "first":
        transitions.append(_transition(c + m * d, c + m * d if t2 is None else t2))
    if fusion == "csp":
        fused = c - gc + t1
        transitions.append(_transition(fused, fused if t2 is None else t2))
    area = w * h
    return BlockCost(area * cio, area * sum(t[0] for t in transitions), area * macs,
                     area * sum(t[1] for t in transitions), params, sum(t[2] for t in transitions))


def general_dense_cio(c: int, d: int, m: int, w: int, h: int, gamma: Fraction) -> Number:
    """Generalised partial dense block: ``w*h*(gamma*c*m + (m^2 + m)*d/2)``; gamma = 1 is the dense block."""
    return w * h * (Fraction(gamma) * c * m + Fraction((m * m + m) * d, 2))


def cio_savings_ratio(c: int, d: int, m: int, gamma: Fraction = Fraction(1, 2)) -> Fraction:
    """Partial / dense CIO: ``(gamma*c*m + (m^2+m)*d/2) / (c*m + (m^2+m)*d/2)``.

    It lies in ``(gamma, 1]`` and falls towards ``gamma`` as ``c`` grows against ``m*d``: the
    paper's "at most half" memory traffic saved, at gamma = 1/2.
    """
    return Fraction(general_dense_cio(c, d, m, 1, 1, gamma)) / dense_block_cio(c, d, m)


EXPLANATIONS = [
    ("dense block CIO", "w*h*(c*m + (m^2 + m)*d/2)",
     "CSPNet (Wang et al., CVPRW 2020), Sec. 3.1",
     "m single-conv dense layers; layer i reads the running concatenation c+(i-1)*d and writes d; "
     "w x h constant; CIO = conv input + output elements (HarDNet Eq. 1); transitions not counted"),
    ("partial dense block CIO", "w*h*(c*m + (m^2 + m)*d)/2",
     "CSPNet, Sec. 3.1",
     "as above on the half of the base channels that enters the block (gamma = 1/2, d unchanged); "
     "the untouched half and the transitions are not counted"),
    ("generalised (split gamma)", "w*h*(gamma*c*m + (m^2 + m)*d/2)",
     "cspcost, from Sec. 3.1",
     "gamma*c whole; gamma = 1 gives the dense block, gamma = 1/2 the paper's partial form"),
    ("DenseNet-B dense path", "w*h*(gamma*c*m + (m^2 + m)*d/2 + 2*m*b)",
     "cspcost; DenseNet-B (Huang et al., CVPR 2017)",
     "each layer is 1x1 to b channels then k x k to d: the b-wide tensor is written and read once more"),
    ("MACs / params of the dense path", "k^2*d*S per unit area, S = gamma*c*m + d*(m^2 - m)/2; "
     "DenseNet-B: b*S + k^2*b*d*m", "cspcost", "no bias; params are the same sums without w*h"),
    ("fusion first / fusion last / CSP", "+ w*h*(c_in + c_out) per 1x1 transition",
     "CSPNet Fig. 3", "first: (c + m*d -> t2); last: (gamma*c + m*d -> t1); "
     "CSP: both, the second (1-gamma)*c + t1 -> t2"),
    ("savings ratio", "(gamma*c*m + (m^2+m)*d/2) / (c*m + (m^2+m)*d/2) -> gamma as c/(m*d) grows",
     "CSPNet, Sec. 3.1 (\"at most half\")", "strictly between gamma and 1 for gamma < 1"),
]
