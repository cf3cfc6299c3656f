"""Output tensors made directly on the meta device, for ops whose own meta kernels are slow or costly.

Two reasons to bypass an op's meta kernel while recording:
- some are slow Python decompositions although the output is plainly shaped like the input (eval
  batch norm took ~10 ms a call in torch 2.13);
- many are Python references wrapped in ``torch._disable_dynamo`` (the element-wise type-promotion
  wrapper of ``torch._prims_common``: ``add``, ``mul``, ``cat``, ...), whose first call imports all of
  ``torch._dynamo``: about 1.5 s of a fresh ``cspcost analyze``, for an analysis that never compiles.
Each function here returns what the real meta kernel returns: shape, dtype and memory format
(``tests/test_meta_shapes.py`` proves it op by op against the real kernels). Keys are overload
packets (``aten.add`` covers ``add.Tensor`` and ``add.Scalar``).
"""
from __future__ import annotations

from functools import reduce
from typing import Any, Callable, Sequence

import torch

MetaFn = Callable[[tuple[Any, ...], dict[str, Any]], Any]


def same_shape(args: tuple[Any, ...], kwargs: dict[str, Any]) -> torch.Tensor:
    """A shape-preserving op (activations, eval batch norm): a new tensor like the input."""
    return empty_like(args[0])


def empty_like(t: torch.Tensor, dtype: torch.dtype | None = None) -> torch.Tensor:
    """``torch.empty_like(t)`` on meta, without its Python reference (which imports sympy on first use).

    A dense tensor's strides are kept as they are (``preserve_format``); anything else falls back
    to ``torch.empty_like`` itself.
    """
    dtype = dtype or t.dtype
    if t.is_contiguous():
        return torch.empty(t.shape, dtype=dtype, device="meta")
    if _dense(t):
        return torch.empty_strided(t.shape, t.stride(), dtype=dtype, device="meta")
    return torch.empty_like(t, dtype=dtype, device="meta")


def _dense(t: torch.Tensor) -> bool:
    """Whether ``t``'s elements fill its storage exactly, in some order of its dims (no gaps, no overlap)."""
    expected = 1
    for stride, size in sorted((st, sz) for sz, st in zip(t.shape, t.stride()) if sz != 1):
        if stride != expected:
            return False
        expected *= size
    return True


def in_place(args: tuple[Any, ...], kwargs: dict[str, Any]) -> torch.Tensor:
    """An in-place op: its first argument, unchanged in shape."""
    return args[0]


