"""Back to SPICE: a trained MEMprop network as an ngspice netlist, verified against the twin.

:func:`export_netlist` writes the netlist; :func:`verify` runs test samples in ngspice and
compares the predicted class with the twin's; :mod:`.cli` is ``spicegrad export``.
"""

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

if TYPE_CHECKING:  # the public names; imported on first use (spicegrad._lazy)
    from .netlist import compression_masks, export_netlist, verify

__getattr__, __dir__, __all__ = lazy_exports(__name__)
