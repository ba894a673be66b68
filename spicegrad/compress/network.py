r"""A MEMprop network with its compression: pruning masks and device levels kept with the weights.

:class:`CompressedMemPropNet` is a :class:`~spicegrad.memprop.model.MemPropNet` whose synapse
pair (i, j) of layer l is read as::

    x̂± = q(x±)                      q: nearest device level, straight-through gradient (or identity)
    G±  = m_ij·G(x̂±),  G(x) = x/r_on + (1 - x)/r_off    m_ij = 1 kept, 0 pruned
    w   = s_l·(G+ - G-)

A pruned synapse is a removed pair: both devices are absent and carry no current (G± = 0), so
its weight and its gradient are zero. The trained parameters stay the latent states x± in
[0, 1]; :meth:`CompressedMemPropNet.snap_` writes q(x±) into them (and 0 into pruned pairs), after
which a plain :class:`MemPropNet` loaded from the same state computes the same function.

Checkpoints stay MEMprop checkpoints (``spicegrad-memprop/1``, readable by ``load_net``,
``spicegrad export`` and ``evaluate``): ``model`` holds the snapped states, and a
``compression`` record holds the masks, the levels and the history of compression steps.
"""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path
from typing import Any

import torch

from .._io import save_tensors
from ..devices.mss import mss_conductance_unclamped
from ..errors import InputError
from ..memprop.model import MemPropNet
from ..memprop.train import CheckpointError, MemPropTrainConfig, load_checkpoint, selected_weights
from .levels import DeviceLevels
from .quantization import quantize_ste

COMPRESSION_FORMAT = "spicegrad-compress/1"


class CompressError(InputError):
    """A compression request that cannot be carried out; the message says why and what would do."""


