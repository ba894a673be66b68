"""A crossbar in both halves: an 8x4 MSS crossbar netlist run in ngspice, and its PyTorch twin.

A random 8x4 weight matrix is mapped onto differential pairs of Knowm MSS memristors
(``sg.map_weights``) in an array with 1 Ω per wire segment and 1 Ω driver and sense resistors
(``sg.CrossbarSpec``). Two netlists are written with ``sg.crossbar_netlist`` and run with
``sg.run``:

1. a read at 0.10..0.17 V (below the MSS switching threshold): the column currents, turned back
   into weight units, against ``sg.CrossbarLayer`` (the differentiable layer, with the same wire
   resistance) and against the ideal product v·W that ignores the wires;
2. a 1 ms transient with 1 kHz sines of 0.6..1.0 V that switch the devices: every device state
   and column current against ``sg.simulate_crossbar``.

Usage: python examples/03_crossbar_netlist_and_twin.py [OUT_DIR]   (default: a temporary folder)
Runtime: about 8 s (5.5 s of CPU; measured on a 2-core machine shared with other jobs, load
average 3-4).
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

import spicegrad as sg
from spicegrad.crossbar import DC


def main(argv: list[str]) -> int:
    out = Path(argv[0]) if argv else Path(tempfile.mkdtemp(prefix="spicegrad-example-"))
    out.mkdir(parents=True, exist_ok=True)
    rows, cols = 8, 4
    spec = sg.CrossbarSpec(rows, cols, r_wire=1.0, r_driver=1.0, r_sense=1.0)  # Ω
    mss = sg.MSS.preset("knowm-default")
    g_min, g_max = 1 / mss.r_off, 1 / mss.r_on  # S
    weights = np.random.default_rng(0).uniform(-1.0, 1.0, (rows, cols))
    mapping = sg.map_weights(weights, g_min, g_max)  # differential pairs: G+ and G- per weight
    print(f"{rows}x{cols} differential MSS crossbar, {spec.n_devices} devices, wires {spec.r_wire:g} Ω per segment")
    print(mapping.report())

    # 1. a read below the switching threshold: ngspice vs CrossbarLayer vs the ideal v.W
    v_read = np.linspace(0.10, 0.17, rows)  # V
    dt = 1e-6  # s
    read = sg.crossbar_netlist(spec, "mss", mapping.g, stimuli=[DC(float(v)) for v in v_read], dt=dt, t_stop=dt)
    (out / "read.cir").write_text(read)
    res = sg.run(read)
    i_cols = np.array([res[f"i(vsense_{j})"][0] for j in range(spec.physical_cols)])  # A
    y_spice = (i_cols[0::2] - i_cols[1::2]) / mapping.scale  # weight units
    layer = sg.CrossbarLayer(spec, g_min, g_max, w_max=mapping.w_max, weight=torch.tensor(weights))
    y_twin = layer(torch.tensor(v_read)[None]).detach().numpy()[0]
    y_ideal = v_read @ weights
    scale = np.abs(y_spice).max()
    print(f"read at {v_read[0]:.2f}..{v_read[-1]:.2f} V: outputs {np.array2string(y_spice, precision=4)} (V x weight units)")
    print(f"  CrossbarLayer vs ngspice: max relative difference {np.abs(y_twin - y_spice).max() / scale:.1e}")
    print(f"  ideal v.W (no wires) vs ngspice: max relative difference {np.abs(y_ideal - y_spice).max() / scale:.1e}")

    # 2. a transient that switches the devices: ngspice vs simulate_crossbar
    sines = [sg.Sine(amplitude=float(a), freq=1e3) for a in np.linspace(0.6, 1.0, rows)]  # V, Hz
    t_stop = 1e-3  # s
    tran = sg.crossbar_netlist(spec, "mss", mapping.g, stimuli=sines, dt=dt, t_stop=t_stop, save_states=True)
    (out / "transient.cir").write_text(tran)
    start = time.perf_counter()
    res = sg.run(tran)
    spice_s = time.perf_counter() - start
    t = sg.grid(dt, t_stop)
    start = time.perf_counter()
    twin = sg.simulate_crossbar(spec, "mss", torch.tensor(mapping.g), sg.row_samples(sines, dt, len(t) - 1), dt)
    twin_s = time.perf_counter() - start
    x_twin = twin["state"][:, 0].numpy()  # [T+1, rows, physical cols]
    x_spice = np.stack([np.stack([res.at(f"xd_{i}_{j}.x", t) for j in range(spec.physical_cols)], -1)
                        for i in range(rows)], 1)
    i_twin = twin["i"][:, 0].numpy()
    i_spice = np.stack([res.at(f"i(vsense_{j})", t) for j in range(spec.physical_cols)], -1)
    print(f"transient, 1 kHz sines of 0.6..1.0 V for {t_stop * 1e3:g} ms at dt = {dt * 1e6:g} µs: "
          f"ngspice {spice_s:.2f} s, twin {twin_s:.2f} s")
    print(f"  device states swing {x_spice.min():.3f}..{x_spice.max():.3f}; "
          f"max |x_twin - x_ngspice| = {np.abs(x_twin - x_spice).max():.2e} (dimensionless)")
    print(f"  column currents: max |i_twin - i_ngspice| = {np.abs(i_twin - i_spice).max() * 1e6:.2f} µA "
          f"of a {np.abs(i_spice).max() * 1e3:.2f} mA peak")
    print(f"netlists: {out / 'read.cir'}, {out / 'transient.cir'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
