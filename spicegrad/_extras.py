"""Optional features and the extra that installs each: a command that needs a missing one says
which ``pip install "spicegrad[...]"`` brings it, instead of failing on an import deep inside."""

from __future__ import annotations

import importlib
from types import ModuleType

from .errors import InputError

#: extra name -> (module that must import, what it is for)
EXTRAS = {
    "dask": ("dask.distributed", "--workers / --scheduler (Dask fan-out)"),
    "shared": ("PySpice.Spice.NgSpice.Shared", "backend='shared' (libngspice in-process, via PySpice)"),
}


class MissingExtra(InputError):
    """An optional dependency is not installed; the message names the extra that brings it."""


def require(extra: str) -> ModuleType:
    """Import the module behind ``extra`` or raise :class:`MissingExtra` naming the install."""
    module, feature = EXTRAS[extra]
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtra(
            f"{feature} needs the optional dependency {module.split('.')[0]!r}, which is not installed "
            f"({exc.msg}); install it with: pip install \"spicegrad[{extra}]\""
        ) from exc
