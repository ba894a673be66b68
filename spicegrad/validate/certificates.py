"""Certificates: proof that a twin configuration passed its validation cases.

A certificate is keyed by a hash of (model, parameters, dt, integrator, spicegrad version) and
stored as JSON under <cache>/certificates (the cache folder: $SPICEGRAD_CACHE, else
$XDG_CACHE_HOME/spicegrad, else ~/.cache/spicegrad). Training calls :func:`require_certified`
before it trusts a twin: it runs the certification cases the certificate does not cover yet; a
configuration that fails is refused unless the caller passes ``allow_unvalidated=True`` (and
then the returned record says so).

Only certification cases certify: the shipped cases (and those of registered devices) that
are plain (no ``twin_params``), expected to pass and deterministic or common-random-number
(never ``stochastic`` ensembles), run at the configuration. Each entry of a certificate records
the fingerprint of the case it proves (:func:`case_fingerprint`: effective parameters,
stimulus and its data, duration, tolerances, ngspice options, spike criteria, seeds), and an
entry counts only while it matches the shipped case of that name: a case file that reuses a
certification case's name with other settings cannot make or extend a certificate. Entries are
named by the shipped case's name, so `spicegrad validate` and :func:`require_certified` read and
write the same certificates.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import warnings
from pathlib import Path
from typing import Any

from .. import __version__
from .._io import atomic_write_json
from ..errors import UnvalidatedConfigError
from ..spice.cache_layout import certificates_dir
from .adapters import get_adapter
from .memo import code_fingerprint

log = logging.getLogger("spicegrad.validate")


def _params_dict(params: Any) -> dict[str, Any]:
    return dataclasses.asdict(params) if dataclasses.is_dataclass(params) else dict(params)


def certificate_key(model: str, params: Any, dt: float, integrator: str, version: str = __version__) -> str:
    blob = json.dumps(
        {"model": model, "params": _params_dict(params), "dt": float(dt), "integrator": integrator, "version": version},
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()


def base_name(name: str) -> str:
    """The shipped case's name of a (possibly re-configured) case: ``"x@dt=1e-05,euler"`` -> ``"x"``."""
    return name.split("@", 1)[0]


def _canonical(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):  # its type counts: a Sine is no Triangle
        return {"type": type(obj).__name__, **{k: _canonical(v) for k, v in dataclasses.asdict(obj).items()}}
    if isinstance(obj, dict):
        return {str(k): _canonical(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_canonical(v) for v in obj]
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, float):
        return repr(obj)
    if obj is None or isinstance(obj, (str, int, bool)):
        return obj
    if hasattr(obj, "__dict__"):  # a stimulus or case object of an adapter: its type and fields
        return {"type": type(obj).__name__, **{k: _canonical(v) for k, v in vars(obj).items()}}
    return repr(obj)


def case_fingerprint(case) -> str:
    """sha256 of everything that makes a case the proof it is, apart from its name: the
    effective parameters (a preset and its expansion agree), the stimulus as built (so a PWL
    file's data counts, not its path), duration, twin dt and integrator, tolerances, ngspice
    options, spike criteria, mode, ensemble size, seed and expected verdict."""
    adapter = get_adapter(case.model)
    blob = {
        "model": case.model, "params": adapter.params(case), "twin_params": case.twin_params,
        "stimulus": adapter.stimulus(case), "t_stop": case.t_stop, "dt": case.dt, "integrator": case.integrator,
        "tolerance": case.tolerance, "spice": {**case.spice, "max_step": case.max_step, "method": case.method},
        "spikes": case.spikes, "mode": case.mode, "ensemble": case.ensemble, "seed": case.seed, "expect": case.expect,
    }
    return hashlib.sha256(json.dumps(_canonical(blob), sort_keys=True).encode()).hexdigest()


def _stored(model: str, params: Any, dt: float, integrator: str) -> dict | None:
    path = certificates_dir() / f"{certificate_key(model, params, dt, integrator)}.json"
    try:
        cert = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    ok = isinstance(cert, dict) and cert.get("passed") is True and cert.get("code") == code_fingerprint()
    return cert if ok and isinstance(cert.get("cases"), dict) else None


def _covers(cert: dict | None, case) -> bool:
    entry = (cert or {}).get("cases", {}).get(base_name(case.name))
    return isinstance(entry, dict) and entry.get("case") == case_fingerprint(case)


def load_certificate(model: str, params: Any, dt: float, integrator: str) -> dict | None:
    """The stored certificate, if it is still proof: it passed, was made by this code (twin and
    validator sources, :func:`memo.code_fingerprint`) and covers every current certification
    case as shipped (a case added later, e.g. a wider operating range, must be run before it
    counts; an entry made from an altered case never counts)."""
    cert = _stored(model, params, dt, integrator)
    wanted = certification_cases(model, params, dt, integrator)
    return cert if cert is not None and all(_covers(cert, c) for c in wanted) else None


