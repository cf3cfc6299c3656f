"""Every ecosystem's published figures beside cspcost's, each under the convention that reproduces it.

The figures are as their sources print them (to the printed digit; an exact integer where the
source gives one): torchvision's weights metadata (``_ops`` in G, ``num_params``), timm's
``results/benchmark-infer-*.csv`` (``infer_gmacs``, ``param_count`` in M), Ultralytics' docs
tables at 640 (FLOPs (B), params (M)), HarDNet's Table 4 (CIO in M at 224). The CSPNet paper's
Table 3 has its own table in the zoo report.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import pandas as pd

from cspcost.walk.analysis import AnalysisResult, analyze


@dataclass(frozen=True)
class Published:
    """One printed figure: where, for which model, and how cspcost reproduces it."""

    ecosystem: str  # "torchvision", "timm", "ultralytics", "HarDNet"
    spec: str  # the model spec cspcost analyses
    metric: str  # a totals key: macs, flops, params, cio_elems
    scale: float  # the printed unit (1e9 for G, 1e6 for M)
    figure: str  # as printed, e.g. "4.089"
    convention: str
    cio: str | None = None
    source: str = ""


def _ultralytics(name: str, gflops: str, mparams: str) -> list[Published]:
    """A row of the Ultralytics docs table: FLOPs (B) and params (M) at 640."""
    source = "docs.ultralytics.com model table (640)"
    return [Published("ultralytics", f"ultralytics:{name}.yaml", "flops", 1e9, gflops, "ultralytics", source=source),
            Published("ultralytics", f"ultralytics:{name}.yaml", "params", 1e6, mparams, "ultralytics", source=source)]


_TV = "torchvision weights meta _ops / num_params"
_TIMM = "timm results/benchmark-infer-amp-nchw-*.csv"
_HARDNET = "HarDNet (Chao et al., ICCV 2019) Table 4"
PUBLISHED: tuple[Published, ...] = (
    Published("torchvision", "torchvision:resnet50", "macs", 1e9, "4.089", "torchvision", source=_TV),
    Published("torchvision", "torchvision:resnet50", "params", 1, "25557032", "torchvision", source=_TV),
    Published("torchvision", "torchvision:mobilenet_v2", "macs", 1e9, "0.301", "torchvision", source=_TV),
    Published("torchvision", "torchvision:mobilenet_v2", "params", 1, "3504872", "torchvision", source=_TV),
    Published("timm", "timm:cspresnet50", "macs", 1e9, "4.54", "timm", source=_TIMM),
    Published("timm", "timm:cspresnet50", "params", 1e6, "21.62", "timm", source=_TIMM),
    Published("timm", "timm:cspresnext50", "macs", 1e9, "4.05", "timm", source=_TIMM),
    Published("timm", "timm:cspresnext50", "params", 1e6, "20.57", "timm", source=_TIMM),
    *_ultralytics("yolov5nu", "7.7", "2.6"), *_ultralytics("yolov8n", "8.7", "3.2"), *_ultralytics("yolov8s", "28.6", "11.2"),
    *_ultralytics("yolov8m", "78.9", "25.9"), *_ultralytics("yolov8x", "257.8", "68.2"),
    *_ultralytics("yolo11n", "6.5", "2.6"), *_ultralytics("yolo11s", "21.5", "9.4"),
    *_ultralytics("yolo11m", "68.0", "20.1"), *_ultralytics("yolo11l", "86.9", "25.3"),
    *_ultralytics("yolo11x", "194.9", "56.9"),
    *(Published("HarDNet", f"torchvision:{name}", "cio_elems", 1e6, figure, "pytorch", "hardnet", _HARDNET)
      for name, figure in (("resnet18", "4.7"), ("vgg16", "22.6"), ("densenet121", "21.9"),
                           ("densenet201", "31.8"), ("mobilenet_v2", "13.4"))),
)


def _printed(value: float, figure: str) -> str:
    """``value`` at the figure's printed precision (an integer figure: the exact integer)."""
    decimals = len(figure.partition(".")[2])
    return f"{value:.{decimals}f}"


def published_table(figures: tuple[Published, ...] | None = None,
                    progress: Callable[[int, int], None] | None = None) -> pd.DataFrame:
    """One row per published figure: the figure, cspcost's value at the same precision, whether they agree.

    Each (spec, convention, cio) is analysed once, at the spec's own default input.
    Args:
        figures: the figures to reproduce (default: PUBLISHED, every one).
        progress: called with (figures done, figures).
    """
    figures = PUBLISHED if figures is None else figures
    done: dict[tuple[str, str, str | None], AnalysisResult] = {}
    rows = []
    for i, fig in enumerate(figures):
        key = (fig.spec, fig.convention, fig.cio)
        if key not in done:
            done[key] = analyze(fig.spec, convention=fig.convention, cio=fig.cio)
        result = done[key]
        ours = _printed(result.totals[fig.metric] / fig.scale, fig.figure)
        rows.append({"ecosystem": fig.ecosystem, "model": fig.spec.partition(":")[2].removesuffix(".yaml"),
                     "input": "x".join(map(str, result.input_shape[0][1:])), "metric": fig.metric,
                     "unit": {1e9: "G", 1e6: "M", 1: ""}[fig.scale], "published": fig.figure, "cspcost": ours,
                     "exact": int(result.totals[fig.metric]), "match": "yes" if ours == fig.figure else "NO",
                     "convention": fig.convention + (f", --cio {fig.cio}" if fig.cio else ""), "source": fig.source})
        if progress:
            progress(i + 1, len(figures))
    return pd.DataFrame(rows)
