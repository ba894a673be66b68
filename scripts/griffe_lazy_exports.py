"""Griffe extension for the documentation build: a spicegrad package that exports its names
lazily (its ``__all__`` comes from ``spicegrad._lazy.lazy_exports``, which static analysis cannot
evaluate) exports the imports of its ``if TYPE_CHECKING:`` block, read by the same function the
package uses at run time."""

from __future__ import annotations

import ast
from typing import Any

import griffe

from spicegrad._lazy import typing_block_imports


class LazyExports(griffe.Extension):
    def on_module_members(self, *, node: ast.AST | griffe.ObjectNode, mod: griffe.Module, agent: Any,
                          **kwargs: Any) -> None:
        if isinstance(node, ast.Module) and mod.filepath and "lazy_exports(__name__)" in mod.source:
            mod.exports = sorted(typing_block_imports(mod.source))
