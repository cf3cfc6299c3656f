"""Every torchvision table, by name: ``torchvision:NAME --convention torchvision`` reproduces the DEFAULT
weights' published ``_ops`` (GFLOPS as torchvision means it: GMACs, 3 decimals) and ``num_params``.

torchvision 0.29 publishes ``_ops`` for 80 classification, 12 detection, 6 segmentation, 9 video, 2
optical-flow and 12 quantized builders. Its script (pytorch/vision PR 6936) fed a 512x512 random
image through each weights' ``transforms()``; ``cspcost.sources.torchvision`` builds and feeds the
same. Heavy runs (detectors at 800 px, the large quantized models: minutes of CPU in all) are
``heavy`` (``pytest -m heavy``); README lists them, each verified by hand too.

Two things differ from the tables by construction, and are asserted as such:
- five two-stage detectors' RoI heads run on as many proposals/detections as survive NMS, which
  depends on the weights: torchvision's trained ones saw P proposals and D detections (below), our
  random ones others; the dense part is exact and the RoI part is P x (per-proposal MACs) + D x
  (per-detection MACs), each by hand;
- a quantized model stores BN folded into its convs (one bias per channel instead of BN's two
  parameters): its params are ``num_params`` (the float model's) minus its BN channels.
"""
from __future__ import annotations

import warnings

import pytest

import cspcost

models = pytest.importorskip("torchvision.models")
from cspcost.sources.torchvision import task_of, weight_kwargs  # noqa: E402 - after the importorskip

SLOW = {
    "classification": {"regnet_y_128gf"},  # 644M parameters, built on the CPU (its init copies a tensor): 2.6 GB
    "detection": {"fasterrcnn_mobilenet_v3_large_fpn", "fasterrcnn_resnet50_fpn", "fasterrcnn_resnet50_fpn_v2",
                  "fcos_resnet50_fpn", "keypointrcnn_resnet50_fpn", "maskrcnn_resnet50_fpn",
                  "maskrcnn_resnet50_fpn_v2", "retinanet_resnet50_fpn", "retinanet_resnet50_fpn_v2",
                  "ssd300_vgg16"},
    "quantization": {"quantized_googlenet", "quantized_inception_v3", "quantized_mobilenet_v2", "quantized_resnet50",
                     "quantized_resnext101_32x8d", "quantized_resnext101_64x4d", "quantized_shufflenet_v2_x1_0",
                     "quantized_shufflenet_v2_x1_5", "quantized_shufflenet_v2_x2_0"},
}
# (proposals, detections) torchvision's trained weights kept on its 512x512 random image: the counts
# that make the RoI heads' MACs add up to the published _ops (the R50 RPN fills its 1000; the
# MobileNet RPNs kept none; Keypoint R-CNN scored one person, Mask R-CNN none).
PUBLISHED_ROIS = {"fasterrcnn_resnet50_fpn": (1000, 0), "maskrcnn_resnet50_fpn": (1000, 0),
                  "keypointrcnn_resnet50_fpn": (1000, 1), "fasterrcnn_mobilenet_v3_large_fpn": (0, 0),
                  "fasterrcnn_mobilenet_v3_large_320_fpn": (0, 0)}
# Per proposal: TwoMLPHead (256*7*7 -> 1024 -> 1024) and FastRCNNPredictor (1024 -> K scores, 4K boxes).
BOX_91 = 256 * 7 * 7 * 1024 + 1024 * 1024 + 1024 * (91 + 4 * 91)  # 14,359,552 (COCO's 91 classes)
BOX_2 = 256 * 7 * 7 * 1024 + 1024 * 1024 + 1024 * (2 + 4 * 2)  # 13,903,872 (person / background)
# Per detection at 14x14: Mask R-CNN's 4 convs 3x3 256 -> 256, a 2x2/2 deconv (per input element),
# a 1x1 conv to 91 masks at 28x28; Keypoint R-CNN's 3x3 256 -> 512, 7 x 3x3 512 -> 512, a 4x4/2
# deconv to 17 keypoints (per input element).
MASK = 4 * 196 * 256 * 256 * 9 + 196 * 256 * 256 * 4 + 784 * 256 * 91  # 532,066,304
KEYPOINT = 196 * 256 * 512 * 9 + 7 * 196 * 512 * 512 * 9 + 196 * 512 * 17 * 16  # 3,495,460,864


def _builders(task: str) -> list:
    """Every builder of a task with published _ops, the slow ones marked."""
    names = [n for n in models.list_models() if task_of(models, n) == task]
    return [pytest.param(n, marks=pytest.mark.heavy) if n in SLOW.get(task, ()) else n for n in names
            if "_ops" in models.get_model_weights(n).DEFAULT.meta]


def _analyze(name: str) -> cspcost.AnalysisResult:
    """``cspcost analyze torchvision:NAME --convention torchvision`` (the CPU note silenced)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return cspcost.analyze(f"torchvision:{name}", convention="torchvision")


def _meta(name: str) -> dict:
    """The DEFAULT weights' metadata (read from torchvision's source: nothing downloaded)."""
    return models.get_model_weights(name).DEFAULT.meta


def test_every_table_is_enumerated() -> None:
    """torchvision 0.29's builders with published _ops, per task: 80 + 12 + 6 + 9 + 2 + 12."""
    counts = {task: len(_builders(task)) for task in
              ("classification", "detection", "segmentation", "video", "optical_flow", "quantization")}
    assert counts == {"classification": 80, "detection": 12, "segmentation": 6, "video": 9, "optical_flow": 2,
                      "quantization": 12}


