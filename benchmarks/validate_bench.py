"""Validator benchmark: the suite serial vs a 2-worker LocalCluster, cold vs warm cache.

    .venv/bin/python benchmarks/validate_bench.py [--quick]

Full suite (default): every case and the dt sweeps, serial cold, serial warm, 2 workers cold.
``--quick``: the `spicegrad validate --quick --report DIR` path (run_validation: quick cases, no
sweep, fan-out by default, plots drawn by the workers), cold and warm, plus the same cases
serial and cold for comparison. Cases and sweeps come from :func:`spicegrad.validate.suite.plan`,
as in the command. All runs happen in one process, one after the other, so the ratios compare
like with like on this machine; absolute seconds on a shared 2-core machine are noise (the
load average at the start and end of the run is recorded). Writes benchmarks/results/validate.json
(the full suite's figures at the top level, the quick path's under "quick"; a run replaces only its
own) and prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

from spicegrad import __version__
from spicegrad.spice import ngspice_version
from spicegrad.validate import run_suite
from spicegrad.validate.suite import plan, run_validation


def _cold(cache: str) -> None:
    os.environ["SPICEGRAD_CACHE"] = cache


def timed_suite(cases, sweeps, cache: str, quick: bool, **kwargs) -> float:
    _cold(cache)
    start = time.perf_counter()
    results, _ = run_suite(cases, sweeps, progress=False, quick=quick, **kwargs)
    elapsed = time.perf_counter() - start
    assert all(r["as_expected"] for r in results), [r["name"] for r in results if not r["as_expected"]]
    print(f"run_suite {kwargs or 'serial'}: {elapsed:.1f} s (load {os.getloadavg()[0]:.2f})", flush=True)
    return elapsed


def timed_quick(cache: str, report: Path) -> float:
    _cold(cache)
    start = time.perf_counter()
    run = run_validation(quick=True, report=report, progress=False)
    elapsed = time.perf_counter() - start
    assert run.passed, [r["name"] for r in run.results if not r["as_expected"]]
    print(f"validate --quick --report: {elapsed:.1f} s (load {os.getloadavg()[0]:.2f})", flush=True)
    return elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="the --quick path instead of the full suite")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "validate.json"))
    args = ap.parse_args()
    out = Path(args.out)
    cases, sweeps = plan(quick=args.quick)
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b:
        if args.quick:
            rows = {
                "quick_cold_s": timed_quick(a, Path(a) / "report"),
                "quick_warm_s": timed_quick(a, Path(a) / "report"),
                "serial_cold_s": timed_suite(cases, sweeps, b, True),
            }
        else:
            rows = {
                "serial_cold_s": timed_suite(cases, sweeps, a, False),
                "serial_warm_s": timed_suite(cases, sweeps, a, False),
                "workers2_cold_s": timed_suite(cases, sweeps, b, False, workers=2),
            }
    report = {"suite": "quick" if args.quick else "full", "cases": len(cases), "sweeps": len(sweeps),
              "cpus": os.cpu_count(), "machine": platform.machine(), "spicegrad": __version__,
              "ngspice": ngspice_version(), "load_average_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)],
              **{k: round(v, 2) for k, v in rows.items()}}
    old = json.loads(out.read_text()) if out.is_file() else {}
    if args.quick:
        merged = {**{k: v for k, v in old.items() if k != "quick"}, "quick": report}
    else:
        merged = {**report, **({"quick": old["quick"]} if "quick" in old else {})}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(merged, indent=2) + "\n")
    if args.quick:
        print("| suite | cases | validate --quick --report, cold | same, warm | the cases serial, cold, no report |")
        print("|---|---|---|---|---|")
        print(f"| quick | {len(cases)} | {rows['quick_cold_s']:.1f} s | {rows['quick_warm_s']:.1f} s | {rows['serial_cold_s']:.1f} s |")
    else:
        print("| suite | cases + sweeps | serial, cold cache | serial, warm cache | 2 workers, cold | speed-up 2 workers |")
        print("|---|---|---|---|---|---|")
        print(f"| full | {len(cases)} + {len(sweeps)} | {rows['serial_cold_s']:.1f} s | {rows['serial_warm_s']:.1f} s | "
              f"{rows['workers2_cold_s']:.1f} s | {rows['serial_cold_s'] / rows['workers2_cold_s']:.2f}x |")


if __name__ == "__main__":
    main()
