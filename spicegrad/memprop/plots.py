"""MEMprop training plots (units on every axis): curves, output membrane traces, hidden activity."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from .._figure import subplots
from .._io import atomic_savefig
from ..stimuli import grid_steps


def plot_curves(history: dict, path: Path) -> Path:
    epochs = np.arange(1, len(history["train_loss"]) + 1)
    fig, (ax_l, ax_a) = subplots(1, 2, figsize=(11, 4))
    batch = [loss for ep in history.get("batch_loss", []) for loss in ep]
    if batch:
        per_epoch = max(1, len(history["batch_loss"][0]))
        ax_l.plot(np.arange(1, len(batch) + 1) / per_epoch, batch, lw=0.6, alpha=0.5, label="train (per batch)")
    ax_l.plot(epochs, history["train_loss"], "o-", label="train (epoch mean)")
    ax_l.plot(epochs, history["val_loss"], "s-", label="validation")
    ax_l.set_xlabel("epoch")
    ax_l.set_ylabel("loss: Σ over time steps of NLL (nats per sample)")
    ax_l.legend()
    ax_a.plot(epochs, 100 * np.asarray(history["val_accuracy"]), "o-")
    ax_a.set_xlabel("epoch")
    ax_a.set_ylabel("validation accuracy (%)")
    ax_a.grid(alpha=0.3)
    fig.tight_layout()
    out = atomic_savefig(fig, path, dpi=110)
    return out


def plot_output_traces(rec: dict, labels: torch.Tensor, classes, dt: float, path: Path) -> Path:
    v_out = rec["v_out"].detach().cpu().numpy() * 1e3  # [T, B, C] mV
    t_ms = grid_steps(dt, v_out.shape[0])[1:] * 1e3
    n = v_out.shape[1]
    fig, axes = subplots(1, n, figsize=(4.5 * n, 3.6), squeeze=False, sharey=True)
    for j in range(n):
        ax = axes[0, j]
        y = int(labels[j])
        pred = int(v_out[:, j].sum(0).argmax())
        for c in range(v_out.shape[2]):
            ax.plot(t_ms, v_out[:, j, c], lw=2.0 if c == y else 0.7, color="C3" if c == y else "0.6",
                    label=f"target: {classes[c]}" if c == y else None)
        ax.set_title(f"sample {j}: true {classes[y]}, predicted {classes[pred]}", fontsize=9)
        ax.set_xlabel("time (ms)")
        ax.legend(loc="upper right", fontsize=8)
    axes[0, 0].set_ylabel("output membrane V (mV)")
    fig.tight_layout()
    out = atomic_savefig(fig, path, dpi=110)
    return out


def plot_hidden_activity(rec: dict, dt: float, path: Path) -> Path:
    hidden = rec["layers"][:-1]
    if not hidden:
        return path
    v = hidden[0][:, 0].detach().cpu().numpy() * 1e3  # [T, H] mV, sample 0, first hidden layer
    t_ms = v.shape[0] * dt * 1e3
    fig, (ax_h, ax_m) = subplots(2, 1, figsize=(10, 6), sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    im = ax_h.imshow(v.T, aspect="auto", origin="lower", extent=(0, t_ms, -0.5, v.shape[1] - 0.5), cmap="magma")
    fig.colorbar(im, ax=ax_h, label="membrane V (mV)")
    ax_h.set_ylabel("hidden neuron")
    ax_h.set_title("hidden layer 1, test sample 0")
    all_h = hidden[0].detach().cpu().numpy() * 1e3
    t = grid_steps(dt, v.shape[0])[1:] * 1e3
    ax_m.plot(t, all_h.mean(axis=(1, 2)), label="mean over neurons and samples")
    ax_m.plot(t, all_h.max(axis=(1, 2)), label="max")
    ax_m.set_xlabel("time (ms)")
    ax_m.set_ylabel("V (mV)")
    ax_m.legend(fontsize=8)
    fig.tight_layout()
    out = atomic_savefig(fig, path, dpi=110)
    return out


def plot_all(history: dict, rec: dict, labels: torch.Tensor, classes, dt: float, out_dir: Path) -> None:
    out_dir = Path(out_dir)
    plot_curves(history, out_dir / "curves.png")
    plot_output_traces(rec, labels, classes, dt, out_dir / "output_traces.png")
    plot_hidden_activity(rec, dt, out_dir / "hidden_activity.png")
