"""cspcost.threads: the intra-op thread count set for a block and restored."""
from __future__ import annotations

import pytest
import torch

from cspcost.errors import UsageError
from cspcost.threads import thread_count


def test_thread_count_sets_and_restores() -> None:
    """One thread inside, the caller's count after (also when the block raises)."""
    before = torch.get_num_threads()
    with thread_count(1) as n:
        assert n == 1 == torch.get_num_threads()
    assert torch.get_num_threads() == before
    with pytest.raises(RuntimeError), thread_count(1):
        raise RuntimeError("inside")
    assert torch.get_num_threads() == before


def test_thread_count_none_keeps_the_current_count() -> None:
    """None runs with torch's current count."""
    with thread_count(None) as n:
        assert n == torch.get_num_threads()


def test_thread_count_refuses_zero() -> None:
    """Zero threads is a usage error, before anything changes."""
    before = torch.get_num_threads()
    with pytest.raises(UsageError, match="at least 1"), thread_count(0):
        pass
    assert torch.get_num_threads() == before
