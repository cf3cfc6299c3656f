"""Option types and help texts the commands share, and the parsing of ``--input`` / ``--size``."""
from __future__ import annotations

from enum import Enum
from typing import Optional

from cspcost.walk.conventions.catalog import CATALOG
from cspcost.walk.conventions.cio import CIO_KINDS


# Generated from the catalogs (torch-free), so a convention or CIO kind added there is an option here.
Cio = Enum("Cio", {kind.replace("-", "_"): kind for kind in CIO_KINDS}, type=str)  # type: ignore[misc]
Cio.__doc__ = "CIO conventions (cspcost conventions lists them)."
ConventionName = Enum("ConventionName", {name: name for name in CATALOG}, type=str)  # type: ignore[misc]
ConventionName.__doc__ = "Counting conventions (cspcost conventions lists them)."


_CONVENTION_HELP = ("pytorch (every op and parameter), darknet (the CSPNet paper's counting), or the numbers "
                    f"{', '.join(n for n in CATALOG if n not in ('pytorch', 'darknet'))} publish (cspcost conventions).")


_CIO_HELP = "CIO: hardnet (conv layers, HarDNet's definition), hardnet-fc (conv + FC as 1x1 conv) or cspnet (also pools). Default: hardnet; cspnet under darknet."


_HTML_HELP = "Also write an interactive report to this .html file: one self-contained file (plotly.js embedded, ~5 MB) that opens offline in any browser."


_MODEL_HELP = "Zoo name, timm:NAME, torchvision:NAME, ultralytics:NAME.yaml, a .yaml (Ultralytics) or .cfg (darknet) file, path/to/file.py:factory or package.module:factory."


def _input_shape(input: Optional[str], size: Optional[int]) -> Optional[tuple[int, ...]]:
    """``--input CxHxW`` or ``--size S`` (3xSxS), never both; None for the model's own."""
    from cspcost.errors import UsageError
    from cspcost.shapes import check_shape, parse_input

    if input is not None and size is not None:
        raise UsageError("give --input or --size, not both")
    return parse_input(input) if input is not None else (check_shape((3, size, size)) if size is not None else None)


_ORT_LEVEL_HELP = ("With --runtime onnxruntime: its graph optimisation level: all (its default: every fusion and "
                   "the NCHWc layouts), extended (every fusion, NCHW; what the latency model is calibrated for), "
                   "basic or disabled.")
