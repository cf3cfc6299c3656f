"""Whole-file writes for render: re-exported from ``cspcost.files``, their one implementation."""
from cspcost.files import atomic_path, ensure_replaceable, read_text_exact, write_atomic, write_bytes_atomic

__all__ = ["atomic_path", "ensure_replaceable", "read_text_exact", "write_atomic", "write_bytes_atomic"]
