"""Look after the cache: what is there (:func:`info`), removing spicegrad's entries
(:func:`clear`), and least-recently-used eviction of ngspice results past the size cap
(:func:`note_write`, called after each write).

Only files whose names match an entry name of :data:`~.cache_layout.KINDS`, inside the kind's
own folder, are counted or removed. Folders are opened without following symbolic links and
files are removed relative to them, so a link inside the cache never leads a removal outside it;
a link, an unknown file or an unknown folder is reported as "other" and left alone.
"""

from __future__ import annotations

import os
import stat
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from .cache_layout import KINDS, Kind, cache_root, max_cache_bytes

#: a partial write younger than this may still be in progress: clear and eviction leave it
PARTIAL_MIN_AGE_S = 3600.0
#: eviction removes the oldest ngspice results until they fill at most this share of the cap
LOW_WATER = 0.9
#: bytes written by this process since the last look at the folder, as a share of the cap, that
#: make the next write look again (other processes may have written meanwhile)
RESCAN_SHARE = 0.1

_NOFOLLOW = os.O_RDONLY | os.O_DIRECTORY | getattr(os, "O_NOFOLLOW", 0)


@dataclass
class File:
    folder_fd: int
    name: str  # in its folder
    rel: str  # relative to the kind's folder
    key: str
    size: int
    mtime: float
    partial: bool


@dataclass
class KindScan:
    kind: Kind
    folder: Path
    files: list[File] = field(default_factory=list)
    other: list[str] = field(default_factory=list)
    note: str = ""

    @property
    def entries(self) -> int:
        return len({f.key for f in self.files if not f.partial})

    @property
    def bytes(self) -> int:
        return sum(f.size for f in self.files)

    @property
    def partials(self) -> int:
        return sum(f.partial for f in self.files)


def _open_dir(path: Path | str, follow: bool, dir_fd: int | None = None) -> int | None:
    try:
        return os.open(path, (os.O_RDONLY | os.O_DIRECTORY) if follow else _NOFOLLOW, dir_fd=dir_fd)
    except FileNotFoundError:
        return None
    except OSError:  # a link (ELOOP), not a folder, no permission
        return -1


class _Scanner:
    """Opens one kind's folder and its sub-folders; close() releases them."""

    def __init__(self) -> None:
        self.fds: list[int] = []

    def close(self) -> None:
        for fd in self.fds:
            os.close(fd)
        self.fds.clear()

    def scan(self, kind: Kind) -> KindScan:
        folder = kind.folder()
        out = KindScan(kind, folder)
        fd = _open_dir(folder, follow=kind.configured_elsewhere())
        if fd is None:
            return out
        if fd < 0:
            out.note = "not a folder, or a symbolic link: not followed"
            return out
        self.fds.append(fd)
        for rel, name, dfd, st in self._walk(fd, "", kind.depth, out.other):
            partial = kind.partial.fullmatch(rel)
            match = partial or kind.entry.fullmatch(rel)
            if match and stat.S_ISREG(st.st_mode):
                out.files.append(File(dfd, name, rel, match.group("key"), st.st_size, st.st_mtime, bool(partial)))
            else:
                out.other.append(rel)
        return out

    def _walk(self, fd: int, prefix: str, depth: int, other: list[str]) -> Iterator[tuple[str, str, int, os.stat_result]]:
        with os.scandir(fd) as it:
            entries = list(it)
        for e in entries:
            rel = prefix + e.name
            if e.is_dir(follow_symlinks=False):
                sub = _open_dir(e.name, follow=False, dir_fd=fd) if depth > 1 else -1
                if sub is None or sub < 0:
                    other.append(rel + "/")
                    continue
                self.fds.append(sub)
                yield from self._walk(sub, rel + "/", depth - 1, other)
            else:
                try:
                    yield rel, e.name, fd, e.stat(follow_symlinks=False)
                except FileNotFoundError:  # removed meanwhile
                    continue


def scan(kinds: Iterable[str] = KINDS) -> list[KindScan]:
    scanner = _Scanner()
    try:
        return [scanner.scan(KINDS[k]) for k in kinds]
    finally:
        scanner.close()


def root_others() -> list[str]:
    """Names directly in the cache root that are not a kind's folder (not spicegrad's)."""
    root = cache_root()
    fd = _open_dir(root, follow=True)
    if fd is None or fd < 0:
        return []
    try:
        with os.scandir(fd) as it:
            mine = {"spice", "cases", "certificates", "datasets"}
            return sorted(e.name + ("/" if e.is_dir(follow_symlinks=False) else "") for e in it if e.name not in mine)
    finally:
        os.close(fd)


