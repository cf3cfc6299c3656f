"""The HTML report's content, without a browser: the numbers it carries, the same bytes on rerun,
no network reference, one-line errors for bad paths (tests/test_html_browser.py drives it in Chromium)."""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

import cspcost
from cspcost.cli import app
from cspcost.errors import UsageError

pytest.importorskip("plotly")

from cspcost.render.html import check_target, html_text, write_html  # noqa: E402
from cspcost.render.html.model import ROOT, analysis_page, comparison_page  # noqa: E402

runner = CliRunner()


def data_of(document: str) -> dict:
    """The JSON the page's script reads."""
    text = re.search(r'<script type="application/json" id="cspcost-data">(.*?)</script>', document, re.S).group(1)
    return json.loads(text.replace("<\\/", "</"))


@pytest.fixture(scope="module")
def pair():  # noqa: ANN201
    """resnet10 vs cspresnet10 (pytorch convention)."""
    return cspcost.compare(["resnet10", "cspresnet10"])


def test_hover_carries_the_layers_exact_numbers(pair) -> None:  # noqa: ANN001
    """ResNet-10's 7x7/2 stem conv on 3x256x256: by hand, MACs = 64 x 128 x 128 x 3 x 7 x 7 = 154,140,672,
    FLOPs twice that, params 64 x 3 x 49 = 9,408, CIO = 3x256x256 + 64x128x128 = 196,608 + 1,048,576."""
    page = comparison_page(pair)
    base = page.models[0]
    k = base.columns["name"].index("stem.conv.conv")
    text = base.hover[k]
    assert "in 1x3x256x256 → out 1x64x128x128" in text
    assert "MACs 154,140,672 (154.1M)" in text and "FLOPs 308,281,344 (308.3M)" in text
    assert "params 9,408 (9.41K)" in text and "CIO 1,245,184 (1.25M) = in 196,608 + out 1,048,576" in text
    assert "stage /2" in text and base.columns["flops"][k] == 2 * 154_140_672


def test_table_columns_are_the_csv_columns_plus_stage_and_role(pair) -> None:  # noqa: ANN001
    """The layer table holds every `--format csv` column, row for row, then stage and CSP role."""
    page = comparison_page(pair)
    layers = pair.results[1].layers
    columns = page.models[1].columns
    assert list(columns)[:len(layers.columns)] == list(layers.columns)
    assert list(columns)[len(layers.columns):] == ["stage", "role"]
    assert columns["flops"] == layers["flops"].tolist() and columns["name"] == layers["name"].tolist()
    assert {"split", "part2", "fusion_transition"} <= set(columns["role"])  # cspresnet10's CSP stages 3-4


def test_tree_sums_to_the_totals(pair) -> None:  # noqa: ANN001
    """Icicle nodes carry each layer row's own value once (branchvalues 'remainder'): the tree adds up
    to the model's totals, FLOPs and params alike, and every row has its node."""
    from cspcost.render.html.figures import module_tree

    page = comparison_page(pair)
    for i, (model, result) in enumerate(zip(page.models, pair.results)):
        trace = module_tree(model, i)["data"][0]
        assert trace["ids"][0] == ROOT and sum(trace["values"]) == result.totals["flops"]
        params = [model.columns["params"][r] if r >= 0 else 0 for r in trace["customdata"]]
        assert sum(params) == result.totals["params"]
        assert sorted(r for r in trace["customdata"] if r >= 0) == list(range(len(result.layers)))


def test_csp_blocks_and_their_shares(pair) -> None:  # noqa: ANN001
    """Each CSP block's share is its FLOPs over the model's; the baseline has none."""
    page = comparison_page(pair)
    assert page.models[0].csp == []
    blocks = page.models[1].csp
    assert blocks and all(b["flops_share"] == b["flops"] / pair.results[1].totals["flops"] for b in blocks)
    assert {b["gamma_fraction"] for b in blocks} == {"1/2"}


