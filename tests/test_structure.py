"""CSP blocks found in the dataflow: hand-built blocks with known gamma and fusion, the zoo's CSP models
(every stage) and baselines (none), non-CSP nets (none), role costs adding up, timm and Ultralytics."""
from __future__ import annotations

import json
from fractions import Fraction

import pytest
import torch
from torch import nn

import cspcost
import cspcost_models as zoo
from cspcost.render.graph import to_dot, to_json
from cspcost.structure import find, find_csp
from cspcost.structure.dense import dense_check
from cspcost_models.blocks import PartialDenseBlock

FUSIONS = ("none", "first", "last", "csp")
GAMMAS = (Fraction(1, 4), Fraction(1, 2), Fraction(3, 4))
ZOO_CSP_TYPES = {"CrossStage", "CrossStageDense"}


class Residual(nn.Module):
    """x + conv(relu(conv(x))): one residual unit."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.conv2 = nn.Conv2d(c, c, 3, padding=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The residual."""
        return x + self.conv2(torch.relu(self.conv1(x)))


class TwoProjections(nn.Module):
    """Two 1x1 projections of the input (c1 and c2 wide), residual units on the second, a Fig. 3 fusion."""

    def __init__(self, c: int, c1: int, c2: int, fusion: str, m: int = 2) -> None:
        super().__init__()
        self.part1 = nn.Conv2d(c, c1, 1, bias=False)
        self.part2 = nn.Conv2d(c, c2, 1, bias=False)
        self.units = nn.Sequential(*(Residual(c2) for _ in range(m)))
        self.partial = nn.Conv2d(c2, c2, 1, bias=False) if fusion in ("last", "csp") else None
        self.transition = nn.Conv2d(c1 + c2, c1 + c2, 1, bias=False) if fusion in ("first", "csp") else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Part 2 through the units, concatenated with part 1."""
        path = self.units(self.part2(x))
        path = path if self.partial is None else self.partial(path)
        out = torch.cat([path, self.part1(x)], dim=1)
        return out if self.transition is None else self.transition(out)


def _blocks(model: nn.Module | str, size: tuple[int, ...] | None = None) -> list[dict]:
    """The CSP block records of a model."""
    return find_csp(cspcost.analyze(model, size)).csp_blocks


@pytest.mark.parametrize("fusion", FUSIONS)
@pytest.mark.parametrize("gamma", GAMMAS)
def test_channel_split_block(gamma: Fraction, fusion: str) -> None:
    """A partial dense block splitting gamma*c channels off: gamma, depth and fusion exactly."""
    c, m = 32, 3
    (block,) = _blocks(PartialDenseBlock(c, 8, m, int(gamma * c), fusion=fusion), (c, 8, 8))
    assert (block["pattern"], block["gamma_fraction"], block["gamma"]) == ("split", f"{gamma.numerator}/{gamma.denominator}", float(gamma))
    assert (block["part2_depth"], block["fusion"], block["parent"]) == (m, fusion, None)


@pytest.mark.parametrize("fusion", FUSIONS)
@pytest.mark.parametrize("gamma", GAMMAS)
def test_two_projection_block(gamma: Fraction, fusion: str) -> None:
    """Two projections c1 and c2 = gamma*(c1 + c2) wide: gamma = c2/(c1 + c2), depth and fusion exactly."""
    total = 16
    c2 = int(gamma * total)
    (block,) = _blocks(TwoProjections(24, total - c2, c2, fusion, m=2), (24, 8, 8))
    assert (block["pattern"], block["gamma"], block["part2_depth"], block["fusion"]) == ("projection", float(gamma), 2, fusion)
    assert block["roles"]["split"]["params"] == 24 * c2 and block["roles"]["part1"]["params"] == 24 * (total - c2)


def test_dense_part2_matches_the_closed_form_exactly() -> None:
    """A single-conv partial dense block is what the closed form assumes: measured CIO = formula."""
    result = cspcost.analyze(PartialDenseBlock(32, 8, 4, 8, fusion="none"), (32, 8, 8))
    (block,) = find(result.graph)
    check = dense_check(result.graph, block)
    # gamma = 8/32; w*h*(gamma*c*m + (m^2 + m)*d/2) = 64*(8*4 + 20*8/2) = 64*112
    assert (check["c"], check["d"], check["m"], check["gamma"]) == (32, 8, 4, 0.25)
    assert check["formula_cio"] == check["measured_cio"] == 64 * 112 and check["assumptions_differ"] == []


def test_dense_check_names_the_assumption_that_differs() -> None:
    """The zoo's PeleeNet layers are two-branch, several convs each: the check says so."""
    records = _blocks("csppeleenet")
    assert all("one conv" in r["dense_check"]["assumptions_differ"][0] for r in records)


