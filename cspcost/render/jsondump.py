"""The one JSON encoder: every result's ``to_json`` and every ``--format json`` goes through it."""
from __future__ import annotations

import json
from typing import Any


def plain(value: Any) -> Any:
    """What ``json`` cannot write: numpy scalars as plain Python numbers, anything else as its text."""
    return value.item() if hasattr(value, "item") else str(value)


def dumps(data: Any, indent: int | None = 2) -> str:
    """``data`` as JSON text, numpy scalars written as numbers."""
    return json.dumps(data, indent=indent, default=plain)
