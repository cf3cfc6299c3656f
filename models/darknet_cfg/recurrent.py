"""darknet's recurrent layers as single-row modules: ``[crnn]`` (three convolutions) and ``[rnn]``,
``[gru]``, ``[lstm]`` (connected cells), each priced for one time step from the zero state."""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .layers import ACTIVATIONS, BN_EPS, Convolutional


class Crnn(nn.Module):
    """darknet ``[crnn]``: a convolutional RNN cell, three darknet convolutions in one layer.

    make_crnn_layer builds ``input_layer`` (C -> hidden), ``self_layer`` (hidden -> hidden) and
    ``output_layer`` (hidden -> output), each a full darknet conv (BN, activation). One step of
    forward_crnn_layer: ``state = input_layer(x) + self_layer(state)`` (plus the old state with
    ``shortcut=1``), then ``output_layer(state)``. A cost report prices one step from the zero
    state darknet starts with. The three convs' parameters live on this module (``input_weight``,
    ``self_weight``, ``output_weight``, ...) and their ops run here, so the layer is one report row,
    as darknet prints one line (its BFLOPs the three convs' sum).
    """

    conv_weights = ("input_weight", "self_weight", "output_weight")
    _CELLS = ("input", "self", "output")

    def __init__(self, cells: Sequence[Convolutional], shortcut: bool) -> None:
        super().__init__()
        self.shortcut = shortcut
        self.specs = [(c.stride, c.padding, c.dilation, c.groups, c.batch_normalize, c.activation) for c in cells]
        for name, cell in zip(self._CELLS, cells):
            for key, value in cell.named_parameters():
                self.register_parameter(f"{name}_{key}", value)
            for key, value in cell.named_buffers():
                self.register_buffer(f"{name}_{key}", value)

    def _cell(self, index: int, x: torch.Tensor) -> torch.Tensor:
        """Cell ``index`` (input, self, output) as a darknet conv: conv, BN or bias, activation."""
        name = self._CELLS[index]
        stride, padding, dilation, groups, bn, act = self.specs[index]
        weight, bias = getattr(self, f"{name}_weight"), getattr(self, f"{name}_bias")
        y = F.conv2d(x, weight, None if bn else bias, stride, padding, dilation, groups)
        if bn:
            y = F.batch_norm(y, getattr(self, f"{name}_rolling_mean"), getattr(self, f"{name}_rolling_variance"),
                             getattr(self, f"{name}_scales"), bias, False, 0.0, BN_EPS)
        return ACTIVATIONS[act](y)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """One time step from the zero state."""
        h = self._cell(0, x)
        state = torch.zeros_like(h)
        h = h + self._cell(1, state)
        return self._cell(2, h + state if self.shortcut else h)


class Recurrent(nn.Module):
    """darknet's fully connected recurrent layers (``[rnn]``, ``[gru]``, ``[lstm]``): named connected
    cells whose parameters live on this module, so the layer is one report row.

    Each cell is a darknet ``[connected]`` (make_connected_layer): weights (out, in), then BN with
    rolling statistics (``batch_normalize``) or a bias, then its activation. A cost report prices one
    time step from the zero state darknet starts with; darknet prints no BFLOPs for these layers.
    """

    def __init__(self, cells: dict[str, tuple[int, int, str]], batch_normalize: bool) -> None:
        super().__init__()
        self.batch_normalize, self.cells = batch_normalize, {k: v[2] for k, v in cells.items()}
        self.conv_weights = tuple(f"{name}_weight" for name in cells)
        for name, (n_in, n_out, _) in cells.items():
            self.register_parameter(f"{name}_weight", nn.Parameter(torch.empty(n_out, n_in)))
            nn.init.uniform_(getattr(self, f"{name}_weight"), -(2.0 / n_in) ** 0.5, (2.0 / n_in) ** 0.5)
            self.register_parameter(f"{name}_bias", nn.Parameter(torch.zeros(n_out)))
            if batch_normalize:
                self.register_parameter(f"{name}_scales", nn.Parameter(torch.ones(n_out)))
                self.register_buffer(f"{name}_rolling_mean", torch.zeros(n_out))
                self.register_buffer(f"{name}_rolling_variance", torch.ones(n_out))

    def cell(self, name: str, x: torch.Tensor) -> torch.Tensor:
        """One connected cell on (N, in): product, BN or bias, activation."""
        bias = getattr(self, f"{name}_bias")
        y = F.linear(x, getattr(self, f"{name}_weight"), None if self.batch_normalize else bias)
        if self.batch_normalize:
            y = F.batch_norm(y, getattr(self, f"{name}_rolling_mean"), getattr(self, f"{name}_rolling_variance"),
                             getattr(self, f"{name}_scales"), bias, False, 0.0, BN_EPS)
        return ACTIVATIONS[self.cells[name]](y)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """One step on the flattened input; the output as darknet's (outputs, 1, 1)."""
        return self.step(x.reshape(x.shape[0], -1))[:, :, None, None]

    def step(self, x: torch.Tensor) -> torch.Tensor:
        """One time step from the zero state (each subclass: its recurrence)."""
        raise NotImplementedError