def _csp_modules(result: cspcost.AnalysisResult, types: set[str]) -> list[str]:
    """Paths of the modules of the given types, in tree order."""
    return [path for path, kind in result.graph.module_types.items() if kind in types]


@pytest.mark.parametrize("name", [n for n in zoo.list_models() if zoo.get(n).baseline])
def test_every_zoo_csp_stage_is_found(name: str) -> None:
    """Each zoo CSP model: one block per cross-stage module, and nothing else."""
    result = find_csp(cspcost.analyze(name))
    assert [b["name"] for b in result.csp_blocks] == _csp_modules(result, ZOO_CSP_TYPES)


@pytest.mark.parametrize("name", sorted({zoo.get(n).baseline for n in zoo.list_models() if zoo.get(n).baseline}
                                        | {"peleenet_yolo", "peleenet_prn"}))
def test_zoo_baselines_have_no_block(name: str) -> None:
    """DenseNet and PeleeNet layers, residual stages, the detectors' pyramid concats: no block."""
    assert _blocks(name) == []


def test_zoo_gamma_and_fusion() -> None:
    """CSPResNeXt-50 as csresnext50.cfg: two projections, CSP fusion, stage 0's 64-wide entry (gamma 1/3)."""
    records = _blocks("cspresnext50")
    assert [(r["pattern"], r["gamma_fraction"], r["part2_depth"], r["fusion"]) for r in records] == [
        ("projection", "1/3", 3, "csp"), ("projection", "1/2", 3, "csp"),
        ("projection", "1/2", 5, "csp"), ("projection", "1/2", 2, "csp")]


class Pyramid(nn.Module):
    """A residual backbone and an FPN-style top-down concat of two levels, plain and projected."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 16, 3, 2, 1)
        self.p4 = nn.Sequential(nn.Conv2d(16, 16, 3, 2, 1), Residual(16))
        self.p5 = nn.Sequential(nn.Conv2d(16, 32, 3, 2, 1), Residual(32), Residual(32))
        self.lateral = nn.Conv2d(16, 16, 1)
        self.up = nn.Upsample(scale_factor=2)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Two concats of an upsampled deeper level with a level: neither is a CSP block."""
        p4 = self.p4(self.stem(x))
        top = self.up(self.p5(p4))
        return torch.cat([top, p4], 1), torch.cat([top, self.lateral(p4)], 1)


class DenseUnit(nn.Module):
    """A DenseNet layer: the whole input concatenated with new features."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.unit = Residual(c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """cat(x, f(x)) even when f is residual."""
        return torch.cat([x, self.unit(x)], 1)


def _torchvision(name: str) -> nn.Module:
    """A torchvision classifier built on meta (no weights)."""
    torchvision = pytest.importorskip("torchvision")

    with torch.device("meta"):
        kwargs = {"init_weights": False, "aux_logits": False} if name in ("googlenet", "inception_v3") else {}
        return getattr(torchvision.models, name)(**kwargs)


@pytest.mark.parametrize("make, size", [
    (lambda: _torchvision("googlenet"), (3, 224, 224)),
    (lambda: _torchvision("inception_v3"), (3, 299, 299)),
    (lambda: _torchvision("densenet121"), (3, 224, 224)),
    (lambda: _torchvision("resnet18"), (3, 224, 224)),
    (Pyramid, (3, 64, 64)),
    (lambda: DenseUnit(8), (8, 16, 16)),
], ids=["googlenet", "inception_v3", "densenet121", "resnet18", "pyramid", "dense_unit"])
def test_non_csp_nets_have_no_block(make, size) -> None:  # noqa: ANN001
    """Inception branches, DenseNet layers, residual adds, pyramid concats: nothing found."""
    assert _blocks(make(), size) == []


@pytest.mark.parametrize("name", ["cspresnext50", "cspdensenet201", "cspmobilenetv2"])
def test_roles_add_up_to_block_and_blocks_to_model(name: str) -> None:
    """Role costs sum to each block's totals; each block's FLOPs and CIO are its ops' own; the blocks'
    sum stays within the model's totals."""
    result = cspcost.analyze(name, convention="darknet")
    records = find_csp(result).csp_blocks
    for record, found in zip(records, find(result.graph)):
        for key in ("flops", "params", "cio_elems"):
            assert sum(role[key] for role in record["roles"].values()) == record[key]
        assert record["flops"] == sum(result.ops[i]["flops"] for i in found.ops)
        assert record["cio_elems"] == sum(result.ops[i]["cio_elems"] for i in found.ops)
    for key in ("flops", "params", "cio_elems"):
        assert 0 < sum(r[key] for r in records if r["parent"] is None) <= result.totals[key]


