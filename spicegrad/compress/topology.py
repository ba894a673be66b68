r"""Topology view: the compressed network as a networkx graph, drawn layer by layer and tile by tile.

:func:`topology_graph` builds a ``networkx.DiGraph`` from a :class:`~.mapping.TileMapping`:

* **neuron groups** (``kind="neurons"``): each population (input, hidden, output, ...) is split
  into at most ``max_nodes`` groups of consecutive neurons (784 inputs -> 28 groups of 28, one
  per image row; 100 hidden -> 25 groups of 4; 10 outputs stay 10), so a 784-100-10 network
  stays readable;
* **synapse edges** group -> group (``kind="synapses"``) carrying ``pairs`` (existing pairs
  between the two groups) and ``weight`` (their summed weight);
* **tiles** (``kind="tile"``) with edges group -> tile (``kind="row"``: the group's inputs drive
  word lines of the tile) and tile -> group (``kind="column"``: the tile's bit lines feed the
  group's neurons), carrying how many lines.

:func:`draw_topology` draws two panels from it (PNG and SVG): "layer by layer" (groups in
columns, edge width ∝ pairs, colour = sign of the summed weight) and "tile by tile" (the
populations with the tiles between them, each tile labelled with its device count and
utilisation), plus the occupancy map of each tile (which cell holds a pair of which layer).
"""

from __future__ import annotations

import math
from pathlib import Path

import networkx as nx
import numpy as np

from .mapping import TileMapping
from .network import CompressError


def _groups(n: int, max_nodes: int) -> list[tuple[int, int]]:
    size = math.ceil(n / max_nodes)
    return [(a, min(a + size, n)) for a in range(0, n, size)]


def _label(pop: str, a: int, b: int) -> str:
    return f"{pop} {a}" if b - a == 1 else f"{pop} {a}-{b - 1}"


def topology_graph(mapping: TileMapping, max_nodes: int = 28) -> nx.DiGraph:
    """The network of ``mapping`` as a graph of neuron groups and tiles (module docstring)."""
    if isinstance(max_nodes, bool) or not isinstance(max_nodes, int) or max_nodes < 1:
        raise CompressError(f"max_nodes = {max_nodes!r}: must be an integer >= 1 (groups drawn per population)")
    g = nx.DiGraph()
    pops: dict[str, int] = {}
    for layer in mapping.layers:
        pops.setdefault(layer.pre, layer.shape[0])
        pops.setdefault(layer.post, layer.shape[1])
    group_of: dict[str, np.ndarray] = {}
    for column, (pop, n) in enumerate(pops.items()):
        groups = _groups(n, max_nodes)
        index = np.zeros(n, dtype=np.int64)
        for k, (a, b) in enumerate(groups):
            index[a:b] = k
            g.add_node((pop, k), kind="neurons", population=pop, column=column, order=k, members=(a, b),
                       size=b - a, label=_label(pop, a, b))
        group_of[pop] = index
    for layer in mapping.layers:
        pre, post = group_of[layer.pre], group_of[layer.post]
        i, j = np.nonzero(layer.present)
        if i.size == 0:
            continue
        key = pre[i] * (post.max() + 1) + post[j]
        pairs = np.bincount(key, minlength=(pre.max() + 1) * (post.max() + 1))
        wsum = np.bincount(key, weights=layer.weights[i, j], minlength=pairs.size)
        for k in np.nonzero(pairs)[0]:
            a, b = divmod(int(k), int(post.max() + 1))
            g.add_edge((layer.pre, a), (layer.post, b), kind="synapses", layer=layer.name,
                       pairs=int(pairs[k]), weight=float(wsum[k]))
    for t in range(mapping.n_tiles):
        cells = mapping.tile_cells(t)
        layers = sorted({c[2] for c in cells})
        devices = mapping.devices_in_tile(t)
        g.add_node(("tile", t), kind="tile", tile=t, layers=layers, devices=devices,
                   utilisation=devices / (2 * mapping.tile ** 2), label=f"tile {t}")
        rows, cols = {}, {}
        for _, _, layer, i, j in cells:
            L = mapping.layers[layer]
            rows.setdefault((L.pre, int(group_of[L.pre][i])), set()).add((layer, i))
            cols.setdefault((L.post, int(group_of[L.post][j])), set()).add((layer, j))
        for node, lines in rows.items():
            g.add_edge(node, ("tile", t), kind="row", lines=len(lines))
        for node, lines in cols.items():
            g.add_edge(("tile", t), node, kind="column", lines=len(lines))
    g.graph.update(tile=mapping.tile, populations=list(pops), n_tiles=mapping.n_tiles)
    return g


