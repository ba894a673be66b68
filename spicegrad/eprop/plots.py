"""Plots of an e-prop run: target vs output, loss curve, conductance histograms before/after."""

from __future__ import annotations

from pathlib import Path

import torch

from .._figure import subplots
from .._io import atomic_savefig


def plot_output(trainer, path: Path) -> Path:
    x, y = trainer.task.train
    with torch.no_grad():
        out = trainer.forward(x[:1])
    t_ms = torch.arange(y.shape[1]) * trainer.cfg.dt * 1e3
    fig, ax = subplots(figsize=(7, 3))
    ax.plot(t_ms, y[0, :, 0], label="target")
    ax.plot(t_ms, out["y"][0, :, 0].cpu(), label="readout")
    ax.set(xlabel="time (ms)", ylabel="output (a.u.)", title=f"e-prop {trainer.tcfg.method}: first training sequence")
    ax.legend()
    fig.tight_layout()
    atomic_savefig(fig, path, dpi=120)
    return path


def plot_loss(history: list[dict], path: Path, label: str) -> Path:
    fig, ax = subplots(figsize=(5, 3))
    ax.semilogy([h["epoch"] for h in history], [h["train_mse"] for h in history], label=label)
    ax.set(xlabel="epoch", ylabel="training MSE", title="loss")
    ax.legend()
    fig.tight_layout()
    atomic_savefig(fig, path, dpi=120)
    return path


def plot_conductances(before: dict, after: dict, path: Path, xbar: bool) -> Path:
    fig, axes = subplots(1, len(before), figsize=(4 * len(before), 3))
    unit = "G (µS)" if xbar else "weight"
    titles = {"w_in": "input", "w_rec": "recurrent", "w_out": "readout"}
    for ax, name in zip(axes, before, strict=True):
        b, a = before[name].flatten(), after[name].flatten()
        edges = torch.linspace(float(min(b.min(), a.min())), float(max(b.max(), a.max())) + 1e-6, 61).numpy()
        # shared bins, outlines: the before-histogram (all devices near G0) stays visible
        ax.hist(b.numpy(), bins=edges, histtype="stepfilled", alpha=0.4, label="before training")
        ax.hist(a.numpy(), bins=edges, histtype="step", lw=1.5, label="after training")
        ax.set(xlabel=unit, ylabel="devices" if xbar else "synapses", yscale="log",
               title=f"{titles.get(name, name)} ({name})")
        ax.legend(fontsize=8)
    fig.tight_layout()
    atomic_savefig(fig, path, dpi=120)
    return path


def plot_all(trainer, summary: dict, out: Path) -> list[Path]:
    return [
        plot_output(trainer, out / "target_vs_output.png"),
        plot_loss(summary["history"], out / "loss.png", trainer.tcfg.method),
        plot_conductances(trainer.initial_g, trainer.net.conductances_us(), out / "conductances.png",
                          trainer.tcfg.xbar),
    ]


def plot_method_curves(records: list[dict], path: Path) -> Path:
    """Training MSE per epoch, median over seeds with the min–max band (on a log axis a few
    diverging seeds would swamp a mean ± std), one line per method; PCM and ideal (perf) devices
    side by side (the results table's runs: dicts with method, perf, mse_curve)."""
    import numpy as np

    fig, axes = subplots(1, 2, figsize=(11, 4), sharey=True)
    for ax, perf in zip(axes, (False, True), strict=True):
        methods = dict.fromkeys(r["method"] for r in records)
        for method in methods:
            curves = [r["mse_curve"] for r in records if r["method"] == method and r.get("mse_curve")
                      and (r["perf"] == perf or method == "vanilla")]
            if not curves:
                continue
            n = min(len(c) for c in curves)
            data = np.array([c[:n] for c in curves])
            epochs = np.arange(1, n + 1)
            name = "vanilla (fp32 reference)" if method == "vanilla" else method
            line, = ax.semilogy(epochs, np.median(data, 0), label=f"{name}, {len(curves)} seeds")
            ax.fill_between(epochs, data.min(0), data.max(0), color=line.get_color(), alpha=0.15)
        ax.set(xlabel="epoch", title="PCM devices" if not perf else "ideal devices (perf mode)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    axes[0].set_ylabel("training MSE (median, band: min–max over seeds)")
    fig.tight_layout()
    atomic_savefig(fig, path, dpi=120)
    return path
