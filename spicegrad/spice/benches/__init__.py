"""ngspice testbenches for single devices, and twin-vs-ngspice comparisons on a common time grid.

One module per device (``mss``, ``mif``, ``pcm``) builds the testbench netlist from the twin's
own parameter record, runs it, samples the ngspice traces at the twin's grid t_k = k·dt and
returns a :class:`Comparison`. Each module offers ``demo_comparison()``: the embedded default
that ``spicegrad demo`` plots.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

#: ngspice accuracy for every twin-vs-ngspice cross-check (testbenches, crossbars, training in
#: the loop): tight tolerances; each caller limits the step to a tenth of the twin's dt. Tighter
#: reltol makes Newton stall at the PCM track-and-hold switch.
SPICE_OPTIONS = {"reltol": 1e-6, "abstol": 1e-15, "vntol": 1e-9}


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
        d = np.asarray(self.twin[name], dtype=float) - np.asarray(self.spice[name], dtype=float)
        return {"max_abs": float(np.max(np.abs(d))), "rms": float(np.sqrt(np.mean(d * d)))}
