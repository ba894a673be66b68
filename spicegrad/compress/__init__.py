"""Compression and hardware mapping of trained spiking networks (issue 8, seed 004).

Pruning (:mod:`.pruning`), quantisation to device levels (:mod:`.levels`, :mod:`.quantization`),
fine-tuning on the twin (:mod:`.finetune`), mapping onto T×T crossbar tiles (:mod:`.mapping`,
:mod:`.netlist`), the topology view (:mod:`.topology`) and trade-off curves (:mod:`.curves`).
"""

from .levels import DeviceLevels, device_levels, mss_pulse_levels, pcm_set_levels, uniform_levels
from .mapping import SynapseLayer, TileMapping, map_layers, memprop_layers
from .network import CompressedMemPropNet, CompressError, load_compressed, save_compressed
from .pruning import prune, prune_masks
from .quantization import nearest_level, quantize, quantize_ste

__all__ = [
    "CompressError",
    "CompressedMemPropNet",
    "DeviceLevels",
    "SynapseLayer",
    "TileMapping",
    "device_levels",
    "load_compressed",
    "map_layers",
    "memprop_layers",
    "mss_pulse_levels",
    "nearest_level",
    "pcm_set_levels",
    "prune",
    "prune_masks",
    "quantize",
    "quantize_ste",
    "save_compressed",
    "uniform_levels",
]
