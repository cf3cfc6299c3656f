"""CIO conventions (``--cio``): which layers' input + output elements count toward CIO.

- ``hardnet``: convolution layers only, as HarDNet defines CIO (Chao et al., ICCV 2019, Eq. 1:
  a sum over conv layers); this reproduces its Table 4 at 224 (ResNet-18 4.7M, VGG-16 22.6M,
  DenseNet-121 21.9M, DenseNet-201 31.8M, MobileNetV2 13.4M).
- ``hardnet-fc``: also fully connected layers, each counted as a 1x1 conv on a 1x1 map (not
  HarDNet's definition: VGG-16 then gives 22.7M).
- ``cspnet``: conv, fully connected, max-pool, avg-pool and global-pool layers, the counting
  behind the CSPNet paper's Fig. 8 totals (ResNeXt-50 34.4M, CSPResNeXt-50 32.6M at 256).
"""
from __future__ import annotations

CIO_KINDS: dict[str, frozenset[str]] = {
    "hardnet": frozenset({"conv"}),
    "hardnet-fc": frozenset({"conv", "linear"}),
    "cspnet": frozenset({"conv", "linear", "maxpool", "avgpool", "globalpool"}),
}
CIO_DOCS: dict[str, str] = {
    "hardnet": "convolution layers only (HarDNet's definition, its Table 4)",
    "hardnet-fc": "conv and fully connected layers (an FC as a 1x1 conv)",
    "cspnet": "conv, FC and every pooling layer (the CSPNet paper's Fig. 8)",
}
