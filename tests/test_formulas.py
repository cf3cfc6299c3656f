"""The paper's closed forms: hand-worked examples, properties over random blocks, the walker agrees."""
from __future__ import annotations

import json
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from cspcost.cli import app
from cspcost.errors import UsageError
from cspcost.formulas.sweep import BlockConfig, check_block, parse_grid, zoo_dense_blocks
from cspcost.formulas import EXPLANATIONS, cio_savings_ratio, csp_block, dense_block_cio, general_dense_cio, partial_dense_block_cio, split_channels

runner = CliRunner()


def test_hand_worked_dense_block() -> None:
    """c=64, d=32, m=6 on 8x8: layer inputs 64, 96, ..., 224 (sum 864) + outputs 6 x 32 (192).

    Paper: 64*(64*6 + (36+6)*32/2) = 64*(384 + 672) = 64*1056 = 67,584; and 64*(864+192) agrees.
    """
    assert dense_block_cio(64, 32, 6, 8, 8) == 67_584 == 64 * (864 + 192)


def test_hand_worked_partial_dense_block() -> None:
    """Half of c=64 enters: inputs 32, 64, ..., 192 (sum 672) + outputs 192: 64*864 = 55,296.

    Paper: 64*(64*6 + (36+6)*32)/2 = 64*(384 + 1344)/2 = 64*864 = 55,296.
    """
    assert partial_dense_block_cio(64, 32, 6, 8, 8) == 55_296 == 64 * (672 + 192)


def test_hand_worked_csp_fusion() -> None:
    """CSP fusion, c=64 d=32 m=6 gamma=1/2 on 8x8, no compression:
    partial transition 224 -> 224 (CIO 448), transition 32 + 224 = 256 -> 256 (CIO 512);
    transitions 64*(448+512) = 61,440; MACs 64*(224*224 + 256*256) = 7,405,568.
    """
    cost = csp_block(64, 32, 6, 8, 8, Fraction(1, 2), fusion="csp")
    assert cost.cio_block == 55_296
    assert cost.cio_transitions == 61_440
    assert cost.macs_transitions == 7_405_568


def test_hand_worked_macs() -> None:
    """3x3 single-conv layers, c=64 d=32 m=6 gamma=1 on 8x8: 64 * 9 * 32 * (64+96+...+224 = 864)."""
    assert csp_block(64, 32, 6, 8, 8, Fraction(1), k=3).macs_block == 64 * 9 * 32 * 864


def test_bottleneck_adds_two_m_b_per_position() -> None:
    """DenseNet-B writes and reads the b-wide tensor once more per layer: +2*m*b*w*h."""
    plain = csp_block(64, 32, 6, 8, 8, Fraction(1))
    bottleneck = csp_block(64, 32, 6, 8, 8, Fraction(1), bottleneck=128)
    assert bottleneck.cio_block - plain.cio_block == 2 * 6 * 128 * 64


def test_split_must_be_whole_channels() -> None:
    """gamma*c must be a whole number."""
    with pytest.raises(ValueError):
        split_channels(30, Fraction(1, 4))


sizes = st.integers(1, 64)


@settings(max_examples=60, deadline=None)
@given(c4=st.integers(1, 64), d=st.integers(1, 48), m=st.integers(1, 8), w=st.integers(1, 16),
       h=st.integers(1, 16), quarters=st.integers(1, 4))
def test_walker_equals_general_form(c4: int, d: int, m: int, w: int, h: int, quarters: int) -> None:
    """For random (c, d, m, w, h) and gamma in quarters (gamma*c whole), the walker's CIO is exact."""
    c, gamma = 4 * c4, Fraction(quarters, 4)
    row = check_block(BlockConfig(c, d, m, w, h, gamma, k=3, fusion="none"))
    assert row["cio_block_measured"] == general_dense_cio(c, d, m, w, h, gamma)
    assert row["agree"], row


