"""The files a netlist reads, found the way ngspice finds them (for the result cache's key).

ngspice treats a line whose first word starts with ``.inc`` (``.include``, ``.inc``, ``.incl``)
as an include and one starting with ``.lib`` as a library reference (``.lib FILE SECTION``),
case-insensitively. The path is the next token: in single or double quotes it may hold spaces
and ends at the next quote; unquoted it ends at the first white space. ``~`` is expanded, and a
relative path is resolved against the folder of the file that holds the line (for the netlist
text itself: the current folder). Included files are followed in turn (cycles and depth are
bounded), so editing any file a netlist reads changes the key.

A ``.lib NAME`` line inside a library opens a *section*, not a file; its NAME then names no
file and counts as missing, which only adds the name to the key.
"""

from __future__ import annotations

import re
from pathlib import Path

#: how deep included files are followed
MAX_DEPTH = 16
_CARD = re.compile(r"^[ \t]*(\.(?:inc|lib)\S*)([^\n]*)", re.IGNORECASE | re.MULTILINE)
_QUOTES = "'\""


def include_target(rest: str) -> str | None:
    """The path token of an include or library card (the text after its first word), as
    ngspice's ``get_quoted_token`` reads it; None when there is none (or a quote is not closed)."""
    s = rest.lstrip()
    if not s:
        return None
    if s[0] in _QUOTES:
        end = next((i for i, c in enumerate(s[1:], start=1) if c in _QUOTES), None)
        return s[1:end] if end is not None and end > 1 else None
    return s.split(None, 1)[0]


def include_targets(text: str) -> list[str]:
    """Every include/library path written in ``text``, in order, as written."""
    out = []
    for match in _CARD.finditer(text):
        # a card word with a quote glued to it (`.include"x"`) is one word in ngspice too
        target = include_target(match.group(2))
        if target is not None:
            out.append(target)
    return out


def resolve(target: str, base: Path | None) -> Path:
    path = Path(target).expanduser()
    if not path.is_absolute() and base is not None:
        path = base / path
    return path


def included_files(text: str, base: Path | None = None) -> list[tuple[str, Path | None, bytes]]:
    """(path as written, the file read or None when it does not exist, its bytes) for every file
    ``text`` includes, depth first, each existing file once. ``base``: the folder relative paths
    are resolved against (None: the current folder)."""
    seen: set[Path] = set()
    out: list[tuple[str, Path | None, bytes]] = []

    def walk(body: str, folder: Path | None, depth: int) -> None:
        for target in include_targets(body):
            path = resolve(target, folder)
            try:
                real = path.resolve()
                data = real.read_bytes() if real not in seen else None
            except OSError:  # missing, a folder, unreadable: ngspice cannot read it either
                out.append((target, None, b""))
                continue
            if data is None:
                continue
            seen.add(real)
            out.append((target, real, data))
            if depth < MAX_DEPTH:
                walk(data.decode(errors="replace"), real.parent, depth + 1)

    walk(text, base, 0)
    return out
