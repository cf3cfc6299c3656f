"""Conventions: each ecosystem's published numbers, exactly, from the one capture; HarDNet's CIO.

Published figures: torchvision's weights metadata (``_ops``, ``num_params``), timm's
``results/benchmark-infer-*.csv`` (``infer_gmacs``, ``param_count``), Ultralytics' docs tables
(FLOPs (B) and params (M) at 640), HarDNet's Table 4 (CIO in M at 224).
"""
from __future__ import annotations

import json
import warnings

import pytest
import torch
from torch import nn
from typer.testing import CliRunner

import cspcost
from cspcost.cli import app
from cspcost.walk.conventions import CATALOG, make_convention
from cspcost.walk.conventions.counting import CountRule, RuleSet, macs
from cspcost.walk.conventions.fusion import fused_copy

runner = CliRunner()


def _cli_json(*args: str) -> dict:
    """Run the CLI with --format json and parse stdout."""
    result = runner.invoke(app, [*args, "--format", "json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


# ----------------------------------------------------------------------------- torchvision
@pytest.mark.parametrize(("name", "expected"), [
    ("resnet50", 4_089_184_256),  # published _ops 4.089: conv 4,087,136,256 + fc 2048 x 1000
    ("mobilenet_v2", 300_774_272),  # published 0.301: conv 299,494,272 + fc 1280 x 1000
])
def test_torchvision_ops_exact(name: str, expected: int) -> None:
    """totals.macs under --convention torchvision is torchvision's _ops x 1e9 exactly."""
    pytest.importorskip("torchvision")
    result = cspcost.analyze(f"torchvision:{name}", convention="torchvision")
    assert result.totals["macs"] == expected and result.totals["flops"] == 2 * expected


@pytest.mark.parametrize("name", ["resnet18", "vgg16", "densenet121", "mobilenet_v3_large", "efficientnet_b3",
                                  "inception_v3", "convnext_tiny", "vit_b_16", "swin_v2_t", "regnet_y_400mf"])
def test_torchvision_metadata(name: str) -> None:
    """_ops (3 decimals) and num_params of the DEFAULT weights, at their crop size (ViT's attention
    counted as its two products, as the 2022 counter saw MHA's bmm)."""
    models = pytest.importorskip("torchvision.models")
    meta = models.get_model_weights(name).DEFAULT.meta
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = cspcost.analyze(f"torchvision:{name}", convention="torchvision")
    assert round(result.totals["macs"] / 1e9, 3) == meta["_ops"]
    assert result.totals["params"] == meta["num_params"]


def test_torchvision_cli() -> None:
    """The issue's command: cspcost analyze torchvision:resnet50 --convention torchvision."""
    pytest.importorskip("torchvision")
    data = _cli_json("analyze", "torchvision:resnet50", "--convention", "torchvision")
    assert data["totals"]["macs"] == 4_089_184_256 and data["convention"].startswith("torchvision")


# ------------------------------------------------------------------------------------ timm
@pytest.mark.parametrize(("name", "macs_", "params"), [
    ("cspresnet50", 4_540_309_504, 21_616_168),  # published 4.54 GMACs, 21.62 M at 256
    ("cspresnext50", 4_046_798_848, 20_569_896),  # published 4.05, 20.57 at 256
])
def test_timm_published(name: str, macs_: int, params: int) -> None:
    """totals.macs is fvcore's total (timm's infer_gmacs) and totals.params timm's param_count."""
    pytest.importorskip("timm")
    result = cspcost.analyze(f"timm:{name}", convention="timm")
    assert (result.totals["macs"], result.totals["params"]) == (macs_, params)


def test_timm_cspresnext50_by_hand() -> None:
    """cspresnext50 at 256 under fvcore's rules: conv 4,012,900,352 + eval BN 31,719,424 (1 per
    element x2 with affine: 15,859,712 BN elements) + fc 2,048,000 + global pool 2048 x 8 x 8."""
    pytest.importorskip("timm")
    result = cspcost.analyze("timm:cspresnext50", convention="timm")
    by_kind: dict[str, int] = {}
    for op in result.ops:
        by_kind[op["kind"]] = by_kind.get(op["kind"], 0) + op["macs"]
    assert by_kind["conv"] == 4_012_900_352 and by_kind["bn"] == 31_719_424
    assert by_kind["linear"] == 2_048_000 and by_kind["globalpool"] == 2048 * 8 * 8
    assert sum(by_kind.values()) == 4_046_798_848


@pytest.mark.parametrize("name", ["resnet18", "mobilenetv3_small_100", "cs3darknet_s", "vit_tiny_patch16_224"])
def test_timm_equals_fvcore_live(name: str) -> None:
    """fvcore's FlopCountAnalysis(model, ones).total(), run here on real weights, equals the timm
    convention exactly: SE, hardswish, CSP stages, and a ViT whose attention fvcore does not see."""
    timm = pytest.importorskip("timm")
    fvcore_nn = pytest.importorskip("fvcore.nn")
    torch.manual_seed(0)
    model = timm.create_model(name, pretrained=False).eval()
    size = model.pretrained_cfg["input_size"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        counter = fvcore_nn.FlopCountAnalysis(model, torch.ones(1, *size))
        counter.unsupported_ops_warnings(False)
        counter.uncalled_modules_warnings(False)
        live = counter.total()
    result = cspcost.analyze(model, size, convention="timm")
    assert result.totals["macs"] == live
    assert result.totals["params"] == sum(p.numel() for p in model.parameters())


def test_timm_cli() -> None:
    """The issue's command: cspcost analyze timm:cspresnext50 --convention timm --format json."""
    pytest.importorskip("timm")
    data = _cli_json("analyze", "timm:cspresnext50", "--convention", "timm")
    assert (data["totals"]["macs"], data["totals"]["params"]) == (4_046_798_848, 20_569_896)
    assert data["input_shape"] == [[1, 3, 256, 256]]


# ----------------------------------------------------------------------------- ultralytics
# Ultralytics docs tables at 640: FLOPs (B) of the fused model. YOLOv8l's 165.2 predates the
# current yaml (thop's README gives 165.14; the yaml gives 165.149 today), so it is not asserted.
# (name, FLOPs (B), params (M)); YOLOv5nu is YOLOv5u's docs table.
ULTRALYTICS_DOCS = [("yolov5nu", 7.7, 2.6), ("yolov8n", 8.7, 3.2), ("yolov8s", 28.6, 11.2), ("yolov8m", 78.9, 25.9),
                    ("yolov8x", 257.8, 68.2), ("yolo11n", 6.5, 2.6), ("yolo11s", 21.5, 9.4), ("yolo11m", 68.0, 20.1),
                    ("yolo11l", 86.9, 25.3), ("yolo11x", 194.9, 56.9)]


@pytest.mark.slow
@pytest.mark.parametrize(("name", "gflops", "mparams"), ULTRALYTICS_DOCS)
def test_ultralytics_docs_table(name: str, gflops: float, mparams: float) -> None:
    """totals.flops and totals.params of the fused model equal the docs table to the printed digit."""
    pytest.importorskip("ultralytics")
    result = cspcost.analyze(f"ultralytics:{name}.yaml", convention="ultralytics")
    assert round(result.totals["flops"] / 1e9, 1) == gflops
    assert round(result.totals["params"] / 1e6, 1) == mparams
    assert result.totals["flops"] == 2 * result.totals["macs"]
    # fused: BN folded into conv biases (unfused yolov8n 3,157,200, yolo11n 2,624,080)
    assert result.totals["params"] == {"yolov8n": 3_151_904, "yolo11n": 2_616_248}.get(name, result.totals["params"])


def _thop_on_fused(name: str) -> tuple[float, object]:
    """thop.profile (the installed ultralytics-thop) on a real fused copy, at 640."""
    thop = pytest.importorskip("thop")
    tasks = pytest.importorskip("ultralytics.nn.tasks")
    model = tasks.DetectionModel(f"{name}.yaml", verbose=False).eval()
    model.fuse(verbose=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        total, params = thop.profile(model, inputs=[torch.zeros(1, 3, 640, 640)], verbose=False)
    return total, (model, params)


@pytest.mark.slow
def test_ultralytics_equals_thop_live_yolov8n() -> None:
    """thop run live on a fused YOLOv8n equals the convention's macs exactly (no attention there)."""
    total, (model, params) = _thop_on_fused("yolov8n")
    result = cspcost.analyze(model, (3, 640, 640), convention="ultralytics")
    assert result.totals["macs"] == total and result.totals["params"] == params


@pytest.mark.slow
def test_ultralytics_vs_thop_live_yolo11n_attention() -> None:
    """YOLO11n's C2PSA: thop 2.x also counts functional matmuls (its function mode); the docs table
    (6.5) is the classic hooks' count. The difference is exactly the two attention matmuls."""
    total, (model, _) = _thop_on_fused("yolo11n")
    result = cspcost.analyze(model, (3, 640, 640), convention="ultralytics")
    plain = cspcost.analyze(fused_copy(model), (3, 640, 640))  # cspcost's own prices of the same ops
    matmul = sum(op["macs"] for op in plain.ops if op["op"] == "aten.matmul")
    assert matmul > 0 and total == result.totals["macs"] + matmul


def test_ultralytics_cli() -> None:
    """The issue's command: cspcost analyze ultralytics:yolo11n.yaml --convention ultralytics."""
    pytest.importorskip("ultralytics")
    data = _cli_json("analyze", "ultralytics:yolo11n.yaml", "--convention", "ultralytics")
    assert round(data["totals"]["flops"] / 1e9, 1) == 6.5 and data["totals"]["params"] == 2_616_248


def test_ultralytics_folds_bn_of_other_models() -> None:
    """A non-Ultralytics model gets the same counting with BN folded: conv-BN-ReLU then a linear.

    conv 3->8 3x3 on 3x8x8 (pad 1): 512 outputs x 27 = 13,824 MACs; BN folded (0); fc 512->10:
    5,120 MACs. Params: conv 216 + BN 16 + fc 5,130 = 5,362 plain; folded: 216 + 8 (bias) + 5,130.
    """
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU(),
                          nn.Flatten(), nn.Linear(512, 10))
    result = cspcost.analyze(model, (3, 8, 8), convention="ultralytics")
    assert result.totals["macs"] == 13_824 + 5_120
    assert result.totals["params"] == 216 + 8 + 5_130
    assert cspcost.analyze(model, (3, 8, 8)).totals["params"] == 5_362


# ------------------------------------------------------------------------------------- CIO
@pytest.mark.parametrize(("name", "published"), [
    ("resnet18", 4.7), ("vgg16", 22.6), ("densenet121", 21.9), ("densenet201", 31.8), ("mobilenet_v2", 13.4),
])
def test_hardnet_table4(name: str, published: float) -> None:
    """HarDNet Table 4 (CIO over conv layers, 224): to the printed digit."""
    pytest.importorskip("torchvision")
    result = cspcost.analyze(f"torchvision:{name}", (3, 224, 224), cio="hardnet")
    assert round(result.totals["cio_elems"] / 1e6, 1) == published


def test_hardnet_fc_is_the_old_count() -> None:
    """--cio hardnet-fc adds each FC as a 1x1 conv: VGG-16 22.63M -> 22.67M (fc: 25088+4096,
    4096+4096, 4096+1000 = 42,472 elements)."""
    pytest.importorskip("torchvision")
    conv_only = cspcost.analyze("torchvision:vgg16", cio="hardnet").totals["cio_elems"]
    with_fc = cspcost.analyze("torchvision:vgg16", cio="hardnet-fc").totals["cio_elems"]
    assert with_fc - conv_only == 25_088 + 4_096 + 4_096 + 4_096 + 4_096 + 1_000
    assert round(with_fc / 1e6, 1) == 22.7


# ------------------------------------------------------------------------------- the rules
def test_rule_set_refuses_an_op_claimed_twice() -> None:
    """One place per rule: a rule set with two rules for one op is a bug."""
    with pytest.raises(ValueError, match="claimed by"):
        RuleSet("x", (CountRule("x: a", ("aten.conv2d",), macs), CountRule("x: b", ("aten.conv2d",), macs)), "")


def test_module_hook_rules_see_only_their_modules() -> None:
    """thop's nn.Upsample rule counts a bilinear nn.Upsample (11 per output) but not F.interpolate."""
    class Functional(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return nn.functional.interpolate(x, scale_factor=2, mode="bilinear")

    up = nn.Upsample(scale_factor=2, mode="bilinear")
    assert cspcost.analyze(up, (2, 4, 4), convention="ultralytics").totals["macs"] == 11 * 2 * 8 * 8
    assert cspcost.analyze(Functional(), (2, 4, 4), convention="ultralytics").totals["macs"] == 0


def test_every_convention_is_listed() -> None:
    """cspcost conventions lists every convention and CIO option with its source."""
    result = runner.invoke(app, ["conventions", "--format", "json"])
    assert result.exit_code == 0
    rows = json.loads(result.stdout)
    names = {row["name"] for row in rows}
    assert set(CATALOG) | {"hardnet", "hardnet-fc", "cspnet"} <= names
    assert all(row["source"] for row in rows if row["option"] == "--convention")


def test_unknown_convention() -> None:
    """An unknown convention names the known ones."""
    with pytest.raises(cspcost.errors.UsageError, match="use pytorch, darknet, torchvision, timm, ultralytics"):
        make_convention("fvcore")


# --------------------------------------------------------------------------------- report
@pytest.mark.slow
def test_report_modern_and_published(tmp_path, monkeypatch) -> None:  # noqa: ANN001
    """`cspcost report` writes today's CSP comparisons and the published-vs-cspcost table."""
    pytest.importorskip("timm")
    pytest.importorskip("ultralytics")
    pytest.importorskip("torchvision")
    import cspcost.published as published
    import cspcost.report as report

    monkeypatch.setattr(report, "zoo_pairs", lambda: [])
    monkeypatch.setattr(report, "MODERN", (("timm", (3, 256, 256), ("timm:resnet18", "timm:cs3darknet_s")),))
    monkeypatch.setattr(published, "PUBLISHED", tuple(f for f in published.PUBLISHED if f.spec in (
        "torchvision:mobilenet_v2", "timm:cspresnext50")))
    result = runner.invoke(app, ["report", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "modern/timm_resnet18_vs_cs3darknet_s/fig7_layer_flops.svg").exists()
    index = (tmp_path / "README.md").read_text()
    assert "| HarDNet | mobilenet_v2 | 3x224x224 | cio_elems | M | 13.4 | 13.4 | 13444032 | yes |" in index
    assert "| timm | cspresnext50 | 3x256x256 | macs | G | 4.05 | 4.05 | 4046798848 | yes |" in index
    assert "| NO |" not in index
