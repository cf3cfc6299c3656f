"""The darknet cfg sections and options added for issue 23: one small hand-written cfg each, with
darknet's BFLOPs worked out beside it (make_*_layer in AlexeyAB/darknet src/*_layer.c), the values
the module computes against darknet's loops, and the reader's rules (first value of a repeated key,
BOM, known-but-unread keys, unknown keys, fixed-size layers, paths that are not files).
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

import cspcost
from cspcost_models.darknet_cfg import CfgError, CfgWarning, DarknetNet, build


def net(c: int, h: int, w: int, body: str) -> str:
    """A cfg text: a [net] of C x H x W and ``body``."""
    return f"[net]\nbatch=1\nchannels={c}\nheight={h}\nwidth={w}\n\n{body}"


def darknet_rows(model: DarknetNet) -> dict[str, int]:
    """Per-layer FLOPs under cspcost's darknet convention, keyed by module name."""
    result = cspcost.analyze(model, model.input_size, convention="darknet")
    return {row.name: int(row.flops) for row in result.layers.itertuples()}


def totals(model: DarknetNet, convention: str = "darknet") -> dict[str, int]:
    """cspcost's totals for the cfg at its [net] size."""
    return cspcost.analyze(model, model.input_size, convention=convention).totals


# ----------------------------------------------------------------------------------- [local]
LOCAL = net(2, 5, 5, "[local]\nfilters=3\nsize=3\nstride=1\npad=1\nactivation=linear\n\n"
                     "[local]\nfilters=4\nsize=3\nstride=1\npad=0\nactivation=leaky\n")


def test_local_shapes_prices_and_weights() -> None:
    """pad=1: (5 - 1)//1 + 1 = 5; pad=0: (5 - 3)//1 + 1 = 3 (local_out_height). darknet prints no
    BFLOPs for [local] (make_local_layer sets none): 0 in its total. cspcost's darknet convention
    prices the per-location products as it prices [connected]: 2 x MACs."""
    model = build(LOCAL)
    assert [layer.out_shape for layer in model.layers] == [(3, 5, 5), (4, 3, 3)]
    assert model.darknet_flops() == 0
    rows = darknet_rows(model)
    assert rows["layers.0"] == 2 * (5 * 5) * 3 * (2 * 3 * 3)  # locations x filters x C*k*k: 2,700
    assert rows["layers.1"] == 2 * (3 * 3) * 4 * (3 * 3 * 3)  # 1,944
    # weights: one C*k*k x filters kernel per output location (make_local_layer's c*n*size*size*locations)
    assert totals(model)["params"] == 25 * 3 * 18 + 9 * 4 * 27


def test_local_with_one_kernel_everywhere_is_a_convolution() -> None:
    """The same kernel at every location and a zero bias: exactly a padded conv."""
    model = build(LOCAL)
    layer = model.layers[0]
    kernel = torch.randn(3, 2, 3, 3)
    with torch.no_grad():
        layer.weight.copy_(kernel.reshape(1, 3, 18).expand(25, 3, 18))
    x = torch.randn(1, 2, 5, 5)
    assert torch.allclose(layer(x), F.conv2d(x, kernel, padding=1), atol=1e-5)


# ------------------------------------------------------------------------------------ [crnn]
CRNN = net(2, 4, 4, "[crnn]\nbatch_normalize=1\nsize=3\npad=1\noutput=3\nhidden=4\nactivation=leaky\n")


def test_crnn_is_three_convolutions() -> None:
    """make_crnn_layer: bflops = input (2->4) + self (4->4) + output (4->3) convs, 3x3 at 4x4."""
    model = build(CRNN)
    assert model.layers[0].out_shape == (3, 4, 4)
    expected = 2 * 3 * 3 * 4 * 4 * (2 * 4 + 4 * 4 + 4 * 3)  # 2*k^2*H*W*(sum of C_in*C_out) = 10,368
    assert model.darknet_flops() == expected
    assert darknet_rows(model) == {"layers.0": expected}  # the three convs run in one row
    assert totals(model)["params"] == 9 * (2 * 4 + 4 * 4 + 4 * 3)  # conv weights only: 324


