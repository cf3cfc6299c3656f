"""Counting conventions: which ops count toward MACs/FLOPs and CIO, and which params count.

``catalog`` holds the conventions (``pytorch``, ``darknet``, ``torchvision``, ``timm``,
``ultralytics``), ``counting`` the peer tools' per-op rules they use, ``cio`` the CIO options
and ``fusion`` the model a convention captures (Ultralytics' fuse on a meta copy).
"""
from cspcost.walk.conventions.catalog import CATALOG, About, Convention, make_convention
from cspcost.walk.conventions.cio import CIO_DOCS, CIO_KINDS

__all__ = ["CATALOG", "CIO_DOCS", "CIO_KINDS", "About", "Convention", "make_convention"]
