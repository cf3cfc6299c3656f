"""The CSPNet paper's closed forms (``closed``: plain integers, no torch) and their check against the
walker (``sweep``: builds each block on meta and measures it)."""
from cspcost.formulas.closed import (EXPLANATIONS, FUSIONS, BlockCost, block_inputs, cio_savings_ratio,
                                     csp_block, dense_block_cio, dense_path, general_dense_cio,
                                     partial_dense_block_cio, split_channels)

__all__ = ["EXPLANATIONS", "FUSIONS", "BlockCost", "block_inputs", "cio_savings_ratio", "csp_block",
           "dense_block_cio", "dense_path", "general_dense_cio", "partial_dense_block_cio", "split_channels"]
