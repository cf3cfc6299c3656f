"""Budgets: parsing, boundaries, tolerance, every malformed-file case, --update round trip, CLI codes."""
from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

import cspcost
from cspcost import budgets as b
from cspcost.cli import app

runner = CliRunner()
REPO = Path(__file__).parents[1]


def write(tmp_path: Path, text: str) -> Path:
    """A budgets file."""
    path = tmp_path / "budgets.toml"
    path.write_text(text)
    return path


def test_parse_options(tmp_path: Path) -> None:
    """Limits and options are read and typed."""
    path = write(tmp_path, '[tinycsp]\nflops_max = 2e7\ninput = "3x32x32"\nconvention = "darknet"\n'
                           'tolerance = 0.01\ncio = "cspnet"\nbatch = 2\n["a/b.py:build"]\nparams_max = 5_000\n')
    first, second = b.load(path)
    assert first.limits == {"flops_max": 2e7} and first.input_size == (3, 32, 32)
    assert (first.convention, first.cio, first.tolerance, first.batch) == ("darknet", "cspnet", 0.01, 2)
    assert second.model == "a/b.py:build" and second.limits == {"params_max": 5000}


@pytest.mark.parametrize("measured, limit, tolerance, ok", [
    (100, 100, 0.0, True),    # equal passes
    (101, 100, 0.0, False),   # one over fails
    (101, 100, 0.01, True),   # within 1% tolerance: allowed 101
    (102, 100, 0.01, False),
])
def test_boundaries(measured: int, limit: int, tolerance: float, ok: bool) -> None:
    """measured <= limit x (1 + tolerance) passes."""
    assert b.Outcome("m", "flops", measured, limit, tolerance).ok is ok


@pytest.mark.parametrize("text, fragment", [
    ("[m]\nflops_max = \n", "not valid TOML"),
    ("", "no models"),
    ("[tinycsp]\nflops_mx = 1\n", ":2: [tinycsp] unknown key 'flops_mx'"),
    ("[tinycsp]\ninput = \"3x32x32\"\n", "has no limit"),
    ("[tinycsp]\n\nflops_max = -5\n", ":3: [tinycsp] flops_max must be a number of 0 or more"),
    ("[tinycsp]\nflops_max = \"big\"\n", "flops_max must be a number of 0 or more, got 'big'"),
    ("[tinycsp]\nflops_max = true\n", "must be a number of 0 or more, got True"),
    ("[tinycsp]\nflops_max = 1\ninput = \"3xQ\"\n", ":3: [tinycsp] input is malformed"),
    ("[tinycsp]\nflops_max = 1\ninput = 256\n", "input must be a string"),
    ("[tinycsp]\nflops_max = 1\nconvention = \"fvcore\"\n", "convention must be"),
    ("[tinycsp]\nflops_max = 1\ncio = \"x\"\n", "cio must be"),
    ("[tinycsp]\nflops_max = 1\ntolerance = 2\n", "tolerance must be a number in [0, 1)"),
    ("[tinycsp]\nflops_max = 1\nbatch = 0\n", "batch must be a positive integer"),
    ("tinycsp = 3\n", "must be a table"),
])
def test_malformed_files(tmp_path: Path, text: str, fragment: str) -> None:
    """Each malformed file raises one error naming the file (and line) and the key."""
    path = write(tmp_path, text)
    with pytest.raises(b.BudgetFileError) as info:
        b.load(path)
    assert str(path) in str(info.value) and fragment in str(info.value)


def test_unknown_model_names_file_and_line(tmp_path: Path) -> None:
    """A model that does not exist is reported at its table, with the zoo's suggestion."""
    path = write(tmp_path, "[tinycsp]\nflops_max = 1e9\n\n[tinycs]\nflops_max = 1\n")
    result = runner.invoke(app, ["check", str(path)])
    assert result.exit_code == 2
    assert f"{path}:4: [tinycs] unknown model 'tinycs'" in result.stderr and "tinycsp" in result.stderr


def test_missing_file() -> None:
    """A missing file is a usage error."""
    with pytest.raises(b.BudgetFileError, match="cannot read"):
        b.load("/no/such/budgets.toml")


def test_update_round_trip(tmp_path: Path) -> None:
    """--update rewrites each limit to the measurement, keeps comments and options; check then passes."""
    path = write(tmp_path, "# budgets\n[tinycsp]\nflops_max = 1_000   # too tight\nconvention = \"darknet\"\n")
    assert runner.invoke(app, ["check", str(path)]).exit_code == 1
    assert runner.invoke(app, ["check", str(path), "--update"]).exit_code == 0
    text = path.read_text()
    flops = cspcost.analyze("tinycsp", convention="darknet").totals["flops"]
    assert f"flops_max = {flops:_}   # too tight" in text and text.startswith("# budgets\n")
    assert 'convention = "darknet"' in text
    assert runner.invoke(app, ["check", str(path)]).exit_code == 0


def test_cli_exit_codes_and_junit(tmp_path: Path) -> None:
    """0 when budgets hold, 1 when one is exceeded (with a JUnit failure), 2 for a broken file."""
    flops = cspcost.analyze("tinycsp").totals["flops"]
    ok = write(tmp_path, f"[tinycsp]\nflops_max = {flops}\n")
    assert runner.invoke(app, ["check", str(ok)]).exit_code == 0
    tight = write(tmp_path, f"[tinycsp]\nflops_max = {flops - 1}\n")
    junit = tmp_path / "budgets.xml"
    result = runner.invoke(app, ["check", str(tight), "--junit", str(junit)])
    assert result.exit_code == 1 and "tinycsp flops" in result.stderr
    assert 'failures="1"' in junit.read_text() and "<failure" in junit.read_text()
    broken = write(tmp_path, "[tinycsp]\nflops = 3\n")
    result = runner.invoke(app, ["check", str(broken)])
    assert result.exit_code == 2 and len(result.stderr.strip().splitlines()) == 1


def test_committed_zoo_budgets_hold() -> None:
    """The project's own gate: every zoo model within reports/budgets.toml (CI fails otherwise)."""
    result = runner.invoke(app, ["check", str(REPO / "reports" / "budgets.toml"), "--format", "json"])
    assert result.exit_code == 0, result.stdout + result.stderr
