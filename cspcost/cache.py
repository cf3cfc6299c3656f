"""Budget measurements cached on disk, so that ``cspcost check`` re-measures only what changed.

An entry is found by a key over everything that fixes the numbers except the model's code: the
spec, input, batch, convention, CIO kind, the versions of Python, torch and the model's library,
and a digest of cspcost's own source. The entry then lists the model's code (every source file
that defines one of its module classes or its factory, the .py files loaded beside them, and a
.cfg/.yaml spec file) with a digest of each; it is used only while all those files are unchanged,
so editing the model's code, its config, cspcost or torch measures the model afresh (as a build
system's dependency file does). A broken entry counts as absent. Writing is best effort: a cache
that cannot be written costs a warning, never a measurement.
"""
from __future__ import annotations

import hashlib
import inspect
import json
import os
import platform
import sys
import tempfile
import warnings
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any, Iterable

ENV = "CSPCOST_CACHE_DIR"
SCHEMA = 1  # bump when an entry's layout or meaning changes
_LIBRARY_PREFIXES = {"timm:": "timm", "torchvision:": "torchvision", "ultralytics:": "ultralytics"}


class CacheWarning(UserWarning):
    """The measurement cache could not be read or written; results are measured and printed anyway."""


def default_dir() -> Path:
    """The one cspcost cache directory (check's entries, device peaks, machine files, ONNX exports):
    ``$CSPCOST_CACHE_DIR``, else the user cache dir: ``$XDG_CACHE_HOME/cspcost`` or ``~/.cache/cspcost``
    (``%LOCALAPPDATA%\\cspcost\\cache`` on Windows, ``~/Library/Caches/cspcost`` on macOS)."""
    if os.environ.get(ENV):
        return Path(os.environ[ENV])
    if sys.platform == "win32" and os.environ.get("LOCALAPPDATA"):
        return Path(os.environ["LOCALAPPDATA"]) / "cspcost" / "cache"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "cspcost"
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "cspcost"


def warn_unwritable(what: str, where: str | Path, exc: BaseException) -> None:
    """One warning line for a cache that could not be written: the result is kept, not cached."""
    reason = getattr(exc, "strerror", None) or str(exc)
    warnings.warn(f"cannot write the {what} cache {where}: {reason}; the result is kept but not cached "
                  f"(choose another directory with {ENV})", CacheWarning, stacklevel=3)


def unwritable_reason(directory: Path) -> BaseException | None:
    """Why files cannot be created in ``directory`` (made if missing), or None when they can."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=directory):
            pass
    except OSError as exc:
        return exc
    return None


def _digest(path: str) -> str | None:
    """sha256 of a file's bytes (None when it cannot be read), read again whenever the file's
    size, mtime or inode changed (a long-lived process sees edits)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return _digest_of(path, st.st_size, st.st_mtime_ns, st.st_ino)


@lru_cache(maxsize=None)
def _digest_of(path: str, size: int, mtime_ns: int, inode: int) -> str | None:
    """sha256 of a file's bytes as of (size, mtime, inode)."""
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return None


@lru_cache(maxsize=1)
def cspcost_digest() -> str:
    """One digest of cspcost's source (every .py under the package): a rule changed means re-measure."""
    root = Path(__file__).parent
    h = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        h.update(str(path.relative_to(root)).encode() + b"\0" + (_digest(str(path)) or "").encode())
    return h.hexdigest()


@lru_cache(maxsize=None)
def _version(dist: str) -> str:
    """An installed distribution's version, or '' when absent."""
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return ""


