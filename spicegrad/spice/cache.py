"""Result cache for ngspice runs, keyed by (netlist text + included files, ngspice version).

An entry is an ``.npz`` of the result's vectors plus a ``.sha256`` of its bytes. A missing,
truncated or tampered entry fails the checksum (or the load) and is recomputed, never trusted.
The folder is :func:`spice_cache_dir` (layout and location: :mod:`.cache_layout`). A hit
refreshes the entry's modification time; past the size cap ($SPICEGRAD_CACHE_MAX_MB, default
500 MB) the least recently used entries are removed (:mod:`.cache_admin`).
"""

from __future__ import annotations

import hashlib
import io
import logging

import numpy as np

from .._io import atomic_write_bytes, atomic_write_text
from .cache_admin import note_write, touch
from .cache_layout import cache_root, max_cache_bytes, spice_cache_dir
from .includes import included_files
from .runner import Result, ngspice_version, run

__all__ = ["cache_root", "cached_run", "netlist_key", "spice_cache_dir"]
log = logging.getLogger("spicegrad.spice")


def netlist_key(text: str) -> str:
    """sha256 of the netlist, every file it includes or reads as a library (followed as ngspice
    follows them: quoted paths may hold spaces; :mod:`.includes`), and the ngspice version."""
    h = hashlib.sha256()
    h.update(text.encode())
    for written, path, data in included_files(text):
        h.update(b"\0include\0" + written.encode() + b"\0")
        h.update(data if path is not None else b"missing")
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
    cap = max_cache_bytes()  # a bad $SPICEGRAD_CACHE_MAX_MB is refused before ngspice runs
    folder = spice_cache_dir()
    key = netlist_key(text)
    data_path, sum_path = folder / f"{key}.npz", folder / f"{key}.sha256"
    if data_path.exists():
        try:
            data = data_path.read_bytes()
            if sum_path.read_text().strip() != hashlib.sha256(data).hexdigest():
                raise ValueError("checksum mismatch")
            result = _decode(data)
            touch(data_path)
            return result
        except (OSError, ValueError, KeyError, EOFError) as exc:
            log.warning("spicegrad cache: entry %s is corrupt (%s); recomputing", key[:12], exc)
            data_path.unlink(missing_ok=True)
            sum_path.unlink(missing_ok=True)
    result = run(text, **run_kwargs)
    data = _encode(result)
    atomic_write_bytes(data_path, data)
    atomic_write_text(sum_path, hashlib.sha256(data).hexdigest() + "\n")
    note_write(folder, len(data) + 65, key, cap)
    return result