@pytest.mark.parametrize("name", _builders("classification") + _builders("segmentation") + _builders("video")
                         + _builders("optical_flow"))
def test_published_ops_and_params(name: str) -> None:
    """_ops to its 3 decimals and num_params exactly, at the input torchvision measured at."""
    result, meta = _analyze(name), _meta(name)
    assert (round(result.totals["macs"] / 1e9, 3), result.totals["params"]) == (meta["_ops"], meta["num_params"])


@pytest.mark.parametrize(("name", "shapes"), [
    ("fcn_resnet50", [(1, 3, 520, 520)]),  # SemanticSegmentation(resize_size=520)
    ("r3d_18", [(1, 3, 16, 112, 112)]),  # 16 frames, VideoClassification's 112 crop
    ("mvit_v2_s", [(1, 3, 16, 224, 224)]),
    ("raft_small", [(1, 3, 512, 512), (1, 3, 512, 512)]),  # two frames, OpticalFlow keeps 512
    ("inception_v3", [(1, 3, 299, 299)]),
])
def test_measured_inputs(name: str, shapes: list) -> None:
    """The input each number was measured at: 512x512 random data through the weights' transforms."""
    assert _analyze(name).input_shape == shapes


def test_segmentation_has_its_auxiliary_head() -> None:
    """fcn_resnet50 as its weights define it: 21 classes and the aux head (152.717, not the 26.5 GMACs
    of a 224 input without it); aux: FCNHead(1024 -> 256 -> 21) at 65x65 = 4225 * (1024*256*9 + 256*21)."""
    result = _analyze("fcn_resnet50")
    aux = result.layers[result.layers["name"].str.startswith("aux_classifier")]["macs"].sum()
    assert aux == 4225 * (1024 * 256 * 9 + 256 * 21)


@pytest.mark.parametrize("name", [n for n in _builders("detection") if getattr(n, "values", (n,))[0] not in PUBLISHED_ROIS])
def test_single_stage_and_v2_detectors(name: str) -> None:
    """Detectors whose MACs do not hang on trained weights reproduce _ops and num_params exactly
    (the v2 R-CNNs' random weights keep 1000 proposals and 100 detections, as the trained ones did)."""
    result, meta = _analyze(name), _meta(name)
    assert (round(result.totals["macs"] / 1e9, 3), result.totals["params"]) == (meta["_ops"], meta["num_params"])


def _rois(result: cspcost.AnalysisResult, pool: str) -> int:
    """RoIs a MultiScaleRoIAlign pooled: the rows of its roi_align outputs."""
    return sum(op["out_shape"][0] for op in result.ops if op["module"] == f"roi_heads.{pool}"
               and op["op"] == "torchvision.roi_align")


@pytest.mark.parametrize("name", [n if n == "fasterrcnn_mobilenet_v3_large_320_fpn" else
                                  pytest.param(n, marks=pytest.mark.heavy) for n in PUBLISHED_ROIS])
def test_two_stage_detectors_up_to_their_roi_counts(name: str) -> None:
    """The dense part (backbone, FPN, RPN head) is exact; the RoI heads cost P x per-proposal + D x
    per-detection MACs for our random weights' P and D, and with torchvision's P and D the total is
    _ops to its 3 decimals."""
    result, meta = _analyze(name), _meta(name)
    box, head = (BOX_2, KEYPOINT) if name.startswith("keypoint") else (BOX_91, MASK)
    detections = _rois(result, "mask_roi_pool") + _rois(result, "keypoint_roi_pool")
    roi = sum(op["macs"] for op in result.ops if op["module"].startswith("roi_heads."))
    assert roi == _rois(result, "box_roi_pool") * box + detections * head
    proposals, published_detections = PUBLISHED_ROIS[name]
    dense = result.totals["macs"] - roi
    assert round((dense + proposals * box + published_detections * head) / 1e9, 3) == meta["_ops"]
    assert result.totals["params"] == meta["num_params"]


def test_detector_runs_on_the_cpu_and_says_so() -> None:
    """A detector needs values: it leaves meta for the CPU, with one warning naming why."""
    with pytest.warns(cspcost.errors.ValuesNeededWarning, match="runs on the cpu, not meta: a detector reads values.*its weights are random"):
        result = cspcost.analyze("torchvision:ssdlite320_mobilenet_v3_large", convention="torchvision")
    assert result.input_shape == [(3, 512, 512)] and round(result.totals["macs"] / 1e9, 3) == 0.583


def _bn_channels(name: str) -> int:
    """BatchNorm channels of the float model a quantized builder quantizes (built on meta)."""
    import torch

    kwargs = weight_kwargs(models, name, models.get_model_weights(name).DEFAULT, "quantization")
    with torch.device("meta"):  # as the source builds it (GoogLeNet without its aux heads), unquantized
        float_model = models.get_model(name, **{**kwargs, "quantize": False})
    return sum(m.num_features for m in float_model.modules() if isinstance(m, torch.nn.BatchNorm2d))


@pytest.mark.parametrize("name", _builders("quantization"))
def test_quantized_tables(name: str) -> None:
    """A quantize=True builder: _ops of the float model exactly (quantized convs and linears at their
    float MACs); params = num_params - BN channels (BN's weight and bias folded into one conv bias)."""
    result, meta = _analyze(name), _meta(name)
    assert round(result.totals["macs"] / 1e9, 3) == meta["_ops"]
    assert result.totals["params"] == meta["num_params"] - _bn_channels(name)
    assert result.unsupported_ops == {}
