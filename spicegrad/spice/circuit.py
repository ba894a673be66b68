"""Circuits as data: nets and blocks of elements, checked as a graph, rendered to ngspice at the edge.

A :class:`Circuit` is the incidence graph of elements and nets: every element pin is an edge from
the element to the net it touches. Elements of one kind are stored in *blocks* (numpy arrays of
net ids and values), so a 1024x1024 crossbar (2 M devices, up to 6 M elements) stays a few
hundred MB; :meth:`Circuit.to_networkx` gives the same graph as a ``networkx.Graph`` (nets and
elements as nodes) for inspection and drawing of small circuits.

Before text is written, :meth:`Circuit.check` proves the graph well formed, naming the offending
node or element:

* no duplicate element names (ngspice names are case-insensitive) and no duplicate nets;
* no floating net (a net must touch at least two element pins);
* every net has a DC path to ground, so ``.op`` is well posed. Element kinds say which pins
  conduct DC between each other (``dc_links``) and which reach ground inside a subcircuit
  (``dc_ground``); capacitors and current sources conduct none.

Rendering reuses :mod:`spicegrad.spice.netlist`'s checks: every name and node passes
``check_name``/``check_node`` (a generated name ``prefix_i_j`` is checked through its prefix:
digits and ``_`` cannot leave the character set), every number is ``number``'s text (finite
floats only; formatted once per distinct value), sources are
:class:`~spicegrad.spice.netlist.Source` objects. A user value such as
``"1\\n.control\\nshell ..."`` is therefore rejected wherever it enters.

The element lines are assembled by numpy, block by block (:func:`_join_lines`: columns of
byte strings side by side, padding dropped), without a Python object per element: a
1024x1024 differential crossbar renders in about 1.6 s of CPU time (benchmarks/crossbar_bench.py).
:meth:`Circuit.render_pieces` gives the text in pieces of a few MB for streaming writers.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import InputError
from .netlist import Netlist, Source, check_name, check_node, number

GROUND = "0"
_GENERATED = re.compile(r"^(.*?)((?:_\d+)+)$")


@dataclass(frozen=True)
class ElementKind:
    """What an ngspice element is: type letter, pin names and how DC flows through it.

    ``dc_links`` are pin-index pairs joined by a DC (resistive) path inside the element;
    ``dc_ground`` are pins with a DC path to ground inside a subcircuit; ``model`` is the
    subcircuit name of an ``X`` element.
    """

    letter: str
    pins: tuple[str, ...]
    dc_links: tuple[tuple[int, int], ...] = ()
    dc_ground: tuple[int, ...] = ()
    model: str | None = None


RESISTOR = ElementKind("R", ("a", "b"), ((0, 1),))
CAPACITOR = ElementKind("C", ("a", "b"))
VSOURCE = ElementKind("V", ("plus", "minus"), ((0, 1),))
ISOURCE = ElementKind("I", ("plus", "minus"))
#: current-controlled current source: value = (controlling V source's full name, gain)
CCCS = ElementKind("F", ("plus", "minus"))
#: behavioural source: value = a Source whose text is its ``V=...`` or ``I=...`` expression
#: (:func:`~spicegrad.spice.netlist.pwl_of`); DC path between the pins as for a voltage source
BSOURCE = ElementKind("B", ("plus", "minus"), ((0, 1),))


def subcircuit(
    model: str,
    pins: Sequence[str],
    dc_links: Iterable[tuple[int, int]] = (),
    dc_ground: Iterable[int] = (),
) -> ElementKind:
    """Kind of an ``X`` instance of subcircuit ``model`` with the given pins and DC behaviour."""
    return ElementKind("X", tuple(pins), tuple(dc_links), tuple(dc_ground), check_name(model, "subcircuit"))


@dataclass
class _Names:
    """Names of a block: explicit, or generated as ``prefix_i_j...`` over ``shape`` (C order)."""

    prefix: str | None = None
    shape: tuple[int, ...] = ()
    explicit: list[str] | None = None

    def __len__(self) -> int:
        return len(self.explicit) if self.explicit is not None else int(np.prod(self.shape))

    def all(self) -> list[str]:
        if self.explicit is not None:
            return self.explicit
        return "".join(_join_lines([*self.parts(), "\n"], len(self))).split("\n")[:-1]

    def parts(self) -> list:
        """The names as :func:`_join_lines` parts: the explicit names, or the prefix and one
        column of index texts per axis (C order)."""
        n = len(self)
        if self.explicit is not None:
            return [(_texts(self.explicit), np.arange(n))]
        parts: list = [self.prefix]
        if self.shape and n:
            digits = np.arange(max(self.shape)).astype("S")
            for axis in np.unravel_index(np.arange(n), self.shape):
                parts += ["_", (digits, axis)]
        return parts

    def at(self, k: int) -> str:
        if self.explicit is not None:
            return self.explicit[k]
        return self.prefix + "".join(f"_{i}" for i in np.unravel_index(k, self.shape))

    def contains_generated(self, name: str) -> bool:
        """Whether ``name`` (lower case) is one of this block's generated names."""
        if self.explicit is not None:
            return False
        m = _GENERATED.match(name)
        if not m or m.group(1) != self.prefix.lower():
            return False
        index = [int(s) for s in m.group(2).split("_")[1:]]
        return len(index) == len(self.shape) and all(0 <= i < n for i, n in zip(index, self.shape, strict=True))


