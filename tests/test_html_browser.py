"""The HTML report in a real browser: Debian's headless Chromium, driven by playwright (no browser is
downloaded). Two reports: resnet10 vs cspresnet10, and YOLO11x (571 layer rows) when Ultralytics is
installed. Each loads without a console error, offline; every view draws; a hover shows the layer's
numbers as ``--format json`` gives them; sorting by FLOPs puts the bottleneck first; a selection
reaches every view. Skipped cleanly without Chromium or playwright.

``CSPCOST_SCREENSHOTS=docs`` keeps a screenshot of each report, its hover open, in that folder
(README's picture, ``docs/html_report_yolo11x.png``, is made so).
"""
from __future__ import annotations

import io
import json
import os
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cspcost.cli import app

CHROMIUM = os.environ.get("CSPCOST_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]

pytest.importorskip("plotly")
sync_api = pytest.importorskip("playwright.sync_api")
if not Path(CHROMIUM).exists():
    pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)", allow_module_level=True)

pytestmark = pytest.mark.slow  # about a minute: YOLO11x analysed, two pages driven in Chromium
runner = CliRunner()
HIGHLIGHT = "rgba(255,190,0,0.25)"  # the selection band on the bars (report.js)
REPORTS: dict[str, tuple[list[str], list[str], int]] = {
    # name: (the --html command, the --format json command of the model checked, its model index)
    "r10": (["compare", "resnet10", "cspresnet10"], ["analyze", "cspresnet10"], 1),
    "yolo11x": (["analyze", "ultralytics:yolo11x.yaml"], [], 0),
}


def _cli(*args: str) -> None:
    """Run cspcost in-process; fail the test on a non-zero exit."""
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.stderr


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, dict[str, Any]]]:
    """Each report's HTML file and the ``--format json`` analysis of the model its checks name."""
    folder = tmp_path_factory.mktemp("html")
    out: dict[str, tuple[Path, dict[str, Any]]] = {}
    for name, (command, json_command, _) in REPORTS.items():
        if name == "yolo11x" and not _has("ultralytics"):
            continue
        html, data = folder / f"{name}.html", folder / f"{name}.json"
        if json_command:
            _cli(*command, "--html", str(html))
            _cli(*json_command, "--format", "json", "--output", str(data))
        else:  # one run gives both: the page and the JSON it is checked against
            _cli(*command, "--html", str(html), "--format", "json", "--output", str(data))
        out[name] = (html, json.loads(data.read_text()))
    return out


def _has(module: str) -> bool:
    """Whether a library is importable."""
    import importlib.util

    return importlib.util.find_spec(module) is not None


@pytest.fixture(scope="module")
def browser() -> Any:
    """One headless Chromium for the module."""
    with sync_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        chromium.close()


class Loaded:
    """A report open in a page, with what the page said on its console and how long it took."""

    def __init__(self, browser: Any, html: Path, offline: bool = False) -> None:
        self.context = browser.new_context(viewport={"width": 1400, "height": 1250}, offline=offline)
        self.requests: list[str] = []
        self.context.route("**/*", self._only_files)
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        start = time.perf_counter()
        self.page.goto(html.as_uri())
        self.page.wait_for_selector("body[data-ready='1']", timeout=60_000)
        self.load_s = time.perf_counter() - start

    def _only_files(self, route: Any) -> None:
        """Let file:// through; record and abort anything else (the network is off)."""
        url = route.request.url
        if url.startswith("file:"):
            route.continue_()
        else:
            self.requests.append(url)
            route.abort()


@pytest.fixture(scope="module")
def pages(browser: Any, files: dict[str, tuple[Path, dict[str, Any]]]) -> Any:
    """Each report loaded once, with the network off, for the checks below."""
    loaded = {name: Loaded(browser, html, offline=True) for name, (html, _) in files.items()}
    yield loaded
    for page in loaded.values():
        page.context.close()


