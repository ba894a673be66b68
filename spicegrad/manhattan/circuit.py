r"""A crossbar of any pulse-programmable registered cell in the training loop: read passes and
programming pulses as circuit transients.

``backend="spice"`` runs every epoch in ngspice on the kind's ``.lib`` (``kind.lib_path()``, its
subcircuit ``kind.subckt``); ``backend="twin"`` runs the same waveforms through the kind's twin
step (``kind.step``), batched over runs. Both start each epoch from the device states the
previous one left, so conductance changes come from the circuit itself (read disturbance and
half-select disturbance included). Nothing here is specific to one device: the kind declares
its step, current, conductance maps, switching thresholds, pins and state node
(:class:`~spicegrad.devices.registry.DeviceKind`); the MSS is one such kind.

Circuit (ideal wires): row i is net ``r_i`` driven by source ``Vrow_i``; physical column j is net
``c_j`` held by source ``Vcol_j`` (0 V while reading: a virtual-ground ammeter whose branch current
i(vcol_j) is the column current); device ``Xd_i_j`` (te = r_i, be = c_j, the kind's grounded pins
at 0) sees V_row_i − V_col_j.

One epoch is two transients on the twin's grid t_k = k·dt (each level held over whole steps):

1. the read pass: pattern p on the rows for ``read_time`` (columns at 0 V); its column currents
   are sampled in the middle of its window (t = start + ⌊n_read/2⌋·dt). The twin's device
   current is ``kind.cell_current`` (v·G(x), or the kind's own non-linear I-V).
2. programming (one more transient, when the read asked for pulses), column by column, V/2 scheme:
   in phase j the rows of the devices to program in column j go to +V/2 and column j to −V/2
   for ``width``, then everything rests at 0 V for ``gap``; V is the signed potentiating voltage
   (:meth:`~spicegrad.manhattan.devices.CellPulses.voltage`: negative for a device whose
   conductance rises under negative voltage, such as VTEAM). The selected devices see V, the
   other devices of column j and of the selected rows see V/2 (|V|/2 < |v_up|: checked), the
   rest 0 V. A column without a pulse keeps its (idle) phase, so runs batched on the twin share
   one grid.

Reads stay below the device's read limit (checked) but are not always non-disturbing: for the
MSS at 0.1 V P_on ≈ 1.4e-3, so a 4 µs read moves x by ≈ 5e-5·(1 − x) (at −0.1 V, −5e-5·x); both
backends keep this, since it is the circuit's own behaviour. Half-selected MSS devices (0.2 V for
0.4 V pulses) move by ≈ 3e-3·(1 − x) per phase, against ≈ 5e-2·(1 − x) for a selected one.

The logic current is K·(I⁺ − I⁻) with K the read-out gain. (choice) Device-to-device variation:
a run's shifts s_ij (S) become initial conductances g_min + (s_ij − min s), i.e. initial states
``kind.state_from_conductance`` of those (MSS: x0_ij = (s_ij − min s)/(1/r_on − 1/r_off);
interpolated between the states of g_min and g_max where G is affine in the state); the
common offset −min s cancels in every differential pair, so the logic conductances are
K·(G(x) − g_min) = K·[(G(x) − G(x_min)) + s_ij − min s]: the seed's form with the device's own
state-dependent pulse response in place of a fixed curve.

(choice) The twin is stochastic (``stochastic=True``) only for a kind whose step takes a
``noise`` argument (ξ ~ N(0, 1) shaped like the state: the MSS's finite-N mode); other kinds run
deterministic. The state carried to the next epoch is clamped to the states of [g_min, g_max]
(the finite-N noise can leave the MSS's x a hair outside [0, 1]). Only the kind's first state is
carried; a kind with several states is refused.

ngspice runs at the validator's tolerances (reltol 1e-6, abstol 1e-15, vntol 1e-9) with max step
dt/10; source edges take 1 ns. The twin samples each step's level, as the testbenches do.

:func:`export_netlist` writes a trained crossbar as an ngspice netlist (built by
:func:`spicegrad.crossbar.crossbar_netlist`) whose transient is the read pass of given patterns;
:func:`classify_netlist` runs it and applies the neurons f = tanh(β·K·(I⁺ − I⁻)) off-chip (as in
Prezioso et al.), returning activations and labels.
"""

from __future__ import annotations

