"""``torchvision:NAME``: any torchvision builder, built as its DEFAULT weights define it, with random
weights, at the input its published ``_ops`` were measured at.

Nothing is downloaded: the builder gets ``weights=None`` (and ``weights_backbone=None``) plus the
keyword arguments the DEFAULT weights would set, read from their metadata: ``num_classes`` (the
length of ``categories``), ``num_keypoints``, ``aux_loss=True`` for the segmentation builders (their
weights carry the auxiliary head), ``image_size`` for ViT, ``transform_input`` and ``aux_logits``
for GoogLeNet and Inception v3, ``quantize=True`` with the weights' ``backend`` for the quantized
builders; detectors whose trained backbone uses ``FrozenBatchNorm2d`` get it too.

The input is what torchvision's own ``_ops`` script fed (pytorch/vision PR 6936): a random 512x512
image through the weights' ``transforms()`` (classification: its crop; segmentation: 520; video:
16 frames at the crop, e.g. 3x16x112x112; optical flow: two 512x512 images), and for detection one
3x512x512 image in a list, which the model's own ``GeneralizedRCNNTransform`` resizes (800 for the
R-CNNs). Detectors read values (post-processing, data-dependent shapes) and quantized models have
no meta kernels: both run on the CPU with seeded random weights.
"""
from __future__ import annotations

import inspect
import warnings
from typing import Any, Callable

import torch
from torch import nn

from cspcost.sources.libraries import require, unknown
from cspcost.sources.record import DEFAULT_INPUT, Resolved

PREFIX = "torchvision:"
_MEASURED_SIDE = 512  # torchvision's _ops script: torch.randn of 512x512 through weights.transforms()
_FRAMES = 16  # ... and 16 frames for video models
_SEED = 0
# Detectors whose builder swaps nn.BatchNorm2d for FrozenBatchNorm2d (buffers, not parameters) in
# the backbone whenever weights are given ("norm_layer = FrozenBatchNorm2d if is_trained"). The v2
# builders, RetinaNet v2 and the SSDs keep trainable BN.
_FROZEN_BN = frozenset({"fasterrcnn_resnet50_fpn", "fasterrcnn_mobilenet_v3_large_fpn",
                        "fasterrcnn_mobilenet_v3_large_320_fpn", "maskrcnn_resnet50_fpn",
                        "keypointrcnn_resnet50_fpn", "retinanet_resnet50_fpn", "fcos_resnet50_fpn"})
_VALUES = {"detection": "a detector reads values (post-processing, the proposals NMS keeps); its weights are "
                        "random, so its RoI heads run on as many proposals as survive",
           "quantization": "quantized kernels have no meta implementation; its weights are random"}


def resolve(spec: str) -> Resolved:
    """A ``torchvision:NAME`` spec."""
    models = require("torchvision.models", "torchvision", spec)
    name = spec[len(PREFIX):]
    if name not in models.list_models():
        raise unknown("torchvision", name, models.list_models(), "torchvision.models.list_models() lists all")
    task, weights = task_of(models, name), _default_weights(models, name)
    kwargs = weight_kwargs(models, name, weights, task)
    factory = _factory(models, name, kwargs)
    shapes = measured_input(weights, task)
    if task == "detection":
        return Resolved(spec, factory, shapes[0], _random_images(shapes[0]), "cpu", _VALUES[task])
    size = shapes[0] if len(shapes) == 1 else shapes
    return Resolved(spec, factory, size, device="cpu" if task in _VALUES else None, reason=_VALUES.get(task, ""))


def task_of(models: Any, name: str) -> str:
    """classification, detection, segmentation, video, optical_flow or quantization."""
    parts = models.get_model_builder(name).__module__.split(".")
    return parts[2] if len(parts) > 3 else "classification"


def _default_weights(models: Any, name: str) -> Any:
    """The builder's DEFAULT weights enum member (metadata only, nothing fetched), or None."""
    try:
        return models.get_model_weights(name).DEFAULT
    except (ValueError, AttributeError, KeyError):  # a builder without registered weights
        return None


