"""One test per cost rule, on a single op, with the arithmetic written beside each number."""
from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import cspcost
from cspcost.errors import UnsupportedOpsError, UnsupportedOpsWarning
from cspcost.walk.rules import RULES, free, rule
from nets import Single


def run(fn, *shapes, modules=(), **kwargs):  # noqa: ANN001, ANN201
    """Analyse ``fn`` applied to zero tensors of ``shapes`` (on meta)."""
    return cspcost.analyze(Single(fn, *modules), inputs=[torch.zeros(s) for s in shapes], **kwargs)


def op(result, name: str) -> dict:  # noqa: ANN001
    """The single priced op called ``name``."""
    rows = [r for r in result.ops if r["op"] == name]
    assert len(rows) == 1, [r["op"] for r in result.ops]
    return rows[0]


def conv_op(result) -> dict:  # noqa: ANN001
    """The single conv op (aten.conv1d/2d/3d or a transposed one)."""
    rows = [r for r in result.ops if r["kind"] == "conv"]
    assert len(rows) == 1
    return rows[0]


# ------------------------------------------------------------------------------ convolution
@pytest.mark.parametrize("module, shape, macs", [
    # out 16x16x16 = 4096 positions, each (8 in-channels x 3x3) = 72 MACs -> 294,912
    (nn.Conv2d(8, 16, 3, stride=2, padding=1), (1, 8, 32, 32), 4096 * 72),
    # grouped: 16x16x16 outputs, each (8/4 in-channels x 9) = 18 MACs -> 73,728
    (nn.Conv2d(8, 16, 3, padding=1, groups=4), (1, 8, 16, 16), 4096 * 18),
    # depthwise: 8x16x16 = 2048 outputs, each 1 x 9 MACs -> 18,432
    (nn.Conv2d(8, 8, 3, padding=1, groups=8), (1, 8, 16, 16), 2048 * 9),
    # dilated 3x3 (dilation 2, padding 2) keeps 10x10: 4x100 = 400 outputs x (4 x 9) -> 14,400
    (nn.Conv2d(4, 4, 3, padding=2, dilation=2), (1, 4, 10, 10), 400 * 36),
    # conv1d: 6 x 16 outputs, each 4 x 5 MACs -> 1,920
    (nn.Conv1d(4, 6, 5), (1, 4, 20), 96 * 20),
    # conv3d: 4 x 4x4x4 = 256 outputs, each 2 x 27 -> 13,824
    (nn.Conv3d(2, 4, 3, padding=1), (1, 2, 4, 4, 4), 256 * 54),
    # batch 2 doubles everything: 2 x 294,912
    (nn.Conv2d(8, 16, 3, stride=2, padding=1), (2, 8, 32, 32), 2 * 4096 * 72),
    # transposed 2x2/2, 8 -> 4: each of 8x5x5 = 200 inputs scatters to 4 x 2x2 = 16 outputs -> 3,200
    (nn.ConvTranspose2d(8, 4, 2, stride=2), (1, 8, 5, 5), 200 * 16),
    # transposed grouped 3x3, 8 -> 8, groups 2: 200 inputs x (8/2 x 9 = 36) -> 7,200
    (nn.ConvTranspose2d(8, 8, 3, padding=1, groups=2), (1, 8, 5, 5), 200 * 36),
])
def test_conv_macs(module: nn.Module, shape: tuple, macs: int) -> None:
    """Conv MACs follow N*C_out*H_out*W_out*(C_in/groups)*k^2; FLOPs are twice that, bias free."""
    result = run(module, shape, modules=(module,))
    row = conv_op(result)
    assert row["macs"] == macs
    assert row["flops"] == 2 * macs


def test_conv_cio_and_bytes() -> None:
    """CIO = input + output elements; bytes = (input + weight + bias) read, output written."""
    conv = nn.Conv2d(8, 16, 3, stride=2, padding=1)
    row = conv_op(run(conv, (1, 8, 32, 32), modules=(conv,)))
    assert row["cio_elems"] == 8 * 32 * 32 + 16 * 16 * 16  # 8,192 + 4,096 = 12,288
    assert row["bytes_read"] == 4 * (8 * 32 * 32 + 16 * 8 * 9 + 16)  # input + weight + bias, fp32
    assert row["bytes_written"] == 4 * 16 * 16 * 16