def test_json_and_graph_exports() -> None:
    """--format json carries csp_blocks; the graph exports as JSON and DOT with channel ranges."""
    result = find_csp(cspcost.analyze("tinycsp"))
    data = json.loads(result.to_json())
    assert data["csp_blocks"][0]["name"] == "(root)" and set(data["csp_blocks"][0]["roles"]) == {
        "split", "part1", "part2", "partial_transition", "concat", "fusion_transition"}
    graph = json.loads(to_json(result.graph))
    assert len(graph["nodes"]) == len(result.ops)
    assert '[label="16:32"]' in to_dot(result.graph)  # part 2 reads the second half of the stem


TIMM = {"cspresnet50": ("CrossStage", "csp"), "cspdarknet53": ("CrossStage", "csp"),
        "cs3darknet_s": ("CrossStage3", "first"), "cs3sedarknet_l": ("CrossStage3", "first")}


@pytest.mark.parametrize("name", [*TIMM, "darknet53", "resnet50"])
def test_timm_csp_family(name: str) -> None:
    """timm's CrossStage / CrossStage3 stages found as its modules say, its baselines none."""
    timm = pytest.importorskip("timm")
    with torch.device("meta"):
        model = timm.create_model(name)
    result = find_csp(cspcost.analyze(model, (3, 256, 256)))
    kind, fusion = TIMM.get(name, ("CrossStage", None))
    assert [b["name"] for b in result.csp_blocks] == _csp_modules(result, {kind, "CrossStage", "CrossStage3"})
    assert all((b["pattern"], b["gamma"], b["fusion"]) == ("split", 0.5, fusion) for b in result.csp_blocks)


ULTRALYTICS = {"yolov5nu.yaml": {"C3"}, "yolov8n.yaml": {"C2f"}, "yolo11n.yaml": {"C3k2", "C3k", "C2PSA"}}


