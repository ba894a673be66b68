"""Plots of one compression step: weights before and after, device states against their levels."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .network import CompressedMemPropNet


def plot_compression(before: CompressedMemPropNet, after: CompressedMemPropNet, path: str | Path,
                     title: str = "") -> Path:
    """Per layer: the weight distribution before/after (µS) and the device states with the levels."""
    from .._figure import subplots
    from .._io import atomic_savefig

    n = after.n_layers
    fig, axes = subplots(2, n, figsize=(5.5 * n, 7.5), squeeze=False)
    w0, w1 = before.weight_matrices(), after.weight_matrices()
    states = after.device_states()
    for layer in range(n):
        ax = axes[0, layer]
        a = w0[layer].double().numpy().ravel() * 1e6
        b = w1[layer].double().numpy().ravel() * 1e6
        keep = after.mask(layer).numpy().ravel()
        bins = np.linspace(min(a.min(), b.min()), max(a.max(), b.max()), 81)
        ax.hist(a, bins=bins, alpha=0.5, label="before")
        ax.hist(b[keep], bins=bins, alpha=0.5, label=f"after ({int(keep.sum())} of {keep.size} pairs kept)")
        ax.set_yscale("log")
        ax.set_xlabel("weight s·(G+ − G−) (µS)")
        ax.set_ylabel("synapses (count)")
        ax.set_title(f"layer {layer + 1}: weights")
        ax.legend(fontsize=8)
        ax = axes[1, layer]
        xp, xn = (s.double().numpy().ravel()[keep] for s in states[layer])
        ax.hist(np.concatenate([xp, xn]), bins=np.linspace(0, 1, 101), color="C2")
        if after.levels is not None:
            for k, lv in enumerate(after.levels.states):
                ax.axvline(lv, color="0.3", lw=0.6, ls="--", label=f"{after.levels.n} {after.levels.source} levels"
                           if k == 0 else None)
            ax.legend(fontsize=8)
        ax.set_yscale("log")
        ax.set_xlabel("device state x (1; G = 1/r_off + (1/r_on − 1/r_off)·x)")
        ax.set_ylabel("devices (count)")
        ax.set_title(f"layer {layer + 1}: device states of kept pairs (x+ and x−)")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    out = atomic_savefig(fig, path, dpi=110)
    return out
