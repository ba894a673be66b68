"""Read a ``.subckt`` block of an ngspice library (pins, parameter defaults, nodes) and check
its defaults against a twin's parameter dataclass, so spicegrad/models/*.lib and the code cannot drift.

Scope (deliberately small; ngspice reads the real thing):

* ``*`` lines and inline ``;`` / `` $ `` / ``//`` comments are dropped, then ``+`` lines are
  joined to the line before them (comment lines may sit between the two, as ngspice allows).
* ``.subckt``, ``.ends`` and ``params:`` are matched case-insensitively; names of the subckt,
  its pins, parameters and nodes are lower-cased (ngspice is case-insensitive); parameter
  defaults are kept as written (``'1e3'``, ``'{g0_us}'``).
* Nodes of an element line, by its first letter: R C L V I B D -> the next 2 tokens; E G -> 4;
  F H -> 2; X -> every token before the last one that is not ``key=value`` (that one is the
  subckt's name; ``params:`` and what follows are skipped). Other letters add no positional
  nodes. A token holding ``=``, ``{`` or ``(`` ends the positional nodes early. Every
  ``v(a)`` / ``v(a, b)`` on any line of the block (element or ``.func``/``.param``) adds its
  nodes too. Lines of nested ``.subckt`` blocks are skipped.
"""

from __future__ import annotations

import ast
import dataclasses
import math
import operator
import re
from collections.abc import Mapping
from typing import Any

from ..errors import InputError

__all__ = ["Subckt", "SubcktNotFound", "library_mismatches", "parse_subckt", "spice_number"]

_NODE_COUNT = {"r": 2, "c": 2, "l": 2, "v": 2, "i": 2, "b": 2, "d": 2, "e": 4, "g": 4, "f": 2, "h": 2}
_PARAM = re.compile(r"([A-Za-z_]\w*)\s*=\s*(\{[^}]*\}|'[^']*'|[^\s=]+)")
_V_REF = re.compile(r"\bv\(\s*([^(),\s]+)\s*(?:,\s*([^(),\s]+)\s*)?\)", re.I)
_NUMBER = re.compile(r"([+-]?(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?)([a-z]*)", re.I)
_SCALE = {"t": 1e12, "g": 1e9, "meg": 1e6, "k": 1e3, "mil": 25.4e-6, "m": 1e-3, "u": 1e-6,
          "n": 1e-9, "p": 1e-12, "f": 1e-15}


class SubcktNotFound(InputError):
    """The library text has no ``.subckt`` of the requested name."""


@dataclasses.dataclass(frozen=True)
class Subckt:
    """One ``.subckt`` block: its name, pins, parameter defaults (raw text) and used nodes."""

    name: str
    pins: tuple[str, ...]
    params: dict[str, str]
    nodes: set[str]


def _logical_lines(text: str) -> list[str]:
    """Comment-free lines with ``+`` continuations joined."""
    lines: list[str] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("*"):
            continue
        line = re.split(r";|//|(?:^|\s)\$(?:\s|$)", line, maxsplit=1)[0].rstrip()
        if line.startswith("+"):
            if lines:
                lines[-1] += " " + line[1:].strip()
            continue
        if line:
            lines.append(line)
    return lines


def _element_nodes(tokens: list[str]) -> list[str]:
    """Positional node tokens of one element line (see the module docstring)."""
    letter = tokens[0][0].lower()
    rest = tokens[1:]
    if letter == "x":
        lowered = [t.lower() for t in rest]
        if "params:" in lowered:
            rest = rest[: lowered.index("params:")]
        plain = [i for i, t in enumerate(rest) if "=" not in t]
        return rest[: plain[-1]] if plain else []
    nodes = []
    for tok in rest[: _NODE_COUNT.get(letter, 0)]:
        if any(c in tok for c in "={("):
            break
        nodes.append(tok)
    return nodes