def test_comparison_bars_are_aligned_by_stage(pair) -> None:  # noqa: ANN001
    """Both models' bars share the stage bands; each model's k-th layer of a stage lies inside that band."""
    page = comparison_page(pair)
    assert [s[2] for s in page.spans] == list(pair.stages["stage"])
    for model in page.models:
        stages = model.columns["stage"]
        bands = {label: (a, b) for a, b, label in page.spans}
        for r, x in zip(model.bars, model.x):
            a, b = bands[stages[r]]
            assert a < x < b
        assert len(model.bars) == sum(1 for ops in model.columns["ops"] if ops > 0)


def test_same_bytes_on_rerun_and_no_network(pair) -> None:  # noqa: ANN001
    """Two renderings are byte-identical (fixed element ids, no date); plotly.js is embedded and the
    page names no URL at all (plotly.js's own bundle mentions its CDN for geo maps, never drawn here)."""
    first, second = html_text(pair), html_text(pair)
    assert first == second
    assert not re.search(r"<script[^>]+src=", first)
    assert "http:" not in html_text(pair, plotly_src="p.js") and "https:" not in html_text(pair, plotly_src="p.js")
    assert len(re.findall(r'id="fig-', first)) == 3
    data = data_of(first)
    assert [m["label"] for m in data["models"]] == pair.labels


def test_linked_plotly_for_a_folder_of_reports(pair) -> None:  # noqa: ANN001
    """With ``plotly_src`` the page links to one plotly.min.js instead of embedding ~5 MB."""
    linked = html_text(pair, plotly_src="../plotly.min.js")
    assert '<script src="../plotly.min.js"></script>' in linked
    assert len(linked) < len(html_text(pair)) - 4_000_000


def test_analysis_page_finds_csp_blocks_itself() -> None:
    """`analyze --html` without --csp still shows the CSP blocks (found from the dataflow)."""
    result = cspcost.analyze("cspresnet10")
    page = analysis_page(result)
    assert page.kind == "analysis" and len(page.models) == 1
    assert len(page.models[0].csp) == len(cspcost.find_csp(result).csp_blocks) > 0
    assert ("versions", "cspcost {cspcost}, torch {torch}, python {python}".format(**result.versions)) in page.facts


def test_payload_is_json_safe_inside_a_script() -> None:
    """A layer name with '</script>' cannot end the data early."""
    result = cspcost.analyze("resnet10")
    result.layers.loc[0, "name"] = "</script><b>x"
    document = html_text(result)
    assert document.count("</script>") == 3  # plotly.js, the data, the page's script
    assert data_of(document)["models"][0]["columns"]["name"][0] == "</script><b>x"


def test_api_write_html(tmp_path: Path) -> None:
    """`cspcost.write_html(path, result)` is the API of --html: it returns the path it wrote."""
    target = cspcost.write_html(tmp_path / "a.html", cspcost.analyze("tinycsp"))
    assert target == tmp_path / "a.html" and data_of(target.read_text())["models"][0]["label"].startswith("tinycsp")


def test_cli_analyze_html(tmp_path: Path) -> None:
    """`analyze --html` writes the file beside the usual output, and says so on stderr."""
    target = tmp_path / "r.html"
    result = runner.invoke(app, ["analyze", "tinycsp", "--html", str(target), "--format", "json"])
    assert result.exit_code == 0, result.stderr
    assert f"wrote {target}" in result.stderr and json.loads(result.stdout)["model"] == "tinycsp"
    assert data_of(target.read_text())["kind"] == "analysis"


@pytest.mark.parametrize("where,fragment", [
    ("missing/r.html", "does not exist; create it first"),
    ("a_file/r.html", "is not a directory"),
    (".", "is a directory"),
    ("", "--html is empty"),
])
def test_bad_html_path_is_one_line_exit_2(tmp_path: Path, where: str, fragment: str) -> None:
    """A missing folder, a file as folder or a directory as target: one line, exit 2, nothing written."""
    (tmp_path / "a_file").write_text("x")
    before = sorted(p.name for p in tmp_path.iterdir())
    for command in (["analyze", "tinycsp"], ["compare", "tinycsp", "resnet10"]):
        result = runner.invoke(app, [*command, "--html", str(tmp_path / where) if where else ""])
        assert result.exit_code == 2, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1 and fragment in result.stderr
        assert "Traceback" not in result.stderr and result.stdout == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == before


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes anywhere")
def test_unwritable_folder_is_one_line_exit_2(tmp_path: Path) -> None:
    """A folder without write permission: exit 2 before any analysis."""
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        with pytest.raises(UsageError, match="not writable"):
            check_target(folder / "r.html")
    finally:
        folder.chmod(0o755)


