"""The validator's one call: select cases, cross-check them, store certificates, write a report.

``quick`` (``spicegrad validate --quick``) is the smoke proof, the full run the thorough one: the
quick run takes only the cases marked ``quick = true`` (each stands for one claim; the case files
say which), runs no dt sweep (dt advice comes from the full run, or from :func:`~.engine.dt_sweep`)
and, where neither ``workers`` nor ``scheduler`` is given, fans the cases whose results are not
on disk yet out on a local Dask cluster when there is enough work to share
(:func:`~.fanout.auto_workers`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .adapters import get_adapter
from .cases import Case, CaseError, load_cases
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


def plan(model: str = "all", *, quick: bool = False, cases: list[str | Path] | None = None,
         sweep: bool = True) -> tuple[list[Case], list[Case]]:
    """(cases, sweep cases) of a run: the cases of ``model`` (the quick ones with ``quick``) and,
    unless ``quick`` or not ``sweep``, the first plain deterministic case of each model whose
    adapter sweeps dt."""
    selected = load_cases([Path(p) for p in cases] if cases else None)
    if model != "all":
        selected = [c for c in selected if c.model == model]
    if quick:
        selected = [c for c in selected if c.quick]
    if not selected:
        raise CaseError(f"no case selected (model {model!r}, quick={quick})")
    sweeps, seen = [], set()
    if sweep and not quick:
        for c in selected:
            if (c.model not in seen and c.expect == "pass" and c.mode == "deterministic"
                    and not c.twin_params and get_adapter(c.model).sweep_dts):
                seen.add(c.model)
                sweeps.append(c)
    return selected, sweeps


def run_validation(model: str = "all", *, quick: bool = False, cases: list[str | Path] | None = None,
                   report: str | Path | None = None, sweep: bool = True, workers: int | None = None,
                   scheduler: str | None = None, use_cache: bool = True, progress: bool = True) -> ValidationRun:
    """Cross-check the twins of ``model`` (a registered device, a circuit model or ``"all"``)
    against ngspice and the independent reference; store a certificate for every passing case,
    write ``report/index.html`` and ``report/summary.json`` when ``report`` is given.

    ``cases``: case files or folders (default: the shipped cases and those of registered
    devices); ``quick``: only the cases marked quick, no dt sweep, fanned out by default (see
    the module docstring); ``sweep``: one dt sweep per model (dt advice) in a full run.
    """
    if report is not None:
        check_report_folder(report)  # refuse before the run, not after it
    selected, sweeps = plan(model, quick=quick, cases=cases, sweep=sweep)
    if quick and workers is None and scheduler is None:
        workers = "auto"
    results, swept = run_suite(selected, sweeps, workers=workers, scheduler=scheduler, use_cache=use_cache,
                               progress=progress, quick=quick, plot=report is not None)
    for r, case in zip(results, selected, strict=True):
        store_certificate(r, case)
    if report is not None:
        write_report(results, swept, report)
    return ValidationRun(results, swept, Path(report) if report is not None else None)
