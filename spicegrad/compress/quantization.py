r"""Quantisation of device states to device levels, with a straight-through estimator.

Each device of a pair is quantised on its own (x+ and x- each to the nearest level; nearest in
state is nearest in conductance, G being linear in x), so the weights a quantised network can
hold are s_l·(1/r_on - 1/r_off)·(x_a - x_b) over pairs of levels (a, b).

Quantisation-aware fine-tuning keeps the latent states x± continuous and reads q(x±) in the
forward pass; the backward pass treats q as the identity (straight-through estimator, Bengio et
al. 2013; used for SNN compression by Deng et al. 2019), so gradients move the latent states
and the network only ever reads (and is finally written with) states on the grid.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import torch

from .levels import DeviceLevels

if TYPE_CHECKING:
    from .network import CompressedMemPropNet


def nearest_level(x: torch.Tensor, levels: torch.Tensor) -> torch.Tensor:
    """Each entry of ``x`` replaced by the nearest of the sorted ``levels`` (a tie goes up)."""
    levels = levels.to(device=x.device, dtype=x.dtype)
    mid = (levels[1:] + levels[:-1]) / 2
    return levels[torch.bucketize(x.detach().contiguous(), mid, right=True)]


def quantize_ste(x: torch.Tensor, levels: torch.Tensor) -> torch.Tensor:
    """Nearest level in the forward pass, identity gradient in the backward (straight-through)."""
    return x + (nearest_level(x, levels) - x).detach()


@torch.no_grad()
def recenter_pairs_(net: CompressedMemPropNet) -> None:
    """Re-program every pair to its lowest-conductance equivalent: x+ <- max(x+ - x-, 0),
    x- <- max(x- - x+, 0). Every weight s·dg·(x+ - x-) is unchanged."""
    for layer in range(net.n_layers):
        d = net.x_pos[layer] - net.x_neg[layer]
        net.x_pos[layer].copy_(d.clamp_min(0.0))
        net.x_neg[layer].copy_((-d).clamp_min(0.0))


RANGES = ("mse", "max", "none")
#: fractions of max|x+ - x-| tried as the value mapped onto the top level (range "mse")
_CLIP_FRACTIONS = torch.linspace(0.02, 1.0, 50, dtype=torch.float64)


def _quantised(d: torch.Tensor, clip: float, grid: torch.Tensor) -> torch.Tensor:
    """|x+ - x-| as read after scaling ``clip`` onto the top level and rounding (recentred pairs)."""
    top = float(grid[-1])
    return nearest_level((d * (top / clip)).clamp(max=1.0), grid) * (clip / top)


def best_clip(d: torch.Tensor, grid: torch.Tensor) -> float:
    """The value of |x+ - x-| to map onto the top level that minimises Σ (d - q(d))² over ``d``."""
    peak = float(d.max()) if d.numel() else 0.0
    if peak == 0:
        return 1.0
    errors = [float(((_quantised(d, float(f) * peak, grid) - d) ** 2).sum()) for f in _CLIP_FRACTIONS]
    return float(_CLIP_FRACTIONS[min(range(len(errors)), key=errors.__getitem__)]) * peak


@torch.no_grad()
def rescale_to_range_(net: CompressedMemPropNet, levels: DeviceLevels | None = None, mode: str = "max",
                      top: float = 1.0) -> list[float]:
    """Stretch each layer's pair differences by k_l and divide its current scale s_l by k_l
    (weights unchanged, except those clipped at x = 1); returns the k_l.

    ``mode="max"``: the largest |x+ - x-| reaches ``top``; ``mode="mse"``: the value reaching
    the top level of ``levels`` is the one minimising the layer's squared quantisation error
    (:func:`best_clip`; larger weights saturate at the top level). Needs recentred pairs (one
    device of each pair at 0), so that x±·k_l stays in [0, 1] up to that clipping.
    """
    if mode not in ("max", "mse"):
        raise ValueError(f"range = {mode!r}: must be one of {RANGES}")
    if levels is not None:
        top = levels.states[-1]
    factors, scales = [], list(net.cfg.current_scale)
    for layer in range(net.n_layers):
        keep = net.mask(layer)
        d = (net.x_pos[layer] - net.x_neg[layer]).abs()[keep].double()
        if mode == "mse" and levels is not None:
            peak = best_clip(d, levels.tensor(torch.float64))
        else:
            peak = float(d.max()) if d.numel() else 0.0
        k = top / peak if peak > 0 else 1.0
        net.x_pos[layer].mul_(k).clamp_(0.0, 1.0)
        net.x_neg[layer].mul_(k).clamp_(0.0, 1.0)
        scales[layer] /= k
        factors.append(k)
    net.cfg = dataclasses.replace(net.cfg, current_scale=tuple(scales))
    return factors


def quantize(net: CompressedMemPropNet, levels: DeviceLevels, recenter: bool = True,
             range_mode: str = "mse") -> CompressedMemPropNet:
    """Read every device of ``net`` at its nearest level from now on (in place); returns it.

    (choice) ``recenter``: first re-program each pair so that one device sits at x = 0 and the
    other at |x+ - x-| (:func:`recenter_pairs_`; the convention of
    :mod:`spicegrad.crossbar.mapping`, and the pair's lowest read current). Only x+ - x- reaches
    the neuron, so this keeps every weight; without it, pairs trained from the x± = 0.5
    initialisation keep a common mode near 0.5 and coarse levels round both devices to one
    level (weight 0). Every level set here starts at x = 0, so the device at 0 stays exact.

    (choice) ``range_mode`` (needs ``recenter``): the levels are put where the layer's weights
    are. Training from a fan-in initialisation leaves |x+ - x-| within a few % of the device
    range, so each layer's pair differences are stretched by k_l and its current scale s_l
    divided by k_l (:func:`rescale_to_range_`; s_l is the seed's per-layer attenuation of the
    crossbar current, a gain of the neuron's input stage, and the new scales are part of the
    network's configuration). ``"max"`` maps max|w| to the top level (the w_max of
    :mod:`spicegrad.crossbar.mapping`); ``"mse"`` (default) maps the clipping value that
    minimises the layer's squared quantisation error, which matters for few levels (with 2-3
    levels max-scaling rounds most weights to 0); ``"none"`` keeps the scales.

    The latent states are kept (for fine-tuning); :meth:`~.network.CompressedMemPropNet.snap_`
    writes the levels into them.
    """
    if not isinstance(levels, DeviceLevels):
        raise TypeError(f"levels: expected DeviceLevels, got {type(levels).__name__}")
    if range_mode not in RANGES:
        raise ValueError(f"range = {range_mode!r}: must be one of {RANGES}")
    if range_mode != "none" and not recenter:
        raise ValueError("quantize: a range mode needs recenter (a device stretched off a common mode could leave [0, 1])")
    if recenter:
        recenter_pairs_(net)
    factors = rescale_to_range_(net, levels, range_mode) if range_mode != "none" else None
    net.set_levels(levels)
    net.history.append({"step": "quantize", "levels": levels.n, "source": levels.source, "params": levels.params,
                        "recentered": recenter, "range": range_mode, "range_factors": factors,
                        "current_scale": list(net.cfg.current_scale)})
    return net
