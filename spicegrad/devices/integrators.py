"""Fixed-step integrators for the twins, picked by name.

Every state of every twin evolves in *relaxation form* over one step, with its coefficients
frozen at the start of the step (the stimulus is piecewise constant on [t_k, t_k+1)):

    dy/dt = a - b·y,   b >= 0

``euler`` takes y + dt·(a - b·y) (stable for dt < 2/b, monotone for dt <= 1/b);
``exp-euler`` solves the frozen linear ODE exactly, y_inf + (y - y_inf)·exp(-b·dt), written as
y + dt·(a - b·y)·φ1(b·dt) with φ1(z) = (1 - e^-z)/z so that b -> 0 is safe and gradients stay
finite. Both are first order in dt and differentiable.
"""

from __future__ import annotations

import math

import torch


class Integrator:
    name = "base"

    def relax(self, y: torch.Tensor, a: torch.Tensor, b: torch.Tensor, dt: float) -> torch.Tensor:
        raise NotImplementedError(f"integrator {self.name!r} does not define relax()")

    def stable_dt(self, b_max: float) -> float:
        """Largest dt for which the update stays stable when the rate constant is ``b_max``."""
        return math.inf


class Euler(Integrator):
    name = "euler"

    def relax(self, y, a, b, dt):
        return y + dt * (a - b * y)

    def stable_dt(self, b_max: float) -> float:
        return 2.0 / b_max if b_max > 0 else math.inf


def phi1(z: torch.Tensor) -> torch.Tensor:
    """(1 - exp(-z))/z, with its z -> 0 limit 1 - z/2 + z²/6 (no 0/0 in value or gradient)."""
    small = z.abs() < 1e-4
    z_safe = torch.where(small, torch.ones_like(z), z)
    series = 1.0 - z / 2.0 + z * z / 6.0
    return torch.where(small, series, -torch.expm1(-z_safe) / z_safe)


class ExpEuler(Integrator):
    name = "exp-euler"

    def relax(self, y, a, b, dt):
        return y + dt * (a - b * y) * phi1(b * dt)


INTEGRATORS: dict[str, Integrator] = {i.name: i for i in (Euler(), ExpEuler())}


def get_integrator(name: str) -> Integrator:
    if name not in INTEGRATORS:
        raise ValueError(f"integrator = {name!r}: must be one of {', '.join(map(repr, INTEGRATORS))}")
    return INTEGRATORS[name]
