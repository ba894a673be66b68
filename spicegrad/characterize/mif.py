"""MIF neuron characterisation: the memprop response table, the tonic f–I curve, a Bendixson check.

* :func:`memprop_response` — one alpha input of peak amplitude A (A) at ``onset``; per amplitude:
  peak (mV) and its time, undershoot (mV, the minimum after the peak) and its time, and the
  recovery time (first time after the undershoot with |V - V_rest| <= 1 mV), all times measured
  from the spike; twin for every amplitude, ngspice for those in ``spice_amplitudes``.
* :func:`tonic_fi_curve` — firing rate under constant current: spikes are upward crossings of
  ``SPIKE_THRESHOLD`` after a ``transient``; rate = (n - 1)/(t_last - t_first), 0 with < 2 spikes.
* :func:`reduced_divergence` — the membrane (c_mem·R ≤ 10 µs) is fast against the devices, so V
  follows V_inf(x1, x2, I) = (I + G1·v1 + G2·v2)/(G1 + G2) and the neuron reduces to the planar
  flow f(x1, x2) = (a1 - b1·x1, a2 - b2·x2) at V = V_inf. If div f = ∂f1/∂x1 + ∂f2/∂x2 < 0 on the
  whole square [0, 1]² for a constant I, Bendixson's criterion rules out a periodic orbit: no
  repetitive firing. The function returns max div f over a grid and the currents given.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from ..compare.mif import (
    spice_alpha_train,
    spice_constant_current,
    spike_times,
    spikes_on_grid,
)
from ..devices.alpha import AlphaCurrent, AlphaParams
from ..devices.mif import MIF, MIFParams, conductance, device_coeffs, input_samples
from ..stimuli import grid

SPIKE_THRESHOLD = 0.070  # V, tonic spike detection level (rest 37.6 mV, peaks above 90 mV)
RECOVERY_TOL = 1e-3  # V, |V - V_rest| that counts as recovered


def _response_row(t: np.ndarray, v: np.ndarray, onset: float, amplitude: float, source: str) -> dict:
    v_rest = v[0]
    k_peak = int(np.argmax(v))
    k_under = k_peak + int(np.argmin(v[k_peak:]))
    back = np.nonzero(np.abs(v[k_under:] - v_rest) <= RECOVERY_TOL)[0]
    return {
        "source": source,
        "amplitude_uA": amplitude * 1e6,
        "rest_mV": v_rest * 1e3,
        "peak_mV": v[k_peak] * 1e3,
        "t_peak_ms": (t[k_peak] - onset) * 1e3,
        "undershoot_mV": v[k_under] * 1e3,
        "t_undershoot_ms": (t[k_under] - onset) * 1e3,
        "recovery_ms": (t[k_under + back[0]] - onset) * 1e3 if back.size else math.nan,
    }


def memprop_response(
    amplitudes: Sequence[float],
    params: MIFParams | None = None,
    dt: float = 1e-6,
    t_stop: float = 30e-3,
    onset: float = 1e-3,
    spice_amplitudes: Sequence[float] = (),
    on_run=None,
) -> list[dict]:
    """Response table to single alpha inputs of peak ``amplitudes`` (A): one row per amplitude
    and source ('twin', 'ngspice'), keys as in the module docstring (mV, ms, µA). ``on_run()``
    is called after the twin batch and after each ngspice run (a progress bar's ``update``)."""
    params = MIF.preset("memprop") if params is None else params
    t = grid(dt, t_stop)
    n_steps = t.size - 1
    spikes, (t_spike,) = spikes_on_grid([onset], n_steps, dt)
    w = torch.tensor([float(a) for a in amplitudes], dtype=torch.float64)
    alpha = AlphaCurrent(AlphaParams(w=1.0)).simulate(spikes[:, None], dt, w=w)
    v = MIF(params).simulate(input_samples(alpha["i"]), dt)["v"].numpy()
    rows = [_response_row(t, v[:, j], t_spike, a, "twin") for j, a in enumerate(amplitudes)]
    on_run = on_run or (lambda: None)
    on_run()
    for a in spice_amplitudes:
        result = spice_alpha_train(params, AlphaParams(w=float(a)), [t_spike], t_stop, dt)
        rows.append(_response_row(t, result.at("m", t), t_spike, a, "ngspice"))
        on_run()
    return rows


def firing_rate(t: np.ndarray, v: np.ndarray, transient: float) -> tuple[float, int]:
    """(rate in Hz, spike count) of ``v`` after ``transient`` s."""
    times = spike_times(t, v, SPIKE_THRESHOLD)
    times = times[times >= transient]
    if times.size < 2:
        return 0.0, int(times.size)
    return (times.size - 1) / (times[-1] - times[0]), int(times.size)


def tonic_fi_curve(
    currents: Sequence[float],
    params: MIFParams | None = None,
    dt: float = 0.25e-6,
    t_stop: float = 20e-3,
    transient: float = 5e-3,
    spice_currents: Sequence[float] = (),
    spice_dt: float = 1e-6,
    on_run=None,
) -> list[dict]:
    """Firing rate (Hz) vs constant current (A): rows {source, current_uA, rate_hz, n_spikes}.

    The twin runs all currents as one batch at ``dt`` (0.25 µs keeps spike times within 10 µs
    of ngspice over 10 ms); ngspice runs ``spice_currents`` with max step spice_dt/10.
    ``on_run()`` is called after the twin batch and after each ngspice run.
    """
    params = MIF.preset("tonic") if params is None else params
    t = grid(dt, t_stop)
    n_steps = t.size - 1
    drive = torch.tensor([float(c) for c in currents], dtype=torch.float64).expand(n_steps, -1)
    v = MIF(params).simulate(drive.contiguous(), dt)["v"].numpy()
    rows = []
    for j, current in enumerate(currents):
        rate, n = firing_rate(t, v[:, j], transient)
        rows.append({"source": "twin", "current_uA": current * 1e6, "rate_hz": rate, "n_spikes": n})
    on_run = on_run or (lambda: None)
    on_run()
    for current in spice_currents:
        result = spice_constant_current(params, float(current), t_stop, spice_dt)
        rate, n = firing_rate(result.time, result["m"], transient)
        rows.append({"source": "ngspice", "current_uA": current * 1e6, "rate_hz": rate, "n_spikes": n})
        on_run()
    return rows


def reduced_divergence(params: MIFParams, currents: Sequence[float], n_grid: int = 101) -> float:
    """max over x1, x2 in [0, 1]² and ``currents`` (A) of div f of the reduced planar flow."""
    x = torch.linspace(0.0, 1.0, n_grid, dtype=torch.float64)
    worst = -math.inf
    for current in currents:
        x1, x2 = torch.meshgrid(x, x, indexing="ij")
        x1, x2 = x1.clone().requires_grad_(True), x2.clone().requires_grad_(True)
        g1, g2 = conductance(x1, params), conductance(x2, params)
        v_inf = (current + g1 * params.v1 + g2 * params.v2) / (g1 + g2)
        (a1, b1), (a2, b2) = device_coeffs(v_inf, params)
        f1, f2 = a1 - b1 * x1, a2 - b2 * x2
        d1 = torch.autograd.grad(f1.sum(), x1, retain_graph=True)[0]
        d2 = torch.autograd.grad(f2.sum(), x2)[0]
        worst = max(worst, (d1 + d2).max().item())
    return worst


def _plot_by_source(ax, rows: list[dict], x_key: str, y_key: str, label: str) -> None:
    for source, style in (("twin", "-o"), ("ngspice", "s")):
        sel = [r for r in rows if r["source"] == source]
        if sel:
            ax.plot([r[x_key] for r in sel], [r[y_key] for r in sel], style, label=f"{label} ({source})",
                    fillstyle="none" if source == "ngspice" else "full")


def plot_memprop_response(rows: list[dict], path: str | Path) -> Path:
    """Peak/undershoot (mV) and recovery time (ms) vs input amplitude (µA), saved as PNG."""
    from .._figure import subplots

    fig, (ax_v, ax_t) = subplots(1, 2, figsize=(10, 4))
    _plot_by_source(ax_v, rows, "amplitude_uA", "peak_mV", "peak")
    _plot_by_source(ax_v, rows, "amplitude_uA", "undershoot_mV", "undershoot")
    ax_v.set(xlabel="alpha input peak (µA)", ylabel="membrane voltage (mV)", title="memprop: response extremes")
    _plot_by_source(ax_t, rows, "amplitude_uA", "recovery_ms", "recovery")
    ax_t.set(xlabel="alpha input peak (µA)", ylabel="time after spike (ms)", title="memprop: recovery to rest ±1 mV")
    for ax in (ax_v, ax_t):
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    return _save(fig, path)


def plot_fi_curve(rows: list[dict], path: str | Path) -> Path:
    """Tonic firing rate (Hz) vs constant input current (µA), saved as PNG."""
    from .._figure import subplots

    fig, ax = subplots(figsize=(5.5, 4))
    _plot_by_source(ax, rows, "current_uA", "rate_hz", "rate")
    ax.set(xlabel="input current (µA)", ylabel="firing rate (Hz)", title="tonic MIF: f–I curve")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, path)


