"""Quantized ops (torch.ao) priced one by one, by hand: float MACs, bytes at the integer dtypes,
quantize/dequantize as conversions; packed weights counted as parameters; the CPU instead of meta."""
from __future__ import annotations

import warnings

import pytest
import torch
import torch.ao.nn.intrinsic.quantized as nniq
import torch.ao.nn.quantized as nnq
import torch.ao.nn.quantized.dynamic as nnqd
from torch import nn

import cspcost
from cspcost.walk.rules import RULES

SCALE, ZERO = 0.05, 64


def _q(x: torch.Tensor) -> torch.Tensor:
    """x as quint8."""
    return torch.quantize_per_tensor(x, SCALE, ZERO, torch.quint8)


class Quantized(nn.Module):
    """quantize -> ``fn(q, *modules)`` -> dequantize: one quantized op between two conversions."""

    def __init__(self, fn, *children: nn.Module) -> None:  # noqa: ANN001
        super().__init__()
        self.fn = fn
        self.inner = nn.ModuleList(children)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The quantized op on the quantized input, back to float."""
        return self.fn(_q(x), *self.inner).dequantize()


def _run(fn, shape: tuple[int, ...], *modules: nn.Module) -> cspcost.AnalysisResult:  # noqa: ANN001
    """Analyse ``fn`` between a quantize and a dequantize (quantized models run on the CPU)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return cspcost.analyze(Quantized(fn, *modules), shape, strict=True)


def _op(result: cspcost.AnalysisResult, name: str) -> dict:
    """The single op called ``name``."""
    (row,) = [r for r in result.ops if r["op"] == name]
    return row


def test_conv2d_macs_and_int8_bytes() -> None:
    """nnq.Conv2d(4, 8, 3, padding=1) on 1x4x6x6: 8*6*6 outputs x 4*3*3 = 10,368 MACs; reads the
    quint8 input (144 B), the qint8 weight (8*4*9 = 288 B) and the fp32 bias (8*4 = 32 B); writes 288 B."""
    result = _run(lambda q, conv: conv(q), (4, 6, 6), nnq.Conv2d(4, 8, 3, padding=1))
    conv = _op(result, "quantized.conv2d")
    assert (conv["macs"], conv["flops"], conv["kind"]) == (10_368, 2 * 10_368, "conv")
    assert (conv["bytes_read"], conv["bytes_written"]) == (144 + 288 + 32, 288)
    assert result.totals["params"] == 8 * 4 * 9 + 8  # the packed weight and bias are its parameters


def test_conv_relu_adds_one_flop_per_output() -> None:
    """ConvReLU2d: the conv's 2 x 10,368 flops plus 288 for the fused ReLU."""
    conv = _op(_run(lambda q, m: m(q), (4, 6, 6), nniq.ConvReLU2d(4, 8, 3, padding=1)), "quantized.conv2d_relu")
    assert (conv["macs"], conv["flops"]) == (10_368, 2 * 10_368 + 288)


def test_grouped_and_transposed_conv() -> None:
    """Grouped (groups 2): 8*6*6 x 2*3*3 = 5,184; transposed 4 -> 8, 3x3: each of 144 input
    elements scatters to 8*9 outputs = 10,368 MACs (as the float rules)."""
    grouped = _op(_run(lambda q, m: m(q), (4, 6, 6), nnq.Conv2d(4, 8, 3, padding=1, groups=2)), "quantized.conv2d")
    transposed = _op(_run(lambda q, m: m(q), (4, 6, 6), nnq.ConvTranspose2d(4, 8, 3)), "quantized.conv_transpose2d")
    assert (grouped["macs"], transposed["macs"]) == (5_184, 10_368)


def test_linear_static_and_dynamic() -> None:
    """nnq.Linear(16, 10) on 3x16: 3*10*16 = 480 MACs, bytes 48 + 160 + 40 read, 30 written;
    dynamic (float in and out, int8 weight): the same MACs, 3*16*4 + 160 + 40 read."""
    static = _op(_run(lambda q, m: m(q), (3, 16), nnq.Linear(16, 10)), "quantized.linear")
    assert (static["macs"], static["bytes_read"], static["bytes_written"]) == (480, 48 + 160 + 40, 30)
    dynamic = cspcost.analyze(nnqd.Linear(16, 10), (3, 16), strict=True)
    row = _op(dynamic, "quantized.linear_dynamic")
    assert (row["macs"], row["bytes_read"], row["bytes_written"]) == (480, 192 + 160 + 40, 120)


def test_elementwise_ops() -> None:
    """On 1x4x6x6 (144 elements): add 1, add_relu 2, mul 1 per element; cat moves (0); hardswish 5."""
    f, shape = nnq.QFunctional(), (4, 6, 6)
    assert _op(_run(lambda q, f: f.add(q, q), shape, f), "quantized.add")["flops"] == 144
    assert _op(_run(lambda q, f: f.add_relu(q, q), shape, f), "quantized.add_relu")["flops"] == 288
    assert _op(_run(lambda q, f: f.mul(q, q), shape, f), "quantized.mul")["flops"] == 144
    cat = _op(_run(lambda q, f: f.cat([q, q], dim=1), shape, f), "quantized.cat")
    assert (cat["flops"], cat["bytes_read"], cat["bytes_written"]) == (0, 288, 288)
    assert _op(_run(lambda q, m: m(q), shape, nnq.Hardswish(SCALE, ZERO)), "quantized.hardswish")["flops"] == 5 * 144


