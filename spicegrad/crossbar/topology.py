"""Crossbar topology: one description of the array's nets and resistors, read by both halves.

The netlist generator (:mod:`spicegrad.crossbar.netlist`) and the twin's nodal analysis
(:mod:`spicegrad.crossbar.layers`) both build from :meth:`CrossbarSpec.network`, so the twin
solves exactly the circuit that ngspice is given.

Layout (R rows, C logical columns; Cp = 2C physical columns for differential pairs, C for
single devices; physical column 2k holds G⁺ and 2k+1 holds G⁻ of output k)::

    Vin_i ── in_i ──Rdrv_i── r_i_0 ──Rrow_i_0── r_i_1 ── ... ── r_i_{Cp-1}      (row i)
                               │                  │                   │
                             Xd_i_0             Xd_i_1              Xd_i_{Cp-1}  te -> be
                               │                  │                   │
                             c_i_0              c_i_1               c_i_{Cp-1}
                               │ Rcol_i_j (to c_{i+1}_j)
    bottom of column j: c_{R-1}_j ──Rsense_j── s_j ──Vsense_j── 0   (virtual ground, ammeter)

Resistances: ``r_wire`` per wire segment between adjacent cells (rows and columns alike; the
row input is at column 0 and the sense end at row R-1), ``r_driver`` between each row source
and its first cell, ``r_sense`` between each column's last cell and its virtual ground.
A zero resistance merges the nets it would join: with ``r_wire = 0`` a row is one net ``r_i``
and a column one net ``c_j``; with ``r_driver = 0`` the source drives ``r_i_0`` directly; with
``r_sense = 0`` the ammeter sits at ``c_{R-1}_j``. The current into column j's virtual ground is
``i(vsense_j)``; a differential output is ``i(vsense_2k) - i(vsense_2k+1)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .._checks import require_choice
from .choices import PAIRS


def require_count(owner: str, name: str, value: object) -> int:
    """A positive integer (rejects 0, negatives, floats such as 2.5, bools and strings)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError(f"{owner}.{name} = {value!r}: must be a positive integer")
    return int(value)


def require_resistance(owner: str, name: str, value: object) -> float:
    """A finite resistance >= 0 Ω (0 means an ideal wire)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise ValueError(f"{owner}.{name} = {value!r}: must be a finite resistance >= 0 Ω")
    v = float(value)
    if not math.isfinite(v) or v < 0:
        raise ValueError(f"{owner}.{name} = {value!r}: must be a finite resistance >= 0 Ω")
    return v


@dataclass(frozen=True)
class CrossbarSpec:
    """Geometry and parasitics of one crossbar array (resistances in Ω)."""

    rows: int
    cols: int
    pairs: str = "differential"
    r_wire: float = 0.0
    r_driver: float = 0.0
    r_sense: float = 0.0

    def __post_init__(self) -> None:
        require_count("CrossbarSpec", "rows", self.rows)
        require_count("CrossbarSpec", "cols", self.cols)
        require_choice("CrossbarSpec", "pairs", self.pairs, PAIRS)
        for name in ("r_wire", "r_driver", "r_sense"):
            object.__setattr__(self, name, require_resistance("CrossbarSpec", name, getattr(self, name)))

    @property
    def physical_cols(self) -> int:
        return 2 * self.cols if self.pairs == "differential" else self.cols

    @property
    def n_devices(self) -> int:
        return self.rows * self.physical_cols

    @property
    def ideal(self) -> bool:
        """No parasitic resistance: column currents are exactly Vᵀ·G."""
        return self.r_wire == 0 and self.r_driver == 0 and self.r_sense == 0

    def network(self) -> Network:
        return Network(self)


@dataclass(frozen=True)
class NetGroup:
    """Nets named ``prefix_i[_j]`` with ids ``first .. first + size - 1`` shaped ``shape``."""

    prefix: str
    shape: tuple[int, ...]
    first: int

    @property
    def ids(self) -> np.ndarray:
        return np.arange(self.first, self.first + int(np.prod(self.shape)), dtype=np.int64).reshape(self.shape)


@dataclass(frozen=True)
class ResistorGroup:
    """Fixed resistors ``R<prefix>_...`` between nets ``a`` and ``b`` (arrays of net ids)."""

    prefix: str
    a: np.ndarray
    b: np.ndarray
    ohms: float


class Network:
    """The crossbar's nets (integer ids, grouped and named) and its fixed resistors.

    ``row_in`` [R]: nets the row sources drive; ``te``/``be`` [R, Cp]: device terminals;
    ``sense`` [Cp]: nets held at 0 V by the ammeters. Every id is below ``n_nets``.
    """

    def __init__(self, spec: CrossbarSpec):
        self.spec = spec
        R, Cp = spec.rows, spec.physical_cols
        self.groups: list[NetGroup] = []
        wired = spec.r_wire > 0
        row = self._group("r", (R, Cp) if wired else (R,))
        col = self._group("c", (R, Cp) if wired else (Cp,))
        self.te = row if wired else np.repeat(row[:, None], Cp, axis=1)
        self.be = col if wired else np.repeat(col[None, :], R, axis=0)
        self.row_in = self._group("in", (R,)) if spec.r_driver > 0 else self.te[:, 0].copy()
        self.sense = self._group("s", (Cp,)) if spec.r_sense > 0 else self.be[-1, :].copy()
        self.resistors: list[ResistorGroup] = []
        if spec.r_driver > 0:
            self.resistors.append(ResistorGroup("drv", self.row_in, self.te[:, 0], spec.r_driver))
        if wired:
            self.resistors.append(ResistorGroup("row", row[:, :-1], row[:, 1:], spec.r_wire))
            self.resistors.append(ResistorGroup("col", col[:-1, :], col[1:, :], spec.r_wire))
        if spec.r_sense > 0:
            self.resistors.append(ResistorGroup("sense", self.be[-1, :], self.sense, spec.r_sense))

    def _group(self, prefix: str, shape: tuple[int, ...]) -> np.ndarray:
        first = self.groups[-1].first + int(np.prod(self.groups[-1].shape)) if self.groups else 0
        group = NetGroup(prefix, shape, first)
        self.groups.append(group)
        return group.ids

    @property
    def n_nets(self) -> int:
        last = self.groups[-1]
        return last.first + int(np.prod(last.shape))

    def fixed_edges(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(a, b, conductance in S) of every fixed resistor, flattened."""
        if not self.resistors:
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty, np.zeros(0)
        a = np.concatenate([g.a.ravel() for g in self.resistors])
        b = np.concatenate([g.b.ravel() for g in self.resistors])
        g = np.concatenate([np.full(g.a.size, 1.0 / g.ohms) for g in self.resistors])
        return a, b, g

    @property
    def n_resistors(self) -> int:
        return sum(g.a.size for g in self.resistors)
