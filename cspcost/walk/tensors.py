"""Finding the tensors in an op's arguments or outputs, and in a model's nested inputs and outputs."""
from __future__ import annotations

from typing import Any, Iterator

import torch
from torch.utils._pytree import tree_leaves


def op_tensors(items: Any) -> Iterator[torch.Tensor]:
    """Tensors among an op's arguments or outputs (one level of lists, as aten schemas nest)."""
    for item in items if isinstance(items, (list, tuple)) else (items,):
        if isinstance(item, torch.Tensor):
            yield item
        elif isinstance(item, (list, tuple)):
            yield from (t for t in item if isinstance(t, torch.Tensor))


def tensor_leaves(tree: Any) -> list[torch.Tensor]:
    """Every tensor in a nested structure of lists, tuples and dicts, in order."""
    return [leaf for leaf in tree_leaves(tree) if isinstance(leaf, torch.Tensor)]
