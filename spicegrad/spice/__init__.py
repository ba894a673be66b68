"""Everything that touches ngspice: model library, netlist writing, running, raw-file parsing."""

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

if TYPE_CHECKING:  # the public names; imported on first use (spicegrad._lazy)
    from .errors import NgspiceNotFound, SpiceError
    from .library import include_line, lib_path, models_dir
    from .netlist import Netlist, pulse, pwl, sin
    from .runner import Result, ngspice_version, run

__getattr__, __dir__, __all__ = lazy_exports(__name__)