def test_crnn_step_from_the_zero_state() -> None:
    """One step: output(input(x) + self(0)); with linear activations and no BN that is a chain of convs."""
    model = build(net(2, 4, 4, "[crnn]\nsize=3\npad=1\noutput=3\nhidden=4\nactivation=linear\n"))
    crnn = model.layers[0]
    x = torch.randn(1, 2, 4, 4)
    state = F.conv2d(x, crnn.input_weight, crnn.input_bias, padding=1)
    state = state + F.conv2d(torch.zeros_like(state), crnn.self_weight, crnn.self_bias, padding=1)
    expected = F.conv2d(state, crnn.output_weight, crnn.output_bias, padding=1)
    assert torch.allclose(model(x), expected, atol=1e-5)


# ------------------------------------------------------------------------- xnor and binary convs
XNOR = net(32, 4, 4, "[convolutional]\nxnor=1\nbatch_normalize=1\nfilters=16\nsize=3\npad=1\nactivation=leaky\n\n"
                     "[convolutional]\nbinary=1\nfilters=8\nsize=1\nactivation=linear\n")


def test_xnor_conv_is_priced_at_one_32nd() -> None:
    """make_convolutional_layer: bflops = 2*nweights*out_h*out_w, divided by 32 when xnor=1;
    binary=1 alone keeps the full count."""
    model = build(XNOR)
    xnor = 2 * (32 * 16 * 3 * 3) * 4 * 4 // 32  # 147,456 / 32 = 4,608
    binary = 2 * (16 * 8) * 4 * 4  # 4,096
    assert darknet_rows(model) == {"layers.0": xnor, "layers.1": binary}
    assert model.darknet_flops() == xnor + binary
    assert model.labels == ["0 conv 3x3/1 xnor", "1 conv 1x1/1 binary"]
    # the pytorch convention prices the float conv the module runs, not darknet's bit count
    assert totals(model, "pytorch")["macs"] == 32 * 16 * 9 * 16 + 16 * 8 * 16


def test_xnor_conv_binarizes_input_and_weights() -> None:
    """darknet's forward: sign(x) (+1 where x > 0, else -1) convolved with sign(w) * mean|w| per filter."""
    model = build(XNOR)
    conv = model.layers[0]
    x = torch.randn(1, 32, 4, 4)
    scale = conv.weight.abs().mean(dim=(1, 2, 3), keepdim=True)
    kernel = torch.where(conv.weight > 0, scale, -scale)
    expected = F.conv2d(torch.where(x > 0, 1.0, -1.0), kernel, padding=1)
    assert torch.allclose(conv.convolve(x), expected, atol=1e-5)


# ------------------------------------------------------------------------------- share_index
SHARED = net(4, 6, 6, "[convolutional]\nfilters=4\nsize=3\npad=1\nactivation=leaky\n\n"
                      "[convolutional]\nfilters=4\nsize=3\npad=1\nactivation=leaky\nshare_index=-1\n")


def test_shared_weights_run_twice_and_count_once() -> None:
    """share_index=-1: layer 1 uses layer 0's weights; both convs cost, the weights count once."""
    model = build(SHARED)
    assert model.layers[1].weight is model.layers[0].weight
    per_conv = 2 * 4 * 4 * 3 * 3 * 6 * 6  # 10,368
    assert model.darknet_flops() == 2 * per_conv
    assert totals(model)["params"] == 4 * 4 * 3 * 3  # 144, once
    assert model.labels[1] == "1 conv 3x3/1 shares 0"


def test_share_index_must_name_a_matching_conv(tmp_path: Path) -> None:
    """A shared conv of another shape is refused, naming the line."""
    bad = SHARED.replace("filters=4\nsize=3\npad=1\nactivation=leaky\nshare_index", "filters=8\nsize=3\npad=1\n"
                         "activation=leaky\nshare_index")
    with pytest.raises(CfgError, match=r"\[convolutional\] share_index=-1: layer 0 is not a \[convolutional\]"):
        build(bad)


