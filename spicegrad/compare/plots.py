"""Plots people look at: twin vs ngspice overlays with units on every axis."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .._figure import subplots
from .._io import atomic_savefig
from . import Comparison

_PREFIX = [(1e-12, "p"), (1e-9, "n"), (1e-6, "µ"), (1e-3, "m"), (1.0, "")]


def display_scale(values: np.ndarray, unit: str) -> tuple[float, str]:
    """A display factor and prefixed unit so numbers read naturally (e.g. 0.002 A -> 2 mA)."""
    if unit in ("1", "", "µS"):
        return 1.0, unit or "1"
    peak = float(np.max(np.abs(values))) or 1.0
    factor, prefix = _PREFIX[0]
    for f, p in _PREFIX:
        if peak >= f:
            factor, prefix = f, p
    return factor, prefix + unit


def plot_comparison(c: Comparison, path: str | Path) -> Path:
    """One column per waveform: twin and ngspice overlaid (top), their difference (bottom)."""
    names = list(c.twin)
    fig, axes = subplots(2, len(names), figsize=(5.5 * len(names), 6), squeeze=False, sharex=True)
    t_factor, t_unit = display_scale(c.t, "s")
    for col, name in enumerate(names):
        twin, spice = np.asarray(c.twin[name]), np.asarray(c.spice[name])
        factor, unit = display_scale(spice, c.units[name])
        top, bottom = axes[0, col], axes[1, col]
        top.plot(c.t / t_factor, spice / factor, lw=2.5, alpha=0.5, label="ngspice")
        top.plot(c.t / t_factor, twin / factor, lw=1.0, ls="--", label="twin")
        top.set_ylabel(f"{name} ({unit})")
        top.legend(loc="best")
        err = c.error(name)
        shown = "" if unit == "1" else f" {unit}"  # a dimensionless state: no unit after the number
        top.set_title(f"{name}: max|Δ| = {err['max_abs'] / factor:.3g}{shown}")
        bottom.plot(c.t / t_factor, (twin - spice) / factor, lw=1.0, color="C3")
        bottom.set_ylabel(f"twin − ngspice ({unit})")
        bottom.set_xlabel(f"time ({t_unit})")
    fig.suptitle(c.title)
    fig.tight_layout()
    out = atomic_savefig(fig, path, dpi=110)
    return out
