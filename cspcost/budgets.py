"""Budgets: read a TOML file of per-model limits, compare measurements, rewrite limits (pure).

One table per model (any model spec: a zoo name, ``timm:NAME``, ``ultralytics:yolo11n.yaml``,
``file.py:factory``, ...)::

    [cspresnext50]
    cio_elems_max = 33_000_000
    flops_max = 8.0e9
    input = "3x256x256"      # optional, default: the model's own
    convention = "darknet"   # optional
    tolerance = 0.01         # optional, relative
    csp_block_flops_max = 2.0e9  # the heaviest cross-stage partial block (also _params, _cio_elems)

Measuring is the caller's job (``measure`` callback): this module only parses, validates,
compares and rewrites.
"""
from __future__ import annotations

import math
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from cspcost.errors import BudgetFileError, UsageError
from cspcost.shapes import parse_input
from cspcost.walk.conventions import CATALOG, CIO_KINDS

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

LIMITS = ("cio_elems_max", "flops_max", "macs_max", "params_max", "bottleneck_flops_max", "latency_ms_max",
          # the heaviest CSP block's cost (cspcost.structure; 0 when the model has none)
          "csp_block_flops_max", "csp_block_params_max", "csp_block_cio_elems_max")
OPTIONS = ("input", "convention", "cio", "tolerance", "batch", "strict")
# What a strict check adds for a model whose ops are not all priced: the count of unpriced op calls
# (each counted as 0, so every other figure is a lower bound), which must be 0.
UNSUPPORTED = "unsupported_ops"


@dataclass(frozen=True)
class Budget:
    """The limits of one model and how to measure it."""

    model: str
    limits: dict[str, float]  # e.g. {"cio_elems_max": 33e6}
    input_size: tuple[int, ...] | None = None
    convention: str = "pytorch"
    cio: str | None = None
    tolerance: float = 0.0
    batch: int = 1
    strict: bool | None = None  # fail on ops no rule prices; None: the caller's default
    where: str = ""  # "file:line" of the model's table, for messages


@dataclass(frozen=True)
class Outcome:
    """One limit checked: measured value, limit, allowed (limit x (1 + tolerance)), margin."""

    model: str
    metric: str  # e.g. "cio_elems"
    measured: float
    limit: float
    tolerance: float

    @property
    def allowed(self) -> float:
        """The largest value that passes."""
        return self.limit * (1 + self.tolerance)

    @property
    def ok(self) -> bool:
        """Equal to the allowed value passes; anything above fails."""
        return self.measured <= self.allowed

    @property
    def margin_pct(self) -> float:
        """Headroom below the limit in percent (negative when over)."""
        if not self.limit:  # a limit of 0 holds only at 0: no headroom either way
            return 0.0 if self.measured <= 0 else -100.0
        return 100.0 * (self.limit - self.measured) / self.limit


def load(path: str | Path) -> list[Budget]:
    """Parse and validate a budgets file; every problem raises BudgetFileError naming file:line."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise BudgetFileError(f"cannot read budgets file {path}: {exc.strerror}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise BudgetFileError(f"{path}: not valid TOML: {exc}") from None
    if not data:
        raise BudgetFileError(f"{path}: no models: add a table such as [cspresnext50] with a *_max key")
    return [_budget(file, text, model, table) for model, table in data.items()]


def _budget(file: Path, text: str, model: str, table: Any) -> Budget:
    """One model's table, validated."""
    where = _where(file, text, model)
    if not isinstance(table, dict):
        raise BudgetFileError(f"{where}: {model!r} must be a table ([{model}]) of limits")
    for key in table:
        if isinstance(table[key], dict) and key not in LIMITS + OPTIONS:
            raise BudgetFileError(_nested_hint(file, text, model, key, table[key]))
        if key not in LIMITS + OPTIONS:
            raise BudgetFileError(f"{_where(file, text, model, key)}: [{model}] unknown key {key!r}; "
                                  f"limits: {', '.join(LIMITS)}; options: {', '.join(OPTIONS)}")
    limits = {key: _limit(file, text, model, key, table[key]) for key in LIMITS if key in table}
    if not limits:
        raise BudgetFileError(f"{where}: [{model}] has no limit; give one of {', '.join(LIMITS)}")
    return Budget(model, limits, **_options(file, text, model, table), where=where)


