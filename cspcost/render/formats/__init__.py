"""One renderer per output format behind one base class (pyinstrument's ``renderers/`` is the model):
adding a format is adding a file here and a line to ``RENDERERS``."""
from __future__ import annotations

from cspcost.render.formats.base import Renderer
from cspcost.render.formats.csv import CsvRenderer
from cspcost.render.formats.json import JsonRenderer
from cspcost.render.formats.markdown import MarkdownRenderer
from cspcost.render.formats.table import TableRenderer

# name -> renderer, in the order ``--format`` lists them
RENDERERS: dict[str, Renderer] = {r.name: r for r in (TableRenderer(), JsonRenderer(), CsvRenderer(),
                                                     MarkdownRenderer())}

__all__ = ["RENDERERS", "Renderer"]
