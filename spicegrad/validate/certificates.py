"""Certificates: proof that a twin configuration passed its validation cases.

A certificate is keyed by a hash of (model, parameters, dt, integrator, spicegrad version) and
stored as JSON under $SPICEGRAD_CACHE/certificates (default ~/.cache/spicegrad). Training calls
:func:`require_certified` before it trusts a twin: with no certificate it runs the model's
cases at the requested configuration first; a configuration that fails is refused unless the
caller passes ``allow_unvalidated=True`` (and then the returned record says so).
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
from ..spice.cache import cache_root
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


def certificates_dir() -> Path:
    return cache_root() / "certificates"


def load_certificate(model: str, params: Any, dt: float, integrator: str) -> dict | None:
    """The stored certificate, if it is still proof: it passed, was made by this code (twin and
    validator sources, :func:`memo.code_fingerprint`) and covers every current certification
    case (a case added later, e.g. a wider operating range, must be run before it counts)."""
    path = certificates_dir() / f"{certificate_key(model, params, dt, integrator)}.json"
    try:
        cert = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if cert.get("passed") is not True or cert.get("code") != code_fingerprint():
        return None
    wanted = {c.name for c in certification_cases(model, params, dt, integrator)}
    return cert if wanted <= set(cert.get("cases", {})) else None


def store_certificate(result: dict) -> Path:
    """Certificate for one passing case result (from :func:`engine.run_case`)."""
    if not result["passed"] or result.get("twin_params"):
        raise ValueError(f"case {result['name']!r} did not pass as a plain twin: no certificate")
    key = certificate_key(result["model"], result["params"], result["dt"], result["integrator"])
    path = certificates_dir() / f"{key}.json"
    try:
        cert = json.loads(path.read_text())
    except (OSError, ValueError):
        cert = {}
    if cert.get("code") != code_fingerprint():  # made by other code: start afresh
        cert = {"key": key, "model": result["model"], "params": result["params"], "dt": result["dt"],
                "integrator": result["integrator"], "spicegrad_version": __version__, "passed": True,
                "code": code_fingerprint(), "cases": {}}
    cert["cases"][result["name"]] = {"metrics": result["metrics"], "tolerance": result["tolerance"]}
    return atomic_write_json(path, cert)


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
    plain = [c for c in load_cases() if c.model == model and c.expect == "pass"
             and c.mode in ("deterministic", "crn") and not c.twin_params]
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
    from .engine import run_case

    cert = load_certificate(model, params, dt, integrator)
    if cert is not None:
        return {**cert, "validated": True}
    results = [run_case(c, use_cache=use_cache) for c in certification_cases(model, params, dt, integrator)]
    failed = [r for r in results if not r["passed"]]
    if not failed:
        for r in results:
            store_certificate(r)
        return {**load_certificate(model, params, dt, integrator), "validated": True}
    why = "; ".join(f"{r['name']}: {r['status']} ({', '.join(r['broken']) or ', '.join(r['causes'])})" for r in failed)
    message = f"{model} twin at dt = {dt:g} s, integrator {integrator!r} failed validation: {why}"
    if not allow_unvalidated:
        raise UnvalidatedConfigError(message + ". Choose a smaller dt or another integrator, or pass allow_unvalidated=True.")
    warnings.warn(message + " (allow_unvalidated=True: going on)", RuntimeWarning, stacklevel=2)
    return {"validated": False, "model": model, "params": _params_dict(params), "dt": dt,
            "integrator": integrator, "failures": why, "spicegrad_version": __version__}
