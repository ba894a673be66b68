r"""The MSS crossbar in the training loop: read passes and programming pulses as circuit transients.

``backend="spice"`` runs every epoch in ngspice on ``spicegrad/models/mss.lib``; ``backend="twin"`` runs the
same waveforms through the MSS twin (:class:`~spicegrad.devices.MSS`), batched over runs. Both
start each epoch from the device states the previous one left, so conductance changes come
from the circuit itself (read disturbance and half-select disturbance included).

Circuit (ideal wires): row i is net ``r_i`` driven by source ``Vrow_i``; physical column j is net
``c_j`` held by source ``Vcol_j`` (0 V while reading: a virtual-ground ammeter whose branch current
i(vcol_j) is the column current); device ``Xd_i_j`` (te = r_i, be = c_j) sees V_row_i − V_col_j.

One epoch is two transients on the twin's grid t_k = k·dt (each level held over whole steps):

1. the read pass: pattern p on the rows for ``read_time`` (columns at 0 V); its column currents
   are sampled in the middle of its window (t = start + ⌊n_read/2⌋·dt).
2. programming (one more transient, when the read asked for pulses), column by column, V/2 scheme:
   in phase j the rows of the devices to SET in column j go to +A/2 and column j to −A/2 for
   ``width``, then everything rests at 0 V for ``gap``. The selected devices see A, the other
   devices of column j and of the selected rows see A/2 (< v_on: checked), the rest 0 V.
   A column without a pulse keeps its (idle) phase, so runs batched on the twin share one grid.

Reads stay below v_on (checked) but are not perfectly non-disturbing: at 0.1 V the MSS's
P_on ≈ 1.4e-3, so a 4 µs read moves x by ≈ 5e-5·(1 − x) (at −0.1 V, −5e-5·x); both backends
keep this, since it is the circuit's own behaviour. Half-selected devices (0.2 V for 0.4 V
pulses) move by ≈ 3e-3·(1 − x) per phase, against ≈ 5e-2·(1 − x) for a selected one.

The logic current is K·(I⁺ − I⁻) with K the read-out gain. (choice) Device-to-device variation:
a run's shifts s_ij (S) become initial states x0_ij = (s_ij − min s)/(1/r_on − 1/r_off); the
common offset −min s cancels in every differential pair, so the logic conductances are
K·(G(x) − 1/r_off) = K·[(G(x) − G(x=0)) + s_ij − min s]: the seed's form with the MSS's own
state-dependent pulse response in place of a fixed curve.

ngspice runs at the validator's tolerances (reltol 1e-6, abstol 1e-15, vntol 1e-9) with max step
dt/10; source edges take 1 ns. The twin samples each step's level, as the testbenches do.

:func:`export_netlist` writes a trained crossbar as an ngspice netlist (built by
:func:`spicegrad.crossbar.crossbar_netlist`) whose transient is the read pass of given patterns;
:func:`classify_netlist` runs it and applies the neurons f = tanh(β·K·(I⁺ − I⁻)) off-chip (as in
Prezioso et al.), returning activations and labels.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .._io import atomic_write_json, atomic_write_text
from ..crossbar import CrossbarSpec, crossbar_netlist
from ..devices.mss import MSS, MSSParams, mss_conductance, mss_conductance_range
from ..spice import Netlist, lib_path, pwl, run
from ..spice.options import SPICE_OPTIONS
from ..stimuli import Samples
from .devices import MSSPulses, certify_mss, check_read_voltages

#: source edge time (s): far below dt, so ngspice's source matches the twin's held levels
EDGE = 1e-9


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


def _phase(selected: torch.Tensor, j: int, pulses: MSSPulses, cols: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Levels of programming phase ``j``: rows of ``selected`` [B, R] at +A/2 and column j at −A/2
    for ``width``, then 0 V for ``gap``."""
    n_on, n_gap = pulses.steps("width"), pulses.steps("gap")
    batch, rows = selected.shape
    half = pulses.amplitude / 2
    row_lvl = torch.zeros(n_on + n_gap, batch, rows, dtype=torch.float64)
    col_lvl = torch.zeros(n_on + n_gap, batch, cols, dtype=torch.float64)
    row_lvl[:n_on] = half * selected.double()
    col_lvl[:n_on, :, j] = -half * selected.any(dim=1).double()
    return row_lvl, col_lvl


