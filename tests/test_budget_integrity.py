"""The CI gate never passes by accident (issue 23): ``check --update`` rewrites every TOML spelling
(or refuses), keeps the file's bytes, mode, owner and line endings; nan/inf limits, nested
``[a.b]`` tables and unpriced ops are refused or fail; errors cite the real line."""
from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

import cspcost
from cspcost import budgets as b
from cspcost.cli import app
from cspcost.errors import UnsupportedOpsWarning

runner = CliRunner()
TINY_FLOPS = cspcost.analyze("tinycsp").totals["flops"]  # the fresh measurement --update must write

UNPRICED = '''
import torch
from torch import nn


class Unpriced(nn.Module):
    """A conv, then logcumsumexp: an op no cost rule prices (counted as 0)."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, bias=False)

    def forward(self, x):
        return torch.logcumsumexp(self.conv(x), 1)


def build():
    return Unpriced()
'''


def write(tmp_path: Path, text: str, newline: str = "\n") -> Path:
    """A budgets file, written byte for byte."""
    path = tmp_path / "budgets.toml"
    path.write_bytes(text.replace("\n", newline).encode())
    return path


@pytest.mark.parametrize("text", [
    "['tinycsp']\nflops_max = 1\n",                       # literal-quoted table name
    '[tinycsp]\n"flops_max" = 1\n',                      # quoted key
    "tinycsp.flops_max = 1\n",                           # dotted key at the root
    "tinycsp = { flops_max = 1 }\n",                     # inline table
    '# gate\n["tinycsp"]  # the toy\nflops_max=1 # tight\n',
])
def test_update_rewrites_every_spelling(tmp_path: Path, text: str) -> None:
    """Each valid spelling gets the measured limit; the rest of the file is byte-identical."""
    path = write(tmp_path, text)
    result = runner.invoke(app, ["check", str(path), "--update"])
    assert result.exit_code == 0, result.stderr
    new = path.read_text()
    assert f"{TINY_FLOPS:_}" in new and new.replace(f"{TINY_FLOPS:_}", "1") == text
    assert b.load(path)[0].limits == {"flops_max": TINY_FLOPS}
    assert runner.invoke(app, ["check", str(path)]).exit_code == 0


def test_update_keeps_crlf_mode_and_group(tmp_path: Path) -> None:
    """CRLF stays CRLF, mode 0640 stays, the group stays (root may set any group to prove it)."""
    path = write(tmp_path, "# gate\n[tinycsp]\nflops_max = 1\n", newline="\r\n")
    os.chmod(path, 0o640)
    group = 1 if os.geteuid() == 0 else os.stat(path).st_gid
    if os.geteuid() == 0:
        os.chown(path, -1, group)
    assert runner.invoke(app, ["check", str(path), "--update"]).exit_code == 0
    assert path.read_bytes() == f"# gate\r\n[tinycsp]\r\nflops_max = {TINY_FLOPS:_}\r\n".encode()
    st = os.stat(path)
    assert stat.S_IMODE(st.st_mode) == 0o640 and st.st_gid == group


def test_update_refuses_a_read_only_file(tmp_path: Path) -> None:
    """0444: one line naming the file, exit 2, the file untouched (not replaced through the rename)."""
    path = write(tmp_path, "[tinycsp]\nflops_max = 1\n")
    os.chmod(path, 0o444)
    before = os.stat(path)
    result = runner.invoke(app, ["check", str(path), "--update"])
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        f"error: {path} is read-only (mode 0444); make it writable (chmod u+w {path}) to rewrite it"]
    after = os.stat(path)
    assert (after.st_ino, after.st_mode, path.read_text()) == (before.st_ino, before.st_mode, "[tinycsp]\nflops_max = 1\n")


def test_update_prints_its_result_as_json(tmp_path: Path) -> None:
    """--update -f json prints the measured rows (old limit beside the measurement)."""
    path = write(tmp_path, "[tinycsp]\nflops_max = 1\n")
    result = runner.invoke(app, ["check", str(path), "--update", "-f", "json"])
    assert result.exit_code == 0
    rows = json.loads(result.stdout)
    assert rows == [{"model": "tinycsp", "metric": "flops", "measured": TINY_FLOPS, "limit": 1, "tolerance": 0.0,
                     "margin_pct": round(100.0 * (1 - TINY_FLOPS), 2), "status": "EXCEEDED"}]
    assert f"updated 1 limits in {path}" in result.stderr


