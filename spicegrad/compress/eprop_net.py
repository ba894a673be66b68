r"""Compressing the e-prop network (SRNN-PCM, seed 000): pruning and device levels, scored by MSE.

The e-prop checkpoint (``spicegrad train eprop``) is restored through its own
:class:`~spicegrad.eprop.train.Trainer`; a compressed copy is evaluated with
``Trainer.evaluate`` (MSE of the readout against the sinusoid target on the training and the
held-out sequences). Three synapse matrices, as crossbars with inputs on the word lines:
``w_in`` (inputs -> recurrent units), ``w_rec`` (recurrent -> recurrent; the diagonal has no
synapse) and ``w_out`` (recurrent -> readout).

* **fp32 checkpoints** (``vanilla``): pruning sets weights to 0; quantisation represents each
  matrix on differential pairs with a value w_c mapped to the top level (``range_mode`` "max":
  w_c = max|w|, the mapping of :mod:`spicegrad.crossbar.mapping`; "mse": the clip value with the
  least squared error, as for MEMprop): x± = min(top·max(±w, 0)/w_c, 1), each device to its
  nearest level, w <- (w_c/top)·(q(x+) - q(x-)).
* **PCM checkpoints** (``--xbar``): pruning removes the pairs through the crossbar's ``frozen``
  mask (they read 0 and are never programmed); quantisation moves each device's programmed
  conductance to the nearest level in µS: the PCM cumulative-SET conductances themselves for
  ``pcm-set``, the levels' states spread over [G_min, G_max] otherwise. Reads keep their drift
  and noise; every evaluation restores the checkpoint, so all points see the same random numbers.

(choice) No fine-tuning here: e-prop's updates are pulses on PCM devices (or an online rule on
fp32 weights) driven by its own trainer, which has no hook to hold masks or levels between its
updates; the e-prop curves are therefore post-training compression only.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import torch

from .._io import load_tensors
from ..devices.pcm import US, pcm_clip
from ..errors import InputError
from .levels import DeviceLevels
from .mapping import SynapseLayer
from .network import CompressError
from .pruning import SCOPES, prune_k, require_sparsity
from .quantization import best_clip, nearest_level

LAYERS = ("w_in", "w_rec", "w_out")
#: (presynaptic, postsynaptic) population of each matrix
POPULATIONS = {"w_in": ("input", "recurrent"), "w_rec": ("recurrent", "recurrent"), "w_out": ("recurrent", "readout")}


def is_eprop_checkpoint(blob: object) -> bool:
    return isinstance(blob, dict) and "eprop_config" in blob and "train_config" in blob


def _read(path: Path) -> dict:
    if not path.is_file():
        raise CompressError(f"{path}: no such checkpoint file")
    try:
        blob = load_tensors(path)
    except InputError as exc:
        raise CompressError(str(exc)) from None
    if not is_eprop_checkpoint(blob):
        raise CompressError(f"{path}: not an e-prop checkpoint (no eprop_config/train_config)")
    net = blob.get("net")
    if not isinstance(net, dict) or not (isinstance(net.get("weights"), dict) or isinstance(net.get("xbars"), dict)):
        raise CompressError(f"{path}: the e-prop checkpoint holds no weights (no net.weights or net.xbars); "
                            "write one with `spicegrad train eprop --out DIR` (it checkpoints after training)")
    return blob


@dataclasses.dataclass
class EpropCompression:
    """An e-prop checkpoint and the compressions tried on it (each from the checkpoint afresh)."""

    path: Path
    blob: dict

    @classmethod
    def load(cls, path: str | Path) -> EpropCompression:
        path = Path(path)
        return cls(path, _read(path))

    def trainer(self):
        """A fresh trainer restored from the checkpoint (the same random numbers every time)."""
        from ..eprop.model import EpropConfig
        from ..eprop.train import EpropTrainConfig, Trainer

        cfg = EpropConfig(**self.blob["eprop_config"])
        tcfg = EpropTrainConfig(**{**self.blob["train_config"], "device": "cpu"})
        trainer = Trainer(cfg, tcfg)
        trainer.restore(self.path)
        return trainer

    @property
    def xbar(self) -> bool:
        return bool(self.blob["train_config"].get("xbar"))

    def devices_per_synapse(self) -> int:
        return 2 * int(self.blob["train_config"].get("xbar_n", 1)) if self.xbar else 2

    # --- the three matrices -----------------------------------------------------------------

    @staticmethod
    def weights(trainer) -> dict[str, torch.Tensor]:
        """[rows = post, cols = pre] weights as the network reads them (PCM: programmed, ideal)."""
        net = trainer.net
        if not trainer.tcfg.xbar:
            return {k: net.weights[k].detach().clone() for k in LAYERS}
        return {k: net.xbars[k].ideal_weight().detach().clone() for k in LAYERS}

    @staticmethod
    def possible(trainer) -> dict[str, torch.Tensor]:
        """Where a synapse can exist at all ([post, pre] bool): everywhere but the recurrent diagonal."""
        cfg = trainer.cfg
        return {"w_in": torch.ones(cfg.n_rec, cfg.n_in, dtype=torch.bool),
                "w_rec": ~torch.eye(cfg.n_rec, dtype=torch.bool),
                "w_out": torch.ones(cfg.n_out, cfg.n_rec, dtype=torch.bool)}

    @staticmethod
    def existing(trainer) -> dict[str, torch.Tensor]:
        """Which synapses exist ([post, pre] bool): not frozen, and (fp32) not exactly 0."""
        net = trainer.net
        out = {}
        for k in LAYERS:
            if trainer.tcfg.xbar:
                out[k] = ~net.xbars[k].frozen.clone()
            else:
                out[k] = net.weights[k] != 0
        return out

    def compress(self, trainer, sparsity: float | None = None, scope: str = "global",
                 levels: DeviceLevels | None = None, range_mode: str = "mse") -> dict[str, Any]:
        """Prune and/or quantise ``trainer``'s network in place; returns counts."""
        if scope not in SCOPES:
            raise CompressError(f"scope = {scope!r}: must be 'global' or 'layer'")
        keep = self.existing(trainer)
        if sparsity is not None:
            # sparsity counts the synapses that can exist (the recurrent diagonal never does)
            s = require_sparsity(sparsity)
            possible = self.possible(trainer)
            mags = {k: w.abs()[possible[k]] for k, w in self.weights(trainer).items()}
            alive = {k: keep[k][possible[k]] for k in LAYERS}
            if scope == "layer":
                alive = {k: prune_k(mags[k], alive[k], round(s * mags[k].numel())) for k in LAYERS}
            else:
                flat = torch.cat([mags[k] for k in LAYERS])
                kept = prune_k(flat, torch.cat([alive[k] for k in LAYERS]), round(s * flat.numel()))
                start = 0
                for k in LAYERS:
                    alive[k] = kept[start: start + mags[k].numel()]
                    start += mags[k].numel()
            for k in LAYERS:
                keep[k] = torch.zeros_like(keep[k])
                keep[k][possible[k]] = alive[k]
            self._apply_masks(trainer, keep)
        if levels is not None:
            self._quantize(trainer, levels, keep, range_mode)
        return {"kept": {k: int(m.sum()) for k, m in keep.items()}}

    @staticmethod
    def _apply_masks(trainer, keep: dict[str, torch.Tensor]) -> None:
        net = trainer.net
        for k in LAYERS:
            if trainer.tcfg.xbar:
                xb = net.xbars[k]
                xb.frozen = ~keep[k].to(xb.frozen.device)
                # a fresh device tensor: read caches keyed on the devices (not on ``frozen``) rebuild
                xb.devices.g_us = xb.devices.g_us.clone()
            else:
                net.weights[k] = net.weights[k] * keep[k].to(net.weights[k].dtype)

    @staticmethod
    def _quantize(trainer, levels: DeviceLevels, keep: dict[str, torch.Tensor], range_mode: str = "mse") -> None:
        net = trainer.net
        top = levels.states[-1]
        if not trainer.tcfg.xbar:
            if range_mode not in ("mse", "max"):
                raise CompressError(f"range = {range_mode!r}: fp32 e-prop weights need 'mse' or 'max'")
            grid = levels.tensor(torch.float64)
            for k in LAYERS:
                w = net.weights[k].double()
                mag = w[keep[k]].abs()
                w_max = (best_clip(mag, grid) if range_mode == "mse" else float(mag.max())) if mag.numel() else 0.0
                if w_max == 0:
                    continue
                xp = nearest_level((top * w.clamp_min(0) / w_max).clamp(max=1.0), grid)
                xn = nearest_level((top * (-w).clamp_min(0) / w_max).clamp(max=1.0), grid)
                net.weights[k] = ((xp - xn) * (w_max / top) * keep[k]).to(net.weights[k].dtype)
            return
        for k in LAYERS:
            xb = net.xbars[k]
            p = xb.params
            if levels.source == "pcm-set":
                grid_us = torch.tensor(levels.conductance_s, dtype=torch.float64) * US
            else:
                grid_us = p.g_min_us + levels.tensor(torch.float64) * (p.g_max_us - p.g_min_us)
            g = xb.devices.g_us
            xb.devices.g_us = pcm_clip(nearest_level(g.double(), grid_us), p).to(g.dtype)

    def layers(self, trainer) -> list[SynapseLayer]:
        """The three matrices as crossbar layers (rows = presynaptic inputs) for the mapping."""
        w, keep = self.weights(trainer), self.existing(trainer)
        out = []
        for k in LAYERS:
            present = keep[k].cpu().numpy().T.copy()
            wt = w[k].double().cpu().numpy().T.copy()
            present &= wt != 0
            pre, post = POPULATIONS[k]
            out.append(SynapseLayer(f"{k} ({wt.shape[0]}→{wt.shape[1]})", pre, post, wt, present,
                                    devices_per_synapse=self.devices_per_synapse()))
        return out

    @staticmethod
    def evaluate(trainer) -> dict[str, float]:
        """MSE and firing rates on the training and held-out sequences (``Trainer.evaluate``)."""
        return trainer.evaluate()
