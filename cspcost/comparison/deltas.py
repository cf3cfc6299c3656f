"""Models side by side: one summary row per analysis, deltas against the first (no torch here)."""
from __future__ import annotations

from typing import Any, Protocol, Sequence

import pandas as pd

DELTA_KEYS = ["params", "conv_weight_params", "macs", "flops", "cio_elems", "bytes",
              "bottleneck_flops", "peak_activation_bytes", "latency_ms"]


class Analysed(Protocol):
    """What a summary needs of an AnalysisResult."""

    model: str
    input_shape: list[tuple[int, ...]]
    totals: dict[str, Any]
    layers: pd.DataFrame
    bottleneck: tuple[str, int]


def label(result: Analysed) -> str:
    """'resnext50 @256x256': the model and its input, as legends and tables name it."""
    shape = result.input_shape[0]
    return f"{result.model} @{'x'.join(map(str, shape[2:]))}" if len(shape) > 2 else result.model


def summary_row(result: Analysed, latency_ms: float | None = None) -> dict[str, Any]:
    """The comparison row of one model."""
    totals, layers = result.totals, result.layers
    name, flops = result.bottleneck
    return {
        "model": result.model, "input": "x".join(map(str, result.input_shape[0][1:])),
        "params": totals["params"], "conv_weight_params": totals["conv_weight_params"],
        "macs": totals["macs"], "flops": totals["flops"], "cio_elems": totals["cio_elems"],
        "bytes": totals["bytes_read"] + totals["bytes_written"],
        "bottleneck_flops": flops, "bottleneck_layer": name,
        "layers": int((layers["ops"] > 0).sum()), "weighted_layers": int((layers["macs"] > 0).sum()),
        "peak_activation_bytes": totals["peak_activation_bytes"], "latency_ms": latency_ms,
    }


def table(rows: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """Summary rows plus ``<key>_delta_pct`` columns: each model against the first, in percent."""
    frame = pd.DataFrame(list(rows))
    for key in DELTA_KEYS:
        base = frame[key].iloc[0]
        if base is None or pd.isna(base) or base == 0:
            frame[f"{key}_delta_pct"] = None
        else:
            frame[f"{key}_delta_pct"] = 100.0 * (frame[key].astype(float) / float(base) - 1.0)
    return frame


def bottleneck_reduction(frame: pd.DataFrame, i: int) -> float:
    """The paper's "reduces the computational bottleneck by X%": 1 - max_layer(i)/max_layer(0)."""
    return 1.0 - frame["bottleneck_flops"].iloc[i] / frame["bottleneck_flops"].iloc[0]
