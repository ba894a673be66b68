r"""Alpha-shaped synaptic current driven by a spike train: differentiable twin of ``spicegrad/models/alpha.lib``.

MEMprop (seed 002, §III-C, Table II), reconstructed in docs/device-models.md **(choice)**: the
seed's table lost its symbols. A spike train S(t) = Σ_k n_k·δ(t - t_k) drives two states,
s (spikes) and i (A)::

    τ_α·ds/dt = -s + τ_α·S(t)
    τ_α·di/dt = -i + e·w·s                      (e = exp(1))

so one spike at t_k gives I(t) = w·((t - t_k)/τ_α)·exp(1 - (t - t_k)/τ_α): peak w at t_k + τ_α.

Discretisation (exact, the system is linear): spikes[k] (a count, float) arrive at t_k = k·dt,
at the start of step k. With q = exp(-dt/τ_α)::

    s⁺      = s_k + spikes_k
    i_{k+1} = q·(i_k + e·w·s⁺·dt/τ_α)
    s_{k+1} = q·s⁺

which is the exact solution of the ODE over [t_k, t_k+1) for any dt, so the twin has no
integration error at the grid points; s_k is the value just before the spikes of step k.

Modelling choices:

* (choice) ``w`` is the peak current (A) of one isolated spike, so e·w is the gain from s to i.
* (choice) In ngspice a spike is a narrow pulse on pin ``spk`` of area 1 V·s (height 1/width);
  the twin's impulse at t_k corresponds to a pulse starting at t_k of vanishing width.
* (choice) Both states start at 0.
"""

from __future__ import annotations

import dataclasses
import math
from typing import ClassVar, NamedTuple

import torch

from .._checks import (
    check_fields,
    require_dt,
    require_finite,
    require_finite_tensor,
    require_positive,
)
from ._base import DeviceParams, Twin, as_like, param


@dataclasses.dataclass(frozen=True)
class AlphaParams(DeviceParams):
    """Alpha-current kernel (defaults: MEMprop's τ_α = 0.64 ms, Table III as reconstructed)."""

    tau_alpha: float = param(0.64e-3, "s", "alpha-kernel time constant (time of the peak)")
    w: float = param(1e-6, "A", "peak current per unit spike (synaptic weight)")

    PRESETS: ClassVar[dict[str, dict]] = {"memprop": {}}

    def __post_init__(self) -> None:
        check_fields(self, {"tau_alpha": require_positive, "w": require_finite})


class AlphaState(NamedTuple):
    """State of the alpha kernel at t_k: s (spikes) and i (A)."""

    s: torch.Tensor
    i: torch.Tensor


def alpha_step(
    spikes: torch.Tensor, state: AlphaState, tau_alpha: float, w: torch.Tensor | float, dt: float
) -> AlphaState:
    """Advance the kernel by one step of ``dt`` with ``spikes`` arriving at its start (exact)."""
    q = math.exp(-dt / tau_alpha)
    s_plus = state.s + spikes
    i_next = q * (state.i + math.e * w * s_plus * (dt / tau_alpha))
    return AlphaState(q * s_plus, i_next)


class AlphaCurrent(Twin):
    """Alpha-current twin. ``AlphaCurrent(AlphaCurrent.Params(w=20e-6))``.

    ``w`` may be overridden per call by a tensor (e.g. a learnable weight, broadcast against the
    spike shape) so gradients flow to it.
    """

    Params = AlphaParams

    def simulate(
        self, spikes: torch.Tensor, dt: float, w: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        """Spike counts ``spikes`` (Tensor[T] or [T, *shape]) arriving at t_k = k·dt ->
        ``{"s", "i"}`` shaped [T+1, *shape] (index 0 = the zero initial state; i in A)."""
        require_dt("AlphaCurrent.simulate", dt)
        require_finite_tensor("AlphaCurrent.simulate", "spikes", spikes)
        if spikes.ndim == 0 or spikes.shape[0] == 0:
            raise ValueError(
                "AlphaCurrent.simulate: spikes must have a leading time axis of length >= 1, "
                f"got shape {tuple(spikes.shape)}"
            )
        weight = as_like(self.params.w, spikes) if w is None else w
        shape = torch.broadcast_shapes(spikes.shape[1:], torch.as_tensor(weight).shape)
        zero = torch.zeros(shape, dtype=spikes.dtype, device=spikes.device)
        state = AlphaState(zero, zero)
        s_trace, i_trace = [state.s], [state.i]
        for k in range(spikes.shape[0]):
            state = alpha_step(spikes[k], state, self.params.tau_alpha, weight, dt)
            s_trace.append(state.s)
            i_trace.append(state.i)
        return {"s": torch.stack(s_trace), "i": torch.stack(i_trace)}


def step_mean(trace: torch.Tensor) -> torch.Tensor:
    """Trapezoidal mean of a [T+1, ...] trace over each step: the input sample k for [t_k, t_k+1).

    Feeding a neuron twin this (rather than trace[:-1]) makes the held input match the
    continuous current to second order in dt.
    """
    return 0.5 * (trace[:-1] + trace[1:])
