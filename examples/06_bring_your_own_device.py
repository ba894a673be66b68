"""Bring your own device: a made-up memristor from outside the package, taken end to end.

The device is a toy relaxation memristor (invented for this example, not a physical device): its
state x relaxes toward a voltage-dependent target,

    dx/dt = (s(v) - x) / tau,   s(v) = (1 + tanh(v / v_s)) / 2,   G(x) = x/r_on + (1 - x)/r_off.

The script defines its ``Params`` record and twin step, writes its ``.lib`` (a subcircuit whose
state sits on the capacitor node ``x``) and a cases file into OUT_DIR, registers it with
``sg.register``, validates it on its own cases with ``sg.run_validation`` (ngspice vs reference
vs twin; the negative control with a wrong v_s must fail, and does), gets its training
certificate with ``sg.require_certified``, and runs a 3x2 differential crossbar of it in ngspice
(``sg.crossbar_netlist``, ``sg.run``) and in the crossbar twin (``sg.simulate_crossbar``). It
prints each check's figure and exits 0 when every check holds. docs/adding-a-device.md explains
each step; tests/test_registry.py imports the device from here.

Usage: python examples/06_bring_your_own_device.py [OUT_DIR]   (default: a temporary folder)
Runtime: about 6 s (6.3 s of CPU; measured on a 2-core machine at load average about 0.5, with
an empty cache and a filled one alike); half of it is importing torch and spicegrad, the script's
own steps take 3 s.
"""

from __future__ import annotations

import dataclasses
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

import spicegrad as sg

NAME = "toy"

TOY_LIB = """* toy relaxation memristor: a made-up device (examples/06_bring_your_own_device.py)
.subckt toy te be params: r_on=1000 r_off=10000 v_s=0.2 tau=0.001 x0=0
Cx x 0 1 IC={x0}
Rx x 0 1e12
Bx 0 x I={(0.5*(1 + tanh(v(te,be)/v_s)) - v(x))/tau}
Bd te be I={v(te,be)*(v(x)/r_on + (1 - v(x))/r_off)}
.ends toy
"""

TOY_CASES = """
[[case]]
name = "toy-sine"
model = "toy"
dt = 1e-5
t_stop = 4e-3
integrator = "exp-euler"
stimulus = { kind = "sine", amplitude = 0.5, freq = 500.0 }
tolerance = { x = { max_abs = 2e-3 }, i = { nrmse = 2.5e-3 } }
quick = true  # `spicegrad validate --quick` runs it, and `spicegrad demo` plots it

[[case]]
name = "toy-wrong-v_s"  # a negative control: a twin with the wrong v_s must fail
model = "toy"
dt = 1e-5
t_stop = 4e-3
integrator = "exp-euler"
stimulus = { kind = "sine", amplitude = 0.5, freq = 500.0 }
tolerance = { x = { max_abs = 2e-3 } }
twin_params = { v_s = 0.3 }
expect = "fail"
"""

MADE_UP = "made-up value for an example device"


@dataclasses.dataclass(frozen=True)
class ToyParams(sg.DeviceParams):
    r_on: float = sg.param(1e3, "Ω", f"resistance at x = 1 ({MADE_UP})")
    r_off: float = sg.param(1e4, "Ω", f"resistance at x = 0 ({MADE_UP})")
    v_s: float = sg.param(0.2, "V", f"voltage scale of the target state ({MADE_UP})")
    tau: float = sg.param(1e-3, "s", f"relaxation time ({MADE_UP})")


def toy_step(v, x, p, dt, integrator="exp-euler"):
    """x_{k+1} from x_k under v_k held for dt, in relaxation form dx/dt = a - b·x."""
    target = 0.5 * (1 + torch.tanh(v / p.v_s))
    return sg.get_integrator(integrator).relax(x, target / p.tau, torch.full_like(x, 1 / p.tau), dt)


def toy_conductance(x, p):
    return x / p.r_on + (1 - x) / p.r_off


