"""Back to SPICE: a trained MEMprop network as an ngspice netlist, verified against the twin.

:func:`export_netlist` writes the netlist; :func:`verify` runs test samples in ngspice and
compares the predicted class with the twin's; :mod:`.cli` is ``spicegrad export``.
"""

from .netlist import compression_masks, export_netlist, verify

__all__ = ["compression_masks", "export_netlist", "verify"]
