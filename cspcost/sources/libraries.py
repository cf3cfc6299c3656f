"""What the library sources share: lazy imports that name their extra, and close-match hints."""
from __future__ import annotations

import difflib
import importlib
from pathlib import Path
from types import ModuleType
from typing import Iterable

from cspcost.errors import MissingExtraError, ModelLoadError, UnknownModelError


def require(module: str, extra: str, spec: str) -> ModuleType:
    """Import an optional model library, or fail in one line naming the package and the extra that
    installs it (``extra`` is also the pip package's name)."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        top = module.split(".")[0]
        if exc.name is not None and exc.name.split(".")[0] != top:  # installed, but its own import failed
            raise MissingExtraError(f"{spec!r} needs {extra}, which is installed but fails to import: "
                                    f"{type(exc).__name__}: {exc}") from None
        raise MissingExtraError(f"{spec!r} needs the {extra} package, which is not installed; "
                                f"pip install {extra} (or pip install 'cspcost[{extra}]')") from None


def missing_file(path: str, what: str) -> ModelLoadError:
    """The one-line error for a model file that is not a readable regular file: absent, a directory, a FIFO ..."""
    p = Path(path)
    if not p.exists():
        return ModelLoadError(f"no such file: {path}")
    kind = ("a directory" if p.is_dir() else "a FIFO (named pipe)" if p.is_fifo() else
            "a socket" if p.is_socket() else "a device" if p.is_block_device() or p.is_char_device() else
            "not a regular file")
    return ModelLoadError(f"{path} is {kind}, not {what}")


def unknown(library: str, name: str, known: Iterable[str], hint: str) -> UnknownModelError:
    """An unknown-name error with up to three close matches from the library's own list."""
    close = difflib.get_close_matches(name, list(known), n=3, cutoff=0.6)
    did_you_mean = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    return UnknownModelError(f"{library} has no model {name!r}{did_you_mean} ({hint})")
