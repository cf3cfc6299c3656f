"""``ultralytics:NAME.yaml`` and local Ultralytics-format ``*.yaml`` files, built by Ultralytics.

Ultralytics (AGPL-3.0) is an optional extra, imported only here and only when such a spec is
used; cspcost copies none of its code. A name is one of Ultralytics' own model yamls with the
scale letter included (``yolo11n.yaml``, ``yolov8s-seg.yaml``, ``yolov5nu.yaml``); Ultralytics
resolves it to its family file and scale. The task class follows the yaml (detect, segment,
pose, obb, classify; RT-DETR, YOLO-World and YOLOE by name), the input is 640 (224 to classify),
and the model is built with random weights on the CPU (Ultralytics runs a forward to find its
strides, which the meta device cannot do); nothing is downloaded (``YOLO_OFFLINE``).
"""
from __future__ import annotations

import logging
import os
import re
import warnings
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from types import ModuleType
from typing import Any, Iterator

import torch
from torch import nn

from cspcost.errors import ModelLoadError
from cspcost.sources.libraries import missing_file, require, unknown
from cspcost.sources.record import Resolved

PREFIX = "ultralytics:"
_BY_NAME = (("rtdetr", "RTDETRDetectionModel"), ("yoloe", "YOLOEModel"), ("world", "WorldModel"))
_BY_TASK = {"detect": "DetectionModel", "segment": "SegmentationModel", "pose": "PoseModel",
            "obb": "OBBModel", "classify": "ClassificationModel"}


def is_spec(spec: str) -> bool:
    """An ``ultralytics:`` spec or a local ``.yaml``/``.yml`` file."""
    return spec.startswith(PREFIX) or spec.endswith((".yaml", ".yml"))


def resolve(spec: str) -> Resolved:
    """Load and check the yaml now (one-line errors), build later."""
    os.environ.setdefault("YOLO_OFFLINE", "1")  # Ultralytics must not reach the network
    tasks = require("ultralytics.nn.tasks", "ultralytics", spec)
    cfg = _load(tasks, spec)
    cls = getattr(tasks, _class_name(tasks, cfg, Path(cfg["yaml_file"]).stem))
    size = 224 if cls.__name__ == "ClassificationModel" else 640
    return Resolved(spec, lambda: _build(cls, cfg), (cfg.get("ch", 3), size, size))


def _load(tasks: ModuleType, spec: str) -> dict[str, Any]:
    """The model dict of a built-in name or a local file, or a one-line error."""
    if spec.startswith(PREFIX):
        name = spec[len(PREFIX):]
        if name not in known_names() and ("/" in name or Path(name).exists()):
            raise ModelLoadError(f"{spec}: 'ultralytics:' names one of Ultralytics' own yamls; give a local "
                                 f"file without the prefix (cspcost analyze {name})")
        if name not in known_names():
            raise unknown("ultralytics", name, known_names(), "names are Ultralytics' model yamls with the scale "
                          "letter, e.g. yolo11n.yaml; a local file goes without the prefix")
    elif not Path(spec).is_file():
        raise missing_file(spec, "an Ultralytics model yaml")
    else:
        name = spec
    try:
        with _quiet():
            cfg = tasks.yaml_model_load(name)
    except Exception as exc:  # noqa: BLE001 - a malformed yaml is the user's input
        raise ModelLoadError(f"{spec}: not a readable Ultralytics model yaml: {type(exc).__name__}: {_line(exc)}") from None
    if not isinstance(cfg, dict) or not all(isinstance(cfg.get(k), list) for k in ("backbone", "head")):
        raise ModelLoadError(f"{spec}: not an Ultralytics model yaml (needs 'backbone' and 'head' lists)")
    _check_from(spec, cfg["backbone"] + cfg["head"])
    if cfg.get("scales") and not cfg.get("scale") and not _names_scale(Path(name).stem, cfg["scales"]):
        first = next(iter(cfg["scales"]))
        warnings.warn(f"{spec} names no scale; Ultralytics builds its first, {first!r} "
                      f"(name the scale, e.g. {Path(name).stem}{first}.yaml)", stacklevel=2)
    return cfg


