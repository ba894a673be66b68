"""Batched crossbar transients: twin throughput against ngspice, memory and accuracy (issue 18).

    .venv/bin/python benchmarks/batch_bench.py [--batches 64,256] [--spice-runs 2] [--workers 1]
        [--wired 32,64:250] [--largest 64,96,128,192] [--device cpu|cuda] [--sections ideal,wired,largest]
    [--quick]

One run measures, on the same machine and load:

1. **Ideal wires**: B independent 32x32 differential MSS transients, 1 ms at dt = 1 µs: every
   run has its own inputs (a 1 kHz sine per row, amplitude drawn from 0.6..1.0 V) and its own
   initial states (conductances drawn uniformly over the device range). The twin runs all B in
   one :func:`spicegrad.simulate_crossbar` call keeping the column currents and the states every
   50 steps, float64 and float32, and (at the smallest B) keeping every state, the old way;
   each configuration in a fresh process (one torch thread, after a warm-up call) so that its
   peak resident memory above the imports is its own. ngspice runs ``--spice-runs`` of the same
   transients, one process per transient, ``--workers`` at a time (the twin gets as many torch
   threads); throughput is transients per second of wall time on both sides.
   Accuracy: max |x - x_ref| over the kept states of the first ``--spice-runs`` runs against an
   independent reference (DOP853, rtol 1e-10, of each device's ODE under the exact sines), for
   ngspice (max step dt, as benchmarks/crossbar_bench.py; its states at the same times) and both twin dtypes.
2. **Wired arrays** (2.5 Ω wires, driver and sense resistances) at each ``--wired`` size: the
   twin on 4 runs at once (each run its own reused factorisation) and ngspice on one of them,
   over 1 ms or, written N:STEPS, a shorter window on both sides (64x64 wired in ngspice takes
   far longer than 10 minutes for 1 ms); twin-ngspice state difference (no independent
   reference at these sizes).
3. **Largest wired array in 60 s**: the twin on one 1 ms transient at each ``--largest`` size,
   ascending, until one takes longer than 60 s.

``--device cuda`` runs the twin on a GPU (the wired solves stay on the CPU, see
:class:`spicegrad.CrossbarLayer`); peak memory is then the host's. ``--quick`` shrinks everything for a smoke test (100 µs, 8x8, B = 4, 16). Writes
benchmarks/results/batch.json section by section (``--sections`` reruns some and keeps the
others, each with its own load averages) and prints the README's table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results" / "batch.json"
DT, FREQ, KEEP_EVERY, R_WIRE = 1e-6, 1e3, 50, 2.5


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: kiB


def inputs(n: int, batch: int):
    """(amplitudes [B, n] in V, initial conductances [B, n, 2n] in S) of the batch's runs; run b
    draws from its own seed, so that run b is the same in every batch size and process."""
    import spicegrad as sg
    from spicegrad.devices.mss import mss_conductance_range

    g_range = mss_conductance_range(sg.MSSParams())
    rngs = [np.random.default_rng((n, b)) for b in range(batch)]
    return np.stack([r.uniform(0.6, 1.0, n) for r in rngs]), np.stack([r.uniform(*g_range, (n, 2 * n)) for r in rngs])


def row_voltages(amplitudes: np.ndarray, steps: int):
    """v [T, B, n] (V): each run's sines at the step midpoints (as sg.row_samples)."""
    import torch

    t = (np.arange(steps) + 0.5) * DT
    return torch.tensor(amplitudes[None] * np.sin(2 * np.pi * FREQ * t)[:, None, None])


def twin_one(n: int, batch: int, steps: int, dtype: str, keep: str, r_wire: float, threads: int,
             device: str = "cpu") -> dict:
    """One configuration in this (fresh) process: time, peak memory above the import baseline, and
    the states kept every KEEP_EVERY steps of the first runs (for the accuracy check)."""
    import torch

    import spicegrad as sg

    torch.set_num_threads(threads)
    amplitudes, g0 = inputs(n, batch)
    spec = sg.CrossbarSpec(n, n, r_wire=r_wire, r_driver=r_wire, r_sense=r_wire)
    kw = {"keep": ("i", "state"), "every": KEEP_EVERY} if keep == "lean" else {}
    like = {"dtype": getattr(torch, dtype), "device": device}
    v, g = row_voltages(amplitudes, steps).to(**like), torch.tensor(g0).to(**like)
    sg.simulate_crossbar(spec, "mss", g[:1], v[:2, :1], DT, **kw)  # warm-up: first-call costs are not the batch's
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    sync()
    baseline = _peak_rss_mib()
    start = time.perf_counter()
    with torch.no_grad():
        out = sg.simulate_crossbar(spec, "mss", g, v, DT, **kw)
    sync()
    seconds = time.perf_counter() - start
    assert out["i"].device.type == torch.device(device).type
    kept = out["state"][::KEEP_EVERY] if keep == "full" else out["state"]
    assert bool(torch.isfinite(out["i"]).all())
    return {"n": n, "batch": batch, "steps": steps, "dtype": dtype, "keep": keep, "r_wire": r_wire,
            "threads": threads, "device": device, "seconds": seconds, "seconds_per_transient": seconds / batch,
            "peak_rss_mib_above_baseline": _peak_rss_mib() - baseline,
            "mib_per_transient": (_peak_rss_mib() - baseline) / batch,
            "states": kept[:, :4].double().cpu().tolist()}


