"""ONNX export for the ONNX runtimes: the dynamo exporter, a file cache, and a check against eager.

The model is exported with ``torch.onnx.export(..., dynamo=True)`` at opset ``OPSET`` (its nodes carry
``pkg.torch.onnx.name_scopes``: the module path of every op, which maps runtime times back to
modules); when that fails, the TorchScript exporter is tried with a warning (its nodes carry no
module metadata, so per-layer times are then unmapped). Exported files are cached under
``cache_dir()`` (``onnx/`` in the cspcost cache directory) by a content hash of the model's structure, its weights, the input shapes and dtype
and the torch version: the same model is exported once. Export never runs inside a timed region.
"""
from __future__ import annotations

import atexit
import hashlib
import io
import os
import re
import shutil
import sys
import tempfile
import time
import warnings
from contextlib import contextmanager, redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np
import torch
from torch import nn

from cspcost.cache import default_dir, unwritable_reason, warn_unwritable
from cspcost.errors import ForwardError, UsageError

OPSET = 18
# The folder a --processes worker exports into when the user named one (``run_worker`` sets it).
FOLDER_ENV = "CSPCOST_ONNX_CACHE"
# An exported model is refused when |runtime - eager| > ATOL + RTOL * max|eager| on any output.
ATOL, RTOL = 1e-4, 1e-3
LOW_PRECISION_RTOL = 5e-2  # bf16 keeps 8 significant bits (0.4% per rounding), accumulated over layers


class ExportError(UsageError):
    """The model could not be exported to ONNX (names the op and module; suggests --runtime eager)."""


class MismatchError(UsageError):
    """A runtime's outputs differ from eager PyTorch's beyond the tolerance."""


@dataclass(frozen=True)
class Exported:
    """An ONNX file of the model, and how it was made."""

    path: Path
    exporter: str  # "dynamo" or "torchscript"
    opset: int
    export_s: float  # 0.0 when it came from the cache
    cached: bool

    def stamp(self) -> dict[str, Any]:
        """The export's fields for the environment stamp."""
        return {"onnx_exporter": self.exporter, "onnx_opset": self.opset, "onnx_export_s": self.export_s,
                "onnx_cached": self.cached, "onnx_file": str(self.path)}


def cache_dir(user: str | None = None) -> Path:
    """Where exported models live: ``user``, else the folder a worker was given, else ``onnx/`` in
    the one cspcost cache directory (``cspcost.cache.default_dir``)."""
    if user:
        return Path(user)
    if os.environ.get(FOLDER_ENV):
        return Path(os.environ[FOLDER_ENV])
    return default_dir() / "onnx"


def _writable_folder(folder: Path) -> Path:
    """``folder``, or a fresh temporary folder (removed at exit) with a warning when it cannot be
    written: an unwritable cache costs the caching, never the export."""
    reason = unwritable_reason(folder)
    if reason is None:
        return folder
    warn_unwritable("ONNX export", folder, reason)
    temp = Path(tempfile.mkdtemp(prefix="cspcost-onnx-"))
    atexit.register(shutil.rmtree, temp, ignore_errors=True)
    return temp


def content_key(model: nn.Module, inputs: Sequence[torch.Tensor]) -> str:
    """A hash of the model's structure (its repr), weights, input shapes and dtype, and torch's version."""
    digest = hashlib.sha256()
    digest.update(repr(model).encode())
    digest.update(f"{torch.__version__}|{OPSET}|{[(tuple(x.shape), str(x.dtype)) for x in inputs]}".encode())
    for name, tensor in [*model.named_parameters(), *model.named_buffers()]:
        digest.update(name.encode())
        digest.update(tensor.detach().to("cpu").contiguous().numpy().tobytes() if tensor.dtype != torch.bfloat16
                      else tensor.detach().float().cpu().numpy().tobytes())
    return digest.hexdigest()[:20]


