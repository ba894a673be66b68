"""e-prop on a spiking recurrent network with PCM synapses (SRNN-PCM, Demirag et al. 2021).

* :mod:`.model` — LIF network, e-prop gradients, BPTT reference;
* :mod:`.task` — the sinusoid regression task;
* :mod:`.train` — training on PCM crossbars (:mod:`spicegrad.crossbar.pcm_synapse`) or fp32;
* :mod:`.presets` — tuned and seed hyperparameters; :mod:`.plots`, :mod:`.cli`.
"""

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

if TYPE_CHECKING:  # the public names; imported on first use (spicegrad._lazy)
    from .model import EpropConfig, eprop_gradients, lif_forward
    from .presets import make_configs
    from .task import make_task
    from .train import EpropNetwork, EpropTrainConfig, Trainer

__getattr__, __dir__, __all__ = lazy_exports(__name__)
