"""A validation report: the quick MSS cases checked three ways, with an HTML/JSON report.

``sg.run_validation`` runs each quick MSS case (spicegrad/cases/mss.toml) in ngspice (A), in an
independent reference integration of the device equations (B) and in the twin (C), judges
|A - C| against the case's tolerance, sweeps dt for dt advice, stores a certificate for each
passing case and writes ``index.html`` and ``summary.json`` (docs/report-schema.md) into
OUT_DIR/report. The negative control ``mss-wrong-von-control`` must fail, and does.

Usage: python examples/02_validation_report.py [OUT_DIR]   (default: a temporary folder)
Runtime: about 60 s with an empty cache (24 s of CPU), 17 s when the case results are cached
(measured on a 2-core machine shared with other jobs, load average 3-4).
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import spicegrad as sg


def main(argv: list[str]) -> int:
    out = Path(argv[0]) if argv else Path(tempfile.mkdtemp(prefix="spicegrad-example-"))
    out.mkdir(parents=True, exist_ok=True)
    report = out / "report"
    if report.exists():
        print(f"{report} exists already: give another OUT_DIR", file=sys.stderr)
        return 2
    start = time.perf_counter()
    run = sg.run_validation("mss", quick=True, report=report, progress=False)
    seconds = time.perf_counter() - start

    print(f"{len(run.results)} quick MSS cases in {seconds:.1f} s")
    for r in run.results:
        verdict = "as expected" if r["as_expected"] else "NOT AS EXPECTED"
        print(f"  {r['name']:22s} {r['status']:7s} (expected: {r['expect']}) -> {verdict}")
        for wave, bounds in r["tolerance"].items():
            unit = r["units"].get(wave, "")
            for metric, bound in bounds.items():
                value = r["metrics"][wave][metric]
                shown = f" {unit}" if metric == "max_abs" and unit not in ("", "1") else ""
                print(f"      {wave} {metric} = {value:.2e}{shown} (tolerance {bound:g}{shown})")
    for sweep in run.sweeps:
        for integrator, advice in sweep["advice"].items():
            dt = advice["largest_dt_within_tolerance"]
            shown = f"{dt * 1e6:g} µs" if dt is not None else "none of the swept steps"
            print(f"  dt advice, {sweep['case']}, {integrator}: largest dt within tolerance {shown}")
    print(f"every case as expected: {run.passed}")
    print(f"report: {report / 'index.html'}")
    return 0 if run.passed else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
