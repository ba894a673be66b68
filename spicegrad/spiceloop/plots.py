"""Plots of the SPICE-in-the-loop experiment: the three accuracies, and twin-vs-circuit outputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.ticker import MaxNLocator

from .._figure import subplots
from .._io import atomic_savefig

#: the three accuracies, in the order they are drawn, with their labels
BARS = (("twin_trained_on_twin", "(c) trained on twin,\nrun on twin"),
        ("twin_trained_in_circuit", "(a) trained on twin,\nrun in ngspice"),
        ("spice_trained_in_circuit", "(b) trained with SPICE\nin the loop, in ngspice"))
COLORS = ("tab:gray", "tab:red", "tab:blue")


def _bars(ax, means, stds=None) -> None:
    x = np.arange(len(BARS))
    ax.bar(x, 100 * np.asarray(means), yerr=None if stds is None else 100 * np.asarray(stds), color=COLORS, capsize=4)
    for xi, m in zip(x, means, strict=True):
        ax.text(xi, 50 * m, f"{100 * m:.1f}", ha="center", va="center", fontsize=9, color="white")
    ax.set_xticks(x, [label for _, label in BARS], fontsize=7)
    ax.set_ylabel("test accuracy (%)")
    ax.set_ylim(0, 100)


def plot_run(metrics: dict, path: str | Path) -> Path:
    """Test accuracies (a), (b), (c) of one seed, and validation accuracy per epoch of both phases."""
    fig, (ax0, ax1) = subplots(1, 2, figsize=(10, 3.8))
    _bars(ax0, [metrics["test_accuracy"][k] for k, _ in BARS])
    ax0.set_title(f"seed {metrics['config']['seed']}: {metrics['periphery']}", fontsize=7)
    for phase, color, label in (("twin", "tab:gray", "trained on twin (validation on twin)"),
                                ("spice", "tab:blue", "SPICE in the loop (validation in ngspice)")):
        rows = metrics["history"][phase]
        ax1.plot([r["epoch"] for r in rows], [100 * r["val_accuracy"] for r in rows], "o-", color=color, label=label)
    ax1.set_xlabel("epoch")
    ax1.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax1.set_ylabel("validation accuracy (%)")
    ax1.legend(fontsize=7)
    fig.tight_layout()
    return atomic_savefig(fig, path, dpi=120)


def plot_mismatch(before: dict, after: dict, path: str | Path) -> Path:
    """Circuit against twin outputs (V) of both layers, at the initial weights and after SPICE-in-the-loop training."""
    fig, axes = subplots(2, 2, figsize=(8, 7.5))
    for row, (outs, when) in enumerate(((before, "initial weights"), (after, "after training with SPICE in the loop"))):
        for col, layer in enumerate(("l1", "l2")):
            ax = axes[row, col]
            t, c = outs[f"{layer}_twin"].ravel(), outs[f"{layer}_circuit"].ravel()
            rms = float(np.sqrt(np.mean((c - t) ** 2)))
            ax.plot(t, c, ".", ms=2, alpha=0.4)
            lo, hi = float(min(t.min(), c.min())), float(max(t.max(), c.max()))
            ax.plot([lo, hi], [lo, hi], "k--", lw=0.8, label="circuit = twin")
            ax.set_xlabel(f"layer {col + 1} twin output (V)")
            ax.set_ylabel(f"layer {col + 1} circuit output (V)")
            ax.set_title(f"{when}\nRMS difference {1e3 * rms:.1f} mV", fontsize=8)
            ax.legend(fontsize=7)
    fig.tight_layout()
    return atomic_savefig(fig, path, dpi=120)


def plot_summary(summary: dict, path: str | Path) -> Path:
    """The three test accuracies, mean ± std over seeds, each seed as a dot."""
    fig, ax = subplots(1, 1, figsize=(5.5, 4))
    _bars(ax, [summary[k]["mean"] for k, _ in BARS], [summary[k]["std"] for k, _ in BARS])
    for i, (k, _) in enumerate(BARS):
        vals = 100 * np.asarray(summary[k]["values"])
        ax.plot(np.full(vals.size, i) + np.linspace(-0.15, 0.15, vals.size), vals, "k.", ms=4)
    ax.set_title(f"mean ± std over seeds {summary['seeds']}", fontsize=8)
    fig.tight_layout()
    return atomic_savefig(fig, path, dpi=120)
