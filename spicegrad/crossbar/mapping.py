"""Weights <-> device conductances: the linear map a crossbar uses, with clipping reported.

With the device's conductance range [g_min, g_max] (S) and a weight scale w_max (default
max|W|, so nothing is clipped), one weight unit is ``scale = (g_max - g_min)/w_max`` siemens.

Differential pairs (physical columns 2k = G⁺, 2k+1 = G⁻ of output k)::

    w_c = clip(w, -w_max, w_max)
    G⁺  = g_min + scale·max(w_c, 0)        G⁻ = g_min + scale·max(-w_c, 0)
    I_k = Σ_i V_i·(G⁺_ik - G⁻_ik) = scale·Σ_i V_i·w_c,ik

Single devices (one column per output, non-negative weights)::

    w_c = clip(w, 0, w_max)                G = g_min + scale·w_c
    I_k = g_min·Σ_i V_i + scale·Σ_i V_i·w_c,ik     (the g_min·ΣV offset is known and removed)

Weights outside the representable interval are clipped; :class:`Mapping` reports how many and
the largest change. Each device then turns G into its programmed state
(:meth:`~spicegrad.crossbar.devices.CrossbarDevice.state_from_conductance`): MSS
x0 = (G - 1/r_off)/(1/r_on - 1/r_off), PCM g_ic_us = 1e6·G.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .._checks import require_positive
from .topology import PAIRS


def require_weights(weights: object, shape: tuple[int, int] | None = None) -> np.ndarray:
    """A finite 2-D float array (rows x outputs), optionally of the given shape."""
    w = np.asarray(weights)
    if w.dtype.kind not in "fiu" or w.ndim != 2:
        raise ValueError(f"weights: need a 2-D numeric array (rows x outputs), got dtype {w.dtype} shape {w.shape}")
    w = w.astype(float)
    if not np.isfinite(w).all():
        i, j = np.argwhere(~np.isfinite(w))[0]
        raise ValueError(f"weights[{i}, {j}] = {float(w[i, j])}: every weight must be finite")
    if shape is not None and w.shape != tuple(shape):
        raise ValueError(f"weights: shape {w.shape} does not match the crossbar's {tuple(shape)} (rows, cols)")
    return w


@dataclass(frozen=True)
class Mapping:
    """Conductances for a weight matrix and what the mapping did to it.

    ``g``: [rows, physical cols] in S; ``scale``: S per weight unit; ``w_effective``: the
    weights the array represents (after clipping); ``clipped``: how many weights changed.
    """

    g: np.ndarray
    scale: float
    g_min: float
    g_max: float
    pairs: str
    w_max: float
    w_effective: np.ndarray
    clipped: int
    max_clip: float

    def report(self) -> str:
        text = (f"weights -> conductances: {self.g_min:.4g}..{self.g_max:.4g} S, "
                f"{self.scale:.4g} S per weight unit (w_max = {self.w_max:.4g}, {self.pairs})")
        if self.clipped:
            text += (f"; {self.clipped} weight(s) outside the representable range were clipped "
                     f"(largest change {self.max_clip:.4g})")
        return text


def weights_to_conductance(w: torch.Tensor, g_min: float, scale: float, w_max: float, pairs: str) -> torch.Tensor:
    """Differentiable weight -> conductance map [rows, outputs] -> [rows, physical cols] (S)."""
    if pairs == "differential":
        wc = w.clamp(-w_max, w_max)
        g_pos, g_neg = g_min + scale * wc.clamp_min(0.0), g_min + scale * (-wc).clamp_min(0.0)
        return torch.stack([g_pos, g_neg], dim=-1).reshape(*w.shape[:-1], 2 * w.shape[-1])
    return g_min + scale * w.clamp(0.0, w_max)


def map_weights(weights, g_min: float, g_max: float, pairs: str = "differential", w_max: float | None = None) -> Mapping:
    """Map ``weights`` [rows, outputs] onto conductances as in the module docstring."""
    w = require_weights(weights)
    if pairs not in PAIRS:
        raise ValueError(f"pairs = {pairs!r}: must be one of {PAIRS}")
    require_positive("map_weights", "g_min", g_min)
    if not g_max > g_min:
        raise ValueError(f"map_weights.g_max = {g_max!r}: must exceed g_min = {g_min!r}")
    if w_max is None:
        w_max = float(np.abs(w).max()) if pairs == "differential" else float(max(w.max(), 0.0))
        w_max = w_max if w_max > 0 else 1.0
    require_positive("map_weights", "w_max", w_max)
    scale = (g_max - g_min) / w_max
    g = weights_to_conductance(torch.from_numpy(w), g_min, scale, w_max, pairs).numpy()
    wc = np.clip(w, -w_max if pairs == "differential" else 0.0, w_max)
    changed = np.abs(wc - w)
    return Mapping(g, scale, g_min, g_max, pairs, float(w_max), wc, int((changed > 0).sum()), float(changed.max(initial=0.0)))


def outputs_from_currents(i_cols: torch.Tensor, v_rows: torch.Tensor, mapping: Mapping) -> torch.Tensor:
    """Weighted sums Σ_i V_i·w_ik from physical column currents (A), undoing the mapping."""
    if mapping.pairs == "differential":
        return (i_cols[..., 0::2] - i_cols[..., 1::2]) / mapping.scale
    return (i_cols - mapping.g_min * v_rows.sum(-1, keepdim=True)) / mapping.scale
