"""MIF neuron testbenches: the ``mif`` subcircuit in ngspice next to the :class:`~spicegrad.devices.mif.MIF` twin.

Two stimuli, both built from the twin's own parameter records (one source of truth):

* :func:`constant_current` — a DC current source into the membrane from t = 0;
* :func:`alpha_train` — the ``alpha`` subcircuit, fed by a spike train, drives the membrane.
  In ngspice each spike is a narrow trapezoid on the ``spk`` pin of area 1 V·s starting at the
  spike time; the twin runs :class:`~spicegrad.devices.alpha.AlphaCurrent` (exact) and feeds the
  neuron the alpha current sampled as :func:`~spicegrad.devices.mif.input_samples` says
  (the value at the end of each step).

Both start from the twin's rest state (passed to the subcircuit as v0, x10, x20). ngspice runs
with tight tolerances (reltol 1e-6, abstol 1e-15 A, vntol 1e-9 V) and a maximum step of dt/10;
its traces are sampled at the twin's grid t_k = k·dt with :meth:`Result.at`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from ..devices.alpha import AlphaCurrent, AlphaParams
from ..devices.mif import MIF, MIFParams, MIFState, input_samples
from ..spice import Netlist, Result, lib_path, pwl, run
from ..spice.options import SPICE_OPTIONS
from ..stimuli import grid
from . import Comparison

WAVEFORMS = ("v", "x1", "x2", "i_in")
UNITS = {"v": "V", "x1": "1", "x2": "1", "i_in": "A"}
#: spike pulse width on the alpha subcircuit's ``spk`` pin, as a fraction of dt
SPIKE_WIDTH_FRACTION = 0.1


def spike_source_values(
    times: Sequence[float], width: float, weights: Sequence[float] | None = None
) -> tuple[list[float], list[float]]:
    """PWL (times, values) of trapezoids starting at ``times`` (s), ``width`` s wide, of area
    ``weights[k]`` V·s (default 1 each; signed weights give signed alpha currents).

    Each pulse ramps over width/10, so its area is height·0.9·width.
    """
    ramp = 0.1 * width
    weights = [1.0] * len(times) if weights is None else [float(w) for w in weights]
    if len(weights) != len(times):
        raise ValueError(f"{len(weights)} spike weights for {len(times)} spike times: need one per spike")
    ts, vs = [0.0], [0.0]
    for t, w in sorted(zip(times, weights, strict=True)):
        height = w / (width - ramp)
        for tt, vv in ((t, 0.0), (t + ramp, height), (t + width - ramp, height), (t + width, 0.0)):
            if tt > ts[-1]:
                ts.append(tt)
                vs.append(vv)
    return ts, vs


def _neuron_netlist(title: str, params: MIFParams, state0: MIFState) -> Netlist:
    net = Netlist(title)
    net.include(lib_path("mif"))
    ic = {"v0": float(state0.v), "x10": float(state0.x1), "x20": float(state0.x2)}
    net.subckt("n", ["m"], "mif", {**params.spice_params(), **ic})
    return net


def _finish(net: Netlist, t_stop: float, dt: float, max_step: float | None, method: str, *extra: str) -> str:
    net.options(**SPICE_OPTIONS, method=method)
    net.tran(dt, t_stop, max_step=dt / 10 if max_step is None else max_step)
    net.save("v(m)", "v(xn.x1)", "v(xn.x2)", *extra)
    return net.render()


def _sample(result: Result, t: np.ndarray, i_in: np.ndarray) -> dict[str, np.ndarray]:
    return {
        "v": result.at("m", t),
        "x1": result.at("xn.x1", t),
        "x2": result.at("xn.x2", t),
        "i_in": i_in,
    }


def _twin(params: MIFParams, drive: torch.Tensor, dt: float, integrator: str) -> tuple[MIFState, dict]:
    mif = MIF(params)
    state0 = mif.rest_state(like=drive)
    out = mif.simulate(drive, dt, integrator=integrator, state0=state0)
    return state0, {k: v.detach().numpy() for k, v in out.items()}


def _meta(params: MIFParams, stimulus: dict, dt: float, integrator: str, result: Result) -> dict:
    return {"params": params.spice_params(), "stimulus": stimulus, "dt": dt,
            "integrator": integrator, "ngspice_version": result.ngspice_version}


def constant_current_netlist(
    params: MIFParams,
    current: float,
    t_stop: float,
    dt: float,
    state0: MIFState | None = None,
    max_step: float | None = None,
    method: str = "trap",
) -> str:
    """Netlist: the neuron under a constant ``current`` (A) into ``in`` from ``state0``
    (default: the rest state), max step dt/10 unless given."""
    state0 = MIF(params).rest_state() if state0 is None else state0
    net = _neuron_netlist(f"MIF constant current {current:g} A", params, state0)
    net.isource("in", "0", "m", float(current))
    return _finish(net, t_stop, dt, max_step, method)


def spice_constant_current(
    params: MIFParams, current: float, t_stop: float, dt: float, state0: MIFState | None = None
) -> Result:
    """ngspice run of :func:`constant_current_netlist`."""
    return run(constant_current_netlist(params, current, t_stop, dt, state0))


def alpha_train_netlist(
    params: MIFParams,
    alpha_params: AlphaParams,
    spike_times: Sequence[float],
    t_stop: float,
    dt: float,
    state0: MIFState | None = None,
    max_step: float | None = None,
    method: str = "trap",
    spike_weights: Sequence[float] | None = None,
) -> str:
    """Netlist: ``alpha`` (spikes at ``spike_times``, s, each scaled by ``spike_weights``,
    default 1) driving the neuron; saves the alpha states v(xa.i) (A) and v(xa.s) too."""
    state0 = MIF(params).rest_state() if state0 is None else state0
    net = _neuron_netlist(f"MIF alpha train w={alpha_params.w:g} A", params, state0)
    net.include(lib_path("alpha"))
    net.vsource("spk", "spk", "0", pwl(*spike_source_values(spike_times, SPIKE_WIDTH_FRACTION * dt, spike_weights)))
    net.subckt("a", ["spk", "m"], "alpha", alpha_params.spice_params())
    return _finish(net, t_stop, dt, max_step, method, "v(xa.i)", "v(xa.s)")


def spice_alpha_train(
    params: MIFParams,
    alpha_params: AlphaParams,
    spike_times: Sequence[float],
    t_stop: float,
    dt: float,
    state0: MIFState | None = None,
) -> Result:
    """ngspice run of :func:`alpha_train_netlist`."""
    return run(alpha_train_netlist(params, alpha_params, spike_times, t_stop, dt, state0))


def constant_current(
    params: MIFParams,
    current: float,
    t_stop: float = 10e-3,
    dt: float = 1e-6,
    integrator: str = "exp-euler",
) -> Comparison:
    """Twin and ngspice under a constant input ``current`` (A) from the rest state."""
    t = grid(dt, t_stop)
    n_steps = t.size - 1
    drive = torch.full((n_steps,), float(current), dtype=torch.float64)
    state0, twin = _twin(params, drive, dt, integrator)
    result = spice_constant_current(params, current, t_stop, dt, state0)
    i_in = np.full_like(t, float(current))
    return Comparison(
        model="mif",
        title=f"MIF, constant input {current * 1e6:g} µA, dt = {dt * 1e6:g} µs, {integrator}",
        t=t,
        twin={**twin, "i_in": i_in},
        spice=_sample(result, t, i_in),
        units=UNITS,
        meta=_meta(params, {"kind": "constant", "current": current}, dt, integrator, result),
    )


def spikes_on_grid(
    spike_times: Sequence[float], n_steps: int, dt: float, spike_weights: Sequence[float] | None = None
) -> tuple[torch.Tensor, list[float]]:
    """Spike counts (or summed ``spike_weights``) on the grid (times rounded to the nearest t_k)
    and the rounded times (s)."""
    spikes = torch.zeros(n_steps, dtype=torch.float64)
    weights = [1.0] * len(spike_times) if spike_weights is None else list(spike_weights)
    if len(weights) != len(spike_times):
        raise ValueError(f"{len(weights)} spike weights for {len(spike_times)} spike times: need one per spike")
    on_grid = []
    for t, w in zip(spike_times, weights, strict=True):
        k = int(round(t / dt))
        if not 0 <= k < n_steps:
            raise ValueError(f"spike time {t!r} s: must lie in [0, {n_steps * dt:g}) s")
        spikes[k] += float(w)
        on_grid.append(k * dt)
    return spikes, on_grid


def alpha_train(
    params: MIFParams,
    spike_times: Sequence[float],
    w: float,
    t_stop: float = 10e-3,
    dt: float = 1e-6,
    integrator: str = "exp-euler",
    tau_alpha: float = AlphaParams().tau_alpha,
) -> Comparison:
    """Twin and ngspice driven by alpha currents of peak ``w`` (A) from spikes at ``spike_times`` (s)."""
    t = grid(dt, t_stop)
    n_steps = t.size - 1
    alpha_params = AlphaParams(tau_alpha=tau_alpha, w=w)
    spikes, on_grid = spikes_on_grid(spike_times, n_steps, dt)
    alpha = AlphaCurrent(alpha_params).simulate(spikes, dt)
    state0, twin = _twin(params, input_samples(alpha["i"]), dt, integrator)
    result = spice_alpha_train(params, alpha_params, on_grid, t_stop, dt, state0)
    stimulus = {"kind": "alpha", "spike_times": on_grid, "w": w, "tau_alpha": tau_alpha}
    return Comparison(
        model="mif",
        title=f"MIF, {len(on_grid)} alpha input(s) of {w * 1e6:g} µA, dt = {dt * 1e6:g} µs, {integrator}",
        t=t,
        twin={**twin, "i_in": alpha["i"].numpy()},
        spice=_sample(result, t, result.at("xa.i", t)),
        units=UNITS,
        meta=_meta(params, stimulus, dt, integrator, result),
    )


def spike_times(t: np.ndarray, v: np.ndarray, threshold: float) -> np.ndarray:
    """Upward crossings of ``threshold`` (V) by ``v``, linearly interpolated between samples (s).

    The one spike detector: the validator's spike metrics
    (:func:`spicegrad.validate.metrics.spike_errors`) and the MIF characterisation use it."""
    v = np.asarray(v, dtype=float)
    k = np.nonzero((v[:-1] < threshold) & (v[1:] >= threshold))[0]
    frac = (threshold - v[k]) / (v[k + 1] - v[k])
    return t[k] + frac * (t[k + 1] - t[k])


def demo_comparison() -> Comparison:
    """``memprop`` neuron, one 20 µA alpha input at t = 1 ms, 10 ms at dt = 1 µs (exp-euler)."""
    return alpha_train(MIF.preset("memprop"), [1e-3], w=20e-6, t_stop=10e-3, dt=1e-6)