def test_profile_page_joins_measured_and_predicted_time(tmp_path: Path) -> None:
    """`profile --html`: each layer's measured time (the profile's median) and the roofline's prediction
    sit beside its costs; the bars get a fourth row for time."""
    from cspcost.profiling.peaks import DevicePeaks

    peaks = DevicePeaks(device="cpu", matmul_gflops=10.0, conv_gflops=8.0, bandwidth_gbs=5.0, stamp={},
                        measured_at="2026-01-01T00:00:00Z")
    result = cspcost.profile("tinycsp", warmup=1, repeat=3, per_layer=True, peaks=peaks)
    target = write_html(tmp_path / "p.html", result)
    data = data_of(target.read_text())
    columns = data["models"][0]["columns"]
    times = result.layers_at(None).set_index("name")
    for name, ms, predicted in zip(columns["name"], columns["latency_ms"], columns["predicted_ms"]):
        if name in times.index and times.loc[name, "measured_ms"] > 0:
            assert ms == pytest.approx(times.loc[name, "measured_ms"], rel=1e-5)
            assert predicted == pytest.approx(times.loc[name, "predicted_ms"], rel=1e-5)
    assert "latency_ms" in data["metrics"]
    metrics = {t["meta"]["metric"] for t in data["figures"]["layers"]["data"] if t.get("meta")}
    assert metrics == {"flops", "cio_in_elems", "cio_out_elems", "latency_ms", "predicted_ms"}


def test_profile_html_with_processes_is_one_line(tmp_path: Path) -> None:
    """`profile --html --processes 2`: per-layer times come from one process, so it is exit 2, named."""
    result = runner.invoke(app, ["profile", "tinycsp", "--processes", "2", "--html", str(tmp_path / "p.html")])
    assert result.exit_code == 2 and "--html shows per-layer times" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_profile_without_layer_times_is_a_usage_error() -> None:
    """A profile measured without per-layer times has nothing per layer to show."""
    result = cspcost.profile("tinycsp", warmup=1, repeat=2, peaks=False)
    with pytest.raises(UsageError, match="per-layer"):
        html_text(result)


def test_header_lists_unsupported_ops() -> None:
    """The header carries the unsupported-op ledger when a model has one (ops counted as 0)."""
    import dataclasses

    result = cspcost.analyze("resnet10")
    page = analysis_page(dataclasses.replace(result, unsupported_ops={"aten.fancy": 2, "aten.odd": 1}))
    assert ("unsupported ops (resnet10)", "aten.fancy x2, aten.odd x1") in page.facts
    assert not any(k.startswith("unsupported") for k, _ in analysis_page(result).facts)


def test_report_pages_link_the_one_plotly_js(tmp_path: Path, pair) -> None:  # noqa: ANN001
    """`cspcost report`: each comparison folder gets index.html beside its charts, loading plotly.min.js
    from the report's root however deep the folder (modern/... is two levels down); same bytes twice."""
    from cspcost import report
    from cspcost.render.html import write_plotly_js

    files = report._pair_report(pair, tmp_path, "modern/a_vs_b")
    page = tmp_path / "modern" / "a_vs_b" / "index.html"
    assert page in files and (tmp_path / "modern" / "a_vs_b" / "summary.md") in files
    assert '<script src="../../plotly.min.js"></script>' in page.read_text()
    first = page.read_bytes()
    report._pair_report(pair, tmp_path, "modern/a_vs_b")
    assert page.read_bytes() == first
    from cspcost.render.html.page import plotly_js

    assert write_plotly_js(tmp_path).read_text() == plotly_js()
    assert report._interactive("a_vs_b") == " ([interactive](a_vs_b/index.html))"
