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
the largest change.

What is refused (:class:`~spicegrad.errors.InputError`, exit 2 on the command line), and why:
a weight is a real number that becomes a conductance difference, so complex, object, text and
boolean arrays, ``.npz`` archives (several arrays, not one matrix), arrays that are not 2-D and
non-finite values are refused. Weights are dimensionless and the map is linear, so no physical
bound on their size exists; the bound is numerical: max|w| must not exceed
:data:`MAX_ABS_WEIGHT` = sqrt(largest float64) ≈ 1.34e154 (then a product of two weights, or of
a weight and an input, is finite), and ``scale`` must be a normal float64 (> 2.2e-308: with
1e308 it would be a subnormal 1.3e-311 S that has lost bits, and every other weight would map
to g_min exactly). Non-zero weights below :data:`RESOLUTION` of w_max (a conductance step below
2^-16 of the range, finer than any analog device programs) are mapped but counted and reported
as unresolved: near-zero weights are normal in trained matrices, and rounding them to g_min is
what the device would do. Each device then turns G into its programmed state
(:meth:`~spicegrad.crossbar.devices.CrossbarDevice.state_from_conductance`): MSS
x0 = (G - 1/r_off)/(1/r_on - 1/r_off), PCM g_ic_us = 1e6·G.
"""

from __future__ import annotations

import math
from collections.abc import Mapping as _MappingABC
from dataclasses import dataclass

import numpy as np
import torch

from .._checks import require_positive
from ..errors import InputError
from .topology import PAIRS

#: largest |weight| accepted: sqrt of the largest float64, so products of two weights stay finite
MAX_ABS_WEIGHT = math.sqrt(np.finfo(np.float64).max)
#: smallest normal float64: ``scale`` (S per weight unit) must not be below it
_TINY = float(np.finfo(np.float64).tiny)
#: (choice) non-zero weights below this fraction of w_max are reported as unresolved (2^-16)
RESOLUTION = 2.0**-16


def require_weights(weights: object, shape: tuple[int, int] | None = None) -> np.ndarray:
    """A 2-D float array (rows x outputs) of finite real weights with max|w| <= MAX_ABS_WEIGHT,
    optionally of the given shape; anything else raises InputError (see the module docstring)."""
    if isinstance(weights, (np.lib.npyio.NpzFile, _MappingABC)):
        what = "an .npz archive" if isinstance(weights, np.lib.npyio.NpzFile) else "a mapping"
        names = sorted(map(str, weights.keys()))
        raise InputError(f"weights: {what} holding {len(names)} array(s) {names} is not one weight matrix: "
                         "save the 2-D matrix alone with numpy.save (.npy)")
    w = np.asarray(weights)
    if w.dtype.kind == "c":
        raise InputError(f"weights: dtype {w.dtype} is complex; a crossbar weight is a real number (a conductance "
                         "difference): pass the real part (w.real) if that is what you mean")
    if w.dtype.kind not in "fiu" or w.ndim != 2:
        raise InputError(f"weights: need a 2-D numeric array of real numbers (float or int, rows x outputs), "
                         f"got dtype {w.dtype} shape {w.shape}")
    w = w.astype(float)
    if not np.isfinite(w).all():
        i, j = np.argwhere(~np.isfinite(w))[0]
        raise InputError(f"weights[{i}, {j}] = {float(w[i, j])}: every weight must be finite")
    if w.size and np.abs(w).max() > MAX_ABS_WEIGHT:
        i, j = np.unravel_index(np.argmax(np.abs(w)), w.shape)
        raise InputError(f"weights[{i}, {j}] = {float(w[i, j]):.6g}: |weight| must be <= {MAX_ABS_WEIGHT:.4g} "
                         "(sqrt of the largest float64); weights are mapped relative to max|w|, so rescale "
                         "the matrix (e.g. divide by its largest magnitude)")
    if shape is not None and w.shape != tuple(shape):
        raise InputError(f"weights: shape {w.shape} does not match the crossbar's {tuple(shape)} (rows, cols)")
    return w


@dataclass(frozen=True)
class Mapping:
    """Conductances for a weight matrix and what the mapping did to it.

    ``g``: [rows, physical cols] in S; ``scale``: S per weight unit; ``w_effective``: the
    weights the array represents (after clipping); ``clipped``: how many weights changed;
    ``unresolved``: how many non-zero weights lie below RESOLUTION·w_max (``smallest``: the
    smallest non-zero |weight| after clipping, 0 if none).
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
    unresolved: int = 0
    smallest: float = 0.0

    def report(self) -> str:
        text = (f"weights -> conductances: {self.g_min:.4g}..{self.g_max:.4g} S, "
                f"{self.scale:.4g} S per weight unit (w_max = {self.w_max:.4g}, {self.pairs})")
        if self.clipped:
            text += (f"; {self.clipped} weight(s) outside the representable range were clipped "
                     f"(largest change {self.max_clip:.4g})")
        if self.unresolved:
            text += (f"; {self.unresolved} non-zero weight(s) are below 2^-16 of w_max (smallest |w| = "
                     f"{self.smallest:.4g}): their conductance step is finer than devices are programmed, "
                     "so they read as 0")
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
    if not (math.isfinite(scale) and scale >= _TINY):
        raise InputError(
            f"map_weights: w_max = {w_max:.6g} gives {scale:.4g} S per weight unit over the conductance range "
            f"{g_min:.4g}..{g_max:.4g} S, which is not a normal float64 (allowed: "
            f"{(g_max - g_min) / np.finfo(np.float64).max:.3g} <= w_max <= {(g_max - g_min) / _TINY:.3g}); "
            "rescale the weights")
    g = weights_to_conductance(torch.from_numpy(w), g_min, scale, w_max, pairs).numpy()
    if not np.isfinite(g).all():  # cannot happen with the checks above; never write a non-finite G
        raise InputError(f"map_weights: non-finite conductance from w_max = {w_max!r}, scale = {scale!r} S")
    wc = np.clip(w, -w_max if pairs == "differential" else 0.0, w_max)
    changed = np.abs(wc - w)
    nonzero = np.abs(wc[wc != 0])
    unresolved = int((nonzero < RESOLUTION * w_max).sum())
    return Mapping(g, scale, g_min, g_max, pairs, float(w_max), wc, int((changed > 0).sum()),
                   float(changed.max(initial=0.0)), unresolved, float(nonzero.min()) if nonzero.size else 0.0)


def outputs_from_currents(i_cols: torch.Tensor, v_rows: torch.Tensor, mapping: Mapping) -> torch.Tensor:
    """Weighted sums Σ_i V_i·w_ik from physical column currents (A), undoing the mapping."""
    if mapping.pairs == "differential":
        return (i_cols[..., 0::2] - i_cols[..., 1::2]) / mapping.scale
    return (i_cols - mapping.g_min * v_rows.sum(-1, keepdim=True)) / mapping.scale
