"""Run one validation case: ngspice (A), reference (B), twin (C); metrics; verdict.

|A−B| is the *model error* (do the equations match the circuit?), |B−C| the *integration error*
(is this dt good enough?), and |A−C| is judged against the case's tolerance. A twin trace that
is non-finite or leaves the reference's range by more than a factor of 10 is *diverged*: its
errors are infinite, never a small number. Stochastic cases compare ensemble mean and std
(twin vs reference) within 3 standard errors at ten checkpoints spread over the grid points
that the adapter marks resolvable (for the MSS: at least ten switches in the minority state).
"""

from __future__ import annotations

import dataclasses
import time
import warnings
from typing import Any

import numpy as np
import torch

from .. import __version__
from ..errors import SimulatorError
from .adapters import get_adapter
from .cases import Case
from .metrics import ensemble_errors, spike_errors, waveform_errors

CHECKPOINTS = 10


def diverged(reference: np.ndarray, twin: np.ndarray) -> bool:
    twin = np.asarray(twin, dtype=float)
    if not np.all(np.isfinite(twin)):
        return True
    scale = float(np.max(np.abs(reference))) or 1.0
    return float(np.max(np.abs(twin))) > 10.0 * scale


def _errors(case: Case, t: np.ndarray, a: dict, b: dict) -> dict[str, dict[str, float]]:
    out = {}
    for name in a:
        e = waveform_errors(a[name], b[name])
        if name in case.spikes:
            e.update(spike_errors(t, a[name], b[name], case.spikes[name]))
        out[name] = e
    return out


def judge(case: Case, errors: dict[str, dict[str, float]]) -> list[str]:
    """The bounds that ``errors`` break, as 'waveform.metric = value > bound' strings."""
    broken = []
    for wave, bounds in case.tolerance.items():
        for metric, bound in bounds.items():
            value = errors.get(wave, {}).get(metric, float("inf"))
            if not value <= bound:
                broken.append(f"{wave}.{metric} = {value:.4g} > {bound:g}")
    return broken


def params_record(case: Case) -> dict[str, Any]:
    return dataclasses.asdict(get_adapter(case.model).params(case))


def run_case(case: Case, use_cache: bool = True, plot: bool = False) -> dict[str, Any]:
    """Everything the report needs about one case; ``traces`` holds the arrays for plots.

    With ``use_cache`` a result computed before by the same code and tools is reused
    (:mod:`.memo`), and ngspice results are reused by netlist (:mod:`spicegrad.spice.cache`).
    ``plot``: draw the report's plot of the case here (``plot_png``, PNG bytes; kept with the
    memoised result), so a fanned-out run draws in its workers.
    """
    from . import memo

    cached = cached_case(case) if use_cache else None
    if cached is not None and (not plot or "plot_png" in cached or cached["status"] == "error"):
        return cached
    result = cached if cached is not None else _run_case(case, use_cache)
    if plot and result["status"] != "error":
        from .report import case_png

        result["plot_png"] = case_png(result)
    if use_cache and result["status"] != "error":  # an ngspice failure is not a result to keep
        memo.store(case, {k: v for k, v in result.items() if k != "from_cache"})
    return result


def cached_case(case: Case) -> dict[str, Any] | None:
    """The memoised result of ``case`` (marked ``from_cache``), or None where there is none."""
    from . import memo

    cached = memo.load(case)
    if cached is not None:
        cached["from_cache"] = True
    return cached


def cached_sweep(case: Case, dts: tuple[float, ...] | None = None, integrators: tuple[str, ...] | None = None,
                 quick: bool = False) -> dict | None:
    """The memoised result of :func:`dt_sweep` with these arguments, or None."""
    from . import memo

    return memo.load(case, sweep=_sweep_key(dts, integrators, quick))


def _sweep_key(dts, integrators, quick: bool) -> dict:
    """The arguments that shape a sweep's result, as its memo key takes them."""
    return {"dts": dts, "integrators": integrators, "quick": quick}


def _run_case(case: Case, use_cache: bool) -> dict[str, Any]:
    start = time.perf_counter()
    adapter = get_adapter(case.model)
    t = adapter.grid(case)
    try:
        a = adapter.spice(case, use_cache=use_cache)
    except SimulatorError as exc:  # ngspice failed or was killed: this case errored, the others go on
        result = {"metrics": {}, "model_error": {}, "integration_error": {}, "broken": [f"ngspice: {exc}"],
                  "passed": False, "status": "error", "causes": ["ngspice"], "warnings": [],
                  "traces": {"t": t, "A": {}, "B": {}, "C": {}}}
    else:
        # The twin's own warnings (e.g. forward Euler past its stability bound) belong in the
        # report, not on the terminal.
        # The twin runs without autograd: the validator reads its values, never its gradients
        # (same arithmetic, without the graph's bookkeeping at every step).
        with warnings.catch_warnings(record=True) as caught, np.errstate(all="ignore"), torch.no_grad():
            warnings.simplefilter("always")
            if case.mode == "stochastic":
                result = _stochastic(case, adapter, t, a)
            else:
                result = _deterministic(case, adapter, t, a)
        result["warnings"] = sorted({str(w.message) for w in caught})
    result.update(
        name=case.name,
        model=case.model,
        params=params_record(case),
        stimulus=case.stimulus,
        dt=case.dt,
        t_stop=case.t_stop,
        integrator=case.integrator,
        mode=case.mode,
        spice={"method": case.method, "max_step": case.max_step},
        tolerance=case.tolerance,
        units=adapter.units,
        provenance=adapter.provenance,
        expect=case.expect,
        twin_params=case.twin_params,
        spicegrad_version=__version__,
        seconds=round(time.perf_counter() - start, 3),
    )
    result["as_expected"] = result["status"] != "error" and {
        "pass": result["status"] == "passed",
        "diverged": result["status"] == "diverged",
        "fail": not result["passed"],
    }[case.expect]
    return result


