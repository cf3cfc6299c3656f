"""Every registered model, tested the moment it is registered: builds, runs, fully priced."""
from __future__ import annotations

import time

import pytest
import torch

import cspcost
import cspcost_models as zoo

NAMES = zoo.list_models()


@pytest.mark.parametrize("name", NAMES)
def test_builds_on_meta_quickly(name: str) -> None:
    """Building on meta allocates nothing and takes well under a second."""
    start = time.perf_counter()
    with torch.device("meta"):
        model = zoo.create(name)
    assert time.perf_counter() - start < 1.0
    assert all(p.device.type == "meta" for p in model.parameters())


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_real_cpu_forward_at_small_input(name: str) -> None:
    """A real forward on CPU at 64x64 gives finite outputs (logits, or a detector's tuple of maps)."""
    torch.manual_seed(0)
    model = zoo.create(name).eval()
    with torch.inference_mode():
        out = model(torch.randn(1, 3, 64, 64))
    outs = out if isinstance(out, tuple) else (out,)
    assert all(o.shape[0] == 1 and torch.isfinite(o).all() for o in outs)


@pytest.mark.parametrize("name", NAMES)
def test_every_op_has_a_rule(name: str) -> None:
    """Every op a zoo model runs is priced or declared free: none unsupported."""
    result = cspcost.analyze(name, strict=True)
    assert result.totals["macs"] > 0


@pytest.mark.parametrize("name", [n for n in NAMES if zoo.get(n).baseline])
def test_csp_is_lighter_than_its_baseline(name: str) -> None:
    """The paper's claim: every CSP model costs fewer FLOPs than its baseline (darknet counting)."""
    baseline = zoo.get(name).baseline
    assert baseline in NAMES
    csp = cspcost.analyze(name, convention="darknet").totals["flops"]
    base = cspcost.analyze(baseline, convention="darknet").totals["flops"]
    assert csp < base


def test_registry_entries_are_complete() -> None:
    """Each entry says where it comes from and its default input."""
    for name in NAMES:
        spec = zoo.get(name)
        assert spec.source and len(spec.input_size) == 3 and spec.family


def test_registering_a_name_twice_raises() -> None:
    """One entry point per model."""
    with pytest.raises(ValueError, match="registered twice"):
        zoo.register(family="example", input_size=(3, 8, 8), source="test")(zoo.get("tinycsp").build)
