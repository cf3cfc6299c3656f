"""The Python API, mirroring the CLI: ``cspcost.analyze(model_or_name, ...)`` and friends."""
from __future__ import annotations

import difflib
from typing import Callable, Sequence

import pandas as pd
from torch import nn

from cspcost import budgets
from cspcost.budgets import Outcome
from cspcost.errors import UnknownModelError
from cspcost.walk.analysis import analyze


def models_table(convention: str = "pytorch", names: Sequence[str] | None = None) -> pd.DataFrame:
    """Every zoo model at its default input: family, baseline, input, params, FLOPs and CIO.

    Args:
        convention: "pytorch" or "darknet" (the paper's counting, CIO as its Fig. 8).
        names: a subset of the zoo (default: all).
    Returns:
        One row per model, with the paper's figures where the zoo records them.
    """
    import cspcost_models as zoo

    rows = []
    for name in _zoo_names(names, zoo.list_models()):
        spec = zoo.get(name)
        result = analyze(name, convention=convention)
        rows.append({
            "name": name, "family": spec.family, "baseline": spec.baseline or "",
            "input": "x".join(map(str, spec.input_size)), "params": result.totals["params"],
            "flops": result.totals["flops"], "cio_elems": result.totals["cio_elems"],
            "paper_params": spec.paper_params, "paper_bflops": spec.paper_bflops,
        })
    return pd.DataFrame(rows)


def _zoo_names(names: Sequence[str] | None, known: list[str]) -> list[str]:
    """The zoo names asked for (all by default), or an UnknownModelError naming the first unknown."""
    if isinstance(names, str):
        names = [names]
    for name in names or []:
        if name not in known:
            close = difflib.get_close_matches(str(name), known, n=3, cutoff=0.6)
            hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
            raise UnknownModelError(f"no zoo model {name!r}{hint} (cspcost models lists all)")
    return list(names or known)


def measure(
    model: str | nn.Module, input_size: Sequence[int] | None = None, batch: int = 1, *,
    convention: str = "pytorch", cio: str | None = None, latency: bool = False,
) -> dict[str, float]:
    """The budgetable numbers of one model: cio_elems, flops, macs, params, bottleneck_flops, the
    heaviest CSP block's csp_block_flops / _params / _cio_elems (and latency_ms, measured on CPU,
    when ``latency``)."""
    from cspcost.structure import find_csp

    result = find_csp(analyze(model, input_size, batch, convention=convention, cio=cio))
    values: dict[str, float] = {key: result.totals[key] for key in ("cio_elems", "flops", "macs", "params")}
    values["bottleneck_flops"] = result.bottleneck[1]
    for key in ("flops", "params", "cio_elems"):
        values[f"csp_block_{key}"] = max((b[key] for b in result.csp_blocks or []), default=0)
    if latency:
        from cspcost.comparison.engine import latency_for_compare

        values["latency_ms"] = latency_for_compare(model, input_size, False)[0]
    return values


def check_budgets(path: str, progress: Callable[[int, int], None] | None = None) -> list[Outcome]:
    """``cspcost check``: every limit of a budgets file against a fresh measurement.

    Args:
        path: the TOML budgets file.
        progress: called with (models measured, models in the file).
    Returns:
        One Outcome per limit (``.ok``, ``.measured``, ``.limit``, ``.margin_pct``).
    Raises:
        BudgetFileError: the file is malformed or names a model that cannot be measured.
    """
    parsed = budgets.load(path)
    done: list[str] = []

    def measure_one(budget: budgets.Budget) -> dict[str, float]:
        values = measure(budget.model, budget.input_size, budget.batch, convention=budget.convention,
                         cio=budget.cio, latency="latency_ms_max" in budget.limits)
        done.append(budget.model)
        if progress:
            progress(len(done), len(parsed))
        return values

    return budgets.check(parsed, measure_one)
