"""How an MIF neuron answers the MEMprop network's drive: its time-mean response curve, how far
that is from a straight line, and its response to one alpha input in the twin and in ngspice.

The time-mean response V̄(I) is the membrane voltage averaged over one sample when the bit-line
current is I·a(t), a(t) the network's alpha envelope (unit peak, re-injected every
``inject_every`` steps), from rest, integrated by the network's own fused step at its dt: what
the next layer and the time-summed prediction see for a steady input. A neuron whose V̄(I) is a
straight line makes its layer linear (``benchmarks/memprop_ceiling.py``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from .._figure import subplots
from .._io import atomic_savefig, atomic_write_json
from ..devices.mif import MIFParams, mif_rest_state
from .model import FusedMIFStep, MemPropConfig, alpha_envelope

#: currents a trained 784-100-10 network drives its hidden layer with (metrics.json operating_range)
OPERATING_CURRENT = 300e-6  # A
#: peak currents of the single alpha inputs plotted in twin and ngspice (A): both polarities
ALPHA_PEAKS = (100e-6, -100e-6)


def time_mean_response(currents: torch.Tensor, cfg: MemPropConfig, params: MIFParams | None = None) -> torch.Tensor:
    """V̄(I) (V): time-mean membrane of a neuron with ``params`` (default ``cfg``'s preset) under
    I·a(t) for each current I (A) in ``currents``, from rest, by the network's fused step."""
    p = cfg.mif_params if params is None else params
    step = FusedMIFStep(p, cfg.dt, cfg.integrator)
    env = alpha_envelope(cfg, dtype=currents.dtype)
    rest = mif_rest_state(p)
    v, x1, x2 = (torch.full_like(currents, float(s)) for s in rest)
    carry = step.carry(v)
    total = torch.zeros_like(currents)
    for k in range(cfg.steps):
        v, x1, x2, carry = step.advance(env[k] * currents, v, x1, x2, carry)
        total += v
    return total / cfg.steps


def linearity(currents: np.ndarray, v_mean: np.ndarray, i_max: float) -> dict[str, float]:
    """Least-squares line through V̄(I) on |I| <= i_max and the largest deviation from it."""
    sel = np.abs(currents) <= i_max
    slope, offset = np.polyfit(currents[sel], v_mean[sel], 1)
    dev = v_mean[sel] - (slope * currents[sel] + offset)
    span = float(np.ptp(v_mean[sel]))
    return {"i_max_A": i_max, "slope_ohm": float(slope), "offset_V": float(offset),
            "max_deviation_V": float(np.abs(dev).max()), "span_V": span,
            "max_deviation_fraction": float(np.abs(dev).max() / span)}


def neuron_report(net, out: Path, i_max: float = OPERATING_CURRENT, spice: bool = True) -> dict[str, Any]:
    """``out/neurons.png`` and ``out/neurons.json`` for a network's MIF neurons: the time-mean
    response curves of the seed preset (with its straight-line fit) and of every distinct
    learned parameter set per layer (mV against µA), and the response of each to single alpha
    inputs of :data:`ALPHA_PEAKS`, twin (line) and ngspice (dots; ``spice=False`` leaves them
    out), at the network's dt and integrator."""
    from ..compare.mif import alpha_train

    cfg = net.cfg
    currents = torch.linspace(-i_max, i_max, 121, dtype=torch.float64)
    sets = [("seed (" + cfg.mif_preset + ")", cfg.mif_params)]
    for layer in range(net.n_layers):
        distinct = list(dict.fromkeys(net.neuron_params(layer)))
        for k, p in enumerate(distinct):
            if p != cfg.mif_params:
                sets.append((f"layer {layer + 1}" + (f" set {k}" if len(distinct) > 1 else ""), p))
    shown = sets[:1] + sets[1:][:6]  # the seed and at most six learned sets in the figure
    fig, axes = subplots(1, 1 + len(ALPHA_PEAKS), figsize=(5.2 * (1 + len(ALPHA_PEAKS)), 4.2), squeeze=False)
    ax = axes[0, 0]
    record: dict[str, Any] = {"dt": cfg.dt, "integrator": cfg.integrator, "steps": cfg.steps, "sets": []}
    i_np = currents.numpy()
    for n, (name, p) in enumerate(sets):
        v_mean = time_mean_response(currents, cfg, p).numpy()
        fit = linearity(i_np, v_mean, i_max)
        entry = {"name": name, "params": {k: getattr(p, k) for k in cfg.learn_mif} if cfg.learn_mif else {},
                 "current_A": i_np.tolist(), "time_mean_V": v_mean.tolist(), "linear_fit": fit, "alpha": []}
        if n < len(shown):
            ax.plot(i_np * 1e6, v_mean * 1e3, lw=2 if n == 0 else 1.3,
                    label=f"{name}: {fit['max_deviation_fraction'] * 100:.1f} % off a line")
            if n == 0:
                ax.plot(i_np * 1e6, (fit["slope_ohm"] * i_np + fit["offset_V"]) * 1e3, "k--", lw=0.8,
                        label="seed's straight-line fit")
            for col, w in enumerate(ALPHA_PEAKS, start=1) if spice else ():
                cmp = alpha_train(p, [0.5e-3], w, t_stop=3e-3, dt=cfg.dt, integrator=cfg.integrator)
                line, = axes[0, col].plot(cmp.t * 1e3, cmp.twin["v"] * 1e3, lw=1.2, label=f"{name}, twin")
                axes[0, col].plot(cmp.t[::10] * 1e3, cmp.spice["v"][::10] * 1e3, "o", ms=3, color=line.get_color(),
                                  label=f"{name}, ngspice")
                entry["alpha"].append({"peak_A": w, **{f"v_{k}_V": v for k, v in cmp.error("v").items()}})
        record["sets"].append(entry)
    ax.set_xlabel("bit-line current amplitude I (µA)")
    ax.set_ylabel("time-mean membrane voltage (mV)")
    ax.set_title("time-mean response under the network's alpha drive")
    ax.legend(fontsize=7)
    for col, w in enumerate(ALPHA_PEAKS, start=1):
        a = axes[0, col]
        a.set_xlabel("time (ms)")
        a.set_ylabel("membrane voltage (mV)")
        a.set_title(f"one alpha input, peak {w * 1e6:+.0f} µA at 0.5 ms (dt = {cfg.dt * 1e6:g} µs)"
                    if spice else "ngspice not run (spice=False)")
        if spice:
            a.legend(fontsize=7)
    fig.tight_layout()
    atomic_savefig(fig, Path(out) / "neurons.png", dpi=110)
    atomic_write_json(Path(out) / "neurons.json", record)
    return record
