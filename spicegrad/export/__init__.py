"""Back to SPICE: a trained MEMprop network as an ngspice netlist, verified against the twin.

:func:`export_netlist` writes the netlist; :func:`verify` runs test samples in ngspice and
compares the predicted class with the twin's; :mod:`.cli` is ``spicegrad export``.
"""

from .._lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    ".netlist": ("compression_masks", "export_netlist", "verify"),
})
