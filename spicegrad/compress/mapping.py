r"""Mapping a compressed network onto T×T crossbar tiles: compaction, blocking, packing, counts.

A synapse layer is a matrix [n_pre, n_post]: word lines (rows) are presynaptic inputs, bit
lines (logical columns) are postsynaptic neurons, and each synapse that exists is a differential
pair (2 devices; physical columns 2k, 2k+1 as in :mod:`spicegrad.crossbar.topology`). A T×T tile
holds T rows and T logical columns (2T physical columns, 2T² devices), the convention of
:func:`spicegrad.crossbar.tiling.plan_tiles`. The mapping:

1. **devices that exist**: a pair exists unless it was pruned; (choice, ``drop_zero_pairs``) a
   pair with G+ = G- (x+ = x-, e.g. both at one level after quantisation) carries no net current
   and is removed like a pruned one.
2. **compaction**: rows and columns with no pair left are removed (an input nobody listens to,
   a neuron nobody drives within this layer).
3. **blocking**: the compacted matrix is cut into T×T blocks; inside each block its own empty
   rows and columns are removed again, and blocks with no pair are dropped.
4. **packing**: blocks are placed block-diagonally into tiles, first-fit in decreasing size: a
   block of r rows and c columns fits a tile with at least r free rows and c free columns, and
   goes at (free row, free column). Cells outside the placed blocks hold no device, so blocks
   sharing a tile use disjoint word and bit lines and do not interact (no sneak path through an
   absent device). Packing is done per layer (each layer's own tiles, its table row) and across
   all layers (the network's total).

A neuron whose inputs land in several tiles sums their bit-line currents (the partial sums of
a tiled layer, as in ``plan_tiles``). The dense baseline is ``plan_tiles`` of the full matrix.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from ..crossbar.tiling import plan_tiles
from .network import CompressError


@dataclasses.dataclass(frozen=True)
class SynapseLayer:
    """One synapse matrix to map: names, effective weights and which pairs exist.

    ``weights`` [n_pre, n_post] (any unit, e.g. A/V); ``present`` bool of the same shape;
    ``x_pos``/``x_neg`` the pair's device states (for netlists; None if not device states);
    ``devices_per_synapse``: 2 for one differential pair, 2N for N devices per side.
    """

    name: str
    pre: str
    post: str
    weights: np.ndarray
    present: np.ndarray
    x_pos: np.ndarray | None = None
    x_neg: np.ndarray | None = None
    devices_per_synapse: int = 2

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self.weights.shape)


@dataclasses.dataclass(frozen=True)
class Block:
    """Pairs of one layer placed on one tile: original row (input) and column (neuron) indices,
    at (row_offset, col_offset) of the tile (logical columns)."""

    layer: int
    rows: tuple[int, ...]
    cols: tuple[int, ...]
    tile: int = -1
    row_offset: int = 0
    col_offset: int = 0

    @property
    def size(self) -> tuple[int, int]:
        return len(self.rows), len(self.cols)


def require_tile(tile: object) -> int:
    if isinstance(tile, bool) or not isinstance(tile, (int, np.integer)) or tile <= 0:
        raise CompressError(f"tile size = {tile!r}: must be a positive integer T (a T×T crossbar, e.g. 32, 64 or 128)")
    return int(tile)


def _blocks_of(layer_index: int, present: np.ndarray, tile: int) -> tuple[list[Block], dict[str, int]]:
    rows = np.nonzero(present.any(axis=1))[0]
    cols = np.nonzero(present.any(axis=0))[0]
    compact = present[np.ix_(rows, cols)]
    blocks = []
    for a in range(0, len(rows), tile):
        for b in range(0, len(cols), tile):
            sub = compact[a: a + tile, b: b + tile]
            r_used = np.nonzero(sub.any(axis=1))[0]
            c_used = np.nonzero(sub.any(axis=0))[0]
            if r_used.size:
                blocks.append(Block(layer_index, tuple(int(i) for i in rows[a + r_used]),
                                    tuple(int(j) for j in cols[b + c_used])))
    return blocks, {"rows_kept": int(len(rows)), "cols_kept": int(len(cols))}


def pack_blocks(blocks: list[Block], tile: int, first_tile: int = 0) -> tuple[list[Block], int]:
    """Place ``blocks`` block-diagonally on tiles (first fit, largest first); returns the placed
    blocks (input order) and the number of tiles used."""
    order = sorted(range(len(blocks)), key=lambda k: (-max(blocks[k].size), -blocks[k].size[0] * blocks[k].size[1], k))
    free: list[list[int]] = []  # per tile: [next free row, next free column]
    placed: dict[int, Block] = {}
    for k in order:
        r, c = blocks[k].size
        t = next((t for t, (fr, fc) in enumerate(free) if fr + r <= tile and fc + c <= tile), None)
        if t is None:
            free.append([0, 0])
            t = len(free) - 1
        fr, fc = free[t]
        placed[k] = dataclasses.replace(blocks[k], tile=first_tile + t, row_offset=fr, col_offset=fc)
        free[t] = [fr + r, fc + c]
    return [placed[k] for k in range(len(blocks))], len(free)


@dataclasses.dataclass
class TileMapping:
    """The network on T×T tiles: placed blocks, counts per layer and in total (:meth:`table`)."""

    layers: list[SynapseLayer]
    tile: int
    blocks: list[Block]
    n_tiles: int
    per_layer: list[dict[str, Any]]

    def devices_in_tile(self, t: int) -> int:
        return sum(int(self.layers[b.layer].present[np.ix_(b.rows, b.cols)].sum()) * self.layers[b.layer].devices_per_synapse
                   for b in self.blocks if b.tile == t)

    def _cells(self, b: Block) -> list[tuple[int, int, int, int]]:
        """(tile row, tile column, input i, neuron j) of every existing pair of block ``b``."""
        present = self.layers[b.layer].present
        out = []
        for r, i in enumerate(b.rows):
            for c, j in enumerate(b.cols):
                if present[i, j]:
                    out.append((b.row_offset + r, b.col_offset + c, i, j))
        return out

    def tile_cells(self, t: int) -> list[tuple[int, int, int, int, int]]:
        """(tile row, tile column, layer, input i, neuron j) of every pair on tile ``t``."""
        if not 0 <= t < self.n_tiles:
            raise CompressError(f"tile {t!r}: the mapping has tiles 0..{self.n_tiles - 1}")
        return [(r, c, b.layer, i, j) for b in self.blocks if b.tile == t for (r, c, i, j) in self._cells(b)]

    def tile_occupancy(self, t: int) -> np.ndarray:
        """[T, T] int: layer index + 1 where a pair sits, 0 where the cell is empty."""
        occ = np.zeros((self.tile, self.tile), dtype=np.int64)
        for r, c, layer, _, _ in self.tile_cells(t):
            occ[r, c] = layer + 1
        return occ

    @property
    def devices(self) -> int:
        return sum(row["devices"] for row in self.per_layer)

    @property
    def utilisation(self) -> float:
        return self.devices / (self.n_tiles * self.tile * self.tile * 2) if self.n_tiles else 0.0

    def summary(self) -> dict[str, Any]:
        dense_tiles = sum(row["dense_tiles"] for row in self.per_layer)
        dense_devices = sum(row["synapses"] * self.layers[k].devices_per_synapse for k, row in enumerate(self.per_layer))
        return {
            "tile": self.tile,
            "tile_devices": 2 * self.tile * self.tile,
            "layers": self.per_layer,
            "total": {"synapses": sum(r["synapses"] for r in self.per_layer),
                      "pairs": sum(r["pairs"] for r in self.per_layer),
                      "devices": self.devices, "tiles": self.n_tiles,
                      "tiles_without_cross_layer_packing": sum(r["tiles"] for r in self.per_layer),
                      "utilisation": self.utilisation, "dense_tiles": dense_tiles, "dense_devices": dense_devices},
            "tiles": [{"tile": t, "devices": self.devices_in_tile(t),
                       "utilisation": self.devices_in_tile(t) / (2 * self.tile * self.tile),
                       "blocks": [{"layer": b.layer, "rows": len(b.rows), "cols": len(b.cols),
                                   "row_offset": b.row_offset, "col_offset": b.col_offset}
                                  for b in self.blocks if b.tile == t]}
                      for t in range(self.n_tiles)],
        }

    def table(self) -> str:
        """The per-layer and total counts as a text table."""
        head = f"{'layer':<22} {'shape':>10} {'pairs':>8} {'devices':>8} {'rows':>5} {'cols':>5} {'tiles':>6} {'util.':>7} {'dense tiles':>11}"
        lines = [f"T = {self.tile} (a tile: {self.tile} rows x {self.tile} pairs = {2 * self.tile * self.tile} devices)", head]
        for row in self.per_layer:
            shape = f"{row['shape'][0]}x{row['shape'][1]}"
            lines.append(f"{row['name']:<22} {shape:>10} {row['pairs']:>8} {row['devices']:>8} {row['rows_kept']:>5} "
                         f"{row['cols_kept']:>5} {row['tiles']:>6} {row['utilisation'] * 100:>6.1f}% {row['dense_tiles']:>11}")
        tot = self.summary()["total"]
        lines.append(f"{'total (packed)':<22} {'':>10} {tot['pairs']:>8} {tot['devices']:>8} {'':>5} {'':>5} "
                     f"{tot['tiles']:>6} {tot['utilisation'] * 100:>6.1f}% {tot['dense_tiles']:>11}")
        return "\n".join(lines)


def map_layers(layers: list[SynapseLayer], tile: int, pack_across_layers: bool = True) -> TileMapping:
    """Map ``layers`` onto ``tile`` x ``tile`` crossbars (see the module docstring)."""
    tile = require_tile(tile)
    if not layers:
        raise CompressError("nothing to map: the network has no synapse layer")
    per_layer, all_blocks = [], []
    for k, layer in enumerate(layers):
        if layer.present.shape != layer.weights.shape:
            raise CompressError(f"{layer.name}: present mask {layer.present.shape} != weights {layer.weights.shape}")
        blocks, kept = _blocks_of(k, np.asarray(layer.present, dtype=bool), tile)
        _, n_alone = pack_blocks(blocks, tile)
        pairs = int(layer.present.sum())
        devices = pairs * layer.devices_per_synapse
        per_layer.append({
            "name": layer.name, "pre": layer.pre, "post": layer.post, "shape": list(layer.shape),
            "synapses": int(layer.weights.size), "pairs": pairs, "devices": devices, **kept,
            "sparsity": 1.0 - pairs / layer.weights.size, "blocks": len(blocks), "tiles": n_alone,
            "utilisation": devices / (n_alone * tile * tile * 2) if n_alone else 0.0,
            "dense_tiles": plan_tiles(np.zeros(layer.shape), tile).count,
        })
        all_blocks.append(blocks)
    if pack_across_layers:
        placed, n_tiles = pack_blocks([b for blocks in all_blocks for b in blocks], tile)
    else:
        placed, n_tiles = [], 0
        for blocks in all_blocks:
            p, n = pack_blocks(blocks, tile, first_tile=n_tiles)
            placed += p
            n_tiles += n
    return TileMapping(layers, tile, placed, n_tiles, per_layer)


def memprop_layers(net, drop_zero_pairs: bool = True) -> list[SynapseLayer]:
    """The synapse layers of a (compressed) MEMprop network, with its device states."""
    import torch

    from .network import CompressedMemPropNet
    from .quantization import nearest_level

    if not isinstance(net, CompressedMemPropNet):
        net = CompressedMemPropNet.from_net(net)
    sizes = net.cfg.layers
    names = ["input"] + [f"hidden {k}" for k in range(1, len(sizes) - 1)] + ["output"]
    out = []
    for layer, (w, (xp, xn)) in enumerate(zip(net.weight_matrices(), net.device_states(), strict=True)):
        xp, xn = xp.double().cpu(), xn.double().cpu()
        if net.levels is not None:  # programming targets: the levels themselves, not their float32 copies
            grid = net.levels.tensor(torch.float64)
            xp, xn = nearest_level(xp, grid), nearest_level(xn, grid)
        present = net.mask(layer).cpu().numpy().copy()
        if drop_zero_pairs:
            present &= (xp != xn).cpu().numpy()
        out.append(SynapseLayer(f"layer {layer + 1} ({sizes[layer]}→{sizes[layer + 1]})", names[layer],
                                names[layer + 1], w.double().cpu().numpy(), present,
                                xp.numpy(), xn.numpy()))
    return out
