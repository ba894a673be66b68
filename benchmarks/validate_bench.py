"""Validator benchmark: the full suite serial vs a 2-worker LocalCluster, cold vs warm cache.

    .venv/bin/python benchmarks/validate_bench.py [--quick]

All runs happen in one process, one after the other, so the ratios compare like with like on
this machine; absolute seconds on a shared 2-core machine are noise. Writes
benchmarks/results/validate.json and prints a markdown table.
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
from spicegrad.validate import load_cases, run_suite
from spicegrad.validate.adapters import get_adapter


def timed(cases, sweeps, cache: str, quick: bool, **kwargs) -> float:
    os.environ["SPICEGRAD_CACHE"] = cache
    start = time.perf_counter()
    results, _ = run_suite(cases, sweeps, progress=False, quick=quick, **kwargs)
    elapsed = time.perf_counter() - start
    assert all(r["as_expected"] for r in results), [r["name"] for r in results if not r["as_expected"]]
    return elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="the --quick suite instead of the full one")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "validate.json"))
    args = ap.parse_args()
    cases = [c for c in load_cases() if c.quick or not args.quick]
    seen, sweeps = set(), []
    for c in cases:
        if c.model not in seen and c.expect == "pass" and c.mode == "deterministic" and get_adapter(c.model).sweep_dts:
            seen.add(c.model)
            sweeps.append(c)
    with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b:
        rows = {
            "serial_cold_s": timed(cases, sweeps, a, args.quick),
            "serial_warm_s": timed(cases, sweeps, a, args.quick),
            "workers2_cold_s": timed(cases, sweeps, b, args.quick, workers=2),
        }
    rows["speedup_workers2"] = rows["serial_cold_s"] / rows["workers2_cold_s"]
    rows["speedup_warm_cache"] = rows["serial_cold_s"] / rows["serial_warm_s"]
    report = {"suite": "quick" if args.quick else "full", "cases": len(cases), "sweeps": len(sweeps),
              "cpus": os.cpu_count(), "machine": platform.machine(), "spicegrad": __version__,
              "ngspice": ngspice_version(), **{k: round(v, 2) for k, v in rows.items()}}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print("| suite | cases + sweeps | serial, cold cache | serial, warm cache | 2 workers, cold | speed-up 2 workers | speed-up warm cache |")
    print("|---|---|---|---|---|---|---|")
    print(f"| {report['suite']} | {len(cases)} + {len(sweeps)} | {rows['serial_cold_s']:.1f} s | {rows['serial_warm_s']:.1f} s | "
          f"{rows['workers2_cold_s']:.1f} s | {rows['speedup_workers2']:.2f}x | {rows['speedup_warm_cache']:.2f}x |")


if __name__ == "__main__":
    main()
