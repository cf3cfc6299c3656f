"""The JSON encoder for render: re-exported from ``cspcost.jsondump``, its one implementation."""
from cspcost.jsondump import dumps, finite, plain

__all__ = ["dumps", "finite", "plain"]
