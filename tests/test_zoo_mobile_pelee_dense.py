"""The MobileNet-v2, PeleeNet and DenseNet-201 zoo entries reproduce the CSPNet paper's costs.

Darknet counting (PRIMER Sec. 4): params = conv (and FC) weights; BFLOPs = 2 x MACs of conv/FC
plus size^2 * C * H_out * W_out per max-pool and local average pool, at each model's input size.
"""
from __future__ import annotations

from functools import lru_cache

import pytest
import torch

import cspcost
import cspcost_models as zoo

MODELS = ["mobilenetv2", "cspmobilenetv2", "peleenet", "csppeleenet", "densenet201", "cspdensenet201"]
PAIRS = [("cspmobilenetv2", "mobilenetv2"), ("csppeleenet", "peleenet"), ("cspdensenet201", "densenet201")]


@lru_cache(maxsize=None)
def darknet_totals(name: str) -> dict[str, int]:
    """Totals of one zoo model at its registered input size, darknet convention (cached)."""
    return cspcost.analyze(name, convention="darknet").totals


# Models with a released cfg (or, for PeleeNet, a paper design): every printed digit.
@pytest.mark.parametrize(
    ("name", "params_m", "bflops"),
    [
        ("mobilenetv2", 3.47, 0.858),  # mobilenet-v2.cfg: 3,470,784 weights, 0.85822 BFLOPs
        ("cspmobilenetv2", 2.51, 0.764),  # csmobilenet-v2.cfg: 2,513,400 weights, 0.76356 BFLOPs
        # conv 1.014107 + FC 2*704*1000 = 0.001408 + pools 0.001104 = 1.016619 (pools needed for .017)
        ("peleenet", 2.79, 1.017),
        ("densenet201", 17.14, 10.850),  # densenet201.cfg at 256 (not the paper's Elastic model)
    ],
)
def test_printed_digits(name: str, params_m: float, bflops: float) -> None:
    """Conv-weight params (M, 2 decimals) and BFLOPs (3 decimals) equal the printed figures."""
    totals = darknet_totals(name)
    assert round(totals["params"] / 1e6, 2) == params_m
    assert round(totals["flops"] / 1e9, 3) == bflops


def test_densenet201_exact_cfg_counts() -> None:
    """densenet201.cfg at 256, by hand: 17,138,880 weights; conv 10,848,043,008 + max-pools 1,966,080 FLOPs."""
    totals = darknet_totals("densenet201")
    assert totals["params"] == 17_138_880
    assert totals["flops"] == 10_848_043_008 + 1_966_080


def test_csppeleenet_within_two_percent_of_paper() -> None:
    """CSPPeleeNet (no cfg) lands within 2% of the paper's 2.83M and 0.888 BFLOPs."""
    totals = darknet_totals("csppeleenet")
    assert totals["params"] == pytest.approx(2.83e6, rel=0.02)
    assert totals["flops"] / 1e9 == pytest.approx(0.888, rel=0.02)


def test_cspdensenet201_cut_comparable_with_paper() -> None:
    """The CSP cut on densenet201.cfg is within 2 points of the paper's Elastic pair, 1 - 7.13/8.77 = 18.7%."""
    cut = 1 - darknet_totals("cspdensenet201")["flops"] / darknet_totals("densenet201")["flops"]
    assert cut == pytest.approx(1 - 7.13 / 8.77, abs=0.02)


@pytest.mark.parametrize(("csp", "baseline"), PAIRS)
def test_csp_is_lighter_than_its_baseline(csp: str, baseline: str) -> None:
    """Every CSP model costs fewer FLOPs than its baseline, which the registry names."""
    assert zoo.get(csp).baseline == baseline
    assert darknet_totals(csp)["flops"] < darknet_totals(baseline)["flops"]


@pytest.mark.slow
@pytest.mark.parametrize("name", MODELS)
def test_forward_on_cpu(name: str) -> None:
    """A real forward at 64x64 gives one row of logits per image."""
    model = zoo.create(name, num_classes=10).eval()
    with torch.inference_mode():
        assert model(torch.randn(2, 3, 64, 64)).shape == (2, 10)


@pytest.mark.parametrize("name", MODELS)
def test_registered_metadata(name: str) -> None:
    """Each entry carries its family, the paper's input size and notes on how it was built."""
    spec = zoo.get(name)
    side = 256 if spec.family == "densenet" else 224
    assert spec.input_size == (3, side, side)
    assert spec.notes and spec.source
