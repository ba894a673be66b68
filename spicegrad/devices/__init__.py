"""Differentiable PyTorch twins of the devices in ``models/``.

Each twin has a frozen ``Params`` record (field names = the subcircuit's parameter names, units in
the field metadata), named presets, pure step functions and an ``nn.Module`` with ``simulate()``
returning traces shaped [T+1, *shape] (index 0 = the initial state).
"""

from .alpha import AlphaCurrent, AlphaParams
from .integrators import INTEGRATORS, get_integrator
from .mif import MIF, MIFParams
from .mss import MSS, MSSParams
from .pcm import PCMArray, PCMParams

__all__ = [
    "INTEGRATORS",
    "MIF",
    "MIFParams",
    "AlphaCurrent",
    "AlphaParams",
    "MSS", "MSSParams", "PCMArray", "PCMParams", "get_integrator"]
