"""Memristive crossbars: topology, netlist generator, periphery, weight mapping, twin layers and tiling."""

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

if TYPE_CHECKING:  # the public names; imported on first use (spicegrad._lazy)
    from .generator import DC, crossbar_circuit, crossbar_netlist, estimate, parse_stimulus
    from .mapping import Mapping, map_weights, outputs_from_currents
    from .periphery import ADC, TIA, AccessTransistor, Periphery
    from .topology import CrossbarSpec

__getattr__, __dir__, __all__ = lazy_exports(__name__)
