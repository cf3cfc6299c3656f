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


@pytest.mark.cuda
def test_cuda_capture_matches_meta() -> None:
    """On a GPU the walker gives the same numbers as on meta."""
    model = MixNet()
    assert cspcost.analyze(model, (3, 32, 32), device="cuda").totals == cspcost.analyze(model, (3, 32, 32)).totals


# --------------------------------------------------------------------- attribution by call site
class _Block(nn.Module):
    """A conv followed by an activation the caller hands in (shared, as Ultralytics' Conv)."""

    def __init__(self, c_in: int, c_out: int, act: nn.Module) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, 3, padding=1, bias=False)
        self.act = act

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """act(conv(x))."""
        return self.act(self.conv(x))


class _Shared(nn.Module):
    """Two blocks holding one SiLU instance, and a pool called twice at one call site."""

    def __init__(self) -> None:
        super().__init__()
        act = nn.SiLU()
        self.blocks = nn.Sequential(_Block(3, 4, act), _Block(4, 8, act))
        self.pool = nn.MaxPool2d(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Two blocks, then the pool twice."""
        return self.pool(self.pool(self.blocks(x)))


def test_shared_module_is_charged_to_its_call_site() -> None:
    """One SiLU held by two blocks: one row per block, each with its own shape and flops."""
    result = cspcost.analyze(_Shared(), (3, 8, 8))
    rows = result.layers.set_index("name")
    assert rows.loc["blocks.0.act", "out_shape"] == (1, 4, 8, 8)
    assert rows.loc["blocks.1.act", "out_shape"] == (1, 8, 8, 8)
    assert rows.loc["blocks.0.act", "flops"] == 4 * 256  # silu 4 flops x 4x8x8
    assert rows.loc["blocks.1.act", "flops"] == 4 * 512  # 4 x 8x8x8
    assert rows.loc["blocks.1.act", "type"] == "SiLU" and rows.loc["blocks.1.act", "calls"] == 1
    assert rows["flops"].sum() == result.totals["flops"]


def test_module_called_twice_keeps_one_row_with_its_calls() -> None:
    """A pool run twice at one call site: one row, calls 2, both calls' flops, the last shape."""
    rows = cspcost.analyze(_Shared(), (3, 8, 8)).layers.set_index("name")
    assert rows.loc["pool", "calls"] == 2 and rows.loc["pool", "ops"] == 2
    assert rows.loc["pool", "flops"] == 4 * (8 * 4 * 4) + 4 * (8 * 2 * 2)  # 2x2 window x outputs
    assert rows.loc["pool", "out_shape"] == (1, 8, 2, 2)


def test_shared_params_counted_once() -> None:
    """A Linear shared by two parents: rows under both call sites, its params once."""
    shared = nn.Linear(4, 4)
    model = nn.Sequential(nn.Sequential(shared), nn.Sequential(shared))
    result = cspcost.analyze(model, (4,))
    rows = result.layers.set_index("name")
    assert rows.loc["0.0", "macs"] == 16 and rows.loc["1.0", "macs"] == 16
    assert result.totals["params"] == 20 == sum(p.numel() for p in model.parameters())
    assert rows["params"].sum() == 20


# ------------------------------------------------------------------------- plain tensor caches
class _Caching(nn.Module):
    """Caches a grid as a plain tensor attribute on its first forward (as Ultralytics' Detect)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1)
        self.grid = torch.empty(0)
        self.stride = torch.tensor([8.0])  # a small constant read by value
        self.shape: tuple[int, ...] | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """conv(x) + a cached grid, recomputed when the shape changes."""
        y = self.conv(x)
        if self.shape != y.shape:
            self.grid = torch.full(y.shape[1:], float(self.stride[0]), device=y.device)
            self.shape = y.shape
        return y + self.grid


def test_model_that_ran_on_cpu_analyses_on_meta() -> None:
    """Plain tensor attributes get meta stand-ins, restored afterwards: same numbers as fresh."""
    fresh = cspcost.analyze(_Caching(), (3, 8, 8)).totals
    model = _Caching()
    model(torch.zeros(1, 3, 8, 8))  # caches a CPU grid
    grid, shape = model.grid, model.shape
    ran = cspcost.analyze(model, (3, 8, 8)).totals
    assert (ran["macs"], ran["params"]) == (fresh["macs"], fresh["params"])
    assert model.grid is grid and model.grid.device.type == "cpu" and model.shape == shape
    again = cspcost.analyze(model, (3, 16, 16))  # another shape: the cache is rebuilt on meta
    assert model.grid is grid and model.shape == shape and again.totals["macs"] == 4 * fresh["macs"]


# ----------------------------------------------------------------------------------- inputs
class _Images(nn.Module):
    """Takes a list of images and a dict of options, as detection models do."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 2, 1, bias=False)

    def forward(self, images: list[torch.Tensor], extra: dict[str, torch.Tensor] | None = None) -> list:
        """conv on each image (plus an optional tensor)."""
        out = [self.conv(im[None]) for im in images]
        return out + ([extra["bias"] * 2] if extra else [])


def test_nested_inputs_of_shapes_and_tensors() -> None:
    """A list of images given as shapes, or tensors, and a dict argument."""
    by_shape = cspcost.analyze(_Images(), inputs=[[(3, 4, 4), (3, 2, 2)]])
    assert by_shape.totals["macs"] == 6 * 16 + 6 * 4  # 2 x 3 MACs per pixel
    assert by_shape.input_shape == [(3, 4, 4), (3, 2, 2)]
    by_tensor = cspcost.analyze(_Images(), inputs=[[torch.zeros(3, 4, 4)], {"bias": torch.zeros(5)}])
    assert by_tensor.totals["macs"] == 96 and by_tensor.totals["flops"] == 2 * 96 + 5
    as_kwargs = cspcost.analyze(_Images(), inputs={"images": [(3, 4, 4)]})
    assert as_kwargs.totals["macs"] == 96


def test_wrong_rank_input_names_the_expected_rank() -> None:
    """A 2-D shape for a Conv3d model: one line naming the expected rank."""
    model = nn.Sequential(nn.Conv3d(3, 4, 3), nn.ReLU())
    with pytest.raises(ForwardError) as info:
        cspcost.analyze(model, (3, 32, 32))
    message = str(info.value)
    assert "expects rank 4 (C, D, H, W)" in message and "rank 3" in message and "\n" not in message
    with pytest.raises(ForwardError, match=r"has 1 channels but the model's first layer '0' \(Conv3d\) expects 3"):
        cspcost.analyze(model, (1, 8, 8, 8))


def test_meta_hostile_message_is_one_short_line() -> None:
    """torch's 400-character nonzero message becomes one short clause with the hint."""
    class Nonzero(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x[x > 0]

    with pytest.raises(MetaDeviceError) as info:
        cspcost.analyze(Nonzero(), (3, 4, 4))
    assert len(str(info.value)) < 200 and str(info.value).endswith("try --device cpu")
