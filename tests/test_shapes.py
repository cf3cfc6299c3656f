"""cspcost/shapes.py: the one input-size check (analysis, peers and profiling share its message)."""
from __future__ import annotations

import pytest
from torch import nn

import cspcost
from cspcost.errors import UsageError
from cspcost.shapes import check_shape, check_sizes
from cspcost.sources import resolve_model


def test_check_shape_and_sizes() -> None:
    """One (C, H, W) or several; lists become tuples."""
    assert check_shape([3, 8, 8]) == (3, 8, 8)
    assert check_sizes((3, 8, 8)) == [(3, 8, 8)]
    assert check_sizes([(3, 8, 8), [1, 4, 4]]) == [(3, 8, 8), (1, 4, 4)]


@pytest.mark.parametrize("size", [(), (3, 0, 8), (3, -1, 8), (3, 8.0, 8), [(3, 8, 8), (3, "8", 8)]])
def test_malformed_sizes_are_one_usage_error(size: tuple) -> None:
    """Empty, zero, negative or non-integer dimensions: one message, the same everywhere."""
    with pytest.raises(UsageError, match=r"malformed input size .*; expected positive ints such as \(3, 224, 224\)"):
        check_sizes(size)


def test_analyze_and_peers_share_the_check() -> None:
    """cspcost.analyze and cspcost.peers refuse a bad size with the same message."""
    model = nn.Conv2d(3, 4, 1)
    with pytest.raises(UsageError, match=r"malformed input size \(3, 0, 8\)"):
        cspcost.analyze(model, (3, 0, 8))
    with pytest.raises(UsageError, match=r"malformed input size \(3, 0, 8\)"):
        cspcost.peers(model, (3, 0, 8), tools=["flopcountermode"])


def test_resolve_model_takes_a_module_or_a_spec() -> None:
    """A module resolves to itself with its own input_size if it has one; a spec goes to resolve;
    anything else is a usage error."""
    model = nn.Conv2d(3, 4, 1)
    resolved = resolve_model(model)
    assert (resolved.name, resolved.factory(), resolved.input_size) == ("Conv2d", model, None)
    model.input_size = (3, 16, 16)
    assert resolve_model(model).input_size == (3, 16, 16)
    assert resolve_model("resnet10").name == "resnet10"
    with pytest.raises(UsageError, match="expected a model name or an nn.Module, got int"):
        resolve_model(3)  # type: ignore[arg-type]
