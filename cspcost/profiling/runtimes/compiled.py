"""torch.compile (inductor): the compiled module's forward; compile time stated, never timed.

On the CPU inductor is asked to freeze the weights (``freezing=True``: constant-folds them into the
graph and pre-packs convolution weights; without it the compiled model is not faster than eager).
Compilation happens in ``prepare`` (the first calls), so its seconds (``compile_s``, tens of seconds
for a ResNet-50 here) are stated in the stamp and never inside a latency. Per-layer times: inductor's
fused kernels do not carry the module they came from in a form this profiler reads, so ``--per-layer``
is refused under this runtime (one line saying so).
"""
from __future__ import annotations

import time
from typing import Sequence

import torch
from torch import nn

from cspcost.profiling.device import device_layer
from cspcost.profiling.runtimes.registry import register
from cspcost.profiling.runtimes.base import Prepared, RuntimeOptions, SimplePrepared
from cspcost.profiling.runtimes.onnx_export import eager_outputs, flat_outputs, max_abs_diff


class Compiled:
    """``torch.compile(model, backend="inductor")``, frozen weights."""

    name = "compile"
    extra = ""
    per_layer = ""  # inductor's kernels carry no module provenance this profiler can read

    def missing(self) -> str:
        """torch.compile ships with torch (a C++ compiler is needed on the CPU; its absence fails in prepare)."""
        return ""

    def prepare(self, model: nn.Module, inputs: Sequence[torch.Tensor], options: RuntimeOptions) -> Prepared:
        """Compile (timed apart as ``compile_s``), run twice, check against eager."""
        import torch._inductor.config as inductor_config

        args = list(inputs)
        reference = eager_outputs(model, args)
        compiled = torch.compile(model, backend="inductor", dynamic=False)
        start = time.perf_counter()
        with inductor_config.patch(freezing=True), torch.inference_mode():
            compiled(*args)
            outputs = flat_outputs(compiled(*args))
        compile_s = time.perf_counter() - start
        diff = max_abs_diff(reference, [o.float().cpu().numpy() for o in outputs], self.name)
        info = {"runtime": self.name, "compile_backend": "inductor", "freezing": True,
                "compile_s": compile_s, "max_abs_diff_vs_eager": diff, "prepare_s": compile_s}
        forward = lambda: compiled(*args)  # noqa: E731 - the timed work
        return SimplePrepared(forward, device_layer(options.device).timer(), info, closer=torch._dynamo.reset)


register(Compiled())
