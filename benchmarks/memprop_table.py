"""The README's MEMprop table from committed metrics files: one protocol for every row.

    .venv/bin/python benchmarks/memprop_table.py [--runs benchmarks/results/memprop_runs]
        [--ceiling benchmarks/results/memprop_ceiling.json]
        [--json benchmarks/results/memprop_table.json] [--md benchmarks/results/memprop_table.md]

Reads ``RUNS/<row>/s<seed>/metrics.json`` as written by ``spicegrad train memprop`` (rows
``seed-neuron`` and ``codesign``) and the reference networks of ``benchmarks/memprop_ceiling.py``;
every number is a test accuracy scored once with the validation-selected epoch's network,
mean ± sample standard deviation over seeds. A co-designed run counts only if every learned
parameter set of its selected network was certified (``validated: true``); one that was not is
listed as failed, not averaged.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from spicegrad._io import atomic_write_json, atomic_write_text

#: seed 002 (MEMprop), Table VI: Fashion-MNIST test accuracy of the 784-100-10 network
PAPER_ACCURACY = 0.8477
ROWS = {
    "seed-neuron": "MEMprop 784-100-10, seed neuron (`memprop` preset)",
    "codesign": "MEMprop 784-100-10, co-designed neurons (thresholds and biases learned per layer, certified)",
}


def _certified(metrics: dict) -> bool | None:
    cert = (metrics.get("neurons") or {}).get("certification")
    if not metrics.get("neurons", {}).get("learned"):
        return None  # the seed neuron: certified before training, like every run
    return bool(cert and "layers" in cert and all(s["validated"] is True for layer in cert["layers"]
                                                  for s in layer["sets"]))


def _stats(values: list[float]) -> dict:
    return {"mean": statistics.fmean(values), "std": statistics.stdev(values) if len(values) > 1 else 0.0,
            "n": len(values)}


def memprop_rows(runs: Path) -> dict:
    rows = {}
    for key, title in ROWS.items():
        seeds = []
        for path in sorted((runs / key).glob("s*/metrics.json")):
            m = json.loads(path.read_text())
            seeds.append({"run": str(path.parent), "seed": m["config"]["seed"], "test_accuracy": m["test_accuracy"],
                          "selected_epoch": m["selected_epoch"], "epochs": m["epochs_done"],
                          "val_accuracy": m["val_accuracy"], "train_wall_s": m["train_wall_s"],
                          "certified": _certified(m), "config": m["config"]})
        counted = [s for s in seeds if s["test_accuracy"] is not None and s["certified"] is not False]
        rows[key] = {"title": title, "runs": seeds, "failed": [s["run"] for s in seeds if s not in counted],
                     "test": _stats([s["test_accuracy"] for s in counted]) if counted else None,
                     "train_wall_s": _stats([s["train_wall_s"] for s in counted]) if counted else None}
    return rows


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", default="benchmarks/results/memprop_runs")
    ap.add_argument("--ceiling", default="benchmarks/results/memprop_ceiling.json")
    ap.add_argument("--json", default="benchmarks/results/memprop_table.json")
    ap.add_argument("--md", default="benchmarks/results/memprop_table.md")
    args = ap.parse_args(argv)
    rows = memprop_rows(Path(args.runs))
    refs = json.loads(Path(args.ceiling).read_text())["reference_networks"]
    lines = ["| network | Fashion-MNIST test accuracy (mean ± std over seeds) | seeds | epochs (selected) | wall time per run (mean; 2 shared cores) |",
             "|---|---|---|---|---|"]
    for row in rows.values():
        if row["test"] is None:
            lines.append(f"| {row['title']} | no certified run | {len(row['runs'])} | | |")
            continue
        t, w = row["test"], row["train_wall_s"]
        selected = ", ".join(str(s["selected_epoch"]) for s in row["runs"])
        epochs = row["runs"][0]["epochs"]
        per_seed = ", ".join(f"{s['test_accuracy'] * 100:.2f}" for s in row["runs"])
        lines.append(f"| {row['title']} | **{t['mean'] * 100:.2f} ± {t['std'] * 100:.2f} %** ({per_seed}) | {t['n']} | "
                     f"{epochs} ({selected}) | {w['mean'] / 60:.0f} min |"
                     + (f" failed certification: {', '.join(row['failed'])}" if row["failed"] else ""))
    for name, rec in refs.items():
        selected = ", ".join(str(r["selected_epoch"]) for r in rec["runs"])
        lines.append(f"| {name} (Adam 1e-3, batch 128) | {rec['test_mean'] * 100:.2f} ± {rec['test_std'] * 100:.2f} % | "
                     f"{len(rec['runs'])} | {len(rec['runs'][0]['val_accuracy'])} ({selected}) | |")
    lines.append(f"| the paper (seed 002, Table VI), 784-100-10 MEMprop | {PAPER_ACCURACY * 100:.2f} % | | | |")
    table = "\n".join(lines) + "\n"
    atomic_write_json(args.json, {"memprop": rows, "references": {k: {"test_mean": v["test_mean"], "test_std": v["test_std"]}
                                                                  for k, v in refs.items()},
                                  "paper": PAPER_ACCURACY,
                                  "protocol": "last 5,000 training images held out; epoch selected on validation "
                                              "accuracy; test set scored once with the selected network"})
    atomic_write_text(args.md, table)
    print(table, end="")
    print(f"wrote {args.json} and {args.md}")
    return rows


if __name__ == "__main__":
    main()
