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
    per-row coefficients and the whole trajectory is one log-depth affine scan (no loop);
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

from .._checks import require_dt, require_finite_tensor, require_positive
from ..devices.integrators import get_integrator
from ..devices.mif import MIF, MIFParams
from ..errors import InputError
from ..stimuli import step_samples
from .devices import get_device, get_neuron, resolve_params
from .mapping import weights_to_conductance
from .nodal import NodalSystem, ReusedFactorSolver, solve_chord
from .topology import CrossbarSpec


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

    def _read(self, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(column currents [N, Cp] (A), the row voltages [N, R] they were computed with), in the
        working dtype and device (see the class docstring)."""
        if self.solver.system is None:
            dtype, device = torch.promote_types(v.dtype, self.weight.dtype), v.device
        elif v.device.type == "meta":  # shape inference: the sparse solve needs values, the shape does not
            return v.new_empty((v.shape[0], self.spec.physical_cols)), v
        else:
            dtype, device = torch.float64, torch.device("cpu")
        v = v.to(device=device, dtype=dtype)
        g = weights_to_conductance(self.weight.to(device=device, dtype=dtype), self.g_min, self.scale,
                                   self.w_max, self.spec.pairs)
        return self.solver.solve(g, v)["i"], v

    def currents(self, v_rows: torch.Tensor) -> torch.Tensor:
        """Physical column currents [*, Cp] (A) for row voltages [*, R] (V), in the input's dtype
        and device."""
        i, _ = self._read(self._rows(v_rows))
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
) -> dict[str, torch.Tensor]:
    """Transient of the array: ``v_rows`` [T, R] or [T, B, R] (V), initial conductances ``g0``
    [R, Cp] (S). Returns ``state`` [T+1, B, R, Cp] (MSS: x), ``i`` [T+1, B, Cp] (A, into the
    ammeters) and ``v_dev`` [T, B, R, Cp] (V); B = 1 for a [T, R] input.

    Sample k of ``v_rows`` is held over [t_k, t_k+1): pass each step's midpoint value
    (:func:`row_samples`) for second-order accuracy. ``integrator``: the device's state update,
    ``"exp-euler"`` (default; exact for v held over the step) or ``"euler"``.
    ``neurons="mif"`` adds one MIF neuron per output, fed I⁺ - I⁻ as in the netlist:
    ``v_mem``, ``neuron_x1``, ``neuron_x2`` [T+1, B, C] (see :func:`neuron_transient`).
    ``stats`` (a dict, optional) receives the wired solver's counters."""
    require_dt("simulate_crossbar", dt)
    require_finite_tensor("simulate_crossbar", "v_rows", v_rows)
    get_integrator(integrator)
    neuron = get_neuron(neurons)
    dev = get_device(device)
    params = resolve_params(dev, params)
    v = v_rows.to(torch.float64)
    v = v[:, None, :] if v.ndim == 2 else v
    if v.ndim != 3 or v.shape[-1] != spec.rows or v.shape[0] == 0:
        raise ValueError(f"v_rows: shape {tuple(v_rows.shape)}; need [T, {spec.rows}] or [T, B, {spec.rows}], T >= 1")
    solver = CrossbarSolver(spec)
    state0 = dev.state_from_conductance(torch.as_tensor(g0, dtype=torch.float64), params)
    linear = dev.is_linear(params, state0, float(v.detach().abs().max()))
    if not dev.stateful and linear:
        out = _stateless_transient(solver, dev, params, state0, v)
    elif solver.system is None:
        out = _ideal_transient(dev, params, state0.expand(v.shape[1], *state0.shape[-2:]), v, dt, integrator,
                               linear)
    else:
        out = _wired_transient(solver, dev, params, state0.expand(v.shape[1], *state0.shape[-2:]), v, dt,
                               integrator, stats, linear)
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


def _stateless_transient(solver, dev, params, state0, v):
    """Resistor/PCM read: one conductance, all time steps as one batch (one factorisation)."""
    steps, batch = v.shape[0], v.shape[1]
    g = dev.conductance(state0, params)
    out = solver.solve(g, torch.cat([v, v[-1:]]).reshape(-1, v.shape[-1]))
    return {"state": state0.expand(steps + 1, batch, *g.shape), "i": out["i"].reshape(steps + 1, batch, -1),
            "v_dev": out["v_dev"].reshape(steps + 1, batch, *g.shape)[:-1]}


def _affine_scan(alpha: torch.Tensor, beta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Inclusive scan over dim 0 of x_k+1 = alpha_k·x_k + beta_k: (P_k, Q_k) with
    x_k+1 = P_k·x_0 + Q_k, in ceil(log2 T) vectorised passes (Hillis-Steele); differentiable."""
    d = 1
    while d < alpha.shape[0]:
        a_prev = torch.cat([torch.ones_like(alpha[:d]), alpha[:-d]])
        b_prev = torch.cat([torch.zeros_like(beta[:d]), beta[:-d]])
        alpha, beta = alpha * a_prev, alpha * b_prev + beta
        d *= 2
    return alpha, beta


def _ideal_transient(dev, params, state, v, dt, integrator, linear=True):
    """Ideal wires: every device of row i sees V_i, so its update is x <- alpha_ik·x + beta_ik with
    per-row coefficients (MSS under either integrator). The whole trajectory is one affine scan
    over time (no per-step loop); the currents follow in one batch. Devices whose update is not
    affine in the state are stepped one by one; a stateless device keeps its state. Non-linear
    cells (``linear`` False): column current Σ_rows current(V_i, x_ik)."""
    aff = dev.affine_step(v[..., None], params, dt, integrator) if dev.stateful else None
    if not dev.stateful:
        states = state.expand(v.shape[0] + 1, *state.shape)
    elif aff is None:
        states = [state]
        for k in range(v.shape[0]):
            states.append(dev.step(v[k][:, :, None], states[-1], params, dt, integrator))
        states = torch.stack(states)
    else:
        p, q = _affine_scan(*aff)
        states = torch.cat([state[None], p * state + q])
    v_read = torch.cat([v, v[-1:]])
    if not linear:
        return {"state": states, "i": dev.current(v_read[..., None], states, params).sum(-2),
                "v_dev": v[:, :, :, None].expand(-1, -1, -1, states.shape[-1])}
    g = dev.conductance(states, params)
    return {"state": states, "i": torch.einsum("tbr,tbrc->tbc", v_read, g),
            "v_dev": v[:, :, :, None].expand(-1, -1, -1, g.shape[-1])}


def _wired_transient(solver, dev, params, state, v, dt, integrator, stats, linear=True):
    """Wire resistance: per step the nodal solve with G(state_k) (one
    :class:`~spicegrad.crossbar.nodal.ReusedFactorSolver` per run of the batch), then the state
    update. Non-linear cells (``linear`` False): each step's solve is a chord iteration
    (:func:`~spicegrad.crossbar.nodal.solve_chord`) from the last step's device voltages, its
    count in ``stats["chord_iterations"]``; a stateless device keeps its state."""
    steps = v.shape[0]
    factors = [ReusedFactorSolver(solver.system) for _ in range(state.shape[0])]
    states, currents, voltages = [state], [], []
    previous = state
    guesses, chords = [None] * state.shape[0], 0
    for k in range(steps + 1):
        # (choice) conductances at the step midpoint, extrapolated from the last step's change:
        # second order like the midpoint row samples, at one solve per step
        mid = state + 0.5 * (state - previous)
        g = dev.conductance(mid, params)  # with non-linear cells: the chords' v -> 0 limit
        previous = state
        if linear:
            outs = [solver.system.solve(g[b], v[min(k, steps - 1), b : b + 1], factors[b]) for b in range(g.shape[0])]
        else:
            outs = []
            for b in range(g.shape[0]):
                out, its = solve_chord(solver.system, lambda u, x=mid[b]: dev.current(u, x, params), g[b],
                                       v[min(k, steps - 1), b : b + 1], factors[b], guesses[b], f" (step {k}, run {b})")
                outs.append(out)
                guesses[b], chords = out["v_dev"][0], chords + its
        currents.append(torch.cat([o["i"] for o in outs]))
        if k == steps:
            break
        voltages.append(torch.cat([o["v_dev"] for o in outs]))
        if dev.stateful:
            state = dev.step(voltages[-1], state, params, dt, integrator)
        states.append(state)
    if stats is not None:
        for key in ("factorisations", "solves", "iterations"):
            stats[key] = sum(getattr(f, key) for f in factors)
        if not linear:
            stats["chord_iterations"] = chords
    return {"state": torch.stack(states), "i": torch.stack(currents), "v_dev": torch.stack(voltages)}
