"""Validation report: DIR/index.html (plots beside it, in DIR/plots) and DIR/summary.json.

The report is built in a temporary folder next to DIR and renamed into place, so DIR is never
half-written. summary.json follows the schema in docs/report-schema.md; each case also carries its
status ('passed', 'failed', 'diverged'), the causes of a failure ('model', 'integration',
'diverged', 'ensemble'), what it was expected to do, and warnings the twin raised.
"""

from __future__ import annotations

import html
import json
import math
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__
from .._figure import subplots
from .._io import atomic_savefig, atomic_write_bytes, atomic_write_json, atomic_write_text
from ..compare.plots import display_scale
from ..errors import InputError
from ..spice import ngspice_version

SUMMARY_KEYS = ("name", "model", "params", "stimulus", "dt", "integrator", "metrics",
                "model_error", "integration_error", "tolerance", "passed", "status", "causes",
                "broken", "expect", "as_expected", "twin_params", "mode", "t_stop", "spice",
                "warnings", "seconds", "provenance")


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (np.floating, float)):
        v = float(obj)
        return v if math.isfinite(v) else ("inf" if v > 0 else ("-inf" if v < 0 else "nan"))
    if isinstance(obj, np.integer):
        return int(obj)
    return obj


def summary(results: list[dict], sweeps: list[dict]) -> dict:
    return _jsonable({
        "spicegrad_version": __version__,
        "ngspice_version": ngspice_version(),
        "passed": all(r["as_expected"] for r in results),
        "cases": [{k: r.get(k) for k in SUMMARY_KEYS} for r in results],
        "dt_advice": [{"case": s["case"], "model": s["model"], "advice": s["advice"], "rows": s["rows"]} for s in sweeps],
    })


MAX_DEVICES_SHOWN = 4


def _columns(y: np.ndarray) -> np.ndarray:
    """A trace as [time, device] (1-D traces get one column)."""
    y = np.asarray(y, dtype=float)
    return y.reshape(len(y), -1)


def _lines(draw, t, y, label: str, **kwargs) -> None:
    """Plot a trace of one or many devices (at most MAX_DEVICES_SHOWN of them, evenly picked),
    one colour and one legend entry per source."""
    y = _columns(y)
    pick = np.unique(np.linspace(0, y.shape[1] - 1, min(MAX_DEVICES_SHOWN, y.shape[1])).round().astype(int))
    lines = draw(t, y[:, pick], **kwargs)
    lines[0].set_label(label + (f" ({len(pick)} of {y.shape[1]} devices)" if y.shape[1] > len(pick) else ""))


def _worst(d: np.ndarray) -> np.ndarray:
    """|error| per time, worst over devices."""
    return np.max(np.abs(_columns(d)), axis=1)


def _margins(fig, ncols: int) -> None:
    """Fixed margins in inches (tick labels and axis labels on the left, the title on top):
    half the cost of matplotlib's tight_layout, which measures every label of every panel."""
    w, h = fig.get_size_inches()
    col = w / ncols
    fig.subplots_adjust(left=0.85 / w, right=1 - 0.15 / w, bottom=0.55 / h, top=1 - 0.45 / h,
                        wspace=1.0 / (col - 1.0), hspace=0.25 / ((h - 1.25) / 2))


def plot_case(result: dict, path: Path) -> Path:
    """Write the case's plot (:func:`case_png`) to ``path``."""
    return atomic_write_bytes(path, case_png(result))


