r"""Twin crossbar layers: ideal and with wire resistance, and device state evolving in transient.

* :func:`column_currents` — currents into the column ammeters for row voltages V [B, R] and
  device conductances G [R, Cp]: exactly V·G on an ideal array (``spec.ideal``), otherwise the
  sparse nodal solve of :class:`~spicegrad.crossbar.nodal.NodalSystem` (wire, driver and sense
  resistances of the same :class:`~spicegrad.crossbar.topology.Network` ngspice is given).
* :class:`CrossbarLayer` — an ``nn.Module`` holding a weight matrix W [R, C]; forward maps W to
  conductances (:func:`~spicegrad.crossbar.mapping.weights_to_conductance`), reads the array
  and returns the outputs in weight units, Σ_i V_i·W_ik on an ideal array:
  ``I_k = Vᵀ(G⁺_k - G⁻_k)/scale`` per differential pair. Differentiable (twice) in V and W;
  inputs [*, R], output in the input's dtype and device, like ``nn.Linear``.
* :func:`simulate_crossbar` — a transient: per step t_k the nodal solve with the device
  conductances gives every device's voltage v_k, the column currents i_k, and the device steps its state
  (MSS: :func:`~spicegrad.devices.mss.mss_step`, ``exp-euler`` by default, ``euler``
  selectable), batched over independent runs. Time grid as the device twins: index 0 is the
  initial state, input sample k acts on [t_k, t_k+1) and should be the stimulus at the step
  midpoint (:func:`row_samples`), the last current uses the last sample with the final state.
  How each case is solved (measured choices, benchmarks/crossbar_bench.py):

  - stateless devices (resistor, PCM read): all time steps as one batch, one factorisation;
  - ideal wires: each device sees its row voltage, so the MSS update is affine in x with
    per-row coefficients: the trajectory is a log-depth affine scan per chunk of steps, and as
    the MSS conductance is affine in x too, the column currents are matrix products that never
    form the states (:mod:`spicegrad.crossbar.transient`; states are formed only where kept).
    Measured (benchmarks/batch_bench.py): 64 runs of a 32x32 array over 1000 steps keeping the
    currents and every 50th state, a few ms per run in one thread; kept whole, the float64
    trajectory alone is 1 GB;
  - wire resistance: a loop over steps; each step's nodal system is solved by CG
    preconditioned with a reused LU (:class:`~spicegrad.crossbar.nodal.ReusedFactorSolver`).
    Measured at 32x32 differential, 2.5 Ω, 1000 steps (4096 unknowns): 61 factorisations and
    ≈ 4 CG iterations per step, 1.4 s against 12.5 s for a fresh sparse LU every step (same
    machine and load); state difference between the two 2e-11. A dense batched solve is no
    alternative: 2·R·Cp unknowns make it O(10 GFLOP) per step at 32x32. The device voltage of
    step k is solved with the conductances at the step midpoint, extrapolated as
    x_k + (x_k - x_k-1)/2 (choice: second order like the midpoint row samples at one solve
    per step; with G(x_k) the 8x8 case is 40x further from ngspice, 1e-3 against 2.5e-5).
  - non-linear cells (a kind whose ``current`` is not v·G(x), see
    :meth:`~spicegrad.crossbar.devices.RegistryCell.is_linear`): on ideal wires each column
    current is Σ_rows current(V_i, x_ik) (the states follow the same scan); with wires each
    step's network is solved by chord iteration (:func:`~spicegrad.crossbar.nodal.solve_chord`,
    device voltages to 1e-9 V, started from the last step's) at the midpoint states. Linear
    kinds take the paths above unchanged (no extra iteration, the same numbers).

* :func:`neuron_transient` — MIF neurons on the outputs (``neurons="mif"``), as the netlist.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .._checks import has_values, require_dt, require_finite_tensor, require_positive
from ..devices.integrators import get_integrator
from ..devices.mif import MIF, MIFParams
from ..errors import InputError
from ..stimuli import step_samples
from .devices import get_device, get_neuron, resolve_params
from .mapping import weights_to_conductance
from .nodal import NodalSystem, ReusedFactorSolver, solve_chord
from .topology import CrossbarSpec
from .transient import OUTPUTS, Record, Recorder, ideal_transient, require_chunk, wired_transient


class CrossbarSolver:
    """Reads an array: ideal formula or nodal solve, chosen by the spec (pattern built once)."""

    def __init__(self, spec: CrossbarSpec):
        self.spec = spec
        self.system = None if spec.ideal else NodalSystem(spec)

    def solve(self, g: torch.Tensor, v_rows: torch.Tensor) -> dict[str, torch.Tensor]:
        """g [R, Cp] (S), v_rows [B, R] (V) -> {"i": [B, Cp] (A), "v_dev": [B, R, Cp] (V)}."""
        if self.system is None:
            v_dev = v_rows[:, :, None].expand(-1, -1, g.shape[-1])
            return {"i": v_rows @ g, "v_dev": v_dev}
        return self.system.solve(g, v_rows)


def column_currents(spec: CrossbarSpec, g: torch.Tensor, v_rows: torch.Tensor) -> torch.Tensor:
    """Currents into the column ammeters [B, Cp] (A) for v_rows [B, R] (V), g [R, Cp] (S)."""
    return CrossbarSolver(spec).solve(g, v_rows)["i"]


class CrossbarLayer(nn.Module):
    """Weights on a crossbar, used like ``nn.Linear``: ``forward(v [*, R]) -> outputs [*, C]``
    in weight units (Σ_i V_i·W_ik on an ideal array).

    ``g_min``, ``g_max`` (S) is the device's range and ``w_max`` the weight that maps to
    g_max; weights beyond it are clipped (gradient zero there), as in
    :func:`~spicegrad.crossbar.mapping.map_weights`.

    Torch conventions:

    * Shapes: the input is [*, R], row voltages (V) on the last axis and any leading axes
      ([R], [B, R], [B, T, R], ...); the output is [*, C] (:meth:`currents`: [*, Cp]). Any other
      input (not a tensor, not floating point, last axis not R) raises
      :class:`~spicegrad.errors.InputError` naming its shape and what is allowed.
    * dtype and device: the output has the input's dtype and device. The weight is a
      parameter (float64 unless ``dtype`` says otherwise; ``device`` as ``nn.Linear``) and moves
      with ``.to()``, ``.float()``, ``.double()``, ``.cuda()``.
    * Internal precision: an ideal array computes V·G on the input's device in the promoted
      dtype of input and weight. With wire resistance the nodal system is solved in float64 on
      the CPU (SuperLU, :class:`~spicegrad.crossbar.nodal.NodalSystem`) whatever the input
      dtype, and the outputs are cast back: the column currents are small differences of node
      voltages across wires far more conductive than the devices, and a float32 solve loses
      digits there. Measured at 32x16 differential, 1 Ω wires, 1/1500..1/500 S, 64 random
      inputs: a float32 SuperLU solve is off by 2e-5 of the largest output, the float64 solve
      cast back to float32 by 6e-8 (float32 rounding). Gradients flow back through the casts
      and device copies.
    * Differentiable twice (``torch.autograd.gradgradcheck`` passes), ideal or wired.
    """

    def __init__(self, spec: CrossbarSpec, g_min: float, g_max: float, w_max: float = 1.0,
                 weight: torch.Tensor | None = None, *, dtype: torch.dtype | None = None,
                 device: torch.device | str | None = None):
        super().__init__()
        dtype = torch.float64 if dtype is None else dtype
        if not dtype.is_floating_point:
            raise InputError(f"CrossbarLayer: dtype {dtype} is not a floating-point dtype")
        if not isinstance(spec, CrossbarSpec):
            raise InputError(f"CrossbarLayer: spec is a {type(spec).__name__}; need a CrossbarSpec")
        g_min = require_positive("CrossbarLayer", "g_min", g_min)
        g_max = require_positive("CrossbarLayer", "g_max", g_max)
        if g_max <= g_min:
            raise InputError(f"CrossbarLayer: g_max = {g_max!r} S must exceed g_min = {g_min!r} S")
        self.spec = spec
        self.g_min, self.w_max = g_min, require_positive("CrossbarLayer", "w_max", w_max)
        self.scale = (g_max - self.g_min) / self.w_max
        shape = (spec.rows, spec.cols)
        init = torch.zeros(shape) if weight is None else torch.as_tensor(weight)
        if tuple(init.shape) != shape:
            raise InputError(f"weight: shape {tuple(init.shape)} does not match the crossbar's {shape} (rows, cols)")
        self.weight = nn.Parameter(init.to(device=device, dtype=dtype, copy=True))
        self.solver = CrossbarSolver(spec)

    def conductance(self) -> torch.Tensor:
        """Device conductances [R, Cp] (S) in the weight's dtype and device."""
        return weights_to_conductance(self.weight, self.g_min, self.scale, self.w_max, self.spec.pairs)

    def _rows(self, v_rows: object) -> torch.Tensor:
        """The input as [N, R] (N = product of the leading axes), or InputError."""
        rows = self.spec.rows
        allowed = f"[*, {rows}]: the {rows} row voltages on the last axis, e.g. [{rows}], [B, {rows}], [B, T, {rows}]"
        if not isinstance(v_rows, torch.Tensor):
            raise InputError(f"CrossbarLayer: input is a {type(v_rows).__name__}; need a floating-point tensor {allowed}")
        if not v_rows.is_floating_point():
            raise InputError(f"CrossbarLayer: input dtype {v_rows.dtype} (shape {tuple(v_rows.shape)}); "
                             f"need a floating-point tensor {allowed}")
        if v_rows.ndim == 0 or v_rows.shape[-1] != rows:
            raise InputError(f"CrossbarLayer: input shape {tuple(v_rows.shape)}; need {allowed}")
        return v_rows.reshape(-1, rows)

    def _read(self, v: torch.Tensor, weight: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(column currents [N, Cp] (A), the row voltages [N, R] they were computed with), in the
        working dtype and device (see the class docstring), at ``weight`` (default the layer's)."""
        weight = self.weight if weight is None else weight
        if self.solver.system is None:
            dtype, device = torch.promote_types(v.dtype, weight.dtype), v.device
        elif v.device.type == "meta":  # shape inference: the sparse solve needs values, the shape does not
            return v.new_empty((v.shape[0], self.spec.physical_cols)), v
        else:
            dtype, device = torch.float64, torch.device("cpu")
        v = v.to(device=device, dtype=dtype)
        g = weights_to_conductance(weight.to(device=device, dtype=dtype), self.g_min, self.scale,
                                   self.w_max, self.spec.pairs)
        return self.solver.solve(g, v)["i"], v

    def currents(self, v_rows: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
        """Physical column currents [*, Cp] (A) for row voltages [*, R] (V), in the input's dtype
        and device; at ``weight`` [R, C] when given (a tensor in an autograd graph), else the
        layer's own."""
        i, _ = self._read(self._rows(v_rows), weight)
        return i.to(device=v_rows.device, dtype=v_rows.dtype).reshape(*v_rows.shape[:-1], i.shape[-1])

    def forward(self, v_rows: torch.Tensor) -> torch.Tensor:
        i, v = self._read(self._rows(v_rows))
        if self.spec.pairs == "differential":
            out = (i[:, 0::2] - i[:, 1::2]) / self.scale
        else:
            out = (i - self.g_min * v.sum(-1, keepdim=True)) / self.scale
        return out.to(device=v_rows.device, dtype=v_rows.dtype).reshape(*v_rows.shape[:-1], self.spec.cols)

    def extra_repr(self) -> str:
        s = self.spec
        return f"rows={s.rows}, cols={s.cols}, pairs={s.pairs!r}, ideal={s.ideal}, g_min={self.g_min:g}, w_max={self.w_max:g}"


def simulate_crossbar(
    spec: CrossbarSpec,
    device: str,
    g0: torch.Tensor,
    v_rows: torch.Tensor,
    dt: float,
    *,
    params=None,
    integrator: str = "exp-euler",
    neurons: str = "none",
    neuron_params=None,
    neuron_integrator: str = "exp-euler",
    stats: dict | None = None,
    keep=OUTPUTS,
    every: int = 1,
    probes=(),
    chunk: int | None = None,
) -> dict[str, torch.Tensor]:
    """Transient of the array: ``v_rows`` [T, R] or [T, B, R] (V), initial conductances ``g0``
    [R, Cp] or [1, R, Cp] (shared by the runs) or [B, R, Cp] (S; with [T, R] inputs the B runs
    share them). Returns ``state`` [n, B, R, Cp] (MSS: x; n = T+1 unless ``every``) with its
    step indices ``state_steps`` [n], ``i`` [T+1, B, Cp] (A, into the ammeters), ``v_dev``
    [T, B, R, Cp] (V) and ``final_state`` [B, R, Cp]; B = 1 for a [T, R] input and a shared g0.
    ``params``: one record for every run and device (vary parameters with one call per set);
    ``g0`` is not checked against the device's conductance range.

    What is kept (:class:`~spicegrad.crossbar.transient.Record`): ``keep`` any of ``"state"``,
    ``"i"``, ``"v_dev"`` (all by default); ``every`` k keeps the states of steps 0, k, 2k, ...
    only; ``probes`` (row, physical column) pairs add ``"probe"`` [T+1, B, P], those devices'
    states at every step. On ideal wires the steps run in chunks of ``chunk`` (default at most
    64 steps, :func:`~spicegrad.crossbar.transient.ideal_transient`), so that memory follows
    what is kept; wired arrays step one step at a time (``chunk`` unused).

    dtype and device: the input's (``v_rows``, float32 or float64; ``g0`` is cast to it); a meta
    tensor gives the shapes. With wire resistance the network is solved in float64 on the
    CPU whatever the input (see :class:`CrossbarLayer`), the states stay in the input's dtype and
    device. Sample k of ``v_rows`` is held over [t_k, t_k+1): pass each step's midpoint value
    (:func:`row_samples`) for second-order accuracy. ``integrator``: the device's state update,
    ``"exp-euler"`` (default; exact for v held over the step) or ``"euler"``.
    ``neurons="mif"`` adds one MIF neuron per output, fed I⁺ - I⁻ as in the netlist:
    ``v_mem``, ``neuron_x1``, ``neuron_x2`` [T+1, B, C] (see :func:`neuron_transient`; needs
    ``"i"`` kept). ``stats`` (a dict, optional) receives the wired solver's counters."""
    require_dt("simulate_crossbar", dt)
    require_finite_tensor("simulate_crossbar", "v_rows", v_rows)
    get_integrator(integrator)
    neuron = get_neuron(neurons)
    dev = get_device(device)
    params = resolve_params(dev, params)
    if v_rows.dtype not in (torch.float32, torch.float64):
        raise InputError(f"v_rows: dtype {v_rows.dtype}; need float32 or float64 (half precision cannot hold "
                         "the device rates)")
    v = v_rows[:, None, :] if v_rows.ndim == 2 else v_rows
    if v.ndim != 3 or v.shape[-1] != spec.rows or v.shape[0] == 0:
        raise InputError(f"v_rows: shape {tuple(v_rows.shape)}; need [T, {spec.rows}] or [T, B, {spec.rows}], T >= 1")
    shape = (spec.rows, spec.physical_cols)
    g0 = torch.as_tensor(g0).to(v)
    if g0.ndim == 3 and v.shape[1] == 1:  # runs that differ only in their initial states share the inputs
        v = v.expand(-1, g0.shape[0], -1)
    if g0.shape[-2:] != shape or g0.ndim not in (2, 3) or (g0.ndim == 3 and g0.shape[0] not in (1, v.shape[1])):
        raise InputError(f"g0: shape {tuple(g0.shape)}; need {list(shape)} or [{v.shape[1]}, {shape[0]}, {shape[1]}] "
                         "(runs, rows, physical columns; the runs are v_rows' B)")
    require_finite_tensor("simulate_crossbar", "g0", g0)
    record = Record.of(keep, every, probes, shape)
    require_chunk(chunk)
    if neuron is not None and not record.wants("i"):
        raise InputError("neurons: the neurons are driven by the column currents; keep 'i'")
    solver = CrossbarSolver(spec)
    state0 = dev.state_from_conductance(g0, params).expand(v.shape[1], *shape)
    linear = dev.is_linear(params, state0, float(v.detach().abs().max()) if has_values(v) else 0.0)
    if not dev.stateful and linear:
        out = _stateless_transient(solver, dev, params, state0, v, record)
    elif solver.system is None:
        out = ideal_transient(dev, params, state0, v, dt, integrator, linear, record, chunk)
    else:
        solve_step = _wired_solver(solver.system, dev, params, state0, v, stats, linear)
        out = wired_transient(solve_step, dev, params, state0, v, dt, integrator, record)
    if neuron is not None:
        out.update(neuron_transient(spec, out["i"], dt, neuron_params, neuron_integrator))
    return out


def row_samples(stimuli, dt: float, steps: int) -> torch.Tensor:
    """Row inputs [T, R] (V) for :func:`simulate_crossbar`: each stimulus at the step midpoints
    t_k + dt/2 (as the single-device testbenches, :func:`~spicegrad.stimuli.step_samples`)."""
    return torch.tensor(np.stack([step_samples(s, dt, steps) for s in stimuli], 1), dtype=torch.float64)


def output_currents(spec: CrossbarSpec, i: torch.Tensor) -> torch.Tensor:
    """Output currents [..., C] (A) from ammeter currents [..., Cp]: I⁺ - I⁻ per differential pair."""
    return i[..., 0::2] - i[..., 1::2] if spec.pairs == "differential" else i


def neuron_transient(spec: CrossbarSpec, i: torch.Tensor, dt: float, params=None,
                     integrator: str = "exp-euler") -> dict[str, torch.Tensor]:
    """MIF neurons on the outputs: the membrane of output k receives I⁺_k - I⁻_k.

    The columns stay at virtual ground (the netlist copies the ammeter currents into the
    neurons with CCCS), so the neurons load nothing and run after the array. (choice) Over
    [t_k, t_k+1) neuron k receives i_k, the output current with the row samples of step k and
    the device conductances the array step used (states at t_k on ideal arrays, extrapolated
    to the step midpoint on wired ones): exact for read-only devices (resistor, PCM). Initial
    state: each neuron's rest state (the netlist starts from the same values)."""
    p = MIFParams() if params is None else params
    if not isinstance(p, MIFParams):
        raise ValueError(f"neuron_params: expected MIFParams, got {type(p).__name__}")
    drive = output_currents(spec, i[:-1])
    mif = MIF(p)
    out = mif.simulate(drive, dt, integrator=integrator, state0=mif.rest_state(like=drive))
    return {"v_mem": out["v"], "neuron_x1": out["x1"], "neuron_x2": out["x2"]}


def _stateless_transient(solver, dev, params, state0, v, record):
    """Resistor/PCM read: conductances that do not move; all time steps of a run as one batch
    (one factorisation per distinct array: one for runs that share ``g0``, one per run else)."""
    steps, batch = v.shape[0], v.shape[1]
    shared = state0.stride(0) == 0
    g = dev.conductance(state0[:1] if shared else state0, params)
    if solver.system is not None and not has_values(v):
        i, v_dev = v.new_empty(steps + 1, batch, g.shape[-1]), v.new_empty(steps + 1, batch, *g.shape[-2:])
    else:
        rows = torch.cat([v, v[-1:]])  # [T+1, B, R]
        outs = [solver.solve(g[0], rows.reshape(-1, v.shape[-1]))] if shared else \
               [solver.solve(g[b], rows[:, b]) for b in range(batch)]
        i = torch.stack([o["i"].to(v).reshape(steps + 1, -1, g.shape[-1]) for o in outs], 1).reshape(steps + 1, batch, -1)
        v_dev = torch.stack([o["v_dev"].to(v).reshape(steps + 1, -1, *g.shape[-2:]) for o in outs], 1)
        v_dev = v_dev.reshape(steps + 1, batch, *g.shape[-2:])
    rec = Recorder(record, steps)
    rec.currents, rec.voltages = [i], [v_dev[:-1]]
    rec.states_block(0, state0.expand(steps + 1, *state0.shape))
    return rec.result()


def _wired_solver(system, dev, params, state0, v, stats, linear):
    """The per-step network solve of :func:`~spicegrad.crossbar.transient.wired_transient`: one
    differentiable :class:`~spicegrad.crossbar.nodal.ReusedFactorSolver` per run, and for
    non-linear cells a chord iteration per run and step (:func:`~spicegrad.crossbar.nodal.solve_chord`, started
    from the run's last device voltages; its count in ``stats["chord_iterations"]``).
    ``stats`` receives the counters as the run goes.

    (choice, measured at 32x32 differential, 2.5 Ω, runs with their own inputs and initial
    states) The runs do not share a factorisation: their conductances part as their states do,
    and one LU of the batch's mean conductances as every run's preconditioner needed 9-10 CG
    iterations per step against 3.6 with each run's own LU. Solving all runs' CG together in
    numpy (each with its own LU) was no faster than this loop either: the LU's triangular solves
    are most of the time, and their number is the same."""
    steps, batch = v.shape[0], v.shape[1]
    stats = {} if stats is None else stats
    if not has_values(v):  # meta: shapes only
        return lambda k, g, mid: (v.new_empty(batch, g.shape[-1]), v.new_empty(g.shape))
    factors = [ReusedFactorSolver(system) for _ in range(batch)]
    guesses = [None] * batch

    def solve_runs(k, g, mid):
        outs = []
        for b in range(batch):
            rows = v[min(k, steps - 1), b : b + 1]
            if linear:
                outs.append(system.solve(g[b], rows, factors[b]))
                continue
            out, its = solve_chord(system, lambda u, x=mid[b]: dev.current(u, x, params), g[b], rows, factors[b],
                                   guesses[b], f" (step {k}, run {b})")
            guesses[b] = out["v_dev"][0]
            stats["chord_iterations"] = stats.get("chord_iterations", 0) + its
            outs.append(out)
        for key in ("factorisations", "solves", "iterations"):
            stats[key] = sum(getattr(f, key) for f in factors)
        return torch.cat([o["i"] for o in outs]).to(v), torch.cat([o["v_dev"] for o in outs]).to(v)

    return solve_runs
