"""Each meta shortcut returns what the op's real meta kernel returns: shape, dtype, layout."""
from __future__ import annotations

import itertools
import subprocess
import sys
from typing import Any

import pytest
import torch

from cspcost.walk.meta_shapes import SHORTCUTS

aten = torch.ops.aten


def meta(*shape: int, dtype: torch.dtype = torch.float32, last: bool = False) -> torch.Tensor:
    """A meta tensor, channels-last if asked."""
    t = torch.empty(shape, dtype=dtype, device="meta")
    return t.to(memory_format=torch.channels_last) if last else t


def same(op: Any, name: str, *args: Any, **kwargs: Any) -> None:
    """The shortcut for ``name`` gives the real kernel's shape, dtype and strides (size-1 dims aside)."""
    real = op(*args, **kwargs)
    made = SHORTCUTS[name](args, kwargs)
    if made is args[0]:
        return  # in place: the input itself
    assert made.shape == real.shape, (name, args)
    assert made.dtype == real.dtype, (name, args)
    assert made.device.type == "meta"
    strides = [(a, b) for a, b, n in zip(made.stride(), real.stride(), real.shape) if n > 1]
    assert all(a == b for a, b in strides), (name, made.stride(), real.stride())


@pytest.mark.parametrize("stride,padding,dilation,groups", list(itertools.product(
    [1, 2, 3], [0, 1, 2, "same", "valid"], [1, 2], [1, 2, 4])))
