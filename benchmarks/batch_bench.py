"""Batched crossbar transients: does the twin's throughput scale with the batch? (issue 18 baseline)

    .venv/bin/python benchmarks/batch_bench.py [--n 32] [--batches 1,16,64] [--steps 1000]

B independent N x N differential MSS transients (1 kHz sines of 0.6..1.0 V with a random phase per
row and run, so every run has its own input; ideal wires; dt = 1 µs; ``--steps`` steps) in one
:func:`spicegrad.simulate_crossbar` call with v_rows [T, B, N]; each batch size in a fresh process
(one torch thread, as ngspice uses one core; after one tiny warm-up call) so that its peak
resident memory is its own. Reports
wall time per transient and the peak RSS above the process's baseline (interpreter, torch and
spicegrad imported). The twin stores the whole state trajectory [T+1, B, N, 2N] in float64 today,
which is what this baseline measures; ngspice per transient is in benchmarks/results/crossbar.json
(crossbar_bench.py: its sines share one phase; the cost per step is the same).

Writes benchmarks/results/batch.json and prints a markdown table.
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
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results" / "batch.json"


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: kiB


def run_one(n: int, batch: int, steps: int) -> dict:
    """One batch in this process: time and peak memory above the import baseline."""
    import numpy as np
    import torch

    import spicegrad as sg
    from spicegrad.devices.mss import mss_conductance_range

    torch.set_num_threads(1)
    baseline = _peak_rss_mib()
    dt = 1e-6
    rng = np.random.default_rng(0)
    t = (np.arange(steps) + 0.5) * dt  # step midpoints, as sg.row_samples
    amplitude = np.linspace(0.6, 1.0, n)
    phase = rng.uniform(0, 2 * np.pi, size=(batch, n))
    v = torch.tensor(amplitude * np.sin(2 * np.pi * 1e3 * t[:, None, None] + phase[None]), dtype=torch.float64)
    g_min, g_max = mss_conductance_range(sg.MSSParams())
    g0 = torch.tensor(rng.uniform(g_min, g_max, size=(n, 2 * n)), dtype=torch.float64)
    spec = sg.CrossbarSpec(n, n)
    sg.simulate_crossbar(spec, "mss", g0, v[:2, :1], dt)  # warm-up: first-call costs are not the batch's
    start = time.perf_counter()
    out = sg.simulate_crossbar(spec, "mss", g0, v, dt)
    seconds = time.perf_counter() - start
    assert out["state"].shape == (steps + 1, batch, n, 2 * n) and bool(torch.isfinite(out["i"]).all())
    return {"n": n, "batch": batch, "steps": steps, "seconds": seconds, "seconds_per_transient": seconds / batch,
            "peak_rss_mib_above_baseline": _peak_rss_mib() - baseline, "baseline_rss_mib": baseline,
            "stored_state_mib": out["state"].numel() * out["state"].element_size() / 2**20}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=32)
    ap.add_argument("--batches", default="1,16,64")
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--one", nargs=3, type=int, metavar=("N", "B", "STEPS"), help=argparse.SUPPRESS)
    ap.add_argument("--out", default=str(RESULTS))
    args = ap.parse_args(argv)
    if args.one:
        print(json.dumps(run_one(*args.one)))
        return 0
    rows = []
    for batch in (int(b) for b in args.batches.split(",")):
        proc = subprocess.run([sys.executable, __file__, "--one", str(args.n), str(batch), str(args.steps)],
                              capture_output=True, text=True, check=True)
        rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        print(f"B = {batch}: {rows[-1]['seconds']:.2f} s", file=sys.stderr)
    report = {"machine": platform.machine(), "cpus": os.cpu_count(), "load_average_1min": round(os.getloadavg()[0], 2),
              "torch_threads": 1, "rows": rows}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print("| N×N | batch | s per transient | peak RSS above baseline (MiB) | stored trajectory (MiB) |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['n']}×{r['n']} | {r['batch']} | {r['seconds_per_transient']:.3f} | "
              f"{r['peak_rss_mib_above_baseline']:.0f} | {r['stored_state_mib']:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