def case_png(result: dict) -> bytes:
    """The report's plot of one case (A, B, C over time; errors below) as PNG bytes. The
    validator draws it where the case ran (a Dask worker, when fanned out) and keeps it with the
    case's memoised result, so a report does not redraw what it drew before."""
    import io

    tr = result["traces"]
    t = tr["t"]
    names = list(tr["C"])
    fig, axes = subplots(2, len(names), figsize=(4.8 * len(names), 6.2), squeeze=False, sharex=True)
    tf, tu = display_scale(t, "s")
    for col, name in enumerate(names):
        unit = result["units"][name]
        ref = np.asarray(tr["B"][name], dtype=float)
        f, u = display_scale(ref[np.isfinite(ref)] if np.isfinite(ref).any() else np.ones(1), unit)
        top, bottom = axes[0, col], axes[1, col]
        if name in tr["A"]:
            _lines(top.plot, t / tf, np.asarray(tr["A"][name]) / f,
                   "A: ngspice" + (" (mean field)" if "B_std" in tr else ""), lw=3, alpha=0.4, color="0.6")
        _lines(top.plot, t / tf, ref / f, "B: reference" + (" mean" if "B_std" in tr else ""), lw=1.4, color="C1")
        twin = np.asarray(tr["C"][name], dtype=float)
        shown = np.where(np.abs(twin) <= 10 * (np.max(np.abs(ref)) or 1), twin, np.nan)
        _lines(top.plot, t / tf, shown / f, "C: twin" + (" mean" if "B_std" in tr else ""), lw=1, ls="--", color="C2")
        if "B_std" in tr:
            for key, color in (("B_std", "C1"), ("C_std", "C2")):
                mean = np.asarray(tr[key[0]][name]) / f
                std = np.asarray(tr[key][name]) / f
                top.fill_between(t / tf, mean - std, mean + std, color=color, alpha=0.2, label=f"{key[0]} ± std")
            bottom.plot(t / tf, np.abs(np.asarray(tr["C_std"][name]) - np.asarray(tr["B_std"][name])) / f, label="|std C − std B|")
            bottom.plot(t / tf, np.abs(np.asarray(tr["C"][name]) - ref) / f, label="|mean C − mean B|")
        else:
            a = np.asarray(tr["A"][name], dtype=float)
            finite_ref = np.abs(ref[np.isfinite(ref)])
            scale = (float(finite_ref.max()) if finite_ref.size else 1.0) / f or 1.0
            drawn = False
            with np.errstate(invalid="ignore", over="ignore"):
                for label, d in (("|A−C| total", a - twin), ("|B−C| integration", ref - twin), ("|A−B| model", a - ref)):
                    worst = _worst(d) / f
                    # a log axis shows > 0 only; a diverging twin's errors (beyond 1e12 x the signal) are off the chart
                    worst = np.where(np.isfinite(worst) & (worst > 0) & (worst < 1e12 * scale), worst, np.nan)
                    drawn |= bool(np.isfinite(worst).any())
                    bottom.plot(t / tf, worst, lw=1, label=label + (" (worst device)" if _columns(d).shape[1] > 1 else ""))
            if drawn:
                bottom.set_yscale("log")
                bottom.set_ylim(bottom=max(scale * 1e-17, 1e-300))  # float64 resolution
            else:
                bottom.text(0.5, 0.5, "no finite, non-zero difference\n(a trace diverged or all agree exactly)",
                            transform=bottom.transAxes, ha="center", va="center", fontsize=8)
        top.set_ylabel(f"{name} ({u})")
        bottom.set_ylabel(f"error ({u})")
        bottom.set_xlabel(f"time ({tu})")
        top.legend(fontsize=7, loc="best")
        bottom.legend(fontsize=7, loc="best")
    fig.suptitle(f"{result['name']}: {result['status']}  (dt = {result['dt']:g} s, {result['integrator']})")
    _margins(fig, len(names))
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    return buf.getvalue()


def plot_sweep(sweep: dict, units: dict[str, str], path: Path) -> Path:
    waves = list(sweep["rows"][0]["errors"]) if sweep["rows"] else []
    fig, axes = subplots(1, max(len(waves), 1), figsize=(4.5 * max(len(waves), 1), 3.8), squeeze=False)
    for col, name in enumerate(waves):
        ax = axes[0, col]
        for integ in sorted({r["integrator"] for r in sweep["rows"]}):
            rows = [r for r in sweep["rows"] if r["integrator"] == integ]
            dts = np.array([r["dt"] for r in rows])
            err = np.array([r["errors"][name]["max_abs"] for r in rows], dtype=float)
            ok = np.isfinite(err) & ~np.array([r["diverged"] for r in rows])
            line = ax.loglog(dts[ok], err[ok], "o-", label=integ)[0]
            if (~ok).any():
                ax.scatter(dts[~ok], np.full((~ok).sum(), np.nanmax(err[ok]) * 10 if ok.any() else 1.0),
                           marker="x", color=line.get_color(), s=60, label=f"{integ}: diverged")
        ax.set_xlabel("twin dt (s)")
        ax.set_ylabel(f"max |B−C| of {name} ({units.get(name, '')})")
        ax.legend(fontsize=7)
    fig.suptitle(f"integration error vs dt: {sweep['case']}")
    fig.tight_layout()
    atomic_savefig(fig, path, dpi=90)
    return path


def _fmt(v: Any) -> str:
    if isinstance(v, (int, float, np.floating)):
        return f"{float(v):.3g}"
    return html.escape(str(v))