class Rnn(Recurrent):
    """darknet ``[rnn]`` (rnn_layer.c): ``state = input(x) + self(state)``, output ``output(state)``."""

    def __init__(self, inputs: int, hidden: int, outputs: int, activation: str, batch_normalize: bool,
                 shortcut: bool) -> None:
        cells = {"input": (inputs, hidden, activation), "self": (hidden, hidden, activation),
                 "output": (hidden, outputs, activation)}
        super().__init__(cells, batch_normalize)
        self.hidden, self.shortcut = hidden, shortcut

    def step(self, x: torch.Tensor) -> torch.Tensor:
        """One step from the zero state (``shortcut=1`` adds the old state, zero here)."""
        state = x.new_zeros(x.shape[0], self.hidden)
        h = self.cell("input", x) + self.cell("self", state)
        return self.cell("output", h + state if self.shortcut else h)


class Gru(Recurrent):
    """darknet ``[gru]`` (gru_layer.c): z, r gates (logistic), candidate (tanh) from ``r * state``,
    output ``z * state + (1 - z) * candidate``; six linear connected cells."""

    def __init__(self, inputs: int, outputs: int, batch_normalize: bool) -> None:
        cells = {f"{u}{g}": (inputs if u == "u" else outputs, outputs, "linear") for g in "zrh" for u in "uw"}
        super().__init__(cells, batch_normalize)
        self.outputs = outputs

    def step(self, x: torch.Tensor) -> torch.Tensor:
        """One step from the zero state."""
        state = x.new_zeros(x.shape[0], self.outputs)
        z = torch.sigmoid(self.cell("uz", x) + self.cell("wz", state))
        r = torch.sigmoid(self.cell("ur", x) + self.cell("wr", state))
        candidate = torch.tanh(self.cell("uh", x) + self.cell("wh", r * state))
        return z * state + (1 - z) * candidate


class Lstm(Recurrent):
    """darknet ``[lstm]`` (lstm_layer.c): f, i, o gates (logistic) and g (tanh), each ``u(x) + w(h)``;
    ``c = f*c + i*g``, output ``o * tanh(c)``; eight linear connected cells."""

    def __init__(self, inputs: int, outputs: int, batch_normalize: bool) -> None:
        cells = {f"{u}{g}": (inputs if u == "u" else outputs, outputs, "linear") for g in "figo" for u in "uw"}
        super().__init__(cells, batch_normalize)
        self.outputs = outputs

    def step(self, x: torch.Tensor) -> torch.Tensor:
        """One step from zero hidden and cell states."""
        h = c = x.new_zeros(x.shape[0], self.outputs)
        f, i, g, o = (self.cell(f"u{k}", x) + self.cell(f"w{k}", h) for k in "figo")
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        return torch.sigmoid(o) * torch.tanh(c)