def key(spec: str, settings: dict[str, Any]) -> str:
    """The entry's name: spec, measuring settings and the versions that shape the numbers."""
    from cspcost import __version__

    library = next((lib for prefix, lib in _LIBRARY_PREFIXES.items() if spec.startswith(prefix)), "")
    parts = {"schema": SCHEMA, "spec": spec, "settings": settings, "cspcost": __version__,
             "cspcost_source": cspcost_digest(), "torch": _version("torch"),
             "python": platform.python_version(), "library": [library, _version(library) if library else ""],
             "cwd": os.getcwd() if ":" in spec or spec.endswith((".cfg", ".yaml")) else ""}
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def model_sources(model: Any, factory: Any, spec: str) -> dict[str, str]:
    """The model's code, file -> digest: the files defining its module classes and its factory, a
    .cfg/.yaml spec file, and the .py files loaded from those files' folders (local helpers)."""
    found = {_file_of(type(m)) for m in model.modules()} | {_file_of(factory)}
    files = {f for f in found if f is not None}
    path = spec.rsplit(":", 1)[0] if spec.endswith(".py") or ".py:" in spec else spec
    if path.endswith((".cfg", ".yaml", ".yml", ".py")) and Path(path).is_file():
        files.add(str(Path(path).resolve()))
    folders = {str(Path(f).parent) for f in files if not _installed(f)}
    files |= {f for f in _loaded_files() if str(Path(f).parent) in folders}
    return {f: _digest(f) or "" for f in sorted(files)}


def _file_of(obj: Any) -> str | None:
    """The source file an object (class or function) was defined in, resolved."""
    try:
        return str(Path(inspect.getfile(obj)).resolve())
    except (TypeError, OSError):
        return None


def _installed(path: str) -> bool:
    """A file of an installed distribution (its version is in the key; its folder is not the user's)."""
    return "site-packages" in path or "dist-packages" in path


def _loaded_files() -> Iterable[str]:
    """Source files of every module imported so far."""
    for module in list(sys.modules.values()):
        name = getattr(module, "__file__", None)
        if isinstance(name, str) and name.endswith(".py"):
            yield str(Path(name).resolve())


def warn_unsupported(name: str, unsupported: dict[str, int]) -> None:
    """A cached model's unpriced-op warning, as the walker gave it when measuring (without torch)."""
    if unsupported:
        from cspcost.errors import UnsupportedOpsWarning, unsupported_ops_text

        warnings.warn(unsupported_ops_text(name, unsupported), UnsupportedOpsWarning, stacklevel=3)


class MeasurementCache:
    """Entries under one directory, ``<key>.json``; None as the directory turns the cache off."""

    def __init__(self, directory: str | Path | None) -> None:
        self.directory = Path(directory) if directory is not None else None
        self._warned = False

    def get(self, entry_key: str) -> dict[str, Any] | None:
        """The cached record, if present, readable and its model's sources unchanged."""
        if self.directory is None:
            return None
        try:
            entry = json.loads((self.directory / f"{entry_key}.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(entry, dict) or entry.get("schema") != SCHEMA:
            return None
        sources = entry.get("sources")
        if not isinstance(sources, dict) or any(_digest(f) != d for f, d in sources.items()):
            return None
        return entry.get("record")

    def put(self, entry_key: str, record: dict[str, Any], sources: dict[str, str]) -> None:
        """Store a record, whole (temp file + rename); on failure warn once and go on."""
        if self.directory is None:
            return
        text = json.dumps({"schema": SCHEMA, "sources": sources, "record": record}, sort_keys=True)
        tmp = None
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".entry.", suffix=".tmp")
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
            os.replace(tmp, self.directory / f"{entry_key}.json")
            tmp = None
        except OSError as exc:
            self._warn(exc)
        finally:
            if tmp is not None:
                Path(tmp).unlink(missing_ok=True)

    def _warn(self, exc: OSError) -> None:
        """One warning per run naming the directory and how to choose another."""
        if not self._warned:
            self._warned = True
            warnings.warn(f"cannot write the measurement cache {self.directory}: {exc.strerror or exc}; "
                          f"results are not cached (choose a directory with --cache-dir or {ENV})",
                          CacheWarning, stacklevel=2)