@pytest.fixture(params=list(REPORTS))
def report(request: pytest.FixtureRequest, pages: dict[str, Loaded], files: dict[str, Any]) -> tuple[str, Loaded, dict[str, Any]]:
    """(name, loaded page, the checked model's JSON analysis) of one report."""
    name = request.param
    if name not in pages:
        pytest.skip("ultralytics is not installed")
    return name, pages[name], files[name][1]


def _non_blank(png: bytes) -> int:
    """How many distinct colours a screenshot has (a blank region has one or two)."""
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGB")
    return len(image.getcolors(maxcolors=1 << 24))


def test_loads_offline_without_errors_and_every_view_draws(report: tuple[str, Loaded, dict[str, Any]]) -> None:
    """No console error, no request off the disk; the bars, tree, CSP chart and table all draw."""
    name, loaded, _ = report
    print(f"\n{name}: loaded in {loaded.load_s:.2f} s (offline, under the test machine's load)")
    assert loaded.errors == [] and loaded.requests == []
    loaded.page.select_option("#model", str(REPORTS[name][2]))  # the model with CSP blocks
    for view in ("#fig-layers", "#fig-tree", "#fig-csp", "#layer-table", "header"):
        shot = loaded.page.locator(view).screenshot()
        assert _non_blank(shot) > 8, view
    assert loaded.page.locator("#fig-layers .bars .point").count() > 0
    assert loaded.page.locator("#fig-tree .slice").count() > 5


def _bar_position(loaded: Loaded, model: int, layer: str) -> list[float]:
    """The pixel centre of a layer's FLOPs bar (from plotly's own axis mapping), the chart scrolled into view."""
    loaded.page.locator("#fig-layers").scroll_into_view_if_needed()
    return loaded.page.evaluate("""([model, layer]) => {
      const gd = document.getElementById('fig-layers');
      const data = JSON.parse(document.getElementById('cspcost-data').textContent);
      const names = data.models[model].columns.name;
      const t = gd.data.find((t) => t.meta && t.meta.model === model && t.meta.metric === 'flops');
      const i = t.customdata.findIndex((r) => names[r] === layer);
      const box = gd.querySelector('.nsewdrag[data-subplot="xy"]').getBoundingClientRect();
      const fl = gd._fullLayout;
      return [box.left + fl.xaxis.l2p(t.x[i]), box.top + fl.yaxis.l2p(t.y[i] / 2)];
    }""", [model, layer])


def _bottleneck(analysis: dict[str, Any]) -> dict[str, Any]:
    """The JSON's heaviest layer row (first of equals, as the walker picks it)."""
    return max(analysis["layers"], key=lambda row: row["flops"])


def test_hover_shows_the_json_numbers(report: tuple[str, Loaded, dict[str, Any]]) -> None:
    """Moving the mouse onto the bottleneck's bar shows its MACs, FLOPs, params, CIO and bytes exactly
    as `--format json` gives them (thousands separators added)."""
    name, loaded, analysis = report
    row = _bottleneck(analysis)
    loaded.page.evaluate("window.scrollTo(0, 0)")
    x, y = _bar_position(loaded, REPORTS[name][2], row["name"])
    loaded.page.mouse.move(x, y)
    loaded.page.wait_for_selector("#fig-layers .hoverlayer .hovertext")
    text = loaded.page.eval_on_selector("#fig-layers .hoverlayer .hovertext",
                                        "e => [...e.querySelectorAll('tspan.line')].map((t) => t.textContent).join('\\n')")
    print(f"\n{name} hover:\n{text}")
    assert text.splitlines()[0].startswith(row["name"] + " ")
    for expected in (f"MACs {row['macs']:,}", f"FLOPs {row['flops']:,}", f"params {row['params']:,}",
                     f"CIO {row['cio_elems']:,}", f"in {row['cio_in_elems']:,} + out {row['cio_out_elems']:,}",
                     f"bytes read {row['bytes_read']:,}", f"written {row['bytes_written']:,}",
                     "out " + "x".join(map(str, row["out_shape"]))):
        assert expected in text, expected
    keep = os.environ.get("CSPCOST_SCREENSHOTS")
    if keep:  # the page as a user sees it, the hover open
        loaded.page.screenshot(path=str(Path(keep) / f"html_report_{name}.png"))
    loaded.page.mouse.move(5, 5)


