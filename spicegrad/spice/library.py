"""Where the package's data lives (the ngspice subcircuit library ``spicegrad/models/*.lib`` and
the validation cases ``spicegrad/cases/``), and how a netlist includes a library file.

Both folders are package data, found with :mod:`importlib.resources`, so a wheel installed into a
virtualenv, with ``pip install --user`` or with ``--target`` finds them the same way. An
environment variable ($SPICEGRAD_MODELS, $SPICEGRAD_CASES) points at another folder instead.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

from ..errors import InputError


def package_data(name: str, marker: str, env: str) -> Path:
    """The folder ``spicegrad/<name>``, or $``env`` when set; it must hold ``marker``."""
    override = os.environ.get(env)
    if override:
        folder = Path(override)
        where = f"${env}={override}"
    else:
        root = resources.files("spicegrad").joinpath(name)
        if not isinstance(root, Path):
            # ngspice reads files by path, so a zip-imported package cannot serve them.
            raise InputError(f"spicegrad's {name}/ is inside an archive ({root}); install spicegrad "
                             f"unpacked (pip does) or set {env} to a folder holding {marker}")
        folder = root
        where = "the installed package"
    if not (folder / marker).is_file():
        raise InputError(f"{folder} has no {marker} ({where}); set {env} to the folder that holds "
                         f"spicegrad's {name} files, or reinstall spicegrad")
    return folder


def models_dir() -> Path:
    """The folder holding mss.lib, mif.lib, pcm.lib and alpha.lib ($SPICEGRAD_MODELS first)."""
    return package_data("models", "mss.lib", "SPICEGRAD_MODELS")


def lib_path(model: str) -> Path:
    """Absolute path of ``spicegrad/models/<model>.lib``, one of the library files that exist (the device
    registry names which file each device uses)."""
    folder = models_dir()
    path = folder / f"{model}.lib"
    if not isinstance(model, str) or "/" in model or "\\" in model or not path.is_file():
        known = sorted(p.stem for p in folder.glob("*.lib"))
        raise InputError(f"model library {model!r}: no {model}.lib in {folder}; known: {known}")
    return path.resolve()


def include_line(model: str) -> str:
    return f'.include "{lib_path(model)}"'