def _nested_hint(file: Path, text: str, model: str, key: str, sub: dict[str, Any]) -> str:
    """TOML reads ``[resnet10.cfg]`` as table ``cfg`` inside ``resnet10``: say to quote the name."""
    dotted = f"{model}.{key}"
    while len(sub) == 1 and isinstance(next(iter(sub.values())), dict):  # [a.b.c] nests deeper still
        inner = next(iter(sub))
        dotted, sub = f"{dotted}.{inner}", sub[inner]
    return (f"{_where(file, text, model, key)}: [{dotted}] is read by TOML as a table nested in [{model}]; "
            f"quote a model name that has dots: [\"{dotted}\"]")


def _limit(file: Path, text: str, model: str, key: str, value: Any) -> float:
    """A limit must be a finite number of 0 or more (0: a model without CSP blocks, as ``--update``
    writes it); nan would pass nothing (every comparison is false) and inf everything."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise BudgetFileError(f"{_where(file, text, model, key)}: [{model}] {key} must be a number "
                              f"of 0 or more, got {value!r}")
    if not math.isfinite(value):
        raise BudgetFileError(f"{_where(file, text, model, key)}: [{model}] {key} must be a finite number, "
                              f"got {value!r}; write the limit itself (cspcost check --update measures it)")
    return value


def _options(file: Path, text: str, model: str, table: dict[str, Any]) -> dict[str, Any]:
    """input, convention, cio, tolerance and batch, validated."""
    def fail(key: str, why: str) -> BudgetFileError:
        return BudgetFileError(f"{_where(file, text, model, key)}: [{model}] {key} {why}")

    options: dict[str, Any] = {}
    if "input" in table:
        if not isinstance(table["input"], str):
            raise fail("input", f"must be a string such as \"3x256x256\", got {table['input']!r}")
        try:
            options["input_size"] = parse_input(table["input"])
        except UsageError as exc:
            raise fail("input", f"is malformed: {exc}") from None
    if "convention" in table:
        if table["convention"] not in CATALOG:
            raise fail("convention", f"must be one of {', '.join(CATALOG)}, got {table['convention']!r}")
        options["convention"] = table["convention"]
    if "cio" in table:
        if table["cio"] not in CIO_KINDS:
            raise fail("cio", f"must be one of {', '.join(CIO_KINDS)}, got {table['cio']!r}")
        options["cio"] = table["cio"]
    if "tolerance" in table:
        tol = table["tolerance"]
        if isinstance(tol, bool) or not isinstance(tol, (int, float)) or not 0 <= tol < 1:
            raise fail("tolerance", f"must be a number in [0, 1), got {tol!r}")
        options["tolerance"] = float(tol)
    if "batch" in table:
        if isinstance(table["batch"], bool) or not isinstance(table["batch"], int) or table["batch"] < 1:
            raise fail("batch", f"must be a positive integer, got {table['batch']!r}")
        options["batch"] = table["batch"]
    if "strict" in table:
        if not isinstance(table["strict"], bool):
            raise fail("strict", f"must be true or false, got {table['strict']!r}")
        options["strict"] = table["strict"]
    return options


def _spelled(token: str) -> str:
    """A regex for a TOML key as it may be written: bare, "basic" or 'literal'."""
    escaped = re.escape(token)
    return rf"""(?:{escaped}|"{escaped}"|'{escaped}')"""


def _line_of(text: str, model: str, key: str | None = None) -> int | None:
    """The 1-based line defining a model's table (``[m]``, ``["m"]``, ``['m']``, ``[m.sub]``,
    ``m.key = ...``, ``m = {...}``), or of a key inside it; None if not found."""
    lines = text.splitlines()
    name = _spelled(model)
    forms = [rf"^\s*\[\s*{name}\s*\]", rf"^\s*\[\s*{name}\s*\.", rf"^\s*{name}\s*[.=]"]
    start = next((i for form in forms for i, line in enumerate(lines) if re.match(form, line)), None)
    if start is None or key is None:
        return None if start is None else start + 1
    if not lines[start].lstrip().startswith("["):  # dotted keys or an inline table: the key's own line
        dotted = re.compile(rf"^\s*{name}\s*\.\s*{_spelled(key)}\s*=")
        return next((i + 1 for i, line in enumerate(lines) if dotted.match(line)), start + 1)
    key_line = re.compile(rf"^\s*{_spelled(key)}\s*[.=]")
    for i in range(start + 1, len(lines)):
        if lines[i].lstrip().startswith("["):
            break
        if key_line.match(lines[i]):
            return i + 1
    return start + 1


def _where(file: Path, text: str, model: str, key: str | None = None) -> str:
    """``file:line`` of a model's table or key (just ``file`` when the line cannot be found)."""
    line = _line_of(text, model, key)
    return f"{file}:{line}" if line else str(file)


