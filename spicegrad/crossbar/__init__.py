"""Memristive crossbars: topology, netlist generator, weight mapping, twin layers and tiling."""

from .generator import DC, crossbar_circuit, crossbar_netlist, estimate, parse_stimulus
from .mapping import Mapping, map_weights, outputs_from_currents
from .topology import CrossbarSpec

__all__ = [
    "DC",
    "CrossbarSpec",
    "Mapping",
    "crossbar_circuit",
    "crossbar_netlist",
    "estimate",
    "map_weights",
    "outputs_from_currents",
    "parse_stimulus",
]
