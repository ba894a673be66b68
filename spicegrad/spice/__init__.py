"""Everything that touches ngspice: model library, netlist writing, running, raw-file parsing."""

from .._lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    ".errors": ("NgspiceNotFound", "SpiceError"),
    ".library": ("include_line", "lib_path", "models_dir"),
    ".netlist": ("Netlist", "pulse", "pwl", "sin"),
    ".runner": ("Result", "ngspice_version", "run"),
})