# ----------------------------------------------------------------------- crop, batchnorm, reorg3d
def test_crop_takes_the_centre_and_rescales() -> None:
    """At inference forward_crop_layer takes dh = (8-6)//2 = 1, dw = (8-4)//2 = 2 and writes x*2 - 1."""
    model = build(net(3, 8, 8, "[crop]\ncrop_height=6\ncrop_width=4\nflip=0\nangle=0\nsaturation=1\nexposure=1\n"))
    assert model.layers[0].out_shape == (3, 6, 4) and model.darknet_flops() == 0
    x = torch.randn(1, 3, 8, 8)
    assert torch.equal(model(x), x[:, :, 1:7, 2:6] * 2 - 1)
    plain = build(net(3, 8, 8, "[crop]\ncrop_height=6\ncrop_width=4\nnoadjust=1\n"))
    assert torch.equal(plain(x), x[:, :, 1:7, 2:6])


def test_batchnorm_layer_uses_rolling_statistics() -> None:
    """[batchnorm]: (x - mean)/sqrt(var + 1e-6) * scales + biases; darknet prints no BFLOPs."""
    model = build(net(2, 3, 3, "[batchnorm]\n"))
    bn = model.layers[0]
    with torch.no_grad():
        bn.rolling_mean.copy_(torch.tensor([1.0, -2.0]))
        bn.rolling_variance.copy_(torch.tensor([4.0, 0.25]))
        bn.scales.copy_(torch.tensor([2.0, 3.0]))
        bn.biases.copy_(torch.tensor([0.5, 0.0]))
    x = torch.randn(1, 2, 3, 3)
    mean, var = torch.tensor([1.0, -2.0]).view(1, 2, 1, 1), torch.tensor([4.0, 0.25]).view(1, 2, 1, 1)
    expected = (x - mean) / torch.sqrt(var + 1e-6) * torch.tensor([2.0, 3.0]).view(1, 2, 1, 1) \
        + torch.tensor([0.5, 0.0]).view(1, 2, 1, 1)
    assert torch.allclose(model(x), expected, atol=1e-5)
    assert model.darknet_flops() == 0 and totals(model)["params"] == 0  # darknet: conv weights only


def reorg_cpu(x: torch.Tensor, w: int, h: int, c: int, stride: int, forward: bool) -> torch.Tensor:
    """darknet's reorg_cpu (blas.c), as loops over one flat buffer."""
    flat, out = x.flatten(), torch.empty(x.numel())
    out_c = c // (stride * stride)
    for k in range(c):
        for j in range(h):
            for i in range(w):
                in_index = i + w * (j + h * k)
                c2, offset = k % out_c, k // out_c
                w2, h2 = i * stride + offset % stride, j * stride + offset // stride
                out_index = w2 + w * stride * (h2 + h * stride * c2)
                if forward:
                    out[out_index] = flat[in_index]
                else:
                    out[in_index] = flat[out_index]
    return out


def test_reorg3d_matches_darknets_element_order() -> None:
    """forward_reorg_layer calls reorg_cpu on the output sizes: 2x4x4 -> 8x2x2 (reverse=0 reads
    with forward=0); reverse=1 on 16x2x2 -> 4x4x4 (forward=1). No FLOPs."""
    model = build(net(2, 4, 4, "[reorg3d]\nstride=2\n"))
    assert model.layers[0].out_shape == (8, 2, 2)
    x = torch.randn(1, 2, 4, 4)
    assert torch.equal(model(x).flatten(), reorg_cpu(x, 2, 2, 8, 2, forward=False))
    back = build(net(16, 2, 2, "[reorg3d]\nstride=2\nreverse=1\n"))
    assert back.layers[0].out_shape == (4, 4, 4)
    y = torch.randn(1, 16, 2, 2)
    assert torch.equal(back(y).flatten(), reorg_cpu(y, 4, 4, 4, 2, forward=True))
    assert model.darknet_flops() == back.darknet_flops() == 0