@pytest.mark.parametrize("yaml", list(ULTRALYTICS))
def test_ultralytics_blocks(yaml: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """C3, C2f, C3k2 with its nested C3k (parent named), C2PSA: every one found, nothing else."""
    monkeypatch.setenv("YOLO_OFFLINE", "1")
    tasks = pytest.importorskip("ultralytics.nn.tasks")
    result = find_csp(cspcost.analyze(tasks.DetectionModel(yaml, verbose=False), (3, 640, 640)))
    names = sorted(b["name"] for b in result.csp_blocks)
    assert names == sorted(_csp_modules(result, ULTRALYTICS[yaml]))
    types = result.graph.module_types
    for block in result.csp_blocks:
        expected_parent = block["name"].rsplit(".m.", 1)[0] if types[block["name"]] == "C3k" else None
        assert block["parent"] == expected_parent and block["gamma"] == 0.5
        assert block["pattern"] == ("projection" if types[block["name"]] in ("C3", "C3k") else "split")


def test_darknet_cfg_routes() -> None:
    """A darknet cfg: ``[route] layers=-6`` then a 1x1 (two projections), ``groups=2 group_id=1`` (a split).

    The cfg's last layer, a 1x1 conv after the second block's concat, is the model's output: a head,
    not that block's fusion transition (nothing reads it), so the second block reads "none"."""
    from pathlib import Path

    records = _blocks(str(Path(__file__).parent / "cfg_csp" / "tinycsp.cfg"))
    assert [(r["name"], r["pattern"], r["gamma"], r["part2_depth"], r["fusion"]) for r in records] == [
        ("layers.8", "projection", 0.5, 1, "csp"), ("layers.15", "split", 0.5, 1, "none")]


def test_cli_analyze_csp_table_and_json() -> None:
    """analyze --csp: the block table after the layers; JSON carries csp_blocks; without it, no key."""
    from typer.testing import CliRunner

    from cspcost.cli import app

    runner = CliRunner()
    text = runner.invoke(app, ["analyze", "cspresnet10", "--csp", "--top", "2"]).stdout
    assert "2 CSP blocks" in text and "stages.3" in text and "csp" in text
    data = json.loads(runner.invoke(app, ["analyze", "cspresnet10", "--csp", "--format", "json"]).stdout)
    assert [b["name"] for b in data["csp_blocks"]] == ["stages.2", "stages.3"]
    assert "csp_blocks" not in json.loads(runner.invoke(app, ["analyze", "cspresnet10", "--format", "json"]).stdout)


def test_budget_limits_the_heaviest_block(tmp_path) -> None:  # noqa: ANN001
    """csp_block_flops_max: the heaviest block's FLOPs against the limit (equal holds, one less fails)."""
    from cspcost.api import check_budgets, measure

    heaviest = max(b["flops"] for b in _blocks("cspresnet10"))
    assert measure("cspresnet10")["csp_block_flops"] == heaviest and measure("resnet10")["csp_block_flops"] == 0
    path = tmp_path / "b.toml"
    path.write_text(f"[cspresnet10]\ncsp_block_flops_max = {heaviest}\n\n[tinycsp]\ncsp_block_params_max = 1\n")
    outcomes = check_budgets(str(path))
    assert [(o.metric, o.ok) for o in outcomes] == [("csp_block_flops", True), ("csp_block_params", False)]


def test_modules_of_one_class_get_distinct_labels() -> None:
    """Two modules of one class compared: the second is 'Name #2', so tables and charts keep both."""
    comparison = cspcost.compare([PartialDenseBlock(16, 4, 2, 8), PartialDenseBlock(16, 4, 3, 8)], (16, 8, 8))
    assert comparison.labels == ["PartialDenseBlock @8x8", "PartialDenseBlock #2 @8x8"]


def test_cli_graph_export(tmp_path) -> None:  # noqa: ANN001
    """analyze --graph FILE.dot writes Graphviz with CSP roles filled; FILE.json the nodes and edges."""
    from typer.testing import CliRunner

    from cspcost.cli import app

    dot, data = tmp_path / "g.dot", tmp_path / "g.json"
    for path in (dot, data):
        assert CliRunner().invoke(app, ["analyze", "tinycsp", "--graph", str(path)]).exit_code == 0
    assert dot.read_text().startswith("digraph dataflow {") and "#c7e9c0" in dot.read_text()  # partial transition
    assert json.loads(data.read_text())["nodes"][0]["op"] == "aten.conv2d"


def test_find_csp_is_public_api() -> None:
    """``cspcost.find_csp`` (the API's --csp): CSPResNeXt-50's first stage has gamma 1/3 (64 of 192)."""
    import cspcost

    blocks = cspcost.find_csp(cspcost.analyze("cspresnext50")).csp_blocks
    assert blocks[0]["gamma_fraction"] == "1/3" and len(blocks) == 4


class WithHead(nn.Module):
    """A CSP block, then a 1x1 conv classifier reading its concat (or its transition), pooled: a head."""

    def __init__(self, fusion: str, classes: int = 10) -> None:
        super().__init__()
        self.block = TwoProjections(24, 8, 8, fusion)
        self.head = nn.Conv2d(16, classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits: the head's output averaged over space."""
        return self.head(self.block(x)).mean((2, 3))


class WithNextStage(WithHead):
    """The same, but the 1x1 conv after the concat feeds a 3x3 conv (the next stage): a transition."""

    def __init__(self, fusion: str) -> None:
        super().__init__(fusion, classes=16)
        self.next = nn.Conv2d(16, 16, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The next stage's output."""
        return self.next(self.head(self.block(x)))


@pytest.mark.parametrize("fusion", FUSIONS)
def test_a_classifier_after_the_concat_is_no_fusion_transition(fusion: str) -> None:
    """A 1x1 classifier right after a "last" or "none" block's concat is a head: the fusion stays
    "last"/"none" (it was read as "csp"/"first"); a block's own transition stays one."""
    (block,) = _blocks(WithHead(fusion), (24, 8, 8))
    assert block["fusion"] == fusion
    assert block["roles"]["fusion_transition"]["params"] == (16 * 16 if fusion in ("first", "csp") else 0)


@pytest.mark.parametrize(("fusion", "read"), [("none", "first"), ("last", "csp")])
def test_a_1x1_conv_feeding_the_next_stage_is_a_fusion_transition(fusion: str, read: str) -> None:
    """The same 1x1 conv after the concat, when a conv reads its output, is a transition."""
    (block,) = _blocks(WithNextStage(fusion), (24, 8, 8))
    assert block["fusion"] == read and block["roles"]["fusion_transition"]["params"] == 16 * 16 + 16
