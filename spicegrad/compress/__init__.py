"""Compression and hardware mapping of trained spiking networks (issue 8, seed 004).

Pruning (:mod:`.pruning`), quantisation to device levels (:mod:`.levels`, :mod:`.quantization`),
fine-tuning on the twin (:mod:`.finetune`), mapping onto T×T crossbar tiles (:mod:`.mapping`,
:mod:`.netlist`), the topology view (:mod:`.topology`) and trade-off curves (:mod:`.curves`).
"""

from .._lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    ".levels": ("DeviceLevels", "device_levels", "mss_pulse_levels", "pcm_set_levels", "uniform_levels"),
    ".mapping": ("SynapseLayer", "TileMapping", "map_layers", "memprop_layers"),
    ".network": ("CompressedMemPropNet", "CompressError", "load_compressed", "save_compressed"),
    ".pruning": ("prune", "prune_masks"),
    ".quantization": ("nearest_level", "quantize", "quantize_ste"),
})
