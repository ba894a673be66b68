"""The validator's one call: select cases, cross-check them, store certificates, write a report."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .adapters import get_adapter
from .cases import CaseError, load_cases
from .certificates import store_certificate
from .fanout import run_suite
from .report import check_report_folder, write_report


@dataclass
class ValidationRun:
    """What :func:`run_validation` did: per-case results, dt sweeps, the report folder (or None)."""

    results: list[dict[str, Any]]
    sweeps: list[dict[str, Any]] = field(default_factory=list)
    report: Path | None = None

    @property
    def passed(self) -> bool:
        """Every case came out as expected (negative controls failing counts as expected)."""
        return all(r["as_expected"] for r in self.results)


def run_validation(model: str = "all", *, quick: bool = False, cases: list[str | Path] | None = None,
                   report: str | Path | None = None, sweep: bool = True, workers: int | None = None,
                   scheduler: str | None = None, use_cache: bool = True, progress: bool = True) -> ValidationRun:
    """Cross-check the twins of ``model`` (a registered device, a circuit model or ``"all"``)
    against ngspice and the independent reference; store a certificate for every passing case,
    write ``report/index.html`` and ``report/summary.json`` when ``report`` is given.

    ``cases``: case files or folders (default: the shipped cases and those of registered
    devices); ``quick``: only the cases marked quick; ``sweep``: one dt sweep per model (dt advice).
    """
    if report is not None:
        check_report_folder(report)  # refuse before the run, not after it
    selected = load_cases([Path(p) for p in cases] if cases else None)
    if model != "all":
        selected = [c for c in selected if c.model == model]
    if quick:
        selected = [c for c in selected if c.quick]
    if not selected:
        raise CaseError(f"no case selected (model {model!r}, quick={quick})")
    sweeps, seen = [], set()
    if sweep:
        for c in selected:
            if (c.model not in seen and c.expect == "pass" and c.mode == "deterministic"
                    and not c.twin_params and get_adapter(c.model).sweep_dts):
                seen.add(c.model)
                sweeps.append(c)
    results, swept = run_suite(selected, sweeps, workers=workers, scheduler=scheduler, use_cache=use_cache,
                               progress=progress, quick=quick)
    for r, case in zip(results, selected, strict=True):
        store_certificate(r, case)
    if report is not None:
        write_report(results, swept, report)
    return ValidationRun(results, swept, Path(report) if report is not None else None)
