"""``cspcost report``: the committed reference report (every zoo CSP pair, Table 3, an index)."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import pandas as pd

from cspcost.comparison.engine import tabulate
from cspcost.comparison.output import write_report
from cspcost.render.export import to_markdown
from cspcost.render.files import write_atomic
from cspcost.walk.analysis import AnalysisResult, analyze


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



def zoo_report(out: str | Path, progress: Callable[[int, int], None] | None = None) -> list[Path]:
    """The committed reference report: each pair's charts and summary, Table 3, and an index."""
    out, written = Path(out), []
    pairs = zoo_pairs()
    analyses: dict[str, AnalysisResult] = {}  # each model analysed once, however many pairs it is in
    for i, pair in enumerate(pairs):
        for name in pair:
            if name not in analyses:
                analyses[name] = analyze(name, convention="darknet")
        written += write_report(tabulate([analyses[name] for name in pair]), out / "_vs_".join(pair))
        if progress:
            progress(i + 1, len(pairs) + 1)
    frame = table3(analyses)
    index = ["# cspcost reference report", "",
             "Regenerate with `cspcost report --out reports/`. Every figure below uses the darknet "
             "convention (the paper's counting: conv weights only; FLOPs = 2 x conv MACs + pool "
             "windows; CIO over conv, pool and global-pool layers).", "",
             "## Table 3: the paper's figures beside cspcost's", "", to_markdown(frame),
             "## CSP models against their baselines", ""]
    index += [f"- [{' vs '.join(pair)}]({'_vs_'.join(pair)}/summary.md)" for pair in pairs]
    write_atomic(out / "README.md", "\n".join(index) + "\n")
    if progress:
        progress(len(pairs) + 1, len(pairs) + 1)
    return [*written, out / "README.md"]
