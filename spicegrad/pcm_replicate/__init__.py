"""Replications of Nandakumar et al. 2018 (Figs. 2, 5, 7) and multi-device WRITE statistics on
the validated PCM twin (:mod:`.figures`); ``spicegrad pcm`` (:mod:`.cli`)."""

from .figures import fig2, fig5, fig7, replicate, write_stats, write_stats_files

__all__ = ["fig2", "fig5", "fig7", "replicate", "write_stats", "write_stats_files"]
