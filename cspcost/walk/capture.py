"""Run a model once and record every aten op with the innermost module that ran it.

By default the run happens on PyTorch's ``meta`` device: shapes propagate, no weight or activation
is allocated and no real kernel runs. A module that already holds real weights is run with
stand-ins for its parameters, buffers and plain tensor attributes (empty on meta, copies on the
device they already live on), swapped in place and restored afterwards, so its tensors are never
written or moved. Ops are charged to the call site of the
module running them (a shared instance to each caller).
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

from cspcost.errors import USER_CODE_FAILURES, DeviceError, ForwardError, MetaDeviceError, failure_text
from cspcost.walk.classes import module_bases
from cspcost.walk.dataflow import Dataflow, Ref
from cspcost.walk.meta_shapes import SHORTCUTS
from cspcost.walk.quantized import packed_meta, packed_params
from cspcost.walk.records import OpEvent, TensorMeta
from cspcost.walk.tensors import op_tensors, tensor_leaves


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
    module_calls: dict[str, int] = field(default_factory=dict)  # call-site path -> times a module ran there
    flow: list[tuple[Ref, ...]] = field(default_factory=list)  # per event: the producers of its inputs
    module_bases: dict[str, tuple[str, ...]] = field(default_factory=dict)  # path -> class and bases (classes.py)


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
    if isinstance(x, torch.ScriptObject):  # a quantized op's packed weight
        return packed_meta(x) or x
    return x


def _outputs(out: Any) -> tuple[TensorMeta, ...]:
    """The tensor outputs of an op, flattened."""
    if isinstance(out, torch.Tensor):
        return (_meta(out),)
    if isinstance(out, (list, tuple)):
        return tuple(_meta(t) for t in out if isinstance(t, torch.Tensor))
    return ()


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
        self.used(op_tensors(args), self.step)
        self.born(op_tensors(out), self.step)
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
        self.shortcuts = SHORTCUTS if meta else {}
        self.lifetimes = _Lifetimes()
        self.flow = Dataflow()

    @classmethod
    def _should_skip_dynamo(cls) -> bool:
        """Leave ``__torch_dispatch__`` unwrapped: the recorder never runs under torch.compile, and
        torch (2.5+) would otherwise wrap it in ``torch._disable_dynamo``, whose first call imports
        all of ``torch._dynamo`` (about 1.5 s of a fresh process, for nothing)."""
        return False

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


class _CallSites:
    """Names each module call by its call site: the running parent's path + the child's own name.

    One instance held by several parents (Ultralytics' ``Conv.default_act``, one ``nn.SiLU`` in
    every conv block) is charged to the block that called it (``model.3.act``), not to the first
    name ``named_modules()`` gives it. Each running module's descendants are named once, lazily.
    """

    def __init__(self, model: nn.Module) -> None:
        self.model = model
        self.names = {id(module): name for name, module in model.named_modules()}
        self.below: dict[int, dict[int, str]] = {}  # running module -> its descendants' relative names
        self.types: dict[str, str] = {}  # every call-site path -> class name
        self.calls: dict[str, int] = {}  # call-site path -> times a module ran there

    def _relative(self, parent: nn.Module) -> dict[int, str]:
        """The names of ``parent``'s descendants relative to it (first name of a shared one)."""
        found = self.below.get(id(parent))
        if found is None:
            found = self.below[id(parent)] = {id(m): n for n, m in parent.named_modules() if n}
        return found

    def path(self, module: nn.Module, running: list[tuple[nn.Module | None, str]]) -> str:
        """The call-site path of ``module`` called inside the ``running`` (module, path) stack."""
        if module is self.model:
            return ""
        for parent, parent_path in reversed(running):
            # A module made during forward (not in the tree, None here) names nothing below it.
            rel = None if parent is None else self._relative(parent).get(id(module))
            if rel is not None:
                return f"{parent_path}.{rel}" if parent_path else rel
        return self.names.get(id(module), running[-1][1])

    def enter(self, module: nn.Module, running: list[tuple[nn.Module | None, str]]) -> str:
        """Name a call, count it and remember its type."""
        path = self.path(module, running)
        in_tree = id(module) in self.names
        if in_tree:
            self.types.setdefault(path, type(module).__name__)
            self.calls[path] = self.calls.get(path, 0) + 1
        running.append((module if in_tree else None, path))
        return path


@contextmanager
def module_stack(model: nn.Module, stack: list[str], sites: _CallSites | None = None) -> Iterator[None]:
    """Keep ``stack`` equal to the call-site paths of the modules currently running.

    Two global module hooks, rather than two hooks per module: registering hooks on every module
    of a large model costs more than the whole forward on meta. A module outside the model's tree
    (made during forward) is charged to the module that called it.
    """
    sites = sites or _CallSites(model)
    running: list[tuple[nn.Module | None, str]] = [(None, stack[-1])]

    def push(module: nn.Module, args: Any) -> None:
        stack.append(sites.enter(module, running))

    def pop(module: nn.Module, args: Any, out: Any) -> None:
        stack.pop()
        running.pop()

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