class CompressedMemPropNet(MemPropNet):
    """MEMprop network with per-synapse masks (True = kept) and optional device levels."""

    def __init__(self, cfg, masks: list[torch.Tensor] | None = None, levels: DeviceLevels | None = None,
                 generator: torch.Generator | None = None, compile: bool = False):
        if cfg.synapse != "mss":  # levels, conductances and tiles below are written for MSS states
            raise CompressError(f"compression takes MEMprop networks with MSS synapses; this one's synapses are "
                                f"{cfg.synapse!r} (train with --synapse mss to compress)")
        super().__init__(cfg, generator=generator, compile=compile)
        shapes = [(a, b) for a, b in zip(cfg.layers[:-1], cfg.layers[1:], strict=True)]
        for layer, shape in enumerate(shapes):
            m = torch.ones(shape, dtype=torch.bool) if masks is None else masks[layer].to(torch.bool)
            if tuple(m.shape) != shape:
                raise CompressError(f"mask of layer {layer + 1}: shape {tuple(m.shape)}, the layer is {shape}")
            # non-persistent: the model's state_dict stays a plain MemPropNet's (see module docstring)
            self.register_buffer(f"mask_{layer}", m.clone(), persistent=False)
        self.levels = levels
        self.history: list[dict[str, Any]] = []

    # --- what the network reads -----------------------------------------------------------

    def mask(self, layer: int) -> torch.Tensor:
        return getattr(self, f"mask_{layer}")

    @property
    def masks(self) -> list[torch.Tensor]:
        return [self.mask(layer) for layer in range(self.n_layers)]

    def set_masks(self, masks: list[torch.Tensor]) -> None:
        for layer, m in enumerate(masks):
            if m.shape != self.mask(layer).shape:
                raise CompressError(f"mask of layer {layer + 1}: shape {tuple(m.shape)}, "
                                    f"the layer is {tuple(self.mask(layer).shape)}")
            self.mask(layer).copy_(m.to(torch.bool))
        self.zero_pruned_()

    def set_levels(self, levels: DeviceLevels | None) -> None:
        self.levels = levels

    def states(self, layer: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(x̂+, x̂-): the device states the network reads (quantised when levels are set)."""
        xp, xn = self.x_pos[layer], self.x_neg[layer]
        if self.levels is not None:
            grid = self.levels.tensor(xp.dtype, xp.device)
            xp, xn = quantize_ste(xp, grid), quantize_ste(xn, grid)
        return xp, xn

    def conductances(self, layer: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(G+, G-) in S; 0 S where the pair is pruned (no device)."""
        p = self.cfg.synapse_params
        xp, xn = self.states(layer)
        m = self.mask(layer).to(xp.dtype)
        return mss_conductance_unclamped(xp, p) * m, mss_conductance_unclamped(xn, p) * m

    # --- in-place updates ------------------------------------------------------------------

    @torch.no_grad()
    def zero_pruned_(self) -> None:
        """Latent states of removed pairs to 0 (they no longer exist; keeps checkpoints honest)."""
        for layer in range(self.n_layers):
            keep = self.mask(layer)
            self.x_pos[layer].masked_fill_(~keep, 0.0)
            self.x_neg[layer].masked_fill_(~keep, 0.0)

    @torch.no_grad()
    def project_(self) -> None:
        super().project_()
        self.zero_pruned_()

    @torch.no_grad()
    def snap_(self) -> None:
        """Write the read states q(x±) into the parameters (pruned pairs: 0)."""
        for layer in range(self.n_layers):
            xp, xn = self.states(layer)
            self.x_pos[layer].copy_(xp)
            self.x_neg[layer].copy_(xn)
        self.zero_pruned_()

    # --- counts ----------------------------------------------------------------------------

    def synapse_counts(self) -> dict[str, Any]:
        kept = [int(m.sum()) for m in self.masks]
        total = [m.numel() for m in self.masks]
        return {"synapses_per_layer": total, "kept_per_layer": kept, "synapses": sum(total), "kept": sum(kept),
                "sparsity": 1.0 - sum(kept) / sum(total),
                "sparsity_per_layer": [1.0 - k / t for k, t in zip(kept, total, strict=True)]}

    @torch.no_grad()
    def weight_matrices(self) -> list[torch.Tensor]:
        """Effective weights s_l·(G+ - G-) per layer (A/V), [n_in, n_out], detached."""
        return [self.weights(layer).detach().clone() for layer in range(self.n_layers)]

    @torch.no_grad()
    def device_states(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """(x̂+, x̂-) per layer as read (quantised, pruned pairs 0), detached."""
        out = []
        for layer in range(self.n_layers):
            xp, xn = self.states(layer)
            keep = self.mask(layer)
            out.append((xp.detach().masked_fill(~keep, 0.0), xn.detach().masked_fill(~keep, 0.0)))
        return out

    @classmethod
    def from_net(cls, net: MemPropNet, compile: bool = False) -> CompressedMemPropNet:
        """A compressed copy of ``net`` (dense: every mask True, no levels)."""
        if isinstance(net, CompressedMemPropNet):
            out = cls(net.cfg, [m.clone() for m in net.masks], net.levels, compile=compile)
            out.history = copy.deepcopy(net.history)
        else:
            out = cls(net.cfg, compile=compile)
        out.load_state_dict(net.state_dict())
        return out


# --- checkpoints --------------------------------------------------------------------------


def _require_weights(state: dict[str, Any], path: Path) -> dict[str, torch.Tensor]:
    model = selected_weights(state)
    if not isinstance(model, dict) or not any(str(k).startswith("x_pos.") for k in model):
        have = sorted(state) if isinstance(state, dict) else type(state).__name__
        raise CompressError(
            f"{path}: the checkpoint holds no synapse weights (no 'model' entry with x_pos.*/x_neg.* device "
            f"states; it has {have}). Compress a checkpoint written by `spicegrad train memprop` after at "
            "least one epoch.")
    if "config" not in state:
        raise CompressError(f"{path}: the checkpoint has weights but no 'config': cannot rebuild the network")
    return model


def load_compressed(path: str | Path, compile: bool = False) -> tuple[CompressedMemPropNet, dict[str, Any]]:
    """The network of a MEMprop checkpoint (compressed or not) and the checkpoint dict."""
    path = Path(path)
    if not path.is_file():
        raise CompressError(f"{path}: no such checkpoint file")
    state = load_checkpoint(path)
    model = _require_weights(state, path)
    try:
        cfg = MemPropTrainConfig.from_dict(state["config"])
        record = state.get("compression") or {}
        masks = record.get("masks")
        levels = DeviceLevels.from_dict(record["levels"]) if record.get("levels") else None
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        raise CheckpointError(f"{path}: its recorded configuration or compression record is not valid "
                              f"({type(exc).__name__}: {str(exc)[:200]})") from None
    try:
        net = CompressedMemPropNet(cfg.net, masks, levels, compile=compile)
        net.load_state_dict(model)
    except (RuntimeError, CompressError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: weights do not fit the network {cfg.net.layers}: {exc}") from exc
    net.history = list(record.get("history", []))
    return net, state


def save_compressed(net: CompressedMemPropNet, state: dict[str, Any], path: str | Path) -> Path:
    """Write ``net`` (snapped) into a copy of the checkpoint dict ``state`` at ``path`` (atomic)."""
    net = CompressedMemPropNet.from_net(net)
    net.snap_()
    # the compressed network replaces the trained one (its validation-selected copy "best" and
    # that copy's test score "test" belong to the uncompressed network)
    out = {k: v for k, v in state.items() if k not in ("compression", "best", "test")}
    # quantisation may have moved range into the current scales: the saved network is this one
    out["config"] = dataclasses.replace(MemPropTrainConfig.from_dict(state["config"]), net=net.cfg).to_dict()
    out["model"] = {k: v.detach().cpu().clone() for k, v in net.state_dict().items()}
    out["compression"] = {
        "format": COMPRESSION_FORMAT,
        "masks": [m.cpu().clone() for m in net.masks],
        "levels": None if net.levels is None else net.levels.to_dict(),
        "history": net.history,
        "counts": net.synapse_counts(),
    }
    return save_tensors(path, out)
