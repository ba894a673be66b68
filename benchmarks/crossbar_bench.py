"""Crossbar benchmarks: writing large netlists, and twin vs ngspice on MSS crossbar transients.

    .venv/bin/python benchmarks/crossbar_bench.py [--write 128,256,512,1024] [--transient 8,16,32]

1. Writing an N x N differential MSS crossbar netlist (2·N² devices, random weights, ideal
   wires, and with 1 Ω wires at the largest size) to a file: wall time and peak resident memory,
   each size in a fresh process (so the peak is that size's own; it includes the interpreter
   and torch, reported separately as the baseline).
2. The MSS crossbar transient of :func:`spicegrad.crossbar.compare.transient_case` (1 kHz sines,
   0.6..1.0 V, one period, dt = 1 µs) at N = 8, 16, 32, measured in one run: ngspice (max step
   = dt, default tolerances of the testbenches) and the twin (float64, euler). With ideal wires
   the devices are independent, so an independent reference exists: DOP853 (rtol 1e-10) of the
   MSS ODE under the exact sine; both halves report max|x - x_ref| against it. With 2.5 Ω wires
   the table reports the twin-vs-ngspice difference.

Writes benchmarks/results/crossbar.json and prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results" / "crossbar.json"


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: kiB


def write_one(n: int, r_wire: float) -> dict:
    """Build, check, render and write one netlist in this process; time and peak memory."""
    import spicegrad.crossbar as xb  # imported first: the baseline includes torch
    from spicegrad._io import atomic_write_text
    from spicegrad.crossbar.devices import get_device

    baseline = _peak_rss_mib()
    spec = xb.CrossbarSpec(n, n, "differential", r_wire=r_wire)
    w = np.random.default_rng(0).normal(size=(n, n))
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        mapping = xb.map_weights(w, *get_device("mss").g_range(get_device("mss").default_params()))
        circuit = xb.crossbar_circuit(spec, "mss", mapping.g, force=True)
        path = atomic_write_text(Path(tmp) / "xbar.cir", circuit.render())
        seconds = time.perf_counter() - start
        size = path.stat().st_size
    return {"n": n, "r_wire": r_wire, "devices": spec.n_devices, "elements": circuit.n_elements,
            "seconds": seconds, "bytes": size, "peak_rss_mib": _peak_rss_mib(), "baseline_rss_mib": baseline}


def bench_writes(sizes: list[int]) -> list[dict]:
    cases = [(n, 0.0) for n in sizes] + [(max(sizes), 1.0)]
    rows = []
    for n, r_wire in cases:  # one at a time: the machine is shared
        out = subprocess.run([sys.executable, __file__, "--write-one", str(n), "--r-wire", str(r_wire)],
                             capture_output=True, text=True, check=True)
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
        print(f"  write {n}x{n} r_wire={r_wire:g}: {rows[-1]['seconds']:.2f} s, {rows[-1]['peak_rss_mib']:.0f} MiB",
              file=sys.stderr)
    return rows


def reference_states(g0: np.ndarray, amplitudes: np.ndarray, freq: float, t: np.ndarray) -> np.ndarray:
    """DOP853 of dx/dt = [(1-x)P_on(v) - x P_off(v)]/tau per device, v = the row's exact sine."""
    from scipy.integrate import solve_ivp

    from spicegrad.devices import MSSParams

    p = MSSParams()
    x0 = (g0 - 1 / p.r_off) / (1 / p.r_on - 1 / p.r_off)
    amp = np.repeat(amplitudes[:, None], g0.shape[1], axis=1).ravel()

    def rhs(time_s, x):
        v = amp * np.sin(2 * np.pi * freq * time_s)
        p_on = 0.5 * (1 + np.tanh((v - p.v_on) / (2 * p.v_t)))
        p_off = 0.5 * (1 + np.tanh(-(v + p.v_off) / (2 * p.v_t)))
        return ((1 - x) * p_on - x * p_off) / p.tau

    sol = solve_ivp(rhs, (t[0], t[-1]), x0.ravel(), method="DOP853", t_eval=t, rtol=1e-10, atol=1e-12)
    return sol.y.T.reshape(t.size, *g0.shape)


def twin_at(spec, g0, stimuli, dt: float, t_stop: float, every: int) -> tuple[np.ndarray, float]:
    """Twin states on t_k = k·dt·every from a run at step dt (midpoint samples), and its time."""
    import torch

    from spicegrad.crossbar.layers import simulate_crossbar

    steps = int(round(t_stop / dt))
    t = np.arange(steps) * dt + dt / 2
    v = torch.tensor(np.stack([s.sample(t) for s in stimuli], 1), dtype=torch.float64)
    start = time.perf_counter()
    out = simulate_crossbar(spec, "mss", torch.tensor(g0), v, dt)
    return out["state"][::every, 0].numpy(), time.perf_counter() - start