@dataclass
class _Block:
    kind: ElementKind
    names: _Names
    nodes: np.ndarray  # int64 [n, pins]
    values: object  # see Circuit.add / add_block
    params: dict[str, np.ndarray] = field(default_factory=dict)


def _check_prefix(prefix: str, checker) -> str:
    """A generated name is prefix + "_<int>"...: checking one member checks them all."""
    if not isinstance(prefix, str):
        raise CircuitError(f"name prefix {prefix!r}: must be a string")
    checker(f"{prefix}_0")
    return prefix


#: bytes of text assembled at once (bounds the temporaries of a 2 M-device block)
_CHUNK_BYTES = 1 << 22
#: stands for the element lines in the rendered frame; cannot occur elsewhere (comments and the
#: title replace control characters, names and numbers are checked)
_BLOCKS_MARK = "\x00"


def _texts(strings: Sequence[str]) -> np.ndarray:
    """``strings`` as a byte-string array (UTF-8), a table for :func:`_join_lines`."""
    encoded = [s.encode() for s in strings]
    if any(b"\0" in e for e in encoded):
        raise CircuitError(f"text {next(s for s in strings if chr(0) in s)!r}: contains a NUL character")
    return np.array(encoded or [b""], dtype="S")


def _join_lines(parts: Sequence, n: int) -> Iterator[str]:
    """``n`` lines of text, concatenated, in pieces of about ``_CHUNK_BYTES``.

    Each part is a constant ``str`` shared by every line, or a column ``(table, index)``: line
    k takes ``table[index[k]]`` from a byte-string array. Columns are copied side by side into
    a byte matrix (each at its table's width, padded with NUL) and the padding is dropped: the
    text is built by numpy, with no Python object per line.
    """
    consts = {p: np.frombuffer(p.encode(), np.uint8) for p in parts if isinstance(p, str)}
    width = sum(consts[p].size if isinstance(p, str) else p[0].dtype.itemsize for p in parts)
    step = max(1, _CHUNK_BYTES // max(width, 1))
    for lo in range(0, n, step):
        hi = min(lo + step, n)
        buf = np.empty((hi - lo, width), np.uint8)  # every byte is written below
        at = 0
        for p in parts:
            if isinstance(p, str):
                cells = consts[p]
            else:
                table, index = p
                cells = table[index[lo:hi]].view(np.uint8).reshape(hi - lo, table.dtype.itemsize)
            buf[:, at:at + cells.shape[-1]] = cells
            at += cells.shape[-1]
        yield buf[buf != 0].tobytes().decode()


def _numbers(values: np.ndarray, what: str) -> tuple[np.ndarray, np.ndarray]:
    """``number()`` of every value as a :func:`_join_lines` column (texts, index), formatted
    once per distinct value (wires share one value); a non-finite value raises ``number()``'s
    error."""
    values = np.asarray(values, dtype=float).ravel()
    if values.size and values.min() == values.max():  # one value (a wire block): no sort
        distinct, inverse = values[:1], np.broadcast_to(np.intp(0), values.shape)
    else:
        distinct, inverse = np.unique(values, return_inverse=True)
    bad = ~np.isfinite(distinct)
    if bad.any():
        number(distinct[np.argmax(bad)].item(), what)  # raises, naming the value
    # number() of a finite float is its repr; calling repr directly halves the cost per value
    # (tests/test_crossbar_netlist.py compares the two)
    return np.array(list(map(repr, distinct.tolist())), dtype="S"), inverse


def _components(n: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The smallest node of each node's connected component, for ``n`` nodes joined by the
    undirected edges ``a[k]``-``b[k]``.

    Union-find in numpy (importing scipy.sparse.csgraph took as long as writing a 2 M-device
    netlist): every round hooks each edge's larger root onto its smaller one, then pointer
    jumping makes every node point at its root. A node only ever points to a smaller one, so
    there is no cycle, and the final root of a component is its smallest member.
    """
    root = np.arange(n, dtype=np.int64)
    ra, rb = a, b  # every node its own root
    while True:
        split = ra != rb
        if not split.any():
            return root
        if not split.all():
            a, b, ra, rb = a[split], b[split], ra[split], rb[split]  # joined ends stay joined
        np.minimum.at(root, np.maximum(ra, rb), np.minimum(ra, rb))
        while True:
            jumped = root[root]
            if np.array_equal(jumped, root):
                break
            root = jumped
        ra, rb = root[a], root[b]


class CircuitError(InputError):
    """The circuit graph is not a valid ngspice circuit; the message names the net or element."""


class Circuit:
    """An ngspice circuit as data: nets, element blocks, model libraries and analyses."""

    def __init__(self, title: str):
        self.title = title
        self._net_names: list[str] = [GROUND]
        self._net_index: dict[str, int] = {GROUND: 0}
        self._net_blocks: list[tuple[str, tuple[int, ...], int]] = []  # prefix, shape, first id
        self._blocks: list[_Block] = []
        self._explicit: dict[str, dict[str, None]] = {}  # letter -> lower-case names
        self._generated: dict[str, list[_Names]] = {}
        self.libraries: list[str] = []
        self.inline_models = False
        self._analysis: list[tuple[str, tuple]] = []
        self._options: dict[str, float | str] = {}
        self._saves: list[str] = []
        self._prints: list[str] = []
        #: comment lines under the title (:func:`spicegrad.spice.provenance.header`)
        self.header: list[str] = []

    # --- nets -------------------------------------------------------------------------------

    @property
    def n_nets(self) -> int:
        return len(self._net_names)

    def net(self, name: str) -> int:
        """Id of net ``name`` (created on first use); ``"0"`` is ground."""
        key = check_node(name).lower()
        if key in self._net_index:
            return self._net_index[key]
        if key == "gnd":
            raise CircuitError("net 'gnd': ngspice treats it as ground; name ground '0'")
        for prefix, shape, _ in self._net_blocks:
            if _Names(prefix, shape).contains_generated(key):
                raise CircuitError(f"net {name!r} is already a net of the array {prefix!r}")
        self._net_index[key] = len(self._net_names)
        self._net_names.append(name)
        return self._net_index[key]

    def nets(self, prefix: str, shape: Sequence[int]) -> np.ndarray:
        """A fresh array of nets named ``prefix_i_j...``; returns their ids shaped ``shape``."""
        _check_prefix(prefix, check_node)
        shape = tuple(int(s) for s in shape)
        low = prefix.lower()
        for other, _, _ in self._net_blocks:
            o = other.lower()
            if o == low or o.startswith(low + "_") or low.startswith(o + "_"):
                raise CircuitError(f"net array {prefix!r} clashes with net array {other!r}")
        names = _Names(prefix, shape)
        for existing in self._net_index:
            if names.contains_generated(existing):
                raise CircuitError(f"net array {prefix!r} would re-create net {existing!r}")
        first = len(self._net_names)
        self._net_blocks.append((prefix, shape, first))
        self._net_names.extend(names.all())
        return np.arange(first, first + len(names), dtype=np.int64).reshape(shape)

    def net_name(self, net_id: int) -> str:
        return self._net_names[int(net_id)]

    # --- elements ---------------------------------------------------------------------------

    def _register_names(self, kind: ElementKind, names: _Names) -> None:
        letter = kind.letter
        taken = self._explicit.setdefault(letter, {})
        gens = self._generated.setdefault(letter, [])
        if names.explicit is not None:
            for name in names.explicit:
                check_name(name, "element name")
                key = name.lower()
                if key in taken or any(g.contains_generated(key) for g in gens):
                    raise CircuitError(f"element name {letter}{name!r} is used twice")
                taken[key] = None
            return
        _check_prefix(names.prefix, lambda n: check_name(n, "element name"))
        low = names.prefix.lower()
        for g in gens:
            o = g.prefix.lower()
            if o == low or o.startswith(low + "_") or low.startswith(o + "_"):
                raise CircuitError(f"element array {letter}{names.prefix} clashes with {letter}{g.prefix}")
        for key in taken:
            if names.contains_generated(key):
                raise CircuitError(f"element name {letter}{key!r} is used twice")
        gens.append(names)

    def _node_ids(self, kind: ElementKind, nodes) -> np.ndarray:
        arr = np.asarray(nodes)
        if arr.dtype.kind in "US" or arr.dtype == object:
            arr = np.vectorize(lambda n: self.net(str(n)), otypes=[np.int64])(arr)
        arr = arr.astype(np.int64).reshape(-1, len(kind.pins))
        if arr.size and (arr.min() < 0 or arr.max() >= self.n_nets):
            raise CircuitError(f"{kind.letter} elements refer to net ids outside 0..{self.n_nets - 1}")
        return arr

    def add(self, kind: ElementKind, name: str, nodes: Sequence[str | int], value=None, **params: float) -> None:
        """Add one element: ``value`` is ohms/farads (R, C), volts/amps or a Source (V, I),
        ``(controlling_source, gain)`` (F); ``params`` are subcircuit parameters (X)."""
        if len(nodes) != len(kind.pins):
            raise CircuitError(f"{kind.letter}{name}: {len(kind.pins)} pins {kind.pins}, got nodes {list(nodes)}")
        self.add_block(kind, [name], [list(nodes)], None if value is None else [value],
                       {k: np.asarray([v], dtype=float) for k, v in params.items()})

    def add_block(
        self,
        kind: ElementKind,
        names: Sequence[str] | tuple[str, Sequence[int]],
        nodes,
        values=None,
        params: Mapping[str, np.ndarray | float] | None = None,
    ) -> None:
        """Add many elements of one kind.

        ``names``: a list of names, or ``(prefix, shape)`` for generated names ``prefix_i_j``.
        ``nodes``: net ids (or net names) shaped [n, pins]. ``values``: one per element (see
        :meth:`add`), an array for R/C. ``params``: subcircuit parameters, each a scalar or an
        array with one value per element (X only).
        """
        if isinstance(names, tuple) and len(names) == 2 and isinstance(names[0], str) and not isinstance(names[1], str):
            block_names = _Names(prefix=names[0], shape=tuple(int(s) for s in names[1]))
        else:
            block_names = _Names(explicit=list(names))
        n = len(block_names)
        node_ids = self._node_ids(kind, nodes)
        if node_ids.shape[0] != n:
            raise CircuitError(f"{kind.letter} block: {n} names but {node_ids.shape[0]} node rows")
        if kind.letter == "X":
            if values is not None:
                raise CircuitError("subcircuit instances take params, not values")
        elif values is None or len(values) != n:
            raise CircuitError(f"{kind.letter} block: need one value per element ({n})")
        elif kind.letter in "RC":
            try:
                values = np.asarray(values, dtype=float).reshape(n)
            except (TypeError, ValueError):
                raise CircuitError(f"{kind.letter} block {block_names.at(0)!r}...: values must be finite real numbers") from None
        full = {}
        for key, val in (params or {}).items():
            check_name(key, "parameter")
            arr = np.broadcast_to(np.asarray(val, dtype=float), (n,))
            full[key] = arr
        self._register_names(kind, block_names)
        self._blocks.append(_Block(kind, block_names, node_ids, values, full))

    # --- models and analyses ----------------------------------------------------------------

    def use_library(self, path: str | Path) -> None:
        """``.include`` this model library (or inline it when ``inline_models`` is set)."""
        p = str(Path(path).resolve())
        if p not in self.libraries:
            self.libraries.append(p)

    def options(self, **opts: float | str) -> None:
        self._options.update(opts)

    def tran(self, step: float, stop: float, max_step: float | None = None, uic: bool = True) -> None:
        self._analysis.append(("tran", (step, stop, max_step, uic)))

    def op(self) -> None:
        self._analysis.append(("op", ()))

    def dc(self, source: str, start: float, stop: float, step: float) -> None:
        """A DC sweep of source ``source`` (full name, e.g. ``Vslot``) from start to stop."""
        self._analysis.append(("dc", (source, start, stop, step)))

    def save(self, *vectors: str) -> None:
        self._saves.extend(vectors)

    def print_results(self, *vectors: str) -> None:
        """Vectors that ``ngspice -b FILE`` prints (``.print tran``; a ``.op`` prints itself)."""
        self._prints.extend(vectors)

    @property
    def analysis(self) -> str | None:
        """The last analysis added: ``"tran"``, ``"op"``, ``"dc"`` or None."""
        return self._analysis[-1][0] if self._analysis else None

    # --- graph checks -----------------------------------------------------------------------

    def _element_at(self, block: _Block, k: int) -> str:
        return block.kind.letter + block.names.at(k)

    def _elements_touching(self, net_id: int, limit: int = 3) -> list[str]:
        found = []
        for block in self._blocks:
            rows = np.nonzero((block.nodes == net_id).any(axis=1))[0]
            found += [self._element_at(block, int(k)) for k in rows[: limit - len(found)]]
            if len(found) >= limit:
                break
        return found

    def check(self) -> None:
        """Raise :class:`CircuitError` naming the net or element at fault, if any."""
        n = self.n_nets
        counts = np.zeros(n, dtype=np.int64)
        for block in self._blocks:
            counts += np.bincount(block.nodes.ravel(), minlength=n)
        for net_id in np.nonzero(counts[1:] < 2)[0][:1] + 1:
            touching = self._elements_touching(int(net_id))
            raise CircuitError(
                f"net {self.net_name(net_id)!r} is floating: it touches {int(counts[net_id])} element pin(s)"
                + (f" ({', '.join(touching)})" if touching else "")
                + "; every net needs at least two connections"
            )
        if counts[0] == 0:
            raise CircuitError("the circuit has no connection to ground (net '0')")
        unreached = self._nets_without_dc_path()
        if unreached.size:
            names = ", ".join(repr(self.net_name(i)) for i in unreached[:5])
            more = f" and {unreached.size - 5} more" if unreached.size > 5 else ""
            touching = ", ".join(self._elements_touching(int(unreached[0])))
            raise CircuitError(
                f"no DC path to ground from net(s) {names}{more} (net {self.net_name(unreached[0])!r} "
                f"touches {touching}): connect them through a resistive element so .op is well posed"
            )

    def _nets_without_dc_path(self) -> np.ndarray:
        a, b = [], []
        for block in self._blocks:
            for p, q in block.kind.dc_links:
                a.append(block.nodes[:, p])
                b.append(block.nodes[:, q])
            for p in block.kind.dc_ground:
                a.append(block.nodes[:, p])
                b.append(np.zeros(len(block.nodes), dtype=np.int64))
        n = self.n_nets
        if a:
            a, b = np.concatenate(a), np.concatenate(b)
        else:
            a = b = np.zeros(0, dtype=np.int64)
        root = _components(n, a, b)
        return np.nonzero(root != 0)[0]

    def to_networkx(self):
        """The circuit as a bipartite ``networkx.Graph``: nets (``kind="net"``) and elements
        (``kind="element"``), an edge per pin (``pin=``). Meant for small circuits."""
        import networkx as nx

        g = nx.Graph()
        g.add_nodes_from((name, {"kind": "net"}) for name in self._net_names)
        for block in self._blocks:
            names = block.names.all()
            for k, name in enumerate(names):
                element = block.kind.letter + name
                g.add_node(element, kind="element", letter=block.kind.letter, model=block.kind.model)
                for pin, net_id in zip(block.kind.pins, block.nodes[k].tolist(), strict=True):
                    g.add_edge(element, self._net_names[net_id], pin=pin)
        return g

    # --- rendering --------------------------------------------------------------------------

    def _tails(self, block: _Block) -> list:
        """The element lines' ends after the nodes, as :func:`_join_lines` parts."""
        kind, n = block.kind, len(block.names)
        if kind.letter in "RC":
            what = "resistance" if kind.letter == "R" else "capacitance"
            if kind.letter == "R" and np.any(block.values <= 0):
                k = int(np.nonzero(block.values <= 0)[0][0])
                raise CircuitError(f"{self._element_at(block, k)}: resistance {block.values[k]!r} must be > 0")
            return [_numbers(block.values, what)]
        if kind.letter in "VIB":
            if kind.letter == "B" and not all(isinstance(v, Source) for v in block.values):
                raise CircuitError(f"B block {block.names.at(0)!r}...: values must be Source expressions (pwl_of)")
            texts = [v.text if isinstance(v, Source) else "DC " + number(v, "source value") for v in block.values]
            return [(_texts(texts), np.arange(n))]
        if kind.letter == "F":
            texts = [f"{check_name(src, 'controlling source')} {number(gain, 'gain')}" for src, gain in block.values]
            return [(_texts(texts), np.arange(n))]
        if not block.params:
            return [kind.model]
        parts: list = [kind.model + " params:"]
        for key, values in block.params.items():
            parts += [f" {key}=", _numbers(values, f"parameter {key}")]
        return parts

    def _block_pieces(self, block: _Block, net_names: np.ndarray) -> Iterator[str]:
        """The block's element lines, each ending in a newline, in pieces (:func:`_join_lines`)."""
        n = len(block.names)
        if n == 0:  # an empty block is an empty line
            yield "\n"
            return
        parts = [block.kind.letter, *block.names.parts()]
        for p in range(block.nodes.shape[1]):
            parts += [" ", (net_names, block.nodes[:, p])]
        yield from _join_lines([*parts, " ", *self._tails(block), "\n"], n)

    def render_pieces(self) -> Iterator[str]:
        """:meth:`render`'s text in pieces (their concatenation), for writing a large netlist
        without holding it twice: the graph is checked before the first piece."""
        self.check()
        net = Netlist(self.title, header=list(self.header))
        for lib in self.libraries:
            net.library(lib, "inline" if self.inline_models else "absolute")
        if self._blocks:
            net.lines.append(_BLOCKS_MARK)
        if self._options:
            net.options(**self._options)
        for what, args in self._analysis:
            if what == "tran":
                step, stop, max_step, uic = args
                net.tran(step, stop, max_step=max_step, uic=uic)
            elif what == "dc":
                net.dc(*args)
            else:
                net.op()
        if self._saves:
            net.save(*self._saves)
        if self._prints and any(what == "tran" for what, _ in self._analysis):
            net.print_tran(*self._prints)
        frame = net.render()
        if not self._blocks:
            yield frame
            return
        if frame.count(_BLOCKS_MARK) != 1:
            bad = [lib for lib in self.libraries if _BLOCKS_MARK in Path(lib).read_text()]
            raise CircuitError(f"model library {bad[0] if bad else '?'}: contains a NUL character")
        head, _, rest = frame.partition("\n" + _BLOCKS_MARK + "\n")
        yield head + "\n"
        net_names = np.array(self._net_names, dtype="S")  # checked nets: ASCII
        for block in self._blocks:
            yield from self._block_pieces(block, net_names)
        yield rest

    def render(self) -> str:
        """Check the graph, then write ngspice text (``.include`` or inlined model libraries)."""
        return "".join(self.render_pieces())

    @property
    def n_elements(self) -> int:
        return sum(len(b.names) for b in self._blocks)