def test_sorting_by_flops_puts_the_bottleneck_first(report: tuple[str, Loaded, dict[str, Any]]) -> None:
    """A click on the table's flops column sorts it heaviest first; a second click lightest first."""
    name, loaded, analysis = report
    page = loaded.page
    page.select_option("#model", str(REPORTS[name][2]))
    page.click("#layer-table th[data-key='flops']")
    first = page.locator("#layer-table tbody tr").first.locator("td").first.inner_text()
    assert first == _bottleneck(analysis)["name"]
    page.click("#layer-table th[data-key='flops']")
    lightest = min(row["flops"] for row in analysis["layers"])
    cell = page.locator("#layer-table tbody tr").first.locator("td").nth(list(analysis["layers"][0]).index("flops"))
    assert cell.inner_text().replace(",", "") == str(lightest)


def test_a_selection_reaches_every_view(report: tuple[str, Loaded, dict[str, Any]]) -> None:
    """Clicking a table row selects the layer in the bars (a band), the tree (its block opened) and the
    status line; clicking another layer's bar moves the table's selection to it."""
    name, loaded, analysis = report
    page, model = loaded.page, REPORTS[name][2]
    page.select_option("#model", str(model))
    page.fill("#filter", "")
    heaviest = _bottleneck(analysis)["name"]
    page.click(f"#layer-table tbody tr:has(td:text-is('{heaviest}'))")
    assert heaviest in page.inner_text("#selection")
    bands = page.evaluate(f"document.getElementById('fig-layers').layout.shapes.filter((s) => s.fillcolor === '{HIGHLIGHT}').length")
    assert bands == 1
    level = page.evaluate("document.getElementById('fig-tree').data[0].level")
    assert level == heaviest.rsplit(".", 1)[0]
    other = sorted(analysis["layers"], key=lambda r: -r["flops"])[1]["name"]  # a tall bar, easy to hit
    page.mouse.click(*_bar_position(loaded, model, other))
    page.wait_for_function(f"document.getElementById('selection').textContent.includes({json.dumps(other)})")
    assert page.locator("#layer-table tbody tr.sel td").first.inner_text() == other
    page.fill("#filter", "conv")
    shown = page.locator("#layer-table tbody tr").all_inner_texts()
    assert 0 < len(shown) < len(analysis["layers"]) and all("conv" in row.lower() for row in shown)
    page.fill("#filter", "")
    assert loaded.errors == []


def test_tree_and_csp_clicks_select_too(report: tuple[str, Loaded, dict[str, Any]]) -> None:
    """A click on a CSP block's row selects the block (its layers banded on the bars, its rows marked in
    the table); a click on a tree block selects that block."""
    name, loaded, analysis = report
    page, model = loaded.page, REPORTS[name][2]
    page.select_option("#model", str(model))
    row = page.locator("#csp-table tbody tr").first
    block = row.get_attribute("data-path")
    row.click()
    status = page.inner_text("#selection")
    flops = sum(r["flops"] for r in analysis["layers"] if r["name"].startswith(block + ".") or r["name"] == block)
    assert f"· {block} ·" in status and f"FLOPs {flops:,}" in status  # the block's sum over its layers
    marked = page.locator("#layer-table tbody tr.sel td:first-child").all_inner_texts()
    assert marked and all(m.startswith(block + ".") or m == block for m in marked)
    inside = [r["name"] for r in analysis["layers"] if r["name"].startswith(block + ".") or r["name"] == block]
    assert sorted(marked) == sorted(inside)
    page.locator("#fig-tree").scroll_into_view_if_needed()
    page.locator("#fig-tree g.slice").nth(1).click()  # the open block's first child
    page.wait_for_function(f"document.getElementById('selection').textContent !== {json.dumps(status)}")
    assert page.inner_text("#selection").split(" · ")[1].startswith(block + ".") and loaded.errors == []
