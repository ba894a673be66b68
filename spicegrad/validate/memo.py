"""Case results memoised by what determines them: the case, the code, the tools.

A validation case is deterministic (stochastic cases are seeded), so its result is a function of
the case definition, the source of spicegrad and of the model library, and the versions of
ngspice, torch, numpy and scipy. The key hashes all of them: any edit to a twin, a reference,
a subcircuit or a dependency makes every entry stale. Entries are ``<key>.json`` (everything but
the traces) + ``<key>.npz`` (the traces, and the report's plot once one was drawn) + ``<key>.sha256`` (of both); one that fails its
checksum is deleted and recomputed, never trusted. Folder: <cache>/cases
(:func:`spicegrad.spice.cache_layout.cases_dir`).
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import scipy
import torch

from .._io import atomic_write_bytes, atomic_write_text
from ..spice.cache_layout import cases_dir
from ..spice.library import models_dir
from ..spice.runner import ngspice_version

log = logging.getLogger("spicegrad.validate")

#: the npz entry that holds a case's report plot (PNG bytes), beside its traces
PLOT_KEY = "plot_png"


@functools.lru_cache(maxsize=1)
def code_fingerprint() -> str:
    """sha256 over spicegrad's Python source, the model library and the tool versions."""
    h = hashlib.sha256()
    package = Path(__file__).resolve().parents[1]
    for path in sorted([*package.rglob("*.py"), *models_dir().glob("*.lib")]):
        h.update(str(path.relative_to(path.parents[1])).encode())
        h.update(path.read_bytes())
    h.update(f"ngspice-{ngspice_version()} torch-{torch.__version__} numpy-{np.__version__} scipy-{scipy.__version__}".encode())
    return h.hexdigest()


def case_key(case, **extra) -> str:
    """Key of a case result (``extra``: further arguments that shape it, e.g. a sweep's dts)."""
    blob = json.dumps({"case": case.to_json(), "extra": extra, "code": code_fingerprint()},
                      sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def _flatten(traces: dict, prefix: str = "") -> dict[str, np.ndarray]:
    out = {}
    for k, v in traces.items():
        if isinstance(v, dict):
            out.update(_flatten(v, f"{prefix}{k}/"))
        else:
            out[f"{prefix}{k}"] = np.asarray(v)
    return out


def _unflatten(flat: dict[str, np.ndarray]) -> dict:
    out: dict[str, Any] = {}
    for key, arr in flat.items():
        node = out
        *parents, leaf = key.split("/")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = arr
    return out


def _paths(key: str) -> tuple[Path, Path, Path]:
    folder = cases_dir()
    return folder / f"{key}.json", folder / f"{key}.npz", folder / f"{key}.sha256"


def load(case, **extra) -> dict | None:
    meta_path, npz_path, sum_path = _paths(case_key(case, **extra))
    if not meta_path.exists():
        return None
    try:
        meta, data = meta_path.read_bytes(), npz_path.read_bytes()
        if sum_path.read_text().strip() != hashlib.sha256(meta + data).hexdigest():
            raise ValueError("checksum mismatch")
        result = json.loads(meta)
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            flat = {k: z[k] for k in z.files}
        if PLOT_KEY in flat:
            result["plot_png"] = flat.pop(PLOT_KEY).tobytes()
        traces = _unflatten(flat)
        if traces:
            result["traces"] = traces
        return result
    except (OSError, ValueError, KeyError, EOFError) as exc:
        log.warning("spicegrad case cache: entry for %s is corrupt (%s); recomputing", case.name, exc)
        for p in (meta_path, npz_path, sum_path):
            p.unlink(missing_ok=True)
        return None


def store(case, result: dict, **extra) -> None:
    meta_path, npz_path, sum_path = _paths(case_key(case, **extra))
    meta = json.dumps({k: v for k, v in result.items() if k not in ("traces", "plot_png")}, default=float).encode()
    arrays = _flatten(result.get("traces", {}))
    if result.get("plot_png"):
        arrays[PLOT_KEY] = np.frombuffer(result["plot_png"], dtype=np.uint8)
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    data = buf.getvalue()
    atomic_write_bytes(npz_path, data)
    atomic_write_bytes(meta_path, meta)
    atomic_write_text(sum_path, hashlib.sha256(meta + data).hexdigest() + "\n")
