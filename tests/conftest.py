"""Shared fixtures: the test networks module is importable as ``nets``; ``cuda`` tests skip without a GPU."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

# Budget checks cache their measurements; tests never read or fill the user's cache.
import os  # noqa: E402
import tempfile  # noqa: E402

os.environ["CSPCOST_CACHE_DIR"] = tempfile.mkdtemp(prefix="cspcost-test-cache-")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip every test marked ``cuda`` on a machine without a CUDA GPU (one reason, one place)."""
    if not any(item.get_closest_marker("cuda") for item in items):
        return
    import torch

    if not torch.cuda.is_available():
        skip = pytest.mark.skip(reason="needs a CUDA GPU (torch.cuda.is_available() is False)")
        for item in items:
            if item.get_closest_marker("cuda"):
                item.add_marker(skip)
