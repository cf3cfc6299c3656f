"""Shared fixtures: the test networks module is importable as ``nets``."""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

# Budget checks cache their measurements; tests never read or fill the user's cache.
import os  # noqa: E402
import tempfile  # noqa: E402

os.environ["CSPCOST_CACHE_DIR"] = tempfile.mkdtemp(prefix="cspcost-test-cache-")
