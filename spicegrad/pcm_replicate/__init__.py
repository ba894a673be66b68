"""Replications of Nandakumar et al. 2018 (Figs. 2, 5, 7) and multi-device WRITE statistics on
the validated PCM twin (:mod:`.figures`); ``spicegrad pcm`` (:mod:`.cli`)."""

from .._lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    ".figures": ("fig2", "fig5", "fig7", "replicate", "write_stats", "write_stats_files"),
})
