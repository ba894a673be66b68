"""The names the compression modules accept, importable without torch: the command line lists
them as choices (``compress quantize --curve``, ``compress curves --curves``), and the modules
that check them import them from here. The pulse sources come from the device registry when
asked (:func:`sources`), so a device registered later is offered too."""

from __future__ import annotations

from ..devices import registry

UNIFORM, PCM_SET = "uniform", "pcm-set"
#: ``<device>-pulse``: the pulse response of a registered cell (:mod:`.levels`)
PULSE_SUFFIX = "-pulse"
#: the curves ``compress curves`` draws when none are named (the three it always drew)
DEFAULT_CURVES = (UNIFORM, "mss" + PULSE_SUFFIX, PCM_SET)


def pulse_devices() -> tuple[str, ...]:
    """Registered cells that can be pulse-programmed, in registration order."""
    return registry.pulsable()


def sources() -> tuple[str, ...]:
    """Where device levels come from: uniform states, the pulse response of every pulsable
    registered cell (``mss-pulse``, ...), the PCM cumulative SET curve (mean field)."""
    return (UNIFORM, *(d + PULSE_SUFFIX for d in pulse_devices()), PCM_SET)


def pulse_device(source: str) -> str | None:
    """The device of a ``<device>-pulse`` source, or None."""
    device = source[: -len(PULSE_SUFFIX)] if source.endswith(PULSE_SUFFIX) else None
    return device if device in pulse_devices() else None