def test_conv2d(stride: int, padding: Any, dilation: int, groups: int) -> None:
    """conv2d over strides, paddings (ints, 'same', 'valid'), dilations and groups."""
    if padding == "same" and stride != 1:
        pytest.skip("torch refuses padding='same' with stride > 1")
    x, w = meta(2, 8, 17, 20), meta(12, 8 // groups, 3, 3)
    same(aten.conv2d, "aten.conv2d", x, w, None, [stride, stride], padding if isinstance(padding, str) else [padding, padding],
         [dilation, dilation], groups)


@pytest.mark.parametrize("last_x,last_w", [(False, False), (True, False), (False, True), (True, True)])
def test_conv2d_memory_format_and_unbatched(last_x: bool, last_w: bool) -> None:
    """Channels-last in either operand gives a channels-last output; an unbatched input stays unbatched."""
    same(aten.conv2d, "aten.conv2d", meta(1, 16, 9, 9, last=last_x), meta(32, 16, 1, 1, last=last_w),
         None, [1, 1], [0, 0], [1, 1], 1)
    same(aten.conv2d, "aten.conv2d", meta(16, 9, 9), meta(32, 16, 3, 3), None, [2, 2], [1, 1], [1, 1], 1)
    same(aten.conv2d, "aten.conv2d", meta(1, 16, 9, 11), meta(16, 1, 5, 3), None, [1, 2], [2, 1], [1, 1], 16)


def test_conv1d_conv3d_defaults() -> None:
    """conv1d / conv3d, and conv2d with its trailing arguments left to their defaults."""
    same(aten.conv1d, "aten.conv1d", meta(2, 4, 31), meta(6, 2, 5), None, [2], [1], [3], 2)
    same(aten.conv3d, "aten.conv3d", meta(1, 3, 8, 9, 10), meta(5, 3, 3, 3, 3), None, [1, 2, 1], [1, 0, 1], [1, 1, 2], 1)
    same(aten.conv2d, "aten.conv2d", meta(1, 3, 8, 8), meta(5, 3, 3, 3))


@pytest.mark.parametrize("stride,padding,output_padding,dilation,groups", list(itertools.product(
    [1, 2, 3], [0, 1], [0, 1], [1, 2], [1, 2])))
def test_conv_transpose2d(stride: int, padding: int, output_padding: int, dilation: int, groups: int) -> None:
    """Transposed conv: (L - 1) s - 2p + d (k - 1) + output_padding + 1."""
    if output_padding >= max(stride, dilation):
        pytest.skip("torch refuses output_padding >= stride and dilation")
    x, w = meta(2, 8, 7, 9), meta(8, 6 // groups, 3, 4)
    same(aten.conv_transpose2d, "aten.conv_transpose2d", x, w, None, [stride] * 2, [padding] * 2,
         [output_padding] * 2, groups, [dilation] * 2)


def test_conv_transpose_1d_3d() -> None:
    """conv_transpose1d / 3d."""
    same(aten.conv_transpose1d, "aten.conv_transpose1d", meta(1, 4, 10), meta(4, 3, 4), None, [2], [1], [1], 1, [1])
    same(aten.conv_transpose3d, "aten.conv_transpose3d", meta(1, 4, 3, 4, 5), meta(4, 2, 2, 2, 2), None, [2, 2, 2])


def test_conv_channel_mismatch_raises_like_torch() -> None:
    """A wrong channel count is refused, as the real kernel refuses it."""
    with pytest.raises(RuntimeError, match="Invalid channel dimensions"):
        SHORTCUTS["aten.conv2d"]((meta(1, 3, 8, 8), meta(4, 5, 3, 3), None, [1, 1], [0, 0], [1, 1], 1), {})


@pytest.mark.parametrize("kernel,stride,padding,dilation,ceil", list(itertools.product(
    [2, 3], [1, 2, 3], [0, 1], [1, 2], [False, True])))
def test_max_pool2d(kernel: int, stride: int, padding: int, dilation: int, ceil: bool) -> None:
    """max_pool2d over kernels, strides, paddings, dilations and ceil_mode, on odd and even maps."""
    for x in (meta(1, 3, 13, 16), meta(2, 5, 9, 9, last=True), meta(4, 7, 7)):
        same(aten.max_pool2d, "aten.max_pool2d", x, [kernel, kernel], [stride, stride], [padding, padding],
             [dilation, dilation], ceil)
    same(aten.max_pool2d, "aten.max_pool2d", meta(1, 3, 13, 16), [kernel, kernel])


@pytest.mark.parametrize("kernel,stride,padding,ceil", list(itertools.product([2, 3], [1, 2, 3], [0, 1], [False, True])))
def test_avg_pool2d(kernel: int, stride: int, padding: int, ceil: bool) -> None:
    """avg_pool2d over kernels, strides, paddings and ceil_mode (stride defaults to the kernel)."""
    for x in (meta(1, 3, 13, 16), meta(2, 5, 9, 9, last=True)):
        same(aten.avg_pool2d, "aten.avg_pool2d", x, [kernel, kernel], [stride, stride], [padding, padding], ceil)
        same(aten.avg_pool2d, "aten.avg_pool2d", x, [kernel, kernel], [])


@pytest.mark.parametrize("a,b", [((2, 3, 4, 5), (2, 3, 4, 5)), ((2, 3, 4, 5), (1, 3, 1, 1)), ((3, 1, 5), (4, 1)),
                                 ((1, 8, 4, 4), (8, 1, 1)), ((5,), ())])
@pytest.mark.parametrize("name", ["add", "sub", "mul", "maximum", "minimum", "div"])
def test_broadcast_ops(a: tuple[int, ...], b: tuple[int, ...], name: str) -> None:
    """Binary element-wise ops: the broadcast shape, the larger operand's layout."""
    same(getattr(aten, name), f"aten.{name}", meta(*a), meta(*b))
    same(getattr(aten, name), f"aten.{name}", meta(*b), meta(*a))


def test_broadcast_dtypes_and_scalars() -> None:
    """Type promotion as torch.result_type: half + float, int + float scalar, int true division."""
    same(aten.add, "aten.add", meta(2, 3, dtype=torch.float16), meta(2, 3))
    same(aten.mul, "aten.mul", meta(2, 3, dtype=torch.int64), 0.5)
    same(aten.add, "aten.add", meta(2, 3, dtype=torch.int32), 2)
    same(aten.div, "aten.div", meta(2, 3, dtype=torch.int64), meta(3, dtype=torch.int64))
    same(aten.div, "aten.div", meta(2, 3, dtype=torch.int64), meta(3, dtype=torch.int64), rounding_mode="floor")
    same(aten.add, "aten.add", meta(1, 8, 4, 4, last=True), meta(1, 8, 4, 4, last=True))
    with pytest.raises(RuntimeError):
        SHORTCUTS["aten.add"]((meta(2, 3), meta(4, 3)), {})


@pytest.mark.parametrize("name", ["eq", "ne", "lt", "le", "gt", "ge"])
def test_comparisons(name: str) -> None:
    """Comparisons: the broadcast shape, as bool."""
    same(getattr(aten, name), f"aten.{name}", meta(2, 1, 4), meta(3, 1))
    same(getattr(aten, name), f"aten.{name}", meta(2, 4), 0.5)


def test_cat() -> None:
    """cat along every dim, negative dims, legacy empty inputs, dtype promotion, channels-last."""
    for dim in (0, 1, 2, 3, -1):
        same(aten.cat, "aten.cat", [meta(2, 3, 4, 5), meta(2, 3, 4, 5)], dim)
    same(aten.cat, "aten.cat", [meta(1, 3, 4, 4), meta(1, 5, 4, 4)], 1)
    same(aten.cat, "aten.cat", [meta(0), meta(1, 5, 4, 4)], 1)
    same(aten.cat, "aten.cat", [meta(1, 3, 4, 4, dtype=torch.float16), meta(1, 5, 4, 4)], 1)
    same(aten.cat, "aten.cat", [meta(1, 3, 4, 4, last=True), meta(1, 5, 4, 4, last=True)], 1)
    same(aten.cat, "aten.cat", [meta(1, 3, 4, 4)])


def test_pools_reductions_resizes_linear_and_same_shape() -> None:
    """adaptive_avg_pool2d, amax/amin, upsample_nearest2d, linear, and the shape-preserving ops."""
    same(aten.adaptive_avg_pool2d, "aten.adaptive_avg_pool2d", meta(2, 8, 7, 7), [1, 1])
    same(aten.adaptive_avg_pool2d, "aten.adaptive_avg_pool2d", meta(2, 8, 7, 9, last=True), [3, 2])
    same(aten.adaptive_avg_pool2d, "aten.adaptive_avg_pool2d", meta(8, 7, 7), [2, 2])
    for dims, keep in (([0], False), ([1, 2], True), ([], False), (-1, False)):
        same(aten.amax, "aten.amax", meta(3, 4, 5), dims, keep)
        same(aten.amin, "aten.amin", meta(3, 4, 5), dims, keep)
    same(aten.upsample_nearest2d, "aten.upsample_nearest2d", meta(1, 4, 5, 6), None, [2.0, 2.0])
    same(aten.upsample_nearest2d, "aten.upsample_nearest2d", meta(1, 4, 5, 6, last=True), [10, 13], None)
    same(aten.upsample_nearest2d, "aten.upsample_nearest2d", meta(1, 4, 5, 6), [7, 9])
    same(aten.linear, "aten.linear", meta(2, 7, 16), meta(32, 16), meta(32))
    same(aten.linear, "aten.linear", meta(16), meta(32, 16), None)
    for name in ("relu", "silu", "sigmoid", "gelu", "hardswish", "leaky_relu"):
        for x in (meta(2, 3, 4, 5), meta(2, 3, 4, 5, last=True), meta(2, 3, 4, 5).permute(0, 2, 3, 1)):
            same(getattr(aten, name), f"aten.{name}", x)
    x = meta(1, 4, 6, 6, last=True)
    same(aten.batch_norm, "aten.batch_norm", x, meta(4), meta(4), meta(4), meta(4), False, 0.1, 1e-5, False)


@pytest.mark.slow
def test_zoo_analysis_never_imports_dynamo() -> None:
    """A fresh process analysing every zoo model leaves torch._dynamo (1.5 s of imports) unimported."""
    script = ("import sys, cspcost, cspcost_models as z\n"
              "for name in z.list_models():\n    cspcost.analyze(name)\n"
              "print('torch._dynamo' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=300)
    assert out.stdout.strip() == "False"
