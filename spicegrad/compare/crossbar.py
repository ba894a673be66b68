"""Crossbar twin vs ngspice on the same array: DC column currents and MSS transients.

Used by the tests, the benchmark and the validator's crossbar cases. Each comparison builds the
netlist with :func:`~spicegrad.crossbar.generator.crossbar_netlist`, runs ngspice, runs the twin
(:mod:`spicegrad.crossbar.layers`) on the same spec, and samples both on one grid.
"""

from __future__ import annotations

import time

import numpy as np
import torch

from ..compare import Comparison
from ..crossbar.devices import get_device, resolve_params
from ..crossbar.generator import DC, crossbar_netlist
from ..crossbar.layers import CrossbarSolver, row_samples, simulate_crossbar
from ..crossbar.topology import CrossbarSpec
from ..spice.runner import run
from ..stimuli import Sine, grid


def random_conductances(spec: CrossbarSpec, g_min: float, g_max: float, seed: int = 0) -> np.ndarray:
    """Uniform random conductances [R, Cp] in [g_min, g_max] (S)."""
    rng = np.random.default_rng(seed)
    return rng.uniform(g_min, g_max, (spec.rows, spec.physical_cols))


def compare_dc(spec: CrossbarSpec, g: np.ndarray, v_rows: np.ndarray, device: str = "resistor") -> dict:
    """Column currents of twin and ngspice (``.op``) for DC row voltages ``v_rows`` [R] (V).

    ``rel_error`` = max |i_twin - i_spice| / max |i_spice| over the columns.
    """
    res = run(crossbar_netlist(spec, device, g, stimuli=[DC(float(x)) for x in v_rows], analysis="op"))
    i_spice = np.array([res[f"i(vsense_{j})"][0] for j in range(spec.physical_cols)])
    i_twin = CrossbarSolver(spec).solve(torch.tensor(g), torch.tensor(v_rows, dtype=torch.float64)[None])["i"][0].numpy()
    rel = float(np.max(np.abs(i_twin - i_spice)) / np.max(np.abs(i_spice)))
    return {"i_twin": i_twin, "i_spice": i_spice, "rel_error": rel}


def sine_rows(rows: int, freq: float = 1e3, low: float = 0.6, high: float = 1.0) -> list[Sine]:
    """One sine per row, amplitudes spread over [low, high] V: all above the MSS thresholds."""
    return [Sine(amplitude=float(a), freq=freq) for a in np.linspace(low, high, rows)]


def transient_case(size: int = 8, r_wire: float = 2.5, seed: int = 0):
    """The MSS crossbar transient case: size x size differential, random states, 1 kHz sines
    of 0.6..1.0 V for one period at dt = 1 µs. Returns (spec, g0, stimuli, dt, t_stop)."""
    spec = CrossbarSpec(size, size, "differential", r_wire=r_wire, r_driver=r_wire, r_sense=r_wire)
    mss = get_device("mss")
    g0 = random_conductances(spec, *mss.g_range(resolve_params(mss, None)), seed)
    return spec, g0, sine_rows(size), 1e-6, 1e-3


def compare_transient(
    spec: CrossbarSpec,
    g0: np.ndarray,
    stimuli: list,
    dt: float,
    t_stop: float,
    *,
    device: str = "mss",
    params=None,
    integrator: str = "exp-euler",
    max_step: float | None = None,
) -> Comparison:
    """Twin (float64, stimulus at step midpoints, ``integrator``) and ngspice traces of states
    ``x`` [T+1, R, Cp] and column currents ``i`` [T+1, Cp] on t_k = k·dt; ``meta`` holds both
    wall times (s) and the wired solver's counters."""
    t = grid(dt, t_stop)
    steps = t.size - 1
    # (choice) midpoint samples, as the single-device testbenches: second-order for a held input
    v = row_samples(stimuli, dt, steps)
    stats: dict = {}
    start = time.perf_counter()
    twin = simulate_crossbar(spec, device, torch.tensor(g0), v, dt, params=params, integrator=integrator, stats=stats)
    twin_s = time.perf_counter() - start
    text = crossbar_netlist(spec, device, g0, params=params, stimuli=stimuli, dt=dt, t_stop=t_stop,
                            max_step=dt / 10 if max_step is None else max_step, save_states=True)
    start = time.perf_counter()
    res = run(text)
    spice_s = time.perf_counter() - start
    rows, cols = spec.rows, spec.physical_cols
    i_spice = np.stack([res.at(f"i(vsense_{j})", t) for j in range(cols)], -1)
    return Comparison(
        model="crossbar",
        title=f"{rows}x{spec.cols} {spec.pairs} {device} crossbar, r_wire {spec.r_wire:g} Ω, dt = {dt:g} s",
        t=t,
        twin={"x": twin["state"][:, 0].numpy(), "i": twin["i"][:, 0].numpy()},
        spice={"x": _states(res, t, rows, cols), "i": i_spice},
        units={"x": "1", "i": "A"},
        meta={"spec": spec, "dt": dt, "t_stop": t_stop, "twin_s": twin_s, "spice_s": spice_s,
              "timepoints": int(res.time.size), "integrator": integrator, "solver": stats},
    )


def _states(res, t: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """v(xd_i_j.x) sampled at t, shaped [T+1, rows, cols]."""
    out = np.empty((t.size, rows, cols))
    for i in range(rows):
        for j in range(cols):
            out[:, i, j] = res.at(f"v(xd_{i}_{j}.x)", t)
    return out


def compare_neurons(
    spec: CrossbarSpec,
    device: str,
    g: np.ndarray,
    stimuli: list,
    dt: float,
    t_stop: float,
    *,
    neuron_params=None,
    max_step: float | None = None,
) -> Comparison:
    """A crossbar terminated into MIF neurons (``--neurons mif``): membrane voltages ``v``
    [T+1, C] (V) of twin (exp-euler, midpoint row samples) and ngspice (max step dt/10) on t_k."""
    t = grid(dt, t_stop)
    steps = t.size - 1
    twin = simulate_crossbar(spec, device, torch.tensor(g), row_samples(stimuli, dt, steps), dt,
                             neurons="mif", neuron_params=neuron_params)
    res = run(crossbar_netlist(spec, device, g, stimuli=stimuli, neurons="mif", neuron_params=neuron_params,
                               dt=dt, t_stop=t_stop, max_step=dt / 10 if max_step is None else max_step))
    v_spice = np.stack([res.at(f"v(n_{k})", t) for k in range(spec.cols)], -1)
    return Comparison(
        model="crossbar",
        title=f"{spec.rows}x{spec.cols} {spec.pairs} {device} crossbar into MIF neurons, dt = {dt:g} s",
        t=t, twin={"v": twin["v_mem"][:, 0].numpy()}, spice={"v": v_spice}, units={"v": "V"},
        meta={"spec": spec, "dt": dt, "t_stop": t_stop},
    )
