"""SPICE in the loop: how a batch goes through ngspice, and what an epoch costs (issue 20).

    .venv/bin/python benchmarks/spiceloop_bench.py [--train 6000] [--repeat 3] [--quick]

One run measures, on the same machine and load (load averages recorded):

1. **One batch, four ways**: 64 input vectors (Fashion-MNIST 8x8 images at 0.2 V per unit
   pixel) into the experiment's layer 1 (64x16 differential, 1T1R cells, TIAs, 6-bit ADCs,
   weights uniform in ±0.5): a ``.dc`` sweep of the input slot (subprocess ngspice, and the
   same netlist through libngspice in-process), PWL time slots of a transient, and one ``.op``
   run per vector (8 vectors, scaled to 64). Best of ``--repeat``; every way's outputs are
   compared with the sweep's.
2. **One training epoch with SPICE in the loop** (``--train`` images, batch 64, both layers in
   ngspice, then the validation pass of 1000 images): in this process, and fanned out over a
   local Dask cluster of 1 and of 2 worker processes; wall time, and the share of it spent
   rendering netlists and in ngspice (waiting for the workers included).

Writes benchmarks/results/spiceloop.json and prints the README's table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch

from spicegrad.spice import run
from spicegrad.spiceloop import SpiceCrossbar
from spicegrad.spiceloop.circuit import ReadCircuit
from spicegrad.spiceloop.config import ExperimentConfig
from spicegrad.spiceloop.experiment import Checkpoint, CrossbarMLP, load_splits, train_phase

RESULTS = Path(__file__).resolve().parent / "results" / "spiceloop.json"


def _best(fn, repeat: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def batch_ways(cfg: ExperimentConfig, v: np.ndarray, repeat: int) -> dict:
    rng = np.random.default_rng(0)
    w = torch.from_numpy(rng.uniform(-0.5, 0.5, (v.shape[1], cfg.hidden)))
    layer = SpiceCrossbar(CrossbarMLP(cfg, v.shape[1], 10).l1.spec, cfg.periph, cfg.g_min, cfg.g_max, weight=w)
    g = layer.twin.conductance().detach().numpy()
    sweep = layer.circuit
    slots = ReadCircuit(sweep.spec, sweep.periphery, mode="slots")
    text = sweep.netlist(g, v)
    t_render, _ = _best(lambda: sweep.netlist(g, v), repeat)
    t_sweep, y_sweep = _best(lambda: sweep.read(run(text), len(v)), repeat)
    t_shared, y_shared = _best(lambda: sweep.read(run(text, backend="shared"), len(v)), repeat)
    slot_text = slots.netlist(g, v)
    t_slots, y_slots = _best(lambda: slots.read(run(slot_text), len(v)), repeat)
    few = 8
    t_op, y_op = _best(lambda: np.concatenate([sweep.read(run(sweep.netlist(g, v[k:k + 1])), 1) for k in range(few)]), repeat)
    diff = {name: float(np.abs(y - y_sweep[: len(y)]).max()) for name, y in
            (("shared", y_shared), ("slots", y_slots), ("one_run_per_vector", y_op))}
    return {"vectors": len(v), "array": f"{sweep.spec.rows}x{sweep.spec.cols} differential",
            "periphery": sweep.periphery.describe(), "render_s": t_render,
            "sweep_subprocess_s": t_sweep, "sweep_shared_library_s": t_shared, "slots_transient_s": t_slots,
            "one_run_per_vector_s": t_op * len(v) / few, "max_output_difference_to_sweep_V": diff}


def epoch(cfg: ExperimentConfig, splits, workers: int | None) -> dict:
    from spicegrad.validate.fanout import dask_client

    train, val, _, classes = splits
    client = cluster = None
    if workers is not None:
        client, cluster = dask_client(workers, None)
    try:
        net = CrossbarMLP(cfg, train.x.shape[1], classes, client)
        path = Path(os.environ.get("TMPDIR", "/tmp")) / f"spiceloop-bench-{os.getpid()}.pt"
        ckpt = Checkpoint(path, cfg)
        t0 = time.perf_counter()
        phase = train_phase(net, "spice", train, val, ckpt, show_progress=False, log=lambda _: None)
        wall = time.perf_counter() - t0
        path.unlink(missing_ok=True)
    finally:
        if client is not None:
            client.close()
            cluster.close()
    t = net.timing()
    return {"workers": workers or 0, "wall_s": wall, "render_s": t["render_s"], "ngspice_s": t["ngspice_s"],
            "ngspice_share": t["ngspice_s"] / wall, "val_accuracy": phase["history"][-1]["val_accuracy"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--train", type=int, default=6000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="a smoke test: 640 training images, one repeat")
    args = ap.parse_args()
    n_train, repeat = (640, 1) if args.quick else (args.train, args.repeat)
    cfg = ExperimentConfig(train=n_train, validation=1000, test=10, epochs=1)
    splits = load_splits(cfg)
    load0 = [round(x, 2) for x in os.getloadavg()]
    batch = batch_ways(cfg, (splits[0].x[:64] * cfg.v_read).numpy(), repeat)
    epochs = [epoch(cfg, splits, w) for w in (None, 1, 2)]
    result = {"machine": platform.machine(), "cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(),
              "load_average_at_start": load0, "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
              "batch_of_64": batch, "epoch": {"train": n_train, "validation": 1000, "batch": cfg.batch, "runs": epochs}}
    if not args.quick:
        RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"| 64 vectors into {batch['array']} | s |\n|---|---|")
    for key, label in (("sweep_subprocess_s", ".dc sweep, ngspice subprocess (chosen)"),
                       ("sweep_shared_library_s", ".dc sweep, libngspice in-process"),
                       ("slots_transient_s", "PWL time slots, transient"),
                       ("one_run_per_vector_s", "one ngspice run per vector")):
        print(f"| {label} | {batch[key]:.3f} |")
    print(f"\n| epoch of {n_train} images + 1000 validation | wall s | in ngspice |\n|---|---|---|")
    for r in epochs:
        name = "this process" if r["workers"] == 0 else f"Dask, {r['workers']} worker(s)"
        print(f"| {name} | {r['wall_s']:.1f} | {100 * r['ngspice_share']:.0f} % |")
    print(f"load average {load0} -> {result['load_average_at_end']}")


if __name__ == "__main__":
    main()
