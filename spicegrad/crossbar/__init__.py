"""Memristive crossbars: topology, netlist generator, weight mapping, twin layers and tiling."""

from .._lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    ".generator": ("DC", "crossbar_circuit", "crossbar_netlist", "estimate", "parse_stimulus"),
    ".mapping": ("Mapping", "map_weights", "outputs_from_currents"),
    ".topology": ("CrossbarSpec",),
})