def _stand_in(made: dict[int, torch.Tensor], t: torch.Tensor, device: torch.device) -> torch.Tensor:
    """One stand-in per distinct tensor (tied tensors share it): a copy of a tensor already on
    ``device`` (the forward may write it; the user's stays as it was), else empty on meta, zeros elsewhere."""
    if id(t) not in made:
        if t.device == device:
            made[id(t)] = t.detach().clone()
        else:
            make = torch.empty if device.type == "meta" else torch.zeros
            made[id(t)] = make(t.shape, dtype=t.dtype, device=device)
    return made[id(t)]


def _swap_tensors(model: nn.Module, device: torch.device, made: dict[int, torch.Tensor]) -> list[Any]:
    """Put a stand-in in every parameter and buffer slot; each store with its contents before."""
    saved: list[tuple[dict[str, Any], dict[str, Any]]] = []
    for module in model.modules():
        for store in (module._parameters, module._buffers, module._modules):
            saved.append((store, dict(store)))
        for store in (module._parameters, module._buffers):
            for key, t in store.items():
                if t is not None:
                    store[key] = _stand_in(made, t, device)
    return saved


def _swap_attributes(model: nn.Module, device: torch.device, made: dict[int, torch.Tensor]) -> list[Any]:
    """Snapshot every module's plain attributes, then give its plain tensor attributes stand-ins.

    Modules cache tensors outside parameters and buffers (Ultralytics ``Detect`` keeps ``anchors``
    and ``strides`` after a CPU forward): those would meet meta activations. Small ones are
    constants read by value and stay. The snapshot also
    undoes what the forward caches (``Detect.shape``), so the run leaves no trace on the model.
    """
    snapshots = []
    for module in model.modules():
        own = module.__dict__
        snapshots.append((own, dict(own)))
        for key, value in own.items():
            if id(value) in made or _is_cached_tensor(value, device):
                own[key] = _stand_in(made, value, device)
            elif isinstance(value, torch.Tensor) and not isinstance(value, nn.Parameter):
                # a small constant off the device, read by value: a copy, so a forward writing it leaves no trace
                own[key] = made.setdefault(id(value), value.detach().clone())
    return snapshots


# A plain tensor attribute this small is a constant whose values the forward may read (Detect's
# ``stride`` feeds ``torch.full``): it stays as it is. Larger ones (cached anchors) get stand-ins.
_CONSTANT_NUMEL = 16


def _is_cached_tensor(value: Any, device: torch.device) -> bool:
    """A plain tensor attribute: one on ``device`` (copied: the forward may write it), or one off
    ``device`` that would meet its activations (not a small constant)."""
    if not isinstance(value, torch.Tensor) or isinstance(value, nn.Parameter):
        return False
    return value.device == device or value.numel() > _CONSTANT_NUMEL


@contextmanager
def _stand_ins(model: nn.Module, device: torch.device) -> Iterator[None]:
    """Swap every tensor the model holds (parameters, buffers, plain tensor attributes) for a
    stand-in on ``device``, then restore each one, and any parameter, buffer or submodule the
    forward added or replaced.

    Tied tensors get one shared stand-in. On meta the stand-ins cost nothing; elsewhere a tensor
    already on the device is copied (the forward may write its buffers or weights) and one off it
    becomes zeros (deterministic for data-dependent code). The user's tensors are never written or moved.
    """
    made: dict[int, torch.Tensor] = {}
    saved = _swap_tensors(model, device, made)
    snapshots = _swap_attributes(model, device, made)
    try:
        yield
    finally:
        for store, before in saved + snapshots:
            store.clear()
            store.update(before)


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
    inputs: Sequence[Any],
    device: str = "meta",
    kwargs: dict[str, Any] | None = None,
) -> Capture:
    """Run ``model`` once on ``inputs`` (already made, on ``device``) and record every aten op.

    Args:
        model: any module; its tensors are never written or moved.
        inputs: the forward's positional arguments (tensors, or lists/tuples/dicts of them).
        device: "meta" (no allocation, no kernels), "cpu" or "cuda".
        kwargs: the forward's keyword arguments, if any.
    Returns:
        The recorded events and the module tree's types.
    Raises:
        MetaDeviceError: the model cannot run on the meta device.
        ForwardError: the forward failed; the message names the innermost running module.
    """
    dev = check_device(device)
    stack: list[str] = [""]
    recorder = _Recorder(stack, dev.type == "meta")
    leaves = tensor_leaves((inputs, kwargs))
    recorder.lifetimes.born(iter(leaves), -1)
    recorder.flow.sources(leaves)
    sites = _CallSites(model)
    with eval_mode(model), _stand_ins(model, dev), module_stack(model, stack, sites):
        # No fast-path mark: a convention reproduces tables counted on traced or hooked models
        # (cspcost peers marks it where the real model runs it).
        bases = module_bases(model, mark_fast_path=False)
        try:
            with torch.inference_mode(), recorder:
                out = model(*inputs, **(kwargs or {}))
        except USER_CODE_FAILURES as exc:  # re-raised as a one-line user error (sys.exit too)
            raise _forward_error(model, stack[-1], exc, dev, sites, leaves) from exc
    recorder.lifetimes.used(iter(tensor_leaves(out)), recorder.lifetimes.step)
    types, labels, params = describe(model)
    types.update((path, name) for path, name in sites.types.items() if path not in types)
    shapes = [tuple(t.shape) for t in leaves]
    return Capture(recorder.events, types, params, shapes, dev.type, recorder.lifetimes.peak(), labels,
                   sites.calls, recorder.flow.inputs, bases)