def test_convolution_low_level_op_is_priced_like_conv2d() -> None:
    """aten.convolution (what other torch versions dispatch) gets the same MACs."""
    w = torch.zeros(16, 8, 3, 3, device="meta")
    result = run(lambda x: torch.ops.aten.convolution(x, w, None, [2, 2], [1, 1], [1, 1], False, [0, 0], 1),
                 (1, 8, 32, 32))
    assert op(result, "aten.convolution")["macs"] == 4096 * 72


# --------------------------------------------------------------------------- linear, matmul
@pytest.mark.parametrize("fn, shapes, name, macs", [
    (lambda x: F.linear(x, torch.zeros(10, 16, device=x.device)), [(2, 16)], "aten.linear", 2 * 16 * 10),
    (lambda x: F.linear(x, torch.zeros(4, 8, device=x.device)), [(2, 5, 8)], "aten.linear", 2 * 5 * 8 * 4),
    (torch.mm, [(3, 4), (4, 5)], "aten.mm", 3 * 4 * 5),
    (lambda b, x, y: torch.addmm(b, x, y), [(5,), (3, 4), (4, 5)], "aten.addmm", 3 * 4 * 5),
    (torch.bmm, [(2, 3, 4), (2, 4, 5)], "aten.bmm", 2 * 3 * 4 * 5),
    # broadcast: out (2,5,3,6) = 180 elements x contracted 4 -> 720
    (torch.matmul, [(2, 1, 3, 4), (5, 4, 6)], "aten.matmul", 180 * 4),
    (lambda a, b: torch.einsum("bij,bjk->bik", a, b), [(2, 3, 4), (2, 4, 5)], "aten.einsum", 120),
    (lambda a, b: torch.einsum("...ij,...jk", a, b), [(2, 3, 4), (2, 4, 5)], "aten.einsum", 120),
])
def test_matmul_family(fn, shapes: list, name: str, macs: int) -> None:  # noqa: ANN001
    """Output elements times the contracted length; FLOPs twice that."""
    row = op(run(fn, *shapes), name)
    assert (row["macs"], row["flops"]) == (macs, 2 * macs)


def test_linear_module_is_cio_counted() -> None:
    """--cio hardnet-fc: an FC layer as a 1x1 conv on a 1x1 map, its input and output (16 + 10);
    --cio hardnet (HarDNet's definition) counts conv layers only."""
    fc = nn.Linear(16, 10)
    assert op(run(fc, (1, 16), modules=(fc,), cio="hardnet-fc"), "aten.linear")["cio_elems"] == 26
    assert op(run(fc, (1, 16), modules=(fc,)), "aten.linear")["cio_elems"] == 0


# ------------------------------------------------------------------------------ normalisation
def test_batch_norm_eval_is_scale_and_shift() -> None:
    """BN at inference: a multiply and an add per element: 2 x 8x16x16 = 4,096 flops, no MACs."""
    bn = nn.BatchNorm2d(8)
    row = op(run(bn, (1, 8, 16, 16), modules=(bn,)), "aten.batch_norm")
    assert (row["macs"], row["flops"], row["kind"]) == (0, 4096, "bn")


def test_fuse_bn_folds_only_bn_after_conv() -> None:
    """--fuse-bn: the BN after the conv costs nothing; a BN with no conv before it still costs."""
    conv, bn1, bn2 = nn.Conv2d(4, 4, 1), nn.BatchNorm2d(4), nn.BatchNorm2d(4)
    result = run(lambda x: bn2(conv(bn1(x))), (1, 4, 8, 8), modules=(conv, bn1, bn2), fuse_bn=True)
    flops = [r["flops"] for r in result.ops if r["op"] == "aten.batch_norm"]
    assert flops == [2 * 256, 0]  # the first BN (before the conv) still costs 2 x 256


