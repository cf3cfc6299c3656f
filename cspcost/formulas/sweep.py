"""Closed forms against the walker: build the blocks each formula assumes, measure, compare.

``sweep`` checks a grid of (c, d, m, w, h, gamma, k, fusion) exactly; ``zoo_dense_blocks`` runs the
formulas against the dense blocks of the zoo's DenseNet-201 models and says which assumption
breaks (DenseNet-B bottlenecks) and by how much.
"""
from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass
from fractions import Fraction
from typing import Callable, Iterable, Sequence

import pandas as pd
import torch

from cspcost.errors import UsageError
from cspcost.formulas import FUSIONS, csp_block, general_dense_cio, split_channels
from cspcost.shapes import parse_fraction_list, parse_int_list
from cspcost.walk.analysis import analyze, measure_rows

SweepProgress = Callable[[int, int], None]


@dataclass(frozen=True)
class BlockConfig:
    """One point of the grid: the paper's symbols plus the fusion and the dense-layer form."""

    c: int
    d: int
    m: int
    w: int
    h: int
    gamma: Fraction
    k: int = 3
    fusion: str = "none"
    bottleneck: int | None = None  # None: single-conv dense layers (the paper's assumption)


DEFAULT_GRID = {
    "c": (32, 64, 256), "d": (16, 32), "m": (1, 3, 6), "size": (8, 14),
    "gamma": (Fraction(1, 4), Fraction(1, 2), Fraction(1)), "k": (1, 3), "fusion": FUSIONS,
}


def grid(c: Sequence[int], d: Sequence[int], m: Sequence[int], size: Sequence[int],
         gamma: Sequence[Fraction], k: Sequence[int], fusion: Sequence[str],
         bottleneck: Sequence[int | None] = (None,)) -> list[BlockConfig]:
    """Every combination (square maps of each ``size``), skipping splits that are not whole channels.

    Raises:
        UsageError: a value outside what the closed forms assume (a size, count or width below 1,
            an even kernel, a bottleneck width below 1, a split ratio outside (0, 1]).
    """
    _check_grid(c, d, m, size, gamma, k, bottleneck)
    configs = []
    for ci, di, mi, s, g, ki, f, b in itertools.product(c, d, m, size, gamma, k, fusion, bottleneck):
        if (Fraction(g) * ci).denominator == 1:
            configs.append(BlockConfig(ci, di, mi, s, s, Fraction(g), ki, f, b))
    return configs


def _check_grid(c: Sequence[int], d: Sequence[int], m: Sequence[int], size: Sequence[int],
                gamma: Sequence[Fraction], k: Sequence[int], bottleneck: Sequence[int | None]) -> None:
    """Refuse, in one line, any grid value the closed forms do not cover (before building anything)."""
    for name, values in (("c", c), ("d", d), ("m", m), ("size", size), ("kernel", k)):
        if not values or any(not isinstance(v, int) or v < 1 for v in values):
            raise UsageError(f"--{name} values must be integers of at least 1, got {list(values)}")
    if any(v % 2 == 0 for v in k):
        raise UsageError(f"--kernel values must be odd (the closed forms assume 'same' padding, "
                         f"which an even kernel cannot keep), got {list(k)}")
    if any(b is not None and (not isinstance(b, int) or b < 1) for b in bottleneck):
        raise UsageError(f"--bottleneck must be a width of at least 1 channel, got {[b for b in bottleneck if b is not None]}")
    if not gamma or any(not 0 < g <= 1 for g in gamma):
        raise UsageError(f"--gamma values must lie in (0, 1], got {[str(g) for g in gamma]}")
def parse_grid(c: str, d: str, m: str, size: str, gamma: str, kernel: str, fusion: str,
               bottleneck: int | None = None) -> list[BlockConfig]:
    """The grid from comma-separated text as ``cspcost formulas`` takes it (``"32,64"``, ``"1/4,1/2"``)."""
    fusions = [f.strip() for f in fusion.split(",") if f.strip()]
    unknown = [f for f in fusions if f not in FUSIONS]
    if unknown or not fusions:
        raise UsageError(f"unknown fusion {', '.join(unknown) or '(none)'}; use {', '.join(FUSIONS)}")
    return grid(parse_int_list(c), parse_int_list(d), parse_int_list(m), parse_int_list(size),
                parse_fraction_list(gamma), parse_int_list(kernel), fusions, [bottleneck])