_WEIGHTED = (nn.modules.conv._ConvNd, nn.Linear)


def describe(model: nn.Module) -> tuple[dict[str, str], dict[str, str], dict[str, tuple[int, int]]]:
    """One pass over the module tree: each module's type, its label (darknet cfg layers carry one),
    and its own parameters and conv/linear weights, a shared tensor counted once (a quantized
    module's packed int8 weight and bias count as its parameters).

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
        weights = sum(w.numel() for w in _kernels(module) if any(p is w for p in own))
        packed, packed_weights = packed_params(module)  # torch.ao quantized conv/linear
        if own or packed:
            params[name] = (sum(p.numel() for p in own) + packed, weights + packed_weights)
    return types, labels, params


def _kernels(module: nn.Module) -> list[torch.Tensor]:
    """The weights darknet counts for a module: a conv's or linear's ``weight``, or the parameters a
    module that runs its own kernels names in ``conv_weights`` (darknet cfg ``[local]``, ``[crnn]``)."""
    if isinstance(module, _WEIGHTED):
        return [module.weight] if module.weight is not None else []
    names = getattr(module, "conv_weights", ())
    return [p for p in (getattr(module, name, None) for name in names) if isinstance(p, torch.Tensor)]


def _forward_error(model: nn.Module, where: str, exc: BaseException, dev: torch.device, sites: _CallSites,
                   inputs: list[torch.Tensor]) -> ForwardError:
    """A one-line error naming the module that was running when the forward failed."""
    kind = sites.types.get(where, type(model).__name__)
    label = f"'{where}' ({kind})" if where else f"the root module ({kind})"
    if isinstance(exc, SystemExit):
        return ForwardError(f"forward failed in {label}: {failure_text(exc)}")
    wrong_rank = _rank_error(model, where, inputs)
    if wrong_rank:
        return ForwardError(wrong_rank)
    first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    if dev.type == "meta" and "meta" in str(exc).lower():
        return MetaDeviceError(f"forward failed in {label}: {_short(first_line)}; "
                               "the model cannot run on the meta device, try --device cpu")
    return ForwardError(f"forward failed in {label}: {type(exc).__name__}: {first_line}")


def _short(reason: str, limit: int = 90) -> str:
    """A torch message cut to one short clause (meta-kernel messages run to 400 characters)."""
    if "nonzero" in reason or "data-dependent" in reason or "Scalar" in reason or "item()" in reason:
        return "an op needs tensor values (data-dependent output)"
    return reason if len(reason) <= limit else reason[:limit].rstrip() + "..."


def _rank_error(model: nn.Module, where: str, inputs: list[torch.Tensor]) -> str:
    """The wrong-rank message when a single input fails in the model's first conv, else ''."""
    first = next((m for m in model.modules() if isinstance(m, nn.modules.conv._ConvNd)), None)
    if first is None or len(inputs) != 1 or _module_at(model, where) is not first:
        return ""
    expected = len(first.kernel_size) + 1  # channels + spatial dims, without the batch
    got, size, layer = inputs[0].dim() - 1, tuple(inputs[0].shape[1:]), f"'{where}' ({type(first).__name__})"
    if got == expected:
        if size[0] == first.in_channels:
            return ""
        return f"input size {size} has {size[0]} channels but the model's first layer {layer} expects {first.in_channels}"
    dims = "C, " + ", ".join("DHW"[3 - len(first.kernel_size):])
    return (f"input size {size} has rank {got} but the model's first layer {layer} expects rank "
            f"{expected} ({dims}), without the batch")


def _module_at(model: nn.Module, where: str) -> nn.Module | None:
    """The module at a dotted path (None when the path is a call site only)."""
    try:
        return model.get_submodule(where) if where else model
    except AttributeError:
        return None
