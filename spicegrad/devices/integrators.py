"""Fixed-step integrators for the twins, picked by name.

Every state of every twin evolves in *relaxation form* over one step, with its coefficients
frozen at the start of the step (the stimulus is piecewise constant on [t_k, t_k+1)):

    dy/dt = a - b·y,   b >= 0

``euler`` takes y + dt·(a - b·y) (stable for dt < 2/b, monotone for dt <= 1/b);
``exp-euler`` solves the frozen linear ODE exactly, y_inf + (y - y_inf)·exp(-b·dt), written as
y + dt·(a - b·y)·φ1(b·dt) with φ1(z) = (1 - e^-z)/z so that b -> 0 is safe and gradients stay
finite (b >= 0 always: it is a sum of rates). Both are first order in dt and differentiable.
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


#: below this z, φ1 is evaluated at Z_FLOOR: 1 - z/2 differs from 1 by < 5e-13 there
Z_FLOOR = 1e-12


def phi1(z: torch.Tensor) -> torch.Tensor:
    """(1 - exp(-z))/z for z >= 0, with z floored at 1e-12 so z -> 0 gives 1 (error < 5e-13),
    never 0/0 in value or gradient. Three tensor ops: this sits in every twin's hot loop."""
    z = z.clamp_min(Z_FLOOR)
    return -torch.expm1(-z) / z


class ExpEuler(Integrator):
    name = "exp-euler"

    def relax(self, y, a, b, dt):
        return y + dt * (a - b * y) * phi1(b * dt)


INTEGRATORS: dict[str, Integrator] = {i.name: i for i in (Euler(), ExpEuler())}


def get_integrator(name: str) -> Integrator:
    if name not in INTEGRATORS:
        raise ValueError(f"integrator = {name!r}: must be one of {', '.join(map(repr, INTEGRATORS))}")
    return INTEGRATORS[name]
