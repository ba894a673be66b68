"""Result cache for ngspice runs, keyed by (netlist text + included files, ngspice version).

An entry is an ``.npz`` of the result's vectors plus a ``.sha256`` of its bytes. A missing,
truncated or tampered entry fails the checksum (or the load) and is recomputed, never trusted.
The folder is $SPICEGRAD_CACHE/spice (default ~/.cache/spicegrad/spice).
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import re
from pathlib import Path

import numpy as np

from .._io import atomic_write_bytes, atomic_write_text
from .runner import Result, ngspice_version, run

log = logging.getLogger("spicegrad.spice")
_INCLUDE = re.compile(r'^\s*\.(?:include|lib)\s+"?([^"\s]+)"?', re.IGNORECASE | re.MULTILINE)


def cache_root() -> Path:
    """The cache folder: $SPICEGRAD_CACHE, else ~/.cache/spicegrad (ngspice results, case
    results and certificates live in subfolders)."""
    return Path(os.environ.get("SPICEGRAD_CACHE") or Path.home() / ".cache" / "spicegrad")


def spice_cache_dir() -> Path:
    """ngspice results, addressed by the netlist's content (text, included files, ngspice
    version): $SPICEGRAD_SPICE_CACHE, else ``<cache_root>/spice``. Content addressing makes the
    folder safe to share between runs whose certificates and case results must stay apart."""
    return Path(os.environ.get("SPICEGRAD_SPICE_CACHE") or cache_root() / "spice")


def netlist_key(text: str) -> str:
    """sha256 of the netlist, every file it includes, and the ngspice version."""
    h = hashlib.sha256()
    h.update(text.encode())
    for path in _INCLUDE.findall(text):
        p = Path(path)
        h.update(p.read_bytes() if p.exists() else f"missing:{path}".encode())
    h.update(f"ngspice-{ngspice_version()}".encode())
    return h.hexdigest()


def _encode(result: Result) -> bytes:
    buf = io.BytesIO()
    names = sorted(result.vectors)
    np.savez(buf, __names__=np.array(names), __plot__=np.array(result.plotname),
             **{f"v{i}": result.vectors[n] for i, n in enumerate(names)})
    return buf.getvalue()


def _decode(data: bytes) -> Result:
    with np.load(io.BytesIO(data), allow_pickle=False) as z:
        names = [str(n) for n in z["__names__"]]
        vectors = {n: z[f"v{i}"] for i, n in enumerate(names)}
        plot = str(z["__plot__"])
    axis = "time" if "time" in vectors else names[0]
    return Result(vectors[axis].real, vectors, ngspice_version(), plot, "(from cache)")


def cached_run(text: str, *, use_cache: bool = True, **run_kwargs) -> Result:
    """:func:`run` through the cache. A corrupted entry is logged, deleted and recomputed."""
    if not use_cache:
        return run(text, **run_kwargs)
    folder = spice_cache_dir()
    key = netlist_key(text)
    data_path, sum_path = folder / f"{key}.npz", folder / f"{key}.sha256"
    if data_path.exists():
        try:
            data = data_path.read_bytes()
            if sum_path.read_text().strip() != hashlib.sha256(data).hexdigest():
                raise ValueError("checksum mismatch")
            return _decode(data)
        except (OSError, ValueError, KeyError, EOFError) as exc:
            log.warning("spicegrad cache: entry %s is corrupt (%s); recomputing", key[:12], exc)
            data_path.unlink(missing_ok=True)
            sum_path.unlink(missing_ok=True)
    result = run(text, **run_kwargs)
    data = _encode(result)
    atomic_write_bytes(data_path, data)
    atomic_write_text(sum_path, hashlib.sha256(data).hexdigest() + "\n")
    return result