def parse_subckt(text: str, name: str, source: str = "<text>") -> Subckt:
    """The ``.subckt name`` block of ``text`` (``source`` names the file in errors)."""
    lines = _logical_lines(text)
    want = name.lower()
    start = next(
        (i for i, ln in enumerate(lines)
         if ln.split()[0].lower() == ".subckt" and len(ln.split()) > 1 and ln.split()[1].lower() == want),
        None,
    )
    if start is None:
        found = [ln.split()[1] for ln in lines if ln.split()[0].lower() == ".subckt" and len(ln.split()) > 1]
        raise SubcktNotFound(
            f"{source}: no '.subckt {name}' (subcircuits found: {', '.join(found) or 'none'})"
        )
    header = lines[start].split(None, 2)
    tail = header[2] if len(header) > 2 else ""
    cut = re.search(r"\bparams:|[A-Za-z_]\w*\s*=", tail, re.I)
    pin_text, param_text = (tail[: cut.start()], tail[cut.start():]) if cut else (tail, "")
    param_text = re.sub(r"^params:", "", param_text.strip(), flags=re.I)
    params = {k.lower(): v for k, v in _PARAM.findall(param_text)}
    nodes: set[str] = set()
    depth = 1
    for line in lines[start + 1:]:
        first = line.split()[0].lower()
        if first == ".subckt":
            depth += 1
        elif first == ".ends":
            depth -= 1
            if depth == 0:
                break
        if depth != 1 or first in (".subckt", ".ends"):
            continue
        if not first.startswith("."):
            nodes.update(t.lower() for t in _element_nodes(line.split()))
        for a, b in _V_REF.findall(line):
            nodes.update(n.lower() for n in (a, b) if n)
    else:
        raise InputError(f"{source}: '.subckt {name}' has no matching '.ends'")
    return Subckt(name=want, pins=tuple(p.lower() for p in pin_text.split()), params=params, nodes=nodes)


def spice_number(text: str) -> float:
    """A SPICE number with an optional scale suffix (``1e3``, ``1k``, ``10meg``, ``2.5u``)."""
    m = _NUMBER.fullmatch(text.strip())
    if not m:
        raise ValueError(f"{text!r} is not a SPICE number")
    suffix = m.group(2).lower()
    scale = next((v for k, v in _SCALE.items() if suffix.startswith(k)), 1.0) if suffix else 1.0
    return float(m.group(1)) * scale


_OPS: dict[type, Any] = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
                         ast.Div: operator.truediv, ast.Pow: operator.pow, ast.USub: operator.neg,
                         ast.UAdd: operator.pos}


def _evaluate(raw: str, params: Mapping[str, str], seen: tuple[str, ...] = ()) -> float:
    """A default as a float: a number, or ``{expr}`` of numbers, other parameters, + - * / **."""
    text = raw.strip().strip("{}'").strip()
    try:
        return spice_number(text)
    except ValueError:
        pass

    def ev(node: ast.AST) -> float:
        if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
            return float(node.value)
        if isinstance(node, ast.Name):
            key = node.id.lower()
            if key not in params or key in seen:
                raise ValueError(f"unknown or circular parameter {node.id!r}")
            return _evaluate(params[key], params, (*seen, key))
        if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
            return _OPS[type(node.op)](ev(node.left), ev(node.right))
        if isinstance(node, ast.UnaryOp) and type(node.op) in _OPS:
            return _OPS[type(node.op)](ev(node.operand))
        raise ValueError(f"cannot evaluate {ast.unparse(node)!r}")

    return ev(ast.parse(text, mode="eval").body)


def library_mismatches(
    params_cls: type,
    text: str,
    subckt_name: str,
    derived: Mapping[str, float | None] | None = None,
    rel: float = 1e-12,
    source: str = "<text>",
) -> list[str]:
    """Differences between ``.subckt subckt_name``'s defaults and ``params_cls()``'s.

    Checks every subcircuit field (``params_cls().spice_params()``, TWIN_ONLY fields left out)
    and every name in ``derived`` (instance / initial-state parameters; a float is the expected
    default, None only declares the name). Reports values that differ by more than ``rel``,
    expected names the library lacks, and library parameters nobody expects. Empty: in step.
    """
    sub = parse_subckt(text, subckt_name, source)
    where = f"{source} .subckt {sub.name}"
    expected: dict[str, float | None] = {**params_cls().spice_params(), **(derived or {})}
    out = []
    for key, want in expected.items():
        origin = params_cls.__name__ if key not in (derived or {}) else "the code (derived)"
        if key not in sub.params:
            out.append(f"{where}: {key} is missing from the library ({origin} default {want!r})")
            continue
        if want is None:
            continue
        try:
            got = _evaluate(sub.params[key], sub.params)
        except (ValueError, SyntaxError) as exc:
            out.append(f"{where}: {key} = {sub.params[key]} cannot be evaluated ({exc})")
            continue
        if not math.isclose(got, want, rel_tol=rel, abs_tol=0.0):
            out.append(
                f"{where}: {key} = {sub.params[key]} (= {got!r}) in the library, "
                f"{want!r} in {origin}"
            )
    for key in sub.params.keys() - expected.keys():
        out.append(
            f"{where}: parameter {key} = {sub.params[key]} is neither a {params_cls.__name__} "
            "field nor a derived parameter"
        )
    return out
