"""The bridge to models: one ``resolve`` for every spec, dispatching by its form.

``timm:NAME``, ``torchvision:NAME`` and ``ultralytics:NAME.yaml`` (or a local Ultralytics
``*.yaml``) go to their library's module (imported lazily, an optional extra each); then zoo
names, darknet ``*.cfg`` files, ``path/to/file.py:factory`` and ``package.module:factory``.
A library prefix wins over ``module:factory`` (``timm:x`` is never the attribute ``x`` of timm).
"""
from __future__ import annotations

import difflib
import importlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Callable

import torch
from torch import nn

from cspcost.errors import (
    USER_CODE_FAILURES,
    CfgFileError,
    CspcostError,
    ModelLoadError,
    UnknownModelError,
    UsageError,
    failure_text,
)
from cspcost.sources import timm as timm_source
from cspcost.sources import torchvision as torchvision_source
from cspcost.sources import ultralytics as ultralytics_source
from cspcost.sources.libraries import missing_file
from cspcost.sources.record import Resolved

_LIBRARIES = ((timm_source.PREFIX, timm_source.resolve), (torchvision_source.PREFIX, torchvision_source.resolve))


def _zoo() -> ModuleType:
    """The zoo registry package."""
    import cspcost_models

    return cspcost_models


def list_models() -> list[str]:
    """Names of every zoo model."""
    return _zoo().list_models()


def resolve(spec: str) -> Resolved:
    """A library spec, a zoo name, a cfg or yaml file, ``path/to/file.py:factory`` or ``package.module:factory``."""
    if not isinstance(spec, str):
        raise UsageError(f"expected an nn.Module or a model spec string (a zoo name, timm:NAME, file.py:factory, ...), "
                         f"got {type(spec).__name__}")
    if not spec.strip():
        raise UsageError("empty model spec; give a zoo name (cspcost models lists them) or path/to/file.py:factory")
    for prefix, resolve_library in _LIBRARIES:
        if spec.startswith(prefix):
            return resolve_library(spec)
    if ultralytics_source.is_spec(spec):
        return ultralytics_source.resolve(spec)
    zoo = _zoo()
    if spec in zoo.list_models():
        entry = zoo.get(spec)
        return Resolved(spec, entry.build, entry.input_size)
    if spec.endswith(".cfg"):
        return _resolve_cfg(spec)
    if ":" in spec:
        return Resolved(spec, _load_factory(spec), None)
    close = difflib.get_close_matches(spec, zoo.list_models(), n=3, cutoff=0.6)
    hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    raise UnknownModelError(f"unknown model {spec!r}{hint} (cspcost models lists all; or give "
                            "timm:NAME, torchvision:NAME, ultralytics:NAME.yaml or path/to/file.py:factory)")


def resolve_model(model_or_name: nn.Module | str) -> Resolved:
    """What the user passed as a model: a spec (see ``resolve``) or a module, whose factory returns
    the module itself and whose default input is its own ``input_size`` attribute if it has one."""
    if isinstance(model_or_name, str):
        return resolve(model_or_name)
    if not isinstance(model_or_name, nn.Module):
        raise UsageError(f"expected a model name or an nn.Module, got {type(model_or_name).__name__}")
    # A module may say what it expects (a darknet cfg model carries its [net] size).
    size = getattr(model_or_name, "input_size", None)
    own = tuple(size) if isinstance(size, (tuple, list)) and all(isinstance(d, int) for d in size) else None
    return Resolved(type(model_or_name).__name__, lambda: model_or_name, own)


def _resolve_cfg(spec: str) -> Resolved:
    """A darknet .cfg file: built with darknet's semantics, input size from its [net] section."""
    from cspcost_models import darknet_cfg

    path = Path(spec)
    if not path.is_file():
        raise missing_file(spec, "a darknet .cfg file")
    try:
        with torch.device("meta"):
            model = darknet_cfg.build(path)
    except darknet_cfg.CfgError as exc:
        raise CfgFileError(str(exc)) from None
    return Resolved(path.name, lambda: darknet_cfg.build(path), model.input_size)


def _load_factory(spec: str) -> Callable[[], nn.Module]:
    """Import the module part of ``where:factory`` and return the factory attribute."""
    where, _, attr = spec.rpartition(":")
    try:
        module = _import_file(where) if where.endswith(".py") else importlib.import_module(where)
    except ModelLoadError:
        raise
    except USER_CODE_FAILURES as exc:  # any import failure (sys.exit too) is the user's file
        raise ModelLoadError(f"cannot import {where!r}: {failure_text(exc)}") from exc
    factory = getattr(module, attr, None)
    if not callable(factory):
        raise ModelLoadError(f"{where!r} has no callable {attr!r}")
    return factory


def _import_file(path: str) -> ModuleType:
    """Import a Python file by path, its folder on ``sys.path`` meanwhile (so it can import its siblings
    from any working directory, as ``python file.py`` could), then ``sys.path`` restored."""
    file = Path(path)
    if not file.is_file():
        raise missing_file(path, "a Python file")
    module_spec = importlib.util.spec_from_file_location(f"_cspcost_user_{file.stem}", file)
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[module_spec.name] = module
    before = list(sys.path)
    sys.path.insert(0, str(file.resolve().parent))
    try:
        module_spec.loader.exec_module(module)
    finally:
        sys.path[:] = before
    return module


def build(resolved: Resolved) -> nn.Module:
    """Build the model without allocating weights (on meta); stand-ins supply any device later.

    A model that needs real values (``resolved.device`` set) is built normally, with its own
    random weights: zero stand-ins would make its data-dependent steps degenerate.
    """
    if resolved.device not in (None, "meta"):
        return _checked(resolved, _build_plain(resolved))
    try:
        with torch.device("meta"):
            model = resolved.factory()
    except CspcostError:  # a source's own one-line error (a yaml Ultralytics cannot build): final
        raise
    except SystemExit as exc:  # a factory that exits is bad input, not a reason to stop cspcost
        raise ModelLoadError(f"building {resolved.name!r} failed: {failure_text(exc)}") from exc
    except Exception:  # noqa: BLE001 - some factories cannot build on meta; build normally then
        model = _build_plain(resolved)
    return _checked(resolved, model)


def _checked(resolved: Resolved, model: object) -> nn.Module:
    """``model`` if it is an nn.Module, else a one-line error naming what the factory returned."""
    if not isinstance(model, nn.Module):
        raise ModelLoadError(f"{resolved.name!r} returned {type(model).__name__}, not an nn.Module")
    return model


def _build_plain(resolved: Resolved) -> nn.Module:
    """Build on the default device, reporting a factory that raises as a one-line error."""
    try:
        return resolved.factory()
    except CspcostError:
        raise
    except USER_CODE_FAILURES as exc:  # the user's factory failed (or called sys.exit)
        raise ModelLoadError(f"building {resolved.name!r} failed: {failure_text(exc)}") from exc
