"""render/formats: one renderer per output format behind one base class; --format lists exactly them."""
from __future__ import annotations

import json

import pandas as pd

from cspcost.cli.output import Format
from cspcost.render.formats import RENDERERS, Renderer

FRAME = pd.DataFrame({"name": ["conv", "fc"], "macs": [1_024, 10]})


class _Result:
    """A stand-in result: its own JSON."""

    def to_json(self) -> str:
        return '{"model": "x"}'


def test_every_format_is_a_renderer_and_a_choice() -> None:
    """--format's choices are the registry's names, each a Renderer subclass named by its key."""
    assert [f.value for f in Format] == list(RENDERERS) == ["table", "json", "csv", "md"]
    assert all(isinstance(r, Renderer) and r.name == name for name, r in RENDERERS.items())


def test_frames() -> None:
    """Each format writes the same rows: JSON records, CSV lines, a Markdown table, a terminal table."""
    assert json.loads(RENDERERS["json"].frame(FRAME, "t")) == [{"name": "conv", "macs": 1024}, {"name": "fc", "macs": 10}]
    assert RENDERERS["csv"].frame(FRAME, "t").splitlines() == ["name,macs", "conv,1024", "fc,10"]
    assert RENDERERS["md"].frame(FRAME, "t").splitlines()[0].startswith("| name")
    assert "conv" in RENDERERS["table"].frame(FRAME, "t")


def test_results_and_sections() -> None:
    """A whole result: JSON its own object, the terminal its view, Markdown its document (else the
    frame), CSV its frame; only Markdown writes a heading between tables."""
    result, view, doc = _Result(), (lambda: "VIEW"), (lambda: "DOC")
    assert RENDERERS["json"].result(result, FRAME, view) == '{"model": "x"}\n'
    assert RENDERERS["table"].result(result, FRAME, view) == "VIEW"
    assert RENDERERS["md"].result(result, FRAME, view, doc) == "DOC"
    assert RENDERERS["md"].result(result, FRAME, view) == RENDERERS["md"].frame(FRAME, "")
    assert RENDERERS["csv"].result(result, FRAME, view, doc) == RENDERERS["csv"].frame(FRAME, "")
    assert [r.section("s") for r in RENDERERS.values()] == ["", "", "", "\n## s\n\n"]