def _like(template: torch.Tensor, shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
    """A new meta tensor of ``shape``/``dtype`` in the template's memory format where it has that shape."""
    if tuple(template.shape) == shape:
        return empty_like(template, dtype)
    return torch.empty(shape, dtype=dtype, device="meta")


def broadcast_shape(*shapes: tuple[int, ...]) -> tuple[int, ...]:
    """NumPy broadcasting of shapes (``torch.broadcast_shapes`` imports sympy on first use)."""
    out: list[int] = []
    for dims in zip(*(((1,) * (max(map(len, shapes)) - len(sh)) + sh) for sh in shapes)):
        sizes = {d for d in dims if d != 1}
        if len(sizes) > 1:
            raise RuntimeError(f"shapes {', '.join(map(str, shapes))} cannot be broadcast together")
        out.append(sizes.pop() if sizes else 1)
    return tuple(out)


def broadcast(args: tuple[Any, ...], kwargs: dict[str, Any]) -> torch.Tensor:
    """A binary element-wise op: the broadcast shape, at the promoted dtype (``torch.result_type``)."""
    a, b = args[0], args[1]
    tensors = [t for t in (a, b) if isinstance(t, torch.Tensor)]
    shape = broadcast_shape(*(tuple(t.shape) for t in tensors))
    dtype = torch.result_type(a, b)
    template = max(tensors, key=lambda t: (tuple(t.shape) == shape, t.dim()))
    return _like(template, shape, dtype)


def true_divide(args: tuple[Any, ...], kwargs: dict[str, Any]) -> torch.Tensor:
    """``div``: as ``broadcast``, except that integer true division gives the default float dtype."""
    out = broadcast(args, kwargs)
    if kwargs.get("rounding_mode") is None and not (out.dtype.is_floating_point or out.dtype.is_complex):
        return empty_like(out, torch.get_default_dtype())
    return out


def comparison(args: tuple[Any, ...], kwargs: dict[str, Any]) -> torch.Tensor:
    """A comparison (eq, lt, ...): the broadcast shape, as bool."""
    return empty_like(broadcast(args, kwargs), torch.bool)


def concatenate(args: tuple[Any, ...], kwargs: dict[str, Any]) -> torch.Tensor:
    """``cat``: sizes summed along ``dim`` (legacy empty 1-D inputs skipped), dtypes promoted."""
    tensors = list(args[0])
    dim = args[1] if len(args) > 1 else kwargs.get("dim", 0)
    real = [t for t in tensors if not (t.dim() == 1 and t.numel() == 0)] or tensors[:1]
    dim = dim % real[0].dim() if real[0].dim() else 0
    shape = list(real[0].shape)
    shape[dim] = sum(t.shape[dim] for t in real)
    dtype = reduce(torch.promote_types, (t.dtype for t in tensors))
    formats = {_format(t) for t in real}
    fmt = formats.pop() if len(formats) == 1 else torch.contiguous_format
    return torch.empty(shape, dtype=dtype, device="meta", memory_format=fmt)


def adaptive_pool(args: tuple[Any, ...], kwargs: dict[str, Any]) -> torch.Tensor:
    """``adaptive_avg_pool2d``: the leading dims kept, the spatial dims set to ``output_size``."""
    x, size = args[0], args[1]
    shape = (*x.shape[:-len(size)], *size)
    return torch.empty(shape, dtype=x.dtype, device="meta", memory_format=_format(x))


def linear(args: tuple[Any, ...], kwargs: dict[str, Any]) -> torch.Tensor:
    """``linear(x, weight, bias)``: x's leading dims, ``weight.shape[0]`` features, x's dtype."""
    x, weight = args[0], args[1]
    shape = (*x.shape[:-1], weight.shape[0]) if weight.dim() == 2 else tuple(x.shape[:-1])
    return torch.empty(shape, dtype=torch.result_type(x, weight), device="meta")


def _per_dim(value: Any, n: int, default: Any = None) -> list[int]:
    """An int-or-list conv/pool argument as one int per spatial dim (an empty list means ``default``)."""
    if value is None or (isinstance(value, (list, tuple)) and not value):
        value = default
    if isinstance(value, int):
        return [value] * n
    return list(value) * n if len(value) == 1 else list(value)


def _conv_lengths(dims: Sequence[int], kernel: Sequence[int], stride: list[int], padding: Any,
                  dilation: list[int]) -> list[int]:
    """Output lengths of a convolution (``padding`` may be ``"same"`` or ``"valid"``)."""
    if padding == "same":
        return list(dims)
    pads = [0] * len(dims) if padding == "valid" else _per_dim(padding, len(dims))
    return [(n + 2 * p - d * (k - 1) - 1) // s + 1
            for n, p, d, k, s in zip(dims, pads, dilation, kernel, stride)]


def _conv_output(x: torch.Tensor, weight: torch.Tensor, channels: int, lengths: list[int]) -> torch.Tensor:
    """The conv output tensor: batch kept (or absent for unbatched input), contiguous, as torch
    2.14's ``meta_conv`` makes it (``input.new_empty``; older releases picked channels-last on meta)."""
    if any(n <= 0 for n in lengths):
        raise RuntimeError(f"Calculated output size {lengths} is too small for input {tuple(x.shape)}")
    batched = x.dim() == weight.dim()
    shape = (*(x.shape[:1] if batched else ()), channels, *lengths)
    return torch.empty(shape, dtype=x.dtype, device="meta")


def convolution(args: tuple[Any, ...], kwargs: dict[str, Any]) -> torch.Tensor:
    """``conv1d/2d/3d(input, weight, bias, stride, padding, dilation, groups)``."""
    x, weight = args[0], args[1]
    stride, padding, dilation, groups = (list(args[3:7]) + [1, 0, 1, 1][len(args[3:7]):])
    n = weight.dim() - 2
    channels_in = x.shape[1 if x.dim() == weight.dim() else 0]
    if weight.shape[1] * groups != channels_in:
        raise RuntimeError("Invalid channel dimensions")
    lengths = _conv_lengths(x.shape[-n:], weight.shape[2:], _per_dim(stride, n, 1), padding,
                            _per_dim(dilation, n, 1))
    return _conv_output(x, weight, weight.shape[0], lengths)


def transposed_convolution(args: tuple[Any, ...], kwargs: dict[str, Any]) -> torch.Tensor:
    """``conv_transpose1d/2d/3d(input, weight, bias, stride, padding, output_padding, groups, dilation)``."""
    x, weight = args[0], args[1]
    stride, padding, output_padding, groups, dilation = (list(args[3:8]) + [1, 0, 0, 1, 1][len(args[3:8]):])
    n = weight.dim() - 2
    lengths = [(l - 1) * s - 2 * p + d * (k - 1) + op + 1 for l, s, p, d, k, op in zip(
        x.shape[-n:], _per_dim(stride, n, 1), _per_dim(padding, n, 0), _per_dim(dilation, n, 1),
        weight.shape[2:], _per_dim(output_padding, n, 0))]
    return _conv_output(x, weight, weight.shape[1] * groups, lengths)


def _pool_length(n: int, k: int, p: int, s: int, d: int, ceil: bool) -> int:
    """One pooled length, as ATen's ``pooling_output_shape`` (a window must start inside the input)."""
    if p > ((k - 1) * d + 1) // 2:
        raise RuntimeError(f"pad should be at most half of effective kernel size, but got pad={p}, "
                           f"kernel_size={k} and dilation={d}")
    out = (n + 2 * p - d * (k - 1) - 1 + (s - 1 if ceil else 0)) // s + 1
    if ceil and (out - 1) * s >= n + p:
        out -= 1
    return out


def _pool_output(x: torch.Tensor, lengths: list[int]) -> torch.Tensor:
    """A 2-D pool's output: leading dims kept, in the input's memory format."""
    if any(n <= 0 for n in lengths):
        raise RuntimeError(f"Given input size {tuple(x.shape)}, output size {lengths} is too small")
    return torch.empty((*x.shape[:-2], *lengths), dtype=x.dtype, device="meta", memory_format=_format(x))


def max_pool(args: tuple[Any, ...], kwargs: dict[str, Any]) -> torch.Tensor:
    """``max_pool2d(input, kernel_size, stride=kernel_size, padding=0, dilation=1, ceil_mode=False)``."""
    x, kernel = args[0], _per_dim(args[1], 2)
    rest = list(args[2:6]) + [[], 0, 1, False][len(args[2:6]):]
    stride, padding, dilation = _per_dim(rest[0], 2, kernel), _per_dim(rest[1], 2), _per_dim(rest[2], 2)
    return _pool_output(x, [_pool_length(n, k, p, s, d, bool(rest[3])) for n, k, p, s, d in zip(
        x.shape[-2:], kernel, padding, stride, dilation)])


def avg_pool(args: tuple[Any, ...], kwargs: dict[str, Any]) -> torch.Tensor:
    """``avg_pool2d(input, kernel_size, stride=kernel_size, padding=0, ceil_mode=False, ...)``."""
    x, kernel = args[0], _per_dim(args[1], 2)
    rest = list(args[2:5]) + [[], 0, False][len(args[2:5]):]
    stride, padding = _per_dim(rest[0], 2, kernel), _per_dim(rest[1], 2)
    return _pool_output(x, [_pool_length(n, k, p, s, 1, bool(rest[2])) for n, k, p, s in zip(
        x.shape[-2:], kernel, padding, stride)])


def reduce_dims(args: tuple[Any, ...], kwargs: dict[str, Any]) -> torch.Tensor:
    """``amax/amin(input, dim=[], keepdim=False)``: the reduced dims dropped (or kept as 1)."""
    x = args[0]
    dims = args[1] if len(args) > 1 else kwargs.get("dim", [])
    keep = args[2] if len(args) > 2 else kwargs.get("keepdim", False)
    dims = [dims] if isinstance(dims, int) else list(dims)
    reduced = {d % x.dim() for d in dims} if dims else set(range(x.dim()))
    shape = [1 if i in reduced else n for i, n in enumerate(x.shape) if keep or i not in reduced]
    return torch.empty(shape, dtype=x.dtype, device="meta")


def upsample(args: tuple[Any, ...], kwargs: dict[str, Any]) -> torch.Tensor:
    """``upsample_nearest2d.vec(input, output_size, scale_factors)``: floor(size * scale) per dim."""
    x, size = args[0], args[1]
    scales = args[2] if len(args) > 2 else kwargs.get("scale_factors")
    if size is None:
        size = [int(n * f) for n, f in zip(x.shape[2:], scales)]
    return torch.empty((*x.shape[:2], *size), dtype=x.dtype, device="meta", memory_format=_format(x))


def _format(t: torch.Tensor) -> torch.memory_format:
    """The memory format a 4-D tensor is laid out in (channels-last or contiguous)."""
    if t.dim() == 4 and not t.is_contiguous() and t.is_contiguous(memory_format=torch.channels_last):
        return torch.channels_last
    return torch.contiguous_format


_ACTIVATIONS = ("relu", "leaky_relu", "hardtanh", "relu6", "silu", "mish", "sigmoid", "tanh", "gelu",
                "hardsigmoid", "hardswish", "elu")
_BINARY = ("add", "sub", "mul", "maximum", "minimum")
_COMPARE = ("eq", "ne", "lt", "le", "gt", "ge")

SHORTCUTS: dict[str, MetaFn] = {
    "aten.batch_norm": same_shape,
    "aten.cat": concatenate,
    "aten.adaptive_avg_pool2d": adaptive_pool,
    "aten.linear": linear,
    **{f"aten.conv{n}d": convolution for n in (1, 2, 3)},
    **{f"aten.conv_transpose{n}d": transposed_convolution for n in (1, 2, 3)},
    "aten.max_pool2d": max_pool,
    "aten.amax": reduce_dims,
    "aten.upsample_nearest2d": upsample,
    "aten.amin": reduce_dims,
    "aten.avg_pool2d": avg_pool,
    **{f"aten.{name}": same_shape for name in _ACTIVATIONS},
    **{f"aten.{name}_": in_place for name in _ACTIVATIONS if name not in ("relu6", "gelu")},
    **{f"aten.{name}": broadcast for name in _BINARY},
    **{f"aten.{name}_": in_place for name in _BINARY if name not in ("maximum", "minimum")},
    "aten.div": true_divide,
    "aten.div_": in_place,
    **{f"aten.{name}": comparison for name in _COMPARE},
}