def _save(fig, path: str | Path) -> Path:
    from .._io import atomic_savefig

    fig.tight_layout()
    out = atomic_savefig(fig, path, dpi=120)
    return out


MEMPROP_AMPLITUDES = (5e-6, 10e-6, 20e-6, 40e-6)  # A
TONIC_CURRENTS = (0.5e-6, 1e-6, 1.5e-6, 2e-6, 3e-6, 4e-6, 6e-6, 8e-6, 10e-6)  # A


def characterize(out: str | Path) -> dict:
    """The memprop response table, the tonic f–I curve and the Bendixson check, written to
    ``out`` (mif_characterization.json, memprop_response.png, tonic_fi.png)."""
    from .._io import atomic_write_json
    from .._progress import progress

    out = Path(out)
    spice_amplitudes, spice_currents = (10e-6, 40e-6), (1.5e-6, 3e-6, 6e-6)
    # one step per twin batch and per ngspice run: on a terminal the bar's rate gives the ETA
    with progress(total=2 + len(spice_amplitudes) + len(spice_currents), desc="characterize MIF", unit="run") as bar:
        response = memprop_response(MEMPROP_AMPLITUDES, spice_amplitudes=spice_amplitudes, on_run=bar.update)
        fi = tonic_fi_curve(TONIC_CURRENTS, spice_currents=spice_currents, on_run=bar.update)
    divergence = {
        name: reduced_divergence(MIF.preset(name), [0.0, 5e-6, 20e-6, 60e-6, 200e-6])
        for name in ("memprop", "tonic")
    }
    result = {"memprop_response": response, "tonic_fi": fi, "max_reduced_divergence_per_s": divergence}
    atomic_write_json(out / "mif_characterization.json", result)
    plot_memprop_response(response, out / "memprop_response.png")
    plot_fi_curve(fi, out / "tonic_fi.png")
    return result
