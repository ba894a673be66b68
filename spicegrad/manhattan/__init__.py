"""In-situ Manhattan-rule training of a memristive crossbar perceptron (Prezioso et al. 2015).

* :mod:`.model` — the perceptron, the rule and the training loop;
* :mod:`.devices` — device pulse-response curves, variation, pulsed arrays, input checks;
* :mod:`.circuit` — the MSS crossbar as a circuit, on the twin or in ngspice;
* :mod:`.tasks` — the seed's tasks; :mod:`.plots`, :mod:`.cli`.
"""

from .._lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    ".devices": ("DeviceCurve", "MSSPulses", "ShiftDistribution", "get_curve"),
    ".model": ("CrossbarPerceptron", "summarize"),
    ".tasks": ("get_task",),
})
