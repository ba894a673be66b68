r"""ngspice netlists of mapped tiles: only the devices that exist, built as a circuit graph.

The crossbar generator (:func:`spicegrad.crossbar.crossbar_circuit`) writes a full array, one
device per cell; a compressed tile has cells with no device (pruned pairs, cells outside its
blocks). :func:`tile_circuit` therefore builds the tile from the crossbar's own parts — the
:class:`~spicegrad.crossbar.topology.CrossbarSpec` network (row, column, wire, driver and sense
nets and resistors), the device kinds of :mod:`spicegrad.crossbar.devices`, the circuit graph
of :mod:`spicegrad.spice.circuit` (checked, then rendered) — and places devices only where a
pair exists. Element names keep the generator's: ``Xd_<row>_<physical column>``, ammeters
``Vsense_<physical column>`` (2k: G+, 2k+1: G- of logical column k).

With ideal wires (``r_wire = 0``) unused word and bit lines are left out (a line with no device
would be a floating net); with wire resistance the tile keeps its full T×T geometry (the wire
segments exist whether or not a device sits at a crossing), unused rows are held at 0 V, and a
wire end with no device at it (the far end of a word line, the top of a bit line; it carries no
current) is tied to ground through R_OPEN = 1 TΩ so that every net has a DC path.
Each tile is read with a DC voltage on its rows: its bit-line currents are the partial sums
Σ_i V_i·G±_ij of every block on it. ``write_mapped_network`` writes every tile and a JSON map
from tile lines to (layer, input, neuron).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from .._io import atomic_write_text
from ..crossbar.devices import get_device, non_default_params
from ..crossbar.generator import DC
from ..crossbar.topology import CrossbarSpec
from ..devices.mss import MSSParams, mss_conductance_unclamped
from ..spice.circuit import RESISTOR, VSOURCE, Circuit
from ..spice.options import SPICE_OPTIONS
from ..spice.provenance import header, python_call, run_hint
from .mapping import TileMapping
from .network import CompressError

TILE_DEVICES = ("mss", "resistor")
#: Ω from an open wire end to ground (ngspice's own gmin is 1e-12 S): ≤ 0.1 pA at a 0.1 V read
R_OPEN = 1e12


@dataclasses.dataclass
class TileCircuit:
    """A tile's circuit and what its lines are: ``rows[k]`` = (layer, input) or None (unused),
    ``cols[k]`` = (layer, neuron) or None for logical column k; ``g`` [rows, 2·cols] in S (0 where
    no device); ``v_rows`` the read voltages (V)."""

    circuit: Circuit
    rows: list[tuple[int, int] | None]
    cols: list[tuple[int, int] | None]
    g: np.ndarray
    v_rows: np.ndarray

    @property
    def devices(self) -> int:
        return int((self.g > 0).sum())

    def expected_currents(self) -> np.ndarray:
        """Ideal-wire column currents Σ_i V_i·G_ij (A) per physical column (ammeter ``i(vsense_j)``)."""
        return self.v_rows @ self.g

    def render(self) -> str:
        return self.circuit.render()

    def line_map(self) -> dict[str, Any]:
        def name(pair):
            return None if pair is None else {"layer": pair[0], "index": pair[1]}

        return {"rows": [name(r) for r in self.rows], "columns": [name(c) for c in self.cols],
                "physical_columns": "2k = G+ and 2k+1 = G- of logical column k",
                "devices": self.devices, "read_voltage_V": float(self.v_rows.max(initial=0.0))}


def tile_circuit(mapping: TileMapping, t: int, synapse: MSSParams, *, device: str = "mss",
                 read_voltage: float = 0.1, r_wire: float = 0.0, dt: float = 1e-6, t_stop: float | None = None,
                 save_states: bool = False, inline_models: bool = True, source: str | None = None,
                 facts: Mapping[str, object] | None = None) -> TileCircuit:
    """The circuit of tile ``t`` of ``mapping``: devices only where a pair exists (module docstring).

    ``device``: ``mss`` (programmed MSS subcircuits with the network's r_on/r_off, state x0 = the
    pair's device state) or ``resistor`` (fixed 1/G; read with ``.op``). ``synapse``: the
    network's synapse parameters (conductance range of the states).

    The netlist runs unchanged with ``ngspice -b`` (:mod:`spicegrad.spice.provenance`): the MSS
    library is copied in (``inline_models=False``: ``.include`` by absolute path), an ``mss``
    tile prints its bit-line currents (``.print tran``; a ``resistor`` tile's ``.op`` prints
    itself), and the header names ``source`` (the command line; default: this call) and
    ``facts`` (e.g. the checkpoint and its SHA-256).
    """
    if device not in TILE_DEVICES:
        raise CompressError(f"tile device = {device!r}: must be one of {', '.join(TILE_DEVICES)}")
    if not (np.isfinite(read_voltage) and abs(read_voltage) > 0):
        raise CompressError(f"read voltage = {read_voltage!r} V: must be a finite, non-zero voltage")
    cells = mapping.tile_cells(t)
    size = mapping.tile
    used_rows = sorted({r for r, *_ in cells})
    used_cols = sorted({c for _, c, *_ in cells})
    rows_sel = list(range(size)) if r_wire > 0 else used_rows
    cols_sel = list(range(size)) if r_wire > 0 else used_cols
    row_at = {r: k for k, r in enumerate(rows_sel)}
    col_at = {c: k for k, c in enumerate(cols_sel)}
    spec = CrossbarSpec(len(rows_sel), len(cols_sel), "differential", r_wire=r_wire)

    g = np.zeros((spec.rows, spec.physical_cols))
    x = np.zeros_like(g)
    row_names: list[tuple[int, int] | None] = [None] * spec.rows
    col_names: list[tuple[int, int] | None] = [None] * spec.cols
    for r, c, layer, i, j in cells:
        L = mapping.layers[layer]
        if L.x_pos is None:
            raise CompressError(f"{L.name}: no device states to write into a netlist")
        a, b = row_at[r], col_at[c]
        row_names[a], col_names[b] = (layer, i), (layer, j)
        x[a, 2 * b], x[a, 2 * b + 1] = L.x_pos[i, j], L.x_neg[i, j]
    present = np.zeros_like(g, dtype=bool)
    for r, c, *_ in cells:
        present[row_at[r], 2 * col_at[c]: 2 * col_at[c] + 2] = True
    g[present] = mss_conductance_unclamped(x[present], synapse)
    v_rows = np.array([read_voltage if name is not None else 0.0 for name in row_names])

    layers = sorted({layer for _, _, layer, _, _ in cells})
    circuit = Circuit(f"spicegrad compressed tile {t} of {mapping.n_tiles} ({size}x{size}, {int(present.sum())} devices, "
                      f"layers {', '.join(str(k + 1) for k in layers)})")
    net = spec.network()
    ids = np.zeros(net.n_nets, dtype=np.int64)
    for group in net.groups:
        ids[group.ids.ravel()] = circuit.nets(group.prefix, group.shape).ravel()
    circuit.add_block(VSOURCE, ("in", (spec.rows,)), np.stack([ids[net.row_in], np.zeros(spec.rows, np.int64)], 1),
                      [DC(float(v)).to_spice() for v in v_rows])
    for res in net.resistors:
        circuit.add_block(RESISTOR, (res.prefix, res.a.shape), np.stack([ids[res.a.ravel()], ids[res.b.ravel()]], 1),
                          np.full(res.a.size, res.ohms))
    where = np.argwhere(present)
    names = [f"d_{a}_{b}" for a, b in where.tolist()]
    nodes = np.stack([ids[net.te][present], ids[net.be][present]], 1)
    dev = get_device(device)
    if device == "mss":
        circuit.use_library(dev.kind.lib_path())
        circuit.add_block(dev.element_kind(), names, nodes, params={**non_default_params(synapse), "x0": x[present]})
    else:
        circuit.add_block(RESISTOR, names, nodes, 1.0 / g[present])
    cp = spec.physical_cols
    circuit.add_block(VSOURCE, ("sense", (cp,)), np.stack([ids[net.sense], np.zeros(cp, np.int64)], 1), [0.0] * cp)
    if r_wire > 0:
        # a word line ends open after its last cell, a bit line before its first: where no device
        # sits there, that wire end touches one resistor only; R_OPEN to ground closes the graph
        ends = [ids[net.te[i, -1]] for i in range(spec.rows) if not present[i, -1]]
        ends += [ids[net.be[0, j]] for j in range(cp) if not present[0, j]]
        if ends:
            circuit.add_block(RESISTOR, ("open", (len(ends),)), np.stack([ends, np.zeros(len(ends), np.int64)], 1),
                              np.full(len(ends), R_OPEN))
    saves = [f"i(vsense_{j})" for j in range(cp)]
    if save_states and device == "mss":
        saves += [f"v(xd_{a}_{b}.x)" for a, b in where.tolist()]
    if device == "resistor":
        circuit.op()
    else:
        circuit.options(**SPICE_OPTIONS)
        circuit.tran(dt, 10 * dt if t_stop is None else t_stop, max_step=dt, uic=True)
    circuit.save(*saves)
    circuit.print_results(*saves[:cp])
    circuit.inline_models = inline_models
    if source is None:
        source = python_call("spicegrad.compress.netlist.tile_circuit", f"<mapping of {mapping.n_tiles} tiles>", t,
                             device=device, read_voltage=read_voltage, r_wire=r_wire)
    circuit.header = header(source, {"tile": f"{t} of {mapping.n_tiles}", "read voltage V": read_voltage, **(facts or {})},
                            libraries=circuit.libraries, include="inline" if inline_models else "absolute",
                            hint=run_hint(saves[:cp], circuit.analysis))
    return TileCircuit(circuit, row_names, col_names, g, v_rows)


def write_mapped_network(mapping: TileMapping, synapse: MSSParams, out_dir: str | Path, **kwargs) -> list[Path]:
    """Every tile as ``tile_<k>.cir`` plus ``tiles.json`` (line maps, counts) in ``out_dir``."""
    out = Path(out_dir)
    written, maps = [], []
    for t in range(mapping.n_tiles):
        tc = tile_circuit(mapping, t, synapse, **kwargs)
        written.append(atomic_write_text(out / f"tile_{t}.cir", tc.render()))
        maps.append({"tile": t, "file": f"tile_{t}.cir", **tc.line_map()})
    written.append(atomic_write_text(out / "tiles.json", json.dumps({"summary": mapping.summary()["total"],
                                                                      "tiles": maps}, indent=1)))
    return written