def _metric_cells(result: dict) -> str:
    parts = []
    for wave, bounds in result["tolerance"].items():
        for metric, bound in bounds.items():
            total = result["metrics"].get(wave, {}).get(metric, float("nan"))
            model = result["model_error"].get(wave, {}).get(metric)
            integ = result["integration_error"].get(wave, {}).get(metric)
            unit = html.escape(result["units"].get(wave, "")) if metric in ("max_abs", "rms", "peak_amplitude") else (
                "s" if metric in ("spike_time", "peak_time") else "")
            parts.append(
                f"<tr><td>{html.escape(wave)}.{metric}</td><td>{_fmt(total)}</td><td>{_fmt(model) if model is not None else '–'}</td>"
                f"<td>{_fmt(integ) if integ is not None else '–'}</td><td>{_fmt(bound)}</td><td>{unit}</td></tr>")
    return "".join(parts)


def _params_table(result: dict) -> str:
    from .adapters import get_adapter

    fields = get_adapter(result["model"]).params_cls.__dataclass_fields__
    rows = "".join(
        f"<tr><td>{html.escape(k)}</td><td>{_fmt(v)}</td><td>{html.escape(fields[k].metadata.get('unit', ''))}</td>"
        f"<td>{html.escape(fields[k].metadata.get('doc', ''))}</td></tr>"
        for k, v in result["params"].items() if k in fields)
    return f"<table class='params'><tr><th>parameter</th><th>value</th><th>unit</th><th>meaning</th></tr>{rows}</table>"


_CSS = """body{font-family:sans-serif;margin:2em;max-width:1400px}table{border-collapse:collapse;margin:.5em 0}
td,th{border:1px solid #bbb;padding:.2em .5em;font-size:.9em}.passed{background:#d8f5d8}.failed,.diverged{background:#f8d4d4}
.expected{background:#fff2c4}img{max-width:100%;border:1px solid #ddd}h2{margin-top:1.5em}"""


#: what a report folder holds: spicegrad replaces an earlier report and nothing else
REPORT_FILES = ("index.html", "summary.json", "plots")


def _is_earlier_report(folder: Path) -> bool:
    names = {p.name for p in folder.iterdir()}
    if not names <= set(REPORT_FILES) or "summary.json" not in names:
        return False
    try:
        data = json.loads((folder / "summary.json").read_text())
    except (OSError, ValueError):
        return False
    plots = folder / "plots"
    ours = not plots.exists() or (plots.is_dir() and not plots.is_symlink() and all(
        f.is_file() and not f.is_symlink() and f.suffix == ".png" for f in plots.iterdir()))
    return isinstance(data, dict) and {"spicegrad_version", "cases"} <= set(data) and ours


def check_report_folder(directory: str | Path) -> Path:
    """``directory`` resolved, if a report may be written there: a new or empty folder, or an
    earlier spicegrad report (only its index.html, summary.json and plots/*.png are replaced).
    Anything else — a file, a folder holding other files — is refused: a report never deletes
    what spicegrad did not write."""
    if str(directory).strip() == "":
        raise InputError("--report '': give a folder for index.html and summary.json")
    target = Path(directory).expanduser().resolve()
    if target.exists() and not target.is_dir():
        raise InputError(f"--report {directory}: {target} is a file; give a new or empty folder, or an earlier report")
    if target.is_dir() and any(target.iterdir()) and not _is_earlier_report(target):
        found = sorted(p.name for p in target.iterdir())[:5]
        raise InputError(f"--report {directory}: {target} holds other files ({', '.join(found)}, ...); a report "
                         "goes into a new or empty folder, or replaces an earlier report")
    if target.exists() is False and target.parent.exists() and not target.parent.is_dir():
        raise InputError(f"--report {directory}: {target.parent} is a file")
    return target


