"""``cspcost peers``: every installed peer run live, and cspcost's prediction of it exactly equal.

Each model here runs fvcore, ptflops (pytorch and aten backends), thop and FlopCounterMode on real
CPU weights; the assertion is the residual (peer's own total - cspcost's prediction) is 0 for
every peer, per model and per layer. Inputs are small so the whole file stays well under a minute.
"""
from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from typer.testing import CliRunner

import cspcost
from cspcost.cli import app
from cspcost.crosscheck import engine
from cspcost.walk.classes import class_name
from cspcost.errors import UsageError
from cspcost.walk.conventions.counting import PEER_RULE_SETS, CountRule, RuleSet, macs

runner = CliRunner()
LIVE = ("fvcore", "ptflops", "ptflops-aten", "thop", "flopcountermode")


class Every(nn.Module):
    """One of each thing the peers count differently, in one small forward."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)  # bias: ptflops adds 8 x 16 x 16
        self.bn = nn.BatchNorm2d(8)
        self.relu = nn.ReLU()  # ptflops: hook + patched F.relu, 2 per element
        self.relu6 = nn.ReLU6()
        self.silu = nn.SiLU()  # ptflops: patched F.silu only
        self.hswish = nn.Hardswish()  # counted by nobody
        self.pool = nn.MaxPool2d(2)
        self.up = nn.Upsample(scale_factor=2)
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.norm = nn.LayerNorm(8)
        self.fc = nn.Linear(8, 8)
        self.gelu = nn.GELU()
        self.softmax = nn.Softmax(dim=-1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """conv-bn-acts, pools, upsample, functional ops, tokens through linear, softmax and attention."""
        y = self.hswish(self.silu(self.relu6(self.relu(self.bn(self.conv(x))))))
        y = self.up(self.pool(y)) + F.relu(y)  # the add is an operator: ptflops cannot see it
        y = F.interpolate(y, scale_factor=0.5) * 2.0
        t = self.norm(y.flatten(2).transpose(1, 2))  # (1, 64, 8) tokens
        t = self.gelu(self.fc(t))
        a = self.softmax(t @ t.transpose(1, 2)) @ t  # functional products: thop counts them
        q = t.reshape(1, 64, 2, 4).transpose(1, 2)
        s = F.scaled_dot_product_attention(q, q, q)
        return self.gap(y).flatten(1) + a.mean() + s.mean()


def _assert_exact(result: engine.PeersResult) -> None:
    """Every live peer ran and its total equals cspcost's prediction, in total and per layer."""
    pytest.importorskip("thop")  # ultralytics-thop: the `peers` extra
    rows = {p["tool"]: p for p in result.peers}
    for tool in LIVE:
        assert rows[tool]["status"] == "ok", rows[tool]["error"]
        assert rows[tool]["residual"] == 0, (tool, rows[tool]["total"], rows[tool]["predicted"], rows[tool]["why"])
        assert sum(w["amount"] for w in rows[tool]["why"]) == rows[tool]["total"] - rows[tool]["cspcost_macs"]
    for layer in result.layers:
        for q in layer["peers"]:
            assert q["residual"] in (0, None), (layer["name"], q)


