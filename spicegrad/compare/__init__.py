"""Twin versus ngspice: testbenches that give both halves the same stimulus, on one time grid.

One module per device (``mss``, ``mif``, ``pcm``) and per circuit (``crossbar``, ``stdp``)
builds the testbench netlist from the twin's own parameter record, runs it, samples the ngspice
traces at the twin's grid t_k = k·dt and returns a :class:`Comparison`. Each device module
offers ``demo_comparison()``: the embedded default that ``spicegrad demo`` plots (named in the
device registry). This layer sits above the devices, ngspice I/O and crossbars, and below the
validator, which adds the independent reference and the verdicts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .._lazy import lazy_exports

if TYPE_CHECKING:
    import numpy as np


@dataclass
class Comparison:
    """Twin and ngspice traces of one device run, sampled on the same grid ``t`` (s).

    ``twin`` and ``spice`` map waveform names to arrays shaped like ``t``; ``units`` gives each
    waveform's unit for plot axes; ``meta`` holds the parameters and stimulus description.
    """

    model: str
    title: str
    t: np.ndarray
    twin: dict[str, np.ndarray]
    spice: dict[str, np.ndarray]
    units: dict[str, str]
    meta: dict = field(default_factory=dict)

    def error(self, name: str) -> dict[str, float]:
        """max |twin - spice| and RMS of the difference for waveform ``name``."""
        import numpy as np

        d = np.asarray(self.twin[name], dtype=float) - np.asarray(self.spice[name], dtype=float)
        return {"max_abs": float(np.max(np.abs(d))), "rms": float(np.sqrt(np.mean(d * d)))}


# the pairings, one module per device or circuit, imported on first use (they import Comparison)
if TYPE_CHECKING:  # the public names; imported on first use (spicegrad._lazy)
    from .crossbar import compare_dc, compare_neurons, compare_transient
    from .mif import alpha_train, constant_current
    from .mss import compare_mss, mss_netlist
    from .pcm import compare_pcm, pcm_netlist
    from .plots import plot_comparison

__getattr__, __dir__, _pairings = lazy_exports(__name__)
__all__ = ["Comparison", *_pairings]