def _check_from(spec: str, layers: list[Any]) -> None:
    """Each layer's ``from`` must name an earlier layer (Ultralytics indexes its channel list with it
    and fails with a bare IndexError otherwise): layer i may take -i .. -1 or 0 .. i-1 (layer 0: the input)."""
    for i, layer in enumerate(layers):
        if not isinstance(layer, list) or len(layer) < 4:
            raise ModelLoadError(f"{spec}: layer {i} is {layer!r}; each layer is [from, repeats, module, args]")
        sources = layer[0] if isinstance(layer[0], list) else [layer[0]]
        reach = max(i, 1)  # layer 0 reads the input: -1 or 0
        for f in sources:
            if not isinstance(f, int) or not -reach <= f < reach:
                allowed = "-1 or 0 (the input)" if i == 0 else f"-{reach} .. -1 or 0 .. {reach - 1}"
                raise ModelLoadError(f"{spec}: layer {i} ({layer[2]}) takes its input from {f!r}, which is not an "
                                     f"earlier layer (from must be {allowed})")


def _names_scale(stem: str, scales: dict[str, Any]) -> bool:
    """Whether a yaml's name carries one of its scale letters (``yolo11n``, ``rtdetr-l``, ``yolov8s-seg``)."""
    return any(re.search(rf"{re.escape(k)}(-|$)", stem) for k in scales)


def _class_name(tasks: ModuleType, cfg: dict[str, Any], stem: str) -> str:
    """The Ultralytics model class for a yaml: by family name first, else by the task of its head."""
    for marker, name in _BY_NAME:
        if marker in stem:
            return f"{name[:-5]}SegModel" if name == "YOLOEModel" and "seg" in stem else name
    try:
        task = tasks.guess_model_task(cfg)
    except Exception:  # noqa: BLE001 - Ultralytics guesses "detect" itself when it cannot tell
        task = "detect"
    return _BY_TASK.get(task, "DetectionModel")


@contextmanager
def _quiet() -> Iterator[None]:
    """Ultralytics' logger off while it builds: it prints model summaries and notes to stdout, where
    they would break ``--format json``/``csv`` (cspcost says what matters itself, on stderr)."""
    logger = logging.getLogger("ultralytics")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def _build(cls: type, cfg: dict[str, Any]) -> nn.Module:
    """Build on the CPU even inside a meta-device context (Ultralytics runs a forward to find strides)."""
    with torch.device("cpu"), _quiet():
        try:
            return cls(dict(cfg), verbose=False)
        except Exception as exc:  # noqa: BLE001 - a yaml whose layers do not fit together
            raise ModelLoadError(f"{cfg.get('yaml_file', 'yaml')}: Ultralytics cannot build it: "
                                 f"{type(exc).__name__}: {_line(exc)}") from None


def _line(exc: BaseException) -> str:
    """The first line of an exception's message."""
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


@lru_cache(maxsize=1)
def known_names() -> tuple[str, ...]:
    """Every built-in model yaml name with its scale letters (``yolo11.yaml`` gives ``yolo11n.yaml``, ...)."""
    import ultralytics
    import yaml

    root = Path(ultralytics.__file__).parent / "cfg" / "models"
    names: set[str] = set()
    for path in root.rglob("*.yaml"):
        names.add(path.name)
        if _unscaled(path.stem) != path.stem:  # already names its scale (yolov10n.yaml)
            continue
        scales = (yaml.safe_load(path.read_text()) or {}).get("scales") or {}
        scaled = (_scaled(path.stem, str(letter)) for letter in scales)
        names.update(f"{name}.yaml" for name in scaled if _unscaled(name) == path.stem)
    # YOLOv5u: the anchor-free YOLOv5 that Ultralytics builds from yolov5.yaml ("yolov5nu.yaml")
    names.update(n.replace(".yaml", "u.yaml") for n in list(names) if re.fullmatch(r"yolov5[nsmlx]\.yaml", n))
    return tuple(sorted(names))


def _unscaled(stem: str) -> str:
    """The family file a scaled name loads, as Ultralytics resolves it (yolov8n-seg -> yolov8-seg)."""
    return re.sub(r"(\d+)([nslmx])(.+)?$", r"\1\3", stem)


def _scaled(stem: str, letter: str) -> str:
    """The scale letter goes after the family's version digits: ``yolov8-seg`` -> ``yolov8n-seg``."""
    return re.sub(r"^(\D*\d+)", lambda m: m.group(1) + letter, stem, count=1)
