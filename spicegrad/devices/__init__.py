"""Differentiable PyTorch twins of the devices in the model library, and the device registry.

Each twin has a frozen ``Params`` record (field names = the subcircuit's parameter names, units in
the field metadata), named presets, pure step functions and an ``nn.Module`` with ``simulate()``
returning traces shaped [T+1, *shape] (index 0 = the initial state). :mod:`.registry` ties each
twin to its subcircuit; every other part of spicegrad reads devices from there.
"""

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

if TYPE_CHECKING:  # the public names; imported on first use (spicegrad._lazy)
    from . import registry
    from ._base import DeviceParams, param
    from .alpha import AlphaCurrent, AlphaParams
    from .integrators import INTEGRATORS, get_integrator
    from .mif import MIF, MIFParams
    from .mss import MSS, MSSParams
    from .pcm import PCMArray, PCMParams
    from .registry import DeviceKind, register

__getattr__, __dir__, __all__ = lazy_exports(__name__)