@pytest.mark.parametrize("module, per_elem", [
    (nn.LayerNorm(8), 8),  # mean 1 + variance 3 + normalise 2 + affine 2
    (nn.LayerNorm(8, elementwise_affine=False), 6),
    (nn.GroupNorm(2, 8), 8),
    (nn.InstanceNorm2d(8), 6),  # statistics, no affine
    (nn.InstanceNorm2d(8, affine=True), 8),
])
def test_runtime_statistics_norms(module: nn.Module, per_elem: int) -> None:
    """Norms that compute statistics at run time: 6 flops/element, plus 2 when affine."""
    shape = (2, 4, 8) if isinstance(module, nn.LayerNorm) else (2, 8, 4, 4)  # 64 or 256 elements
    result = run(module, shape, modules=(module,))
    assert result.totals["flops"] == per_elem * (64 if len(shape) == 3 else 256)


# ------------------------------------------------------------------- activations, element-wise
@pytest.mark.parametrize("module, per_elem", [
    (nn.ReLU(), 1), (nn.ReLU(inplace=True), 1), (nn.LeakyReLU(0.1), 2), (nn.ReLU6(), 2),
    (nn.Hardtanh(), 2), (nn.ELU(), 3), (nn.Sigmoid(), 3), (nn.SiLU(), 4), (nn.Hardsigmoid(), 4),
    (nn.Mish(), 5), (nn.GELU(), 5), (nn.Hardswish(), 5), (nn.Tanh(), 1),
    (nn.Softmax(dim=1), 5), (nn.LogSoftmax(dim=1), 5),
])
def test_activations_per_element(module: nn.Module, per_elem: int) -> None:
    """Each activation costs its documented operation count per element of a 2x8x4x4 tensor."""
    result = run(module, (2, 8, 4, 4), modules=(module,))
    assert result.totals["flops"] == per_elem * 256
    assert result.totals["macs"] == 0


@pytest.mark.parametrize("fn, name", [
    (torch.add, "aten.add"), (torch.sub, "aten.sub"), (torch.mul, "aten.mul"),
    (torch.div, "aten.div"), (torch.maximum, "aten.maximum"),
])
def test_binary_elementwise(fn, name: str) -> None:  # noqa: ANN001
    """One flop per output element: SE-style broadcast (1,8,4,4) x (1,8,1,1) -> 128 flops."""
    assert op(run(fn, (1, 8, 4, 4), (1, 8, 1, 1)), name)["flops"] == 128


def test_inplace_residual_add() -> None:
    """x += y: 1 flop per element; reads both operands, writes the result."""
    row = op(run(lambda x, y: x.add_(y), (1, 4, 4, 4), (1, 4, 4, 4)), "aten.add_")
    assert (row["flops"], row["bytes_read"], row["bytes_written"]) == (64, 2 * 256, 256)


def test_maxout_channelwise_max() -> None:
    """Maxout over channel groups (amax over a split dim): 1 flop per input element."""
    row = op(run(lambda x: x.view(1, 2, 4, 4, 4).amax(1), (1, 8, 4, 4)), "aten.amax")
    assert row["flops"] == 128


# -------------------------------------------------------------------------------- pooling
def test_max_pool() -> None:
    """3x3/2 pad 1 on 4x8x8 -> 4x4x4 = 64 outputs x 9 comparisons = 576 (darknet's size^2*C*H*W)."""
    pool = nn.MaxPool2d(3, 2, 1)
    result = run(pool, (1, 4, 8, 8), modules=(pool,), cio="cspnet")
    row = [r for r in result.ops if r["kind"] == "maxpool"][0]
    assert row["flops"] == 576
    assert row["cio_elems"] == 256 + 64


def test_max_pool_not_in_hardnet_cio() -> None:
    """HarDNet's CIO counts conv layers only: a pool adds nothing."""
    pool = nn.MaxPool2d(2)
    assert run(pool, (1, 4, 8, 8), modules=(pool,)).totals["cio_elems"] == 0


