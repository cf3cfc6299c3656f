"""Model sources: timm:NAME, torchvision:NAME, ultralytics:NAME.yaml and local Ultralytics yamls."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

import cspcost
from cspcost.cli import app
from cspcost.errors import MissingExtraError, ModelLoadError, UnknownModelError
from cspcost.sources.resolve import build, resolve

timm = pytest.importorskip("timm")
torchvision = pytest.importorskip("torchvision")
tasks = pytest.importorskip("ultralytics.nn.tasks")

runner = CliRunner()


@pytest.fixture(autouse=True)
def no_downloads(monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing may be fetched: any attempt to download weights fails the test."""
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"a download was attempted: {args}")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", refuse)
    monkeypatch.setattr(torch.hub, "download_url_to_file", refuse)


def cli(*args: str):  # noqa: ANN201
    """Run the CLI and return the result."""
    return runner.invoke(app, list(args))


@pytest.mark.parametrize(("spec", "size"), [
    ("timm:cspresnext50", (3, 256, 256)),  # pretrained_cfg input_size
    ("timm:inception_v3", (3, 299, 299)),
    ("timm:vit_small_patch14_dinov2", (3, 518, 518)),
    ("timm:resnet50.a1_in1k", (3, 224, 224)),  # a pretrained tag picks that cfg
    ("torchvision:resnet50", (3, 224, 224)),
    ("torchvision:inception_v3", (3, 299, 299)),  # its weights' transforms crop 299
    ("torchvision:efficientnet_b4", (3, 380, 380)),
    ("ultralytics:yolo11n.yaml", (3, 640, 640)),
    ("ultralytics:yolo11n-cls.yaml", (3, 224, 224)),
])
def test_default_input(spec: str, size: tuple[int, ...]) -> None:
    """Each library's own input size is the default."""
    assert resolve(spec).input_size == size


def test_timm_builds_on_meta_without_weights() -> None:
    """timm:NAME builds with pretrained=False on meta and analyses at its own size."""
    model = build(resolve("timm:cspresnet50"))
    assert next(model.parameters()).device.type == "meta"
    result = cspcost.analyze("timm:cspresnet50")
    assert result.input_shape == [(1, 3, 256, 256)] and result.totals["params"] == 21_616_168


def test_torchvision_detection_has_no_backbone_weights() -> None:
    """Detection models get weights_backbone=None too (else torchvision would fetch the backbone)."""
    model = build(resolve("torchvision:fasterrcnn_mobilenet_v3_large_320_fpn"))
    assert type(model).__name__ == "FasterRCNN"


@pytest.mark.parametrize(("name", "cls"), [
    ("yolo11n.yaml", "DetectionModel"), ("yolov8n-seg.yaml", "SegmentationModel"),
    ("yolo11n-pose.yaml", "PoseModel"), ("yolo11n-obb.yaml", "OBBModel"),
    ("yolo11n-cls.yaml", "ClassificationModel"), ("yolov5nu.yaml", "DetectionModel"),
    ("rtdetr-l.yaml", "RTDETRDetectionModel"),
])
def test_ultralytics_task_class(name: str, cls: str) -> None:
    """Each yaml is built with the task class its head asks for (RT-DETR by name)."""
    assert type(build(resolve(f"ultralytics:{name}"))).__name__ == cls


def test_local_ultralytics_yaml(tmp_path: Path) -> None:
    """A local Ultralytics-format yaml (here a copy of yolov8n's family file, scale n) builds and analyses."""
    import ultralytics

    source = Path(ultralytics.__file__).parent / "cfg/models/v8/yolov8.yaml"
    local = tmp_path / "mynet.yaml"
    local.write_text(source.read_text().replace("scales:", "scale: n\nscales:", 1))
    # Ultralytics reads the scale from the file name (its yaml_model_load overwrites a `scale:` key),
    # so a name without one builds the first scale, n, and cspcost says so
    with pytest.warns(UserWarning, match="names no scale; Ultralytics builds its first, 'n'"):
        result = cspcost.analyze(str(local), convention="ultralytics")
    assert result.input_shape == [(1, 3, 640, 640)]
    assert round(result.totals["flops"] / 1e9, 1) == 8.7


def test_user_model_is_not_fused() -> None:
    """The ultralytics convention fuses a meta copy: the user's model keeps its BN and its weights."""
    model = tasks.DetectionModel("yolov8n.yaml", verbose=False)
    weight = model.model[0].conv.weight
    result = cspcost.analyze(model, (3, 640, 640), convention="ultralytics")
    assert hasattr(model.model[0], "bn") and model.model[0].conv.weight is weight
    assert weight.device.type == "cpu" and result.totals["params"] == 3_151_904