def weight_kwargs(models: Any, name: str, weights: Any, task: str) -> dict[str, Any]:
    """The builder's keyword arguments: no weights, plus what its DEFAULT weights would set."""
    params = inspect.signature(models.get_model_builder(name)).parameters
    kwargs: dict[str, Any] = {"weights": None}
    if "weights_backbone" in params:
        kwargs["weights_backbone"] = None
    if weights is None:
        return kwargs
    meta = weights.meta
    if "categories" in meta:
        kwargs["num_classes"] = len(meta["categories"])
    if "keypoint_names" in meta:
        kwargs["num_keypoints"] = len(meta["keypoint_names"])
    if "aux_loss" in params:
        kwargs["aux_loss"] = True  # torchvision's segmentation weights all carry the auxiliary head
    if name.startswith("vit_"):
        kwargs["image_size"] = meta["min_size"][0]
    if task == "quantization":
        kwargs.update(quantize=True, backend=meta.get("backend", "fbgemm"))
    kwargs.update(_inception_kwargs(name))
    return kwargs


def _inception_kwargs(name: str) -> dict[str, Any]:
    """GoogLeNet and Inception v3 as their weights load them: input transform on, GoogLeNet's
    auxiliary classifiers dropped (Inception v3 keeps its AuxLogits), init skipped (weights follow)."""
    base = name.removeprefix("quantized_")
    if base == "googlenet":
        return {"transform_input": True, "aux_logits": False, "init_weights": False}
    if base == "inception_v3":
        return {"transform_input": True, "init_weights": False}
    return {}


def _factory(models: Any, name: str, kwargs: dict[str, Any]) -> Callable[[], nn.Module]:
    """Build with the weights' keyword arguments, seeded; detectors get their trained-backbone BN."""
    def build() -> nn.Module:
        torch.manual_seed(_SEED)  # random weights, the same on every run (detector outputs depend on them)
        with warnings.catch_warnings():
            # quantize=True builds warn of torch's quantized-tensor deprecation and of observers
            # never calibrated: torchvision's own build steps, nothing the user can act on
            warnings.simplefilter("ignore")
            model = models.get_model(name, **kwargs)
        if name in _FROZEN_BN:
            _freeze_bn(model.backbone)
        return model

    return build


def _freeze_bn(module: nn.Module) -> None:
    """Every BatchNorm2d below ``module`` replaced by torchvision's FrozenBatchNorm2d, in place."""
    from torchvision.ops.misc import FrozenBatchNorm2d

    for parent in list(module.modules()):
        for key, child in parent.named_children():
            if type(child) is nn.BatchNorm2d:
                frozen = FrozenBatchNorm2d(child.num_features, eps=child.eps)
                setattr(parent, key, frozen.to(child.weight.device))


def measured_input(weights: Any, task: str) -> list[tuple[int, ...]]:
    """The shapes torchvision's ``_ops`` script gave the model, without the batch dimension.

    It fed ``torch.randn`` of 512x512 (video: 16 frames of it) through ``weights.transforms()``;
    detection got the 3x512x512 image itself (its model resizes). Without weights: 3x224x224.
    """
    if weights is None:
        return [DEFAULT_INPUT]
    side = _MEASURED_SIDE
    if task == "detection":
        return [(3, side, side)]
    dims = (1, _FRAMES, 3, side, side) if task == "video" else (1, 3, side, side)
    x = torch.zeros(dims)
    with torch.inference_mode():
        out = weights.transforms()(x, x) if task == "optical_flow" else weights.transforms()(x)
    return [tuple(t.shape[1:]) for t in (out if isinstance(out, tuple) else (out,))]


def _random_images(shape: tuple[int, ...]) -> Callable[[], list[Any]]:
    """The forward's arguments for a detector: a list of one seeded random image (values matter)."""
    def make() -> list[Any]:
        generator = torch.Generator().manual_seed(_SEED)
        return [[torch.randn(shape, generator=generator)]]

    return make
