"""Netlists for users: what wrote them, how to run them, and what they print.

Every netlist spicegrad writes for a user (``netlist crossbar``, ``netlist tiles``, ``export``,
``compress map``) runs unchanged with ``ngspice -b FILE`` from any folder:

* **models are inlined** by default: the subcircuit text of ``spicegrad/models/*.lib`` is copied
  into the netlist, so the file needs nothing beside it. ``.include "<absolute path>"`` into the
  installed package is written only on request (``--absolute-includes``).
* **results are printed**: a transient gets ``.print tran <vectors>``, which ngspice's batch mode
  prints as a table on stdout (without a ``.print`` line ``ngspice -b`` runs nothing and exits 1).
  A ``.op`` needs no line: batch mode prints the operating point itself. ``ngspice -b -r
  out.raw FILE`` writes every saved vector to ``out.raw`` instead (relative to the working
  folder), and spicegrad's runner works that way, so the ``.print`` line is ignored there.
  There is no ``.control`` block: the files pass the untrusted-netlist policy of
  :mod:`spicegrad.spice.policy` as they are, so ``spicegrad simulate FILE`` runs them
  without ``--trusted``.
* a **header** of ``*`` comment lines right under the title line (ngspice always reads line 1
  as the title): the spicegrad version, the command line or Python call that wrote the file, the
  facts a reader needs (checkpoint and its SHA-256, read scale, ...) and how to run it. Header
  text is reduced to printable characters, so no value can end the comment and start a card.
"""

from __future__ import annotations

import hashlib
import shlex
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from .. import __version__
from ..errors import InputError

INCLUDE_MODES = ("inline", "absolute")


def comment(text: object) -> str:
    """``text`` as one ``*`` comment line: every character that is not printable (newlines,
    carriage returns, tabs, other controls) becomes ``?``."""
    return "* " + "".join(c if c.isprintable() else "?" for c in str(text))


def command_line(argv: Sequence[str] | None) -> str:
    """The ``spicegrad`` command line of ``argv`` (arguments after the program name), quoted for
    a POSIX shell; ``None``: this process's own arguments."""
    args = list(sys.argv[1:] if argv is None else argv)
    return shlex.join(["spicegrad", *map(str, args)])


def python_call(function: str, *args: object, **kwargs: object) -> str:
    """``function(arg, ..., key=value, ...)`` as text, for a netlist written from Python."""
    shown = [repr(a) for a in args] + [f"{k}={v!r}" for k, v in kwargs.items()]
    return f"Python: {function}({', '.join(shown)})"


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def checkpoint_facts(path: str | Path) -> dict[str, str]:
    """The header lines naming a checkpoint: its absolute path and the SHA-256 of its bytes."""
    return {"checkpoint": str(Path(path).resolve()), "checkpoint sha256": file_sha256(path)}


def run_hint(printed: Sequence[str], analysis: str) -> str:
    """How to run the file, and what ``ngspice -b`` shows."""
    if analysis == "op":
        shown = "prints the operating point (every node voltage and source current)"
    elif analysis == "batch":
        shown = "sweeps Vslot over the input vectors (.dc: no .print; read out.raw)"
    else:
        names = " ".join(printed[:4]) + (f" ... ({len(printed)} vectors)" if len(printed) > 4 else "")
        shown = f"prints {names} at every time point (.print tran)"
    return f"run: ngspice -b THIS_FILE {shown}; ngspice -b -r out.raw THIS_FILE writes the saved vectors to out.raw in the working folder"


def header(source: str, facts: Mapping[str, object] | None = None, *, libraries: Sequence[str | Path] = (),
           include: str = "inline", hint: str | None = None) -> list[str]:
    """The header text lines (without ``*``) of a netlist written by ``source`` (a command line
    or :func:`python_call`) that uses the model ``libraries`` (paths); the netlist writer
    (:meth:`spicegrad.spice.netlist.Netlist.render`) makes them comments."""
    check_include_mode(include)
    lines = [f"written by spicegrad {__version__}", f"by: {source}"]
    lines += [f"{key}: {value}" for key, value in (facts or {}).items()]
    names = ", ".join(Path(p).name for p in libraries)
    if names:
        lines.append(f"models: {names} inlined below (the file runs from any folder)" if include == "inline"
                     else f"models: {names} included by absolute path (the file runs where that installation is)")
    if hint:
        lines.append(hint)
    return lines


def check_include_mode(include: object) -> str:
    if include not in INCLUDE_MODES:
        raise InputError(f"include = {include!r}: must be one of {', '.join(INCLUDE_MODES)}")
    return include


def add_include_options(parser) -> None:
    """``--absolute-includes`` (and the default it replaces, ``--inline-models``) on an argparse
    parser of a command that writes netlists; read ``args.absolute_includes``."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--inline-models", action="store_true",
                       help="copy the model libraries into the file (the default; the file runs from any folder)")
    group.add_argument("--absolute-includes", action="store_true",
                       help=".include the model libraries by their absolute paths in this installation instead of "
                            "copying them in (the file then runs only where that installation exists)")
