"""Validation cases as data: TOML files under ``spicegrad/cases/`` (one ``[[case]]`` table each).

A case names the model, its parameters (preset + overrides), the stimulus, the duration, the
twin's dt and integrator, ngspice's options and the tolerance per waveform and metric::

    [[case]]
    name = "mss-sine-100hz"
    model = "mss"
    preset = "knowm-default"
    params = {}                         # field overrides, names as in the twin's Params
    stimulus = { kind = "sine", amplitude = 0.5, freq = 100.0 }
    t_stop = 0.04                       # s
    dt = 1e-6                           # s, the twin's step
    integrator = "euler"
    spice = { method = "trap", max_step = 1e-7 }
    tolerance = { x = { max_abs = 2e-3 }, i = { nrmse = 5e-3 } }
    quick = true                        # part of `spicegrad validate --quick`

Stochastic cases add ``mode = "stochastic"``, ``ensemble`` (devices) and ``seed``; a
common-random-number case, ``mode = "crn"`` and ``seed``, drives one stochastic device with noise
samples drawn from ``seed`` in ngspice, reference and twin alike, and is judged like a
deterministic case (only adapters with ``crn = True`` take it); spiking
waveforms add ``spikes = { v = 0.07 }`` (threshold, V) for spike-time metrics.

Negative controls prove the validator can fail: ``expect = "diverged"`` or ``"fail"`` marks a
case whose twin must *not* pass (the suite passes when it fails as expected), and
``twin_params`` gives parameter overrides that only the twin's model sees (reference B and twin
C), e.g. a V_on shifted by 50 mV, which must show up as model error |A−B|.
Every field is checked on load; a bad file raises :class:`CaseError` naming file, case and field.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import math
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..devices import registry
from ..errors import InputError
from ..stimuli import n_steps
from .adapters import get_adapter

log = logging.getLogger("spicegrad.validate")

MAX_STEPS = 2_000_000
#: ngspice cost of one single-device timepoint at tight tolerances, measured here (s)
SPICE_SECONDS_PER_TIMEPOINT = 8e-6
SPICE_WARN_SECONDS = 60.0
METRICS = (
    "max_abs", "rms", "nrmse", "spike_count", "spike_time", "peak_amplitude", "peak_time",
    "mean_z", "std_z",
)


class CaseError(InputError):
    """A case file or case definition is malformed."""


@dataclass(frozen=True)
class Case:
    name: str
    model: str
    stimulus: dict[str, Any]
    t_stop: float
    dt: float
    tolerance: dict[str, dict[str, float]]
    integrator: str = "euler"
    preset: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    spice: dict[str, Any] = field(default_factory=dict)
    spikes: dict[str, float] = field(default_factory=dict)
    mode: str = "deterministic"
    ensemble: int = 0
    seed: int = 0
    quick: bool = False
    expect: str = "pass"
    twin_params: dict[str, Any] = field(default_factory=dict)
    source: str = ""

    @property
    def steps(self) -> int:
        return n_steps(self.dt, self.t_stop)

    @property
    def max_step(self) -> float:
        return float(self.spice.get("max_step", self.dt / 10))

    @property
    def method(self) -> str:
        return str(self.spice.get("method", "trap"))

    def with_twin(self, dt: float | None = None, integrator: str | None = None, **changes) -> Case:
        """The same case with another twin dt/integrator (ngspice options unchanged)."""
        spice = dict(self.spice)
        spice.setdefault("max_step", self.max_step)
        return dataclasses.replace(
            self, dt=dt if dt is not None else self.dt,
            integrator=integrator or self.integrator, spice=spice, **changes,
        )

    def to_json(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d.pop("source")
        return d


_FIELDS = {f.name for f in dataclasses.fields(Case)} - {"source"}
_REQUIRED = {"name", "model", "stimulus", "t_stop", "dt", "tolerance"}


def _fail(where: str, message: str) -> CaseError:
    return CaseError(f"{where}: {message}")


def _positive(where: str, key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise _fail(where, f"{key} = {value!r}: must be a finite number > 0")
    return float(value)


#: case names become file names in reports: letters, digits and . _ - @ = , + only, no leading dot
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@=,+-]{0,199}$")
#: the type every field must have (TOML gives str, int, float, bool, tables as dict)
_TYPES: dict[str, tuple[type, ...]] = {
    "name": (str,), "model": (str,), "stimulus": (dict,), "tolerance": (dict,), "integrator": (str,),
    "preset": (str, type(None)), "params": (dict,), "spice": (dict,), "spikes": (dict,), "mode": (str,),
    "ensemble": (int,), "seed": (int,), "quick": (bool,), "expect": (str,), "twin_params": (dict,),
}
MAX_ENSEMBLE = 1_000_000
#: most ngspice timepoints a case may ask for (t_stop / max_step)
MAX_SPICE_POINTS = 50_000_000


def _check_types(where: str, raw: dict[str, Any]) -> None:
    for key, types in _TYPES.items():
        if key in raw and (not isinstance(raw[key], types) or (bool not in types and isinstance(raw[key], bool))):
            allowed = " or ".join("a table" if t is dict else t.__name__ for t in types)
            raise _fail(where, f"{key} = {raw[key]!r}: must be {allowed}")
    if not _NAME.match(raw["name"]):
        raise _fail(where, f"name = {raw['name']!r}: use letters, digits and . _ - @ = , + (no path "
                           "separators, no leading dot); case names name report files")
    if "ensemble" in raw and not 0 <= raw["ensemble"] <= MAX_ENSEMBLE:
        raise _fail(where, f"ensemble = {raw['ensemble']!r}: must lie in 0..{MAX_ENSEMBLE}")
    if "seed" in raw and not 0 <= raw["seed"] < 2**32:
        raise _fail(where, f"seed = {raw['seed']!r}: must lie in 0..2**32-1")
    unknown = set(raw.get("spice", {})) - {"method", "max_step"}
    if unknown:
        raise _fail(where, f"spice: unknown key(s) {sorted(unknown)}; allowed: max_step, method")
    if "max_step" in raw.get("spice", {}):
        _positive(where, "spice.max_step", raw["spice"]["max_step"])


def make_case(raw: dict[str, Any], source: str = "<inline>") -> Case:
    """Check one raw case table and build a :class:`Case` (the model's adapter checks the rest)."""
    where = f"{source}: case {raw.get('name', '?')!r}"
    unknown = set(raw) - _FIELDS
    if unknown:
        raise _fail(where, f"unknown field(s) {sorted(unknown)}; allowed: {sorted(_FIELDS)}")
    missing = _REQUIRED - set(raw)
    if missing:
        raise _fail(where, f"missing field(s) {sorted(missing)}")
    _check_types(where, raw)
    dt = _positive(where, "dt", raw["dt"])
    t_stop = _positive(where, "t_stop", raw["t_stop"])
    tol = raw["tolerance"]
    if not isinstance(tol, dict) or not tol:
        raise _fail(where, "tolerance must be a table {waveform = {metric = bound}}")
    for wave, bounds in tol.items():
        if not isinstance(bounds, dict) or not bounds:
            raise _fail(where, f"tolerance.{wave} must be a table {{metric = bound}}")
        for metric, bound in bounds.items():
            if metric not in METRICS:
                raise _fail(where, f"tolerance.{wave}.{metric}: unknown metric; allowed: {', '.join(METRICS)}")
            if metric != "spike_count":
                _positive(where, f"tolerance.{wave}.{metric}", bound)
            elif not isinstance(bound, int) or bound < 0:
                raise _fail(where, f"tolerance.{wave}.spike_count = {bound!r}: must be an integer >= 0")
    case = Case(**{**raw, "dt": dt, "t_stop": t_stop}, source=source)
    try:
        steps = case.steps
    except ValueError as exc:
        raise _fail(where, str(exc)) from None
    if steps > MAX_STEPS:
        raise _fail(where, f"t_stop/dt = {steps} steps: more than the limit {MAX_STEPS}")
    if case.expect not in ("pass", "fail", "diverged"):
        raise _fail(where, f"expect = {case.expect!r}: must be 'pass', 'fail' or 'diverged'")
    if case.mode not in ("deterministic", "stochastic", "crn"):
        raise _fail(where, f"mode = {case.mode!r}: must be 'deterministic', 'stochastic' or 'crn'")
    if case.mode == "stochastic" and case.ensemble < 2:
        raise _fail(where, f"ensemble = {case.ensemble!r}: a stochastic case needs >= 2 devices")
    try:
        adapter = get_adapter(case.model)
        adapter.check(case)
        if case.mode == "crn" and not getattr(adapter, "crn", False):
            raise ValueError(f"mode = 'crn': the {case.model} adapter has no common-random-number mode")
    except CaseError:
        raise
    except ValueError as exc:
        raise _fail(where, str(exc)) from exc
    if t_stop / case.max_step > MAX_SPICE_POINTS:
        raise _fail(where, f"t_stop / max_step = {t_stop / case.max_step:.3g} ngspice timepoints: more than the "
                           f"limit {MAX_SPICE_POINTS:.0e}; raise spice.max_step or shorten t_stop")
    estimate = t_stop / case.max_step * SPICE_SECONDS_PER_TIMEPOINT * adapter.spice_cost
    if estimate > SPICE_WARN_SECONDS:
        log.warning("%s: ngspice will take about %.0f s (%.3g timepoints)", where, estimate, t_stop / case.max_step)
    return case


def cases_dir() -> Path:
    """The shipped cases ($SPICEGRAD_CASES first)."""
    from ..spice.library import package_data

    return package_data("cases", "mss.toml", "SPICEGRAD_CASES")


def load_cases(paths: list[Path] | None = None) -> list[Case]:
    """Every case in ``paths`` (files or folders of *.toml; default: the shipped cases and the
    cases file of every registered device that names one)."""
    paths = paths or [cases_dir(), *(k.cases_path() for k in registry.kinds() if k.cases is not None)]
    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            files += sorted(p.glob("*.toml"))
        elif p.is_file():
            files.append(p)
        else:
            raise CaseError(f"{p}: no such case file or folder")
    cases: list[Case] = []
    for f in files:
        cases += _load_file(f)
    names = [c.name for c in cases]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise CaseError(f"case names must be unique; repeated: {dupes}")
    return cases


#: parsed case files by (path, sha256 of the text, the registered device kinds): a validation run
#: reads the shipped cases once for its selection and again for every certificate it stores
_PARSED: dict[tuple[str, str, tuple], tuple[Case, ...]] = {}
_PARSED_MAX = 64


def _load_file(f: Path) -> list[Case]:
    """The checked cases of one file; a file already parsed with the same text (under the same
    registered device kinds, which the checks consult) is not checked again."""
    raw = f.read_bytes()
    key = (str(f.resolve()), hashlib.sha256(raw).hexdigest(), tuple((k.name, id(k)) for k in registry.kinds()))
    if key in _PARSED:
        return list(_PARSED[key])
    try:
        doc = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise CaseError(f"{f}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except tomllib.TOMLDecodeError as exc:
        raise CaseError(f"{f}: not valid TOML ({exc})") from exc
    tables = doc.get("case")
    if (not isinstance(tables, list) or not all(isinstance(x, dict) for x in tables)
            or set(doc) - {"case"}):
        raise CaseError(f"{f}: expected only [[case]] tables, found keys {sorted(doc)}")
    cases = tuple(make_case(t, str(f)) for t in tables)
    if len(_PARSED) >= _PARSED_MAX:
        _PARSED.clear()
    _PARSED[key] = cases
    return list(cases)