#: where the twin runs (``--device``)
DEVICE = ["cpu"]


def twin(n, batch, steps, dtype="float64", keep="lean", r_wire=0.0, threads=1) -> dict:
    config = [n, batch, steps, dtype, keep, r_wire, threads, DEVICE[0]]
    proc = subprocess.run([sys.executable, __file__, "--one", json.dumps(config)],
                          capture_output=True, text=True)
    if proc.returncode:
        raise RuntimeError(f"twin {n}x{n} B={batch} {dtype} {keep}: {proc.stderr[-2000:]}")
    row = json.loads(proc.stdout.strip().splitlines()[-1])
    print(f"  twin {n}x{n} r_wire {r_wire:g} B={batch} {dtype} {keep}: {row['seconds']:.3f} s, "
          f"{row['peak_rss_mib_above_baseline']:.0f} MiB", file=sys.stderr)
    return row


def spice_run(n: int, amplitudes: np.ndarray, g0: np.ndarray, steps: int, r_wire: float) -> tuple[float, np.ndarray]:
    """(wall seconds, states [T+1 every KEEP_EVERY, n, 2n]) of one ngspice transient."""
    import spicegrad as sg
    from spicegrad.crossbar.generator import crossbar_netlist

    spec = sg.CrossbarSpec(n, n, r_wire=r_wire, r_driver=r_wire, r_sense=r_wire)
    text = crossbar_netlist(spec, "mss", g0, stimuli=[sg.Sine(float(a), FREQ) for a in amplitudes], dt=DT,
                            t_stop=steps * DT, max_step=DT, save_states=True)
    start = time.perf_counter()
    res = sg.run(text, timeout=3 * 3600)  # a loaded machine stretches ngspice well past run()'s 10 min
    seconds = time.perf_counter() - start
    t = np.arange(0, steps + 1, KEEP_EVERY) * DT
    x = np.stack([np.stack([res.at(f"v(xd_{i}_{j}.x)", t) for j in range(2 * n)], -1) for i in range(n)], 1)
    return seconds, x


def spice(n, amplitudes, g0, steps, r_wire, runs, workers) -> dict:
    start = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:  # each run is its own ngspice process
        done = list(pool.map(lambda b: spice_run(n, amplitudes[b], g0[b], steps, r_wire), range(runs)))
    wall = time.perf_counter() - start
    print(f"  ngspice {n}x{n} r_wire {r_wire:g}: {runs} transients in {wall:.1f} s ({workers} at a time)", file=sys.stderr)
    return {"runs": runs, "workers": workers, "wall_s": wall, "seconds_per_transient": wall / runs,
            "process_s": [s for s, _ in done], "states": [x for _, x in done]}