def _deterministic(case: Case, adapter, t: np.ndarray, a: dict) -> dict[str, Any]:
    b = adapter.reference(case)(t)
    c = adapter.twin(case)
    total = _errors(case, t, a, c)
    model = _errors(case, t, a, b)
    integration = _errors(case, t, b, c)
    broken = judge(case, total)
    blown = [name for name in c if diverged(b[name], c[name])]
    causes = []
    if blown:
        causes.append("diverged")
    if judge(case, model):
        causes.append("model")
    if judge(case, integration) and not blown:
        causes.append("integration")
    return {
        "metrics": total,
        "model_error": model,
        "integration_error": integration,
        "broken": broken,
        "passed": not broken and not blown,
        "status": "diverged" if blown else ("passed" if not broken else "failed"),
        "causes": causes if (broken or blown) else [],
        "traces": {"t": t, "A": a, "B": b, "C": c},
    }


def _stochastic(case: Case, adapter, t: np.ndarray, a: dict) -> dict[str, Any]:
    ref, twin, valid = adapter.ensembles(case)
    candidates = np.flatnonzero(valid)
    if len(candidates) < CHECKPOINTS:
        raise ValueError(f"{case.name}: only {len(candidates)} grid points where the ensemble is resolvable")
    picks = candidates[np.linspace(0, len(candidates) - 1, CHECKPOINTS).round().astype(int)]
    # ngspice (A) runs the mean field: plotted beside the ensembles, not scored against them.
    total, model = {}, {}
    for name, stats_b in ref.items():
        at = lambda s: {**{k: s[k][picks] for k in ("mean", "std", "kurtosis")}, "n": s["n"]}  # noqa: E731
        total[name] = ensemble_errors(at(stats_b), at(twin[name]))
    broken = judge(case, total)
    blown = [name for name, s in twin.items() if diverged(ref[name]["mean"], s["mean"])]
    return {
        "metrics": total,
        "model_error": model,
        "integration_error": {},
        "broken": broken,
        "passed": not broken and not blown,
        "status": "diverged" if blown else ("passed" if not broken else "failed"),
        "causes": (["diverged"] if blown else []) + (["ensemble"] if broken else []),
        "traces": {
            "t": t,
            "A": a,
            "B": {k: v["mean"] for k, v in ref.items()},
            "C": {k: v["mean"] for k, v in twin.items()},
            "B_std": {k: v["std"] for k, v in ref.items()},
            "C_std": {k: v["std"] for k, v in twin.items()},
        },
        "checkpoints": t[picks].tolist(),
    }


def dt_sweep(
    case: Case,
    dts: tuple[float, ...] | None = None,
    integrators: tuple[str, ...] | None = None,
    quick: bool = False,
    use_cache: bool = True,
) -> dict:
    """:func:`sweep_dt`, memoised like :func:`run_case` (see :mod:`.memo`)."""
    from . import memo

    if use_cache and (cached := cached_sweep(case, dts, integrators, quick)) is not None:
        return cached
    result = sweep_dt(case, dts, integrators, quick)
    if use_cache:
        memo.store(case, result, sweep=_sweep_key(dts, integrators, quick))
    return result


def sweep_dt(
    case: Case,
    dts: tuple[float, ...] | None = None,
    integrators: tuple[str, ...] | None = None,
    quick: bool = False,
) -> dict:
    """Twin vs reference (integration error) for each dt and integrator; dt advice.

    ``dts`` defaults to the adapter's ``sweep_dts_for(case)``; ``quick`` keeps those >= the case's dt
    (the small steps are where the sweep spends its time).
    ``advice[integrator]`` gives the largest swept dt whose integration error meets the case's
    tolerance and the smallest swept dt at which the twin diverged (None where none did).
    """
    adapter = get_adapter(case.model)
    integrators = integrators or adapter.integrators
    dts = adapter.sweep_dts_for(case) if dts is None else dts
    if quick:
        dts = tuple(dt for dt in dts if dt >= case.dt * (1 - 1e-9))
    reference = adapter.reference(case)
    rows = []
    for integrator in integrators:
        for dt in dts:
            if round(case.t_stop / dt) < 2:
                continue
            variant = case.with_twin(dt=dt, integrator=integrator)
            t = adapter.grid(variant)
            b = reference(t)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                with np.errstate(all="ignore"), torch.no_grad():
                    c = adapter.twin(variant)
            errors = _errors(variant, t, b, c)
            blown = any(diverged(b[n], c[n]) for n in c)
            rows.append({
                "integrator": integrator,
                "dt": dt,
                "errors": errors,
                "diverged": blown,
                "meets_tolerance": not blown and not judge(variant, errors),
            })
    advice = {}
    for integrator in integrators:
        mine = [r for r in rows if r["integrator"] == integrator]
        ok = [r["dt"] for r in mine if r["meets_tolerance"]]
        bad = [r["dt"] for r in mine if r["diverged"]]
        advice[integrator] = {"largest_dt_within_tolerance": max(ok) if ok else None,
                              "smallest_dt_diverged": min(bad) if bad else None}
    return {"case": case.name, "model": case.model, "rows": rows, "advice": advice}
