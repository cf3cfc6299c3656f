"""``cspcost report``: the committed reference report (every zoo CSP pair, Table 3, today's CSP
models from timm and Ultralytics, every ecosystem's published figures beside cspcost's, an index)."""
from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Callable

import pandas as pd

from cspcost.comparison.engine import tabulate
from cspcost.comparison.output import write_report
from cspcost.render.export import to_markdown
from cspcost.render.files import write_atomic
from cspcost.walk.analysis import AnalysisResult, analyze

# Today's cross-stage partial models beside their predecessors: (convention, common input or
# None for each model's own, specs). Ultralytics' nano line C3 (YOLOv5u) -> C2f (YOLOv8) -> C3k2
# + C2PSA (YOLO11); timm's CSP backbones against their plain versions, both at 256.
MODERN: tuple[tuple[str, tuple[int, ...] | None, tuple[str, ...]], ...] = (
    ("ultralytics", None, ("ultralytics:yolov5nu.yaml", "ultralytics:yolov8n.yaml", "ultralytics:yolo11n.yaml")),
    ("timm", (3, 256, 256), ("timm:resnet50", "timm:cspresnet50")),
    ("timm", (3, 256, 256), ("timm:darknet53", "timm:cspdarknet53")),
)
_LIBRARIES = ("timm", "torchvision", "ultralytics")


def zoo_pairs() -> list[tuple[str, ...]]:
    """Every (baseline, CSP model) pair of the zoo, plus the Fig. 7 detectors when registered."""
    import cspcost_models as zoo

    pairs = [(zoo.get(n).baseline, n) for n in zoo.list_models() if zoo.get(n).baseline]
    detectors = ("peleenet_yolo", "peleenet_prn", "csppeleenet_efm")
    if all(d in zoo.list_models() for d in detectors):
        pairs.append(detectors)
    return pairs



def table3(analyses: dict[str, AnalysisResult] | None = None) -> pd.DataFrame:
    """The paper's Table 3 beside cspcost's figures (darknet counting), for every zoo model.

    Args:
        analyses: darknet-convention results already made, by model name (the rest are made here).
    """
    import cspcost_models as zoo

    rows = []
    for name in zoo.list_models():
        spec = zoo.get(name)
        if spec.family == "example":
            continue
        result = (analyses or {}).get(name) or analyze(name, convention="darknet")
        rows.append({  # fixed decimals, as the paper prints them (strings keep trailing zeros)
            "model": name, "input": spec.input_size[-1],
            "params_M": f"{result.totals['params'] / 1e6:.2f}",
            "paper_params_M": "-" if spec.paper_params is None else f"{spec.paper_params / 1e6:.2f}",
            "bflops": f"{result.totals['flops'] / 1e9:.3f}",
            "paper_bflops": "-" if spec.paper_bflops is None else f"{spec.paper_bflops:g}",
            "cio_M": f"{result.totals['cio_elems'] / 1e6:.1f}",
        })
    return pd.DataFrame(rows)



def libraries_missing() -> list[str]:
    """The optional model libraries not installed (the modern sections need them all)."""
    return [name for name in _LIBRARIES if importlib.util.find_spec(name) is None]


def _modern_dir(specs: tuple[str, ...]) -> str:
    """``modern/yolov5nu_vs_yolov8n_vs_yolo11n`` for a tuple of library specs."""
    names = [spec.partition(":")[2].removesuffix(".yaml") for spec in specs]
    return "modern/" + ("timm_" if specs[0].startswith("timm:") else "") + "_vs_".join(names)


def modern_comparisons(out: Path) -> tuple[list[Path], list[str]]:
    """Each MODERN comparison's charts and summary; the files and the index lines linking them."""
    written: list[Path] = []
    lines = ["## Today's CSP models", "",
             "Cross-stage partial blocks as timm and Ultralytics ship them, each under its ecosystem's "
             "own counting (`--convention timm`: fvcore's, at 256 for both; `--convention ultralytics`: "
             "thop on the fused model, at 640).", ""]
    for convention, size, specs in MODERN:
        results = [analyze(spec, size, convention=convention) for spec in specs]
        folder = _modern_dir(specs)
        written += write_report(tabulate(results), out / folder)
        totals = ", ".join(f"{spec.partition(':')[2].removesuffix('.yaml')} {r.totals['flops'] / 1e9:.2f} GFLOPs "
                           f"{r.totals['params'] / 1e6:.2f} M" for spec, r in zip(specs, results))
        lines.append(f"- [{' vs '.join(specs)}]({folder}/summary.md) ({convention}): {totals}")
    return written, lines


def zoo_report(out: str | Path, progress: Callable[[int, int], None] | None = None) -> list[Path]:
    """The committed reference report: each pair's charts and summary, Table 3, today's CSP models,
    the published figures beside cspcost's, and an index."""
    out, written = Path(out), []
    pairs = zoo_pairs()
    analyses: dict[str, AnalysisResult] = {}  # each model analysed once, however many pairs it is in
    steps = len(pairs) + 2
    for i, pair in enumerate(pairs):
        for name in pair:
            if name not in analyses:
                analyses[name] = analyze(name, convention="darknet")
        written += write_report(tabulate([analyses[name] for name in pair]), out / "_vs_".join(pair))
        if progress:
            progress(i + 1, steps)
    frame = table3(analyses)
    index = ["# cspcost reference report", "",
             "Regenerate with `cspcost report --out reports/`. Every figure below uses the darknet "
             "convention (the paper's counting: conv weights only; FLOPs = 2 x conv MACs + pool "
             "windows; CIO over conv, pool and global-pool layers).", "",
             "## Table 3: the paper's figures beside cspcost's", "", to_markdown(frame),
             "## CSP models against their baselines", ""]
    index += [f"- [{' vs '.join(pair)}]({'_vs_'.join(pair)}/summary.md)" for pair in pairs]
    index += [""] + _modern_sections(out, written)
    if progress:
        progress(steps - 1, steps)
    write_atomic(out / "README.md", "\n".join(index) + "\n")
    if progress:
        progress(steps, steps)
    return [*written, out / "README.md"]


def _modern_sections(out: Path, written: list[Path]) -> list[str]:
    """Today's CSP models and the published-vs-cspcost table (appending files to ``written``), or a
    note naming the libraries they need."""
    missing = libraries_missing()
    if missing:
        return ["## Today's CSP models; published figures", "",
                f"Skipped: needs {', '.join(missing)} (`pip install 'cspcost[all]'`).", ""]
    from cspcost.published import published_table

    files, lines = modern_comparisons(out)
    written += files
    table = published_table()
    return [*lines, "", "## Published vs cspcost", "",
            "Each ecosystem's printed figure beside cspcost's at the same precision (`exact`: "
            "cspcost's integer), under the convention that reproduces it.", "",
            to_markdown(table.drop(columns=["source"]))]
