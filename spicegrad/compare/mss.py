"""MSS testbench: a voltage source across one memristor, twin and ngspice on the same grid."""

from __future__ import annotations

import numpy as np
import torch

from ..devices.mss import MSS, MSSParams
from ..spice.library import lib_path
from ..spice.netlist import Netlist
from ..spice.options import SPICE_OPTIONS
from ..spice.runner import Result, run
from ..stimuli import PulseTrain, Sine, grid, step_samples
from . import Comparison

UNITS = {"x": "1", "i": "A"}


def mss_netlist(
    params: MSSParams,
    stimulus,
    dt: float,
    t_stop: float,
    x0: float = 0.0,
    method: str = "trap",
    max_step: float | None = None,
) -> str:
    """Testbench: source ``stimulus`` on te, be grounded; saves v(xm.x) and the source current."""
    net = Netlist("spicegrad MSS testbench")
    net.include(lib_path("mss"))
    net.vsource("s", "te", "0", stimulus.to_spice())
    net.subckt("m", ["te", "0"], "mss", {**params.spice_params(), "x0": x0})
    net.options(**SPICE_OPTIONS, method=method)
    net.tran(dt, t_stop, max_step=max_step if max_step is not None else dt / 10)
    net.save("v(te)", "v(xm.x)", "i(vs)")
    return net.render()


def mss_spice_traces(result: Result, t: np.ndarray) -> dict[str, np.ndarray]:
    """State and device current from an :func:`mss_netlist` run, sampled at ``t``."""
    # SPICE's branch current runs + -> - through the source: minus the device current.
    return {"x": result.at("xm.x", t), "i": -result.at("i(vs)", t)}


def mss_twin(
    params: MSSParams,
    stimulus,
    dt: float,
    t_stop: float,
    x0: float = 0.0,
    integrator: str = "euler",
    **simulate_kwargs,
) -> dict[str, np.ndarray]:
    """Twin traces (float64) on t_k = k·dt for ``stimulus``."""
    steps = len(grid(dt, t_stop)) - 1
    v = torch.tensor(step_samples(stimulus, dt, steps), dtype=torch.float64)
    if simulate_kwargs.get("stochastic"):
        v = v[:, None].expand(-1, simulate_kwargs.pop("ensemble"))
    out = MSS(params).simulate(v, dt=dt, x0=x0, integrator=integrator, **simulate_kwargs)
    return {name: out[name].numpy() for name in UNITS}


def compare_mss(
    params: MSSParams,
    stimulus,
    dt: float,
    t_stop: float,
    x0: float = 0.0,
    integrator: str = "euler",
    method: str = "trap",
) -> Comparison:
    """Run ``stimulus`` through the twin (float64) and ngspice; traces x and i on t_k = k·dt."""
    t = grid(dt, t_stop)
    res = run(mss_netlist(params, stimulus, dt, t_stop, x0, method))
    return Comparison(
        model="mss",
        title=f"MSS, {stimulus.describe()}, dt = {dt:g} s ({integrator})",
        t=t,
        twin=mss_twin(params, stimulus, dt, t_stop, x0, integrator),
        spice=mss_spice_traces(res, t),
        units=UNITS,
        meta={"params": params.spice_params(), "stimulus": stimulus.describe(), "dt": dt, "x0": x0},
    )


def sine_case() -> tuple[Sine, float, float]:
    """docs/device-models.md's reference case: 0.5 V, 100 Hz sine for 40 ms at dt = 1 µs."""
    return Sine(amplitude=0.5, freq=100.0), 1e-6, 40e-3


def pulse_case() -> tuple[PulseTrain, float, float]:
    """A ±0.5 V square train (1 ms each polarity, first edge at 0.5 ms) for 10 ms at dt = 1 µs."""
    return PulseTrain(low=-0.5, high=0.5, period=2e-3, width=1e-3 - 1e-6, delay=0.5e-3, rise=1e-8), 1e-6, 10e-3


def demo_comparison() -> Comparison:
    stimulus, dt, t_stop = sine_case()
    return compare_mss(MSSParams.preset("knowm-default"), stimulus, dt, t_stop)