def test_avg_pool() -> None:
    """2x2/2 on 4x8x8 -> 64 outputs x 4 adds = 256."""
    pool = nn.AvgPool2d(2)
    assert op(run(pool, (1, 4, 8, 8), modules=(pool,)), "aten.avg_pool2d")["flops"] == 256


def test_global_pools() -> None:
    """Adaptive avg pool to 1x1 and a spatial mean: each input element once (4x8x8 = 256)."""
    pool = nn.AdaptiveAvgPool2d(1)
    row = op(run(pool, (1, 4, 8, 8), modules=(pool,)), "aten.adaptive_avg_pool2d")
    assert (row["flops"], row["kind"]) == (256, "globalpool")
    row = op(run(lambda x: x.mean((2, 3)), (1, 4, 8, 8), cio="cspnet"), "aten.mean")
    assert (row["flops"], row["kind"], row["cio_elems"]) == (256, "globalpool", 256 + 4)
    row = op(run(lambda x: x.mean(1), (1, 4, 8, 8)), "aten.mean")
    assert (row["flops"], row["kind"]) == (256, "reduce")


def test_sum_reduction() -> None:
    """One add per input element."""
    assert op(run(lambda x: x.sum((2, 3)), (1, 4, 8, 8)), "aten.sum")["flops"] == 256


# ------------------------------------------------------------------------------ resizing
def test_upsample_nearest_moves_bytes_only() -> None:
    """Nearest x2 of 4x4x4: 0 flops; reads 64 elements, writes 256 (fp32)."""
    row = op(run(lambda x: F.interpolate(x, scale_factor=2), (1, 4, 4, 4)), "aten.upsample_nearest2d")
    assert (row["flops"], row["bytes_read"], row["bytes_written"]) == (0, 4 * 64, 4 * 256)


def test_upsample_bilinear() -> None:
    """Bilinear x2 of 4x4x4 -> 256 outputs x 7 flops (4 mul + 3 add) = 1,792."""
    row = op(run(lambda x: F.interpolate(x, scale_factor=2, mode="bilinear"), (1, 4, 4, 4)),
             "aten.upsample_bilinear2d")
    assert row["flops"] == 1792


# ---------------------------------------------------------------------------- data movement
def test_cat_moves_bytes() -> None:
    """Concat of 4x4x4 and 2x4x4: no flops; 96 elements read and written (fp32: 384 bytes)."""
    row = op(run(lambda a, b: torch.cat([a, b], 1), (1, 4, 4, 4), (1, 2, 4, 4)), "aten.cat")
    assert (row["flops"], row["bytes_read"], row["bytes_written"]) == (0, 384, 384)


def test_views_are_free() -> None:
    """view, permute, slice, chunk: no flops, no bytes."""
    result = run(lambda x: x.view(1, 4, 16).permute(0, 2, 1)[:, :8].chunk(2, 1)[0], (1, 4, 4, 4))
    assert result.totals["flops"] == result.totals["bytes_read"] == result.totals["bytes_written"] == 0
    assert not result.unsupported_ops


def test_pad_moves_bytes() -> None:
    """Pad 4x4x4 by 1 on each side: reads 64 elements, writes 4x6x6 = 144."""
    row = op(run(lambda x: F.pad(x, (1, 1, 1, 1)), (1, 4, 4, 4)), "aten.pad")
    assert (row["bytes_read"], row["bytes_written"]) == (4 * 64, 4 * 144)


def test_contiguous_copies_only_when_needed() -> None:
    """contiguous() on a contiguous tensor is a no-op; on a permuted one it copies 64 elements."""
    assert run(lambda x: x.contiguous(), (1, 4, 4, 4)).totals["bytes_written"] == 0
    result = run(lambda x: x.permute(0, 2, 3, 1).contiguous(), (1, 4, 4, 4))
    assert result.totals["bytes_written"] == 4 * 64