# ------------------------------------------------------------------------------ errors
@pytest.mark.parametrize(("spec", "module", "extra"), [
    ("timm:resnet50", "timm", "timm"),
    ("torchvision:resnet50", "torchvision.models", "torchvision"),
    ("ultralytics:yolo11n.yaml", "ultralytics.nn.tasks", "ultralytics"),
])
def test_missing_extra(monkeypatch: pytest.MonkeyPatch, spec: str, module: str, extra: str) -> None:
    """A missing library is one line naming the extra that installs it, exit 2."""
    monkeypatch.setitem(sys.modules, module, None)  # import of it now raises ImportError
    with pytest.raises(MissingExtraError, match=rf"pip install 'cspcost\[{extra}\]'"):
        resolve(spec)
    result = cli("analyze", spec)
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert result.output.count("\n") <= 2 and f"cspcost[{extra}]" in result.output


@pytest.mark.parametrize(("spec", "suggestion"), [
    ("timm:cspresnext5", "cspresnext50"),
    ("torchvision:resnet5", "resnet50"),
    ("ultralytics:yolo11q.yaml", "yolo11.yaml"),
    ("ultralytics:yolov8n-segg.yaml", "yolov8n-seg.yaml"),
])
def test_unknown_name_suggests(spec: str, suggestion: str) -> None:
    """An unknown name is one line with close matches from the library's own list."""
    with pytest.raises(UnknownModelError, match=f"did you mean .*'{suggestion}'"):
        resolve(spec)
    result = cli("analyze", spec)
    assert result.exit_code == 2 and suggestion in result.output


@pytest.mark.parametrize(("text", "message"), [
    ("backbone: [[-1, 1, Conv, [64, 3, 2]]\n  bad: :\n", "not a readable Ultralytics model yaml"),
    ("nc: 80\nlayers: []\n", "needs 'backbone' and 'head' lists"),
    ("nc: 80\nbackbone:\n  - [-1, 1, NoSuchModule, [64]]\nhead:\n  - [-1, 1, Detect, [nc]]\n",
     "Ultralytics cannot build it"),
])
def test_bad_yaml(tmp_path: Path, text: str, message: str) -> None:
    """A malformed yaml, one without backbone/head, or one whose layers do not build: one line, exit 2."""
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ModelLoadError, match=message):
        build(resolve(str(path)))
    result = cli("analyze", str(path))
    assert result.exit_code == 2 and "Traceback" not in result.output and message in result.output


def test_missing_yaml_file() -> None:
    """A yaml path that does not exist."""
    result = cli("analyze", "no/such/net.yaml")
    assert result.exit_code == 2 and "no such file" in result.output


# ------------------------------------------------------------- every command takes them
def test_compare_and_budgets_take_library_specs(tmp_path: Path) -> None:
    """compare and check accept library specs, and budgets take the new conventions."""
    result = cli("compare", "timm:resnet50", "timm:cspresnet50", "--convention", "timm", "--format", "json")
    assert result.exit_code == 0, result.output
    rows = {m["model"]: m for m in json.loads(result.output)["models"]}
    # timm's infer_gmacs: resnet50 4.11 at 224, cspresnet50 4.54 at 256 (each at its own size)
    assert (rows["timm:resnet50"]["macs"], rows["timm:cspresnet50"]["macs"]) == (4_111_512_576, 4_540_309_504)
    budgets = tmp_path / "budgets.toml"
    budgets.write_text('["timm:cspresnext50"]\nmacs_max = 4_046_798_848\nconvention = "timm"\n'
                       '["torchvision:resnet50"]\nmacs_max = 4_089_184_255\nconvention = "torchvision"\n')
    result = cli("check", str(budgets))
    assert result.exit_code == 1, result.output  # the first holds at its limit; the second is 1 over
    outcomes = cspcost.check_budgets(str(budgets))
    assert [o.ok for o in outcomes] == [True, False]


def test_ultralytics_fuse_merges_repconv_on_meta(tmp_path: Path) -> None:
    """Ultralytics' fuse runs on a meta copy even where it makes new convs (RepConv's merged
    kernel): the params equal those of a real model fused by Ultralytics itself."""
    import copy

    path = tmp_path / "rep.yaml"
    path.write_text("nc: 10\nbackbone:\n  - [-1, 1, Conv, [16, 3, 2]]\n  - [-1, 1, RepC3, [16]]\n"
                    "head:\n  - [-1, 1, Classify, [nc]]\n")
    model = build(resolve(str(path)))
    real = copy.deepcopy(model).fuse(verbose=False)
    result = cspcost.analyze(model, (3, 64, 64), convention="ultralytics")
    assert type(model).__name__ == "ClassificationModel"
    assert result.totals["params"] == sum(p.numel() for p in real.parameters())
    assert result.totals["params"] < sum(p.numel() for p in model.parameters())
    assert not any(op["kind"] == "bn" for op in result.ops)  # every BN folded or merged away