def toy_kind(library: Path, cases: Path, **changes) -> sg.DeviceKind:
    """The registry entry for the .lib and cases file at these paths; ``changes`` override fields."""
    fields = dict(
        name=NAME, params=ToyParams, library=library, subckt="toy", pins=("te", "be"), role="cell",
        states=("x",), initial_state="x0", step=toy_step, conductance=toy_conductance,
        state_from_conductance=lambda g, p: (g - 1 / p.r_off) / (1 / p.r_on - 1 / p.r_off),
        conductance_range=lambda p: (1 / p.r_off, 1 / p.r_on),
        program=lambda g, p: {"x0": (np.asarray(g, float).ravel() - 1 / p.r_off) / (1 / p.r_on - 1 / p.r_off)},
        cases=cases,
        # the validator's independent reference: the ODE and current stated again, in numpy
        reference_rhs=lambda t, v, x, p: ((1 + np.tanh(v / p.v_s)) / 2 - x) / p.tau,
        reference_current=lambda v, y, p: v * (y[0] / p.r_on + (1 - y[0]) / p.r_off),
    )
    fields.update(changes)
    return sg.DeviceKind(**fields)


def main(argv: list[str]) -> int:
    out = Path(argv[0]) if argv else Path(tempfile.mkdtemp(prefix="spicegrad-example-"))
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()

    # 1-2. the device's files, then its registry entry
    library, cases = out / "toy.lib", out / "toy.toml"
    library.write_text(TOY_LIB)
    cases.write_text(TOY_CASES)
    if NAME not in sg.registry.names():
        sg.register(toy_kind(library, cases))
    p = ToyParams()
    print(f"registered {NAME!r}: {p.r_on:g}..{p.r_off:g} Ω, v_s = {p.v_s:g} V, tau = {p.tau * 1e3:g} ms")

    # 3. validation on its own cases: ngspice (A) vs reference (B) vs twin (C)
    report = out / "report"
    run = sg.run_validation(NAME, report=report, sweep=False, progress=False)
    for r in run.results:
        dx = r["metrics"]["x"]["max_abs"]
        print(f"  {r['name']:14s} {r['status']:6s} (expected: {r['expect']}), twin vs ngspice max |dx| = {dx:.2e} "
              f"(dimensionless; tolerance {r['tolerance']['x']['max_abs']:g})"
              f" -> {'as expected' if r['as_expected'] else 'NOT AS EXPECTED'}")
    print(f"every case as expected: {run.passed}; report: {report / 'index.html'}")

    # 4. the training gate: a certificate for these parameters, dt and integrator
    cert = sg.require_certified(NAME, p, 1e-5, "exp-euler")
    print(f"certificate {NAME}: validated {cert['validated']} at dt = 10 µs, exp-euler")

    # 5. a 3x2 differential crossbar of it: ngspice vs the crossbar twin
    spec = sg.CrossbarSpec(3, 2)
    g0 = torch.tensor([[4e-4, 2e-4, 6e-4, 1.5e-4]] * 3, dtype=torch.float64)  # S, G+ and G- per weight
    sines = [sg.Sine(amplitude=0.4 + 0.1 * r, freq=1e3) for r in range(3)]  # V, Hz
    dt, steps = 1e-6, 1000  # s
    netlist = sg.crossbar_netlist(spec, NAME, g0.numpy(), stimuli=sines, t_stop=steps * dt, dt=dt, save_states=True)
    (out / "crossbar.cir").write_text(netlist)
    spice = sg.run(netlist)
    twin = sg.simulate_crossbar(spec, NAME, g0, sg.row_samples(sines, dt, steps), dt)
    t = np.arange(steps + 1) * dt
    x_spice = np.stack([np.stack([spice.at(f"xd_{i}_{j}.x", t) for j in range(spec.physical_cols)], -1)
                        for i in range(spec.rows)], 1)
    i_spice = np.stack([spice.at(f"i(vsense_{j})", t) for j in range(spec.physical_cols)], -1)
    dx = np.abs(twin["state"][:, 0].numpy() - x_spice).max()
    di = np.abs(twin["i"][:, 0].numpy() - i_spice).max()
    print(f"crossbar 3x2 (differential), 1 kHz sines of 0.4..0.6 V for {steps * dt * 1e3:g} ms at dt = {dt * 1e6:g} µs:")
    print(f"  states swing {x_spice.min():.3f}..{x_spice.max():.3f}; max |x_twin - x_ngspice| = {dx:.2e} (dimensionless)")
    print(f"  column currents: max |i_twin - i_ngspice| = {di * 1e6:.3f} µA of a {np.abs(i_spice).max() * 1e3:.3f} mA peak")
    print(f"netlist: {out / 'crossbar.cir'}; total {time.perf_counter() - start:.1f} s")
    return 0 if run.passed and cert["validated"] and dx < 1e-3 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