# ------------------------------------------------------------------------ registry behaviour
def test_unsupported_ops_are_reported_not_silent() -> None:
    """An op with no rule is listed with its count, and --strict makes it an error."""
    with pytest.warns(UnsupportedOpsWarning, match="aten.special_bessel_j0 x2") as caught:
        result = run(lambda x: torch.special.bessel_j0(torch.special.bessel_j0(x)), (1, 4))
    assert result.unsupported_ops == {"aten.special_bessel_j0": 2}
    assert len(caught) == 1  # one warning per call, naming every op
    with pytest.raises(UnsupportedOpsError, match="aten.special_bessel_j0 x1"):
        run(torch.special.bessel_j0, (1, 4), strict=True)


def test_duplicate_registration_raises() -> None:
    """One rule per op: registering an op twice is an error, for rules and free ops alike."""
    with pytest.raises(ValueError, match="already has a rule"):
        rule("aten.conv2d", kind="conv")(lambda ev: None)
    with pytest.raises(ValueError, match="already has a rule"):
        free("aten.view", kind="view", reason="again")


def test_every_rule_documents_its_convention() -> None:
    """Each rule has a one-line convention; each free op a reason."""
    for r in RULES.values():
        assert r.doc.strip(), r.op
        if r.doc.startswith("free:"):
            assert r.free_reason


# -------------------------------------------------------------------------------- attention
def _fcm_macs(fn, *tensors) -> int:  # noqa: ANN001
    """FlopCounterMode's MACs (its flops / 2) for ``fn`` on ``tensors``."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        fn(*tensors)
    return counter.get_total_flops() // 2


def test_sdpa_macs_match_flop_counter() -> None:
    """SDPA: batch x heads x L x S x (E + Ev) MACs; flops add 6 per score (scale + softmax)."""
    shapes = [(2, 3, 5, 8), (2, 3, 7, 8), (2, 3, 7, 4)]  # q [B,H,L,E], k [B,H,S,E], v [B,H,S,Ev]
    row = op(run(F.scaled_dot_product_attention, *shapes), "aten.scaled_dot_product_attention")
    # 2 x 3 x 5 x 7 = 210 scores, each (8 + 4) MACs -> 2,520
    assert row["macs"] == 210 * 12
    assert row["flops"] == 2 * 2520 + 6 * 210
    assert row["macs"] == _fcm_macs(F.scaled_dot_product_attention, *(torch.zeros(s) for s in shapes))


def test_sdpa_causal_and_masked() -> None:
    """Causal attention is counted in full (as FlopCounterMode); a mask adds 1 flop per score."""
    q = (1, 2, 4, 8)  # 1 x 2 x 4 x 4 = 32 scores, 16 MACs each -> 512
    causal = op(run(lambda a, b, c: F.scaled_dot_product_attention(a, b, c, is_causal=True), q, q, q),
                "aten.scaled_dot_product_attention")
    assert causal["macs"] == 512 and causal["flops"] == 2 * 512 + 6 * 32
    masked = op(run(lambda a, b, c, m: F.scaled_dot_product_attention(a, b, c, attn_mask=m), q, q, q, (4, 4)),
                "aten.scaled_dot_product_attention")
    assert masked["macs"] == 512 and masked["flops"] == 2 * 512 + 7 * 32


@pytest.mark.parametrize("backend", ["_scaled_dot_product_attention_math",
                                     "_scaled_dot_product_flash_attention_for_cpu"])
def test_sdpa_backends(backend: str) -> None:
    """The backends torch dispatches to are priced like the front door: 2 x 4 x 6 x 6 x 16 MACs."""
    fn = getattr(torch.ops.aten, backend)
    row = op(run(lambda a, b, c: fn(a, b, c)[0], (2, 4, 6, 8), (2, 4, 6, 8), (2, 4, 6, 8), device="cpu"),
             f"aten.{backend}")
    assert row["macs"] == 2 * 4 * 6 * 6 * 16


# ------------------------------------------------------------------------ recurrent layers
@pytest.mark.parametrize("module, macs, flops", [
    # 2 layers x 2 directions; weights: layer 0 (20x4 + 20x5) x 2 = 360, layer 1 (20x10 + 20x5) x 2
    # = 600; 7 steps x batch 2 = 14 rows -> 14 x 960 MACs; gates 14 rows x 20 units x (19 + 8)
    (nn.LSTM(4, 5, num_layers=2, bidirectional=True), 14 * 960, 2 * 14 * 960 + 14 * 20 * 27),
    # GRU 15x4 + 15x5 = 135 per row -> 1,890; gates 14 x 5 units x (15 + 6)
    (nn.GRU(4, 5), 14 * 135, 2 * 14 * 135 + 14 * 5 * 21),
    # RNN without biases: 5x4 + 5x5 = 45 per row; 14 x 5 units x 2
    (nn.RNN(4, 5, bias=False), 14 * 45, 2 * 14 * 45 + 14 * 5 * 2),
    # LSTM with proj_size 3: W_ih 24x4 + W_hh 24x3 + W_hr 3x6 = 186 per row; 6 hidden units
    (nn.LSTM(4, 6, proj_size=3), 14 * 186, 2 * 14 * 186 + 14 * 6 * 27),
])
def test_recurrent_layers(module: nn.Module, macs: int, flops: int) -> None:
    """Gate matmuls per layer, direction and step, as FlopCounterMode's decomposition counts."""
    result = run(lambda x: module(x)[0], (7, 2, 4), modules=(module,))
    row = next(r for r in result.ops if r["macs"])
    assert (row["macs"], row["flops"]) == (macs, flops)
    on_meta = copy.deepcopy(module).to("meta")  # on meta FlopCounterMode sees the gate matmuls
    with torch.no_grad():
        assert _fcm_macs(on_meta, torch.zeros(7, 2, 4, device="meta")) == macs


