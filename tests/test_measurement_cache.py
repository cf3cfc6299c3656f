"""The measurement cache of ``cspcost check``: a cached result equals a fresh one; changing the
model's code, its input, batch or convention measures afresh; a cache that cannot be written
warns and never costs the result (issue 23)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cspcost import api, cache
from cspcost.cli import app

runner = CliRunner()

NET = '''
from torch import nn


def build():
    return nn.Sequential(nn.Conv2d(3, {width}, 3, bias=False), nn.ReLU())
'''


def _net(tmp_path: Path, width: int) -> Path:
    """A one-conv model file; its conv has ``width`` output channels."""
    path = tmp_path / "net.py"
    path.write_text(NET.format(width=width))
    return path


def _flops(width: int, side: int, batch: int = 1) -> int:
    """FLOPs of NET: a 3x3 conv 3->width (2 per MAC, 3*3*3 MACs per output) and ReLU (1 per output);
    e.g. width 4 on 8x8: 144 outputs, 2 * 27 * 144 + 144 = 7,920."""
    outputs = batch * width * (side - 2) ** 2
    return 2 * 27 * outputs + outputs


def _budgets(tmp_path: Path, body: str) -> str:
    """A budgets file."""
    path = tmp_path / "budgets.toml"
    path.write_text(body)
    return str(path)


@pytest.fixture()
def calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every fresh measurement check_budgets makes, by model spec."""
    made: list[str] = []
    fresh = api._measured

    def counting(model, *args):  # type: ignore[no-untyped-def]
        made.append(model)
        return fresh(model, *args)

    monkeypatch.setattr(api, "_measured", counting)
    return made


def test_cached_result_equals_fresh(tmp_path: Path, calls: list[str]) -> None:
    """Second run: no measurement, the same outcomes, and the entry equals api.measure's numbers."""
    path = _budgets(tmp_path, '[cspresnet10]\nflops_max = 1e12\nparams_max = 1e9\nconvention = "darknet"\n'
                              '[tinycsp]\ncio_elems_max = 1e9\ncsp_block_flops_max = 1e12\n')
    first = api.check_budgets(path, cache_dir=tmp_path / "c")
    assert calls == ["cspresnet10", "tinycsp"]
    second = api.check_budgets(path, cache_dir=tmp_path / "c")
    assert calls == ["cspresnet10", "tinycsp"] and second == first
    fresh = api.check_budgets(path, cache=False)
    assert fresh == first
    stored = [json.loads(p.read_text())["record"]["values"] for p in (tmp_path / "c").glob("*.json")]
    fresh_values = [api.measure("cspresnet10", convention="darknet"), api.measure("tinycsp")]
    assert sorted(stored, key=lambda v: v["params"]) == sorted(fresh_values, key=lambda v: v["params"])


def test_model_input_convention_changes_recompute(tmp_path: Path, calls: list[str]) -> None:
    """Editing the model's file, the input, the batch or the convention measures afresh."""
    net = _net(tmp_path, 4)
    body = f'["{net}:build"]\nflops_max = 1e12\ninput = "3x8x8"\n'
    path = _budgets(tmp_path, body)
    store = tmp_path / "c"
    flops = lambda: api.check_budgets(path, cache_dir=store)[0].measured  # noqa: E731
    assert flops() == _flops(4, 8) == 7_920
    assert flops() == _flops(4, 8) and len(calls) == 1  # unchanged: from the cache
    _net(tmp_path, 8)
    assert flops() == _flops(8, 8) and len(calls) == 2  # the model's code changed
    _budgets(tmp_path, body.replace("3x8x8", "3x10x10"))
    assert flops() == _flops(8, 10) and len(calls) == 3  # the input changed
    _budgets(tmp_path, body.replace("3x8x8", "3x10x10") + "batch = 2\n")
    assert flops() == _flops(8, 10, 2) and len(calls) == 4  # the batch changed
    _budgets(tmp_path, body.replace("3x8x8", "3x10x10") + "batch = 2\nconvention = \"darknet\"\n")
    flops()
    assert len(calls) == 5  # the convention changed
    flops()
    assert len(calls) == 5


def test_key_covers_versions(monkeypatch: pytest.MonkeyPatch) -> None:
    """cspcost's source, torch's version and the settings are all in the key."""
    settings = {"input": None, "batch": 1, "convention": "pytorch", "cio": None}
    base = cache.key("tinycsp", settings)
    assert cache.key("tinycsp", {**settings, "convention": "darknet"}) != base
    monkeypatch.setattr(cache, "cspcost_digest", lambda: "edited")
    assert cache.key("tinycsp", settings) != base
    monkeypatch.undo()
    monkeypatch.setattr(cache, "_version", lambda dist: "9.9" if dist == "torch" else "")
    assert cache.key("tinycsp", settings) != base


def test_broken_entry_is_a_miss(tmp_path: Path, calls: list[str]) -> None:
    """A truncated entry is measured afresh (and rewritten), not trusted."""
    path = _budgets(tmp_path, "[tinycsp]\nflops_max = 1e12\n")
    first = api.check_budgets(path, cache_dir=tmp_path / "c")
    for entry in (tmp_path / "c").glob("*.json"):
        entry.write_text(entry.read_text()[:20])
    assert api.check_budgets(path, cache_dir=tmp_path / "c") == first and len(calls) == 2


def test_unwritable_cache_warns_and_prints(tmp_path: Path) -> None:
    """A cache dir that cannot be made (a file is in the way) costs one warning, not the result."""
    blocker = tmp_path / "file"
    blocker.write_text("")
    path = _budgets(tmp_path, "[tinycsp]\nflops_max = 1e12\n[resnet10]\nflops_max = 1e12\n")
    result = runner.invoke(app, ["check", path, "--cache-dir", str(blocker / "cache"), "-f", "json"])
    assert result.exit_code == 0 and len(json.loads(result.stdout)) == 2
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert warnings == [f"warning: cannot write the measurement cache {blocker / 'cache'}: Not a directory; "
                        "results are not cached (choose a directory with --cache-dir or CSPCOST_CACHE_DIR)"]


def test_no_cache_stores_nothing(tmp_path: Path) -> None:
    """--no-cache measures and writes no entry."""
    path = _budgets(tmp_path, "[tinycsp]\nflops_max = 1e12\n")
    assert runner.invoke(app, ["check", path, "--no-cache", "--cache-dir", str(tmp_path / "c")]).exit_code == 0
    assert not (tmp_path / "c").exists()


def test_warm_check_never_imports_torch(tmp_path: Path) -> None:
    """Answered from the cache, check_budgets needs no torch (most of a warm gate's time)."""
    import os
    import subprocess
    import sys

    path = _budgets(tmp_path, "[tinycsp]\nflops_max = 1e12\n")
    repo = Path(__file__).parents[1]
    env = {**os.environ, "CSPCOST_CACHE_DIR": str(tmp_path / "c"),
           "PYTHONPATH": os.pathsep.join([str(repo), str(repo / ".dev"), os.environ.get("PYTHONPATH", "")])}
    code = ("import sys; from cspcost.api import check_budgets; o = check_budgets(sys.argv[1]); "
            "print(o[0].measured, 'torch' in sys.modules)")
    runs = [subprocess.run([sys.executable, "-c", code, path], capture_output=True, text=True, env=env,
                           timeout=300, check=True).stdout.split() for _ in range(2)]
    assert runs[0][1] == "True" and runs[1] == [runs[0][0], "False"]
