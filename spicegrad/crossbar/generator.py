"""Crossbar netlists: the array of :mod:`~spicegrad.crossbar.topology` as a checked circuit.

:func:`crossbar_circuit` places row sources (DC, sine, pulse or PWL from an array), driver,
wire and sense resistances, one device per cell programmed from a conductance matrix, ammeters
(0 V sources to ground) at the column ends, and optionally one neuron per output fed the
output's current (I⁺ - I⁻ for differential pairs) through current-controlled current sources,
so the array is read into virtual ground either way. :func:`crossbar_netlist` renders it.

Sizes are checked first: :func:`estimate` gives the netlist size and ngspice's expected cost,
and arrays whose netlist would exceed ``limit_bytes`` need ``force=True``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .._checks import require_finite, require_positive
from .._io import load_npy
from ..errors import InputError
from ..spice.circuit import BSOURCE, CCCS, RESISTOR, VSOURCE, Circuit
from ..spice.netlist import Source, number, pwl_of
from ..spice.options import SPICE_OPTIONS
from ..spice.provenance import header, python_call, run_hint
from ..stimuli import PulseTrain, Samples, Sine
from .devices import get_device, get_neuron, resolve_params
from .periphery import Periphery
from .readout import add_cells, add_readout
from .topology import CrossbarSpec

#: netlists above this size need force=True (ngspice would take hours on such arrays anyway)
LIMIT_BYTES = 64 * 2**20
#: analyses a crossbar netlist can hold
ANALYSES = ("tran", "op", "batch")
#: measured ngspice-39 cost of an MSS crossbar transient (measured on ngspice-39, 2 cores): s/device/timepoint
NGSPICE_S_PER_DEVICE_POINT = 30e-6


@dataclass(frozen=True)
class DC:
    """A constant level (V), for DC reads."""

    level: float

    def __post_init__(self) -> None:
        require_finite("DC", "level", self.level)

    def sample(self, t: np.ndarray) -> np.ndarray:
        return np.full(np.shape(t), float(self.level))

    def to_spice(self) -> Source:
        return Source("DC " + number(self.level, "DC level"))

    def describe(self) -> str:
        return f"DC {self.level:g} V"


def _floats(text: str, what: str, count: tuple[int, int]) -> list[float]:
    parts = text.split(",")
    if not count[0] <= len(parts) <= count[1]:
        raise ValueError(f"stimulus {what}:{text!r}: expected {count[0]}..{count[1]} comma-separated numbers")
    try:
        return [float(p) for p in parts]
    except ValueError as exc:
        raise ValueError(f"stimulus {what}:{text!r}: arguments must be plain numbers") from exc


def parse_stimulus(spec: str, rows: int) -> list:
    """Row stimuli from a CLI spec, one per row (volts, seconds, hertz).

    ``dc:V`` | ``sine:AMPLITUDE,FREQ[,OFFSET]`` | ``pulse:LOW,HIGH,PERIOD,WIDTH[,DELAY[,RISE]]``
    | ``pwl:FILE.npy`` with an array [T, 2] (time, volts; every row) or [T, 1 + rows] (time,
    then one column per row).
    """
    kind, sep, rest = str(spec).partition(":")
    if not sep:
        raise ValueError(f"stimulus {spec!r}: expected KIND:ARGS with KIND one of dc, sine, pulse, pwl")
    if kind == "dc":
        return [DC(*_floats(rest, kind, (1, 1)))] * rows
    if kind == "sine":
        return [Sine(*_floats(rest, kind, (2, 3)))] * rows
    if kind == "pulse":
        return [PulseTrain(*_floats(rest, kind, (4, 6)))] * rows
    if kind == "pwl":
        data = load_npy(rest, "stimulus pwl:", "an array [T, 2] or [T, 1 + rows] of times (s) and voltages (V)")
        if data.ndim != 2 or data.shape[1] not in (2, 1 + rows):
            raise ValueError(f"stimulus pwl:{rest}: array shape {data.shape}; need [T, 2] or [T, {1 + rows}]")
        if data.dtype.kind not in "fiu" or not np.isfinite(data).all():
            raise ValueError(f"stimulus pwl:{rest}: need finite real numbers, got dtype {data.dtype}")
        times = tuple(data[:, 0].tolist())
        if data.shape[1] == 2:  # one waveform shared by every row
            return [Samples(times, tuple(data[:, 1].tolist()))] * rows
        return [Samples(times, tuple(data[:, 1 + i].tolist())) for i in range(rows)]
    raise ValueError(f"stimulus kind {kind!r}: must be one of dc, sine, pulse, pwl")


def default_t_stop(stimulus, dt: float) -> float:
    """One period of a sine, two of a pulse train, the span of a PWL, 10 steps of DC."""
    if isinstance(stimulus, Sine):
        return 1.0 / stimulus.freq
    if isinstance(stimulus, PulseTrain):
        return stimulus.delay + 2 * stimulus.period
    if isinstance(stimulus, Samples):
        return stimulus.times[-1]
    return 10 * dt


@dataclass(frozen=True)
class Estimate:
    devices: int
    elements: int
    bytes: int
    ngspice_s_per_timepoint: float

    def describe(self) -> str:
        size = f"{self.bytes / 2**20:.0f} MiB" if self.bytes >= 2**20 else f"{self.bytes / 1024:.0f} kiB"
        return (f"{self.devices:,} devices, {self.elements:,} array elements (cells, wires, sources; neurons not counted), netlist ≈ {size}, "
                f"ngspice ≈ {self.ngspice_s_per_timepoint:.3g} s per timepoint")


def resistor_count(spec: CrossbarSpec) -> int:
    """Wire, driver and sense resistors of ``spec``, counted from its sizes (nothing allocated;
    equal to ``spec.network().n_resistors``)."""
    R, Cp = spec.rows, spec.physical_cols
    wires = (R * (Cp - 1) + (R - 1) * Cp) if spec.r_wire > 0 else 0
    return wires + (R if spec.r_driver > 0 else 0) + (Cp if spec.r_sense > 0 else 0)


def estimate(spec: CrossbarSpec, device: str = "mss", stimulus_points: int = 0) -> Estimate:
    """Netlist size and ngspice cost of ``spec`` from counts alone, before anything is
    allocated or built; ``stimulus_points``: PWL points over all rows (≈ 50 bytes each)."""
    per_device = {"mss": 58, "pcm": 74, "resistor": 40}.get(device, 80)
    resistors = resistor_count(spec)
    elements = spec.n_devices + resistors + spec.rows + spec.physical_cols
    size = spec.n_devices * per_device + resistors * 40 + 200 * (spec.rows + spec.physical_cols) + 50 * stimulus_points
    # wire resistance triples ngspice's cost per timepoint (measured: 64x64, 1 Ω: 0.33 s vs 0.11 s)
    cost = spec.n_devices * NGSPICE_S_PER_DEVICE_POINT * (3 if spec.r_wire > 0 else 1)
    return Estimate(spec.n_devices, elements, size, cost)


class NetlistTooLarge(InputError):
    """The requested netlist exceeds the size limit; pass force=True (CLI: --force)."""


def check_size(spec: CrossbarSpec, device: str, force: bool, limit_bytes: int = LIMIT_BYTES,
               stimulus_points: int = 0) -> Estimate:
    est = estimate(spec, device, stimulus_points)
    if est.bytes > limit_bytes and not force:
        raise NetlistTooLarge(
            f"a {spec.rows}x{spec.cols} {spec.pairs} crossbar is too large to write without --force: "
            f"{est.describe()} (limit {limit_bytes / 2**20:.0f} MiB)"
        )
    return est


def _row_stimuli(stimuli, rows: int) -> list:
    if stimuli is None:
        return [DC(0.1)] * rows
    if not isinstance(stimuli, Sequence):
        return [stimuli] * rows
    if len(stimuli) != rows:
        raise ValueError(f"stimuli: {len(stimuli)} given for {rows} rows; give one, or one per row")
    return list(stimuli)


def _conductances(spec: CrossbarSpec, g, g_range) -> np.ndarray:
    shape = (spec.rows, spec.physical_cols)
    if g is None:
        return np.full(shape, g_range[0])
    g = np.asarray(g, dtype=float)
    if g.shape != shape:
        raise ValueError(f"conductances: shape {g.shape} does not match the array's {shape} (rows, physical cols)")
    if not (np.isfinite(g).all() and (g > 0).all()):
        raise ValueError("conductances: every value must be a finite conductance > 0 S")
    return g


def crossbar_circuit(
    spec: CrossbarSpec,
    device: str = "mss",
    g: np.ndarray | None = None,
    *,
    params=None,
    stimuli=None,
    neurons: str = "none",
    neuron_params=None,
    analysis: str = "tran",
    dt: float = 1e-6,
    t_stop: float | None = None,
    max_step: float | None = None,
    options: dict | None = None,
    save_states: bool = False,
    batch: np.ndarray | None = None,
    periphery: Periphery | None = None,
    inline_models: bool = True,
    force: bool = False,
    source: str | None = None,
) -> Circuit:
    """The crossbar ``spec`` with ``device`` cells of conductance ``g`` [rows, physical cols] (S).

    ``stimuli``: one stimulus for every row or one per row (objects with ``to_spice()``; default
    DC 0.1 V). ``analysis``: ``"tran"`` (``.tran dt t_stop 0 max_step uic``; t_stop defaults to
    :func:`default_t_stop`), ``"op"`` (stateless devices only), or ``"batch"``: input vector
    k of ``batch`` [B, rows] (V) on the rows at sweep point k of ``.dc Vslot 0 B-1 1``
    (stateless devices only; one DC solve per vector, each started from the last). Saved vectors: the ammeter
    currents ``i(vsense_j)``, the neurons' membranes ``v(n_k)``, and with ``save_states`` every
    cell's state ``v(xd_i_j.<state>)``. ``periphery``: access transistors, TIAs and ADCs
    (:mod:`~spicegrad.crossbar.periphery`; their outputs ``v(o_j)``, ``v(q_k)`` are saved too). ``neuron_params``: the neurons' parameter record
    (default: the ``memprop`` MIF); each neuron starts from its rest state.

    The netlist runs unchanged with ``ngspice -b`` (:mod:`spicegrad.spice.provenance`): the
    model libraries are copied in (``inline_models=False``: ``.include`` of their absolute
    paths), a transient prints the ammeter currents and neuron membranes (``.print tran``), and
    a header names ``source`` (the command line that asked for the file; default: this call).
    """
    if not isinstance(spec, CrossbarSpec):
        raise ValueError(f"spec: expected a CrossbarSpec, got {type(spec).__name__}")
    if source is None:
        source = python_call("spicegrad.crossbar.crossbar_circuit", spec, device, analysis=analysis,
                             g="default (g_min)" if g is None else f"array {np.shape(g)}")
    dev = get_device(device)
    neuron = get_neuron(neurons)
    rows = _row_stimuli(stimuli, spec.rows)
    check_size(spec, device, force, stimulus_points=sum(len(getattr(s, "times", ())) for s in rows))
    params = resolve_params(dev, params)
    g = _conductances(spec, g, dev.g_range(params))
    if analysis not in ANALYSES:
        raise ValueError(f"analysis = {analysis!r}: must be one of {', '.join(map(repr, ANALYSES))}")
    if (analysis == "batch") != (batch is not None):
        raise InputError("batch: give row voltages [B, rows] exactly when analysis = 'batch'")
    if analysis == "batch" and stimuli is not None:
        raise InputError("analysis 'batch' drives the rows from `batch`; leave `stimuli` out")
    if periphery is not None and not isinstance(periphery, Periphery):
        raise InputError(f"periphery: a {type(periphery).__name__}; need a Periphery record or None")
    if neuron is not None and periphery is not None and periphery.tia is not None:
        raise InputError("neurons and a TIA both read the columns: choose one (neurons take the ammeter currents)")
    if analysis in ("op", "batch") and dev.stateful:
        raise ValueError(f"analysis {analysis!r} would settle every {device} state at equilibrium; use 'tran' (uic)")

    net = spec.network()
    circuit = Circuit(f"spicegrad crossbar {spec.rows}x{spec.cols} {spec.pairs} {device}")
    circuit.inline_models = inline_models
    ids = np.zeros(net.n_nets, dtype=np.int64)  # network net id -> circuit net id
    for group in net.groups:
        ids[group.ids.ravel()] = circuit.nets(group.prefix, group.shape).ravel()

    row_nodes = np.stack([ids[net.row_in], np.zeros(spec.rows, np.int64)], 1)
    if analysis == "batch":
        v = _batch_rows(batch, spec.rows)
        _add_batch_sources(circuit, row_nodes, v)
    else:
        circuit.add_block(VSOURCE, ("in", (spec.rows,)), row_nodes, [s.to_spice() for s in rows])
    for r in net.resistors:
        circuit.add_block(RESISTOR, (r.prefix, r.a.shape), np.stack([ids[r.a.ravel()], ids[r.b.ravel()]], 1),
                          np.full(r.a.size, r.ohms))
    add_cells(circuit, periphery, ids[net.te], ids[net.be], lambda te, be: dev.add_cells(circuit, "d", te, be, g, params))
    saves = add_readout(circuit, periphery, ids[net.sense], spec.pairs)
    if neuron is not None:
        saves += _add_neurons(circuit, spec, neuron, neuron_params)
    printed = list(saves)  # currents, amplifier and ADC outputs, membranes; not states
    if save_states and dev.state_node:
        cp = spec.physical_cols
        saves += [f"v(xd_{i}_{j}.{dev.state_node})" for i in range(spec.rows) for j in range(cp)]

    if analysis == "op":
        circuit.op()
    elif analysis == "batch":
        circuit.options(**(SPICE_OPTIONS if options is None else options))
        circuit.dc("Vslot", 0, len(v) - 1, 1)
    else:
        require_positive("crossbar_circuit", "dt", dt)
        stop = default_t_stop(rows[0], dt) if t_stop is None else require_positive("crossbar_circuit", "t_stop", t_stop)
        circuit.options(**(SPICE_OPTIONS if options is None else options))
        circuit.tran(dt, stop, max_step=max_step, uic=True)
    circuit.save(*saves)
    circuit.print_results(*printed)
    circuit.header = header(source, libraries=circuit.libraries, include="inline" if inline_models else "absolute",
                            hint=run_hint(printed, analysis))
    return circuit


def _batch_rows(batch: object, rows: int) -> np.ndarray:
    v = np.asarray(batch, dtype=float) if isinstance(batch, (np.ndarray, list, tuple)) else None
    if v is None or v.ndim != 2 or v.shape[1] != rows or v.shape[0] == 0:
        shape = getattr(v, "shape", type(batch).__name__)
        raise InputError(f"batch: row voltages of shape {shape}; need [B, {rows}] with B >= 1 (V)")
    if not np.isfinite(v).all():
        raise InputError(f"batch: {int((~np.isfinite(v)).sum())} non-finite row voltage(s); need finite volts")
    return v


def _add_batch_sources(circuit: Circuit, row_nodes: np.ndarray, v: np.ndarray) -> None:
    """Rows driven by B-sources reading input vector k at ``v(slot) = k``: swept by ``.dc Vslot
    0 B-1 1``, each point a DC solve started from the last (one ngspice run for the batch)."""
    slot = circuit.net("slot")
    circuit.add(VSOURCE, "slot", [slot, 0], 0.0)
    circuit.add(RESISTOR, "slot", [slot, 0], 1e9)  # a second pin on net slot; draws nothing
    k = np.arange(max(len(v), 2), dtype=float)
    circuit.add_block(BSOURCE, ("in", (v.shape[1],)), row_nodes,
                      [pwl_of("slot", k, np.resize(v[:, i], k.size)) for i in range(v.shape[1])])


def _add_neurons(circuit: Circuit, spec: CrossbarSpec, neuron, params=None) -> list[str]:
    """One neuron per output on net n_k, fed I⁺ (and minus I⁻) by CCCS copies of the ammeters."""
    c = spec.cols
    n_ids = circuit.nets("n", (c,))
    ground = np.zeros(c, np.int64)
    step = 2 if spec.pairs == "differential" else 1
    # F(plus, minus, Vctl, 1): the controlled current leaves through `minus`, i.e. into n_k
    circuit.add_block(CCCS, ("pos", (c,)), np.stack([ground, n_ids], 1), [(f"Vsense_{step * k}", 1.0) for k in range(c)])
    if spec.pairs == "differential":
        circuit.add_block(CCCS, ("neg", (c,)), np.stack([n_ids, ground], 1), [(f"Vsense_{2 * k + 1}", 1.0) for k in range(c)])
    neuron.add(circuit, "neuron", n_ids, params)
    return [f"v(n_{k})" for k in range(c)]


def crossbar_netlist(spec: CrossbarSpec, device: str = "mss", g: np.ndarray | None = None, **kwargs) -> str:
    """:func:`crossbar_circuit` rendered as ngspice text."""
    return crossbar_circuit(spec, device, g, **kwargs).render()
