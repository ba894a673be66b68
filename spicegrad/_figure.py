"""Figures without pyplot: spicegrad never switches matplotlib's backend or keeps figures open.

Each figure is a :class:`matplotlib.figure.Figure` on its own Agg canvas, so drawing works with
no display and a user's backend (Jupyter inline or widget, Qt, ...) stays the one they chose.
Nothing is registered with pyplot, so there is nothing to close; save with
:func:`spicegrad._io.atomic_savefig` (format from the file's suffix).
"""

from __future__ import annotations

from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure


def new_figure(figsize: tuple[float, float], **kwargs: Any) -> Figure:
    """An empty figure of ``figsize`` inches drawn by Agg, outside pyplot's state."""
    fig = Figure(figsize=figsize, **kwargs)
    FigureCanvasAgg(fig)
    return fig


def subplots(nrows: int = 1, ncols: int = 1, *, figsize: tuple[float, float], **kwargs: Any):
    """``(figure, axes)`` like :func:`matplotlib.pyplot.subplots` (same keywords: ``sharex``,
    ``squeeze``, ``gridspec_kw``, ...), on a figure from :func:`new_figure`."""
    fig = new_figure(figsize)
    return fig, fig.subplots(nrows, ncols, **kwargs)