def export_onnx(model: nn.Module, inputs: Sequence[torch.Tensor], cache: str | None = None) -> Exported:
    """The model as an ONNX file (from the cache when the same model was exported before).

    Args:
        model: in eval mode, real weights (on the CPU for export; moved there on a copy otherwise).
        inputs: the forward's inputs (their shapes are fixed in the file).
        cache: the cache directory (default ``cache_dir()``).
    Raises:
        ExportError: neither exporter could export the model.
    """
    folder = cache_dir(cache)
    key = content_key(model, inputs)
    for exporter in ("dynamo", "torchscript"):
        path = folder / f"{key}.{exporter}.onnx"
        if path.exists():
            return Exported(path, exporter, OPSET, 0.0, True)
    folder = _writable_folder(folder)
    start = time.perf_counter()
    try:
        exporter = _export(model, inputs, folder / f"{key}.dynamo.onnx", dynamo=True)
    except Exception as dynamo_exc:  # noqa: BLE001 - fall back to the older exporter, then fail clearly
        why = failure(dynamo_exc, model, inputs)
        try:
            exporter = _export(model, inputs, folder / f"{key}.torchscript.onnx", dynamo=False)
        except Exception as exc:  # noqa: BLE001 - re-raised as one line
            raise ExportError(f"cannot export the model to ONNX: {why}; time it with --runtime eager") from exc
        warnings.warn(f"the dynamo ONNX exporter failed ({why}); used the TorchScript exporter (per-layer "
                      "times will not map to modules)", stacklevel=2)
    return Exported(folder / f"{key}.{exporter}.onnx", exporter, OPSET, time.perf_counter() - start, False)


def _export(model: nn.Module, inputs: Sequence[torch.Tensor], path: Path, dynamo: bool) -> str:
    """Export with one exporter into a temporary file, then rename it (whole files only)."""
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    args = tuple(x.detach().cpu() for x in inputs)
    cpu_model = model if all(p.device.type == "cpu" for p in model.parameters()) else _cpu_copy(model)
    with warnings.catch_warnings(), redirect_stdout(io.StringIO()), _quiet_fds():
        warnings.simplefilter("ignore")
        if dynamo:
            program = torch.onnx.export(cpu_model, args, dynamo=True, opset_version=OPSET, verbose=False)
            if program is None:  # only without dynamo does export write the file itself
                raise RuntimeError("the dynamo exporter returned no program")
            program.save(str(tmp))
        else:
            torch.onnx.export(cpu_model, args, str(tmp), dynamo=False, opset_version=OPSET)
    os.replace(tmp, path)
    return "dynamo" if dynamo else "torchscript"


@contextmanager
def _quiet_fds() -> Iterator[None]:
    """The exporters' C++ side prints graphs to the process's stdout/stderr: send both to a temp file
    (stdout carries only cspcost's output)."""
    with tempfile.TemporaryFile() as sink:
        saved = [os.dup(1), os.dup(2)]
        sys.stdout.flush()
        sys.stderr.flush()
        try:
            os.dup2(sink.fileno(), 1)
            os.dup2(sink.fileno(), 2)
            yield
        finally:
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)


_OP = (re.compile(r"target=torch\.ops\.(\w+)\.(\w+)"), re.compile(r"(aten)::(\w+)"))


def failure(exc: BaseException, model: nn.Module, inputs: Sequence[torch.Tensor]) -> str:
    """An export failure as one line: the op, the module running it, and the exporter's reason."""
    text = "\n".join(str(e) for e in _chain(exc))
    match = next((m for pattern in _OP for m in [pattern.search(text)] if m), None)
    reasons = [ln.strip() for ln in text.splitlines() if "not supported" in ln or "NotImplementedError" in ln]
    reason = re.sub(r"^<class '[\w.]+'>: ", "", reasons[0] if reasons else _first_line(exc)).rstrip(".")[:200]
    if not match:
        return reason
    op = f"{match.group(1)}.{match.group(2)}"
    modules = modules_running(model, inputs, match.group(2))
    where = f" in module '{modules[0]}" if modules else ""
    return f"{op}{where}: {reason}"