def _neuron_positions(g: nx.DiGraph, x_of_column) -> dict:
    pos = {}
    for node, d in g.nodes(data=True):
        if d["kind"] != "neurons":
            continue
        n = sum(1 for _, e in g.nodes(data=True) if e["kind"] == "neurons" and e["population"] == d["population"])
        pos[node] = (x_of_column(d["column"]), 1.0 - (d["order"] + 0.5) / n)
    return pos


def draw_topology(g: nx.DiGraph, mapping: TileMapping, path: str | Path, title: str = "") -> list[Path]:
    """Draw ``g`` (from :func:`topology_graph`) to ``path`` with suffixes .png and .svg."""
    from matplotlib.colors import ListedColormap

    from .._figure import new_figure
    from .._io import atomic_savefig

    n_tiles = mapping.n_tiles
    shown = min(n_tiles, 24)
    occ_cols = min(shown, 6) or 1
    occ_rows = math.ceil(shown / occ_cols) if shown else 0
    fig = new_figure(figsize=(17, 8.5 + 2.6 * occ_rows))
    grid = fig.add_gridspec(1 + occ_rows, 2 * occ_cols, height_ratios=[8.5] + [2.6] * occ_rows)
    ax_layer = fig.add_subplot(grid[0, :occ_cols])
    ax_tile = fig.add_subplot(grid[0, occ_cols:])
    pops = g.graph["populations"]

    # --- layer by layer ---------------------------------------------------------------------
    pos = _neuron_positions(g, lambda c: float(c))
    syn = [(u, v, d) for u, v, d in g.edges(data=True) if d["kind"] == "synapses"]
    neurons = [n for n, d in g.nodes(data=True) if d["kind"] == "neurons"]
    top = max((d["pairs"] for *_, d in syn), default=1)
    for recurrent in (False, True):  # within one population (e-prop's w_rec): arcs beside the column
        sel = [(u, v, d) for u, v, d in syn if (u[0] == v[0]) == recurrent]
        if not sel:
            continue
        style = {"arrows": True, "arrowstyle": "-", "connectionstyle": "arc3,rad=0.6"} if recurrent else {"arrows": False}
        nx.draw_networkx_edges(g, pos, ax=ax_layer, edgelist=[(u, v) for u, v, _ in sel],
                               width=[0.3 + 3.0 * d["pairs"] / top for *_, d in sel],
                               edge_color=["C3" if d["weight"] > 0 else "C0" for *_, d in sel], alpha=0.35, **style)
    nx.draw_networkx_nodes(g, pos, ax=ax_layer, nodelist=neurons, node_size=[20 + 4 * g.nodes[n]["size"] for n in neurons],
                           node_color="0.25")
    for c, pop in enumerate(pops):
        members = [g.nodes[n] for n in neurons if g.nodes[n]["population"] == pop]
        size = members[0]["size"] if members else 1
        n_total = sum(m["size"] for m in members)
        ax_layer.text(c, 1.04, f"{pop}\n{n_total} neurons" + (f"\n(groups of {size})" if size > 1 else ""),
                      ha="center", va="bottom", fontsize=9)
    ax_layer.set_xlim(-0.5, len(pops) - 0.5)
    ax_layer.set_ylim(-0.04, 1.16)
    ax_layer.set_title("layer by layer: edge width ∝ synapse pairs between two groups\n"
                       "(red: their summed weight > 0, blue: < 0)", fontsize=10)
    ax_layer.axis("off")

    # --- tile by tile -----------------------------------------------------------------------
    pos_t = _neuron_positions(g, lambda c: 2.0 * c)
    tiles = [n for n, d in g.nodes(data=True) if d["kind"] == "tile"]
    by_gap: dict[int, list] = {}
    for node in tiles:
        gap = min(g.nodes[node]["layers"]) if g.nodes[node]["layers"] else 0
        pre_col = pops.index(mapping.layers[gap].pre)
        by_gap.setdefault(pre_col, []).append(node)
    for col, nodes in by_gap.items():
        for k, node in enumerate(nodes):
            pos_t[node] = (2.0 * col + 1.0, 1.0 - (k + 0.5) / len(nodes))
    lines = [(u, v, d) for u, v, d in g.edges(data=True) if d["kind"] in ("row", "column")]
    top_l = max((d["lines"] for *_, d in lines), default=1)
    nx.draw_networkx_edges(g, pos_t, ax=ax_tile, edgelist=[(u, v) for u, v, _ in lines], arrows=False,
                           width=[0.3 + 2.5 * d["lines"] / top_l for *_, d in lines],
                           edge_color=["C2" if d["kind"] == "row" else "C1" for *_, d in lines], alpha=0.35)
    nx.draw_networkx_nodes(g, pos_t, ax=ax_tile, nodelist=neurons, node_size=[20 + 4 * g.nodes[n]["size"] for n in neurons],
                           node_color="0.25")
    nx.draw_networkx_nodes(g, pos_t, ax=ax_tile, nodelist=tiles, node_shape="s", node_size=420,
                           node_color=[g.nodes[n]["utilisation"] for n in tiles], cmap="viridis", vmin=0, vmax=1,
                           edgecolors="k")
    if len(tiles) <= 40:
        for node in tiles:
            d = g.nodes[node]
            x, y = pos_t[node]
            ax_tile.text(x + 0.09, y, f"T{d['tile']}: {d['devices']} dev, {d['utilisation'] * 100:.0f} %",
                         fontsize=7, va="center")
    for c, pop in enumerate(pops):
        ax_tile.text(2.0 * c, 1.04, pop, ha="center", va="bottom", fontsize=9)
    ax_tile.set_xlim(-0.5, 2.0 * (len(pops) - 1) + 0.5)
    ax_tile.set_ylim(-0.04, 1.16)
    ax_tile.set_title(f"tile by tile: {n_tiles} tiles of {mapping.tile}x{mapping.tile} pairs\n"
                      "(square colour: utilisation 0..1; green: word lines in, orange: bit lines out)", fontsize=10)
    from matplotlib.patches import Patch

    ax_tile.legend(handles=[Patch(color=f"C{k % 10}", label=f"cells of {L.name}") for k, L in enumerate(mapping.layers)],
                   loc="lower right", fontsize=8, title="tile occupancy (below)", title_fontsize=8)
    ax_tile.axis("off")

    # --- tile occupancy ---------------------------------------------------------------------
    cmap = ListedColormap(["white"] + [f"C{k % 10}" for k in range(len(mapping.layers))])
    for k in range(shown):
        ax = fig.add_subplot(grid[1 + k // occ_cols, 2 * (k % occ_cols): 2 * (k % occ_cols) + 2])
        ax.imshow(mapping.tile_occupancy(k), cmap=cmap, vmin=0, vmax=len(mapping.layers), interpolation="nearest")
        ax.set_title(f"tile {k}: {mapping.devices_in_tile(k)} devices", fontsize=8)
        ax.set_xlabel("bit line (pair)", fontsize=7)
        ax.set_ylabel("word line", fontsize=7)
        ax.tick_params(labelsize=6)
    if shown < n_tiles:
        fig.text(0.5, 0.005, f"occupancy of the first {shown} of {n_tiles} tiles shown", ha="center", fontsize=8)
    if title:
        fig.suptitle(title, fontsize=12)
    fig.tight_layout(rect=(0, 0.01, 1, 0.97 if title else 1))
    path = Path(path)
    stem = path.with_suffix("") if path.suffix in (".png", ".svg") else path
    out = [atomic_savefig(fig, stem.with_suffix(".png"), dpi=110), atomic_savefig(fig, stem.with_suffix(".svg"))]
    return out