def program_schedule(mask: torch.Tensor, pulses: MSSPulses) -> Schedule:
    """The programming phases for ``mask`` [B, R, Cp], one per physical column."""
    cols = mask.shape[2]
    phases = [_phase(mask[:, :, j], j, pulses, cols) for j in range(cols)]
    return Schedule(torch.cat([r for r, _ in phases]), torch.cat([c for _, c in phases]), [], pulses.dt)


def read_schedule(v: torch.Tensor, pulses: MSSPulses, batch: int, cols: int) -> Schedule:
    """The read pass of ``v`` [P, R]: each pattern held for ``read_time``, columns at 0 V."""
    n_read = pulses.steps("read_time")
    rows = v.repeat_interleave(n_read, dim=0)[:, None, :].expand(-1, batch, -1)
    zeros = torch.zeros(rows.shape[0], batch, cols, dtype=torch.float64)
    return Schedule(rows, zeros, [p * n_read + n_read // 2 for p in range(v.shape[0])], pulses.dt)


def run_twin(schedule: Schedule, x0: torch.Tensor, params: MSSParams, integrator: str,
             stochastic: bool = False, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Twin transient: (column currents at the read samples [B, P, Cp] (A), final states [B, R, Cp])."""
    out = MSS(params).simulate(schedule.device_voltages(), schedule.dt, x0=x0, integrator=integrator,
                               stochastic=stochastic, generator=generator)
    i_cols = out["i"][schedule.read_at].sum(dim=2)  # [P, B, Cp] (P = 0 for programming)
    return i_cols.permute(1, 0, 2).contiguous(), out["x"][-1]


def _level_source(levels: np.ndarray, dt: float):
    """A PWL source holding ``levels[k]`` over [k·dt + EDGE, (k+1)·dt] (DC 0 when all zero)."""
    if not np.any(levels):
        return 0.0
    times, values = [0.0], [float(levels[0])]
    for k in np.flatnonzero(np.diff(levels)) + 1:
        times += [k * dt, k * dt + EDGE]
        values += [float(levels[k - 1]), float(levels[k])]
    times.append(len(levels) * dt)
    values.append(float(levels[-1]))
    return pwl(times, values)


def epoch_netlist(schedule: Schedule, x0: np.ndarray, params: MSSParams) -> str:
    """ngspice netlist of one epoch of run 0 of ``schedule``, devices starting at ``x0`` [R, Cp]."""
    rows, cols = x0.shape
    net = Netlist(f"spicegrad manhattan epoch {rows}x{cols} MSS crossbar")
    net.include(lib_path("mss"))
    for i in range(rows):
        net.vsource(f"row_{i}", f"r_{i}", "0", _level_source(schedule.rows[:, 0, i].numpy(), schedule.dt))
    for j in range(cols):
        net.vsource(f"col_{j}", f"c_{j}", "0", _level_source(schedule.cols[:, 0, j].numpy(), schedule.dt))
    base = params.spice_params()
    for i in range(rows):
        for j in range(cols):
            net.subckt(f"d_{i}_{j}", [f"r_{i}", f"c_{j}"], "mss", {**base, "x0": float(x0[i, j])})
    net.options(**SPICE_OPTIONS, method="trap")
    net.tran(schedule.dt, schedule.steps * schedule.dt, max_step=schedule.dt / 10)
    net.save(*[f"i(vcol_{j})" for j in range(cols)], *[f"v(xd_{i}_{j}.x)" for i in range(rows) for j in range(cols)])
    return net.render()


def run_spice(schedule: Schedule, x0: torch.Tensor, params: MSSParams) -> tuple[torch.Tensor, torch.Tensor]:
    """ngspice transient of run 0: (column currents [1, P, Cp] (A), final states [1, R, Cp])."""
    x0n = x0[0].numpy()
    rows, cols = x0n.shape
    res = run(epoch_netlist(schedule, x0n, params))
    t_read = np.array(schedule.read_at, dtype=float) * schedule.dt
    i_cols = np.stack([res.at(f"i(vcol_{j})", t_read) for j in range(cols)], axis=-1)
    t_end = np.array([schedule.steps * schedule.dt])
    x_end = np.array([[res.at(f"xd_{i}_{j}.x", t_end)[0] for j in range(cols)] for i in range(rows)])
    return torch.tensor(i_cols)[None], torch.tensor(x_end)[None]


class MSSCircuitCrossbar:
    """The crossbar of MSS devices whose epochs run as circuit transients (twin or ngspice).

    Same interface as :class:`~spicegrad.manhattan.model.FormulaCrossbar`: ``g()`` logic
    conductances K·(G(x) − 1/r_off) [B, R, Cp] (S), ``read(v)`` K × column currents (one
    transient), ``program(mask)`` (another transient), ``state()`` x.
    """

    def __init__(self, shifts: torch.Tensor, k: float, params: MSSParams, pulses: MSSPulses,
                 backend: str = "twin", stochastic: bool = False, generator: torch.Generator | None = None,
                 allow_unvalidated: bool = False):
        pulses.check_device(params, half_select=True)
        self.certificate = certify_mss(params, pulses, allow_unvalidated)
        self.params, self.pulses, self.k, self.backend = params, pulses, k, backend
        self.stochastic, self.generator = stochastic, generator
        g_min, g_max = mss_conductance_range(params)
        span = g_max - g_min
        self.x = (shifts - shifts.amin(dim=(1, 2), keepdim=True)) / span
        if bool((self.x > 1).any()):
            raise ValueError(
                f"shifts spread over {float(shifts.amax() - shifts.amin()):.4g} S, more than the MSS "
                f"conductance range 1/r_on − 1/r_off = {span:.4g} S: lower the shift scale"
            )

    def g(self) -> torch.Tensor:
        return self.k * (mss_conductance(self.x, self.params) - mss_conductance_range(self.params)[0])

    def state(self) -> torch.Tensor:
        return self.x.clone()

    def program(self, mask: torch.Tensor) -> None:
        if bool(mask.any()):
            self._run(program_schedule(mask, self.pulses))

    def read(self, v: torch.Tensor) -> torch.Tensor:
        return self.k * self._run(read_schedule(v, self.pulses, self.x.shape[0], self.x.shape[2]))

    def _run(self, schedule: Schedule) -> torch.Tensor:
        """Advance the states through ``schedule``; column currents at its read samples (A)."""
        if self.backend == "spice":
            i_cols, self.x = run_spice(schedule, self.x, self.params)
        else:
            i_cols, x = run_twin(schedule, self.x, self.params, self.pulses.integrator,
                                 self.stochastic, self.generator)
            # (choice) the finite-N noise can leave x a hair outside [0, 1] (mss.py); the state
            # carried to the next epoch is clamped, as a fraction of switches must be
            self.x = x.clamp(0.0, 1.0)
        return i_cols


# --- export --------------------------------------------------------------------------------


def device_conductances(model, run: int = 0) -> tuple[str, np.ndarray]:
    """(crossbar device, physical conductances [R, Cp] in S) that realise run ``run``'s logic
    conductances: MSS states as they are; a curve or PCM as resistors G(0) + (g − min g)/K
    (the common offset cancels in each differential pair)."""
    g = model.history_.g[-1, run] / model.k
    if model.device == "mss" and model.backend != "curve":
        return "mss", g + mss_conductance_range(model.mss_params)[0]
    return "resistor", model.curve.g[0] + g - g.min()


def read_stimuli(v: np.ndarray, hold: float) -> tuple[list[Samples], np.ndarray]:
    """Row PWL stimuli holding pattern p on [p·hold, (p+1)·hold] and the sample times (mid-window)."""
    t, levels = [], []
    for p, row in enumerate(v):
        t += [p * hold + (EDGE if p else 0.0), (p + 1) * hold]
        levels += [row, row]
    levels = np.array(levels)
    return [Samples(tuple(t), tuple(levels[:, i])) for i in range(v.shape[1])], (np.arange(len(v)) + 0.5) * hold


def export_netlist(model, X, path: str | Path, run: int = 0, source: str | None = None) -> dict:
    """Write run ``run`` of a fitted :class:`CrossbarPerceptron` as ``path`` (.cir) plus ``path``.json
    (β, K, targets, read-sample times, the twin's activations). Returns the JSON record. The
    netlist runs with plain ``ngspice -b``; its header names ``source`` (the command line)."""
    model._fitted()
    v = np.asarray(X, dtype=float)
    check_read_voltages(v, model.v_read_max, model.device_name)
    device, g = device_conductances(model, run)
    rows, cp = g.shape
    hold, dt = model.pulses.read_time, model.pulses.dt
    stimuli, t_read = read_stimuli(v, hold)
    text = crossbar_netlist(CrossbarSpec(rows, cp // 2, "differential"), device, g, params=None,
                            stimuli=stimuli, dt=dt, t_stop=len(v) * hold, max_step=dt / 10, source=source)
    meta = {"beta": model.beta, "k": model.k, "targets": list(model.targets), "device": device,
            "sample_times_s": t_read.tolist(), "patterns_V": v.tolist(), "outputs": cp // 2,
            "twin_activations": model.activations(v)[run].tolist()}
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
