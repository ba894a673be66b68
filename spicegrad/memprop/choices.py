"""The MEMprop synapse devices, listed without importing numpy or torch: the command line shows
them (``train memprop --synapse``), and :mod:`.model` checks a configuration against the same
names and fields."""

from __future__ import annotations

from ..devices import registry

#: the synapse device of seed 002 (Knowm's MSS, see :mod:`.model`)
DEFAULT_SYNAPSE = "mss"
#: what a registered cell must declare to be trained and exported as MEMprop synapse pairs
SYNAPSE_FIELDS = ("step", "conductance", "conductance_range", "state_from_conductance", "program")


def synapse_names() -> tuple[str, ...]:
    """Registered cells that declare every field of :data:`SYNAPSE_FIELDS` (read with
    ``DeviceKind.declares``, which imports nothing). A device whose read is not ohmic is listed
    here and refused when the configuration is built (:func:`.model.synapse_kind` says why)."""
    return tuple(k.name for k in registry.kinds("cell") if all(k.declares(f) for f in SYNAPSE_FIELDS))

#: co-designed neurons: what the analysis of the seed neuron's response says to learn (both
#: device thresholds and both bias voltages; spicegrad.memprop.neurons), and how values are shared
DEFAULT_LEARNED = ("v_on1", "v_on2", "v1", "v2")
SHARING = ("layer", "neuron")
