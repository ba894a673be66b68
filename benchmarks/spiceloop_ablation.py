"""Where the SPICE-in-the-loop experiment's gap comes from: each periphery part removed in turn.

    .venv/bin/python benchmarks/spiceloop_ablation.py RUN_DIR [RUN_DIR ...]

For each run folder of ``spicegrad train spice-loop`` (its checkpoint.pt), the twin-trained and
the SPICE-trained networks (each at its selected epoch) are read in ngspice on the validation
split with the run's periphery and with one part changed at a time: no ADC, an 8-bit ADC, no
access transistors, neither ADC nor access transistors. The test split is not touched. Writes
benchmarks/results/spiceloop_ablation.json and prints a table (validation accuracy, %).
"""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

from spicegrad._io import load_tensors
from spicegrad.crossbar.periphery import ADC
from spicegrad.spiceloop.config import ExperimentConfig
from spicegrad.spiceloop.experiment import CrossbarMLP, evaluate, load_splits, load_weights

RESULTS = Path(__file__).resolve().parent / "results" / "spiceloop_ablation.json"
VARIANTS = {
    "as run": lambda p: p,
    "no ADC": lambda p: replace(p, adc=None),
    "8-bit ADC": lambda p: replace(p, adc=ADC(8, p.adc.full_scale)),
    "no access transistors": lambda p: replace(p, access=None),
    "no ADC, no access transistors": lambda p: replace(p, access=None, adc=None),
}


def ablate(run: Path) -> dict:
    state = load_tensors(run / "checkpoint.pt")
    cfg = ExperimentConfig.from_dict(state["config"])
    _, val, _, classes = load_splits(cfg)
    out = {}
    for name, change in VARIANTS.items():
        variant = ExperimentConfig.from_dict({**state["config"], "periphery": change(cfg.periph).to_dict()})
        net = CrossbarMLP(variant, val.x.shape[1], classes)
        for phase in ("twin", "spice"):
            load_weights(net, state["phases"][phase]["best"]["weights"])
            out[f"{phase}-trained, {name}"] = evaluate(net, val, "spice")[0]
        print(run.name, name, {k: round(100 * v, 2) for k, v in out.items() if name in k}, flush=True)
    return {"periphery": cfg.periph.describe(), "validation": len(val.y), "accuracy": out}


def main(argv: list[str]) -> None:
    runs = {Path(a).name: ablate(Path(a)) for a in argv}
    RESULTS.write_text(json.dumps(runs, indent=2) + "\n")
    keys = next(iter(runs.values()))["accuracy"]
    print("| network, periphery | validation accuracy, mean over runs (%) |\n|---|---|")
    for k in keys:
        print(f"| {k} | {100 * np.mean([r['accuracy'][k] for r in runs.values()]):.2f} |")


if __name__ == "__main__":
    main(sys.argv[1:])