def check(budgets: list[Budget], measure: Callable[[Budget], dict[str, float]],
          strict: bool = True) -> list[Outcome]:
    """Every limit of every budget against ``measure(budget)`` (metric name -> value).

    A model that cannot be measured (unknown, failing) is reported at its table's file:line. Under
    ``strict`` (a budget's own ``strict`` key wins), a model with ops no rule prices gets one more
    outcome, ``unsupported_ops`` with limit 0: its figures are lower bounds and cannot pass a gate.
    """
    outcomes = []
    for budget in budgets:
        try:
            values = measure(budget)
        except UsageError as exc:
            raise BudgetFileError(f"{budget.where}: [{budget.model}] {exc}") from None
        for key, limit in budget.limits.items():
            metric = key[: -len("_max")]
            outcomes.append(Outcome(budget.model, metric, values[metric], limit, budget.tolerance))
        if (strict if budget.strict is None else budget.strict) and values.get(UNSUPPORTED, 0) > 0:
            outcomes.append(Outcome(budget.model, UNSUPPORTED, values[UNSUPPORTED], 0, 0.0))
    return outcomes


def updated_text(text: str, measured: dict[tuple[str, str], float]) -> str:
    """The file with each ``<metric>_max`` limit replaced by the measurement, everything else kept.

    Every TOML spelling is found (``[m]``, ``['m']``, ``"flops_max" = 1``, ``m.flops_max = 1``,
    inline tables), as tomlkit edits the parsed document; comments, layout and line endings stay.

    Args:
        text: the budgets file.
        measured: (model, metric) -> new limit.
    Raises:
        BudgetFileError: a limit could not be rewritten (the file is then left alone).
    """
    import tomlkit

    doc = tomlkit.parse(text)
    for (model, metric), value in measured.items():
        table = doc.get(model)
        if table is not None and f"{metric}_max" in table:
            table[f"{metric}_max"] = _toml_number(value, table[f"{metric}_max"])
    new = tomlkit.dumps(doc)
    _verify_update(new, measured)
    return new


def _toml_number(value: float, old: Any) -> Any:
    """The new limit as a tomlkit item with the old one's comment: integers with digit groups
    (33_000_000), other numbers as the shortest float that reads back exactly."""
    from tomlkit.items import Float, Integer

    if float(value).is_integer():
        return Integer(int(value), old.trivia, f"{int(value):_}")
    return Float(float(value), old.trivia, repr(float(value)))


def _verify_update(new: str, measured: dict[tuple[str, str], float]) -> None:
    """Refuse to write a file that does not read back with every new limit in place."""
    data = tomllib.loads(new)
    missed = [f"{model} {metric}_max" for (model, metric), value in measured.items()
              if data.get(model, {}).get(f"{metric}_max") != value]
    if missed:
        raise BudgetFileError(f"cannot rewrite {', '.join(missed)} in place; the file is left unchanged "
                              "(write each limit as key = number inside its model's table)")


def junit_xml(outcomes: list[Outcome], name: str = "cspcost budgets") -> str:
    """A JUnit XML report: one test case per limit, a failure for each exceeded one."""
    from xml.sax.saxutils import escape, quoteattr

    failures = sum(not o.ok for o in outcomes)
    cases = []
    for o in outcomes:
        case = f'  <testcase classname={quoteattr(o.model)} name={quoteattr(o.metric + "_max")}>'
        if not o.ok:
            message = f"{o.metric} {o.measured:g} exceeds {o.limit:g} (tolerance {o.tolerance:g})"
            case += f"\n    <failure message={quoteattr(message)}>{escape(message)}</failure>\n  "
        cases.append(case + "</testcase>")
    return (f'<?xml version="1.0" encoding="utf-8"?>\n<testsuite name={quoteattr(name)} '
            f'tests="{len(outcomes)}" failures="{failures}">\n' + "\n".join(cases) + "\n</testsuite>\n")