def test_quantize_and_dequantize_are_conversions() -> None:
    """quantize 4 flops per element (scale, round, zero point, saturate), 4 B read and 1 written
    per element; dequantize 2 (zero point, scale), 1 B read and 4 written."""
    result = _run(lambda q, f: q, (4, 6, 6), nnq.QFunctional())
    quantize, dequantize = _op(result, "aten.quantize_per_tensor"), _op(result, "aten.dequantize")
    assert (quantize["flops"], quantize["bytes_read"], quantize["bytes_written"]) == (4 * 144, 4 * 144, 144)
    assert (dequantize["flops"], dequantize["bytes_read"], dequantize["bytes_written"]) == (2 * 144, 144, 4 * 144)
    assert RULES["aten.quantize_per_tensor"].kind == "move" and "conversion" in RULES["aten.dequantize"].doc


def test_a_quantized_model_leaves_meta_for_the_cpu() -> None:
    """No meta kernels exist for quantized ops: a quantized module runs on the CPU, with a warning."""
    with pytest.warns(cspcost.errors.ValuesNeededWarning, match="quantized kernels have no meta implementation"):
        result = cspcost.analyze(Quantized(lambda q, m: m(q), nnq.Conv2d(4, 8, 3)), (4, 6, 6))
    assert result.totals["macs"] == 8 * 4 * 4 * 4 * 9


def test_quantized_resnet_matches_its_float_twin_op_for_op() -> None:
    """torchvision's quantized ResNet-18 at 64x64: the same conv and linear MACs as the float one
    (fused BN is free in both under the torchvision convention)."""
    models = pytest.importorskip("torchvision.models")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        quantized = models.get_model("quantized_resnet18", weights=None, quantize=True, backend="fbgemm")
        twin = models.get_model("resnet18", weights=None)
        q = cspcost.analyze(quantized, (3, 64, 64), convention="torchvision", strict=True)
    f = cspcost.analyze(twin, (3, 64, 64), convention="torchvision")
    assert q.totals["macs"] == f.totals["macs"]


def _norm_params(*shape: int) -> tuple[nn.Parameter, nn.Parameter]:
    """An affine weight of ones and a bias of zeros."""
    return nn.Parameter(torch.ones(shape)), nn.Parameter(torch.zeros(shape))


@pytest.mark.parametrize(("module", "shape", "op", "macs", "flops"), [
    # 1x4x6x6 = 144 elements; flops per element as the float forms
    (nnq.LeakyReLU(SCALE, ZERO, 0.1), (4, 6, 6), "quantized.leaky_relu", 0, 2 * 144),
    (nnq.Sigmoid(SCALE, ZERO), (4, 6, 6), "quantized.sigmoid", 0, 3 * 144),
    (nnq.ReLU6(), (4, 6, 6), "quantized.relu6", 0, 2 * 144),
    (nnq.ELU(SCALE, ZERO), (4, 6, 6), "quantized.elu", 0, 3 * 144),
    (nnq.BatchNorm2d(4), (4, 6, 6), "quantized.batch_norm2d", 0, 2 * 144),
    (nniq.BNReLU2d(4), (4, 6, 6), "quantized.batch_norm2d_relu", 0, 3 * 144),
    (nnq.LayerNorm([6, 6], *_norm_params(6, 6), SCALE, ZERO), (4, 6, 6), "quantized.layer_norm", 0, 8 * 144),
    (nnq.GroupNorm(2, 4, *_norm_params(4), SCALE, ZERO), (4, 6, 6), "quantized.group_norm", 0, 8 * 144),
    (nnq.InstanceNorm2d(4, *_norm_params(4), SCALE, ZERO), (4, 6, 6), "quantized.instance_norm", 0, 8 * 144),
    # conv1d 4 -> 8, k3 on length 10: 8*8 outputs x 4*3 = 768; conv3d on 5^3: 8*27 x 4*27 = 23,328
    (nnq.Conv1d(4, 8, 3), (4, 10), "quantized.conv1d", 768, 2 * 768),
    (nnq.Conv3d(4, 8, 3), (4, 5, 5, 5), "quantized.conv3d", 23_328, 2 * 23_328),
    (nniq.ConvReLU1d(4, 8, 3), (4, 10), "quantized.conv1d_relu", 768, 2 * 768 + 64),
    (nniq.LinearReLU(16, 10), (3, 16), "quantized.linear_relu", 480, 2 * 480 + 30),
])
def test_more_quantized_modules(module: nn.Module, shape: tuple[int, ...], op: str, macs: int, flops: int) -> None:
    """torch.ao's other quantized modules, one op each, by hand."""
    row = _op(_run(lambda q, m: m(q), shape, module), op)
    assert (row["macs"], row["flops"]) == (macs, flops)
