"""The one JSON encoder: every result's ``to_json`` and every ``--format json`` goes through it (below every stage)."""
from __future__ import annotations

import json
import math
from typing import Any


def plain(value: Any) -> Any:
    """What ``json`` cannot write: numpy scalars as plain Python numbers, anything else as its text."""
    return value.item() if hasattr(value, "item") else str(value)


def finite(value: Any) -> Any:
    """A copy with NaN and infinities as None (JSON null: ``NaN`` is not JSON), tuples as lists."""
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def dumps(data: Any, indent: int | None = 2) -> str:
    """``data`` as strict JSON text: numpy scalars written as numbers, NaN and infinities as null."""
    return json.dumps(finite(data), indent=indent, default=plain, allow_nan=False)
