"""stdout carries only cspcost's output: prints of libraries and user code (Python or fd level) go to stderr.

Real subprocesses: the promise is about file descriptor 1, which an in-process runner cannot see.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

LOUD = '''
import os
import torch
from torch import nn
print("LOUD at import")
os.write(1, b"LOUD fd-level at import\\n")  # as a C extension would


class Loud(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, x):
        print("LOUD in forward")
        os.write(1, b"LOUD fd-level in forward\\n")
        return self.conv(x)


def build():
    print("LOUD at build")
    return Loud()
'''


def _run(args: list[str], env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """``cspcost ARGS`` in a fresh interpreter."""
    return subprocess.run([sys.executable, "-m", "cspcost", *args], capture_output=True, text=True,
                          env=env, cwd=cwd, timeout=300)


@pytest.fixture(scope="module")
def loud(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A ``file.py`` whose module, factory and forward print to stdout (Python and fd level)."""
    folder = tmp_path_factory.mktemp("loud")
    (folder / "loud.py").write_text(LOUD)
    (folder / "budgets.toml").write_text(f'["{folder / "loud.py"}:build"]\ninput = "3x16x16"\nparams_max = 1000\n')
    return folder


@pytest.mark.parametrize("command", ["analyze", "compare", "peers", "check"])
def test_prints_of_user_code_go_to_stderr(loud: Path, command: str) -> None:
    """A model that prints at import, build and forward still gives parseable JSON on stdout."""
    spec = f"{loud / 'loud.py'}:build"
    args = {"analyze": ["analyze", spec, "--input", "3x16x16", "--device", "cpu"],
            "compare": ["compare", spec, spec, "--input", "3x16x16"],
            "peers": ["peers", spec, "--input", "3x16x16", "--tool", "flopcountermode"],
            "check": ["check", str(loud / "budgets.toml")]}[command]
    out = _run([*args, "--format", "json"])
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)  # nothing but cspcost's JSON
    assert data
    assert "LOUD at import" in out.stderr and "LOUD fd-level at import" in out.stderr
    if command in ("analyze", "peers"):
        assert "LOUD in forward" in out.stderr or "LOUD fd-level in forward" in out.stderr


def test_ultralytics_first_run_banner_goes_to_stderr(tmp_path: Path) -> None:
    """A fresh HOME: Ultralytics creates its settings file and says so; stdout stays pure JSON."""
    pytest.importorskip("ultralytics")
    env = {**os.environ, "HOME": str(tmp_path), "YOLO_CONFIG_DIR": str(tmp_path / "yolo"), "YOLO_OFFLINE": "1"}
    env.pop("XDG_CONFIG_HOME", None)
    out = _run(["analyze", "ultralytics:yolo11n.yaml", "--size", "64", "--format", "json"], env=env)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["model"] == "ultralytics:yolo11n.yaml"
    assert (tmp_path / "yolo").exists()  # the banner's settings file was made in this run


@pytest.mark.parametrize("args", [["rules"], ["--version"]])
def test_a_closed_stdout_pipe_ends_quietly_with_141(args: list[str]) -> None:
    """`cspcost rules | head -1`: the reader left, so the command ends with no "error: Broken pipe"
    line and 128 + SIGPIPE, as a shell reports for git or cat (never 0: a cut-off `check` is no pass)."""
    proc = subprocess.Popen([sys.executable, "-m", "cspcost", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # the reader is gone before cspcost writes its first byte (it is still importing)
    stderr = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 141, stderr
    assert stderr == ""