def test_update_refuses_what_it_cannot_rewrite() -> None:
    """A limit that does not read back is refused, not reported as updated."""
    with pytest.raises(b.BudgetFileError, match="cannot rewrite ghost flops_max"):
        b.updated_text("[tinycsp]\nflops_max = 1\n", {("ghost", "flops"): 5})


@pytest.mark.parametrize("text, message", [
    ("[tinycsp]\nflops_max = nan\n", ":2: [tinycsp] flops_max must be a finite number, got nan"),
    ("[tinycsp]\n\nparams_max = inf\n", ":3: [tinycsp] params_max must be a finite number, got inf"),
    ("[tinycsp]\nflops_max = 1\ntolerance = nan\n", ":3: [tinycsp] tolerance must be a number in [0, 1)"),
    ("[tinycsp]\nflops_max = 1\n\n[resnet10.cfg]\nflops_max = 1\n",
     ':4: [resnet10.cfg] is read by TOML as a table nested in [resnet10]; quote a model name that has dots: ["resnet10.cfg"]'),
    ("['nosuch']\nflops_max = 1\n", ":1: [nosuch] unknown model 'nosuch'"),
    ("x = 1\nnosuch.flops_max = 1\n", ":1: 'x' must be a table"),
    ("tinycsp.flops_max = 1\ntinycsp.flops = 2\n", ":2: [tinycsp] unknown key 'flops'"),
    ("[tinycsp]\n'flops_max' = 1\nstrict = 1\n", ":3: [tinycsp] strict must be true or false"),
])
def test_errors_cite_the_real_line(tmp_path: Path, text: str, message: str) -> None:
    """Every budget error names file:line (never :0:) and how to fix it; exit 2, one line."""
    path = write(tmp_path, text)
    result = runner.invoke(app, ["check", str(path)])
    assert result.exit_code == 2 and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert f"error: {path}{message}" in result.stderr and ":0:" not in result.stderr


def test_strict_is_the_default_and_opt_out_is_per_budget(tmp_path: Path) -> None:
    """A model with an unpriced op fails check (its figures are lower bounds); --no-strict or the
    budget's strict = false lets it through, with the warning still on stderr."""
    net = tmp_path / "unpriced.py"
    net.write_text(UNPRICED)
    flops = 7_776  # conv 3->4, 3x3 on 3x8x8, no bias: 4 * 3*3*3 * 6*6 = 3,888 MACs = 7,776 FLOPs; logcumsumexp: 0
    with pytest.warns(UnsupportedOpsWarning, match="aten.logcumsumexp x1"):
        assert cspcost.analyze(f"{net}:build", (3, 8, 8)).totals["flops"] == flops
    path = write(tmp_path, f'["{net}:build"]\nflops_max = {flops}\ninput = "3x8x8"\n')
    strict = runner.invoke(app, ["check", str(path), "-f", "json"])
    assert strict.exit_code == 1 and "no cost rule for aten.logcumsumexp x1" in strict.stderr
    assert [r["metric"] for r in json.loads(strict.stdout)] == ["flops", "unsupported_ops"]
    unpriced = json.loads(strict.stdout)[1]
    assert (unpriced["measured"], unpriced["limit"], unpriced["status"]) == (1, 0, "EXCEEDED")
    loose = runner.invoke(app, ["check", str(path), "--no-strict"])
    assert loose.exit_code == 0 and "no cost rule for aten.logcumsumexp" in loose.stderr
    path.write_text(path.read_text() + "strict = false\n")
    assert runner.invoke(app, ["check", str(path)]).exit_code == 0
    junit = tmp_path / "j.xml"
    path.write_text(path.read_text().replace("strict = false", "strict = true"))
    assert runner.invoke(app, ["check", str(path), "--no-strict", "--junit", str(junit)]).exit_code == 1
    assert 'name="unsupported_ops_max"' in junit.read_text() and 'failures="1"' in junit.read_text()