import inspect
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .._io import atomic_write_json, atomic_write_text
from ..crossbar import CrossbarSpec, crossbar_netlist
from ..devices.pulses import check_pulsable
from ..errors import InputError
from ..spice import Netlist, pwl, run
from ..spice.options import SPICE_OPTIONS
from ..stimuli import Samples
from .devices import CellPulses, certify_cell, check_read_voltages

#: source edge time (s): far below dt, so ngspice's source matches the twin's held levels; a step
#: shorter than 1 µs takes an edge of 1/1000 of it (VTEAM's pulses last 0.35 ns)
EDGE = 1e-9


def _edge(dt: float) -> float:
    return min(EDGE, 1e-3 * dt)


@dataclass
class Schedule:
    """Source levels of one epoch on the twin's grid: ``rows`` [T, B, R], ``cols`` [T, B, Cp]
    (V, level of step k on [t_k, t_k+1)); ``read_at`` [P] step index of each pattern's sample."""

    rows: torch.Tensor
    cols: torch.Tensor
    read_at: list[int]
    dt: float

    @property
    def steps(self) -> int:
        return int(self.rows.shape[0])

    def device_voltages(self) -> torch.Tensor:
        """V_row_i − V_col_j per step, [T, B, R, Cp]."""
        return self.rows[:, :, :, None] - self.cols[:, :, None, :]


def cell_kind(params, kind=None):
    """``kind`` (a registered cell, by name or as a kind), or the one registered cell whose
    ``Params`` record ``params`` is; the kind must be pulse-programmable with one state."""
    from ..devices import registry

    if kind is None:
        found = [k for k in registry.kinds("cell") if isinstance(params, k.params)]
        if len(found) != 1:
            raise InputError(f"{type(params).__name__} is the Params record of {len(found)} registered cells "
                             f"({', '.join(k.name for k in found) or 'none'}): name the device (kind=...)")
        kind = found[0]
    kind = registry.get(kind) if isinstance(kind, str) else kind
    check_pulsable(kind)
    if len(kind.states) != 1:
        raise InputError(f"device {kind.name!r} has states {kind.states}: the Manhattan crossbar carries one "
                         "state per cell")
    return kind


