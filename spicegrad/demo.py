"""The main job on its embedded default: every device in twin and ngspice, plotted side by side.

``spicegrad demo --out DIR`` writes DIR/<model>.png (overlay and difference, with units) and
DIR/summary.json (errors per waveform, ngspice version, parameters), then prints a table.

A device's embedded default is its registry entry's ``demo`` comparison; a cell validated by the
generic cell validator (no ``demo``, no own adapter: VTEAM, Yakopcic, a user's device) shows its
first quick case as the validator runs it (:func:`case_comparison`).
"""

from __future__ import annotations

import time
from pathlib import Path

from . import __version__
from ._io import atomic_write_json
from ._progress import progress
from .devices import registry
from .errors import InputError


def _generic_cell(kind) -> bool:
    return kind.role == "cell" and not kind.declares("adapter") and kind.declares("reference_rhs")


def demo_models() -> tuple[str, ...]:
    """Every registered device with a demo comparison or a generic cell validator, in registration order."""
    return tuple(k.name for k in registry.kinds() if k.demo or _generic_cell(k))


def demo_case(model: str):
    """The first quick, plain (expected to pass, no twin-only overrides) case of ``model``."""
    from .validate.cases import load_cases

    for case in load_cases():
        if case.model == model and case.quick and case.expect == "pass" and not case.twin_params:
            return case
    raise InputError(f"device {model!r} has no demo comparison and no quick case that is expected to pass")


def case_comparison(model: str):
    """Twin vs ngspice on ``model``'s :func:`demo_case`, through the validator's adapter."""
    from .compare import Comparison
    from .validate.adapters import get_adapter

    case, adapter = demo_case(model), get_adapter(model)
    twin = adapter.twin(case)
    spice = adapter.spice(case)
    names = [n for n in adapter.units if n in twin and n in spice]
    return Comparison(
        model=model, title=f"{model}: v(te, be) = {adapter.stimulus(case).describe()} (V); dt = {case.dt:g} s "
                           f"({case.integrator})",
        t=adapter.grid(case), twin={n: twin[n] for n in names}, spice={n: spice[n] for n in names},
        units={n: adapter.units[n] for n in names},
        meta={"case": case.name, "params": adapter.params(case).spice_params(), "dt": case.dt},
    )


def run_demo(out: Path, models: tuple[str, ...] | None = None) -> dict:
    from .compare.plots import plot_comparison
    from .spice import ngspice_version

    models = demo_models() if models is None else models
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for model in progress(models, desc="twin vs ngspice", unit="device"):
        start = time.perf_counter()
        kind = registry.get(model)
        comparison = registry.resolve(kind.demo)() if kind.demo else case_comparison(model)
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
    width = max([len("model"), *(len(row["model"]) for row in summary["runs"])])
    lines = [f"{'model':{width}} {'waveform':10} {'max |twin-ngspice|':>20} {'RMS':>12}  unit"]
    for row in summary["runs"]:
        for name, err in row["errors"].items():
            unit = row["units"][name]
            lines.append(f"{row['model']:{width}} {name:10} {err['max_abs']:20.4g} {err['rms']:12.4g}  {unit}")
    return "\n".join(lines)
