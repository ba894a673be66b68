"""Compression and hardware mapping of trained spiking networks (issue 8, seed 004).

Pruning (:mod:`.pruning`), quantisation to device levels (:mod:`.levels`, :mod:`.quantization`),
fine-tuning on the twin (:mod:`.finetune`), mapping onto T×T crossbar tiles (:mod:`.mapping`,
:mod:`.netlist`), the topology view (:mod:`.topology`) and trade-off curves (:mod:`.curves`).
"""

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

if TYPE_CHECKING:  # the public names; imported on first use (spicegrad._lazy)
    from .levels import (
        DeviceLevels,
        device_levels,
        mss_pulse_levels,
        pcm_set_levels,
        uniform_levels,
    )
    from .mapping import SynapseLayer, TileMapping, map_layers, memprop_layers
    from .network import CompressedMemPropNet, CompressError, load_compressed, save_compressed
    from .pruning import prune, prune_masks
    from .quantization import nearest_level, quantize, quantize_ste

__getattr__, __dir__, __all__ = lazy_exports(__name__)
