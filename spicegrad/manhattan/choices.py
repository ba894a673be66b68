"""The names ``train manhattan --device`` accepts, importable without numpy or torch: the command
line lists them in its help, built from the registry when the parser is built (a device
registered before ``main`` runs is listed), and :mod:`.cli` checks a value against them."""

from __future__ import annotations

from ..devices import registry

#: the seed-shaped curve: the one named device that is not in the registry
SEED = "seed"
#: the registered cell that takes the PCM model's own pulses (its twin, or its mean-field curve)
PCM = "pcm"


def device_names() -> tuple[str, ...]:
    """Registered cells, then ``seed``: the names ``--device`` may take besides a curve FILE (a
    cell must also take pulses, which is checked when the command runs)."""
    return (*registry.names("cell"), SEED)
