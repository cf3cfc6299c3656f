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
OPTIONS = ("input", "convention", "cio", "tolerance", "batch")


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
    where = f"{file}:{_line_of(text, model)}"
    if not isinstance(table, dict):
        raise BudgetFileError(f"{where}: {model!r} must be a table ([{model}]) of limits")
    for key in table:
        if key not in LIMITS + OPTIONS:
            raise BudgetFileError(f"{file}:{_line_of(text, model, key)}: [{model}] unknown key {key!r}; "
                                  f"limits: {', '.join(LIMITS)}; options: {', '.join(OPTIONS)}")
    limits = {key: _limit(file, text, model, key, table[key]) for key in LIMITS if key in table}
    if not limits:
        raise BudgetFileError(f"{where}: [{model}] has no limit; give one of {', '.join(LIMITS)}")
    return Budget(model, limits, **_options(file, text, model, table), where=where)


def _limit(file: Path, text: str, model: str, key: str, value: Any) -> float:
    """A limit must be a number of 0 or more (0: a model without CSP blocks, as ``--update`` writes it)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise BudgetFileError(f"{file}:{_line_of(text, model, key)}: [{model}] {key} must be a number "
                              f"of 0 or more, got {value!r}")
    return value


def _options(file: Path, text: str, model: str, table: dict[str, Any]) -> dict[str, Any]:
    """input, convention, cio, tolerance and batch, validated."""
    def fail(key: str, why: str) -> BudgetFileError:
        return BudgetFileError(f"{file}:{_line_of(text, model, key)}: [{model}] {key} {why}")

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
    return options


def _header_pattern(model: str) -> re.Pattern[str]:
    """The line ``[model]`` or ``["model"]``."""
    return re.compile(rf'^\s*\[\s*(?:"{re.escape(model)}"|{re.escape(model)})\s*\]')


def _line_of(text: str, model: str, key: str | None = None) -> int:
    """The 1-based line of a table header, or of a key inside that table (0 if not found)."""
    lines = text.splitlines()
    header = _header_pattern(model)
    start = next((i for i, line in enumerate(lines) if header.match(line)), None)
    if start is None:
        return 0
    if key is None:
        return start + 1
    key_line = re.compile(rf"^\s*{re.escape(key)}\s*=")
    for i in range(start + 1, len(lines)):
        if lines[i].lstrip().startswith("["):
            break
        if key_line.match(lines[i]):
            return i + 1
    return start + 1


def check(budgets: list[Budget], measure: Callable[[Budget], dict[str, float]]) -> list[Outcome]:
    """Every limit of every budget against ``measure(budget)`` (metric name -> value).

    A model that cannot be measured (unknown, failing) is reported at its table's file:line.
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
    return outcomes


def updated_text(text: str, measured: dict[tuple[str, str], float]) -> str:
    """The file with each ``<metric>_max = value`` replaced by the measurement, comments kept.

    Args:
        text: the budgets file.
        measured: (model, metric) -> new limit.
    """
    lines, model = text.splitlines(keepends=True), None
    header = re.compile(r'^\s*\[\s*"?([^"\]]+?)"?\s*\]')
    limit_line = re.compile(r"^(\s*)(\w+)_max(\s*=\s*)([^#\n]*?)(\s*(#.*)?)(\n?)$")
    for i, line in enumerate(lines):
        found = header.match(line)
        if found:
            model = found.group(1)
            continue
        hit = limit_line.match(line)
        if hit and model is not None and (model, hit.group(2)) in measured:
            value = _toml_number(measured[(model, hit.group(2))])
            lines[i] = f"{hit.group(1)}{hit.group(2)}_max{hit.group(3)}{value}{hit.group(5)}{hit.group(7)}"
    return "".join(lines)


def _toml_number(value: float) -> str:
    """Integers with digit groups (33_000_000), other numbers as short floats."""
    if float(value).is_integer():
        return f"{int(value):_}"
    return f"{value:.6g}"


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
