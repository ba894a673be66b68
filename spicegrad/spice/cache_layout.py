"""Where spicegrad keeps its cache, what it stores there, and how each entry is named.

This module is the one place that knows the cache's location and layout; every part of
spicegrad that stores under the cache (ngspice results, case results, certificates, downloaded
datasets) gets its folder from here, and ``spicegrad cache info|clear`` recognises entries by
the names below — nothing else in the folder is ever counted as spicegrad's or deleted.

Location: ``$SPICEGRAD_CACHE`` if set; else ``$XDG_CACHE_HOME/spicegrad`` if ``$XDG_CACHE_HOME``
is set to an absolute path (the XDG base-directory rule: a relative value is ignored); else
``~/.cache/spicegrad``. ngspice results may be put elsewhere with ``$SPICEGRAD_SPICE_CACHE``.

Layout (``KEY`` is 64 lower-case hex digits, a sha256)::

    <root>/spice/KEY.npz, KEY.sha256             ngspice results (evicted LRU past the size cap)
    <root>/cases/KEY.json, KEY.npz, KEY.sha256   validated case and sweep results
    <root>/certificates/KEY.json                 certificates (gate training)
    <root>/datasets/NAME/FILE[.gz]               downloaded IDX files (FILE e.g. t10k-images-idx3-ubyte)

Writes are atomic: a write interrupted by a crash may leave ``.KEY.ext.XXXXXXXX`` (the
temporary file of :func:`spicegrad._io.atomic_write_bytes`) or ``FILE.gz.part``; these count as
partial writes of their kind.

The size cap on ngspice results is ``$SPICEGRAD_CACHE_MAX_MB`` megabytes (10^6 bytes; default
:data:`DEFAULT_MAX_MB`).
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError

#: the default size cap of the ngspice result cache, in MB (10^6 bytes)
DEFAULT_MAX_MB = 500.0
MAX_MB_ENV = "SPICEGRAD_CACHE_MAX_MB"

_KEY = r"[0-9a-f]{64}"
_TMP = r"\.[A-Za-z0-9_]{8}"  # tempfile.mkstemp's random part
_IDX = r"(?:train|t10k)-(?:images|labels)-idx[13]-ubyte"


def cache_root() -> Path:
    """The cache folder: $SPICEGRAD_CACHE, else $XDG_CACHE_HOME/spicegrad (when absolute), else
    ~/.cache/spicegrad."""
    own = os.environ.get("SPICEGRAD_CACHE")
    xdg = os.environ.get("XDG_CACHE_HOME")
    if own:
        root = Path(own).expanduser().absolute()  # a relative value is taken from the working folder, once
    elif xdg and Path(xdg).is_absolute():
        root = Path(xdg) / "spicegrad"
    else:
        root = Path.home() / ".cache" / "spicegrad"
    if root.exists() and not root.is_dir():
        raise InputError(f"cache folder {root} ({cache_root_source()}) is a file, not a folder; "
                         "point $SPICEGRAD_CACHE at a folder")
    return root


def cache_root_source() -> str:
    """Which setting chose :func:`cache_root` (for ``spicegrad cache info``)."""
    if os.environ.get("SPICEGRAD_CACHE"):
        return "$SPICEGRAD_CACHE"
    xdg = os.environ.get("XDG_CACHE_HOME")
    if xdg and Path(xdg).is_absolute():
        return "$XDG_CACHE_HOME"
    return "default" + (f" ($XDG_CACHE_HOME={xdg!r} is not absolute, so ignored)" if xdg else "")


def spice_cache_dir() -> Path:
    """ngspice results, addressed by the netlist's content (text, included files, ngspice
    version): $SPICEGRAD_SPICE_CACHE, else ``<cache_root>/spice``. Content addressing makes the
    folder safe to share between runs whose certificates and case results must stay apart."""
    own = os.environ.get("SPICEGRAD_SPICE_CACHE")
    return Path(own).expanduser() if own else cache_root() / "spice"


def cases_dir() -> Path:
    return cache_root() / "cases"


def certificates_dir() -> Path:
    return cache_root() / "certificates"


def datasets_dir() -> Path:
    return cache_root() / "datasets"


def max_cache_bytes() -> int:
    """The ngspice result cache's size cap in bytes, from $SPICEGRAD_CACHE_MAX_MB (default
    :data:`DEFAULT_MAX_MB`). Raises :class:`InputError` naming a value that is not a finite
    positive number."""
    text = os.environ.get(MAX_MB_ENV)
    if text is None or text.strip() == "":
        return int(DEFAULT_MAX_MB * 1e6)
    try:
        mb = float(text)
    except ValueError:
        mb = math.nan
    if not (math.isfinite(mb) and mb > 0):
        raise InputError(f"{MAX_MB_ENV}={text!r}: must be a positive number of megabytes (10^6 bytes), "
                         f"e.g. 500 (the default) or 0.5")
    return max(1, int(mb * 1e6))


@dataclass(frozen=True)
class Kind:
    """One kind of cache entry: its folder and the names its files may have (relative to the
    folder, '/'-separated). ``entry`` matches complete files (group ``key`` names the entry
    they belong to); ``partial`` matches leftovers of interrupted writes."""

    name: str
    label: str
    entry: re.Pattern
    partial: re.Pattern
    depth: int  # 1: files directly in the folder; 2: one level of sub-folders
    recomputable: bool
    note: str

    def folder(self) -> Path:
        return _FOLDERS[self.name]()

    def configured_elsewhere(self) -> bool:
        """True when an environment variable puts this kind's folder outside the cache root."""
        return self.name == "ngspice" and bool(os.environ.get("SPICEGRAD_SPICE_CACHE"))


def _kind(name, label, exts, depth=1, recomputable=True, note="", entry=None, partial=None) -> Kind:
    exts = "|".join(exts)
    return Kind(name, label,
                re.compile(entry or rf"(?P<key>{_KEY})\.(?:{exts})"),
                re.compile(partial or rf"\.(?P<key>{_KEY})\.(?:{exts}){_TMP}"),
                depth, recomputable, note)


_FOLDERS = {"ngspice": spice_cache_dir, "cases": cases_dir, "certificates": certificates_dir,
            "datasets": datasets_dir}

#: every kind of entry spicegrad stores, in the order ``spicegrad cache info`` lists them
KINDS: dict[str, Kind] = {k.name: k for k in (
    _kind("ngspice", "ngspice results", ("npz", "sha256"),
          note="recomputed by the next run that needs them"),
    _kind("cases", "case results", ("json", "npz", "sha256"),
          note="recomputed by the next `spicegrad validate`"),
    _kind("certificates", "certificates", ("json",), recomputable=False,
          note="training refuses an uncertified twin (exit 2) until `spicegrad validate` certifies it again"),
    _kind("datasets", "datasets", (), depth=2, recomputable=False,
          entry=rf"(?P<key>[a-z0-9][a-z0-9_-]*)/{_IDX}(?:\.gz)?",
          partial=rf"(?P<key>[a-z0-9][a-z0-9_-]*)/{_IDX}\.gz\.part",
          note="downloaded again by the next run that uses them, which needs the network"),
)}
