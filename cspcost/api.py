"""The Python API, mirroring the CLI: ``cspcost.analyze(model_or_name, ...)`` and friends.

torch, pandas and the walker are imported inside the functions that measure: ``check_budgets``
answered from the measurement cache never imports torch, which is most of a warm CI gate's time.
"""
from __future__ import annotations

import difflib
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence

from cspcost import budgets
from cspcost.budgets import Outcome
from cspcost.errors import UnknownModelError

if TYPE_CHECKING:
    import pandas as pd
    from torch import nn

    from cspcost.cache import MeasurementCache


def models_table(convention: str = "pytorch", names: Sequence[str] | None = None) -> pd.DataFrame:
    """Every zoo model at its default input: family, baseline, input, params, FLOPs and CIO.

    Args:
        convention: "pytorch" or "darknet" (the paper's counting, CIO as its Fig. 8).
        names: a subset of the zoo (default: all).
    Returns:
        One row per model, with the paper's figures where the zoo records them.
    """
    import cspcost_models as zoo
    import pandas as pd

    from cspcost.walk.analysis import analyze

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
    heaviest CSP block's csp_block_flops / _params / _cio_elems, unsupported_ops (calls of ops no
    rule prices, each counted as 0) and, when ``latency``, latency_ms (measured on CPU)."""
    values, _ = _measured(model, input_size, batch, convention, cio)
    if latency:
        from cspcost.comparison.engine import latency_for_compare

        values["latency_ms"] = latency_for_compare(model, input_size, False)[0]
    return values


def _measured(model: str | nn.Module, input_size: Sequence[int] | None, batch: int, convention: str,
              cio: str | None) -> tuple[dict[str, float], dict[str, int]]:
    """``measure``'s numbers without latency (plain Python numbers), and the unpriced ops by name."""
    from cspcost.structure import find_csp
    from cspcost.walk.analysis import analyze

    result = find_csp(analyze(model, input_size, batch, convention=convention, cio=cio))
    values: dict[str, float] = {key: result.totals[key] for key in ("cio_elems", "flops", "macs", "params")}
    values["bottleneck_flops"] = result.bottleneck[1]
    for key in ("flops", "params", "cio_elems"):
        values[f"csp_block_{key}"] = max((b[key] for b in result.csp_blocks or []), default=0)
    values[budgets.UNSUPPORTED] = sum(result.unsupported_ops.values())
    plain = {k: int(v) if float(v).is_integer() else float(v) for k, v in values.items()}
    return plain, {op: int(n) for op, n in result.unsupported_ops.items()}


def check_budgets(path: str, progress: Callable[[int, int], None] | None = None, *, strict: bool = True,
                  cache_dir: str | Path | None = None, cache: bool = True) -> list[Outcome]:
    """``cspcost check``: every limit of a budgets file against the model's current measurement.

    Args:
        path: the TOML budgets file.
        progress: called with (models measured, models in the file).
        strict: fail a model whose ops are not all priced (an ``unsupported_ops`` outcome); a
            budget's own ``strict`` key wins.
        cache_dir: where measurements are cached (default ``$CSPCOST_CACHE_DIR`` or the user
            cache dir); an entry is reused only while the model's code, settings and versions match.
        cache: False measures every model afresh (and stores nothing).
    Returns:
        One Outcome per limit (``.ok``, ``.measured``, ``.limit``, ``.margin_pct``).
    Raises:
        BudgetFileError: the file is malformed or names a model that cannot be measured.
    """
    from cspcost.cache import MeasurementCache, default_dir

    parsed = budgets.load(path)
    store = MeasurementCache((cache_dir or default_dir()) if cache else None)
    done: list[str] = []

    def measure_one(budget: budgets.Budget) -> dict[str, float]:
        values = _cached_measure(budget, store)
        done.append(budget.model)
        if progress:
            progress(len(done), len(parsed))
        return values

    return budgets.check(parsed, measure_one, strict)


def _cached_measure(budget: budgets.Budget, store: MeasurementCache) -> dict[str, float]:
    """A budget's numbers from the cache when its entry is current, else measured (and stored).

    Latency is never cached: it is a property of the machine's state, not of the model.
    """
    from cspcost import cache

    if "latency_ms_max" in budget.limits:
        return measure(budget.model, budget.input_size, budget.batch, convention=budget.convention,
                       cio=budget.cio, latency=True)
    settings = {"input": budget.input_size, "batch": budget.batch, "convention": budget.convention, "cio": budget.cio}
    entry_key = cache.key(budget.model, settings)
    record = store.get(entry_key)
    if record is not None:  # the warning a fresh measurement would give, given again
        cache.warn_unsupported(budget.model, record["unsupported"])
        return record["values"]
    values, unsupported = _measured(budget.model, budget.input_size, budget.batch, budget.convention, budget.cio)
    if store.directory is not None:
        from cspcost.sources.resolve import build, resolve

        resolved = resolve(budget.model)
        sources = cache.model_sources(build(resolved), resolved.factory, budget.model)
        store.put(entry_key, {"values": values, "unsupported": unsupported}, sources)
    return values
