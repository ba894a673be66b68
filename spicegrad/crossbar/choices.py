"""The names the crossbar modules accept, importable without numpy or torch: the command line
lists them as choices (``netlist --device/--pairs/--neurons``, ``train eprop --method``), and the
modules that check them import them from here."""

from __future__ import annotations

from ..devices import registry

#: how outputs map to columns: a G+/G- column pair per output, or one column
PAIRS = ("differential", "single")
#: the ideal linear cell, the one crossbar device that is not in the device registry
RESISTOR = "resistor"
#: weight update methods of the PCM synapse arrays (:mod:`.pcm_synapse`); all but the first program PCM
METHODS = ("vanilla", "sign", "stochastic", "multi-mem", "mixed-precision")


def device_names() -> tuple[str, ...]:
    """Names ``--device`` accepts: every registered cell, and ``resistor``."""
    return (*registry.names("cell"), RESISTOR)


def neuron_names() -> tuple[str, ...]:
    """Names ``--neurons`` accepts: ``none`` and every registered neuron."""
    return ("none", *registry.names("neuron"))