@dataclass
class Removed:
    kind: str
    entries: int = 0
    files: int = 0
    bytes: int = 0
    partial_kept: int = 0


def _unlink(f: File) -> bool:
    try:
        os.unlink(f.name, dir_fd=f.folder_fd)
        return True
    except FileNotFoundError:
        return False


def clear(kinds: Iterable[str], *, dry_run: bool = False, now: float | None = None) -> list[Removed]:
    """Remove every entry of ``kinds`` (names in :data:`KINDS`), and partial writes older than
    :data:`PARTIAL_MIN_AGE_S`; then the kind's folders, where empty. Nothing else is touched."""
    now = time.time() if now is None else now
    scanner = _Scanner()
    out = []
    try:
        for name in kinds:
            kind = KINDS[name]
            found = scanner.scan(kind)
            r = Removed(name)
            keys = set()
            for f in found.files:
                if f.partial and now - f.mtime < PARTIAL_MIN_AGE_S:
                    r.partial_kept += 1
                    continue
                if dry_run or _unlink(f):
                    r.files += 1
                    r.bytes += f.size
                    if not f.partial:
                        keys.add(f.key)
            r.entries = len(keys)
            out.append(r)
            if not dry_run and not kind.configured_elsewhere():
                _remove_empty_folders(found)
    finally:
        scanner.close()
    return out


def _remove_empty_folders(found: KindScan) -> None:
    subs = {f.rel.rsplit("/", 1)[0] for f in found.files if "/" in f.rel}
    parent = _open_dir(found.folder, follow=False)
    if parent is None or parent < 0:
        return
    try:
        for sub in subs:
            try:
                os.rmdir(sub, dir_fd=parent)
            except OSError:  # not empty (something else lives there), or gone
                pass
    finally:
        os.close(parent)
    try:
        found.folder.rmdir()
    except OSError:
        pass


# --- LRU eviction of ngspice results ---------------------------------------------------------

_LOCK = threading.Lock()
_STATE: dict[str, list[int]] = {}  # folder -> [estimated bytes there, bytes written since last scan]


def evict(cap: int, *, keep: str | None = None, now: float | None = None) -> tuple[int, int]:
    """Remove the least recently used ngspice results (oldest modification time: a read
    refreshes it) until they fill at most :data:`LOW_WATER` of ``cap`` bytes; ``keep`` names an
    entry never removed (the one just written). Returns (entries removed, bytes left)."""
    now = time.time() if now is None else now
    scanner = _Scanner()
    try:
        found = scanner.scan(KINDS["ngspice"])
        total = found.bytes
        by_key: dict[str, list[File]] = {}
        for f in found.files:
            if f.partial:
                if now - f.mtime >= PARTIAL_MIN_AGE_S and _unlink(f):
                    total -= f.size
                continue
            by_key.setdefault(f.key, []).append(f)
        if total <= cap:
            return 0, total
        removed = 0
        order = sorted(by_key.items(), key=lambda kv: max(f.mtime for f in kv[1]))
        for key, files in order:
            if total <= cap * LOW_WATER:
                break
            if key == keep:
                continue
            # the data first: a checksum without its data is a miss, data without a checksum is corrupt
            for f in sorted(files, key=lambda f: not f.name.endswith(".npz")):
                if _unlink(f):
                    total -= f.size
            removed += 1
        return removed, total
    finally:
        scanner.close()


def note_write(folder: Path, nbytes: int, key: str, cap: int | None = None) -> None:
    """Account for ``nbytes`` just written to the ngspice result cache, and evict when the
    folder may hold more than the cap. The folder is listed on the first write of a process,
    after this process has written :data:`RESCAN_SHARE` of the cap since, and when the running
    estimate passes the cap; other writes cost no file-system call."""
    cap = max_cache_bytes() if cap is None else cap
    with _LOCK:
        state = _STATE.get(str(folder))
        if state is None or state[1] + nbytes > cap * RESCAN_SHARE:
            state = [scan(["ngspice"])[0].bytes, 0]
        else:
            state[0] += nbytes
            state[1] += nbytes
        if state[0] > cap:
            state = [evict(cap, keep=key)[1], 0]
        _STATE[str(folder)] = state


def touch(path: Path) -> None:
    """Mark an entry as just used (its modification time is the LRU clock)."""
    try:
        os.utime(path)
    except OSError:  # a read-only cache still serves hits
        pass
