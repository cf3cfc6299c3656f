"""What cspcost writes: byte-identical on rerun, ordinary file modes; odd inputs are one-line errors."""
from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cspcost.cli import app
from cspcost.files import atomic_path, write_atomic, write_bytes_atomic

runner = CliRunner()


@pytest.fixture
def umask_022():  # noqa: ANN201
    """Run the test under umask 022, restoring the caller's umask after."""
    old = os.umask(0o022)
    yield
    os.umask(old)


def mode(path: Path) -> int:
    """A file's permission bits."""
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.slow
def test_compare_plot_twice_gives_identical_bytes(tmp_path: Path, umask_022: None) -> None:
    """`compare --plot` run twice writes the same bytes (no SVG date, fixed ids), each file 0644."""
    first, second = tmp_path / "a", tmp_path / "b"
    for out in (first, second):
        result = runner.invoke(app, ["compare", "resnet10", "cspresnet10", "--plot", "--out", str(out)])
        assert result.exit_code == 0, result.stderr
    names = sorted(p.name for p in first.iterdir())
    assert names == sorted(p.name for p in second.iterdir())
    assert {"fig7_layer_flops.svg", "fig8_layer_io.png", "summary.md"} <= set(names)
    for name in names:
        assert (first / name).read_bytes() == (second / name).read_bytes(), name
        assert mode(first / name) == 0o644, name
    svg = (first / "fig7_layer_flops.svg").read_text()
    assert "<dc:date>" not in svg


def test_output_file_mode_follows_umask(tmp_path: Path, umask_022: None) -> None:
    """--output gets 0644 under umask 022 (mkstemp's 0600 is not kept); 0600 under umask 077."""
    target = tmp_path / "out.json"
    result = runner.invoke(app, ["analyze", "tinycsp", "--format", "json", "--output", str(target)])
    assert result.exit_code == 0 and mode(target) == 0o644
    os.umask(0o077)
    write_bytes_atomic(tmp_path / "private.bin", b"x")
    assert mode(tmp_path / "private.bin") == 0o600


def test_rewriting_keeps_an_existing_files_mode(tmp_path: Path) -> None:
    """Rewriting a file (check --update on budgets) keeps the mode the user gave it."""
    target = tmp_path / "budgets.toml"
    target.write_text("a")
    target.chmod(0o640)
    write_atomic(target, "b")
    assert target.read_text() == "b" and mode(target) == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["budgets.toml"]  # no temporary file left


def test_failed_write_leaves_nothing(tmp_path: Path) -> None:
    """A write that fails half-way leaves neither the target nor a temporary file."""
    with pytest.raises(RuntimeError):
        with atomic_path(tmp_path / "x.txt") as tmp:
            tmp.write_text("half")
            raise RuntimeError("disk full")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("content,fragment", [
    (b"\x00\x01\x02[net]\n", "not a text file"),
    (b"[net]\nwidth=256\n\xff\xfe\n", "bad.cfg:3: not UTF-8 text"),
])
def test_binary_or_non_utf8_cfg_is_one_line_exit_2(tmp_path: Path, content: bytes, fragment: str) -> None:
    """A binary or non-UTF-8 .cfg is a usage error naming the file (and line), not an internal error."""
    cfg = tmp_path / "bad.cfg"
    cfg.write_bytes(content)
    result = runner.invoke(app, ["analyze", str(cfg)])
    assert result.exit_code == 2, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and fragment in result.stderr


@pytest.mark.parametrize("args,fragment", [
    (["--depth", "-1"], "--depth"), (["--top", "0"], "--top"),
])
def test_depth_below_0_and_top_below_1_are_one_line_exit_2(args: list[str], fragment: str) -> None:
    """Out-of-range --depth / --top are refused by the parser: one line, exit 2."""
    out = subprocess.run([sys.executable, "-m", "cspcost", "analyze", "tinycsp", *args],
                         capture_output=True, text=True)
    assert out.returncode == 2 and out.stdout == ""
    assert len(out.stderr.strip().splitlines()) == 1 and fragment in out.stderr


def test_api_refuses_negative_depth() -> None:
    """The API says the same as the CLI."""
    import cspcost
    from cspcost.errors import UsageError

    with pytest.raises(UsageError, match="depth must be 0 or more"):
        cspcost.analyze("tinycsp", depth=-1)
