"""The wheel lists every package of the source tree (a non-editable install must not lose one)."""
from __future__ import annotations

import ast
from pathlib import Path

import cspcost

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


def test_public_api_is_typed() -> None:
    """Every lazily loaded name of ``cspcost`` is also imported for type checkers (so ``cspcost.analyze``
    is a function to mypy, not Any), from the module it is loaded from at run time; py.typed ships."""
    tree = ast.parse((ROOT / "cspcost" / "__init__.py").read_text())
    block = next(n for n in tree.body if isinstance(n, ast.If) and ast.unparse(n.test) == "TYPE_CHECKING")
    typed = {alias.name: node.module for node in block.body if isinstance(node, ast.ImportFrom)
             for alias in node.names}
    lazy = {name: f"cspcost.{module}" for name, module in cspcost._LAZY.items()}
    assert lazy == typed
    assert (ROOT / "cspcost" / "py.typed").is_file()
    assert "py.typed" in tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["cspcost"]


def test_every_module_imports() -> None:
    """Every module of cspcost and cspcost_models imports: a module renamed in one branch and still
    imported by its old name in another (``sources.resolved`` -> ``sources.record``) fails here, not
    at a user's first ``analyze --predict``. Optional libraries are imported lazily, so none is needed."""
    import importlib
    import pkgutil

    import cspcost_models

    broken = {}
    for package in (cspcost, cspcost_models):
        for module in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            if module.name.endswith("__main__"):  # runs the CLI
                continue
            try:
                importlib.import_module(module.name)
            except ImportError as exc:
                broken[module.name] = str(exc)
    assert broken == {}