def test_every_rule_on_one_small_module() -> None:
    """Conv bias, BN, ReLU twice in ptflops, SiLU, Hardswish, pools, upsample, LayerNorm, GELU, softmax,
    @, attention: every peer's own total is predicted exactly."""
    torch.manual_seed(0)
    result = cspcost.peers(Every().eval(), (3, 16, 16))
    _assert_exact(result)
    rows = {p["tool"]: p for p in result.peers}
    why = {(p["tool"], w["rule"]): w["amount"] for p in result.peers for w in p["why"]}
    # ptflops counts nn.ReLU twice: its hook (8 x 16 x 16 = 2048 outputs) and the patched F.relu it calls,
    # plus the functional F.relu of the forward: 3 x 2048 in all.
    assert why[("ptflops", "ptflops: nn.ReLU, ReLU6, LeakyReLU, ELU, PReLU, GELU hooks 1 per element")] \
        == 2048 + 2048 + 64 * 8  # nn.ReLU, nn.ReLU6, nn.GELU on 64 x 8 tokens
    # conv bias: 8 x 16 x 16 = 2,048 adds in ptflops and ptflops-aten, none in fvcore or thop
    assert why[("ptflops", "ptflops: conv MACs + bias (nn.ConvNd hooks)")] == 2048
    assert why[("ptflops-aten", "ptflops-aten: aten.convolution MACs + bias")] == 2048
    # eval BN with affine on 2,048 elements: fvcore 2 each; thop 4 each, + LayerNorm 4 x 64 x 8
    assert why[("fvcore", "fvcore: eval batch_norm 1 or 2 per element")] == 2 * 2048
    assert why[("thop", "thop: norm modules 2 per element, 4 with affine (BN subclasses too)")] == 4 * 2048 + 4 * 512
    # attention's two products, 2 heads x 64 x 64 x (4 + 4) = 65,536 MACs, are in cspcost's MACs (and
    # thop's, so thop shows no difference); fvcore, ptflops-aten and FlopCounterMode (no CPU formula)
    # leave them out
    assert not any("scaled_dot_product" in rule for tool, rule in why if tool == "thop")
    for tool in ("fvcore", "ptflops-aten", "flopcountermode"):
        assert why[(tool, f"{tool}: aten.scaled_dot_product_attention not counted")] == -2 * 64 * 64 * 8
    # ptflops cannot see the @ operator: 64 x 64 x 8 + 64 x 64 x 8 MACs missing
    assert why[("ptflops", "ptflops: aten.matmul not counted")] == -2 * 64 * 64 * 8
    assert rows["deepspeed"]["status"] in ("missing", "ok")


