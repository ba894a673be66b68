"""Twin vs ngspice for every registered device, at each case's own dt: the README's device table.

    .venv/bin/python benchmarks/device_agreement.py [--out benchmarks/results/device_agreement.json]

Runs the validator on every registered device that has cases (the shipped cases file, or the
one its registry entry names) and keeps, per device, its plain deterministic cases that are
expected to pass (the certification cases at their shipped dt and integrator): for each
waveform and metric a case judges, the twin-vs-ngspice error of the case where it comes closest
to its tolerance, and whether every case of the device, negative controls included, came out as
expected; and the device's crossbar cases (model "crossbar" naming it as stimulus.device). Writes the JSON and prints the Markdown rows.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

from spicegrad import __version__
from spicegrad.devices import registry
from spicegrad.spice import ngspice_version
from spicegrad.validate import load_cases
from spicegrad.validate.adapters import get_adapter
from spicegrad.validate.certificates import certifies
from spicegrad.validate.engine import run_case
from spicegrad.validate.suite import run_validation


def _share(value: float, tolerance: float) -> float:
    """How much of its tolerance an error uses (an exact match, tolerance 0, uses none)."""
    return value / tolerance if tolerance else (0.0 if value == 0 else float("inf"))


def _unit(w: dict) -> str:
    if w["metric"] == "spike_time":
        return " s"
    return "" if w["metric"] in ("nrmse", "spike_count") or w["unit"] in ("", "1") else f" {w['unit']}"


def device_row(model: str) -> dict:
    start = time.perf_counter()
    run = run_validation(model, sweep=False, progress=False)
    adapter = get_adapter(model)
    cases = {c.name: c for c in load_cases() if c.model == model}
    plain = [r for r in run.results if certifies(cases[r["name"]])]
    worst: dict[tuple[str, str], dict] = {}
    for r in plain:
        case = cases[r["name"]]
        for wave, judged in r["tolerance"].items():  # only what the case judges
            for metric, tol in judged.items():
                value = r["metrics"][wave][metric]
                if (wave, metric) not in worst or _share(value, tol) > _share(**{k: worst[(wave, metric)][k] for k in ("value", "tolerance")}):
                    worst[(wave, metric)] = {"value": value, "tolerance": tol, "case": r["name"], "dt": case.dt,
                                             "integrator": case.integrator}
    arrays = [c for c in load_cases() if c.model == "crossbar" and c.expect == "pass"
              and c.stimulus.get("device", "mss") == model]
    crossbar = []
    for case in arrays:
        r = run_case(case)
        crossbar.append({"name": case.name, "rows": case.stimulus["rows"], "cols": case.stimulus["cols"],
                         "r_wire_ohm": case.stimulus.get("r_wire", 0.0), "dt": case.dt, "integrator": case.integrator,
                         "passed": r["passed"],
                         "metrics": {w: {m: r["metrics"][w][m] for m in judged} for w, judged in r["tolerance"].items()},
                         "tolerance": r["tolerance"]})
    return {
        "model": model, "provenance": adapter.provenance or registry.get(model).provenance, "crossbar": crossbar,
        "cases": len(run.results), "all_as_expected": run.passed,
        "certification_cases": [{"name": r["name"], "dt": cases[r["name"]].dt, "integrator": cases[r["name"]].integrator,
                                 "passed": r["passed"]} for r in plain],
        "worst": [{"waveform": w, "metric": m, "unit": adapter.units.get(w, ""), **v} for (w, m), v in worst.items()],
        "seconds": round(time.perf_counter() - start, 1),
    }


def markdown(rows: list[dict]) -> str:
    lines = ["| device | certified twin (dt, integrator) | twin vs ngspice, worst case per waveform (tolerance) | "
             "crossbar, twin vs ngspice | cases as expected |",
             "|---|---|---|---|---|"]
    for row in rows:
        configs = sorted({(c["dt"], c["integrator"]) for c in row["certification_cases"]})
        where = ", ".join(f"{dt:g} s {integ}" for dt, integ in configs)
        err = "; ".join(f"{w['waveform']} {w['metric'].replace('_abs', '').replace('_', ' ')} {w['value']:.2g}"
                        f"{_unit(w)} ({w['tolerance']:g})" for w in row["worst"])
        arrays = "; ".join(
            f"{a['rows']}×{a['cols']}, {a['r_wire_ohm']:g} Ω wires, {a['integrator']}: "
            + ", ".join(f"{w} {m.replace('_abs', '')} {v:.2g}" for w, ms in a["metrics"].items() for m, v in ms.items())
            for a in row["crossbar"]) or "–"
        lines.append(f"| {row['model']} | {where} | {err} | {arrays} | {'all' if row['all_as_expected'] else 'NOT ALL'} "
                     f"({row['cases']}) |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "device_agreement.json"))
    ap.add_argument("--model", action="append", help="only this device (repeatable)")
    args = ap.parse_args()
    with_cases = {c.model for c in load_cases()}
    models = args.model or [k.name for k in registry.kinds() if k.name in with_cases]
    rows = [device_row(m) for m in models]
    report = {"spicegrad": __version__, "ngspice": ngspice_version(), "cpus": os.cpu_count(),
              "machine": platform.machine(), "load_average_1min": round(os.getloadavg()[0], 2), "devices": rows}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(markdown(rows))


if __name__ == "__main__":
    main()
