"""What the library sources share: lazy imports that name their extra, and close-match hints."""
from __future__ import annotations

import difflib
import importlib
from types import ModuleType
from typing import Iterable

from cspcost.errors import MissingExtraError, UnknownModelError


def require(module: str, extra: str, spec: str) -> ModuleType:
    """Import an optional model library, or fail in one line naming the extra that installs it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingExtraError(f"{spec!r} needs {module}, which is not installed; "
                                f"pip install 'cspcost[{extra}]' (or 'cspcost[all]')") from None


def unknown(library: str, name: str, known: Iterable[str], hint: str) -> UnknownModelError:
    """An unknown-name error with up to three close matches from the library's own list."""
    close = difflib.get_close_matches(name, list(known), n=3, cutoff=0.6)
    did_you_mean = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    return UnknownModelError(f"{library} has no model {name!r}{did_you_mean} ({hint})")
