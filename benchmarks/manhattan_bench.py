"""Manhattan-rule training: wall time per epoch for each backend, and twin vs ngspice agreement.

    .venv/bin/python benchmarks/manhattan_bench.py [--epochs 20] [--task seed4|letters]

Trains one array (runs = 1) for a fixed number of epochs without stopping at convergence
(β = 1 /A: never converges, so every epoch reads and programs) on each backend:

* ``curve``  — G(m) lookup of the MSS curve (the seed's model);
* ``curve×100`` — the same, 100 runs batched (the statistics path), time per epoch for all 100;
* ``twin``   — the MSS crossbar circuit on the twin (read transient + programming transient);
* ``spice``  — the same circuit in ngspice-39 (two ngspice runs per epoch);
* ``pcm-twin`` — one stochastic PCM twin per device.

Then the twin and spice backends on seed4 with seed 4 (converges): epochs and max|Δx|.
Writes benchmarks/results/manhattan_TASK.json and prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def time_backend(task, backend: str, device: str, epochs: int, runs: int = 1) -> dict:
    from spicegrad.manhattan.model import CrossbarPerceptron

    model = CrossbarPerceptron(device, backend=backend, beta=1.0, epochs=epochs + 1, runs=runs,
                               deterministic=backend != "twin" or device == "mss", seed=0)
    start = time.perf_counter()
    model.fit(task.voltages(), task.y)
    wall = time.perf_counter() - start
    per_epoch = model.history_.epoch_s
    return {"backend": backend, "device": device, "runs": runs, "epochs": len(per_epoch), "wall_s": wall,
            "s_per_epoch_median": float(np.median(per_epoch)), "s_per_epoch_mean": float(np.mean(per_epoch))}


def agreement(task, seed: int = 4) -> dict:
    from spicegrad.manhattan.model import CrossbarPerceptron

    spice = CrossbarPerceptron("mss", backend="spice", seed=seed).fit(task.voltages(), task.y)
    twin = CrossbarPerceptron("mss", backend="twin", deterministic=True, seed=seed).fit(task.voltages(), task.y)
    n = min(spice.history_.state.shape[0], twin.history_.state.shape[0])
    dx = np.abs(spice.history_.state[:n] - twin.history_.state[:n])
    return {"seed": seed, "spice_epoch": int(spice.converged_epoch_[0]), "twin_epoch": int(twin.converged_epoch_[0]),
            "max_abs_dx": float(dx.max()), "max_abs_dg_S": float(dx.max() * (1 / 500 - 1 / 1500)),
            "max_abs_dactivation": float(np.abs(spice.history_.activations[: n - 1] - twin.history_.activations[: n - 1]).max())}


def main() -> None:
    from spicegrad.manhattan.tasks import get_task
    from spicegrad.spice import ngspice_version

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--task", default="seed4", choices=["seed4", "letters"])
    args = parser.parse_args()
    task = get_task(args.task)
    rows = [
        time_backend(task, "curve", "mss", args.epochs),
        time_backend(task, "curve", "mss", args.epochs, runs=100),
        time_backend(task, "twin", "mss", args.epochs),
        time_backend(task, "spice", "mss", args.epochs),
        time_backend(task, "twin", "pcm", args.epochs),
    ]
    agree = agreement(get_task("seed4"))
    result = {"task": task.name, "rows": rows, "agreement_seed4": agree, "python": platform.python_version(),
              "ngspice": ngspice_version(), "machine": platform.machine()}
    path = RESULTS_DIR / f"manhattan_{task.name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"| backend | device | runs | epochs | s/epoch (median) | s/epoch (mean) |  ({task.name})")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['backend']} | {r['device']} | {r['runs']} | {r['epochs']} | {r['s_per_epoch_median']:.3g} | {r['s_per_epoch_mean']:.3g} |")
    print(f"twin vs spice (seed4, seed {agree['seed']}): epochs {agree['twin_epoch']} / {agree['spice_epoch']}, "
          f"max|Δx| {agree['max_abs_dx']:.2e} ({agree['max_abs_dg_S']:.2e} S), max|Δf| {agree['max_abs_dactivation']:.2e}")
    print(f"-> {path}")


if __name__ == "__main__":
    main()
