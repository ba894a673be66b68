"""MEMprop: a fully memristive spiking network (MIF neurons, synapse pairs of a registered cell:
MSS by default) trained by BPTT through the validated twins (analog spikes, no surrogate gradient).

* :mod:`.model` — the network, its configuration, loss and prediction;
* :mod:`.train` — training with checkpoints, resume and certification of the twins;
* :mod:`.drift` — how far a read moves the synapses (the static-read check, read scale);
* :mod:`.choices` — the synapse devices the command line offers (without torch);
* :mod:`.plots`, :mod:`.cli` — figures and ``spicegrad train memprop``.
"""

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

if TYPE_CHECKING:  # the public names; imported on first use (spicegrad._lazy)
    from .drift import READ_SCALES, static_check
    from .model import MemPropConfig, MemPropNet, memprop_loss, predict
    from .train import CheckpointError, MemPropTrainConfig, load_checkpoint, load_net, train_memprop

__getattr__, __dir__, __all__ = lazy_exports(__name__)
