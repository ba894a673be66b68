"""spicegrad: ngspice subcircuits and differentiable PyTorch twins of memristive devices.

Each device (Knowm MSS memristor, memristive integrate-and-fire neuron, PCM cell, alpha
current) exists as an ngspice subcircuit and as a twin, declared once in the device registry.
The public API::

    import spicegrad as sg
    sg.MSS, sg.MIF, sg.PCMArray, sg.AlphaCurrent       # twins (and their Params records)
    sg.Sine, sg.PulseTrain, sg.Samples, sg.grid        # stimuli for both halves
    sg.CrossbarSpec, sg.CrossbarLayer, sg.crossbar_netlist, sg.simulate_crossbar
    sg.run                                             # a netlist through ngspice -> Result
    sg.run_validation, sg.require_certified            # the validator and its gate
    sg.registry, sg.DeviceKind, sg.register            # the device registry (sg.DeviceParams, sg.param,
                                                       # sg.get_integrator to write a twin)
    sg.SpicegradError                                  # base of every spicegrad error

Names are imported on first use, so ``import spicegrad`` stays light (no torch until a twin is
touched). Subpackages (``spicegrad.memprop``, ``spicegrad.eprop``, ...) export their own names.
"""

from __future__ import annotations

from ._lazy import lazy_exports

__version__ = "0.1.0"

__getattr__, __dir__, _public = lazy_exports(__name__, {
    "spicegrad.devices.mss": ("MSS", "MSSParams"),
    "spicegrad.devices.mif": ("MIF", "MIFParams"),
    "spicegrad.devices.pcm": ("PCMArray", "PCMParams"),
    "spicegrad.devices.alpha": ("AlphaCurrent", "AlphaParams"),
    "spicegrad.devices": ("DeviceParams", "param", "registry", "get_integrator"),
    "spicegrad.devices.registry": ("DeviceKind", "register"),
    "spicegrad.stimuli": ("Sine", "PulseTrain", "Samples", "grid"),
    "spicegrad.crossbar.topology": ("CrossbarSpec",),
    "spicegrad.crossbar.layers": ("CrossbarLayer", "simulate_crossbar", "row_samples"),
    "spicegrad.crossbar.generator": ("crossbar_netlist",),
    "spicegrad.crossbar.mapping": ("map_weights",),
    "spicegrad.spice.runner": ("run", "Result"),
    "spicegrad.validate.suite": ("run_validation",),
    "spicegrad.validate.certificates": ("require_certified",),
    ".": ("compare",),
    "spicegrad.errors": ("SpicegradError", "InputError"),
    "spicegrad.spice.errors": ("SpiceError",),
})
__all__ = ["__version__", *_public]
