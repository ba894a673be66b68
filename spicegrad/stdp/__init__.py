"""Device-level STDP: the weight-change window of an MSS synapse between two MIF neurons,
measured in the twin and in ngspice, and an unsupervised winner-take-all learner that uses it.

* :mod:`.protocol` — the pair protocol (every modelling choice, one record);
* :mod:`.window` — the twin's window and :func:`~.window.measure_window` (twin + ngspice);
* :mod:`.learner` — four 5×5 letters learned by a winner-take-all layer through the window;
* :mod:`.cli` — ``spicegrad train stdp``.
"""

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

if TYPE_CHECKING:  # the public names; imported on first use (spicegrad._lazy)
    from ..compare.stdp_protocol import PairProtocol, schedule
    from .window import Window, measure_window, twin_traces

__getattr__, __dir__, __all__ = lazy_exports(__name__)
