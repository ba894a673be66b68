"""Where the ngspice subcircuit library (models/*.lib) lives, and how a netlist includes it."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from ..errors import InputError


def data_dir(name: str, marker: str, env: str) -> Path:
    """A top-level data folder of the project (``models``, ``validate/cases``): $``env``, then
    the source checkout beside the package, then the installed copy under
    ``<prefix>/share/spicegrad/``; the first that holds ``marker`` wins."""
    candidates = []
    if os.environ.get(env):
        candidates.append(Path(os.environ[env]))
    candidates.append(Path(__file__).resolve().parents[2] / name)
    candidates.append(Path(sys.prefix) / "share" / "spicegrad" / name)
    for folder in candidates:
        if (folder / marker).exists():
            return folder
    raise FileNotFoundError(
        f"spicegrad's {name}/{marker} was not found in " + ", ".join(map(str, candidates))
        + f"; set {env} to the folder that holds it"
    )


def models_dir() -> Path:
    """The folder holding mss.lib, mif.lib, pcm.lib and alpha.lib ($SPICEGRAD_MODELS first)."""
    return data_dir("models", "mss.lib", "SPICEGRAD_MODELS")


def lib_path(model: str) -> Path:
    """Absolute path of ``models/<model>.lib``, one of the library files that exist (the device
    registry names which file each device uses)."""
    folder = models_dir()
    path = folder / f"{model}.lib"
    if not isinstance(model, str) or "/" in model or "\\" in model or not path.is_file():
        known = sorted(p.stem for p in folder.glob("*.lib"))
        raise InputError(f"model library {model!r}: no {model}.lib in {folder}; known: {known}")
    return path


def include_line(model: str) -> str:
    return f'.include "{lib_path(model)}"'
