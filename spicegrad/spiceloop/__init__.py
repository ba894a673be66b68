"""SPICE in the loop: train through circuits only ngspice models (physics-aware training).

* :class:`SpiceCrossbar` — a crossbar layer whose forward pass is an ngspice run of the array
  with its periphery and whose backward pass is the ideal twin's vector-Jacobian product.
* :class:`ReadCircuit` — the circuit half: a batch of input vectors through one ngspice run
  (a DC sweep, or PWL time slots), fanned out over Dask workers when asked.
* :mod:`~spicegrad.spiceloop.experiment` — the digits experiment behind ``spicegrad train
  spice-loop``: trained on the twin and deployed, trained with SPICE in the loop, the twin's own.
"""

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

if TYPE_CHECKING:  # the public names; imported on first use (spicegrad._lazy)
    from .circuit import ReadCircuit
    from .config import ExperimentConfig
    from .experiment import run_seed
    from .layer import SpiceCrossbar

__getattr__, __dir__, __all__ = lazy_exports(__name__)
