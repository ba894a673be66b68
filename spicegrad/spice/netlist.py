"""Netlists as data, rendered to ngspice text at the edge, with every token checked.

Nothing reaches the text unchecked: element names and nodes come from a strict character set,
numbers must be finite floats, sources are built from numbers by :func:`sin`, :func:`pulse`
and :func:`pwl`. A crafted value such as ``"1\\n.control\\nshell ..."`` is rejected, so a
netlist written here cannot smuggle ngspice commands.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from .provenance import comment

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_NODE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.]*$")


def check_name(name: object, what: str = "name") -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(
            f"{what} {name!r}: must start with a letter and contain only letters, digits and '_'"
        )
    return name


def check_node(node: object) -> str:
    if not isinstance(node, str) or not _NODE.match(node):
        raise ValueError(f"node {node!r}: must contain only letters, digits, '_' and '.'")
    return node


def number(value: object, what: str = "value") -> str:
    """Render a finite real number exactly (shortest text that round-trips to the same float)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) and not hasattr(value, "__float__"):
        raise ValueError(f"{what} {value!r}: must be a finite real number")
    try:
        v = float(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{what} {value!r}: must be a finite real number") from exc
    if not math.isfinite(v):
        raise ValueError(f"{what} {value!r}: must be a finite real number")
    return repr(v)


@dataclass(frozen=True)
class Source:
    """An independent-source waveform, rendered from checked numbers."""

    text: str


def sin(offset: float, amplitude: float, freq: float, delay: float = 0.0, phase_deg: float = 0.0) -> Source:
    args = [offset, amplitude, freq, delay, 0.0, phase_deg]
    return Source("SIN(" + " ".join(number(a, "SIN argument") for a in args) + ")")


def pulse(v1: float, v2: float, delay: float, rise: float, fall: float, width: float, period: float) -> Source:
    args = [v1, v2, delay, rise, fall, width, period]
    return Source("PULSE(" + " ".join(number(a, "PULSE argument") for a in args) + ")")


def pwl(times: Iterable[float], values: Iterable[float]) -> Source:
    pairs = [f"{number(t, 'PWL time')} {number(v, 'PWL value')}" for t, v in zip(times, values, strict=True)]
    # ngspice continuation lines keep very long PWL lists readable and within line limits.
    body = "\n+ ".join(" ".join(pairs[i : i + 8]) for i in range(0, len(pairs), 8))
    return Source(f"PWL(\n+ {body})")


def pwl_of(node: str, xs: Iterable[float], ys: Iterable[float]) -> Source:
    """A behavioural (``B``) voltage ``V=pwl(v(node), x0, y0, x1, y1, ...)``: ``ys`` as a
    piecewise-linear function of the voltage at ``node`` (constant beyond the ends)."""
    pairs = [f"{number(x, 'pwl abscissa')},{number(y, 'pwl value')}" for x, y in zip(xs, ys, strict=True)]
    if not pairs:
        raise ValueError("pwl_of: give at least one point")
    body = ",\n+ ".join(", ".join(pairs[i : i + 8]) for i in range(0, len(pairs), 8))
    return Source(f"V=pwl(v({check_node(node)}),\n+ {body})")


@dataclass
class Netlist:
    """An ngspice netlist: title, header comments, includes, elements, analysis and options."""

    title: str
    lines: list[str] = field(default_factory=list)
    _names: set[str] = field(default_factory=set)
    #: comment lines written under the title (see :mod:`spicegrad.spice.provenance`)
    header: list[str] = field(default_factory=list)

    def include(self, path: str | Path) -> None:
        p = str(Path(path).resolve())
        if '"' in p or "\n" in p:
            raise ValueError(f"include path {p!r}: must not contain quotes or newlines")
        self.lines.append(f'.include "{p}"')

    def inline(self, path: str | Path) -> None:
        """Copy the model library ``path`` into the netlist (instead of ``.include`` -ing it)."""
        name = Path(path).name
        self.lines.append(f"* --- inlined from {name} ---")
        self.lines.extend(Path(path).read_text().splitlines())
        self.lines.append(f"* --- end of {name} ---")

    def library(self, path: str | Path, include: str = "inline") -> None:
        """The model library ``path``: inlined (``include="inline"``) or ``.include`` -d by its
        absolute path (``"absolute"``)."""
        if include == "inline":
            self.inline(path)
        elif include == "absolute":
            self.include(path)
        else:
            raise ValueError(f"include = {include!r}: must be 'inline' or 'absolute'")

    def _element(self, name: str, nodes: Iterable[str], tail: list[str]) -> None:
        check_name(name, "element name")
        if name.lower() in self._names:
            raise ValueError(f"element name {name!r} is used twice in netlist {self.title!r}")
        self._names.add(name.lower())
        self.lines.append(" ".join([name, *(check_node(n) for n in nodes), *tail]))

    def resistor(self, name: str, a: str, b: str, ohms: float) -> None:
        self._element("R" + name, (a, b), [number(ohms, f"R{name} resistance")])

    def capacitor(self, name: str, a: str, b: str, farads: float) -> None:
        self._element("C" + name, (a, b), [number(farads, f"C{name} capacitance")])

    def vsource(self, name: str, plus: str, minus: str, value: float | Source) -> None:
        tail = [value.text] if isinstance(value, Source) else ["DC", number(value, f"V{name}")]
        self._element("V" + name, (plus, minus), tail)

    def isource(self, name: str, plus: str, minus: str, value: float | Source) -> None:
        """Current source: ``value`` flows from ``plus`` through the source into ``minus``."""
        tail = [value.text] if isinstance(value, Source) else ["DC", number(value, f"I{name}")]
        self._element("I" + name, (plus, minus), tail)

    def subckt(self, name: str, nodes: Iterable[str], model: str, params: dict[str, float]) -> None:
        check_name(model, "subcircuit")
        tail = [model]
        if params:
            tail.append("params:")
            tail += [f"{check_name(k, 'parameter')}={number(v, f'parameter {k}')}" for k, v in params.items()]
        self._element("X" + name, nodes, tail)

    def options(self, **opts: float | str) -> None:
        parts = []
        for key, val in opts.items():
            check_name(key, "option")
            parts.append(f"{key}={check_name(val, 'option value') if isinstance(val, str) else number(val, key)}")
        self.lines.append(".options " + " ".join(parts))

    def tran(self, step: float, stop: float, max_step: float | None = None, uic: bool = True) -> None:
        args = [number(step, "tran step"), number(stop, "tran stop"), "0"]
        if max_step is not None:
            args.append(number(max_step, "tran max step"))
        self.lines.append(".tran " + " ".join(args) + (" uic" if uic else ""))

    def op(self) -> None:
        """A DC operating-point analysis."""
        self.lines.append(".op")

    def dc(self, source: str, start: float, stop: float, step: float) -> None:
        """A DC sweep of the independent source ``source`` (its full name, e.g. ``Vslot``)."""
        args = [number(start, "dc start"), number(stop, "dc stop"), number(step, "dc step")]
        self.lines.append(f".dc {check_name(source, 'swept source')} " + " ".join(args))

    def save(self, *vectors: str) -> None:
        self.lines.append(".save " + " ".join(_vectors(vectors, "save")))

    def print_tran(self, *vectors: str) -> None:
        """``.print tran``: ``ngspice -b`` prints these vectors at every time point (ignored when
        a raw file is written, as spicegrad's runner does). Eight vectors per line."""
        checked = _vectors(vectors, "print")
        if not checked:
            raise ValueError(".print tran: give at least one vector")
        body = "\n+ ".join(" ".join(checked[i : i + 8]) for i in range(0, len(checked), 8))
        self.lines.append(".print tran " + body)

    def render(self) -> str:
        title = re.sub(r"[^A-Za-z0-9 _.,:=()+-]", "_", self.title)
        return "\n".join([title, *map(comment, self.header), *self.lines, ".end", ""])


def _vectors(vectors: Iterable[str], what: str) -> list[str]:
    checked = []
    for vec in vectors:
        if not isinstance(vec, str) or not re.match(r"^([vi])\(([A-Za-z0-9_.]+)\)$", vec):
            raise ValueError(f"{what} vector {vec!r}: must look like v(node) or i(vsource)")
        checked.append(vec)
    return checked
