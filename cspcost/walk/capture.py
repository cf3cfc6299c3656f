"""Run a model once and record every aten op with the innermost module that ran it.

By default the run happens on PyTorch's ``meta`` device: shapes propagate, no weight or activation
is allocated and no real kernel runs. A module that already holds real weights is run with meta
stand-ins for its parameters and buffers (``torch.func.functional_call``), so its tensors are
neither copied nor moved.
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Iterator, Sequence

import torch
from torch import nn
from torch.nn.modules.module import (
    register_module_forward_hook,
    register_module_forward_pre_hook,
)
from torch.utils._python_dispatch import TorchDispatchMode

from cspcost.errors import DeviceError, ForwardError, MetaDeviceError
from cspcost.walk.dataflow import Dataflow, Ref
from cspcost.walk.records import OpEvent, TensorMeta


@dataclass(frozen=True)
class Capture:
    """The ops one forward pass executed, in order, and the module tree they ran in."""

    events: list[OpEvent]
    module_types: dict[str, str]  # dotted path -> class name, for every module in the tree
    module_params: dict[str, tuple[int, int]]  # path -> (own params, own conv/linear weights)
    input_shapes: list[tuple[int, ...]]
    device: str
    peak_activation_bytes: int  # the most activation memory alive at once, in execution order
    module_labels: dict[str, str] = field(default_factory=dict)  # path -> own label (darknet: "12 conv 3x3/2")
    flow: list[tuple[Ref, ...]] = field(default_factory=list)  # per event: the producers of its inputs


_OP_NAMES: dict[Any, str] = {}


def _op_name(func: Any) -> str:
    """``aten.conv2d`` for any overload of conv2d (cached: this runs once per op)."""
    name = _OP_NAMES.get(func)
    if name is None:
        name = _OP_NAMES[func] = str(func.overloadpacket)
    return name


def _meta(x: Any) -> Any:
    """Replace tensors in a (nested) argument by their TensorMeta; keep everything else."""
    if isinstance(x, torch.Tensor):
        return TensorMeta(tuple(x.shape), str(x.dtype), x.element_size(), x.is_contiguous())
    if isinstance(x, (list, tuple)):
        return [_meta(v) for v in x] if isinstance(x, list) else tuple(_meta(v) for v in x)
    return x


def _outputs(out: Any) -> tuple[TensorMeta, ...]:
    """The tensor outputs of an op, flattened."""
    if isinstance(out, torch.Tensor):
        return (_meta(out),)
    if isinstance(out, (list, tuple)):
        return tuple(_meta(t) for t in out if isinstance(t, torch.Tensor))
    return ()


def _same_shape(args: Any, kwargs: Any) -> torch.Tensor:
    """The output of a shape-preserving op on meta: a new tensor like the input."""
    return torch.empty_like(args[0])


def _in_place(args: Any, kwargs: Any) -> torch.Tensor:
    """The output of an in-place op: its input."""
    return args[0]


# On the meta device some ops' meta kernels are slow Python decompositions (eval batch norm takes
# ~10 ms each in torch 2.13) though their output is plainly shaped like their input. The recorder
# makes those outputs itself; the recorded event is the same, only faster.
_META_SHORTCUTS = {
    "aten.batch_norm": _same_shape,
    **{f"aten.{name}": _same_shape for name in (
        "relu", "leaky_relu", "hardtanh", "relu6", "silu", "mish", "sigmoid", "tanh", "gelu",
        "hardsigmoid", "hardswish", "elu")},
    **{f"aten.{name}_": _in_place for name in (
        "relu", "leaky_relu", "hardtanh", "silu", "mish", "sigmoid", "tanh", "hardsigmoid",
        "hardswish", "elu")},
}


def _tensors(items: Any) -> Iterator[torch.Tensor]:
    """Tensors among an op's arguments or outputs (one level of lists, as aten schemas nest)."""
    for item in items if isinstance(items, (list, tuple)) else (items,):
        if isinstance(item, torch.Tensor):
            yield item
        elif isinstance(item, (list, tuple)):
            yield from (t for t in item if isinstance(t, torch.Tensor))


