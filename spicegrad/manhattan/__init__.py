"""In-situ Manhattan-rule training of a memristive crossbar perceptron (Prezioso et al. 2015).

* :mod:`.model` — the perceptron, the rule and the training loop;
* :mod:`.devices` — device pulse-response curves, the pulse protocol of any pulse-programmable
  registered cell, variation, pulsed arrays, input checks;
* :mod:`.circuit` — the crossbar of such a cell as a circuit, on its twin or in ngspice;
* :mod:`.tasks` — the seed's tasks; :mod:`.plots`, :mod:`.cli`.
"""

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

if TYPE_CHECKING:  # the public names; imported on first use (spicegrad._lazy)
    from .devices import (
        CellPulses,
        DeviceCurve,
        MSSPulses,
        ShiftDistribution,
        cell_pulses,
        get_curve,
    )
    from .model import CrossbarPerceptron, summarize
    from .tasks import get_task

__getattr__, __dir__, __all__ = lazy_exports(__name__)
