"""One memristor in both halves: the MSS twin and its ngspice subcircuit under the same sine.

The Knowm metastable-switch memristor (preset ``knowm-default``) is driven by a 0.5 V, 100 Hz
sine for 20 ms. The PyTorch twin integrates it at dt = 1 µs with forward Euler and with the
exponential Euler rule; ngspice runs the subcircuit from the model library on the testbench that
``sg.compare.mss_netlist`` writes. The script prints the largest difference in the device state
x (fraction of switches ON, dimensionless) and the RMS current difference, and saves the netlist.

Usage: python examples/01_device_both_halves.py [OUT_DIR]   (default: a temporary folder)
Runtime: about 15 s (9.5 s of CPU; measured on a 2-core machine shared with other jobs,
load average 3-4; most of it is importing torch and matplotlib and the 40,000 twin steps).
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

import spicegrad as sg


def main(argv: list[str]) -> int:
    out = Path(argv[0]) if argv else Path(tempfile.mkdtemp(prefix="spicegrad-example-"))
    out.mkdir(parents=True, exist_ok=True)
    params = sg.MSS.preset("knowm-default")
    sine = sg.Sine(amplitude=0.5, freq=100.0)  # V, Hz
    dt, t_stop = 1e-6, 20e-3  # s

    # twin: the input of step k is the stimulus at the step's midpoint t_k + dt/2
    t = torch.tensor(sg.grid(dt, t_stop))
    v = torch.tensor(sine.sample(t[:-1] + dt / 2))
    start = time.perf_counter()
    twin = {name: sg.MSS(params).simulate(v, dt=dt, integrator=name) for name in ("euler", "exp-euler")}
    twin_s = time.perf_counter() - start

    # ngspice: the subcircuit in spicegrad/models/mss.lib on the same stimulus
    netlist = sg.compare.mss_netlist(params, sine, dt, t_stop)
    (out / "mss_sine.cir").write_text(netlist)
    start = time.perf_counter()
    spice = sg.run(netlist)
    spice_s = time.perf_counter() - start
    x_spice = spice.at("xm.x", t.numpy())
    i_spice = -spice.at("i(vs)", t.numpy())  # the source's branch current runs against the device's

    print(f"MSS ({params.r_on:g}..{params.r_off:g} Ω) under a {sine.amplitude:g} V, {sine.freq:g} Hz sine, "
          f"{t_stop * 1e3:g} ms at dt = {dt * 1e6:g} µs")
    print(f"ngspice {spice.ngspice_version}: {spice_s:.2f} s; twin (both integrators): {twin_s:.2f} s")
    print(f"state x swings {x_spice.min():.3f}..{x_spice.max():.3f} in ngspice")
    for name, traces in twin.items():
        dx = np.abs(traces["x"].numpy() - x_spice).max()
        di = np.sqrt(np.mean((traces["i"].numpy() - i_spice) ** 2))
        print(f"twin {name:9s}: max |dx| = {dx:.2e} (dimensionless), RMS di = {di * 1e6:.3f} µA "
              f"(peak current {np.abs(i_spice).max() * 1e3:.3f} mA)")
    print(f"netlist: {out / 'mss_sine.cir'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
