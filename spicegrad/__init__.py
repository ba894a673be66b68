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

import importlib
from typing import Any

__version__ = "0.1.0"

#: public name -> module that defines it
_PUBLIC = {
    "MSS": "spicegrad.devices.mss",
    "MSSParams": "spicegrad.devices.mss",
    "MIF": "spicegrad.devices.mif",
    "MIFParams": "spicegrad.devices.mif",
    "PCMArray": "spicegrad.devices.pcm",
    "PCMParams": "spicegrad.devices.pcm",
    "AlphaCurrent": "spicegrad.devices.alpha",
    "AlphaParams": "spicegrad.devices.alpha",
    "DeviceParams": "spicegrad.devices",
    "param": "spicegrad.devices",
    "registry": "spicegrad.devices",
    "get_integrator": "spicegrad.devices",
    "DeviceKind": "spicegrad.devices.registry",
    "register": "spicegrad.devices.registry",
    "Sine": "spicegrad.stimuli",
    "PulseTrain": "spicegrad.stimuli",
    "Samples": "spicegrad.stimuli",
    "grid": "spicegrad.stimuli",
    "CrossbarSpec": "spicegrad.crossbar.topology",
    "CrossbarLayer": "spicegrad.crossbar.layers",
    "simulate_crossbar": "spicegrad.crossbar.layers",
    "row_samples": "spicegrad.crossbar.layers",
    "crossbar_netlist": "spicegrad.crossbar.generator",
    "map_weights": "spicegrad.crossbar.mapping",
    "run": "spicegrad.spice.runner",
    "Result": "spicegrad.spice.runner",
    "run_validation": "spicegrad.validate.suite",
    "require_certified": "spicegrad.validate.certificates",
    "compare": "spicegrad.compare",
    "SpicegradError": "spicegrad.errors",
    "InputError": "spicegrad.errors",
    "SpiceError": "spicegrad.spice.errors",
}

__all__ = ["__version__", *sorted(_PUBLIC)]


def __getattr__(name: str) -> Any:
    if name in _PUBLIC:
        module = importlib.import_module(_PUBLIC[name])
        value = module if module.__name__ == f"spicegrad.{name}" else getattr(module, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'spicegrad' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_PUBLIC))
