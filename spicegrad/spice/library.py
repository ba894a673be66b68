"""Where the ngspice subcircuit library (models/*.lib) lives, and how a netlist includes it."""

from __future__ import annotations

import os
import sys
from pathlib import Path

MODELS = ("mss", "mif", "pcm", "alpha")


def models_dir() -> Path:
    """The folder holding mss.lib, mif.lib, pcm.lib and alpha.lib.

    Looked up in order: $SPICEGRAD_MODELS, the source checkout (``models/`` beside the package),
    and the installed copy (``<prefix>/share/spicegrad/models``).
    """
    candidates = []
    if os.environ.get("SPICEGRAD_MODELS"):
        candidates.append(Path(os.environ["SPICEGRAD_MODELS"]))
    candidates.append(Path(__file__).resolve().parents[2] / "models")
    candidates.append(Path(sys.prefix) / "share" / "spicegrad" / "models")
    for folder in candidates:
        if (folder / "mss.lib").exists():
            return folder
    raise FileNotFoundError(
        "spicegrad's subcircuit library (models/mss.lib) was not found in "
        + ", ".join(map(str, candidates))
        + "; set SPICEGRAD_MODELS to the folder that holds it"
    )


def lib_path(model: str) -> Path:
    """Absolute path of ``models/<model>.lib`` (model in 'mss', 'mif', 'pcm', 'alpha')."""
    if model not in MODELS:
        raise ValueError(f"model = {model!r}: must be one of {MODELS}")
    return models_dir() / f"{model}.lib"


def include_line(model: str) -> str:
    return f'.include "{lib_path(model)}"'
