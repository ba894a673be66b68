"""e-prop on a spiking recurrent network with PCM synapses (SRNN-PCM, Demirag et al. 2021).

* :mod:`.model` — LIF network, e-prop gradients, BPTT reference;
* :mod:`.task` — the sinusoid regression task;
* :mod:`.train` — training on PCM crossbars (:mod:`spicegrad.crossbar.pcm_synapse`) or fp32;
* :mod:`.presets` — tuned and seed hyperparameters; :mod:`.plots`, :mod:`.cli`.
"""

from .model import EpropConfig, eprop_gradients, lif_forward
from .presets import make_configs
from .task import make_task
from .train import EpropNetwork, EpropTrainConfig, Trainer

__all__ = ["EpropConfig", "EpropNetwork", "EpropTrainConfig", "Trainer", "eprop_gradients", "lif_forward",
           "make_configs", "make_task"]
