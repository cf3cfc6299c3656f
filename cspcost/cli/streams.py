"""stdout carries only cspcost's own output: everything else printed while a command runs goes to stderr.

Libraries and user code print: Ultralytics' first-run "Creating new Ultralytics Settings" banner,
a ``file.py:factory`` that prints at import, build or forward, a C extension writing to fd 1. Any
of those on stdout breaks ``--format json``/``csv``. While a command runs, ``others_to_stderr``
points ``sys.stdout`` and (when stdout is the process's fd 1) file descriptor 1 itself at stderr;
the command's own output is written to ``own_stdout()``, the original stdout.
"""
from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from typing import Iterator, TextIO

_OWN: list[TextIO] = []  # where cspcost's own output goes while a command runs (innermost last)


def own_stdout() -> TextIO:
    """The stream cspcost's own output goes to: the real stdout, even while others are redirected."""
    return _OWN[-1] if _OWN else sys.stdout


class StdoutClosed(Exception):
    """The reader of stdout went away (``cspcost rules | head -1``): the command ends quietly."""


def write_own(text: str) -> None:
    """Write cspcost's own output and flush it (before any later stderr line, so a terminal shows
    them in order); a closed pipe raises ``StdoutClosed`` after pointing the stream at /dev/null,
    so the flushes still to come (the redirection's undo, the interpreter's exit) find a sink."""
    stream = own_stdout()
    try:
        stream.write(text)
        stream.flush()
    except BrokenPipeError as exc:
        _to_devnull(stream)
        raise StdoutClosed() from exc


def _to_devnull(stream: TextIO) -> None:
    """Point ``stream``'s file descriptor at /dev/null (what it still buffers is dropped there)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stream.fileno())
        os.close(devnull)
    except (AttributeError, OSError, ValueError):  # no descriptor (a test runner's buffer): nothing to redirect
        pass


def _fd_of(stream: TextIO) -> int | None:
    """1 when ``stream`` writes to the process's file descriptor 1 (not a test runner's buffer), else None."""
    try:
        return 1 if stream.fileno() == 1 and sys.stderr.fileno() == 2 else None
    except (AttributeError, OSError, ValueError):
        return None


def _flush_c_stdio() -> None:
    """Flush C's stdio buffers, so a C extension's pending prints land where they were aimed."""
    try:
        import ctypes

        ctypes.CDLL(None).fflush(None)
    except (OSError, AttributeError):  # no libc to ask (Windows): Python's own flush is all there is
        pass


@contextmanager
def others_to_stderr() -> Iterator[None]:
    """Send every print that is not cspcost's own output to stderr, at the Python and fd levels."""
    real = sys.stdout
    real.flush()
    fd = _fd_of(real)
    own: TextIO = real
    if fd is not None:
        saved = os.dup(fd)
        os.dup2(2, fd)
        own = os.fdopen(saved, "w", encoding=real.encoding, errors=real.errors, closefd=True)
    _OWN.append(own)
    sys.stdout = sys.stderr
    try:
        yield
    finally:
        sys.stdout = real
        _OWN.pop()
        _flush_c_stdio()
        sys.stderr.flush()
        if fd is not None:
            own.flush()
            os.dup2(own.fileno(), fd)
            own.close()
