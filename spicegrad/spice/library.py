"""Where the ngspice subcircuit library (models/*.lib) lives, and how a netlist includes it."""

from __future__ import annotations

import os
import sys
from pathlib import Path

MODELS = ("mss", "mif", "pcm", "alpha")


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
    """Absolute path of ``models/<model>.lib`` (model in 'mss', 'mif', 'pcm', 'alpha')."""
    if model not in MODELS:
        raise ValueError(f"model = {model!r}: must be one of {MODELS}")
    return models_dir() / f"{model}.lib"


def include_line(model: str) -> str:
    return f'.include "{lib_path(model)}"'
