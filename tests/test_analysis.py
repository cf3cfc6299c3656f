"""walk/analysis.py: AnalysisResult's queries (total, by_module, by_operator) and its typed totals."""
from __future__ import annotations

import pytest
import torch
from torch import nn

import cspcost
from cspcost.errors import UsageError
from cspcost.walk.records import LayerRow, Totals


class Head(nn.Module):
    """A conv block and a classifier, so that modules nest."""

    def __init__(self) -> None:
        super().__init__()
        self.block = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.ReLU())
        self.fc = nn.Linear(512, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """conv-relu, flatten, fc."""
        return self.fc(self.block(x).flatten(1))


@pytest.fixture(scope="module")
def result() -> cspcost.AnalysisResult:
    """Head at 3x8x8."""
    return cspcost.analyze(Head(), (3, 8, 8))


def test_total_by_module_and_operator_by_hand(result: cspcost.AnalysisResult) -> None:
    """conv 3->8 3x3 pad 1 on 8x8: 512 outputs x 27 = 13,824 MACs; fc 512->10: 5,120 MACs.
    Params: conv 216, fc 5,120 + 10 bias = 5,130."""
    macs = result.by_operator("macs")
    assert {op: n for op, n in macs.items() if n} == {"aten.conv2d": 13_824, "aten.linear": 5_120}
    assert set(macs) >= {"aten.relu"}  # every op listed, zero or not
    by_module = result.by_module("macs")
    assert (by_module["block.0"], by_module["block"], by_module["fc"], by_module[""]) == (13_824, 13_824, 5_120, 18_944)
    assert result.total("macs") == 18_944 == result.total("macs", "")
    assert result.total("macs", "block") == 13_824
    assert result.by_module("params") == {"": 5_346, "block": 216, "block.0": 216, "block.1": 0, "fc": 5_130}


def test_queries_add_up_to_the_totals(result: cspcost.AnalysisResult) -> None:
    """by_module's root and by_operator's sum are the model's totals, for every summed column."""
    for metric in ("macs", "flops", "cio_elems", "bytes_read", "bytes_written"):
        assert result.by_module(metric)[""] == result.totals[metric] == sum(result.by_operator(metric).values())
    assert result.by_module("params")[""] == result.totals["params"] == sum(p.numel() for p in Head().parameters())


def test_queries_refuse_unknown_names(result: cspcost.AnalysisResult) -> None:
    """An unknown metric or module is one usage error naming the choices."""
    with pytest.raises(UsageError, match="no total 'gflops'"):
        result.total("gflops")
    with pytest.raises(UsageError, match="no module 'head'"):
        result.total("flops", "head")
    with pytest.raises(UsageError, match="no layer column"):
        result.by_module("latency_ms")
    with pytest.raises(UsageError, match="no op column"):
        result.by_operator("params")


def test_totals_and_layer_rows_are_typed_records(result: cspcost.AnalysisResult) -> None:
    """totals has exactly the Totals keys (the JSON keys); the layer frame holds every LayerRow column."""
    assert list(result.totals) == list(Totals.__annotations__)
    assert set(LayerRow.__annotations__) <= set(result.layers.columns)