class SelfAttention(nn.Module):
    """nn.MultiheadAttention as torchvision's ViT calls it."""

    def __init__(self, batch_first: bool) -> None:
        super().__init__()
        self.attention = nn.MultiheadAttention(16, 2, batch_first=batch_first)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Self-attention without the weights."""
        return self.attention(x, x, x, need_weights=False)[0]


@pytest.mark.parametrize("batch_first", [True, False])
def test_multihead_attention_fast_and_slow_path(batch_first: bool) -> None:
    """ptflops' and thop's MultiheadAttention hooks; batch_first in eval runs PyTorch's fused fast path on
    real tensors, one op that fvcore, ptflops-aten and FlopCounterMode cannot count (0)."""
    result = cspcost.peers(SelfAttention(batch_first).eval(), (5, 16))
    _assert_exact(result)
    rows = {p["tool"]: p for p in result.peers}
    # thop, 1 x 5 tokens of 16, 2 heads: 16 x (2 x 5 x 16 + 5 x 32) projections + 2 x 5 x 5 x 16 products
    # + softmax 2 heads x 5 rows x (3 x 5 - 1) = 5,120 + 800 + 140
    if batch_first:
        assert rows["thop"]["total"] == 5120 + 800 + 140
        assert rows["flopcountermode"]["total"] == 0 and rows["fvcore"]["total"] == 0


@pytest.mark.parametrize(("spec", "size"), [
    ("timm:test_efficientnet", (3, 64, 64)),  # SE, SiLU, BatchNormAct2d (a BN subclass)
    ("timm:test_vit", (3, 160, 160)),  # attention, LayerNorm, GELU
    ("torchvision:mobilenet_v3_small", (3, 64, 64)),  # hardswish, SE with AdaptiveAvgPool2d modules
])
def test_real_models_exact(spec: str, size: tuple[int, int, int]) -> None:
    """Small real models of three families: residual 0 for every peer, in total and per layer."""
    pytest.importorskip(spec.split(":")[0])
    _assert_exact(cspcost.peers(spec, size))


@pytest.mark.slow
def test_yolo_exact() -> None:
    """An Ultralytics YOLO (C2f, SPPF max pools, nn.Upsample, concat, DFL softmax) at 64 x 64."""
    pytest.importorskip("ultralytics")
    _assert_exact(cspcost.peers("ultralytics:yolov8n.yaml", (3, 64, 64)))


def test_missing_and_failing_peers_are_listed(monkeypatch: pytest.MonkeyPatch) -> None:
    """A peer not installed is listed as missing; one that fails on the model shows its one-line error."""
    pytest.importorskip("thop")
    monkeypatch.setattr(engine, "run_peer", engine.run_peer)  # the real runner, with one peer broken:
    from cspcost.crosscheck import runners

    def broken(model: nn.Module, x: torch.Tensor) -> tuple[int, None]:
        raise RuntimeError("cannot trace this\nsecond line")

    monkeypatch.setitem(runners.PEERS, "fvcore", ("fvcore", "fvcore", "MACs", broken))
    monkeypatch.setitem(runners.PEERS, "deepspeed", ("deepspeed", "no_such_module_here", "MACs", broken))
    result = cspcost.peers(nn.Sequential(nn.Conv2d(3, 4, 1)), (3, 8, 8), tools=["fvcore", "deepspeed", "thop"])
    rows = {p["tool"]: p for p in result.peers}
    assert rows["fvcore"]["status"] == "failed" and rows["fvcore"]["error"] == "RuntimeError: cannot trace this"
    assert rows["deepspeed"]["status"] == "missing" and rows["deepspeed"]["total"] is None
    assert rows["thop"]["residual"] == 0 and rows["thop"]["total"] == 4 * 3 * 8 * 8


def test_errors_are_one_line() -> None:
    """Unknown peer, weights on meta, bad depth: UsageError (exit 2 at the CLI)."""
    with pytest.raises(UsageError, match="unknown peer 'flops'"):
        cspcost.peers(nn.Conv2d(3, 4, 1), (3, 8, 8), tools=["flops"])
    with pytest.raises(UsageError, match="on meta"):
        cspcost.peers(nn.Conv2d(3, 4, 1, device="meta"), (3, 8, 8))
    with pytest.raises(UsageError, match="depth"):
        cspcost.peers(nn.Conv2d(3, 4, 1), (3, 8, 8), depth=0)


def test_refuses_weights_that_do_not_fit(monkeypatch: pytest.MonkeyPatch) -> None:
    """A spec whose weights would not fit in memory is refused before any weight is made."""
    monkeypatch.setattr(engine, "_available_bytes", lambda: 1000)
    with pytest.raises(UsageError, match="GiB is free.*flopcountermode and ptflops-aten could still run"):
        cspcost.peers("resnet18_cifar" if "resnet18_cifar" in cspcost.list_models() else cspcost.list_models()[0])


def test_rule_sets_refuse_double_claims_unless_stacked() -> None:
    """An op claimed twice is a bug in an ordinary set; a stacked set (ptflops) adds the counts."""
    rule = CountRule("t: a", ("aten.mm",), macs)
    with pytest.raises(ValueError, match="claimed"):
        RuleSet("t", (rule, rule), zero="")
    assert RuleSet("t", (rule, rule), zero="", stacked=True).rules_for is not None
    assert set(PEER_RULE_SETS) == set(LIVE)
    assert class_name(nn.Conv2d) == "nn.Conv2d"


def test_cli_json_shape(tmp_path) -> None:
    """``cspcost peers FILE.py:factory --format json``: the issue's shape; csv and md render too."""
    source = tmp_path / "tiny.py"
    source.write_text("from torch import nn\ndef build():\n    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU())\n")
    spec = f"{source}:build"
    result = runner.invoke(app, ["peers", spec, "--input", "3x8x8", "--format", "json", "-t", "fvcore", "-t", "ptflops"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert set(data) >= {"model", "input", "peers", "layers"} and data["input"] == [1, 3, 8, 8]
    row = data["peers"][0]
    assert set(row) >= {"tool", "version", "unit", "total", "predicted", "residual", "why"} and row["residual"] == 0
    for fmt in ("csv", "md", "table"):
        out = runner.invoke(app, ["peers", spec, "-i", "3x8x8", "-f", fmt, "-t", "thop"])
        assert out.exit_code == 0 and "thop" in out.stdout
    bad = runner.invoke(app, ["peers", spec, "-t", "nope"])
    assert bad.exit_code == 2 and "unknown peer" in bad.output


def test_peers_run_on_one_thread_and_restore_the_count(monkeypatch: pytest.MonkeyPatch) -> None:
    """A peer runs with one intra-op thread (counts do not depend on threads); the caller's count comes back."""
    from cspcost.crosscheck import runners

    seen: list[int] = []

    def spy(model: nn.Module, x: torch.Tensor) -> tuple[int, None]:
        seen.append(torch.get_num_threads())
        return 0, None

    monkeypatch.setitem(runners.PEERS, "fvcore", ("fvcore", "fvcore", "MACs", spy))
    before = torch.get_num_threads()
    runners.run_peer("fvcore", nn.Identity(), torch.zeros(1))
    assert seen == [1] and torch.get_num_threads() == before