@settings(max_examples=40, deadline=None)
@given(c2=st.integers(1, 256), d=st.integers(1, 64), m=st.integers(1, 64), w=sizes, h=sizes)
def test_printed_forms_are_the_half_split_case(c2: int, d: int, m: int, w: int, h: int) -> None:
    """The paper's partial form is the gamma = 1/2 case, its dense form the gamma = 1 case."""
    c = 2 * c2
    assert partial_dense_block_cio(c, d, m, w, h) == general_dense_cio(c, d, m, w, h, Fraction(1, 2))
    assert dense_block_cio(c, d, m, w, h) == general_dense_cio(c, d, m, w, h, Fraction(1))


@settings(max_examples=60, deadline=None)
@given(c2=st.integers(1, 512), d=st.integers(1, 64), m=st.integers(1, 64))
def test_ratio_between_half_and_one(c2: int, d: int, m: int) -> None:
    """partial / dense lies strictly between 1/2 and 1, and falls as c grows."""
    c = 2 * c2
    ratio = cio_savings_ratio(c, d, m)
    assert Fraction(1, 2) < ratio < 1
    assert cio_savings_ratio(c + 2, d, m) < ratio


def test_ratio_tends_to_half() -> None:
    """As c grows against m*d the saving approaches (never reaches) one half."""
    assert abs(cio_savings_ratio(2 * 10**9, 32, 6) - Fraction(1, 2)) < Fraction(1, 10**6)


@pytest.mark.parametrize("fusion", ["none", "first", "last", "csp"])
def test_fusions_with_bottleneck_agree(fusion: str) -> None:
    """Every fusion variant, DenseNet-B layers included, agrees with the walker exactly."""
    assert check_block(BlockConfig(96, 32, 4, 7, 5, Fraction(1, 2), 3, fusion, bottleneck=128))["agree"]


def test_zoo_dense_blocks_difference_is_the_bottleneck_term() -> None:
    """On the zoo's DenseNet-201s the formula misses exactly 2*m*b*w*h per block."""
    frame = zoo_dense_blocks()
    assert len(frame) == 8 and (frame["unexplained"] == 0).all()
    first = frame.iloc[0]  # densenet201 block 1: 64 in, 6 layers, b=128, 64x64
    assert first["cio_formula"] == 64 * 64 * (64 * 6 + 42 * 32 // 2)
    assert first["bottleneck_term"] == 2 * 6 * 128 * 64 * 64


def test_cli_default_grid_agrees() -> None:
    """`cspcost formulas` on its default grid (>= 200 configurations): all agree, exit 0."""
    result = runner.invoke(app, ["formulas", "--format", "json"])
    assert result.exit_code == 0, result.stderr
    rows = json.loads(result.stdout)
    assert len(rows) >= 200 and all(row["agree"] for row in rows)


def test_cli_explain_and_bad_input() -> None:
    """--explain prints every formula; a bad grid value is a one-line exit 2."""
    out = runner.invoke(app, ["formulas", "--explain"]).stdout
    assert all(name in out for name, *_ in EXPLANATIONS)
    bad = runner.invoke(app, ["formulas", "--gamma", "3/2"])
    assert bad.exit_code == 2 and "split ratios" in bad.stderr


def test_cli_disagreement_exits_1(monkeypatch: pytest.MonkeyPatch) -> None:
    """When a formula and the walker disagree, the command exits 1."""
    import cspcost.formulas.sweep as fc

    original = fc.check_block
    monkeypatch.setattr(fc, "check_block", lambda cfg: {**original(cfg), "agree": False})
    result = runner.invoke(app, ["formulas", "--c", "8", "--d", "4", "--m", "2", "--size", "4"])
    assert result.exit_code == 1


def test_parse_grid_from_text() -> None:
    """The CLI's comma lists become the grid (2 c x 1 d x 1 m x 1 size x 2 gamma x 1 k x 2 fusions = 8;
    gamma 1/4 of c=2 is not whole channels, so 2 of them drop: 6); an unknown fusion is one usage error."""
    configs = parse_grid("2,8", "4", "1", "6", "1/4,1/2", "3", "none, csp", bottleneck=None)
    assert len(configs) == 6 and {cfg.fusion for cfg in configs} == {"none", "csp"}
    with pytest.raises(UsageError, match="unknown fusion fast; use"):
        parse_grid("8", "4", "1", "6", "1/2", "3", "none,fast")