def bench_transient(n: int, r_wire: float, refine: int = 20) -> dict:
    from spicegrad.crossbar.compare import compare_transient, transient_case

    spec, g0, stimuli, dt, t_stop = transient_case(n, r_wire=r_wire)
    twin_at(spec, g0, stimuli, dt, 4 * dt, 1)  # warm-up: first-call costs are not the twin's
    c = compare_transient(spec, g0, stimuli, dt, t_stop, max_step=dt)
    row = {"n": n, "r_wire": r_wire, "devices": spec.n_devices, "steps": c.t.size - 1,
           "ngspice_s": c.meta["spice_s"], "ngspice_timepoints": c.meta["timepoints"], "twin_s": c.meta["twin_s"],
           "speedup": c.meta["spice_s"] / c.meta["twin_s"], "twin_vs_ngspice_max_dx": c.error("x")["max_abs"]}
    if r_wire == 0:
        x_ref = reference_states(g0, np.array([s.amplitude for s in stimuli]), stimuli[0].freq, c.t)
        row["twin_vs_ref_max_dx"] = float(np.max(np.abs(c.twin["x"] - x_ref)))
        row["ngspice_vs_ref_max_dx"] = float(np.max(np.abs(c.spice["x"] - x_ref)))
        # the twin at a finer step, for a comparison at equal fidelity
        x_fine, row["twin_fine_s"] = twin_at(spec, g0, stimuli, dt / refine, t_stop, refine)
        row["twin_fine_dt"] = dt / refine
        row["twin_fine_vs_ref_max_dx"] = float(np.max(np.abs(x_fine - x_ref)))
        row["speedup_fine"] = c.meta["spice_s"] / row["twin_fine_s"]
    print(f"  transient {n}x{n} r_wire={r_wire:g}: ngspice {row['ngspice_s']:.2f} s, twin {row['twin_s']:.3f} s",
          file=sys.stderr)
    return row


def table(result: dict) -> str:
    lines = ["| netlist | devices | elements | write time (s) | file (MiB) | peak RSS (MiB) |", "|---|---|---|---|---|---|"]
    for r in result["writes"]:
        lines.append(f"| {r['n']}x{r['n']} differential, r_wire {r['r_wire']:g} Ω | {r['devices']:,} | {r['elements']:,} "
                     f"| {r['seconds']:.2f} | {r['bytes'] / 2**20:.0f} | {r['peak_rss_mib']:.0f} "
                     f"(baseline {r['baseline_rss_mib']:.0f}) |")
    lines += ["", "| MSS transient (1 ms, dt 1 µs) | devices | ngspice (s) | twin (s) | speed-up | "
              "max abs dx twin vs ngspice | twin vs ref | ngspice vs ref |", "|---|---|---|---|---|---|---|---|"]
    for r in result["transients"]:
        ref = (f"{r['twin_vs_ref_max_dx']:.2e} | {r['ngspice_vs_ref_max_dx']:.2e}" if "twin_vs_ref_max_dx" in r else "– | –")
        lines.append(f"| {r['n']}x{r['n']}, r_wire {r['r_wire']:g} Ω | {r['devices']:,} | {r['ngspice_s']:.2f} "
                     f"| {r['twin_s']:.3f} | {r['speedup']:.0f}x | {r['twin_vs_ngspice_max_dx']:.2e} | {ref} |")
    fine = [r for r in result["transients"] if "twin_fine_s" in r]
    if fine:
        lines += ["", "| equal fidelity: twin at dt/20 | twin (s) | twin vs ref | ngspice vs ref | speed-up |",
                  "|---|---|---|---|---|"]
        for r in fine:
            lines.append(f"| {r['n']}x{r['n']}, dt {r['twin_fine_dt']:.3g} s | {r['twin_fine_s']:.3f} | "
                         f"{r['twin_fine_vs_ref_max_dx']:.2e} | {r['ngspice_vs_ref_max_dx']:.2e} | {r['speedup_fine']:.0f}x |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", default="128,256,512,1024", help="netlist sizes N (N x N differential)")
    parser.add_argument("--transient", default="8,16,32", help="transient sizes N")
    parser.add_argument("--write-one", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--r-wire", type=float, default=0.0, help=argparse.SUPPRESS)
    parser.add_argument("-o", "--output", default=str(RESULTS))
    args = parser.parse_args(argv)
    if args.write_one:
        print(json.dumps(write_one(args.write_one, args.r_wire)))
        return 0
    from spicegrad import __version__
    from spicegrad.spice import ngspice_version

    sizes = [int(s) for s in args.write.split(",") if s]
    result = {
        "spicegrad_version": __version__, "ngspice_version": ngspice_version(),
        "machine": f"{platform.machine()}, {platform.processor() or 'cpu'}, python {platform.python_version()}",
        "writes": bench_writes(sizes) if sizes else [],
        "transients": [bench_transient(int(n), r) for r in (0.0, 2.5) for n in args.transient.split(",") if n],
    }
    from spicegrad._io import atomic_write_json

    atomic_write_json(args.output, result)
    print(table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
