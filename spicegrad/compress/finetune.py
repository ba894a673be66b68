"""Fine-tuning a compressed MEMprop network on its twin: masks held, levels read through the STE.

The loop is MEMprop's (the same loss, Adam on the device states, projection onto [0, 1] after
every step, deterministic batches from a seed) with the compression held in place: pruned pairs
get no gradient and are re-zeroed after each step, and with device levels set the forward pass
reads quantised states (straight-through gradients move the latent states). After the last
step the states are snapped onto the levels, so what is saved is what the network read.

Meant to run on a training subset for a few epochs (the trade-off curves run it once per point
on a 2-core machine); the dataset loading and evaluation are the caller's.
"""

from __future__ import annotations

import math
import time
from typing import Any

import torch

from ..memprop.model import memprop_loss
from ..memprop.train import TrainingDiverged, epoch_batches
from .network import CompressedMemPropNet, CompressError


def finetune(net: CompressedMemPropNet, images: torch.Tensor, labels: torch.Tensor, *, epochs: int = 1,
             batch_size: int = 32, lr: float = 1e-4, seed: int = 0, progress: bool = False,
             desc: str = "fine-tune") -> dict[str, Any]:
    """Train ``net`` in place on (images [N, F], labels [N]) with its masks and levels held.

    Returns {"epochs", "steps", "loss_per_epoch", "wall_s"}.
    """
    from .._progress import progress as progress_bar

    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 0:
        raise CompressError(f"fine-tuning epochs = {epochs!r}: must be an integer >= 0")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise CompressError(f"fine-tuning batch size = {batch_size!r}: must be an integer >= 1")
    if not (math.isfinite(lr) and lr > 0):
        raise CompressError(f"fine-tuning lr = {lr!r}: must be > 0")
    if labels.numel() == 0:
        raise CompressError("fine-tuning needs at least one training sample")
    t0 = time.perf_counter()
    # synapses only: learned MIF neurons keep the values their certificates prove (retraining
    # them here would need a new certification)
    opt = torch.optim.Adam(net.synapse_parameters(), lr=lr)
    losses, steps = [], 0
    net.train()
    for epoch in range(epochs):
        batches = epoch_batches(labels.shape[0], min(batch_size, labels.shape[0]), seed, epoch)
        total = 0.0
        for idx in progress_bar(batches, enabled=progress, desc=f"{desc} {epoch + 1}/{epochs}", leave=False):
            loss = memprop_loss(net(images[idx]), labels[idx], net.cfg.logit_volt)
            if not torch.isfinite(loss):
                raise TrainingDiverged(f"{desc}: non-finite loss at epoch {epoch + 1}, step {steps}; lower --lr")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            net.project_()
            total += loss.item()
            steps += 1
        losses.append(total / len(batches))
    net.snap_()
    record = {"step": "finetune", "epochs": epochs, "steps": steps, "batch_size": batch_size, "lr": lr,
              "samples": int(labels.shape[0]), "loss_per_epoch": losses, "wall_s": time.perf_counter() - t0}
    net.history.append(record)
    return record
