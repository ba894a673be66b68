"""The main job on its embedded default: every device in twin and ngspice, plotted side by side.

``spicegrad demo --out DIR`` writes DIR/<model>.png (overlay and difference, with units) and
DIR/summary.json (errors per waveform, ngspice version, parameters), then prints a table.
"""

from __future__ import annotations

import importlib
import time
from pathlib import Path

from tqdm import tqdm

from . import __version__
from ._io import atomic_write_json
from .plots import plot_comparison
from .spice import ngspice_version

DEMO_MODELS = ("mss", "mif", "pcm")


def run_demo(out: Path, models: tuple[str, ...] = DEMO_MODELS) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for model in tqdm(models, desc="twin vs ngspice", unit="device"):
        bench = importlib.import_module(f"spicegrad.spice.benches.{model}")
        start = time.perf_counter()
        comparison = bench.demo_comparison()
        png = plot_comparison(comparison, out / f"{model}.png")
        rows.append(
            {
                "model": model,
                "title": comparison.title,
                "plot": png.name,
                "seconds": round(time.perf_counter() - start, 2),
                "errors": {name: comparison.error(name) for name in comparison.twin},
                "units": comparison.units,
                "meta": comparison.meta,
            }
        )
    summary = {"spicegrad_version": __version__, "ngspice_version": ngspice_version(), "runs": rows}
    atomic_write_json(out / "summary.json", summary)
    return summary


def format_table(summary: dict) -> str:
    lines = [f"{'model':6} {'waveform':10} {'max |twin-ngspice|':>20} {'RMS':>12}  unit"]
    for row in summary["runs"]:
        for name, err in row["errors"].items():
            unit = row["units"][name]
            lines.append(f"{row['model']:6} {name:10} {err['max_abs']:20.4g} {err['rms']:12.4g}  {unit}")
    return "\n".join(lines)
