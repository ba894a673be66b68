"""Plots of ``spicegrad train stdp``: the window (twin and ngspice), learned weights, accuracy."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .._figure import subplots
from .._io import atomic_savefig
from .learner import LearnerResult
from .window import Window


def plot_window(window: Window, path: str | Path) -> Path:
    """ΔG (µS, left axis) and Δx (right axis) vs Δt (ms): twin line, ngspice markers."""
    fig, ax = subplots(figsize=(6.4, 4.2))
    ms = window.delta_t * 1e3
    order = np.argsort(ms)
    ax.plot(ms[order], window.dg("twin")[order] * 1e6, "-", color="C0", lw=1.6, label="twin (PyTorch)")
    if "ngspice" in window.dx:
        ax.plot(ms[order], window.dg("ngspice")[order] * 1e6, "o", color="C3", ms=4, mfc="none", label="ngspice")
    ax.axhline(0.0, color="0.5", lw=0.6)
    ax.axvline(0.0, color="0.5", lw=0.6)
    ax.set_xlabel("Δt = t_post − t_pre (ms)")
    ax.set_ylabel("ΔG of the synapse (µS)")
    right = ax.secondary_yaxis("right", functions=(lambda g: g / (window.g_per_x * 1e6), lambda x: x * window.g_per_x * 1e6))
    right.set_ylabel("Δx (1)")
    agree = window.agreement()
    note = f"max |Δx twin − ngspice| = {agree['max_abs_dx']:.2g}" if agree else "twin only (--no-spice)"
    ax.set_title(f"STDP window of one MSS synapse between MIF neurons\n{note}", fontsize=10)
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    atomic_savefig(fig, path, dpi=110)
    return Path(path)


def plot_weights(result: LearnerResult, g_of_x, path: str | Path) -> Path:
    """Each output's 25 synapse conductances (µS) as a 5×5 image, titled with its learned label."""
    n = result.x.shape[1]
    g_us = g_of_x(result.x) * 1e6
    lo, hi = float(g_of_x(np.zeros(1))[0] * 1e6), float(g_of_x(np.ones(1))[0] * 1e6)
    fig, axes = subplots(1, n, figsize=(2.2 * n + 1.0, 2.6), squeeze=False)
    im = None
    for j, ax in enumerate(axes[0]):
        im = ax.imshow(g_us[:, j].reshape(5, 5), cmap="viridis", vmin=lo, vmax=hi)
        label = result.letters[result.labels[j]] if result.labels[j] >= 0 else "—"
        ax.set_title(f"output {j}: {label}", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.colorbar(im, ax=list(axes[0]), label="G (µS)", shrink=0.85)
    fig.suptitle(f"learned synapses (held-out accuracy {result.final_accuracy * 100:.1f} %)", fontsize=10)
    atomic_savefig(fig, path, dpi=110)
    return Path(path)


def plot_accuracy(result: LearnerResult, path: str | Path) -> Path:
    """Held-out accuracy (%) vs epoch (0 = before training), with the nearest-template reference."""
    fig, ax = subplots(figsize=(5.2, 3.6))
    acc = [result.accuracy_before, *result.accuracy]
    ax.plot(np.arange(len(acc)), np.array(acc) * 100, "o-", label="STDP winner-take-all")
    ax.axhline(result.template_accuracy * 100, color="0.5", ls="--", label="nearest clean template")
    ax.axhline(97.5, color="C3", ls=":", label="Zhou et al. 2022 (97.5 %)")
    ax.set_xlabel("epoch")
    ax.set_ylabel("held-out accuracy (%)")
    ax.set_ylim(0, 102)
    ax.set_title(f"4 letters, pixel noise p = {result.config.noise:g}", fontsize=10)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    atomic_savefig(fig, path, dpi=110)
    return Path(path)
