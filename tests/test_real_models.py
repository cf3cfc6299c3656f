"""Real architectures from timm, torchvision and Ultralytics: every op priced or declared free,
MACs equal to torch's FlopCounterMode (flops / 2) exactly, params equal to sum(p.numel()).

Models are built directly (no model-spec strings), without weights; on the meta device where the
library allows it. Detectors whose post-processing needs values (NMS) run on the CPU.
"""
from __future__ import annotations

import copy
import os
from typing import Any, Callable

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

import cspcost

pytestmark = pytest.mark.slow  # real timm, torchvision and Ultralytics models: seconds each

os.environ.setdefault("YOLO_OFFLINE", "1")


def _fcm_macs(model: nn.Module, args: list[Any]) -> int:
    """FlopCounterMode's total flops / 2 for one eval forward."""
    model.eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(*args)
    return counter.get_total_flops() // 2


def _check(model: nn.Module, args: list[Any], device: str = "meta") -> cspcost.AnalysisResult:
    """Analyse strictly; assert MACs == FlopCounterMode's, params, and per-layer sums."""
    result = cspcost.analyze(model, inputs=args, device=device, strict=True)
    assert result.totals["params"] == sum(p.numel() for p in model.parameters())
    assert result.layers["params"].sum() == result.totals["params"]
    assert result.layers["flops"].sum() == result.totals["flops"]
    reference = model if device != "meta" or _on_meta(model) else copy.deepcopy(model).to("meta")
    made = [torch.empty(s, device="meta") for s in args] if device == "meta" else args
    assert result.totals["macs"] == _fcm_macs(reference, made)
    return result


def _on_meta(model: nn.Module) -> bool:
    """True when the model's parameters live on the meta device."""
    return all(p.device.type == "meta" for p in model.parameters())


# ------------------------------------------------------------------------------------ timm
TIMM = [
    "vit_tiny_patch16_224", "deit_tiny_distilled_patch16_224", "swin_tiny_patch4_window7_224",
    "swinv2_cr_tiny_ns_224", "convnext_atto", "convnextv2_atto", "efficientnet_b0",
    "mobilenetv3_small_100", "mobilenetv4_hybrid_medium", "regnety_002", "cspdarknet53",
    "cs3darknet_s", "maxvit_tiny_tf_224", "mobilevit_xxs", "coatnet_nano_rw_224", "levit_128s",
    "xcit_nano_12_p16_224", "edgenext_xx_small", "eva02_tiny_patch14_224", "volo_d1_224",
    "pvt_v2_b0", "efficientformerv2_s0", "ghostnet_100", "fastvit_t8",
]


@pytest.mark.parametrize("name", TIMM)
def test_timm(name: str) -> None:
    """A timm architecture built on meta at its default input."""
    timm = pytest.importorskip("timm")
    with torch.device("meta"):
        model = timm.create_model(name, pretrained=False)
    size = model.pretrained_cfg.get("input_size", (3, 224, 224))
    _check(model, [(1, *size)])


# ----------------------------------------------------------------------------- torchvision
TORCHVISION = ["vit_b_32", "swin_v2_t", "maxvit_t", "efficientnet_b0", "mobilenet_v3_small",
               "mnasnet0_5", "convnext_tiny", "inception_v3", "regnet_y_400mf", "r3d_18"]
SIZES = {"inception_v3": (3, 299, 299), "r3d_18": (3, 8, 112, 112)}
EXTRA = {"inception_v3": {"init_weights": False}}  # the new default init, without its FutureWarning


@pytest.mark.parametrize("name", TORCHVISION)
def test_torchvision_classifier(name: str) -> None:
    """A torchvision classifier built on meta (on the CPU if its init needs values)."""
    models = pytest.importorskip("torchvision.models")
    try:
        with torch.device("meta"):
            model = models.get_model(name, weights=None, **EXTRA.get(name, {}))
    except NotImplementedError:  # regnet's init copies a tensor: build it on the CPU
        model = models.get_model(name, weights=None, **EXTRA.get(name, {}))
    _check(model, [(1, *SIZES.get(name, (3, 224, 224)))])


DETECTORS: dict[str, Callable[[Any], nn.Module]] = {
    "fasterrcnn_mobilenet_v3_large_320_fpn": lambda m: m.detection.fasterrcnn_mobilenet_v3_large_320_fpn(
        weights=None, weights_backbone=None, min_size=128, max_size=128),
    "ssdlite320_mobilenet_v3_large": lambda m: m.detection.ssdlite320_mobilenet_v3_large(
        weights=None, weights_backbone=None),
    "retinanet_resnet50_fpn": lambda m: m.detection.retinanet_resnet50_fpn(
        weights=None, weights_backbone=None, min_size=128, max_size=128),
}


@pytest.mark.parametrize("name", list(DETECTORS))
def test_torchvision_detector(name: str) -> None:
    """A detector taking a list of images; NMS needs values, so it runs on the CPU."""
    models = pytest.importorskip("torchvision.models")
    torch.manual_seed(0)
    model = DETECTORS[name](models).eval()
    images = [[torch.zeros(3, 160, 160)]]
    result = cspcost.analyze(model, inputs=images, device="cpu", strict=True)
    assert result.totals["params"] == sum(p.numel() for p in model.parameters())
    assert result.totals["macs"] == _fcm_macs(model, images)
    with pytest.raises(cspcost.errors.MetaDeviceError, match="try --device cpu$"):
        cspcost.analyze(model, inputs=[[(3, 160, 160)]])


# ------------------------------------------------------------------------------ Ultralytics
ULTRALYTICS = [("DetectionModel", "yolo11n.yaml"), ("SegmentationModel", "yolo11n-seg.yaml"),
               ("PoseModel", "yolo11n-pose.yaml"), ("OBBModel", "yolo11n-obb.yaml"),
               ("ClassificationModel", "yolo11n-cls.yaml"), ("DetectionModel", "yolov8n.yaml"),
               ("DetectionModel", "yolo26n.yaml"), ("RTDETRDetectionModel", "rtdetr-l.yaml")]
_ACTIVATIONS = {"SiLU", "ReLU", "LeakyReLU", "GELU", "Hardswish", "Sigmoid"}


@pytest.mark.parametrize("cls, cfg", ULTRALYTICS)
def test_ultralytics(cls: str, cfg: str) -> None:
    """An Ultralytics model from its yaml (built on the CPU: its init runs a forward), analysed on
    meta before and after a CPU forward (which caches anchors), activations charged per call site."""
    tasks = pytest.importorskip("ultralytics.nn.tasks")
    model = getattr(tasks, cls)(cfg, verbose=False).eval()
    size = (1, 3, 224, 224) if cls == "ClassificationModel" else (1, 3, 320, 320)
    fresh = cspcost.analyze(model, inputs=[size], strict=True)
    assert fresh.totals["params"] == sum(p.numel() for p in model.parameters())
    acts = fresh.layers[fresh.layers["type"].isin(_ACTIVATIONS)]
    assert len(acts) > 1 and (acts["ops"] == acts["calls"]).all()  # one op per call, own calls only
    # On the CPU (Ultralytics' _apply moves Detect's stride too, so no meta copy); this forward
    # caches anchors as plain CPU tensors, which the second analysis must cover.
    assert fresh.totals["macs"] == _fcm_macs(model, [torch.zeros(size)])
    ran = cspcost.analyze(model, inputs=[size], strict=True)
    assert (ran.totals["macs"], ran.totals["params"]) == (fresh.totals["macs"], fresh.totals["params"])
