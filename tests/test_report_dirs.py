"""Report folders (``compare --plot --out DIR``, ``report --out DIR``) are written whole (issue 23):
an interrupted run leaves the earlier report, concurrent runs never mix, stale files go, others' stay;
empty, blocked or read-only paths are one-line errors (exit 2)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cspcost.cli import app
from cspcost.render import folders

runner = CliRunner()
REPO = Path(__file__).parents[1]
NET = "from torch import nn\n\n\ndef build():\n    return nn.Sequential(nn.Conv2d(3, {w}, 3), nn.ReLU())\n"


def _tree(folder: Path) -> dict[str, bytes]:
    """Every file under a folder (relative path -> bytes)."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _cli(*args: str) -> subprocess.Popen[str]:
    """cspcost in a fresh process (so a signal or a second writer is real)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / ".dev"), os.environ.get("PYTHONPATH", "")])}
    return subprocess.Popen([sys.executable, "-m", "cspcost", *args], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, env=env)


def _leftovers(folder: Path) -> list[str]:
    """Temporary folders or lock files of ``folder`` left beside it."""
    return sorted(p.name for p in folder.parent.glob(f".{folder.name}.*"))


def test_stale_report_files_go_and_others_stay(tmp_path: Path) -> None:
    """An earlier report's chart the new one does not write is dropped; a user's file stays."""
    out = tmp_path / "D"
    out.mkdir()
    (out / "old_chart.png").write_bytes(b"stale")
    (out / folders.MANIFEST).write_text("old_chart.png\nsummary.md\n")
    (out / "summary.md").write_text("# an older comparison\n")
    (out / "notes.txt").write_text("mine\n")
    result = runner.invoke(app, ["compare", "tinycsp", "resnet10", "--plot", "--out", str(out)])
    assert result.exit_code == 0, result.stderr
    names = sorted(p.name for p in out.iterdir())
    assert "old_chart.png" not in names and (out / "notes.txt").read_text() == "mine\n"
    assert (out / "summary.md").read_text().startswith("# tinycsp @")
    own = (out / folders.MANIFEST).read_text().split()
    assert sorted(own + ["notes.txt", folders.MANIFEST]) == names and "notes.txt" not in own
    assert _leftovers(out) == []


def test_sigint_mid_write_leaves_the_earlier_report(tmp_path: Path) -> None:
    """Ctrl-C while the new report is being written: the folder is the earlier report, byte for byte."""
    out = tmp_path / "D"
    assert runner.invoke(app, ["compare", "tinycsp", "resnet10", "--plot", "--out", str(out)]).exit_code == 0
    before = _tree(out)
    proc = _cli("compare", "resnet10", "cspresnet10", "--plot", "--out", str(out))
    deadline = time.monotonic() + 240
    while not list(tmp_path.glob(".D.tmp-*")) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=120)
    finally:
        proc.kill()
    if proc.returncode != 0:  # interrupted, as meant: nothing of the new report shows
        assert _tree(out) == before
    else:  # it finished before the signal landed: then the new report is whole
        assert (out / "summary.md").read_text().startswith("# resnet10 @")
    assert _leftovers(out) == []


def test_a_concurrent_writer_is_refused(tmp_path: Path) -> None:
    """While another process holds the folder's lock, a second writer refuses in one line (exit 2)."""
    out = tmp_path / "D"
    with folders._locked(out):
        result = runner.invoke(app, ["compare", "tinycsp", "resnet10", "--plot", "--out", str(out)])
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        f"error: another cspcost is writing {out} now (lock {tmp_path / '.D.lock'}); wait for it to finish "
        "or choose another directory"]
    assert not out.exists() and _leftovers(out) == []


def test_two_concurrent_runs_never_mix(tmp_path: Path) -> None:
    """Two processes into one folder: each run is refused or whole; the folder holds one report."""
    out = tmp_path / "D"
    procs = [_cli("compare", "tinycsp", "resnet10", "--plot", "--out", str(out)),
             _cli("compare", "resnet10", "cspresnet10", "--plot", "--out", str(out))]
    for proc in procs:
        proc.wait(timeout=300)
    codes = sorted(p.returncode for p in procs)
    assert codes in ([0, 0], [0, 2]), [p.stderr.read() for p in procs]
    summary = (out / "summary.md").read_text()
    assert summary.startswith(("# tinycsp @", "# resnet10 @"))
    own = (out / folders.MANIFEST).read_text().split()
    assert sorted(own) == sorted(p.name for p in out.iterdir() if p.name != folders.MANIFEST)
    assert all(f"![{Path(name).stem}]({name})" in summary for name in own if name.endswith(".png"))
    assert _leftovers(out) == []


