"""Capture: the right module for every op, meta == cpu, user weights untouched, errors named."""
from __future__ import annotations

import pytest
import torch
from torch import nn

import cspcost
from cspcost.walk.capture import capture, make_inputs
from cspcost.errors import ForwardError, MetaDeviceError
from nets import Broken, MetaHostile, MixNet, Single


def _module_of(result, op: str) -> list[str]:  # noqa: ANN001
    """The modules that ran ``op``, in order."""
    return [r["module"] for r in result.ops if r["op"] == op]


def test_attribution_to_innermost_module() -> None:
    """Each op is charged to the innermost module running it, as named_modules() names it."""
    result = cspcost.analyze(MixNet(), (3, 32, 32))
    assert _module_of(result, "aten.conv2d")[:4] == ["stem.0", "grouped", "depthwise", "pointwise"]
    assert _module_of(result, "aten.batch_norm") == ["stem.1"]
    assert _module_of(result, "aten.mul") == ["se"]  # the SE gate multiply runs in SE's forward
    assert _module_of(result, "aten.upsample_bilinear2d") == ["up_bilinear"]
    assert _module_of(result, "aten.cat") == ["(root)"]
    assert _module_of(result, "aten.linear") == ["fc"]


def test_inputs_are_made_outside_the_recording() -> None:
    """The first recorded op is the model's first conv, not the creation of its input."""
    result = cspcost.analyze(MixNet(), (3, 32, 32))
    assert result.ops[0]["op"] == "aten.conv2d"


def test_meta_and_cpu_give_identical_results() -> None:
    """Shapes alone decide the cost: meta and cpu captures agree on every number."""
    model = MixNet()
    on_meta = cspcost.analyze(model, (3, 32, 32), device="meta")
    on_cpu = cspcost.analyze(model, (3, 32, 32), device="cpu")
    assert on_meta.totals == on_cpu.totals
    assert on_meta.layers.equals(on_cpu.layers)


def test_real_weights_are_neither_copied_nor_moved() -> None:
    """A module with real weights is run with meta stand-ins; its tensors and flags are untouched."""
    model = MixNet().train()
    model.se.eval()  # a mixed train/eval tree must come back exactly as it was
    before = {name: (p.data_ptr(), p.device, p.clone()) for name, p in model.state_dict().items()}
    cspcost.analyze(model, (3, 32, 32))
    after = model.state_dict()
    for name, (ptr, device, value) in before.items():
        assert after[name].data_ptr() == ptr and after[name].device == device
        assert torch.equal(after[name], value)
    assert model.training and not model.se.training and model.stem.training


def test_model_built_on_meta_runs_without_weights() -> None:
    """A model whose parameters live on meta (no storage at all) is analysed as is."""
    with torch.device("meta"):
        model = nn.Sequential(nn.Linear(4096, 4096), nn.ReLU(), nn.Linear(4096, 4096))
    result = cspcost.analyze(model, (4096,))
    assert result.totals["params"] == 2 * (4096 * 4096 + 4096)
    assert result.totals["macs"] == 2 * 4096 * 4096


def test_several_inputs() -> None:
    """A tuple of inputs from the Python API: a two-input model."""
    conv = nn.Conv2d(3, 4, 1)
    model = Single(lambda a, b: conv(a) + conv(b), conv)
    result = cspcost.analyze(model, [(3, 8, 8), (3, 8, 8)], batch=2)
    assert result.input_shape == [(2, 3, 8, 8), (2, 3, 8, 8)]
    assert result.totals["macs"] == 2 * (2 * 4 * 64 * 3)  # two convs, batch 2, 4x8x8 outputs x 3


def test_batch_scales_costs() -> None:
    """Batch 4 costs four times batch 1, params unchanged."""
    one = cspcost.analyze(MixNet(), (3, 32, 32))
    four = cspcost.analyze(MixNet(), (3, 32, 32), batch=4)
    assert four.totals["macs"] == 4 * one.totals["macs"]
    assert four.totals["params"] == one.totals["params"]


def test_forward_error_names_the_module() -> None:
    """A failing forward names the innermost module that was running."""
    with pytest.raises(ForwardError, match=r"'features\.1' \(Conv2d\)"):
        cspcost.analyze(Broken(), (3, 16, 16))


def test_meta_hostile_model_suggests_cpu() -> None:
    """A data-dependent model fails on meta with a hint, and runs with device='cpu'."""
    with pytest.raises(MetaDeviceError, match="--device cpu"):
        cspcost.analyze(MetaHostile(), (3, 16, 16))
    result = cspcost.analyze(MetaHostile(), (3, 16, 16), device="cpu")
    assert result.totals["macs"] == 4 * 14 * 14 * 27  # 4x14x14 outputs x (3 x 3x3)


def test_capture_records_shapes_and_dtypes() -> None:
    """Events carry input and output shapes and dtypes, not values."""
    model = nn.Conv2d(3, 8, 3, padding=1).half()
    cap = capture(model, make_inputs([(3, 8, 8)], 1, torch.device("meta"), torch.float16))
    (event,) = cap.events
    assert event.op == "aten.conv2d" and event.module == ""
    assert event.args[0].shape == (1, 3, 8, 8) and event.outputs[0].dtype == "torch.float16"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
def test_cuda_capture_matches_meta() -> None:
    """On a GPU the walker gives the same numbers as on meta."""
    model = MixNet()
    assert cspcost.analyze(model, (3, 32, 32), device="cuda").totals == cspcost.analyze(model, (3, 32, 32)).totals
