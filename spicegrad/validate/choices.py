"""The models the validator takes, listed without importing numpy, scipy or torch (the command
line's ``validate --model`` choices): each registered device with an adapter, then the circuits."""

from __future__ import annotations

from ..devices import registry

#: validation models that are circuits of several devices, not registered devices: model ->
#: its adapter module in :mod:`spicegrad.validate.adapters`
CIRCUITS = {"crossbar": "crossbar", "stdp": "stdp"}


def validated_models() -> tuple[str, ...]:
    """Every model the validator takes: each registered device with an adapter, then the circuits."""
    return (*(k.name for k in registry.kinds() if k.declares("adapter") or k.declares("reference_rhs")), *CIRCUITS)
