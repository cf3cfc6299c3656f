"""``sys.exit()`` in a user's model file (at import, in the factory, in forward) is bad input:
one line naming the model, exit 2, in every command, never a silent exit 0 (issue 23)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cspcost.cli import app

runner = CliRunner()
REPO = Path(__file__).parents[1]

NET = '''
import sys
from torch import nn


class Exits(nn.Module):
    """A conv whose forward calls sys.exit(0)."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, x):
        sys.exit(0)


def build0():
    sys.exit(0)


def build7():
    sys.exit(7)


def forward_exits():
    return Exits()
'''


@pytest.fixture()
def net(tmp_path: Path) -> Path:
    """A model file whose factories and forward exit."""
    path = tmp_path / "exitnet.py"
    path.write_text(NET)
    (tmp_path / "import_exits.py").write_text("import sys\nsys.exit(7)\n")
    return path


def _specs(net: Path) -> dict[str, str]:
    """Each way user code can exit, and the words the error must carry."""
    return {f"{net}:build0": "called sys.exit(0)", f"{net}:build7": "called sys.exit(7)",
            f"{net}:forward_exits": "called sys.exit(0)",
            f"{net.parent / 'import_exits.py'}:build": "called sys.exit(7)"}


@pytest.mark.parametrize("command", [["analyze"], ["peers", "--tool", "fvcore"], ["profile", "--repeat", "1", "--warmup", "1"]])
def test_exit_in_user_code_is_bad_input(net: Path, command: list[str]) -> None:
    """analyze, peers, profile: exit 2 and one line naming the model (or the module that exited)."""
    for spec, words in _specs(net).items():
        result = runner.invoke(app, [command[0], spec, *command[1:]])
        lines = result.stderr.strip().splitlines()
        assert result.exit_code == 2, (spec, result.stderr)
        assert len(lines) == 1 and words in lines[0], lines
        assert "exitnet" in lines[0] or "import_exits" in lines[0] or "Exits" in lines[0], lines


def test_compare_with_an_exiting_model(net: Path) -> None:
    """compare: the exiting model is named, exit 2, no table on stdout."""
    result = runner.invoke(app, ["compare", "tinycsp", f"{net}:build0"])
    assert result.exit_code == 2 and "exitnet.py:build0" in result.stderr and result.stdout == ""


def test_check_gate_cannot_pass_by_exit(net: Path, tmp_path: Path) -> None:
    """The CI gate in a real process: a factory calling sys.exit(0) fails the run (exit 2), it does not pass it."""
    budgets = tmp_path / "budgets.toml"
    budgets.write_text(f'["{net}:build0"]\nflops_max = 1\n\n[tinycsp]\nflops_max = 1\n')
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / ".dev"), os.environ.get("PYTHONPATH", "")]),
           "CSPCOST_CACHE_DIR": str(tmp_path / "cache")}
    done = subprocess.run([sys.executable, "-m", "cspcost", "check", str(budgets), "--junit", str(tmp_path / "j.xml")],
                          capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines() == [
        f"error: {budgets}:1: [{net}:build0] building '{net}:build0' failed: called sys.exit(0); "
        "a model file must not exit"]
