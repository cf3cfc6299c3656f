"""Eager PyTorch: the module's own forward, per layer by the walker's dispatch-mode op timer."""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from cspcost.profiling.device import device_layer
from cspcost.profiling.layers import time_layers
from cspcost.profiling.runtimes.registry import register
from cspcost.profiling.runtimes.base import ModuleTimes, Prepared, RuntimeOptions, SimplePrepared


class Eager:
    """``model(*inputs)`` as it is: today's profiler."""

    name = "eager"
    extra = ""
    per_layer = "every aten op timed by a dispatch mode, charged to the innermost running module"

    def missing(self) -> str:
        """Always available."""
        return ""

    def prepare(self, model: nn.Module, inputs: Sequence[torch.Tensor], options: RuntimeOptions) -> Prepared:
        """The forward as a closure over the model and its inputs."""
        dev = device_layer(options.device)
        args = list(inputs)
        forward = lambda: model(*args)  # noqa: E731 - the timed work, nothing else

        def layers(runs: int) -> ModuleTimes:
            times = time_layers(model, args, runs, device=options.device, sync=dev.sync, reference=forward)
            return ModuleTimes(times.per_run_s, {}, times.wall_s, nodes=sum(times.op_counts.values()),
                               note="eager: aten ops timed by a dispatch mode", reference_s=times.reference_s)

        return SimplePrepared(forward, dev.timer(), {"runtime": self.name}, layers)


register(Eager())
