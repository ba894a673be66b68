"""Names imported on first use: a package's public names, and ``"module:attribute"`` references.

A package whose modules load torch (or numpy, matplotlib) exports its names lazily, so that
importing one light submodule of it (a command's parser, a table of names) does not import the
rest. Its public names are the ``from ... import`` statements in its ``if TYPE_CHECKING:`` block,
which type checkers, IDEs and the API documentation read as ordinary imports; at run time
:func:`lazy_exports` reads the same block from the package's source and imports each name on
first access::

    from typing import TYPE_CHECKING

    from .._lazy import lazy_exports

    if TYPE_CHECKING:
        from . import registry                       # a submodule
        from .model import MemPropConfig, MemPropNet

    __getattr__, __dir__, __all__ = lazy_exports(__name__)
"""

from __future__ import annotations

import ast
import importlib
import sys
from collections.abc import Callable
from importlib.util import resolve_name
from pathlib import Path
from typing import Any


def typing_block_imports(source: str) -> dict[str, str]:
    """public name -> module (relative spelling, e.g. ``.model`` or ``.``) of every
    ``from ... import`` in the top-level ``if TYPE_CHECKING:`` blocks of ``source``."""
    table = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            for stmt in node.body:
                if isinstance(stmt, ast.ImportFrom):
                    module = "." * stmt.level + (stmt.module or "")
                    table.update({alias.asname or alias.name: module for alias in stmt.names})
    return table


def lazy_exports(package: str) -> tuple[Callable[[str], Any], Callable[[], list[str]], list[str]]:
    """(``__getattr__``, ``__dir__``, ``__all__``) for ``package``, whose public names are the
    imports of its ``if TYPE_CHECKING:`` block. A name is imported on first access and then
    kept in the package's namespace."""
    module = sys.modules[package]
    exports = typing_block_imports(Path(module.__file__).read_text(encoding="utf-8"))
    source = {name: resolve_name(where, package) if where.startswith(".") else where
              for name, where in exports.items()}

    def __getattr__(name: str) -> Any:
        if name not in source:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        if source[name] == package:
            value = importlib.import_module(f"{package}.{name}")
        else:
            value = getattr(importlib.import_module(source[name]), name)
        setattr(module, name, value)
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(module)) | set(source))

    return __getattr__, __dir__, sorted(source)


def import_ref(ref: str) -> Any:
    """The object a ``"module:attribute"`` reference names, imported now."""
    module, _, attr = ref.partition(":")
    return getattr(importlib.import_module(module), attr)