class _Lifetimes:
    """When each activation storage is first written and last read, in op order.

    A storage (not a tensor: views share one) is born at the op that first outputs it and dies
    after the op that last touches it. Parameters are never born, so they are not activations.
    """

    def __init__(self) -> None:
        self.step = 0
        self.birth: dict[int, int] = {}
        self.last: dict[int, int] = {}
        self.size: dict[int, int] = {}
        self._keep: list[Any] = []  # holding storages keeps their keys from being reused

    def _key(self, t: torch.Tensor) -> tuple[int, Any]:
        """The identity of a tensor's storage, and the storage."""
        storage = t.untyped_storage()
        return storage._cdata, storage

    def born(self, tensors: Iterator[torch.Tensor], step: int) -> None:
        """Register storages first written at ``step`` (or alive before the first op: step -1)."""
        for t in tensors:
            key, storage = self._key(t)
            if key not in self.birth:
                self.birth[key], self.size[key] = step, storage.nbytes()
                self._keep.append(storage)
            self.last[key] = max(self.last.get(key, step), step)

    def used(self, tensors: Iterator[torch.Tensor], step: int) -> None:
        """Mark storages read at ``step``."""
        for t in tensors:
            key = self._key(t)[0]
            if key in self.birth:
                self.last[key] = step

    def record(self, args: Any, out: Any) -> None:
        """One op: its inputs are read, its outputs written."""
        self.used(_tensors(args), self.step)
        self.born(_tensors(out), self.step)
        self.step += 1

    def peak(self) -> int:
        """The largest total size of storages alive at once."""
        delta = [0] * (self.step + 3)
        for key, birth in self.birth.items():
            delta[birth + 1] += self.size[key]
            delta[self.last[key] + 2] -= self.size[key]
        alive = best = 0
        for change in delta:
            alive += change
            best = max(best, alive)
        return best


class _Recorder(TorchDispatchMode):
    """A dispatch mode that appends one OpEvent per aten op, tagged with the current module."""

    def __init__(self, stack: list[str], meta: bool) -> None:
        super().__init__()
        self.stack = stack
        self.events: list[OpEvent] = []
        self.shortcuts = _META_SHORTCUTS if meta else {}
        self.lifetimes = _Lifetimes()
        self.flow = Dataflow()

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        """Run the op (or its meta shortcut), then record it."""
        kwargs = kwargs or {}
        name = _op_name(func)
        shortcut = self.shortcuts.get(name)
        out = shortcut(args, kwargs) if shortcut else func(*args, **kwargs)
        self.events.append(OpEvent(
            name, self.stack[-1], _meta(args), {k: _meta(v) for k, v in kwargs.items()},
            _outputs(out)))
        self.lifetimes.record(args, out)
        self.flow.record(name, args, out)
        return out


@contextmanager
def module_stack(model: nn.Module, stack: list[str]) -> Iterator[None]:
    """Keep ``stack`` equal to the dotted paths of the modules currently running.

    Two global module hooks and a table of names, rather than two hooks per module: registering
    hooks on every module of a large model costs more than the whole forward on meta. A module
    outside the model's tree (made during forward) is charged to the module that called it.
    """
    names = {id(module): name for name, module in model.named_modules()}

    def push(module: nn.Module, args: Any) -> None:
        stack.append(names.get(id(module), stack[-1]))

    def pop(module: nn.Module, args: Any, out: Any) -> None:
        stack.pop()

    handles = [register_module_forward_pre_hook(push), register_module_forward_hook(pop)]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def check_device(device: str) -> torch.device:
    """The torch device for a name, or a DeviceError naming what is absent."""
    try:
        dev = torch.device(device)
    except RuntimeError as exc:
        raise DeviceError(f"unknown device {device!r}; use meta, cpu or cuda") from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise DeviceError("CUDA was asked for but is not available on this machine; use --device cpu or meta")
    return dev


def make_inputs(
    input_sizes: Sequence[Sequence[int]], batch: int, device: torch.device, dtype: torch.dtype
) -> list[torch.Tensor]:
    """One input tensor per size, with the batch dimension prepended (zeros off the meta device)."""
    make = torch.empty if device.type == "meta" else torch.zeros
    return [make((batch, *size), device=device, dtype=dtype) for size in input_sizes]


