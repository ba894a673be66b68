"""Everything that touches ngspice: model library, netlist writing, running, raw-file parsing."""

from .errors import NgspiceNotFound, SpiceError
from .library import include_line, lib_path, models_dir
from .netlist import Netlist, pulse, pwl, sin
from .runner import Result, ngspice_version, run

__all__ = [
    "NgspiceNotFound",
    "Netlist",
    "Result",
    "SpiceError",
    "include_line",
    "lib_path",
    "models_dir",
    "ngspice_version",
    "pulse",
    "pwl",
    "run",
    "sin",
]
