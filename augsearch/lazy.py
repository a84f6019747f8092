"""Packages that import their public names on first use (PEP 562), so that ``import augsearch`` and
``augsearch --help`` do not pay for torch, Ray and Optuna before anything needs them.

A package lists its names once, as imports under ``if TYPE_CHECKING:`` (what type checkers and
editors read); :func:`exports` reads that block from the package's source and imports each name
from its module when it is first asked for.
"""

from __future__ import annotations

import ast
import importlib
import sys
from collections.abc import Callable
from typing import Any


def exports(package: str) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for ``package``, called from its ``__init__.py``."""
    where = type_checking_imports(package)

    def __getattr__(name: str) -> Any:  # noqa: N807  (the module hook's own name)
        if name not in where:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module, original = where[name]
        value = getattr(importlib.import_module(module), original)
        setattr(sys.modules[package], name, value)  # later lookups find it without coming here
        return value

    def __dir__() -> list[str]:  # noqa: N807
        return sorted({*vars(sys.modules[package]), *where})

    return __getattr__, __dir__


def type_checking_imports(package: str) -> dict[str, tuple[str, str]]:
    """Name -> (module, its name there) of each ``from MODULE import NAME [as ALIAS]`` under the
    ``if TYPE_CHECKING:`` of ``package``'s ``__init__.py``."""
    source = sys.modules[package].__loader__.get_source(package)  # also from a zip; None without the .py
    if source is None:
        raise ImportError(f"{package}: its names are read from its __init__.py, which is not installed")
    where: dict[str, tuple[str, str]] = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            for imported in node.body:
                if isinstance(imported, ast.ImportFrom) and imported.module and not imported.level:
                    where.update({a.asname or a.name: (imported.module, a.name) for a in imported.names})
    return where
