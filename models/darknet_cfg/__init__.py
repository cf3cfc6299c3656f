"""Build a PyTorch module from a darknet ``.cfg`` file, with darknet's own layer semantics.

``build("csresnext50.cfg")`` returns a :class:`DarknetNet` whose ``layers.<i>`` is darknet's layer
``i`` (its class names the darknet kind: ``Convolutional``, ``Maxpool``, ``Route``, ...), so a cost
report lines up with the table darknet prints when it loads the cfg. Each layer module runs its
own ops (no child modules), so it is exactly one row of a per-layer report, and carries
``label`` (``"12 conv 3x3/2"``), ``out_shape`` (C, H, W) and ``darknet_flops`` (what darknet adds
to its "Total BFLOPS", as an integer number of FLOPs).

Semantics follow darknet's sources (AlexeyAB/darknet ``src/parser.c`` and the layer files):
- ``[convolutional]``: ``pad=1`` means padding ``size//2``; output ``(h + 2*pad - size)//stride + 1``;
  a dilated conv pads ``pad*dilation``; BN keeps darknet's ``biases``/``scales``/rolling stats.
- ``[maxpool]``: padding defaults to ``size-1``, ``pad//2`` before and the rest after (so an odd
  padding is asymmetric); ``maxpool_depth=1`` is Maxout: the channel-wise max over channels
  ``g, g+out_channels, ...``. ``[local_avgpool]`` is the same window, averaging only real pixels.
- ``[route]``: concatenation of whole layers, or of channel group ``group_id`` of ``groups``.
- ``[shortcut]``: the previous layer's output plus the overlapping channels of ``from``; a larger
  ``from`` map is sampled with stride ``w_from // w``, a smaller one adds to every
  ``w // w_from``-th pixel (darknet's ``shortcut_cpu``, the version the CSPNet models were
  trained with). The output has the previous layer's shape.
- ``[convolutional]`` ``binary=1``/``xnor=1`` run darknet's binarised weights (and input); darknet
  prints an XNOR conv at 1/32 of its FLOPs. ``share_index`` reuses an earlier conv's parameters.
- ``[local]``, ``[crnn]``, ``[rnn]``, ``[gru]``, ``[lstm]``, ``[crop]``, ``[batchnorm]``, ``[reorg3d]``,
  ``[normalization]``, ``[activation]``, ``[implicit]``: darknet's inference forward, one module each.
- ``[yolo]``, ``[Gaussian_yolo]``, ``[region]``, ``[detection]``, ``[contrastive]``, ``[dropout]``,
  ``[empty]`` and ``[cost]`` pass their input through (inference).

The network returns the last layer's output, or, when the cfg has detection heads, the tuple of
their outputs (each head's input, in cfg order). A repeated key keeps its first value, as darknet's
``option_find``; a key darknet's own cfgs carry but its parser never reads gives a
:class:`CfgWarning`. Any unknown section or option, and any cfg darknet could not build, raises
:class:`CfgError` naming ``file:line``.
"""
from __future__ import annotations

from .builder import DarknetNet, build, shortcut_bflops, shortcut_flops
from .reader import CfgError, CfgWarning, Section, load, read_sections

__all__ = ["CfgError", "CfgWarning", "DarknetNet", "Section", "build", "load", "read_sections", "shortcut_bflops", "shortcut_flops"]
