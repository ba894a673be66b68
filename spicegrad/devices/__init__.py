"""Differentiable PyTorch twins of the devices in the model library, and the device registry.

Each twin has a frozen ``Params`` record (field names = the subcircuit's parameter names, units in
the field metadata), named presets, pure step functions and an ``nn.Module`` with ``simulate()``
returning traces shaped [T+1, *shape] (index 0 = the initial state). :mod:`.registry` ties each
twin to its subcircuit; every other part of spicegrad reads devices from there.
"""

from .._lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    ".": ("registry",),
    "._base": ("DeviceParams", "param"),
    ".alpha": ("AlphaCurrent", "AlphaParams"),
    ".integrators": ("INTEGRATORS", "get_integrator"),
    ".mif": ("MIF", "MIFParams"),
    ".mss": ("MSS", "MSSParams"),
    ".pcm": ("PCMArray", "PCMParams"),
    ".registry": ("DeviceKind", "register"),
})
