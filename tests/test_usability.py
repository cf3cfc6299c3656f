"""Issue 23, "never lie, never lose": each case of the newcomer campaign, reproduced, then fixed.

Bad input is refused up front with one line on stderr and exit 2 (never a C++ frame dump, a
traceback or a silent default); help and messages say only what is true; the Python API raises
cspcost's own exceptions.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import cspcost
from cspcost.cli.app import main
from cspcost.errors import MissingExtraError, ModelLoadError, UnknownModelError, UsageError
from cspcost.shapes import MAX_INPUT_ELEMENTS, check_shape, parse_input


def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, *args: str) -> tuple[int, str, str]:
    """Run the console script in-process (its own error handling included): (exit code, stdout, stderr)."""
    monkeypatch.setattr(sys, "argv", ["cspcost", *args])
    with pytest.raises(SystemExit) as done:
        main()
    out = capsys.readouterr()
    return done.value.code, out.out, out.err


def assert_refused(result: tuple[int, str, str], *fragments: str) -> None:
    """Exit 2, nothing on stdout, one line on stderr holding every fragment, no traceback."""
    code, out, err = result
    assert code == 2, (out, err)
    assert out == ""
    assert len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err and "frame #" not in err
    for fragment in fragments:
        assert fragment in err, err


# --- 3. validation --------------------------------------------------------------------------------

@pytest.mark.parametrize("args, fragment", [
    (["--size", "99999999999999999999"], "the limit is 2^40"),  # overflowed torch's C long: a C++ frame dump
    (["--input", "3x4000000000x4000000000"], "4.8e+19 elements"),  # 3 x 4e9 x 4e9 = 4.8e19 > int64
    (["--input", "3x1000000x1000000", "--batch", "1000000"], "the limit is 2^40"),
    (["--input", "3x1000x1000", "--batch", "1000000"], "input 1000000x3x1000x1000 has 3e+12 elements"),
])
def test_absurd_inputs_are_refused(capsys, monkeypatch, args: list[str], fragment: str) -> None:  # noqa: ANN001
    """Inputs whose element count overflows int64 or exceeds 2^40 are refused, naming the limit."""
    assert_refused(cli(capsys, monkeypatch, "analyze", "tinycsp", *args), fragment)


def test_input_limit_is_exact() -> None:
    """2^40 elements pass; one more element does not (batch included)."""
    assert check_shape((1, 2**20, 2**20)) == (1, 2**20, 2**20)  # 2^40 exactly
    with pytest.raises(UsageError, match="2\\^40"):
        check_shape((1, 2**20, 2**20), batch=2)
    assert MAX_INPUT_ELEMENTS == 1_099_511_627_776
    with pytest.raises(UsageError, match="2\\^40"):  # a numpy batch whose int64 product would wrap to 0
        check_shape((3, 2**20, 2**20), batch=np.int64(2**24))


def test_threads_are_capped_at_the_cpus(capsys, monkeypatch) -> None:  # noqa: ANN001
    """--threads 100000 made libgomp fail to allocate (exit 1); now refused before any work."""
    most = os.cpu_count()
    assert_refused(cli(capsys, monkeypatch, "profile", "tinycsp", "--threads", "100000"), f"from 1 to {most}")
    assert_refused(cli(capsys, monkeypatch, "device", "--threads", "0"), "threads must be from 1")
    with pytest.raises(UsageError, match="threads"):
        cspcost.paired(["tinycsp", "tinycsp"], threads=10**5)


@pytest.mark.parametrize("args, fragment", [
    (["--bottleneck", "-4"], "--bottleneck must be a width of at least 1"),  # was exit 3 (negative dimension)
    (["--bottleneck", "0"], "--bottleneck must be a width of at least 1"),  # "agreed" on zero-width convs
    (["--kernel", "2"], "--kernel values must be odd"),  # was reported as a formula failure (exit 1)
])
def test_formulas_ranges_are_checked_up_front(capsys, monkeypatch, args: list[str], fragment: str) -> None:  # noqa: ANN001
    """Grid values the closed forms do not cover are usage errors, not results."""
    assert_refused(cli(capsys, monkeypatch, "formulas", *args), fragment)


def test_profile_accepts_zero_warmup(capsys, monkeypatch) -> None:  # noqa: ANN001
    """--warmup 0 is allowed: the checking forward is the only untimed call."""
    code, out, err = cli(capsys, monkeypatch, "profile", "tinycsp", "--warmup", "0", "--repeat", "2", "--format", "json")
    assert code == 0, err
    assert '"warmup": 0' in out


@pytest.mark.parametrize("args, fragment", [
    (["analyze", "tinycsp", "--input", ""], "empty input size"), (["compare", "tinycsp", "tinycsp", "--input", ""], "empty input size"),
    (["peers", "tinycsp", "--input", " "], "empty input size"), (["profile", "tinycsp", "--input", ""], "empty input size"),
    (["analyze", "tinycsp", "--graph", ""], "--graph is empty"), (["analyze", "tinycsp", "--output", ""], "--output is empty"),
    (["compare", "tinycsp", "tinycsp", "--out", ""], "--out is empty"), (["peers", "tinycsp", "--output", ""], "--output is empty"),
    (["check", "budgets.toml", "--junit", ""], "--junit is empty"),
])
def test_empty_values_are_refused(capsys, monkeypatch, args: list[str], fragment: str) -> None:  # noqa: ANN001
    """An option given an empty value (a shell variable that expanded to nothing) is not silently ignored."""
    assert_refused(cli(capsys, monkeypatch, *args), fragment)


def test_no_arguments_prints_help_only(capsys, monkeypatch) -> None:  # noqa: ANN001
    """Bare `cspcost`: the help on stdout, no empty "error:" line, exit 2 (as click's no_args_is_help)."""
    code, out, err = cli(capsys, monkeypatch)
    assert code == 2
    assert "Usage" in out and "analyze" in out
    assert "error" not in err


# --- 4. messages and help -------------------------------------------------------------------------

def _help(capsys, monkeypatch, command: str) -> str:  # noqa: ANN001
    """A command's --help text, wide enough not to wrap."""
    monkeypatch.setenv("COLUMNS", "200")
    code, out, _ = cli(capsys, monkeypatch, command, "--help")
    assert code == 0
    return out


def test_flags_show_no_bool_type(capsys, monkeypatch) -> None:  # noqa: ANN001
    """Options that take no value show no <bool>; options with values keep their type."""
    text = _help(capsys, monkeypatch, "compare")
    assert "<bool>" not in text
    assert "<int>" in text


def test_compare_out_default_is_shown_whole(capsys, monkeypatch) -> None:  # noqa: ANN001
    """The --out default was rendered `reports/vs/` (markdown ate <A> and <B>)."""
    assert "reports/<A>_vs_<B>/" in _help(capsys, monkeypatch, "compare")


def test_models_help_lists_every_convention(capsys, monkeypatch) -> None:  # noqa: ANN001
    """`models --help` names all five conventions, from the catalog."""
    from cspcost.walk.conventions.catalog import CATALOG

    text = _help(capsys, monkeypatch, "models")
    assert len(CATALOG) == 5
    for name in CATALOG:
        assert name in text


def test_strict_hint_only_where_strict_exists(capsys, monkeypatch) -> None:  # noqa: ANN001
    """The unpriced-op warning suggests --strict in analyze, and nothing in compare (which lacks it)."""
    spec = f"{Path(__file__).parent / 'nets.py'}:unpriced_net"
    code, _, err = cli(capsys, monkeypatch, "analyze", spec, "--input", "4")
    assert code == 0 and "(--strict fails instead)" in err
    code, _, err = cli(capsys, monkeypatch, "compare", spec, spec, "--input", "4")
    assert code == 0 and "no cost rule" in err and "--strict" not in err


def test_peers_warns_about_unpriced_ops(capsys, monkeypatch) -> None:  # noqa: ANN001
    """peers says which ops cspcost counts as 0, without suggesting an option it lacks."""
    spec = f"{Path(__file__).parent / 'nets.py'}:unpriced_net"
    code, _, err = cli(capsys, monkeypatch, "peers", spec, "--input", "4", "--tool", "flopcountermode")
    assert code == 0, err
    assert "aten.special_bessel_j0" in err and "--strict" not in err


class _NeedsValues(nn.Module):
    """A forward that reads tensor values (cannot run on meta)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Keeps the positive entries."""
        return x[x > 0]


def test_peers_meta_failure_does_not_suggest_device() -> None:
    """peers has no --device: its meta failure says what it does instead."""
    with pytest.raises(UsageError) as caught:
        cspcost.peers(_NeedsValues(), (3, 4, 4))
    assert "--device cpu" not in str(caught.value).replace("analyze MODEL --device cpu", "")
    assert "cspcost analyze MODEL --device cpu" in str(caught.value)


def test_cv_warning_prints_its_real_value() -> None:
    """A CV just over 10% is printed with the digits that show it is over ("10.04% > 10%")."""
    from cspcost.profiling.noise import noise_warnings

    line = noise_warnings([1.0] * 10, 0.1004, {})[0]
    assert line.startswith("high spread: CV 10.04% > 10%")
    assert noise_warnings([1.0] * 10, 0.16, {})[0].startswith("high spread: CV 16% > 10%")


def test_compare_out_implies_plot(capsys, monkeypatch, tmp_path: Path) -> None:  # noqa: ANN001
    """--out without --plot writes the charts there (it was silently ignored)."""
    code, _, err = cli(capsys, monkeypatch, "compare", "tinycsp", "tinycsp", "--out", str(tmp_path / "vs"))
    assert code == 0, err
    assert (tmp_path / "vs" / "summary.md").is_file()


def test_report_says_which_sections_it_skips(monkeypatch, tmp_path: Path) -> None:  # noqa: ANN001
    """Without the model libraries, the report warns on stderr that two sections are skipped."""
    from cspcost import report

    monkeypatch.setattr(report, "libraries_missing", lambda: ["timm", "ultralytics"])
    with pytest.warns(UserWarning, match="skipped the sections .*Today's CSP models.*Published vs cspcost.*timm, ultralytics"):
        lines = report._modern_sections(tmp_path, [])
    assert "Skipped" in lines[2]


def test_missing_library_names_the_package(monkeypatch) -> None:  # noqa: ANN001
    """The error names the pip package and extra, not the module cspcost imports."""
    from cspcost.sources import libraries

    def absent(name: str) -> None:
        raise ModuleNotFoundError(f"No module named '{name.split('.')[0]}'", name=name.split(".")[0])

    monkeypatch.setattr(libraries.importlib, "import_module", absent)
    with pytest.raises(MissingExtraError) as caught:
        libraries.require("ultralytics.nn.tasks", "ultralytics", "ultralytics:yolo11n.yaml")
    message = str(caught.value)
    assert "ultralytics.nn.tasks" not in message
    assert "pip install ultralytics" in message and "cspcost[ultralytics]" in message


YAML_BAD_FROM = "nc: 80\nbackbone:\n  - [-1, 1, Conv, [16, 3, 2]]\n  - [-7, 1, Conv, [32, 3, 2]]\nhead:\n  - [[-1], 1, Detect, [nc]]\n"
YAML_BAD_MODULE = "nc: 80\nbackbone:\n  - [-1, 1, NoSuchConv, [16, 3, 2]]\nhead:\n  - [[-1], 1, Detect, [nc]]\n"


def test_ultralytics_yaml_errors_are_one_line(tmp_path: Path) -> None:
    """A bad `from` names the layer (was a bare IndexError); a build error is wrapped once."""
    pytest.importorskip("ultralytics")
    (tmp_path / "from.yaml").write_text(YAML_BAD_FROM)
    (tmp_path / "module.yaml").write_text(YAML_BAD_MODULE)
    with pytest.raises(ModelLoadError, match=r"layer 1 \(Conv\) takes its input from -7, which is not an earlier layer"):
        cspcost.analyze(str(tmp_path / "from.yaml"))
    with pytest.raises(ModelLoadError) as caught:
        cspcost.analyze(str(tmp_path / "module.yaml"))
    assert str(caught.value).count("failed") + str(caught.value).count("cannot build") == 1
    assert "NoSuchConv" in str(caught.value)


def test_ultralytics_prefix_on_a_local_file_hints(tmp_path: Path) -> None:
    """`ultralytics:/path/local.yaml` says to drop the prefix."""
    pytest.importorskip("ultralytics")
    (tmp_path / "mine.yaml").write_text(YAML_BAD_MODULE)
    with pytest.raises(ModelLoadError, match="without the prefix"):
        cspcost.analyze(f"ultralytics:{tmp_path / 'mine.yaml'}")


def test_factory_file_imports_its_siblings(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    """`file.py:factory` can import a module beside it from any working directory; sys.path is restored."""
    (tmp_path / "blocks_sibling.py").write_text("from torch import nn\n\ndef block():\n    return nn.Conv2d(3, 4, 1)\n")
    (tmp_path / "net_main.py").write_text("from blocks_sibling import block\n\ndef build():\n    return block()\n")
    monkeypatch.chdir("/")
    before = list(sys.path)
    result = cspcost.analyze(f"{tmp_path / 'net_main.py'}:build", (3, 2, 2))
    assert result.totals["macs"] == 4 * 3 * 4  # 1x1 conv: 4 outputs x 3 inputs x 4 positions
    assert sys.path == before


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_fifo_and_directory_say_what_they_are(tmp_path: Path) -> None:
    """A FIFO or directory named x.cfg is not "no such file"."""
    os.mkfifo(tmp_path / "pipe.cfg")
    (tmp_path / "folder.cfg").mkdir()
    with pytest.raises(ModelLoadError, match="is a FIFO"):
        cspcost.analyze(str(tmp_path / "pipe.cfg"))
    with pytest.raises(ModelLoadError, match="is a directory, not a darknet .cfg file"):
        cspcost.analyze(str(tmp_path / "folder.cfg"))
    with pytest.raises(ModelLoadError, match="no such file"):
        cspcost.analyze(str(tmp_path / "absent.cfg"))


# --- 5. Python API errors -------------------------------------------------------------------------

@pytest.mark.parametrize("call, error, fragment", [
    (lambda: cspcost.analyze(42), UsageError, "got int"),  # was AttributeError
    (lambda: cspcost.compare([]), UsageError, "at least two models, got 0"),  # was a bare StopIteration
    (lambda: cspcost.compare(["tinycsp"]), UsageError, "at least two models, got 1"),  # was accepted
    (lambda: cspcost.compare("tinycsp"), UsageError, "a list of two or more"),
    (lambda: cspcost.models_table(names=["nope"]), UnknownModelError, "no zoo model 'nope'"),  # was KeyError
    (lambda: cspcost.peers(42), UsageError, "got int"),
])
def test_api_raises_cspcost_errors(call, error: type, fragment: str) -> None:  # noqa: ANN001
    """Bad arguments raise cspcost's own one-line exceptions (the CLI maps them to exit 2)."""
    with pytest.raises(error) as caught:
        call()
    assert fragment in str(caught.value)
    assert "\n" not in str(caught.value)


def test_numpy_integer_shapes_are_accepted() -> None:
    """np.int64 and friends are integers: shapes made with numpy work everywhere."""
    shape = (np.int64(3), np.int32(32), np.uint16(32))
    expected = cspcost.analyze("tinycsp", (3, 32, 32)).totals["macs"]
    assert cspcost.analyze("tinycsp", shape).totals["macs"] == expected
    assert cspcost.analyze("tinycsp", inputs=[(np.int64(1), 3, 32, 32)]).totals["macs"] == expected
    assert check_shape(shape) == (3, 32, 32) and all(type(d) is int for d in check_shape(shape))
    assert parse_input("3x32x32") == (3, 32, 32)
    with pytest.raises(UsageError):
        check_shape((3, np.float32(32), 32))
