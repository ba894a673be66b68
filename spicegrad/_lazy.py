"""Names imported on first use: a package's public names, and ``"module:attribute"`` references.

A package whose modules load torch (or numpy, matplotlib) exports its names lazily, so that
importing one light submodule of it (a command's parser, a table of names) does not import the
rest::

    from .._lazy import lazy_exports

    __getattr__, __dir__, __all__ = lazy_exports(__name__, {
        ".model": ("MemPropConfig", "MemPropNet"),   # as `from .model import MemPropConfig, MemPropNet`
        ".": ("registry",),                          # a submodule, as `from . import registry`
    })
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping, Sequence
from importlib.util import resolve_name
from typing import Any


def lazy_exports(package: str, exports: Mapping[str, Sequence[str]]
                 ) -> tuple[Callable[[str], Any], Callable[[], list[str]], list[str]]:
    """(``__getattr__``, ``__dir__``, ``__all__``) for ``package``, whose public names are
    ``exports``: module (relative to ``package``, ``"."`` for its submodules) -> names. A name is
    imported on first access and then kept in the package's namespace."""
    source = {name: resolve_name(module, package) if module.startswith(".") else module
              for module, names in exports.items() for name in names}

    def __getattr__(name: str) -> Any:
        if name not in source:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        if source[name] == package:
            value = importlib.import_module(f"{package}.{name}")
        else:
            value = getattr(importlib.import_module(source[name]), name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(source))

    return __getattr__, __dir__, sorted(source)


def import_ref(ref: str) -> Any:
    """The object a ``"module:attribute"`` reference names, imported now."""
    module, _, attr = ref.partition(":")
    return getattr(importlib.import_module(module), attr)
