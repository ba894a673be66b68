"""The trust policy for netlists spicegrad did not write (``spicegrad simulate FILE``).

ngspice is a shell as much as a simulator: its control language (``.control`` ... ``.endc``,
``.exec`` blocks, scripts that start with ``*ng_script``, ``source``, ``shell``, ``codemodel``,
``write``, backtick substitution, ``alias``, ``set unixcom``) runs programs, loads shared
objects and writes files. A netlist someone sent you is therefore refused, by default, when it
or any file it includes contains:

* a ``.control`` or ``.exec`` block (whole or unterminated), or any control-language line;
* a first line ``*ng_script`` (the file is a control script, not a circuit);
* a backtick (command substitution) outside a comment line;
* an include (``.include``, ``.inc``, ``.lib``) of a file that does not exist or that breaks
  these rules itself (includes are followed recursively, at most :data:`MAX_DEPTH` deep).

Circuits, models, subcircuits, analyses and ``.save``/``.option``/``.param``/``.meas`` lines
pass. ``trusted=True`` (``spicegrad simulate --trusted``) skips every check. The scan reads each
line once (linear in the file size). Separately, the runner always starts ngspice with ``-n``,
so a ``~/.spiceinit`` or ``./.spiceinit`` is never read (see :mod:`spicegrad.spice.runner`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError

#: how deep includes are followed before the netlist is refused
MAX_DEPTH = 16
_BLOCK = re.compile(r"^\s*\.(control|exec|endc)\b", re.IGNORECASE)
# `.lib FILE SECTION` includes a section of FILE; a bare `.lib NAME` opens a section inside a library
_INCLUDE = re.compile(r"^\s*\.(?:include|inc|lib(?=\s+(?:\"[^\"]*\"|'[^']*'|\S+)\s+\S))\s+(\"[^\"]*\"|'[^']*'|\S+)",
                      re.IGNORECASE)


class UntrustedNetlist(InputError):
    """A netlist asks ngspice to run commands, and ``--trusted`` was not given."""


@dataclass(frozen=True)
class Include:
    """One include line: its 1-based line number, the path as written and as resolved."""

    line_number: int
    written: str
    path: Path


def _unquote(token: str) -> str:
    return token[1:-1] if len(token) >= 2 and token[0] == token[-1] and token[0] in "\"'" else token


def includes(text: str, base: Path) -> list[Include]:
    """Every include line of ``text``, paths resolved against ``base`` (the netlist's folder)."""
    found = []
    for number, line in enumerate(text.splitlines(), start=1):
        m = _INCLUDE.match(line)
        if m:
            written = _unquote(m.group(1))
            path = Path(written).expanduser()
            found.append(Include(number, written, (path if path.is_absolute() else base / path).resolve()))
    return found


def check_untrusted(text: str, source: str | Path, base: Path | None = None, _depth: int = 0,
                    _seen: frozenset[Path] = frozenset()) -> None:
    """Raise :class:`UntrustedNetlist` naming the file, line and rule when ``text`` (read from
    ``source``) or a file it includes may run commands; see the module docstring."""
    base = Path(source).resolve().parent if base is None else base
    lines = text.splitlines()
    if lines and lines[0].lstrip().lower().startswith("*ng_script"):
        raise UntrustedNetlist(f"{source}: line 1 '*ng_script' makes the file an ngspice control script")
    for number, line in enumerate(lines, start=1):
        m = _BLOCK.match(line)
        if m:
            raise UntrustedNetlist(f"{source}: line {number} {line.strip()[:80]!r}: .{m.group(1).lower()} blocks run "
                                   "ngspice commands (shell, source, write, codemodel ...)")
        if "`" in line and not line.lstrip().startswith("*"):  # comment lines are dropped unread
            raise UntrustedNetlist(f"{source}: line {number} {line.strip()[:80]!r}: backticks substitute command output")
    for inc in includes(text, base):
        if inc.path in _seen:
            continue  # an include cycle: ngspice itself stops it, and the file was checked
        if _depth >= MAX_DEPTH:
            raise UntrustedNetlist(f"{source}: line {inc.line_number}: includes nested deeper than {MAX_DEPTH}")
        if not inc.path.is_file():
            raise UntrustedNetlist(f"{source}: line {inc.line_number}: included file {inc.written!r} "
                                   f"({inc.path}) does not exist")
        check_untrusted(inc.path.read_text(errors="replace"), inc.path, inc.path.parent, _depth + 1,
                        _seen | {inc.path})


def absolute_includes(text: str, base: Path) -> str:
    """``text`` with every include path made absolute (quoted), so that the netlist runs the
    same from any working folder (the runner simulates in a temporary one)."""
    by_line = {inc.line_number: inc for inc in includes(text, base)}
    if not by_line:
        return text
    out = []
    for number, line in enumerate(text.splitlines(), start=1):
        inc = by_line.get(number)
        if inc is not None:
            m = _INCLUDE.match(line)
            line = f'{line[: m.start(1)]}"{inc.path}"{line[m.end(1):]}'
        out.append(line)
    return "\n".join(out) + "\n"