def test_lstm_cell() -> None:
    """One step: batch 2 x (20x4 + 20x5) = 360 MACs; gates 2 rows x 5 units x (19 + 8)."""
    cell = nn.LSTMCell(4, 5)
    row = op(run(lambda x: cell(x)[0], (2, 4), modules=(cell,)), "aten.lstm_cell")
    assert (row["macs"], row["flops"]) == (360, 720 + 2 * 5 * 27)


# ------------------------------------------------------------------------- sampling and boxes
@pytest.mark.parametrize("mode, per_output", [("bilinear", 7), ("nearest", 0), ("bicubic", 31)])
def test_grid_sampler(mode: str, per_output: int) -> None:
    """18 outputs (1 x 2 x 3x3) at the mode's count, plus 2 flops per grid coordinate (18)."""
    fn = lambda x, g: F.grid_sample(x, g, mode=mode, align_corners=False)  # noqa: E731
    row = op(run(fn, (1, 2, 4, 4), (1, 3, 3, 2)), "aten.grid_sampler")
    assert row["flops"] == 18 * per_output + 2 * 18


class _Boxes(nn.Module):
    """roi_align or nms on fixed boxes (values matter: run on the CPU)."""

    def __init__(self, which: str, sampling_ratio: int = 2) -> None:
        super().__init__()
        self.which, self.ratio = which, sampling_ratio

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The op on 4 boxes (nms) or 1 box (roi_align)."""
        import torchvision

        boxes = torch.tensor([[0.0, 0, 4, 4], [1, 1, 5, 5], [0, 0, 2, 2], [3, 3, 7, 7]])
        if self.which == "nms":
            return torchvision.ops.nms(boxes, x.flatten()[:4] + torch.arange(4.0), 0.5)
        return torchvision.ops.roi_align(x, [boxes[:1]], 2, 1.0, self.ratio)


@pytest.mark.parametrize("ratio", [2, -1])
def test_roi_align(ratio: int) -> None:
    """12 output bins (1 roi x 3 ch x 2x2), each 2x2 bilinear samples (7) summed, averaged: 33."""
    pytest.importorskip("torchvision")
    result = cspcost.analyze(_Boxes("roi_align", ratio), (3, 8, 8), device="cpu")
    assert op(result, "torchvision.roi_align")["flops"] == 12 * (8 * 4 + 1)


def test_nms_worst_case() -> None:
    """4 boxes: sort 4 x 2, areas 3 x 4, IoU 12 x 6 pairs -> 92."""
    pytest.importorskip("torchvision")
    result = cspcost.analyze(_Boxes("nms"), (1, 2, 2), device="cpu")
    assert op(result, "torchvision.nms")["flops"] == 4 * 2 + 3 * 4 + 12 * 6


# ----------------------------------------------------------------- norms, scans, sorts, logic
@pytest.mark.parametrize("fn, shapes, name, flops", [
    # L2 over 8 of (2, 8): square + add per input (32), sqrt per output (2)
    (lambda x: torch.linalg.vector_norm(x, dim=1), [(2, 8)], "aten.linalg_vector_norm", 34),
    (lambda x: torch.linalg.vector_norm(x, ord=1, dim=1), [(2, 8)], "aten.linalg_vector_norm", 32),
    (lambda x: torch.linalg.vector_norm(x, ord=3, dim=1), [(2, 8)], "aten.linalg_vector_norm", 50),
    (lambda x: torch.cumsum(x, 1), [(2, 6)], "aten.cumsum", 12),  # 1 add per element
    (torch.sin, [(2, 6)], "aten.sin", 12),  # transcendental: 1 per element
    (torch.cos, [(2, 6)], "aten.cos", 12),
    (torch.log2, [(2, 6)], "aten.log2", 12),
    (lambda x: torch.remainder(x, 3), [(2, 6)], "aten.remainder", 12),
    (lambda x: torch.topk(x, 3).values, [(2, 10)], "aten.topk", 20 * 2),  # ceil(log2 3) = 2 per input
    (lambda x: torch.sort(x).values, [(2, 10)], "aten.sort", 20 * 4),  # ceil(log2 10) = 4 per element
    (lambda a, b: a == b, [(2, 3), (2, 3)], "aten.eq", 6),  # 1 comparison per element
    (lambda a, b: a > b, [(2, 3), (1, 3)], "aten.gt", 6),  # broadcast output
    (lambda a, b: (a > 0) & (b > 0), [(2, 3), (2, 3)], "aten.__and__", 6),
    (lambda x: ~(x > 0), [(2, 3)], "aten.bitwise_not", 6),
    (lambda x: (x > 0).all(), [(2, 3)], "aten.all", 6),  # 1 per input element
    (lambda x: F.fold(x, (4, 4), 2, stride=1), [(1, 8, 9)], "aten.col2im", 72),  # 1 add per column elem
])
def test_cheap_per_element_rules(fn, shapes: list, name: str, flops: int) -> None:  # noqa: ANN001
    """Ops with a stated per-element count."""
    assert op(run(fn, *shapes), name)["flops"] == flops


def test_unique_on_cpu() -> None:
    """8 elements: sort 8 x 3 comparisons + 8 neighbour tests."""
    result = cspcost.analyze(Single(lambda x: torch.unique(x.flatten())), (2, 4), device="cpu")
    assert op(result, "aten._unique2")["flops"] == 8 * 3 + 8


@pytest.mark.parametrize("fn, shapes, name, moved", [
    # a gather of 2 rows of (4, 3) by an index: reads x (48 B) + index (16 B), writes 2 x 3 floats
    (lambda x: x[torch.tensor([0, 2])], [(4, 3)], "aten.index", (48 + 16, 24)),
    (lambda x: torch.gather(x, 1, torch.zeros(4, 2, dtype=torch.long)), [(4, 3)], "aten.gather", (48 + 64, 32)),
    (lambda x: x.repeat_interleave(2, dim=0), [(4, 3)], "aten.repeat_interleave", (48, 96)),
    (lambda x: F.unfold(x, 2), [(1, 2, 3, 3)], "aten.im2col", (72, 4 * 2 * 4 * 4)),  # 8 rows x 4 cols
    (lambda x: x.type_as(torch.zeros(1, dtype=torch.float16)), [(4, 3)], "aten.type_as", (48 + 2, 24)),  # reads the other tensor (2 B)
    (lambda x: x.type_as(torch.zeros(1)), [(4, 3)], "aten.type_as", (0, 0)),  # same dtype: no copy
    (lambda x: x.reshape_as(torch.zeros(3, 4)), [(4, 3)], "aten.reshape_as", (0, 0)),  # contiguous: a view
])
def test_data_movement_is_free_arithmetic(fn, shapes: list, name: str, moved: tuple) -> None:  # noqa: ANN001
    """Gathers, scatters, casts and patch copies: 0 flops, their bytes counted (on the CPU)."""
    result = cspcost.analyze(Single(fn), inputs=[torch.zeros(s) for s in shapes], device="cpu")
    row = op(result, name)
    assert (row["flops"], row["bytes_read"], row["bytes_written"]) == (0, *moved)


@pytest.mark.parametrize("fn, name", [
    (lambda x: F.dropout(x, 0.5, training=False, inplace=True), "aten.dropout_"),
    (lambda x: x.detach_(), "aten.detach_"),
    (lambda x: torch.meshgrid(x[0], x[1], indexing="ij")[0], "aten.meshgrid"),
    (lambda x: x.unfold(1, 2, 1), "aten.unfold"),
    (lambda x: x * x[0, 0].item(), "aten.item"),
    (lambda x: x if x[0, 0] else -x, "aten.is_nonzero"),
])
def test_free_ops(fn, name: str) -> None:  # noqa: ANN001
    """Views, in-place dropout at inference, scalars read back: free and moving nothing."""
    result = cspcost.analyze(Single(fn), inputs=[torch.ones(2, 3)], device="cpu", strict=True)
    row = op(result, name)
    assert (row["flops"], row["bytes_read"], row["bytes_written"]) == (0, 0, 0)


def test_packed_sequence_rows_are_the_real_steps() -> None:
    """A packed batch of lengths 3 and 2 runs 5 rows: GRU 5 x (15x4 + 15x5) = 675 MACs."""
    gru = nn.GRU(4, 5)

    def fn(x: torch.Tensor) -> torch.Tensor:
        packed = nn.utils.rnn.pack_padded_sequence(x, torch.tensor([3, 2]))
        return gru(packed)[1]

    result = cspcost.analyze(Single(fn, gru), inputs=[torch.zeros(3, 2, 4)], device="cpu", strict=True)
    assert op(result, "aten.gru")["macs"] == 5 * 135


# ---------------------------------------------------------------------------- complex operands
def test_complex_elementwise_ops_at_their_real_cost() -> None:
    """z = x + ix on 4x5 (20 elements): z*z 6 real flops each (4 mul + 2 add) = 120, |.| 4 each
    (2 mul, 1 add, sqrt) = 80, z + z 2 each = 40, z * x (one real operand) 2 each = 40; building z and
    taking .real are a copy and a view. Not 1 flop per element, as a real tensor's would be."""
    def fn(x: torch.Tensor) -> torch.Tensor:
        z = torch.complex(x, x)
        return (z * z).abs() + (z + z).real + (z * x).imag

    result = run(fn, (4, 5), strict=True)
    flops = [(r["op"], r["flops"]) for r in result.ops if r["kind"] not in ("view", "move")]
    # in evaluation order; the two real adds joining the terms cost 1 per element (20 each)
    assert flops == [("aten.mul", 120), ("aten.abs", 80), ("aten.add", 40), ("aten.add", 20),
                     ("aten.mul", 40), ("aten.add", 20)]


def test_complex_ops_without_a_complex_rule_are_unsupported() -> None:
    """sin of a complex tensor has no complex rule: reported (never priced as a real sin)."""
    with pytest.warns(UnsupportedOpsWarning, match="aten.sin on complex x1"):
        result = run(lambda x: torch.sin(torch.complex(x, x)).real, (4, 5))
    assert result.unsupported_ops == {"aten.sin on complex": 1}
    with pytest.raises(UnsupportedOpsError, match="aten.sin on complex"):
        run(lambda x: torch.sin(torch.complex(x, x)).real, (4, 5), strict=True)