def plot_name(case_name: str) -> str:
    """A file name for a case's plot: letters, digits, '.', '-', '_' only (never a path)."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", case_name).lstrip(".") or "case"


def _move_into(tmp: Path, target: Path) -> None:
    """Put the finished report from ``tmp`` into ``target``, replacing only an earlier report's
    own files (each file by an atomic rename)."""
    target.mkdir(parents=True, exist_ok=True)
    old_plots = target / "plots"
    if old_plots.is_dir():
        for png in old_plots.glob("*.png"):
            png.unlink()
        old_plots.rmdir()
    (tmp / "plots").rename(old_plots)
    for name in ("summary.json", "index.html"):  # index.html last: a complete page means a complete report
        (tmp / name).replace(target / name)
    tmp.rmdir()


def write_report(results: list[dict], sweeps: list[dict], directory: str | Path) -> dict:
    """Write the report into ``directory`` (see :func:`check_report_folder`); returns the summary."""
    target = check_report_folder(directory)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        data = summary(results, sweeps)
        (tmp / "plots").mkdir()
        rows, sections = [], []
        for r in results:
            png = None
            if r["status"] != "error":
                png = tmp / "plots" / f"{plot_name(r['name'])}.png"
                atomic_write_bytes(png, r["plot_png"]) if r.get("plot_png") else plot_case(r, png)
            verdict = r["status"] + ("" if r["expect"] == "pass" else f" (expected: {r['expect']})")
            css = "expected" if r["expect"] != "pass" and r["as_expected"] else r["status"]
            rows.append(
                f"<tr class='{css}'><td><a href='#{html.escape(r['name'])}'>{html.escape(r['name'])}</a></td>"
                f"<td>{r['model']}</td><td>{r['mode']}</td><td>{r['integrator']}</td><td>{r['dt']:g}</td>"
                f"<td>{html.escape(verdict)}</td><td>{html.escape(', '.join(r['causes']))}</td><td>{r['seconds']:.1f}</td></tr>")
            warn = "".join(f"<li>{html.escape(w)}</li>" for w in r.get("warnings", []))
            sections.append(
                f"<h2 id='{html.escape(r['name'])}'>{html.escape(r['name'])}: {html.escape(verdict)}</h2>"
                f"<p>stimulus: <code>{html.escape(json.dumps(r['stimulus']))}</code>; t_stop {r['t_stop']:g} s; "
                f"ngspice: {html.escape(json.dumps(r['spice']))}; twin: dt {r['dt']:g} s, {r['integrator']}"
                f"{'; twin-only overrides: ' + html.escape(json.dumps(r['twin_params'])) if r['twin_params'] else ''}</p>"
                f"<p>provenance: {html.escape(r['provenance'])}</p>"
                + (f"<p>broken: {html.escape('; '.join(r['broken']))}</p>" if r["broken"] else "")
                + (f"<ul>{warn}</ul>" if warn else "")
                + "<table><tr><th>metric</th><th>|A−C| (judged)</th><th>|A−B| model</th><th>|B−C| integration</th>"
                f"<th>tolerance</th><th>unit</th></tr>{_metric_cells(r)}</table>"
                + (f"<img src='plots/{png.name}' alt='{html.escape(r['name'])} waveforms'>" if png else "")
                + f"<details><summary>parameters</summary>{_params_table(r)}</details>")
        for s in sweeps:
            units = next((r["units"] for r in results if r["model"] == s["model"]), {})
            png = plot_sweep(s, units, tmp / "plots" / f"sweep_{plot_name(s['case'])}.png")
            adv = "".join(
                f"<tr><td>{k}</td><td>{_fmt(v['largest_dt_within_tolerance'])}</td><td>{_fmt(v['smallest_dt_diverged'])}</td></tr>"
                for k, v in s["advice"].items())
            sections.append(
                f"<h2 id='sweep-{html.escape(s['case'])}'>dt advice: {html.escape(s['case'])}</h2>"
                "<p>Integration error |B−C| of the twin against the reference at each dt (model error comes on top).</p>"
                f"<table><tr><th>integrator</th><th>largest dt within tolerance (s)</th><th>smallest dt that diverged (s)</th></tr>{adv}</table>"
                f"<img src='plots/{png.name}' alt='error vs dt for {html.escape(s['case'])}'>")
        verdict = "PASSED" if data["passed"] else "FAILED"
        page = (
            f"<!doctype html><html><head><meta charset='utf-8'><title>spicegrad validation: {verdict}</title>"
            f"<style>{_CSS}</style></head><body><h1>spicegrad validation report: {verdict}</h1>"
            f"<p>spicegrad {__version__}, ngspice-{html.escape(data['ngspice_version'])}. A = ngspice, B = independent "
            "reference integration of the twin's equations, C = twin. |A−B| is model error, |B−C| integration error, "
            "|A−C| is judged against the tolerance. Negative controls (yellow) must fail.</p>"
            "<table><tr><th>case</th><th>model</th><th>mode</th><th>integrator</th><th>dt (s)</th><th>verdict</th>"
            f"<th>cause</th><th>time (s)</th></tr>{''.join(rows)}</table>{''.join(sections)}</body></html>")
        atomic_write_text(tmp / "index.html", page)
        atomic_write_json(tmp / "summary.json", data)
        _move_into(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return data
