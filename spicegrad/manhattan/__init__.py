"""In-situ Manhattan-rule training of a memristive crossbar perceptron (Prezioso et al. 2015).

* :mod:`.model` — the perceptron, the rule and the training loop;
* :mod:`.devices` — device pulse-response curves, variation, pulsed arrays, input checks;
* :mod:`.circuit` — the MSS crossbar as a circuit, on the twin or in ngspice;
* :mod:`.tasks` — the seed's tasks; :mod:`.plots`, :mod:`.cli`.
"""

from .devices import DeviceCurve, MSSPulses, ShiftDistribution, get_curve
from .model import CrossbarPerceptron, summarize
from .tasks import get_task

__all__ = ["CrossbarPerceptron", "DeviceCurve", "MSSPulses", "ShiftDistribution", "get_curve", "get_task", "summarize"]