def _module(cfg: BlockConfig) -> torch.nn.Module:
    """The reference block for a config, built on meta (no weights)."""
    from cspcost_models.blocks import PartialDenseBlock

    with torch.device("meta"):
        return PartialDenseBlock(cfg.c, cfg.d, cfg.m, split_channels(cfg.c, cfg.gamma), k=cfg.k,
                                 fusion=cfg.fusion, bottleneck=cfg.bottleneck)


def check_block(cfg: BlockConfig) -> dict[str, object]:
    """Closed form and walker measurement of one block, side by side."""
    expected = csp_block(cfg.c, cfg.d, cfg.m, cfg.w, cfg.h, cfg.gamma, fusion=cfg.fusion, k=cfg.k,
                         bottleneck=cfg.bottleneck)
    result = measure_rows(_module(cfg), (cfg.c, cfg.h, cfg.w))  # no DataFrame: 864 of these
    measured = {
        "cio_block": sum(row["cio_elems"] for row in result.rows if row["name"].startswith("dense.")),
        "cio": result.totals["cio_elems"], "macs": result.totals["macs"],
        "params": result.totals["conv_weight_params"],
    }
    row: dict[str, object] = {**asdict(cfg), "gamma": str(cfg.gamma)}
    for key, value in measured.items():
        row[f"{key}_formula"] = int(getattr(expected, key))
        row[f"{key}_measured"] = value
    row["agree"] = all(row[f"{key}_formula"] == row[f"{key}_measured"] for key in measured)
    return row


def sweep(configs: Iterable[BlockConfig], progress: SweepProgress | None = None) -> pd.DataFrame:
    """Check every config; one row each, with an ``agree`` column."""
    configs = list(configs)
    rows = []
    for i, cfg in enumerate(configs):
        rows.append(check_block(cfg))
        if progress:
            progress(i + 1, len(configs))
    return pd.DataFrame(rows)


def zoo_dense_blocks(names: Sequence[str] = ("densenet201", "cspdensenet201")) -> pd.DataFrame:
    """Formula vs walker for every dense block of the zoo's DenseNet-201 models.

    The paper's formula assumes single-conv dense layers; the zoo's are DenseNet-B (1x1 to b,
    then 3x3 to d), which writes and reads a b-wide tensor once more per layer: the difference
    must be exactly ``2*m*b*w*h``. Transitions and pools are outside the formula; their CIO is
    reported beside it.
    """
    rows = []
    for name in names:
        from cspcost.sources.resolve import build, resolve

        resolved = resolve(name)
        model = build(resolved)
        result = analyze(model, resolved.input_size)
        for index, stage in enumerate(model.stages):
            rows.append(_stage_row(name, index, stage, result.layers))
    return pd.DataFrame(rows)


def _stage_row(name: str, index: int, stage: torch.nn.Module, layers: pd.DataFrame) -> dict[str, object]:
    """One dense block: its shape, the formula, the measurement and the explained difference."""
    first = stage.blocks[0]
    c_in, b = first.conv1.conv.in_channels, first.conv1.conv.out_channels
    d, m = first.conv2.conv.out_channels, len(stage.blocks)
    prefix = f"stages.{index}."
    in_stage = layers[layers["name"].str.startswith(prefix)]
    in_block = in_stage[in_stage["name"].str.startswith(prefix + "blocks.")]
    h, w = in_block.iloc[0]["out_shape"][-2:]
    formula = int(general_dense_cio(c_in, d, m, w, h, Fraction(1)))
    measured = int(in_block["cio_elems"].sum())
    bottleneck_term = 2 * m * b * w * h
    return {
        "model": name, "stage": index, "c_in": c_in, "d": d, "m": m, "b": b, "w": w, "h": h,
        "cio_formula": formula, "cio_measured": measured, "difference": measured - formula,
        "difference_pct": 100 * (measured - formula) / formula,
        "bottleneck_term": bottleneck_term, "unexplained": measured - formula - bottleneck_term,
        "cio_outside_block": int(in_stage["cio_elems"].sum()) - measured,
        "broken_assumption": f"DenseNet-B layers (1x1 to b={b}): +2*m*b*w*h",
    }
