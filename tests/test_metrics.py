"""Invariants of the per-layer table and totals, conventions, and hand-worked totals."""
from __future__ import annotations

import pytest
from torch import nn

import cspcost
from cspcost.walk.metrics import SUMMED_COLUMNS
from nets import MixNet


@pytest.fixture(scope="module")
def mix():  # noqa: ANN201
    """MixNet analysed at 32x32."""
    model = MixNet()
    return model, cspcost.analyze(model, (3, 32, 32))


def test_layer_sums_equal_totals(mix) -> None:  # noqa: ANN001
    """Every summed column adds up to its total."""
    _, result = mix
    for key, total in result.totals.items():
        if key != "peak_activation_bytes":  # a property of the whole run, not a column sum
            assert result.layers[key].sum() == total, key
    assert (result.layers["cio_in_elems"] + result.layers["cio_out_elems"] == result.layers["cio_elems"]).all()
    assert not result.unsupported_ops


def test_intensity_is_flops_per_byte_moved(mix) -> None:  # noqa: ANN001
    """intensity = flops / (bytes_read + bytes_written), 0 where nothing moves."""
    _, result = mix
    layers = result.layers
    moved = layers["bytes_read"] + layers["bytes_written"]
    for row, traffic in zip(layers.itertuples(), moved):
        assert row.intensity == pytest.approx(row.flops / traffic if traffic else 0.0)
    conv = layers.set_index("name").loc["stem.0"]  # 3x3 conv 3->16 at 16x16, fp32, no bias
    reads = 4 * (3 * 32 * 32 + 16 * 3 * 9)
    writes = 4 * 16 * 16 * 16
    assert conv["intensity"] == pytest.approx(2 * 16 * 16 * 16 * 27 / (reads + writes))


def test_params_equal_module_parameters(mix) -> None:  # noqa: ANN001
    """params = sum(p.numel()); conv_weight_params = conv and linear weights only."""
    model, result = mix
    assert result.totals["params"] == sum(p.numel() for p in model.parameters())
    weights = sum(m.weight.numel() for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear)))
    assert result.totals["conv_weight_params"] == weights


def test_shared_parameters_counted_once() -> None:
    """A module used twice (tied weights) is counted once, as model.parameters() does."""
    conv = nn.Conv2d(4, 4, 3, padding=1)
    model = nn.Sequential(conv, conv)
    result = cspcost.analyze(model, (4, 8, 8))
    assert result.totals["params"] == 4 * 4 * 9 + 4
    assert result.totals["macs"] == 2 * (4 * 64 * 36)  # but it runs twice


def test_shares_sum_to_one(mix) -> None:  # noqa: ANN001
    """Each *_share column sums to 1."""
    _, result = mix
    for key in ("macs", "flops", "params", "cio_elems"):
        assert result.layers[f"{key}_share"].sum() == pytest.approx(1.0)


@pytest.mark.parametrize("depth", [1, 2])
def test_depth_aggregation_keeps_totals(depth: int) -> None:
    """Aggregating at any depth keeps every sum; names are truncated to that depth."""
    full = cspcost.analyze(MixNet(), (3, 32, 32))
    agg = cspcost.analyze(MixNet(), (3, 32, 32), depth=depth)
    for key in SUMMED_COLUMNS:
        assert agg.layers[key].sum() == full.layers[key].sum()
    assert all(name.count(".") < depth for name in agg.layers["name"])
    if depth == 1:
        assert agg.layers.set_index("name").loc["se", "type"] == "SqueezeExcite"


