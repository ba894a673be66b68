"""The made-up device of examples/06_bring_your_own_device.py, loaded once for every test that
registers it: one definition for the example and the tests, so they cannot drift apart."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

MODULE = "spicegrad_example_06"


def _load():
    if MODULE in sys.modules:
        return sys.modules[MODULE]
    path = Path(__file__).resolve().parents[1] / "examples" / "06_bring_your_own_device.py"
    spec = importlib.util.spec_from_file_location(MODULE, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[MODULE] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


EXAMPLE = _load()
