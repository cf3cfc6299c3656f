"""The wheel lists every package of the source tree (a non-editable install must not lose one)."""
from __future__ import annotations

from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent


def test_pyproject_lists_every_package() -> None:
    """Every folder with an __init__.py under cspcost/ and models/ is in [tool.setuptools] packages."""
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "cspcost").rglob("__init__.py")}
    found |= {".".join(("cspcost_models", *p.parent.relative_to(ROOT / "models").parts)).rstrip(".")
              for p in (ROOT / "models").rglob("__init__.py")}
    assert found == listed
