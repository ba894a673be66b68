"""Tiling: an arbitrary weight matrix on T x T crossbar tiles (default 128 x 128).

Tile (a, b) holds weights W[a·T:(a+1)·T, b·T:(b+1)·T]; a tile's T logical columns are 2T
physical columns for differential pairs. Partial tiles at the edges are padded with zero
weights (cells left at g_min), so every tile is a full T x T array. One weight scale (w_max over
the whole matrix) serves every tile, so tile outputs add up in the same units: the output of
logical column k is the sum over its row tiles.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .generator import check_size, crossbar_circuit
from .mapping import map_weights, require_weights
from .topology import CrossbarSpec, require_count


@dataclass(frozen=True)
class Tile:
    index: int
    rows: slice
    cols: slice


@dataclass
class TilePlan:
    """Where each block of a weight matrix sits; ``netlist(k)`` writes tile k."""

    weights: np.ndarray
    tile: int
    pairs: str = "differential"

    def __post_init__(self) -> None:
        self.weights = require_weights(self.weights)
        self.tile = require_count("TilePlan", "tile", self.tile)
        r, c = self.weights.shape
        self.grid = (math.ceil(r / self.tile), math.ceil(c / self.tile))

    @property
    def tiles(self) -> list[Tile]:
        t = self.tile
        return [Tile(a * self.grid[1] + b, slice(a * t, min((a + 1) * t, self.weights.shape[0])),
                     slice(b * t, min((b + 1) * t, self.weights.shape[1])))
                for a in range(self.grid[0]) for b in range(self.grid[1])]

    @property
    def count(self) -> int:
        return self.grid[0] * self.grid[1]

    @property
    def per_weight(self) -> int:
        return 2 if self.pairs == "differential" else 1

    @property
    def devices_used(self) -> int:
        """Devices that hold a weight of the matrix."""
        return self.weights.size * self.per_weight

    @property
    def devices_total(self) -> int:
        """Devices on all tiles together."""
        return self.count * self.tile * self.tile * self.per_weight

    @property
    def utilisation(self) -> float:
        return self.devices_used / self.devices_total

    def tile_weights(self, k: int) -> np.ndarray:
        """Weights of tile ``k``, zero-padded to T x T."""
        if not 0 <= k < self.count:
            raise ValueError(f"tile {k!r}: must lie in 0..{self.count - 1}")
        tile = self.tiles[k]
        block = np.zeros((self.tile, self.tile))
        part = self.weights[tile.rows, tile.cols]
        block[: part.shape[0], : part.shape[1]] = part
        return block

    def mapping(self, k: int, device: str = "mss", g_range: tuple[float, float] | None = None, params=None):
        """The :class:`~spicegrad.crossbar.mapping.Mapping` of tile ``k`` (one w_max for all tiles)."""
        from .devices import get_device, resolve_params

        dev = get_device(device)
        g_min, g_max = g_range or dev.g_range(resolve_params(dev, params))
        w_max = float(np.abs(self.weights).max()) or 1.0
        return map_weights(self.tile_weights(k), g_min, g_max, self.pairs, w_max=w_max)

    def circuit(self, k: int, device: str = "mss", g_range: tuple[float, float] | None = None, **kwargs):
        """The circuit of tile ``k`` (keyword arguments as :func:`crossbar_circuit`); the size is
        checked (``force``) before the padded tile is allocated."""
        spec_kw = {key: kwargs.pop(key) for key in ("r_wire", "r_driver", "r_sense") if key in kwargs}
        spec = CrossbarSpec(self.tile, self.tile, self.pairs, **spec_kw)
        check_size(spec, device, kwargs.get("force", False))
        mapping = self.mapping(k, device, g_range, kwargs.get("params"))
        return crossbar_circuit(spec, device, mapping.g, **kwargs)

    def netlist(self, k: int, device: str = "mss", **kwargs) -> str:
        return self.circuit(k, device, **kwargs).render()

    def summary(self) -> dict:
        return {"shape": list(self.weights.shape), "tile": self.tile, "grid": list(self.grid), "tiles": self.count,
                "devices_used": self.devices_used, "devices_total": self.devices_total,
                "utilisation": self.utilisation}


def plan_tiles(weights, tile: int = 128, pairs: str = "differential") -> TilePlan:
    """Tile ``weights`` [rows, outputs] onto ``tile`` x ``tile`` crossbars."""
    return TilePlan(weights, tile, pairs)
