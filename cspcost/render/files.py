"""Files written whole or not at all, with the mode the process's umask gives a new file."""
from __future__ import annotations

import errno
import os
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
    if target.is_dir():  # say so of the target, not of the temporary file beside it
        raise IsADirectoryError(errno.EISDIR, "is a directory, not a file", str(target))
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        # An existing file keeps its mode (``check --update`` on a budgets file); a new one gets the umask's.
        os.chmod(tmp, target.stat().st_mode & 0o7777 if target.exists() else _umask_mode())
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def write_atomic(path: str | Path, text: str) -> None:
    """Write text (UTF-8) whole or not at all."""
    write_bytes_atomic(path, text.encode("utf-8"))


def write_bytes_atomic(path: str | Path, data: bytes) -> None:
    """Write bytes whole or not at all."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
