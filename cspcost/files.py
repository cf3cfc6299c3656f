"""Files written whole or not at all, with the mode the process's umask gives a new file (below every stage: profiling, latency and render all write through it)."""
from __future__ import annotations

import errno
import os
import stat
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


def _umask_mode() -> int:
    """The mode a plain new file gets here (0644 under umask 022), as ``open()`` would give it."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A temporary path beside ``path`` to write to; renamed over ``path`` only if the block succeeds.

    ``mkstemp`` creates its file 0600 whatever the umask; the file gets the ordinary mode back
    before the rename, so a chart or report is as readable as any file the user makes.
    """
    target = Path(path)
    if target.is_symlink():  # replace the file the link points to, not the link
        target = target.resolve()
    if target.is_dir():  # say so of the target, not of the temporary file beside it
        raise IsADirectoryError(errno.EISDIR, "is a directory, not a file", str(target))
    _make_parent(target)
    try:
        fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    except OSError as exc:  # name the folder the user gave, not the temporary file beside the target
        from cspcost.errors import UsageError

        raise UsageError(f"cannot write {target}: {exc.strerror} in {target.parent}; "
                         "choose another path or make the folder writable") from None
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        _keep_metadata(tmp, target)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def _make_parent(target: Path) -> None:
    """The folder a file goes into, made if missing; a file in its way is named as such."""
    from cspcost.errors import UsageError

    blocker = next((p for p in [target.parent, *target.parent.parents] if p.exists() and not p.is_dir()), None)
    if blocker is not None:
        raise UsageError(f"{blocker} is a file where a directory is expected (to write {target})")
    target.parent.mkdir(parents=True, exist_ok=True)


def _keep_metadata(tmp: Path, target: Path) -> None:
    """An existing file keeps its mode, owner and group (``check --update`` on a budgets file); a new
    one gets the umask's mode (``mkstemp`` makes 0600 whatever the umask)."""
    if not target.exists():
        os.chmod(tmp, _umask_mode())
        return
    st = target.stat()
    os.chmod(tmp, st.st_mode & 0o7777)
    if hasattr(os, "chown") and (tmp.stat().st_uid, tmp.stat().st_gid) != (st.st_uid, st.st_gid):
        try:
            os.chown(tmp, st.st_uid, st.st_gid)
        except PermissionError:
            raise PermissionError(errno.EPERM, "cannot keep the file's owner and group on rewriting it; "
                                  "rewrite it as its owner", str(target)) from None


def ensure_replaceable(path: str | Path) -> None:
    """An existing file that a rewrite may replace: refuse a read-only one (mode without u+w, or no
    write access) instead of replacing it through the rename, which needs only the folder's permission."""
    from cspcost.errors import UsageError

    target = Path(path)
    if target.exists() and (not target.stat().st_mode & stat.S_IWUSR or not os.access(target, os.W_OK)):
        raise UsageError(f"{path} is read-only (mode {target.stat().st_mode & 0o777:04o}); make it writable "
                         f"(chmod u+w {path}) to rewrite it")


def read_text_exact(path: str | Path) -> str:
    """A text file's content with its line endings as they are (CRLF stays CRLF)."""
    with open(path, encoding="utf-8", newline="") as handle:
        return handle.read()


def write_atomic(path: str | Path, text: str) -> None:
    """Write text (UTF-8) whole or not at all."""
    write_bytes_atomic(path, text.encode("utf-8"))


def write_bytes_atomic(path: str | Path, data: bytes) -> None:
    """Write bytes whole or not at all."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
