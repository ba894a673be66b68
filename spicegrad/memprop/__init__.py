"""MEMprop: a fully memristive spiking network (MIF neurons, MSS synapse pairs) trained by BPTT
through the validated twins (analog spikes, no surrogate gradient).

* :mod:`.model` — the network, its configuration, loss and prediction;
* :mod:`.train` — training with checkpoints, resume and certification of the twins;
* :mod:`.drift` — how far a read moves the synapses (the static-read check, read scale);
* :mod:`.plots`, :mod:`.cli` — figures and ``spicegrad train memprop``.
"""

from .._lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    ".drift": ("READ_SCALES", "static_check"),
    ".model": ("MemPropConfig", "MemPropNet", "memprop_loss", "predict"),
    ".train": ("CheckpointError", "MemPropTrainConfig", "load_checkpoint", "load_net", "train_memprop"),
})
