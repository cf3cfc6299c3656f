"""torch's intra-op CPU thread count, set for a block and restored (profiling and the peers share it)."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from cspcost.errors import UsageError


@contextmanager
def thread_count(threads: int | None) -> Iterator[int]:
    """Run with ``threads`` intra-op CPU threads (None: torch's current count), then restore it."""
    import torch  # here, so that importing this module stays cheap

    if threads is not None and threads < 1:
        raise UsageError(f"threads must be at least 1, got {threads}")
    before = torch.get_num_threads()
    torch.set_num_threads(threads or before)
    try:
        yield torch.get_num_threads()
    finally:
        torch.set_num_threads(before)
