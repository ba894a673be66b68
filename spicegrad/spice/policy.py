"""The trust policy for netlists spicegrad did not write (``spicegrad simulate FILE``).

ngspice is a shell as much as a simulator: its control language (``.control`` ... ``.endc``,
``.exec`` blocks, scripts that start with ``*ng_script``, ``source``, ``shell``, ``codemodel``,
``write``, backtick substitution, ``alias``, ``set unixcom``) runs programs, loads shared
objects and writes files. ngspice recognises dot-cards by their *prefix* (``.controls`` opens a
control block, ``.incl`` includes a file), so the policy does too.

A netlist someone sent you is read as follows. Continuation lines (``+``) are joined first, as
ngspice joins them. Every include (a dot-card starting ``.inc``) is **inlined** here: spicegrad
reads the file itself (relative paths against the including file's folder) and ngspice never
resolves a path, so what is checked is exactly what runs. The flattened text is refused when it
holds:

* a dot-card starting ``.con``, ``.exe`` or ``.endc`` (control and exec blocks, whole or not);
* a library call (a dot-card starting ``.lib``): a section of a file is not followed here;
* ``*ng_script`` as the first line of the netlist or of an included file;
* a backtick outside a comment line, or a NUL byte;
* an include of a file that does not exist, nested deeper than :data:`MAX_DEPTH`, or a
  flattened text over :data:`MAX_BYTES`.

Circuits, models, subcircuits, analyses and ``.save``/``.option``/``.param``/``.meas`` pass.
``spicegrad simulate --trusted`` skips the policy and runs the file as written. The scan is
linear in the flattened size. Separately, the runner always starts ngspice with ``-n``, so a
``~/.spiceinit`` or ``./.spiceinit`` is never read (see :mod:`spicegrad.spice.runner`).
"""

from __future__ import annotations

import re
from pathlib import Path

from ..errors import InputError
from .includes import MAX_DEPTH, resolve

#: the largest flattened netlist before refusing (includes nest at most includes.MAX_DEPTH deep)
MAX_BYTES = 256 * 2**20
_CARD = re.compile(r"^\s*(\.\S*)", re.IGNORECASE)
_CONTROL = (".con", ".exe", ".endc")


class UntrustedNetlist(InputError):
    """A netlist asks ngspice to run commands, and ``--trusted`` was not given."""


def _joined(text: str) -> list[tuple[int, str]]:
    """(first line number, logical line) with ``+`` continuation lines joined, as ngspice does."""
    out: list[tuple[int, str]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if line.lstrip().startswith("+") and out:
            first, previous = out[-1]
            out[-1] = (first, previous + " " + line.lstrip()[1:])
        else:
            out.append((number, line))
    return out


def _include_target(card_line: str, where: str) -> str:
    """The path of an include card: one quoted or plain token, nothing after it but a comment."""
    rest = card_line.strip().split(None, 1)[1] if len(card_line.split()) > 1 else ""
    m = re.fullmatch(r"\"([^\"]*)\"|'([^']*)'|([^\s\"';$]+)", re.split(r"\s+[;$]|\s*;", rest, maxsplit=1)[0].strip())
    if not m or not (path := next(g for g in m.groups() if g is not None)):
        raise UntrustedNetlist(f"{where}: {card_line.strip()[:80]!r}: give one include path, plain or quoted")
    return path


def flatten(text: str, source: str | Path, base: Path | None = None, _depth: int = 0,
            _stack: tuple[Path, ...] = ()) -> str:
    """``text`` (read from ``source``) with every include inlined and every rule of the module
    docstring checked; raises :class:`UntrustedNetlist` naming the file, line and rule."""
    base = Path(source).resolve().parent if base is None else base
    if "\x00" in text:
        raise UntrustedNetlist(f"{source}: holds a NUL byte")
    lines = text.splitlines()
    if lines and lines[0].lstrip().lower().startswith("*ng_script"):
        raise UntrustedNetlist(f"{source}: line 1 '*ng_script' makes the file an ngspice control script")
    out: list[str] = []
    size = 0
    for number, line in _joined(text):
        where = f"{source}: line {number}"
        card = _CARD.match(line)
        word = card.group(1).lower() if card else ""
        if word.startswith(_CONTROL):
            raise UntrustedNetlist(f"{where} {line.strip()[:80]!r}: control and exec blocks run ngspice commands "
                                   "(shell, source, write, codemodel ...)")
        if word.startswith(".lib"):
            raise UntrustedNetlist(f"{where} {line.strip()[:80]!r}: library calls (.lib FILE SECTION) are not "
                                   "followed for a netlist from elsewhere; .include the file instead")
        if "`" in line and not line.lstrip().startswith("*"):  # comment lines are dropped unread
            raise UntrustedNetlist(f"{where} {line.strip()[:80]!r}: backticks substitute command output")
        if word.startswith(".inc"):
            written = _include_target(line, where)
            path = resolve(written, base).resolve()
            if _depth >= MAX_DEPTH:
                raise UntrustedNetlist(f"{where}: includes nested deeper than {MAX_DEPTH}")
            if path in _stack:
                raise UntrustedNetlist(f"{where}: {written!r} includes itself")
            if not path.is_file():
                raise UntrustedNetlist(f"{where}: included file {written!r} ({path}) does not exist")
            inner = flatten(path.read_text(errors="replace"), path, path.parent, _depth + 1, (*_stack, path))
            line = f"* --- {path.name} (included by {Path(str(source)).name}) ---\n{inner}* --- end of {path.name} ---"
        size += len(line) + 1
        if size > MAX_BYTES:
            raise UntrustedNetlist(f"{source}: more than {MAX_BYTES // 2**20} MiB once includes are inlined")
        out.append(line)
    return "\n".join(out) + "\n"


def check_untrusted(text: str, source: str | Path, base: Path | None = None) -> None:
    """Raise :class:`UntrustedNetlist` when ``text`` (or what it includes) breaks the policy."""
    flatten(text, source, base)
