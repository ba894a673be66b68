"""The SRNN-PCM pattern-generation task: Poisson input spikes -> a sum of sinusoids.

Seed 000 (``train.py``, ``Sinusoids``): 100 Poisson inputs at 50 Hz, 1000 steps of 1 ms; the
target is Σ_f A_f·sin(2π f t + φ_f) over f = 1, 2, 3, 5 Hz with A_f ~ U(0.5, 2) and
φ_f ~ U(0, 2π), divided by its largest magnitude (so it lies in [−1, 1]).

(choice) The seed draws 6 samples and trains on a random half (3 sequences per epoch) and never
uses the rest; here the first ``n_train`` samples train and the others are held out and reported.
Everything is drawn from one seeded ``torch.Generator``, so a seed fixes the task.
"""

from __future__ import annotations

import dataclasses
import math

import torch

from ..stimuli import grid_steps

FREQS_HZ = (1.0, 2.0, 3.0, 5.0)


@dataclasses.dataclass(frozen=True)
class SinusoidTask:
    """Inputs x [N, T, n_in] (0/1 spikes) and targets y [N, T, 1]."""

    x: torch.Tensor
    y: torch.Tensor
    n_train: int

    @property
    def train(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.x[: self.n_train], self.y[: self.n_train]

    @property
    def test(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.x[self.n_train:], self.y[self.n_train:]


def make_task(seed: int, n_samples: int = 6, n_train: int = 3, steps: int = 1000, n_in: int = 100,
              rate_hz: float = 50.0, dt: float = 1e-3, dtype=torch.float32) -> SinusoidTask:
    """Draw the task for ``seed`` (seed 000's ``Sinusoids`` with ``num_samples=6``)."""
    if not 1 <= n_train <= n_samples:
        raise ValueError(f"make_task: n_train = {n_train!r} must lie in [1, n_samples = {n_samples}]")
    if rate_hz * dt > 1:
        raise ValueError(f"make_task: rate_hz·dt = {rate_hz * dt:g} > 1 is not a Poisson rate per step")
    gen = torch.Generator().manual_seed(seed)
    x = (torch.rand(n_samples, steps, n_in, generator=gen) < dt * rate_hz).to(dtype)
    amp = 0.5 + 1.5 * torch.rand(n_samples, len(FREQS_HZ), generator=gen, dtype=torch.float64)
    phase = 2 * math.pi * torch.rand(n_samples, len(FREQS_HZ), generator=gen, dtype=torch.float64)
    t = torch.from_numpy(grid_steps(dt, steps)[:-1])  # t_0..t_{T-1}
    freqs = torch.tensor(FREQS_HZ, dtype=torch.float64)
    y = (amp[:, None, :] * torch.sin(2 * math.pi * freqs * t[:, None] + phase[:, None, :])).sum(-1)
    y = y / y.abs().amax(dim=1, keepdim=True)
    return SinusoidTask(x=x, y=y[..., None].to(dtype), n_train=n_train)
