"""cspcost's model zoo: plain PyTorch backbones from the CSPNet paper (installed as ``cspcost_models``).

This package never imports ``cspcost``. Importing it registers every model.
"""
from .registry import ModelSpec, create, get, list_models, register

# Importing the model modules registers their entry points (one decorator each).
from . import examples  # noqa: F401,E402
from . import resnet  # noqa: F401,E402
from . import darknet  # noqa: F401,E402
from . import mobilenet  # noqa: F401,E402
from . import peleenet  # noqa: F401,E402
from . import densenet  # noqa: F401,E402
from . import detectors  # noqa: F401,E402

__all__ = ["ModelSpec", "create", "get", "list_models", "register"]
