r"""Twin crossbar layers: ideal and with wire resistance, and device state evolving in transient.

* :func:`column_currents` — currents into the column ammeters for row voltages V [B, R] and
  device conductances G [R, Cp]: exactly V·G on an ideal array (``spec.ideal``), otherwise the
  sparse nodal solve of :class:`~spicegrad.crossbar.nodal.NodalSystem` (wire, driver and sense
  resistances of the same :class:`~spicegrad.crossbar.topology.Network` ngspice is given).
* :class:`CrossbarLayer` — an ``nn.Module`` holding a weight matrix W [R, C]; forward maps W to
  conductances (:func:`~spicegrad.crossbar.mapping.weights_to_conductance`), reads the array
  and returns the outputs in weight units, Σ_i V_i·W_ik on an ideal array:
  ``I_k = Vᵀ(G⁺_k - G⁻_k)/scale`` per differential pair. Differentiable in V and W.
* :func:`simulate_crossbar` — a transient: per step t_k the nodal solve with G(state_k) gives
  every device's voltage v_k, the column currents i_k, and the device steps its state
  (MSS: :func:`~spicegrad.devices.mss.mss_step`), batched over independent runs. Stateless
  devices (resistor, PCM read) solve all time steps as one batch with one factorisation.
  Time grid as the device twins: index 0 is the initial state, input sample k acts on
  [t_k, t_k+1), the last current uses the last sample with the final state.
"""

from __future__ import annotations

import torch
from torch import nn

from .._checks import require_dt, require_finite_tensor
from .devices import get_device, resolve_params
from .mapping import weights_to_conductance
from .nodal import NodalSystem
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
    """Weights on a crossbar: ``forward(v [B, R]) -> outputs [B, C]`` in weight units.

    ``g_min``, ``g_max`` (S) is the device's range and ``w_max`` the weight that maps to
    g_max; weights beyond it are clipped (gradient zero there), as in
    :func:`~spicegrad.crossbar.mapping.map_weights`.
    """

    def __init__(self, spec: CrossbarSpec, g_min: float, g_max: float, w_max: float = 1.0, weight: torch.Tensor | None = None):
        super().__init__()
        self.spec = spec
        self.g_min, self.w_max = float(g_min), float(w_max)
        self.scale = (float(g_max) - self.g_min) / self.w_max
        init = torch.zeros(spec.rows, spec.cols, dtype=torch.float64) if weight is None else torch.as_tensor(weight, dtype=torch.float64)
        if init.shape != (spec.rows, spec.cols):
            raise ValueError(f"weight: shape {tuple(init.shape)} does not match the crossbar's {(spec.rows, spec.cols)}")
        self.weight = nn.Parameter(init.clone())
        self.solver = CrossbarSolver(spec)

    def conductance(self) -> torch.Tensor:
        return weights_to_conductance(self.weight, self.g_min, self.scale, self.w_max, self.spec.pairs)

    def currents(self, v_rows: torch.Tensor) -> torch.Tensor:
        """Physical column currents [B, Cp] (A)."""
        return self.solver.solve(self.conductance(), v_rows.to(torch.float64))["i"]

    def forward(self, v_rows: torch.Tensor) -> torch.Tensor:
        i = self.currents(v_rows)
        if self.spec.pairs == "differential":
            return (i[:, 0::2] - i[:, 1::2]) / self.scale
        return (i - self.g_min * v_rows.to(i).sum(-1, keepdim=True)) / self.scale


def simulate_crossbar(
    spec: CrossbarSpec,
    device: str,
    g0: torch.Tensor,
    v_rows: torch.Tensor,
    dt: float,
    *,
    params=None,
    integrator: str = "euler",
) -> dict[str, torch.Tensor]:
    """Transient of the array: ``v_rows`` [T, R] or [T, B, R] (V), initial conductances ``g0``
    [R, Cp] (S). Returns ``state`` [T+1, B, R, Cp] (MSS: x), ``i`` [T+1, B, Cp] (A, into the
    ammeters) and ``v_dev`` [T, B, R, Cp] (V); B = 1 for a [T, R] input."""
    require_dt("simulate_crossbar", dt)
    require_finite_tensor("simulate_crossbar", "v_rows", v_rows)
    dev = get_device(device)
    params = resolve_params(dev, params)
    v = v_rows.to(torch.float64)
    v = v[:, None, :] if v.ndim == 2 else v
    if v.ndim != 3 or v.shape[-1] != spec.rows:
        raise ValueError(f"v_rows: shape {tuple(v_rows.shape)}; need [T, {spec.rows}] or [T, B, {spec.rows}]")
    steps, batch = v.shape[0], v.shape[1]
    solver = CrossbarSolver(spec)
    state0 = dev.state_from_conductance(torch.as_tensor(g0, dtype=torch.float64), params)
    if not dev.stateful:
        g = dev.conductance(state0, params)
        flat = torch.cat([v, v[-1:]]).reshape(-1, spec.rows)
        out = solver.solve(g, flat)
        i = out["i"].reshape(steps + 1, batch, -1)
        v_dev = out["v_dev"].reshape(steps + 1, batch, *g.shape)[:-1]
        return {"state": state0.expand(steps + 1, batch, *g.shape), "i": i, "v_dev": v_dev}
    state = state0.expand(batch, *state0.shape[-2:])
    if solver.system is None:
        return _ideal_transient(dev, params, state, v, dt, integrator)
    states, currents, voltages = [state], [], []
    for k in range(steps + 1):
        g = dev.conductance(state, params)
        out = _solve_batched(solver, g, v[min(k, steps - 1)])
        currents.append(out["i"])
        if k == steps:
            break
        voltages.append(out["v_dev"])
        state = dev.step(out["v_dev"], state, params, dt, integrator)
        states.append(state)
    return {"state": torch.stack(states), "i": torch.stack(currents), "v_dev": torch.stack(voltages)}


def _ideal_transient(dev, params, state, v, dt, integrator):
    """Ideal wires: every device of row i sees V_i, so the loop only steps the state (its rates
    computed once per row, broadcast over the columns) and the currents follow in one batch."""
    states = [state]
    for k in range(v.shape[0]):
        state = dev.step(v[k][:, :, None], state, params, dt, integrator)
        states.append(state)
    states = torch.stack(states)
    v_read = torch.cat([v, v[-1:]])
    g = dev.conductance(states, params)
    return {"state": states, "i": torch.einsum("tbr,tbrc->tbc", v_read, g),
            "v_dev": v[:, :, :, None].expand(-1, -1, -1, g.shape[-1])}


def _solve_batched(solver: CrossbarSolver, g: torch.Tensor, v_rows: torch.Tensor) -> dict[str, torch.Tensor]:
    """Per-run conductances g [B, R, Cp] with v_rows [B, R]."""
    if solver.system is None:
        return {"i": torch.einsum("br,brc->bc", v_rows, g), "v_dev": v_rows[:, :, None].expand_as(g)}
    outs = [solver.solve(g[b], v_rows[b : b + 1]) for b in range(g.shape[0])]
    return {key: torch.cat([o[key] for o in outs]) for key in ("i", "v_dev")}
