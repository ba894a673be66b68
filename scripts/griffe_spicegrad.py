"""Griffe extension for the documentation build.

* A spicegrad package that exports its names lazily (its ``__all__`` comes from
  ``spicegrad._lazy.lazy_exports``, which static analysis cannot evaluate) exports the imports of
  its ``if TYPE_CHECKING:`` block, read by the same function the package uses at run time.
* Docstrings use Sphinx roles (``:func:`name```), which Markdown would show verbatim; they are
  shown as code (``name``).
"""

from __future__ import annotations

import ast
import re
from typing import Any

import griffe

from spicegrad._lazy import typing_block_imports

_ROLE = re.compile(r":(?:func|meth|class|mod|attr|data|exc|obj|const):`~?\.?([^`]+)`")


class SpicegradDocs(griffe.Extension):
    def on_module_members(self, *, node: ast.AST | griffe.ObjectNode, mod: griffe.Module, agent: Any,
                          **kwargs: Any) -> None:
        if isinstance(node, ast.Module) and mod.filepath and "lazy_exports(__name__)" in mod.source:
            mod.exports = sorted(typing_block_imports(mod.source))

    def on_instance(self, *, node: ast.AST | griffe.ObjectNode, obj: griffe.Object, agent: Any,
                    **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = _ROLE.sub(r"`\1`", obj.docstring.value)
