"""e-prop on a spiking recurrent network with PCM synapses (SRNN-PCM, Demirag et al. 2021).

* :mod:`.model` — LIF network, e-prop gradients, BPTT reference;
* :mod:`.task` — the sinusoid regression task;
* :mod:`.train` — training on PCM crossbars (:mod:`spicegrad.crossbar.pcm_synapse`) or fp32;
* :mod:`.presets` — tuned and seed hyperparameters; :mod:`.plots`, :mod:`.cli`.
"""

from .._lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    ".model": ("EpropConfig", "eprop_gradients", "lif_forward"),
    ".presets": ("make_configs",),
    ".task": ("make_task",),
    ".train": ("EpropNetwork", "EpropTrainConfig", "Trainer"),
})
