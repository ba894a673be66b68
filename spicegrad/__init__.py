"""spicegrad: ngspice subcircuits and differentiable PyTorch twins of memristive devices.

Each device (Knowm MSS memristor, memristive integrate-and-fire neuron, PCM cell, alpha
current) exists as an ngspice subcircuit and as a twin, declared once in the device registry.
The public API::

    import spicegrad as sg
    sg.MSS, sg.MIF, sg.PCMArray, sg.AlphaCurrent       # twins (and their Params records)
    sg.Sine, sg.PulseTrain, sg.Samples, sg.grid        # stimuli for both halves
    sg.CrossbarSpec, sg.CrossbarLayer, sg.crossbar_netlist, sg.simulate_crossbar
    sg.Periphery, sg.SpiceCrossbar                     # read-out periphery in the circuit; a layer
                                                       # run by ngspice, differentiated by its twin
    sg.run                                             # a netlist through ngspice -> Result
    sg.run_validation, sg.require_certified            # the validator and its gate
    sg.registry, sg.DeviceKind, sg.register            # the device registry (sg.DeviceParams, sg.param,
                                                       # sg.get_integrator to write a twin)
    sg.SpicegradError                                  # base of every spicegrad error

Names are imported on first use, so ``import spicegrad`` stays light (no torch until a twin is
touched). Subpackages (``spicegrad.memprop``, ``spicegrad.eprop``, ...) export their own names.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._lazy import lazy_exports

__version__ = "0.1.0"

if TYPE_CHECKING:  # the public names; imported on first use (spicegrad._lazy)
    from . import compare
    from .crossbar.generator import crossbar_netlist
    from .crossbar.layers import CrossbarLayer, row_samples, simulate_crossbar
    from .crossbar.mapping import map_weights
    from .crossbar.periphery import Periphery
    from .crossbar.topology import CrossbarSpec
    from .devices import DeviceParams, get_integrator, param, registry
    from .devices.alpha import AlphaCurrent, AlphaParams
    from .devices.mif import MIF, MIFParams
    from .devices.mss import MSS, MSSParams
    from .devices.pcm import PCMArray, PCMParams
    from .devices.registry import DeviceKind, register
    from .errors import InputError, SpicegradError
    from .spice.errors import SpiceError
    from .spice.runner import Result, run
    from .spiceloop.layer import SpiceCrossbar
    from .stimuli import PulseTrain, Samples, Sine, grid
    from .validate.certificates import require_certified
    from .validate.suite import run_validation

__getattr__, __dir__, _public = lazy_exports(__name__)
__all__ = ["__version__", *_public]