# ------------------------------------------------------------- region, detection, contrastive, gaussian
def test_region_checks_filters_and_passes_through() -> None:
    """make_region_layer: outputs h*w*num*(classes+coords+1) must equal the inputs: 5*(2+4+1) = 35."""
    body = "[convolutional]\nfilters=35\nsize=1\nactivation=linear\n\n[region]\nanchors=1,1, 2,2, 3,3, 4,4, 5,5\n" \
           "classes=2\ncoords=4\nnum=5\nsoftmax=1\njitter=.2\nrescore=1\nobject_scale=5\nnoobject_scale=1\n" \
           "class_scale=1\ncoord_scale=1\nabsolute=1\nthresh=.6\nrandom=1\n"
    model = build(net(3, 4, 4, body))
    assert model.labels[1] == "1 region" and model.darknet_flops() == 2 * 3 * 35 * 4 * 4
    x = torch.randn(1, 3, 4, 4)
    assert model(x)[0].shape == (1, 35, 4, 4)
    with pytest.raises(CfgError, match=r"\[region\] classes=3: the layer before has 35 filters, "
                                       r"\[region\] needs 5\*\(3\+4\+1\) = 40"):
        build(net(3, 4, 4, body.replace("classes=2", "classes=3")))


def test_detection_after_connected_fixes_the_input_size() -> None:
    """YOLOv1's tail: [connected] output = side^2*((1+coords)*num + classes) = 7*7*((1+4)*2 + 3) = 637."""
    body = "[convolutional]\nfilters=2\nsize=3\nstride=2\npad=1\nactivation=leaky\n\n[connected]\noutput=637\n" \
           "activation=linear\n\n[detection]\nclasses=3\ncoords=4\nrescore=1\nside=7\nnum=2\nsoftmax=0\nsqrt=1\n" \
           "jitter=.2\nobject_scale=1\nnoobject_scale=.5\nclass_scale=1\ncoord_scale=5\n"
    model = build(net(3, 8, 8, body))
    assert model.layers[2].out_shape == (637, 1, 1) and model.labels[2] == "2 detection"
    assert model.darknet_flops() == 2 * 3 * 2 * 3 * 3 * 4 * 4  # the conv only: 864
    with pytest.raises(CfgError, match=r"layer 1 connected 32->637 fixes the input size to 3x8x8"):
        model(torch.randn(1, 3, 16, 16))
    with pytest.raises(CfgError, match=r"\[detection\] side=6: the layer before gives 637 values"):
        build(net(3, 8, 8, body.replace("side=7", "side=6")))


def test_connected_at_another_size_is_one_line_exit_2(tmp_path: Path) -> None:
    """The CLI says which layer fixes the input size (its weights take C*H*W inputs)."""
    from typer.testing import CliRunner

    from cspcost.cli import app

    path = tmp_path / "fc.cfg"
    path.write_text(net(3, 8, 8, "[connected]\noutput=5\nactivation=linear\n"))
    result = CliRunner().invoke(app, ["analyze", str(path), "--size", "16"])
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "layer 0 connected 192->5 fixes the input size to 3x8x8" in lines[0]


YOLO_HEAD = "[convolutional]\nfilters=18\nsize=1\nactivation=linear\n\n[yolo]\nmask=0,1,2\nanchors=1,1, 2,2, 3,3\n" \
            "classes=1\nnum=3\n"


def test_contrastive_points_at_a_yolo_layer() -> None:
    """[contrastive] yolo_layer=-1 names the [yolo] before it; it is a training loss: identity, no cost."""
    model = build(net(3, 4, 4, YOLO_HEAD + "\n[contrastive]\nclasses=1\nyolo_layer=-1\ntemperature=0.1\n"))
    assert model.labels[2] == "2 contrastive 1" and model.darknet_flops() == 2 * 3 * 18 * 4 * 4
    with pytest.raises(CfgError, match=r"\[contrastive\] yolo_layer=-2: must name a \[yolo\] layer"):
        build(net(3, 4, 4, YOLO_HEAD + "\n[contrastive]\nclasses=1\nyolo_layer=-2\n"))


