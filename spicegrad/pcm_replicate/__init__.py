"""Replications of Nandakumar et al. 2018 (Figs. 2, 5, 7) and multi-device WRITE statistics on
the validated PCM twin (:mod:`.figures`); ``spicegrad pcm`` (:mod:`.cli`)."""

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

if TYPE_CHECKING:  # the public names; imported on first use (spicegrad._lazy)
    from .figures import fig2, fig5, fig7, replicate, write_stats, write_stats_files

__getattr__, __dir__, __all__ = lazy_exports(__name__)
