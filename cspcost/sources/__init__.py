"""Model sources: how a spec (zoo name, darknet cfg, ``file.py:factory``, ``module:factory``,
``timm:NAME``, ``torchvision:NAME``, ``ultralytics:NAME.yaml``) becomes an ``nn.Module``."""
from cspcost.sources.resolve import Resolved, build, list_models, resolve, resolve_model

__all__ = ["Resolved", "build", "list_models", "resolve", "resolve_model"]