def test_current_directory_is_never_replaced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """--out . (or ..) would swap the working directory away: refused, nothing written."""
    monkeypatch.chdir(tmp_path)
    for out in (".", "..", str(tmp_path)):
        result = runner.invoke(app, ["compare", "tinycsp", "resnet10", "--plot", "--out", out])
        assert result.exit_code == 2 and "the current directory or one above it" in result.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("args, option", [
    (["report", "--out", ""], "--out"),
    (["compare", "tinycsp", "resnet10", "--plot", "--out", ""], "--out"),
    (["analyze", "tinycsp", "--output", ""], "--output"),
    (["analyze", "tinycsp", "--graph", " "], "--graph"),
    (["peers", "tinycsp", "-o", ""], "--output"),
    (["check", "reports/budgets.toml", "--junit", ""], "--junit"),
    (["check", "reports/budgets.toml", "--cache-dir", ""], "--cache-dir"),
])
def test_empty_output_paths_are_refused(args: list[str], option: str) -> None:
    """'' would mean the current directory or stdout: refused in one line, exit 2, before any work."""
    result = runner.invoke(app, args)
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.strip().splitlines() == [f"error: {option} is empty; give a path, or leave {option} out"]


def test_file_where_a_directory_is_expected(tmp_path: Path) -> None:
    """--out naming a file, or a path through a file: said so, exit 2."""
    blocker = tmp_path / "f"
    blocker.write_text("")
    result = runner.invoke(app, ["compare", "tinycsp", "resnet10", "--plot", "--out", str(blocker)])
    assert result.exit_code == 2
    assert f"error: {blocker} is a file where a report directory is expected" in result.stderr
    result = runner.invoke(app, ["analyze", "tinycsp", "-o", str(blocker / "x.json")])
    assert result.exit_code == 2
    assert f"error: {blocker} is a file where a directory is expected (to write {blocker / 'x.json'})" in result.stderr


def test_read_only_output_directory_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A read-only report folder is refused by name (not replaced through the rename); a file write
    into a folder that refuses names the folder, not the temporary file."""
    out = tmp_path / "D"
    out.mkdir()
    (out / "keep.txt").write_text("x")
    out.chmod(0o555)
    try:
        result = runner.invoke(app, ["compare", "tinycsp", "resnet10", "--plot", "--out", str(out)])
    finally:
        out.chmod(0o755)
    assert result.exit_code == 2 and result.stderr.strip().splitlines() == [
        f"error: cannot write into {out}: it is read-only; make it writable or choose another directory"]
    assert sorted(p.name for p in out.iterdir()) == ["keep.txt"]

    def refuse(*args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied", str(tmp_path / ".x.json.abc123.tmp"))

    monkeypatch.setattr("tempfile.mkstemp", refuse)
    result = runner.invoke(app, ["analyze", "tinycsp", "-o", str(tmp_path / "x.json")])
    assert result.exit_code == 2 and "abc123" not in result.stderr
    assert f"error: cannot write {tmp_path / 'x.json'}: Permission denied in {tmp_path};" in result.stderr


def test_default_folders_of_same_named_files_differ(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """d1/net.py:build and d2/net.py:build get distinct default folders (a hash of the resolved path)."""
    for folder, width in (("d1", 4), ("d2", 8)):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "net.py").write_text(NET.format(w=width))
    monkeypatch.chdir(tmp_path)
    for folder in ("d1", "d2"):
        result = runner.invoke(app, ["compare", "tinycsp", f"{folder}/net.py:build", "--input", "3x32x32", "--plot"])
        assert result.exit_code == 0, result.stderr
    made = sorted(p.name for p in (tmp_path / "reports").iterdir())
    assert len(made) == 2 and all(name.startswith("tinycsp_vs_net.py_build-") for name in made)