def _chain(exc: BaseException) -> list[BaseException]:
    """An exception and its causes."""
    out: list[BaseException] = []
    while exc is not None and exc not in out:
        out.append(exc)
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    return out


def modules_running(model: nn.Module, inputs: Sequence[torch.Tensor], op: str) -> list[str]:
    """The module paths (and types) that run an aten op called ``op``, from one eager forward."""
    from torch.utils._python_dispatch import TorchDispatchMode

    from cspcost.walk.capture import module_stack

    stack: list[str] = [""]
    found: list[str] = []

    class Spy(TorchDispatchMode):
        def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
            if func.overloadpacket.__name__ == op and stack[-1] not in found:
                found.append(stack[-1])
            return func(*args, **(kwargs or {}))

    try:
        with torch.inference_mode(), module_stack(model, stack), Spy():
            model(*inputs)
    except Exception:  # noqa: BLE001 - only a hint for the message; the export error is what counts
        return []
    types = dict(model.named_modules())
    # "path' (Type)": the caller quotes the path, so the type stays outside the quotes
    return [f"{name or '(root)'}' ({type(types[name]).__name__})" if name in types else f"{name}'" for name in found]


def _cpu_copy(model: nn.Module) -> nn.Module:
    """A CPU copy of a model on another device (the caller's stays where it is)."""
    import copy

    return copy.deepcopy(model).to("cpu")


def _first_line(exc: BaseException) -> str:
    """An exception as one line: its type and first non-empty line."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    return f"{type(exc).__name__}: {lines[0] if lines else ''}"[:300]


def flat_outputs(out: Any) -> list[torch.Tensor]:
    """The tensors of a forward's output, in order (tuples, lists and dict values flattened)."""
    if isinstance(out, torch.Tensor):
        return [out]
    if isinstance(out, dict):
        out = list(out.values())
    if isinstance(out, (list, tuple)):
        return [t for item in out for t in flat_outputs(item)]
    return []


def max_abs_diff(eager: Sequence[torch.Tensor], runtime: Sequence[Any], runtime_name: str,
                 rtol: float = RTOL) -> float:
    """The largest |runtime - eager| over all outputs; MismatchError beyond ``ATOL + rtol * max|eager|``
    (``rtol`` wider for a runtime computing at reduced precision, e.g. ``LOW_PRECISION_RTOL`` for bf16)."""
    if len(eager) != len(runtime):
        raise MismatchError(f"{runtime_name} returned {len(runtime)} outputs, eager PyTorch {len(eager)}")
    worst = 0.0
    for ref, got in zip(eager, runtime):
        ref_np = ref.detach().float().cpu().numpy()
        got_np = np.asarray(got, dtype=np.float32).reshape(ref_np.shape)
        diff = float(np.max(np.abs(got_np - ref_np))) if ref_np.size else 0.0
        scale = float(np.max(np.abs(ref_np))) if ref_np.size else 0.0
        if not diff <= ATOL + rtol * scale:
            raise MismatchError(f"{runtime_name}'s outputs differ from eager PyTorch's by {diff:.3g} (max |eager| "
                                f"{scale:.3g}; tolerance {ATOL:g} + {rtol:g} x max); time it with --runtime eager")
        worst = max(worst, diff)
    return worst


def eager_outputs(model: nn.Module, inputs: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """The eager forward's output tensors (the reference the runtimes are checked against)."""
    with torch.inference_mode():
        return flat_outputs(model(*inputs))


def check_forward_error(exc: BaseException) -> ForwardError:
    """A runtime's failing first run as one line."""
    return ForwardError(f"the runtime failed to run the exported model: {_first_line(exc)}")
