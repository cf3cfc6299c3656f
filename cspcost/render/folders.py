"""Report folders written whole: built in a temporary folder beside the target and swapped in by
rename, under a lock, so that an interrupted run leaves the earlier report as it was and two
concurrent runs never mix their files.

A folder written this way lists its entries in ``.cspcost-report``. On rewriting, entries the
earlier report wrote and the new one does not (a stale chart, a pair since removed) are dropped;
entries it did not write (``budgets.toml``, ``table5.md`` from ``report --latency``, a user's notes)
are carried over, so cspcost never deletes what it did not make.
"""
from __future__ import annotations

import ctypes
import errno
import os
import shutil
import signal
import stat
import sys
import tempfile
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from cspcost.errors import UsageError

MANIFEST = ".cspcost-report"


def check_output_path(path: str | Path | None, option: str) -> None:
    """Refuse an empty path (``--out ''``), which would otherwise mean the current directory or stdout."""
    if path is not None and not str(path).strip():
        raise UsageError(f"{option} is empty; give a path, or leave {option} out")


@contextmanager
def written_whole(path: str | Path) -> Iterator[Path]:
    """A temporary folder to write a report into; it replaces ``path`` only if the block succeeds.

    Raises:
        UsageError: an empty path, a file where the folder should be, a folder that cannot be
            written, or another cspcost writing the same folder now.
    """
    check_output_path(path, "the output directory")
    target = Path(path)
    _check_target(target)
    with _locked(target):
        _remove_leftovers(target)
        tmp = _make_temp(target)
        try:
            yield tmp
            own = sorted(e.name for e in tmp.iterdir())
            _carry_over(target, tmp)
            _write_manifest(tmp, own)
            os.chmod(tmp, stat.S_IMODE(target.stat().st_mode) if target.is_dir() else 0o777 & ~_umask())
            with _signals_deferred():
                _swap_in(tmp, target)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


def _check_target(target: Path) -> None:
    """The target is a writable folder or absent, and its parent can be made."""
    if not target.name or target.resolve() in (Path.cwd(), *Path.cwd().parents):
        raise UsageError(f"will not replace {target}, the current directory or one above it; "
                         "give a directory below it, such as reports/")
    if target.exists() and not target.is_dir():
        raise UsageError(f"{target} is a file where a report directory is expected; remove it or choose another path")
    blocker = next((p for p in target.parents if p.exists() and not p.is_dir()), None)
    if blocker is not None:
        raise UsageError(f"{blocker} is a file where a directory is expected (in {target})")
    if target.is_dir() and not _writable(target):
        raise UsageError(f"cannot write into {target}: it is read-only; make it writable or choose another directory")
    target.parent.mkdir(parents=True, exist_ok=True)
    if not _writable(target.parent):
        raise UsageError(f"cannot write into {target.parent}: permission denied; choose another directory")


def _writable(folder: Path) -> bool:
    """The owner may write the folder (mode u+w) and this process may."""
    return bool(folder.stat().st_mode & stat.S_IWUSR) and os.access(folder, os.W_OK | os.X_OK)


@contextmanager
def _locked(target: Path) -> Iterator[None]:
    """Hold ``.NAME.lock`` beside the target, or refuse at once when another process holds it."""
    lock = target.parent / f".{target.name}.lock"
    fd = _acquire(lock, target)
    try:
        yield
    finally:
        lock.unlink(missing_ok=True)  # still held: no one can have taken this inode meanwhile
        os.close(fd)


def _acquire(lock: Path, target: Path) -> int:
    """An open, exclusively locked lock file (the inode still at ``lock``, not one just unlinked)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: an exclusive create is the lock
        try:
            return os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            raise _busy(target, lock) from None
    for _ in range(10):
        fd = os.open(lock, os.O_CREAT | os.O_WRONLY, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise _busy(target, lock) from None
        try:
            if os.stat(lock).st_ino == os.fstat(fd).st_ino:
                return fd
        except FileNotFoundError:
            pass
        os.close(fd)  # the holder unlinked it as we opened it: take the new one
    raise _busy(target, lock)


def _busy(target: Path, lock: Path) -> UsageError:
    """The refusal when another cspcost is writing the same folder."""
    return UsageError(f"another cspcost is writing {target} now (lock {lock}); wait for it to finish "
                      "or choose another directory")


def _remove_leftovers(target: Path) -> None:
    """Temporary folders a killed run left beside the target (we hold the lock: none is in use)."""
    for stale in target.parent.glob(f".{target.name}.tmp-*"):
        shutil.rmtree(stale, ignore_errors=True)
    for stale in target.parent.glob(f".{target.name}.old-*"):
        shutil.rmtree(stale, ignore_errors=True)


def _make_temp(target: Path) -> Path:
    """The temporary folder beside the target (same file system, so the swap is a rename)."""
    try:
        return Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.tmp-"))
    except OSError as exc:
        raise UsageError(f"cannot write into {target.parent}: {exc.strerror}; choose another directory") from None


def _carry_over(target: Path, tmp: Path) -> None:
    """Copy into the new folder each entry of the old one that the old report did not write and the
    new one did not write either (budgets, table5.md, the user's files); the old report's own go."""
    if not target.is_dir():
        return
    owned = set(_manifest(target))
    for entry in target.iterdir():
        if entry.name in owned or entry.name == MANIFEST or (tmp / entry.name).exists():
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.copytree(entry, tmp / entry.name, symlinks=True)
        else:
            shutil.copy2(entry, tmp / entry.name, follow_symlinks=False)


def _manifest(folder: Path) -> list[str]:
    """The entries a report wrote into ``folder`` (none when it was not written by cspcost)."""
    try:
        return [line for line in (folder / MANIFEST).read_text(encoding="utf-8").splitlines() if line]
    except OSError:
        return []


def _write_manifest(tmp: Path, own: list[str]) -> None:
    """List the report's own entries (sorted: the same report gives the same bytes)."""
    (tmp / MANIFEST).write_text("".join(f"{n}\n" for n in own if n != MANIFEST), encoding="utf-8")
    os.chmod(tmp / MANIFEST, 0o666 & ~_umask())


def _umask() -> int:
    """The process's umask (a new folder gets 0777 & ~umask, a file 0666 & ~umask)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _swap_in(tmp: Path, target: Path) -> None:
    """Put the new folder at ``target``: one atomic exchange where the OS has it (Linux
    renameat2), else two renames with the old folder put back if the second fails."""
    if not target.exists():
        os.rename(tmp, target)
        return
    if _exchange(tmp, target):
        shutil.rmtree(tmp, ignore_errors=True)  # tmp now holds the old report
        return
    old = target.parent / f".{target.name}.old-{os.getpid()}"
    os.rename(target, old)
    try:
        os.rename(tmp, target)
    except OSError:
        os.rename(old, target)
        raise
    shutil.rmtree(old, ignore_errors=True)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically (Linux ``renameat2(RENAME_EXCHANGE)``); False where unsupported."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    if ctypes.get_errno() in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
        return False  # the file system cannot exchange: fall back to two renames
    raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()), str(b))


@contextmanager
def _signals_deferred() -> Iterator[None]:
    """Hold back SIGINT/SIGTERM during the swap, so Ctrl-C cannot fall between its two steps."""
    if not hasattr(signal, "pthread_sigmask") or threading.current_thread() is not threading.main_thread():
        yield
        return
    held = {signal.SIGINT, signal.SIGTERM}
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