def _phase(selected: torch.Tensor, j: int, pulses: CellPulses, voltage: float, cols: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Levels of programming phase ``j``: rows of ``selected`` [B, R] at +V/2 and column j at −V/2
    for ``width``, then 0 V for ``gap``."""
    n_on, n_gap = pulses.steps("width"), pulses.steps("gap")
    batch, rows = selected.shape
    half = voltage / 2
    row_lvl = torch.zeros(n_on + n_gap, batch, rows, dtype=torch.float64)
    col_lvl = torch.zeros(n_on + n_gap, batch, cols, dtype=torch.float64)
    row_lvl[:n_on] = half * selected.double()
    col_lvl[:n_on, :, j] = -half * selected.any(dim=1).double()
    return row_lvl, col_lvl


def program_schedule(mask: torch.Tensor, pulses: CellPulses, voltage: float | None = None) -> Schedule:
    """The programming phases for ``mask`` [B, R, Cp], one per physical column, with pulses of the
    signed ``voltage`` (V; default ``pulses.amplitude``, the polarity of a positive device)."""
    cols = mask.shape[2]
    v = pulses.amplitude if voltage is None else voltage
    phases = [_phase(mask[:, :, j], j, pulses, v, cols) for j in range(cols)]
    return Schedule(torch.cat([r for r, _ in phases]), torch.cat([c for _, c in phases]), [], pulses.dt)


def read_schedule(v: torch.Tensor, pulses: CellPulses, batch: int, cols: int) -> Schedule:
    """The read pass of ``v`` [P, R]: each pattern held for ``read_time``, columns at 0 V."""
    n_read = pulses.steps("read_time")
    rows = v.repeat_interleave(n_read, dim=0)[:, None, :].expand(-1, batch, -1)
    zeros = torch.zeros(rows.shape[0], batch, cols, dtype=torch.float64)
    return Schedule(rows, zeros, [p * n_read + n_read // 2 for p in range(v.shape[0])], pulses.dt)


def takes_noise(kind) -> bool:
    """Whether ``kind.step`` has a ``noise`` argument (a stochastic twin step)."""
    try:
        return "noise" in inspect.signature(kind.step).parameters
    except (TypeError, ValueError):
        return False


def run_twin(schedule: Schedule, x0: torch.Tensor, params, integrator: str,
             stochastic: bool = False, generator: torch.Generator | None = None,
             kind=None) -> tuple[torch.Tensor, torch.Tensor]:
    """Twin transient: (column currents at the read samples [B, P, Cp] (A), final states [B, R, Cp]).

    Steps the kind's twin (``kind.step``) through the schedule; the current of step k is
    ``kind.cell_current`` at its level and the state before the step."""
    kind = cell_kind(params, kind)
    v = schedule.device_voltages()
    noisy = stochastic and takes_noise(kind)
    x = torch.as_tensor(x0, dtype=v.dtype)
    x = x.expand(v.shape[1:]) if x.ndim == 0 else x
    sampled = {}
    wanted = set(schedule.read_at)
    for k in range(v.shape[0]):
        if k in wanted:
            sampled[k] = kind.cell_current(v[k], x, params)
        if noisy:
            noise = torch.randn(x.shape, generator=generator, dtype=v.dtype, device=v.device)
            x = kind.step(v[k], x, params, schedule.dt, integrator, noise)
        else:
            x = kind.step(v[k], x, params, schedule.dt, integrator)
    if not schedule.read_at:
        return torch.zeros(x.shape[0], 0, x.shape[2], dtype=v.dtype), x
    i_cols = torch.stack([sampled[k] for k in schedule.read_at]).sum(dim=2)  # [P, B, Cp]
    return i_cols.permute(1, 0, 2).contiguous(), x


def _level_source(levels: np.ndarray, dt: float):
    """A PWL source holding ``levels[k]`` over [k·dt + edge, (k+1)·dt] (DC 0 when all zero)."""
    if not np.any(levels):
        return 0.0
    times, values = [0.0], [float(levels[0])]
    for k in np.flatnonzero(np.diff(levels)) + 1:
        times += [k * dt, k * dt + _edge(dt)]
        values += [float(levels[k - 1]), float(levels[k])]
    times.append(len(levels) * dt)
    values.append(float(levels[-1]))
    return pwl(times, values)


def _pin_nodes(kind, te: str, be: str) -> list[str]:
    nodes = []
    for n, pin in enumerate(kind.pins):
        if n < 2:
            nodes.append((te, be)[n])
        elif pin in kind.grounded_pins:
            nodes.append("0")
        else:
            raise InputError(f"device {kind.name!r}: pin {pin!r} is neither te, be nor grounded; the Manhattan "
                             "crossbar connects two-terminal cells")
    return nodes


def _initial(kind, x: float, params) -> dict[str, float]:
    """Instance parameters that start a cell at state ``x``: the kind's initial-state parameter,
    else ``kind.program`` at the conductance of ``x``."""
    if kind.initial_state:
        return {kind.initial_state: float(x)}
    g = kind.conductance(torch.tensor([float(x)], dtype=torch.float64), params)
    return {name: float(np.asarray(value).ravel()[0]) for name, value in kind.program(np.asarray(g), params).items()}


def epoch_netlist(schedule: Schedule, x0: np.ndarray, params, kind=None) -> str:
    """ngspice netlist of one epoch of run 0 of ``schedule``, devices starting at ``x0`` [R, Cp]."""
    kind = cell_kind(params, kind)
    rows, cols = x0.shape
    net = Netlist(f"spicegrad manhattan epoch {rows}x{cols} {kind.name.upper()} crossbar")
    net.include(kind.lib_path())
    for i in range(rows):
        net.vsource(f"row_{i}", f"r_{i}", "0", _level_source(schedule.rows[:, 0, i].numpy(), schedule.dt))
    for j in range(cols):
        net.vsource(f"col_{j}", f"c_{j}", "0", _level_source(schedule.cols[:, 0, j].numpy(), schedule.dt))
    base = params.spice_params()
    for i in range(rows):
        for j in range(cols):
            net.subckt(f"d_{i}_{j}", _pin_nodes(kind, f"r_{i}", f"c_{j}"), kind.subckt,
                       {**base, **_initial(kind, x0[i, j], params)})
    net.options(**SPICE_OPTIONS, method="trap")
    net.tran(schedule.dt, schedule.steps * schedule.dt, max_step=schedule.dt / 10)
    net.save(*[f"i(vcol_{j})" for j in range(cols)], *[_probe(kind, i, j) for i in range(rows) for j in range(cols)])
    return net.render()


def _probe(kind, i: int, j: int) -> str:
    return kind.probe(f"d_{i}_{j}", kind.states[0])


def run_spice(schedule: Schedule, x0: torch.Tensor, params, kind=None) -> tuple[torch.Tensor, torch.Tensor]:
    """ngspice transient of run 0: (column currents [1, P, Cp] (A), final states [1, R, Cp])."""
    kind = cell_kind(params, kind)
    x0n = x0[0].numpy()
    rows, cols = x0n.shape
    res = run(epoch_netlist(schedule, x0n, params, kind))
    t_read = np.array(schedule.read_at, dtype=float) * schedule.dt
    i_cols = np.stack([res.at(f"i(vcol_{j})", t_read) for j in range(cols)], axis=-1)
    t_end = np.array([schedule.steps * schedule.dt])
    x_end = np.array([[res.at(_probe(kind, i, j), t_end)[0] for j in range(cols)] for i in range(rows)])
    return torch.tensor(i_cols)[None], torch.tensor(x_end)[None]


class CellCircuitCrossbar:
    """The crossbar of a pulse-programmable registered cell whose epochs run as circuit
    transients (twin or ngspice).

    Same interface as :class:`~spicegrad.manhattan.model.FormulaCrossbar`: ``g()`` logic
    conductances K·(G(x) − g_min) [B, R, Cp] (S), ``read(v)`` K × column currents (one
    transient), ``program(mask)`` (another transient), ``state()`` x.
    """

    def __init__(self, shifts: torch.Tensor, k: float, params, pulses: CellPulses,
                 backend: str = "twin", stochastic: bool = False, generator: torch.Generator | None = None,
                 allow_unvalidated: bool = False, kind=None):
        self.kind = cell_kind(params, pulses.device if kind is None else kind)
        pulses.check_device(params, half_select=True)
        self.voltage = pulses.voltage(params)
        self.certificate = certify_cell(self.kind, params, pulses, allow_unvalidated)
        self.params, self.pulses, self.k, self.backend = params, pulses, k, backend
        self.stochastic, self.generator = stochastic and takes_noise(self.kind), generator
        self.g_min, g_max = (float(g) for g in self.kind.conductance_range(params))
        span = g_max - self.g_min
        spread = shifts - shifts.amin(dim=(1, 2), keepdim=True)
        if bool((spread > span).any()):
            raise InputError(
                f"shifts spread over {float(shifts.amax() - shifts.amin()):.4g} S, more than the "
                f"{self.kind.name.upper()} conductance range g_max − g_min = {span:.4g} S: lower the shift scale")
        lo, hi = (float(self._state(torch.tensor(g, dtype=torch.float64))) for g in (self.g_min, g_max))
        if self._affine(lo, hi, span):
            self.x = lo + spread / span * (hi - lo)
        else:
            self.x = self._state(self.g_min + spread)
        self.x_range = (min(lo, hi), max(lo, hi))

    def _state(self, g: torch.Tensor) -> torch.Tensor:
        return torch.as_tensor(self.kind.state_from_conductance(g, self.params), dtype=torch.float64)

    def _affine(self, lo: float, hi: float, span: float) -> bool:
        """(choice) Whether G is affine in the state over [g_min, g_max] (checked at the quarter
        points to 1e-12 of the range): the initial states are then interpolated between the
        states of g_min and g_max, x0 = x_lo + (s − min s)/span·(x_hi − x_lo), which leaves the
        shifts' spread unrounded (MSS: x0 = (s − min s)/span exactly); otherwise they are
        ``state_from_conductance(g_min + s − min s)``."""
        u = torch.tensor([0.25, 0.5, 0.75], dtype=torch.float64)
        g = torch.as_tensor(self.kind.conductance(lo + u * (hi - lo), self.params), dtype=torch.float64)
        return bool(((g - (self.g_min + u * span)).abs() <= 1e-12 * span).all())

    def g(self) -> torch.Tensor:
        return self.k * (self.kind.conductance(self.x, self.params) - self.g_min)

    def state(self) -> torch.Tensor:
        return self.x.clone()

    def program(self, mask: torch.Tensor) -> None:
        if bool(mask.any()):
            self._run(program_schedule(mask, self.pulses, self.voltage))

    def read(self, v: torch.Tensor) -> torch.Tensor:
        return self.k * self._run(read_schedule(v, self.pulses, self.x.shape[0], self.x.shape[2]))

    def _run(self, schedule: Schedule) -> torch.Tensor:
        """Advance the states through ``schedule``; column currents at its read samples (A)."""
        if self.backend == "spice":
            i_cols, self.x = run_spice(schedule, self.x, self.params, self.kind)
        else:
            i_cols, x = run_twin(schedule, self.x, self.params, self.pulses.integrator,
                                 self.stochastic, self.generator, self.kind)
            self.x = x.clamp(*self.x_range)  # (choice) see the module docstring
        return i_cols


#: the former name, when only the MSS ran as a circuit
MSSCircuitCrossbar = CellCircuitCrossbar


# --- export --------------------------------------------------------------------------------


def device_conductances(model, run: int = 0) -> tuple[str, np.ndarray]:
    """(crossbar device, physical conductances [R, Cp] in S) that realise run ``run``'s logic
    conductances: a registered cell trained as a circuit (twin or spice backend) as its own device
    at its trained conductances; a curve or PCM as resistors G(0) + (g − min g)/K (the common
    offset cancels in each differential pair)."""
    g = model.history_.g[-1, run] / model.read_gain
    if model.kind is not None and model.backend != "curve":
        return model.kind.name, g + float(model.kind.conductance_range(model.params)[0])
    return "resistor", model.curve.g[0] + g - g.min()


def read_stimuli(v: np.ndarray, hold: float) -> tuple[list[Samples], np.ndarray]:
    """Row PWL stimuli holding pattern p on [p·hold, (p+1)·hold] and the sample times (mid-window)."""
    t, levels = [], []
    for p, row in enumerate(v):
        t += [p * hold + (_edge(hold) if p else 0.0), (p + 1) * hold]
        levels += [row, row]
    levels = np.array(levels)
    return [Samples(tuple(t), tuple(levels[:, i])) for i in range(v.shape[1])], (np.arange(len(v)) + 0.5) * hold


def export_netlist(model, X, path: str | Path, run: int = 0, source: str | None = None) -> dict:
    """Write run ``run`` of a fitted :class:`CrossbarPerceptron` as ``path`` (.cir) plus ``path``.json
    (β, K, targets, read-sample times, the twin's activations). Returns the JSON record. The
    netlist runs with plain ``ngspice -b``; its header names ``source`` (the command line)."""
    model._fitted()
    v = model.read_voltages(X)
    check_read_voltages(v, model.v_read_max, model.device_name)
    device, g = device_conductances(model, run)
    rows, cp = g.shape
    hold, dt = model.pulses.read_time, model.pulses.dt
    stimuli, t_read = read_stimuli(v, hold)
    params = model.params if device == getattr(model.kind, "name", None) else None
    text = crossbar_netlist(CrossbarSpec(rows, cp // 2, "differential"), device, g, params=params,
                            stimuli=stimuli, dt=dt, t_stop=len(v) * hold, max_step=dt / 10, source=source)
    meta = {"beta": model.beta, "k": model.read_gain, "targets": list(model.targets), "device": device,
            "sample_times_s": t_read.tolist(), "patterns_V": v.tolist(), "outputs": cp // 2,
            "twin_activations": model.activations(X)[run].tolist()}
    path = Path(path)
    atomic_write_text(path, text)
    atomic_write_json(path.with_suffix(".json"), meta)
    return meta


def classify_netlist(path: str | Path) -> dict[str, np.ndarray]:
    """Run an exported netlist; activations f [P, N] and labels (f above the targets' middle)."""
    path = Path(path)
    meta = json.loads(path.with_suffix(".json").read_text())
    res = run(path.read_text())
    t = np.array(meta["sample_times_s"])
    i_cols = np.stack([res.at(f"i(vsense_{j})", t) for j in range(2 * meta["outputs"])], axis=-1)
    f = np.tanh(meta["beta"] * meta["k"] * (i_cols[:, 0::2] - i_cols[:, 1::2]))
    return {"activations": f, "labels": (f > 0.5 * sum(meta["targets"])).astype(int), "currents": i_cols}
