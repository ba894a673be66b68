r"""Magnitude pruning of synapse pairs: global or per layer, by threshold or by target sparsity.

The magnitude of synapse (i, j) of layer l is its effective weight |w_ij| = s_l·|G+_ij - G-_ij|
(A/V, the transconductance its neuron sees; with the default s_l = 1 it is |ΔG| in siemens, at
most 1/r_on - 1/r_off). Pruning removes the pair (both devices; see :mod:`.network`).

* ``sparsity`` s in [0, 1): exactly k = round(s·N) synapses are pruned, N counted over the whole
  network (``scope="global"``: one ranking across layers) or per layer (``scope="layer"``:
  k_l = round(s·N_l) in each). Ties in |w| are broken by position (first in C order goes first),
  so the count is exact and the choice reproducible. Synapses pruned before stay pruned
  (pruning never regrows); they count towards k.
* ``threshold`` θ >= 0 (A/V): every synapse with |w| < θ is pruned (Rathi et al. 2018 prune by a
  weight threshold); ``scope`` does not matter.

(choice) Ranking by effective weight rather than by device-state difference |x+ - x-|: the two
agree unless current scales differ between layers, and then the weight is what the neuron feels.

``granularity="row"`` prunes whole word lines instead (structured pruning): a row of layer l is
one presynaptic input (a pixel, or a hidden neuron's fan-out), ranked by the RMS of its kept
weights; rows go in increasing order until at least k = round(s·N) synapses are pruned (the
smallest number of rows that reaches the target, so the sparsity can overshoot by less than one
row). Unstructured pruning rarely empties a row or a column of a crossbar, so it saves devices
but hardly tiles; removed rows are what compaction (:mod:`.mapping`) turns into fewer tiles.
"""

from __future__ import annotations

import math

import torch

from .network import CompressedMemPropNet, CompressError

SCOPES = ("global", "layer")
GRANULARITIES = ("synapse", "row")


def require_sparsity(s: object) -> float:
    """A target sparsity in [0, 1) (1 would remove every synapse)."""
    if isinstance(s, bool) or not isinstance(s, (int, float)) or not math.isfinite(float(s)) or not 0 <= s < 1:
        raise CompressError(f"sparsity = {s!r}: must lie in [0, 1) (the fraction of synapses removed; "
                            "0 keeps all, 0.9 removes 90 %; 1 would leave no network)")
    return float(s)


def require_threshold(t: object) -> float:
    if isinstance(t, bool) or not isinstance(t, (int, float)) or not math.isfinite(float(t)) or t < 0:
        raise CompressError(f"threshold = {t!r}: must be a finite weight magnitude >= 0 A/V")
    return float(t)


def magnitudes(net: CompressedMemPropNet) -> list[torch.Tensor]:
    """|w| per layer (A/V), detached; pruned synapses read 0."""
    return [w.abs() for w in net.weight_matrices()]


def prune_k(scores: torch.Tensor, keep: torch.Tensor, k: int) -> torch.Tensor:
    """Keep-mask with exactly the k lowest-scoring entries removed (already removed ones first)."""
    flat_keep = keep.reshape(-1)
    if k < int((~flat_keep).sum()):
        raise CompressError(f"the network is already at {int((~flat_keep).sum())} pruned synapses, more than the "
                            f"{k} the target asks for: pruning never regrows synapses; start from a denser checkpoint")
    # rank: removed synapses first (score -1), then by |w|; stable sort breaks ties by position
    key = torch.where(flat_keep, scores.reshape(-1).double(), torch.full_like(scores.reshape(-1).double(), -1.0))
    order = torch.sort(key, stable=True).indices
    out = torch.ones_like(flat_keep)
    out[order[:k]] = False
    return out.reshape(keep.shape)


def _prune_rows(mags: list[torch.Tensor], keeps: list[torch.Tensor], s: float, scope: str) -> list[torch.Tensor]:
    """Keep-masks with whole rows removed, lowest RMS of kept |w| first, until >= round(s·N) pruned."""
    groups = [[k] for k in range(len(mags))] if scope == "layer" else [list(range(len(mags)))]
    out = [keep.clone() for keep in keeps]
    for layers in groups:
        rows = []  # (score, layer, row): removed rows first (score -1), stable by position
        for k in layers:
            alive = keeps[k].sum(dim=1)
            rms = torch.sqrt((mags[k].double() ** 2 * keeps[k]).sum(dim=1) / alive.clamp_min(1))
            rows += [(-1.0 if int(alive[i]) == 0 else float(rms[i]), k, i) for i in range(mags[k].shape[0])]
        target = round(s * sum(mags[k].numel() for k in layers))
        pruned = sum(int((~keeps[k]).sum()) for k in layers)
        for _, k, i in sorted(rows, key=lambda r: r[0]):
            if pruned >= target:
                break
            pruned += int(out[k][i].sum())
            out[k][i] = False
    return out


def prune_masks(net: CompressedMemPropNet, *, sparsity: float | None = None, threshold: float | None = None,
                scope: str = "global", granularity: str = "synapse") -> list[torch.Tensor]:
    """Keep-masks (True = kept) after magnitude pruning of ``net`` (see module docstring)."""
    if (sparsity is None) == (threshold is None):
        raise CompressError("give exactly one of sparsity (a fraction in [0, 1)) or threshold (A/V)")
    if scope not in SCOPES:
        raise CompressError(f"scope = {scope!r}: must be 'global' (one ranking over all layers) or 'layer'")
    if granularity not in GRANULARITIES:
        raise CompressError(f"granularity = {granularity!r}: must be 'synapse' (unstructured) or 'row' (word lines)")
    mags = magnitudes(net)
    keeps = net.masks
    if threshold is not None:
        if granularity != "synapse":
            raise CompressError("threshold pruning is per synapse; prune rows by --sparsity")
        theta = require_threshold(threshold)
        return [keep & (m >= theta) for keep, m in zip(keeps, mags, strict=True)]
    s = require_sparsity(sparsity)
    if granularity == "row":
        return _prune_rows(mags, keeps, s, scope)
    if scope == "layer":
        return [prune_k(m, keep, round(s * m.numel())) for m, keep in zip(mags, keeps, strict=True)]
    flat = torch.cat([m.reshape(-1) for m in mags])
    keep = torch.cat([k.reshape(-1) for k in keeps])
    pruned = prune_k(flat, keep, round(s * flat.numel()))
    out, start = [], 0
    for m in mags:
        out.append(pruned[start: start + m.numel()].reshape(m.shape))
        start += m.numel()
    return out


def prune(net: CompressedMemPropNet, *, sparsity: float | None = None, threshold: float | None = None,
          scope: str = "global", granularity: str = "synapse") -> CompressedMemPropNet:
    """Prune ``net`` in place (masks set, removed pairs zeroed); returns it."""
    masks = prune_masks(net, sparsity=sparsity, threshold=threshold, scope=scope, granularity=granularity)
    net.set_masks(masks)
    counts = net.synapse_counts()
    net.history.append({"step": "prune", "sparsity_target": sparsity, "threshold_A_per_V": threshold,
                        "scope": scope, "granularity": granularity, "sparsity": counts["sparsity"],
                        "sparsity_per_layer": counts["sparsity_per_layer"]})
    return net
