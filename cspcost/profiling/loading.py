"""The model and its inputs, ready to time: built with fixed weights, on the device, at the dtype.

Shared by every measurement (``run``, ``paired``, the runtimes' sessions): the model is built with
seed 0 straight on the device (same weights in every run: random initial weights differ in
subnormal values and so in speed), copied before it is changed if the caller owns it, and checked
by one forward whose failure becomes a one-line error (out of memory: the largest batch that fits).
"""
from __future__ import annotations

import copy
import gc
import traceback
from contextlib import contextmanager
from typing import Any, Callable, Iterator, Sequence

import torch
from torch import nn

from cspcost.errors import (
    CspcostError,
    ForwardError,
    ModelLoadError,
    OutOfMemoryError,
    UnsupportedDtypeError,
    UsageError,
    failure_text,
)
from cspcost.profiling.device import device_layer, is_oom
from cspcost.sources.resolve import resolve
from cspcost.shapes import check_shape
from cspcost.sources.record import DEFAULT_INPUT


def load_model(model_or_name: nn.Module | str, input_size: Any, dev: torch.device, dtype: torch.dtype,
               channels_last: bool) -> tuple[str, nn.Module, list[tuple[int, ...]]]:
    """(display name, the model ready on the device, the input sizes) for a module or a spec."""
    name, model, default_size = _load(model_or_name, dev)
    sizes = _sizes(input_size or default_size or DEFAULT_INPUT)
    return name, _prepare(model, dev, dtype, channels_last, owned=isinstance(model_or_name, str)), sizes


def _load(model_or_name: nn.Module | str, dev: torch.device) -> tuple[str, nn.Module, tuple[int, ...] | None]:
    """The display name, a module with real weights, and the default input size."""
    if isinstance(model_or_name, nn.Module):
        return type(model_or_name).__name__, model_or_name, None
    if not isinstance(model_or_name, str):
        raise UsageError(f"expected a model name or an nn.Module, got {type(model_or_name).__name__}")
    resolved = resolve(model_or_name)
    try:
        # Build straight on the device (no host copy), with the same weights in every run: random
        # initial weights differ in subnormal values and so in speed. The caller's RNG is untouched.
        with torch.random.fork_rng(), torch.device(dev):
            torch.manual_seed(0)
            model = resolved.factory()
    except CspcostError:  # a source's own one-line error: not wrapped a second time
        raise
    except SystemExit as exc:  # a factory that exits is bad input (issue 23), not cspcost's exit
        raise ModelLoadError(f"building {resolved.name!r} failed: {failure_text(exc)}") from exc
    except Exception as exc:  # noqa: BLE001 - the user's factory failed
        if is_oom(exc):
            raise OutOfMemoryError(f"out of memory building {resolved.name!r} on {dev}") from exc
        raise ModelLoadError(f"building {resolved.name!r} failed: {type(exc).__name__}: {exc}") from exc
    return resolved.name, model, resolved.input_size


def _sizes(size: Sequence[Any]) -> list[tuple[int, ...]]:
    """One or several (C, H, W) sizes, validated."""
    several = isinstance(size, Sequence) and bool(size) and isinstance(size[0], Sequence)
    return [check_shape(s) for s in (size if several else [size])]


def _prepare(model: nn.Module, dev: torch.device, dtype: torch.dtype, channels_last: bool,
             owned: bool) -> nn.Module:
    """The model on ``dev`` at ``dtype`` (and NHWC); a copy if the caller's module must change."""
    tensors = [*model.parameters(), *model.buffers()]
    if any(t.is_meta for t in tensors):
        raise UsageError("the model has weights on the meta device; profiling needs real weights")
    floating = [t for t in tensors if t.is_floating_point()]
    if channels_last or any(t.device != dev or t.dtype != dtype for t in floating):
        if not owned:
            model = copy.deepcopy(model)  # the caller's module keeps its device, dtype and format
        model = model.to(device=dev, dtype=dtype)
        if channels_last:
            model = model.to(memory_format=torch.channels_last)
    return model


def _make_inputs(sizes: list[tuple[int, ...]], batch: int, dev: torch.device, dtype: torch.dtype,
                 channels_last: bool) -> list[torch.Tensor]:
    """Random inputs on the device (fixed seed), NHWC when asked for 4-D inputs."""
    gen = torch.Generator(device=dev).manual_seed(0)
    tensors = [torch.randn((batch, *s), generator=gen, device=dev, dtype=dtype) for s in sizes]
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    return [t.contiguous(memory_format=fmt) if t.dim() == 4 else t for t in tensors]


def first_forward(model: nn.Module, sizes: list[tuple[int, ...]], batch: int, dev: torch.device,
                   dtype: torch.dtype, channels_last: bool) -> list[torch.Tensor]:
    """Make the inputs and run one forward, turning failures into one-line errors."""
    try:
        inputs = _make_inputs(sizes, batch, dev, dtype, channels_last)
        model(*inputs)
        return inputs
    except SystemExit as exc:  # the user's forward exited: bad input, not cspcost's exit
        raise ForwardError(f"forward of {type(model).__name__} failed: {failure_text(exc)}") from exc
    except Exception as exc:  # noqa: BLE001 - re-raised as a one-line user error
        # Drop the inputs and the activations the traceback's frames hold, so that the memory
        # is free before smaller batches are tried.
        inputs = None  # noqa: F841
        traceback.clear_frames(exc.__traceback__)
        raise _forward_failure(exc, model, sizes, batch, dev, dtype, channels_last) from exc


def _forward_failure(exc: Exception, model: nn.Module, sizes: list[tuple[int, ...]], batch: int,
                     dev: torch.device, dtype: torch.dtype, channels_last: bool) -> Exception:
    """The user error for a failed first forward: out of memory, dtype, or the forward itself."""
    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    if is_oom(exc):
        device_layer(dev).free()
        fit = largest_batch(lambda b: _fits(model, sizes, b, dev, dtype, channels_last), batch)
        hint = (f"the largest batch that fitted was {fit} (try --batch {fit})" if fit
                else "not even batch 1 fitted")
        return OutOfMemoryError(f"out of memory at batch {batch} on {dev}; {hint}", fit)
    dtype_name = str(dtype).removeprefix("torch.")
    if "not implemented for" in first or "unsupported dtype" in first.lower():
        return UnsupportedDtypeError(f"{dtype_name} is not supported on {dev} by this model: {first}")
    return ForwardError(f"forward failed on {dev}: {type(exc).__name__}: {first}")


def largest_batch(fits: Callable[[int], bool], batch: int) -> int | None:
    """The largest of batch/2, batch/4, ..., 1 for which ``fits`` holds (None if none does).

    Args:
        fits: runs a forward at a batch size; False if it ran out of memory.
        batch: the batch that did not fit.
    Returns:
        The first halved batch that fits, or None.
    """
    candidate = batch // 2
    while candidate >= 1:
        if fits(candidate):
            return candidate
        candidate //= 2
    return None


def _fits(model: nn.Module, sizes: list[tuple[int, ...]], batch: int, dev: torch.device,
          dtype: torch.dtype, channels_last: bool) -> bool:
    """Whether one forward at ``batch`` runs without running out of memory."""
    try:
        model(*_make_inputs(sizes, batch, dev, dtype, channels_last))
        return True
    except Exception as exc:  # noqa: BLE001 - anything but OOM is not ours to judge here
        if not is_oom(exc):
            raise
        device_layer(dev).free()
        return False


@contextmanager
def gc_paused() -> Iterator[None]:
    """No garbage collection inside timed loops (as ``timeit`` does): its pauses are not the model's."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