def test_hand_worked_chain() -> None:
    """conv3x3 (3->8) on 3x16x16 then maxpool 2 then conv1x1 (8->4), by hand.

    conv1: 8x16x16 = 2048 outputs x 27 = 55,296 MACs; CIO 768 + 2048 = 2,816.
    pool:  8x8x8 = 512 outputs x 4 = 2,048 flops; CIO 2048 + 512 = 2,560 (cspnet only).
    conv2: 4x8x8 = 256 outputs x 8 = 2,048 MACs; CIO 512 + 256 = 768.
    """
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.MaxPool2d(2),
                          nn.Conv2d(8, 4, 1, bias=False))
    hardnet = cspcost.analyze(model, (3, 16, 16))
    assert hardnet.totals["macs"] == 55_296 + 2_048
    assert hardnet.totals["flops"] == 2 * (55_296 + 2_048) + 2_048
    assert hardnet.totals["cio_elems"] == 2_816 + 768
    assert cspcost.analyze(model, (3, 16, 16), cio="cspnet").totals["cio_elems"] == 2_816 + 2_560 + 768


def test_darknet_convention() -> None:
    """darknet: conv weights only; BN, activation, global pool and adds free; pools' windows count."""
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8),
                          nn.LeakyReLU(0.1), nn.MaxPool2d(2), nn.Conv2d(8, 10, 1),
                          nn.AdaptiveAvgPool2d(1))
    result = cspcost.analyze(model, (3, 16, 16), convention="darknet")
    # conv1 2048 x 27 = 55,296 MACs; pool 512 x 4 = 2,048; conv2 10x8x8 = 640 x 8 = 5,120 MACs
    assert result.totals["flops"] == 2 * 55_296 + 2_048 + 2 * 5_120
    assert result.totals["params"] == 8 * 27 + 10 * 8  # no BN, no bias
    # CIO (Fig. 8): conv1 768+2048, pool 2048+512, conv2 512+640, global pool 640+10
    assert result.totals["cio_elems"] == 2_816 + 2_560 + 1_152 + 650
    assert "darknet" in result.convention.label()


def test_bottleneck(mix) -> None:  # noqa: ANN001
    """The computational bottleneck is the layer with the largest FLOPs, whatever the --depth."""
    _, result = mix
    name, flops = result.bottleneck
    assert flops == result.layers["flops"].max()
    assert name == result.layers.loc[result.layers["flops"].idxmax(), "name"]
    assert cspcost.analyze(MixNet(), (3, 32, 32), depth=1).bottleneck == (name, flops)


def test_json_shape(mix) -> None:  # noqa: ANN001
    """to_dict carries the documented keys."""
    _, result = mix
    data = result.to_dict()
    assert set(data) >= {"model", "input_shape", "totals", "layers", "unsupported_ops", "versions"}
    assert set(data["totals"]) >= {"macs", "flops", "params", "conv_weight_params", "cio_elems",
                                   "bytes_read", "bytes_written"}
    assert set(data["layers"][0]) >= {"name", "type", "macs", "flops", "params", "cio_elems", "out_shape"}


def test_peak_activation_memory_by_hand() -> None:
    """conv 3->8, in-place ReLU, conv 8->4 on 3x16x16, each tensor freed after its last use.

    step 0: input 3x256 + conv1 out 8x256 alive = 11 x 256 x 4 B = 11,264
    step 1: ReLU in place: 8x256 x 4 = 8,192
    step 2: conv1 out 8x256 + conv2 out 4x256 = 12 x 256 x 4 = 12,288 (the peak)
    """
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(inplace=True), nn.Conv2d(8, 4, 1))
    assert cspcost.analyze(model, (3, 16, 16)).totals["peak_activation_bytes"] == 12_288


def test_peak_counts_views_once_and_skips_weights() -> None:
    """A view shares its storage (no new memory); weights are not activations.

    input 4x4x4 = 64 floats = 256 B; its flattened view costs nothing; the linear output 8 floats = 32 B.
    """
    fc = nn.Linear(64, 8)
    model = nn.Sequential(nn.Flatten(), fc)
    assert cspcost.analyze(model, (4, 4, 4)).totals["peak_activation_bytes"] == 4 * 64 + 4 * 8
