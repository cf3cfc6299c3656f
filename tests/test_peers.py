"""Cross-checks against fvcore, ptflops and torch's FlopCounterMode, every convention difference asserted.

The peers' conventions (read from their sources):
- fvcore FlopCountAnalysis: conv/linear/matmul in MACs (it calls them "flops"), bias excluded;
  BN in eval 2/element (affine); adaptive_avg_pool2d 1/input element; upsample_nearest2d 1/output
  element (ours: 0, a copy); upsample_bilinear2d 4/output element (ours: 7); elementwise ops,
  activations, pools and concat ignored.
- ptflops (pytorch backend, module hooks, functional counting off): conv/linear MACs PLUS one
  per output element for a bias; BN 2/element if affine; ReLU/LeakyReLU/ELU 1/element; every pool
  1/input element; nn.Upsample 1/output element; other modules (SiLU, Sigmoid) 0.
- FlopCounterMode: 2 x MACs for conv, linear and matmul; everything else 0.
"""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

import cspcost
from nets import MixNet

fvcore_nn = pytest.importorskip("fvcore.nn")
ptflops = pytest.importorskip("ptflops")


def _bench_models() -> dict[str, nn.Module]:
    """The benchmark's torchvision-style models."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_nets", Path(__file__).parents[1] / "benchmarks" / "nets.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return {"resnext50": module.resnext50_32x4d(), "densenet201": module.densenet201()}


@pytest.fixture(scope="module", params=["mixnet", "resnext50", "densenet201"])
def case(request):  # noqa: ANN001, ANN201
    """(model on CPU with real weights, input tensor, our analysis)."""
    torch.manual_seed(0)
    if request.param == "mixnet":
        model, size = MixNet(), (3, 32, 32)
    else:
        model, size = _bench_models()[request.param], (3, 64, 64)
    model.eval()
    x = torch.randn(1, *size)
    return model, x, cspcost.analyze(model, size)


def _by_kind(result, kind: str, key: str) -> int:  # noqa: ANN001
    """Sum of ``key`` over the ops of one kind."""
    return sum(r[key] for r in result.ops if r["kind"] == kind)


def _by_op(result, op: str, key: str) -> int:  # noqa: ANN001
    """Sum of ``key`` over the ops named ``op``."""
    return sum(r[key] for r in result.ops if r["op"] == op)


@pytest.mark.slow
def test_flop_counter_mode_is_twice_our_macs(case) -> None:  # noqa: ANN001
    """FlopCounterMode counts 2 x MACs of conv/linear/matmul and nothing else."""
    model, x, result = case
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(x)
    assert counter.get_total_flops() == 2 * result.totals["macs"]


@pytest.mark.slow
def test_fvcore_per_operator(case) -> None:  # noqa: ANN001
    """fvcore's per-operator counts equal ours, each convention difference stated and asserted."""
    model, x, result = case
    analysis = fvcore_nn.FlopCountAnalysis(model, (x,))
    analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    by_op = analysis.by_operator()
    assert by_op.get("conv", 0) == _by_kind(result, "conv", "macs")  # MACs, bias excluded
    assert by_op.get("linear", 0) + by_op.get("addmm", 0) == _by_kind(result, "linear", "macs")
    assert by_op.get("batch_norm", 0) == _by_kind(result, "bn", "flops")  # 2/elem both
    assert by_op.get("adaptive_avg_pool2d", 0) == _by_op(result, "aten.adaptive_avg_pool2d", "flops")
    # Differences: nearest upsampling is a copy for us (0 flops), 1/output element for fvcore;
    # bilinear is 7 flops/output element for us, 4 for fvcore.
    assert by_op.get("upsample_nearest2d", 0) == _by_op(result, "aten.upsample_nearest2d", "out_elems")
    assert _by_op(result, "aten.upsample_nearest2d", "flops") == 0
    assert 7 * by_op.get("upsample_bilinear2d", 0) == 4 * _by_op(result, "aten.upsample_bilinear2d", "flops")


def test_ptflops_total(case) -> None:  # noqa: ANN001
    """ptflops' total equals ours re-counted under its conventions (bias, pools, activations)."""
    model, x, result = case
    macs, params = ptflops.get_model_complexity_info(
        model, tuple(x.shape[1:]), as_strings=False, print_per_layer_stat=False,
        backend="pytorch", backend_specific_config={"count_functional": False})
    assert params == result.totals["params"]
    assert macs == _ptflops_expectation(model, result)


def _ptflops_expectation(model: nn.Module, result) -> int:  # noqa: ANN001
    """Our per-op numbers re-counted the ptflops way (see the module docstring)."""
    modules = dict(model.named_modules())
    expected = 0
    for row in result.ops:
        module = modules.get("" if row["module"] == "(root)" else row["module"])
        if row["kind"] in ("conv", "linear"):
            bias = getattr(module, "bias", None)
            expected += row["macs"] + (row["out_elems"] if bias is not None else 0)
        elif row["kind"] == "bn":
            expected += row["flops"]  # 2/element: equal
        elif isinstance(module, (nn.ReLU, nn.LeakyReLU, nn.ELU, nn.ReLU6)):
            expected += row["out_elems"]  # 1/element (ours: LeakyReLU 2, ReLU6 2)
        elif isinstance(module, (nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d)):
            expected += row["bytes_read"] // 4  # 1 per input element (fp32 input)
        elif isinstance(module, nn.Upsample):
            expected += row["out_elems"]  # 1/output element for every mode
    return expected
