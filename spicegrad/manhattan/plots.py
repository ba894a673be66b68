"""Plots of a Manhattan-rule training run, like the seed's, with units on every axis.

Each function takes a one-run :class:`~spicegrad.manhattan.model.History` (``history.run(b)``)
and writes one PNG atomically: conductances per device over epochs, logic weights G⁺ − G⁻,
activations vs targets, total error per epoch, a 3-D view of the final conductances, and (for
statistics) the distribution of epochs to converge.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np

from .._figure import new_figure, subplots
from .._io import atomic_savefig

G_LABEL = "K·(G − G_ref) (S)"


def _grid(rows: int, cols: int, width: float = 2.6, height: float = 1.9):
    fig, axes = subplots(rows, cols, figsize=(width * cols + 1, height * rows + 1), sharex=True, squeeze=False)
    return fig, axes


def _save(fig, path: str | Path) -> Path:
    fig.tight_layout()
    out = atomic_savefig(fig, path, dpi=100)
    return out


def plot_conductances(history, path: str | Path) -> Path:
    """One panel per device (input row × physical column): logic conductance vs epoch."""
    g = history.g[:, 0]
    rows, cols = g.shape[1:]
    fig, axes = _grid(rows, cols)
    epochs = np.arange(g.shape[0])
    for i in range(rows):
        for j in range(cols):
            ax = axes[i, j]
            ax.plot(epochs, g[:, i, j], "o-", ms=2.5, color=f"C{(i * cols + j) % 10}")
            side = "+" if j % 2 == 0 else "−"
            ax.set_title(f"input {i + 1}, neuron {j // 2 + 1} G{side}", fontsize=8)
            ax.ticklabel_format(axis="y", style="sci", scilimits=(0, 0))
            if j == 0:
                ax.set_ylabel(G_LABEL, fontsize=7)
            if i == rows - 1:
                ax.set_xlabel("epoch")
    fig.suptitle("device conductances over training")
    return _save(fig, path)


def plot_weights(history, path: str | Path) -> Path:
    """One panel per synapse: W = G⁺ − G⁻ (S) vs epoch."""
    g = history.g[:, 0]
    w = g[..., 0::2] - g[..., 1::2]
    rows, neurons = w.shape[1:]
    fig, axes = _grid(rows, neurons, 3.0)
    epochs = np.arange(w.shape[0])
    for i in range(rows):
        for n in range(neurons):
            ax = axes[i, n]
            ax.plot(epochs, w[:, i, n], "o-", ms=2.5, color=f"C{(i + n) % 10}")
            ax.axhline(0.0, color="0.7", lw=0.8)
            ax.set_title(f"synapse {i + 1}, neuron {n + 1}", fontsize=8)
            ax.ticklabel_format(axis="y", style="sci", scilimits=(0, 0))
            if n == 0:
                ax.set_ylabel("W = G⁺ − G⁻ (S)", fontsize=7)
            if i == rows - 1:
                ax.set_xlabel("epoch")
    fig.suptitle("logic weights")
    return _save(fig, path)


def plot_activations(history, y: np.ndarray, targets: tuple[float, float], path: str | Path,
                     labels: tuple[str, ...] = ()) -> Path:
    """One panel per (neuron, pattern): f = tanh(βI) vs epoch with its target line (more than
    eight patterns: one panel per neuron, label-1 patterns blue, label-0 red)."""
    f = history.activations[:, 0]
    epochs = np.arange(1, f.shape[0] + 1)
    patterns, neurons = f.shape[1:]
    if patterns > 8:
        return _plot_activations_by_neuron(f, epochs, y, targets, path)
    fig, axes = _grid(neurons, patterns, 2.0, 1.8)
    for n in range(neurons):
        for p in range(patterns):
            ax = axes[n, p]
            target = targets[1] if y[p, n] else targets[0]
            ax.plot(epochs, f[:, p, n], "o-", ms=2, color="C0" if y[p, n] else "C3")
            ax.axhline(target, color="k", lw=0.8, ls="--")
            ax.set_ylim(-1.05, 1.05)
            name = labels[p] if p < len(labels) else f"pattern {p + 1}"
            ax.set_title(f"{name}, neuron {n + 1}", fontsize=7)
            if p == 0:
                ax.set_ylabel("activation f (1)", fontsize=7)
            if n == neurons - 1:
                ax.set_xlabel("epoch")
    fig.suptitle("activations vs targets (dashed)")
    return _save(fig, path)


def _plot_activations_by_neuron(f, epochs, y, targets, path) -> Path:
    neurons = f.shape[2]
    fig, axes = subplots(1, neurons, figsize=(4.5 * neurons, 3.5), squeeze=False, sharey=True)
    for n, ax in enumerate(axes[0]):
        for p in range(f.shape[1]):
            ax.plot(epochs, f[:, p, n], lw=0.8, alpha=0.7, color="C0" if y[p, n] else "C3")
        for t in targets:
            ax.axhline(t, color="k", lw=0.8, ls="--")
        ax.set_title(f"neuron {n + 1}")
        ax.set_xlabel("epoch")
    axes[0, 0].set_ylabel("activation f (1)")
    fig.suptitle("activations vs targets (dashed; blue: label 1, red: label 0)")
    return _save(fig, path)


def plot_error(history, path: str | Path) -> Path:
    """Total error Σ distance-to-target (dimensionless) per epoch."""
    err = history.error[:, 0]
    fig, ax = subplots(figsize=(7, 3))
    ax.plot(np.arange(1, err.size + 1), err, "o-")
    ax.set_xlabel("epoch")
    ax.set_ylabel("total error (1)")
    ax.set_title("error per epoch")
    return _save(fig, path)


def plot_final_weights_3d(history, path: str | Path) -> Path:
    """3-D bars of the final logic conductances (S) over input row × physical column."""
    g = history.g[-1, 0]
    rows, cols = g.shape
    fig = new_figure(figsize=(7, 6))
    ax = fig.add_subplot(111, projection="3d")
    xs, ys = np.meshgrid(np.arange(cols), np.arange(rows))
    colors = matplotlib.colormaps["tab20"](np.linspace(0, 1, g.size))
    ax.bar3d(xs.ravel(), ys.ravel(), np.zeros(g.size), 0.7, 0.7, g.ravel(), color=colors, shade=True)
    ax.set_xticks(np.arange(cols) + 0.35, [f"{j // 2 + 1}{'+' if j % 2 == 0 else '−'}" for j in range(cols)])
    ax.set_yticks(np.arange(rows) + 0.35, [str(i + 1) for i in range(rows)])
    ax.set_xlabel("neuron column")
    ax.set_ylabel("input row")
    ax.set_zlabel(G_LABEL)
    ax.set_title("final conductances")
    return _save(fig, path)


def plot_epoch_histogram(converged_epoch: np.ndarray, max_epoch: int, path: str | Path) -> Path:
    """Distribution of epochs to converge over runs (non-converged runs counted apart)."""
    done = converged_epoch[converged_epoch > 0]
    fig, ax = subplots(figsize=(7, 3.5))
    ax.hist(done, bins=np.arange(0.5, max_epoch + 1.5), color="C0")
    ax.set_xlabel("epoch of convergence")
    ax.set_ylabel("runs")
    ax.set_title(f"{done.size} of {converged_epoch.size} runs converged")
    return _save(fig, path)


def plot_run(history, y: np.ndarray, targets: tuple[float, float], out: str | Path,
             labels: tuple[str, ...] = ()) -> list[Path]:
    """Every per-run plot into folder ``out``."""
    out = Path(out)
    return [
        plot_conductances(history, out / "conductances.png"),
        plot_weights(history, out / "weights.png"),
        plot_activations(history, y, targets, out / "activations.png", labels),
        plot_error(history, out / "error.png"),
        plot_final_weights_3d(history, out / "final_weights_3d.png"),
    ]