def test_gaussian_yolo_needs_nine_values_per_box() -> None:
    """make_gaussian_yolo_layer: outputs h*w*n*(classes + 8 + 1): 3 boxes of 1 class = 30 filters."""
    body = "[convolutional]\nfilters=30\nsize=1\nactivation=linear\n\n[Gaussian_yolo]\nmask=0,1,2\n" \
           "anchors=1,1, 2,2, 3,3\nclasses=1\nnum=3\nuc_normalizer=1\nyolo_point=center\n"
    model = build(net(3, 4, 4, body))
    assert model.labels[1] == "1 gaussian_yolo" and model(torch.randn(1, 3, 4, 4))[0].shape == (1, 30, 4, 4)


# ------------------------------------------------------------------------------- reader rules
def test_a_repeated_key_keeps_its_first_value() -> None:
    """darknet's option_find walks the option list from the front: filters=4 wins over filters=8."""
    text = net(3, 4, 4, "[convolutional]\nfilters=4\nsize=1\nfilters=8\nactivation=linear\n")
    with pytest.warns(CfgWarning, match=r"<cfg>:10: \[convolutional\] filters=8: repeats line 8; darknet uses "
                                        r"the first value, 4"):
        model = build(text)
    assert model.layers[0].out_shape == (4, 4, 4)


def test_a_utf8_bom_is_accepted(tmp_path: Path) -> None:
    """Some editors start a file with U+FEFF; darknet's own cfgs never do, and it must not break [net]."""
    path = tmp_path / "bom.cfg"
    path.write_bytes("\ufeff".encode() + net(3, 4, 4, "[convolutional]\nfilters=2\nsize=1\n").encode())
    assert build(path).layers[0].out_shape == (2, 4, 4)


def test_keys_darknet_ships_but_never_reads_warn_and_load() -> None:
    """[net] max_epochs / seen and [yolo] beta1 are in darknet's cfgs but read by no parse_* function:
    darknet prints "Unused field" and loads; so does cspcost (a CfgWarning). A 1x1 conv's dilation
    is read (then set to 1) by parse_convolutional: accepted silently."""
    text = net(3, 4, 4, "[convolutional]\nfilters=18\nsize=1\ndilation=2\nactivation=linear\n\n"
                        "[yolo]\nmask=0,1,2\nclasses=1\nnum=3\nbeta1=0.6\n").replace("[net]\n", "[net]\nmax_epochs=5\n"
                                                                                      "seen=64\n")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = build(text)
    messages = sorted(str(w.message) for w in caught if issubclass(w.category, CfgWarning))
    assert len(messages) == 3 and all("darknet never reads this key" in m for m in messages)
    assert any("[yolo] beta1=0.6" in m for m in messages) and any("[net] max_epochs=5" in m for m in messages)
    assert model.layers[0].dilation == (1, 1)


def test_an_unknown_key_is_still_an_error() -> None:
    """A key darknet reads nowhere (a typo) is refused, although darknet would only warn."""
    with pytest.raises(CfgError, match=r"<cfg>:8: \[convolutional\] fliters=4: unknown option 'fliters'"):
        build(net(3, 4, 4, "[convolutional]\nfliters=4\n"))


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
def test_a_fifo_or_directory_named_cfg_says_what_it_is(tmp_path: Path) -> None:
    """Not "no such file": the path exists but is not a regular file."""
    os.mkfifo(tmp_path / "pipe.cfg")
    (tmp_path / "dir.cfg").mkdir()
    with pytest.raises(CfgError, match=r"pipe.cfg: is a FIFO \(named pipe\), not a cfg file"):
        build(tmp_path / "pipe.cfg")
    with pytest.raises(CfgError, match=r"dir.cfg: is a directory, not a cfg file"):
        build(tmp_path / "dir.cfg")


# ------------------------------------------------------------- activation, lrn, empty, implicit
def test_activation_empty_and_implicit_layers() -> None:
    """[activation] applies its function, [silence] passes through, [implicit] gives its filters x 1 x 1
    tensor whatever the input; none prints BFLOPs."""
    model = build(net(2, 3, 3, "[activation]\nactivation=relu\n\n[silence]\n\n[implicit]\nfilters=4\nmean=0.5\n"))
    assert [layer.out_shape for layer in model.layers] == [(2, 3, 3), (2, 3, 3), (4, 1, 1)]
    x = torch.randn(1, 2, 3, 3)
    assert torch.equal(model.layers[0](x), x.relu()) and torch.equal(model.layers[1](x), x)
    assert torch.equal(model(x), torch.full((1, 4, 1, 1), 0.5))
    assert model.darknet_flops() == 0


