"""Progress reporting, decided in one place.

:func:`progress` is ``tqdm`` with spicegrad's policy: a live bar only when stderr is a terminal.
When stderr is a file or a pipe (CI logs, ``2> log``, Jupyter's captured stream) a long loop
writes one plain line at most every :data:`LINE_INTERVAL_S` seconds and one at the end, and a
loop shorter than that writes nothing; inner loops (``leave=False``) write nothing there.

:func:`announce` is the one-line notice for a phase without a natural counter (compiling,
a batch of simulations): what runs and about how long, from a measured rate or a count times a
per-item cost that the caller names.
"""

from __future__ import annotations

import sys
import time
from typing import Any

#: seconds between the plain lines a loop writes when stderr is not a terminal
LINE_INTERVAL_S = 30.0

_LINE_FORMAT = "{desc}: {n_fmt}/{total_fmt} [{elapsed}<{remaining}, {rate_fmt}{postfix}]"


def stderr_is_terminal() -> bool:
    isatty = getattr(sys.stderr, "isatty", None)
    try:
        return bool(isatty and isatty())
    except ValueError:  # a closed stream
        return False


class _Lines:
    """A file for tqdm that turns its redrawn status (``\\r...``) into a plain line on stderr at
    most every ``interval`` seconds, plus the final status when the loop ran that long."""

    def __init__(self, interval: float):
        self.interval = interval
        self.start = self.last = time.monotonic()
        self.pending = ""

    def write(self, text: str) -> None:
        status = text.replace("\r", "").rstrip()
        now = time.monotonic()
        if status:
            self.pending = status
            if now - self.last < self.interval:
                return
        elif text != "\n" or now - self.start < self.interval:  # "\n" alone: tqdm closing a kept bar
            return
        if self.pending:
            sys.stderr.write(self.pending + "\n")
            sys.stderr.flush()
            self.pending, self.last = "", now

    def flush(self) -> None:
        pass


def progress(iterable: Any = None, *, enabled: bool = True, **kwargs: Any):
    """``tqdm(iterable, **kwargs)`` following the policy above; ``enabled=False`` (a
    ``--no-progress`` flag) silences it everywhere, and so does an empty loop. Use it as tqdm: iterate, ``update``,
    ``set_postfix``, ``close``."""
    from tqdm import tqdm

    total = kwargs.get("total", len(iterable) if hasattr(iterable, "__len__") else None)
    if not enabled or total == 0:  # nothing to do: no "0it" bar either
        return tqdm(iterable, disable=True, **kwargs)
    if stderr_is_terminal():
        return tqdm(iterable, **kwargs)
    if kwargs.get("leave", True) is False:
        return tqdm(iterable, disable=True, **kwargs)
    return tqdm(iterable, file=_Lines(LINE_INTERVAL_S), bar_format=_LINE_FORMAT, **kwargs)


def announce(what: str, seconds: float, basis: str, log=None) -> None:
    """One line before a phase without a bar: ``what (about N s: basis)``; ``basis`` says where
    the estimate comes from (e.g. "12 simulations × 0.4 s measured"). Written to stderr unless
    ``log`` (e.g. a workflow's ``print``-like logger) is given."""
    text = f"{what} (about {_duration(seconds)}: {basis})"
    if log is not None:
        log(text)
    else:
        sys.stderr.write(text + "\n")
        sys.stderr.flush()


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{max(seconds, 1):.0f} s"
    return f"{seconds / 60:.0f} min" if seconds < 5400 else f"{seconds / 3600:.1f} h"
