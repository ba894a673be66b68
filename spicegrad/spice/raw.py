"""Reader for ngspice raw files (binary and ASCII, real and complex, several plots per file)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class RawPlot:
    """One plot of a raw file: its name (e.g. 'Transient Analysis') and vectors by name."""

    title: str
    plotname: str
    vectors: dict[str, np.ndarray]


def _read_header(buf: bytes, pos: int) -> tuple[dict[str, str], list[str], int, str]:
    meta: dict[str, str] = {}
    names: list[str] = []
    while True:
        end = buf.index(b"\n", pos)
        line = buf[pos:end].decode("latin-1").rstrip("\r")
        pos = end + 1
        key, _, value = line.partition(":")
        key = key.strip().lower()
        if key == "variables":
            n = int(meta["no. variables"])
            for _ in range(n):
                end = buf.index(b"\n", pos)
                fields = buf[pos:end].decode("latin-1").split()
                pos = end + 1
                names.append(fields[1])
            continue
        if key in ("binary", "values"):
            return meta, names, pos, key
        meta[key] = value.strip()


def parse_raw(source: str | Path | bytes) -> list[RawPlot]:
    """Parse every plot in an ngspice raw file; vectors are float64 (complex128 if complex)."""
    buf = source if isinstance(source, bytes) else Path(source).read_bytes()
    plots: list[RawPlot] = []
    pos = 0
    while pos < len(buf) and buf[pos:].strip():
        meta, names, pos, kind = _read_header(buf, pos)
        n_vars = len(names)
        n_points = int(meta["no. points"])
        is_complex = "complex" in meta.get("flags", "").lower()
        width = 2 if is_complex else 1
        if kind == "binary":
            count = n_vars * n_points * width
            data = np.frombuffer(buf, dtype="<f8", count=count, offset=pos)
            pos += 8 * count
            data = data.reshape(n_points, n_vars * width)
        else:
            data, pos = _read_ascii_values(buf, pos, n_vars, n_points, is_complex)
        if is_complex:
            data = data[:, 0::2] + 1j * data[:, 1::2]
        vectors = {name: np.array(data[:, i]) for i, name in enumerate(names)}
        plots.append(RawPlot(meta.get("title", ""), meta.get("plotname", ""), vectors))
    return plots


def _read_ascii_values(
    buf: bytes, pos: int, n_vars: int, n_points: int, is_complex: bool
) -> tuple[np.ndarray, int]:
    width = 2 if is_complex else 1
    out = np.empty((n_points, n_vars * width))
    lines = iter(buf[pos:].split(b"\n"))
    consumed = 0
    for p in range(n_points):
        for v in range(n_vars):
            line = next(lines)
            consumed += len(line) + 1
            fields = line.split()
            token = fields[1] if v == 0 else fields[0]
            if is_complex:
                re, im = token.split(b",")
                out[p, 2 * v], out[p, 2 * v + 1] = float(re), float(im)
            else:
                out[p, v] = float(token)
    return out, pos + consumed