def reference(amplitudes: np.ndarray, g0: np.ndarray, steps: int) -> np.ndarray:
    """Independent states [kept, n, 2n] of one run (crossbar_bench's DOP853 of the MSS ODE)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from crossbar_bench import reference_states

    return reference_states(g0, amplitudes, FREQ, np.arange(0, steps + 1, KEEP_EVERY) * DT)


def max_dx(a, b) -> float:
    return float(np.max(np.abs(np.asarray(a) - np.asarray(b))))


def ideal_section(args, steps: int) -> list[dict]:
    rows = []
    amplitudes, g0 = inputs(args.n, max(args.batches))
    sp = spice(args.n, amplitudes, g0, steps, 0.0, args.spice_runs, args.workers)
    refs = [reference(amplitudes[b], g0[b], steps) for b in range(args.spice_runs)]
    spice_dx = max(max_dx(sp["states"][b], refs[b]) for b in range(args.spice_runs))
    configs = [(b, d, "lean") for b in args.batches for d in ("float64", "float32")] + [(min(args.batches), "float64", "full")]
    for batch, dtype, keep in configs:
        row = twin(args.n, batch, steps, dtype, keep, threads=args.workers)
        states = np.array(row.pop("states"))  # [kept, 4 runs, n, 2n]
        row["twin_vs_ref_max_dx"] = max(max_dx(states[:, b], refs[b]) for b in range(args.spice_runs))
        row["ngspice_vs_ref_max_dx"] = spice_dx
        row["ngspice_s_per_transient"] = sp["seconds_per_transient"]
        row["throughput_ratio"] = sp["seconds_per_transient"] / row["seconds_per_transient"]
        rows.append(row)
    return rows


def wired_section(args, default_steps: int) -> list[dict]:
    rows = []
    for n, steps in args.wired:
        steps = steps or default_steps
        amplitudes, g0 = inputs(n, 4)
        sp = spice(n, amplitudes, g0, steps, R_WIRE, 1, 1)
        row = twin(n, 4, steps, "float64", "lean", R_WIRE, threads=1)
        row["twin_vs_ngspice_max_dx"] = max_dx(np.array(row.pop("states"))[:, 0], sp["states"][0])
        row["ngspice_s_per_transient"] = sp["seconds_per_transient"]
        row["throughput_ratio"] = sp["seconds_per_transient"] / row["seconds_per_transient"]
        rows.append(row)
    return rows


def largest_section(args, steps: int) -> dict:
    tried = []
    for n in args.largest:
        row = twin(n, 1, steps, "float64", "lean", R_WIRE, threads=args.workers)
        row.pop("states")
        tried.append(row)
        if row["seconds"] > 60:
            break
    fits = [r["n"] for r in tried if r["seconds"] <= 60]
    return {"tried": tried, "largest_n_within_60_s": max(fits) if fits else None}


def table(report: dict) -> str:
    n, ms = report["n"], report["steps"] * DT * 1e3
    lines = [f"| {n}×{n} MSS, {ms:g} ms, ideal wires | transients | twin s/transient | ngspice s/transient | throughput ratio "
             "| MiB per transient | max abs dx vs reference: twin / ngspice |", "|---|---|---|---|---|---|---|"]
    for r in report["ideal"]:
        kept = "every state" if r["keep"] == "full" else f"currents + states every {KEEP_EVERY} steps"
        lines.append(f"| twin {r['dtype']}, {kept} | {r['batch']} | {r['seconds_per_transient'] * 1e3:.2f} ms | "
                     f"{r['ngspice_s_per_transient']:.1f} s | {r['throughput_ratio']:,.0f}x | {r['mib_per_transient']:.2f} | "
                     f"{r['twin_vs_ref_max_dx']:.1e} / {r['ngspice_vs_ref_max_dx']:.1e} |")
    lines += ["", f"| MSS, {R_WIRE:g} Ω wires | simulated | twin s/transient (4 runs) | ngspice s/transient | ratio | "
              "twin vs ngspice max abs dx |", "|---|---|---|---|---|---|"]
    for r in report["wired"]:
        lines.append(f"| {r['n']}×{r['n']} | {r['steps'] * DT * 1e6:g} µs | {r['seconds_per_transient']:.2f} | "
                     f"{r['ngspice_s_per_transient']:.1f} | "
                     f"{r['throughput_ratio']:.0f}x | {r['twin_vs_ngspice_max_dx']:.1e} |")
    big = report["largest"]
    lines += ["", "Largest wired array simulated for 1 ms in 60 s: "
              + ", ".join(f"{r['n']}×{r['n']} {r['seconds']:.1f} s" for r in big["tried"])
              + f" → {big['largest_n_within_60_s']}×{big['largest_n_within_60_s']}."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=32)
    ap.add_argument("--batches", default="64,256")
    ap.add_argument("--spice-runs", type=int, default=2)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--wired", default="32,64:250", help="N or N:STEPS (a shorter window, on both sides)")
    ap.add_argument("--largest", default="64,96,128,192")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--sections", default="ideal,wired,largest",
                    help="which sections to run; the others keep their stored results")
    ap.add_argument("--device", default="cpu", help="where the twin runs: cpu, cuda, cuda:1, ... (ngspice: the CPU)")
    ap.add_argument("--one", help=argparse.SUPPRESS)
    ap.add_argument("--out", default=str(RESULTS))
    args = ap.parse_args(argv)
    if args.one:
        print(json.dumps(twin_one(*json.loads(args.one))))
        return 0
    DEVICE[0] = args.device
    args.batches = [int(b) for b in args.batches.split(",")]
    args.wired = [tuple(int(u) for u in (item + ":0").split(":")[:2]) for item in args.wired.split(",") if item]
    args.largest = [int(n) for n in args.largest.split(",") if n]
    steps = 1000
    if args.quick:
        steps, args.n, args.batches, args.wired, args.largest = 100, 8, [4, 16], [(8, 0)], [8, 16]
    from spicegrad import __version__
    from spicegrad.spice import ngspice_version

    out = Path(args.out)
    report = json.loads(out.read_text()) if out.exists() else {}
    report.update({"spicegrad": __version__, "ngspice": ngspice_version(), "machine": platform.machine(),
                   "cpus": os.cpu_count(), "n": args.n, "steps": steps, "dt": DT})
    sections = {"ideal": ideal_section, "wired": wired_section, "largest": largest_section}
    for name in args.sections.split(","):
        load = [round(x, 2) for x in os.getloadavg()]
        result = sections[name](args, steps)
        # each section is one run (its ratios measured together); stored as soon as it is done
        report[name] = result
        report.setdefault("conditions", {})[name] = {
            "load_average_at_start": load, "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
            "workers": args.workers, "device": args.device}
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(report, indent=2) + "\n")
    if all(k in report for k in sections):
        print(table(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