@contextmanager
def _stand_ins(model: nn.Module, device: torch.device) -> Iterator[None]:
    """Swap every parameter and buffer not on ``device`` for a stand-in there, then restore them.

    Tied tensors get one shared stand-in. On meta the stand-ins cost nothing; elsewhere they are
    zeros (deterministic for data-dependent code). The user's tensors are never copied or moved.
    """
    make = torch.empty if device.type == "meta" else torch.zeros
    made: dict[int, torch.Tensor] = {}
    saved: list[tuple[dict[str, Any], str, torch.Tensor]] = []
    for module in model.modules():
        for store in (module._parameters, module._buffers):
            for key, t in store.items():
                if t is None or t.device == device:
                    continue
                if id(t) not in made:
                    made[id(t)] = make(t.shape, dtype=t.dtype, device=device)
                saved.append((store, key, t))
                store[key] = made[id(t)]
    try:
        yield
    finally:
        for store, key, t in saved:
            store[key] = t


@contextmanager
def eval_mode(model: nn.Module) -> Iterator[None]:
    """Put every module in eval mode, then restore each module's own flag."""
    flags = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield
    finally:
        for module, flag in flags:
            module.training = flag


def capture(
    model: nn.Module,
    inputs: Sequence[torch.Tensor],
    device: str = "meta",
) -> Capture:
    """Run ``model`` once on ``inputs`` (already made, on ``device``) and record every aten op.

    Args:
        model: any module; its weights stay where they are.
        inputs: the forward's positional arguments.
        device: "meta" (no allocation, no kernels), "cpu" or "cuda".
    Returns:
        The recorded events and the module tree's types.
    Raises:
        MetaDeviceError: the model cannot run on the meta device.
        ForwardError: the forward failed; the message names the innermost running module.
    """
    dev = check_device(device)
    stack: list[str] = [""]
    recorder = _Recorder(stack, dev.type == "meta")
    recorder.lifetimes.born(_tensors(inputs), -1)
    recorder.flow.sources(inputs)
    with eval_mode(model), _stand_ins(model, dev), module_stack(model, stack):
        try:
            with torch.inference_mode(), recorder:
                out = model(*inputs)
        except Exception as exc:  # noqa: BLE001 - re-raised as a one-line user error
            raise _forward_error(model, stack[-1], exc, dev) from exc
    recorder.lifetimes.used(_tensors(out if isinstance(out, (list, tuple)) else [out]), recorder.lifetimes.step)
    types, labels, params = describe(model)
    shapes = [tuple(t.shape) for t in inputs]
    return Capture(recorder.events, types, params, shapes, dev.type, recorder.lifetimes.peak(), labels,
                   recorder.flow.inputs)


_WEIGHTED = (nn.modules.conv._ConvNd, nn.Linear)


def describe(model: nn.Module) -> tuple[dict[str, str], dict[str, str], dict[str, tuple[int, int]]]:
    """One pass over the module tree: each module's type, its label (darknet cfg layers carry one),
    and its own parameters and conv/linear weights, a shared tensor counted once.

    Conv and linear weights are what darknet (and the CSPNet paper) count: no bias, no BN; a
    fully connected layer is a 1x1 conv there.
    """
    seen: set[int] = set()
    types: dict[str, str] = {}
    labels: dict[str, str] = {}
    params: dict[str, tuple[int, int]] = {}
    for name, module in model.named_modules():
        types[name] = type(module).__name__
        if isinstance(getattr(module, "label", None), str):
            labels[name] = module.label
        own = [p for p in module.parameters(recurse=False) if id(p) not in seen]
        seen.update(id(p) for p in own)
        weight = getattr(module, "weight", None) if isinstance(module, _WEIGHTED) else None
        weights = weight.numel() if weight is not None and any(p is weight for p in own) else 0
        if own:
            params[name] = (sum(p.numel() for p in own), weights)
    return types, labels, params


def _forward_error(model: nn.Module, where: str, exc: Exception, dev: torch.device) -> ForwardError:
    """A one-line error naming the module that was running when the forward failed."""
    modules = dict(model.named_modules())
    label = f"'{where}' ({type(modules[where]).__name__})" if where else f"the root module ({type(model).__name__})"
    first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    message = f"forward failed in {label}: {type(exc).__name__}: {first_line}"
    if dev.type == "meta" and "meta" in str(exc).lower():
        return MetaDeviceError(f"{message}; the model cannot run on the meta device, try --device cpu")
    return ForwardError(message)
