"""The main job on its embedded default: every device in twin and ngspice, plotted side by side.

``spicegrad demo --out DIR`` writes DIR/<model>.png (overlay and difference, with units) and
DIR/summary.json (errors per waveform, ngspice version, parameters), then prints a table.
"""

from __future__ import annotations

import time
from pathlib import Path

from . import __version__
from ._io import atomic_write_json
from ._progress import progress
from .devices import registry


def demo_models() -> tuple[str, ...]:
    """Every registered device with a demo comparison, in registration order."""
    return tuple(k.name for k in registry.kinds() if k.demo)


def run_demo(out: Path, models: tuple[str, ...] | None = None) -> dict:
    from .compare.plots import plot_comparison
    from .spice import ngspice_version

    models = demo_models() if models is None else models
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for model in progress(models, desc="twin vs ngspice", unit="device"):
        start = time.perf_counter()
        comparison = registry.resolve(registry.get(model).demo)()
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
