"""spicegrad: ngspice subcircuits and differentiable PyTorch twins of memristive devices.

Each device (Knowm MSS memristor, memristive integrate-and-fire neuron, PCM cell) exists as an
ngspice subcircuit under ``models/`` and as a twin under :mod:`spicegrad.devices`; the
:mod:`spicegrad.spice` runner executes netlists in ngspice and returns numpy traces.
"""

__version__ = "0.1.0"
