"""Option types and help texts the commands share, and the parsing of ``--input`` / ``--size``."""
from __future__ import annotations

from enum import Enum
from typing import Optional


class Cio(str, Enum):
    """CIO conventions (cspcost conventions lists them)."""

    hardnet = "hardnet"
    hardnet_fc = "hardnet-fc"
    cspnet = "cspnet"


class ConventionName(str, Enum):
    """Counting conventions (cspcost conventions lists them)."""

    pytorch = "pytorch"
    darknet = "darknet"
    torchvision = "torchvision"
    timm = "timm"
    ultralytics = "ultralytics"


_CONVENTION_HELP = "pytorch (every op and parameter), darknet (the CSPNet paper's counting), or the numbers torchvision, timm or ultralytics publish (cspcost conventions)."


_CIO_HELP = "CIO: hardnet (conv layers, HarDNet's definition), hardnet-fc (conv + FC as 1x1 conv) or cspnet (also pools). Default: hardnet; cspnet under darknet."


_HTML_HELP = "Also write an interactive report to this .html file: one self-contained file (plotly.js embedded, ~5 MB) that opens offline in any browser."


_MODEL_HELP = "Zoo name, timm:NAME, torchvision:NAME, ultralytics:NAME.yaml, a .yaml (Ultralytics) or .cfg (darknet) file, path/to/file.py:factory or package.module:factory."


def _input_shape(input: Optional[str], size: Optional[int]) -> Optional[tuple[int, ...]]:
    """``--input CxHxW`` or ``--size S`` (3xSxS), never both; None for the model's own."""
    from cspcost.errors import UsageError
    from cspcost.shapes import parse_input

    if input and size is not None:
        raise UsageError("give --input or --size, not both")
    return parse_input(input) if input else ((3, size, size) if size is not None else None)