def store_certificate(result: dict, case) -> Path | None:
    """Record one passing case result (from :func:`engine.run_case`) of ``case`` in the
    certificate of its configuration. Returns the certificate's path, or None when ``case`` is
    not a certification case as shipped (another tolerance, stimulus, duration, a stochastic or
    negative-control case, twin-only overrides): such a result proves nothing for training."""
    if not result["passed"] or not certifies(case):
        return None
    params = get_adapter(case.model).params(case)
    shipped = [c for c in certification_cases(case.model, params, case.dt, case.integrator)
               if base_name(c.name) == base_name(case.name)]
    if not shipped or case_fingerprint(shipped[0]) != case_fingerprint(case):
        log.info("%s is not a shipped certification case at this configuration: no certificate", case.name)
        return None
    key = certificate_key(case.model, params, case.dt, case.integrator)
    path = certificates_dir() / f"{key}.json"
    cert = _stored(case.model, params, case.dt, case.integrator) or {
        "key": key, "model": case.model, "params": _params_dict(params), "dt": case.dt,
        "integrator": case.integrator, "spicegrad_version": __version__, "passed": True,
        "code": code_fingerprint(), "cases": {}}
    cert["cases"][base_name(case.name)] = {"case": case_fingerprint(case), "metrics": result["metrics"],
                                           "tolerance": result["tolerance"]}
    return atomic_write_json(path, cert)


def certifies(case) -> bool:
    """Whether ``case`` is a certification case: expected to pass, deterministic or common random
    numbers (never a ``stochastic`` ensemble), no twin-only overrides (see
    :func:`certification_cases`)."""
    return case.expect == "pass" and case.mode in ("deterministic", "crn") and not case.twin_params


def certification_cases(model: str, params: Any, dt: float, integrator: str):
    """The model's plain deterministic and common-random-number (``crn``) cases at this
    configuration: those whose parameters are exactly ``params`` (same preset) if any, else all
    of them with ``params`` substituted. A crn case is deterministic given its samples, so it
    certifies like any other; ensemble (``stochastic``) cases stay out: they judge the twin
    against a numpy ensemble within 3 standard errors, not against ngspice, and a statistical
    pass is evidence about one seeded sample rather than a per-trace proof."""
    from .cases import load_cases

    adapter = get_adapter(model)
    wanted = _params_dict(params)
    plain = [c for c in load_cases() if c.model == model and certifies(c)]
    same = [c for c in plain if dataclasses.asdict(adapter.params(c)) == wanted]
    chosen = same or plain
    if not chosen:
        raise UnvalidatedConfigError(f"no validation case exists for model {model!r}")
    return [c.with_twin(dt=dt, integrator=integrator, preset=None, params=wanted,
                        name=f"{c.name}@dt={dt:g},{integrator}") for c in chosen]


def require_certified(
    model: str,
    params: Any,
    dt: float,
    integrator: str,
    *,
    allow_unvalidated: bool = False,
    use_cache: bool = True,
) -> dict:
    """The certificate for this twin configuration, running its cases first if there is none.

    Raises :class:`UnvalidatedConfigError` naming the broken tolerances when the configuration
    fails, unless ``allow_unvalidated`` — then a warning is issued and a record with
    ``"validated": False`` and the failures is returned (training stores it in its checkpoint).
    """
    from .._progress import progress
    from .engine import run_case

    cert = _stored(model, params, dt, integrator)
    missing = [c for c in certification_cases(model, params, dt, integrator) if not _covers(cert, c)]
    bar = progress(missing, desc=f"certifying the {model} twin (dt = {dt:g} s, {integrator})", unit="case")
    results = [(run_case(c, use_cache=use_cache), c) for c in bar]
    failed = [r for r, _ in results if not r["passed"]]
    if not failed:
        for r, c in results:
            store_certificate(r, c)
        return {**load_certificate(model, params, dt, integrator), "validated": True}
    why = "; ".join(f"{r['name']}: {r['status']} ({', '.join(r['broken']) or ', '.join(r['causes'])})" for r in failed)
    message = f"{model} twin at dt = {dt:g} s, integrator {integrator!r} failed validation: {why}"
    if not allow_unvalidated:
        raise UnvalidatedConfigError(message + ". Choose a smaller dt or another integrator (on the command line: "
                                     "the options that set them, e.g. a shorter --pulse-width or more --epochs for "
                                     "derived pulses), or pass allow_unvalidated=True (--allow-unvalidated).")
    warnings.warn(message + " (allow_unvalidated=True: going on)", RuntimeWarning, stacklevel=2)
    return {"validated": False, "model": model, "params": _params_dict(params), "dt": dt,
            "integrator": integrator, "failures": why, "spicegrad_version": __version__}