def test_lrn_uses_darknets_undivided_alpha() -> None:
    """normalization_layer.c: out = x * (kappa + alpha * sum over size channels of x^2)^-beta."""
    model = build(net(5, 2, 2, "[lrn]\nsize=3\nalpha=0.1\nbeta=0.75\nkappa=2\n"))
    x = torch.randn(1, 5, 2, 2)
    squares = F.pad(x * x, (0, 0, 0, 0, 1, 1))
    window = squares[:, 0:5] + squares[:, 1:6] + squares[:, 2:7]  # channels c-1, c, c+1
    assert torch.allclose(model(x), x * (2 + 0.1 * window) ** -0.75, atol=1e-6)


# ------------------------------------------------------------------------- rnn, gru, lstm
@pytest.mark.parametrize(("section", "cells_in", "cells_self"), [
    ("[rnn]\noutput=6\nhidden=5\nactivation=leaky\n", 8 * 5, 5 * 5 + 5 * 6),  # input 8->5; self 5->5, output 5->6
    ("[gru]\noutput=6\n", 3 * 8 * 6, 3 * 6 * 6),  # uz, ur, uh: 8->6; wz, wr, wh: 6->6
    ("[lstm]\noutput=6\nbatch_normalize=1\n", 4 * 8 * 6, 4 * 6 * 6),  # uf, ui, ug, uo; wf, wi, wg, wo
])
def test_recurrent_layers_are_connected_cells(section: str, cells_in: int, cells_self: int) -> None:
    """darknet builds [rnn] from 3, [gru] from 6 and [lstm] from 8 [connected] cells and prints no
    BFLOPs for them; cspcost's darknet convention prices each cell's product as [connected] (2 x MACs)."""
    model = build(f"[net]\ninputs=8\n\n{section}")
    assert model.input_size == (8, 1, 1) and model.layers[0].out_shape == (6, 1, 1)
    assert model.darknet_flops() == 0
    assert totals(model)["flops"] == 2 * (cells_in + cells_self)
    assert totals(model)["params"] == cells_in + cells_self  # weights only
    assert model(torch.randn(2, 8, 1, 1)).shape == (2, 6, 1, 1)


def test_rnn_step_from_the_zero_state() -> None:
    """One step: output(input(x) + self(0)) with linear cells and no BN is a chain of affine maps."""
    model = build("[net]\ninputs=3\n\n[rnn]\noutput=2\nhidden=4\nactivation=linear\n")
    rnn, x = model.layers[0], torch.randn(1, 3)
    state = F.linear(x, rnn.input_weight, rnn.input_bias) + F.linear(torch.zeros(1, 4), rnn.self_weight, rnn.self_bias)
    expected = F.linear(state, rnn.output_weight, rnn.output_bias)
    assert torch.allclose(model(x.view(1, 3, 1, 1)).flatten(), expected.flatten(), atol=1e-6)


def test_cli_prints_an_unread_key_as_one_warning_line(tmp_path: Path) -> None:
    """`cspcost analyze x.cfg` loads a cfg carrying [net] max_epochs (as Gaussian_yolov3_BDD.cfg does)
    and says so once on stderr; exit 0."""
    from typer.testing import CliRunner

    from cspcost.cli import app

    path = tmp_path / "epochs.cfg"
    path.write_text(net(3, 8, 8, "[convolutional]\nfilters=2\nsize=1\n").replace("[net]\n", "[net]\nmax_epochs = 300\n"))
    result = CliRunner().invoke(app, ["analyze", str(path), "--convention", "darknet", "--format", "json"])
    assert result.exit_code == 0
    warned = [line for line in result.output.splitlines() if line.startswith("warning:")]
    assert warned == ["warning: epochs.cfg:2: [net] max_epochs=300: darknet never reads this key (it prints "
                      "'Unused field'); ignored"]
