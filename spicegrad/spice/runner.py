"""Run a netlist in ngspice and return its traces as numpy arrays.

Two backends give the same :class:`Result` for the same netlist:

* ``"subprocess"`` (default): ``ngspice -b -n -r out.raw`` in a fresh temporary directory that
  is removed afterwards; the raw file (binary, or ASCII with ``raw_format="ascii"``) is parsed
  here. ``-n``: ngspice never reads a ``.spiceinit`` (a user's init file could run commands).
* ``"shared"``: libngspice loaded in-process through PySpice's ``NgSpiceShared`` (no process
  start, vectors read straight from ngspice's memory). ngspice's shared library is not
  re-entrant, so calls on this backend are serialised by a lock. libngspice-39 always sources a
  ``.spiceinit`` from the working folder or the home folder on start; the backend refuses to
  start while one exists.

ngspice's banner and "Note:" lines, and PySpice's "Unsupported Ngspice version" warning, are
harmless: they are logged at DEBUG level on the ``spicegrad.spice`` logger, never printed.
"""

from __future__ import annotations

import contextlib
import ctypes.util
import functools
import logging
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .._extras import require
from .errors import NgspiceNotFound, SpiceError
from .raw import parse_raw

log = logging.getLogger("spicegrad.spice")

BACKENDS = ("subprocess", "shared")
RAW_FORMATS = ("binary", "ascii")


@dataclass
class Result:
    """Traces of one analysis: ``time`` (s) and vectors by ngspice name (``v(x1.x)``, ``i(v1)``).

    Look-ups are case-insensitive, and a bare node name ``x1.x`` finds ``v(x1.x)``.
    """

    time: np.ndarray
    vectors: dict[str, np.ndarray]
    ngspice_version: str
    plotname: str = ""
    log: str = field(default="", repr=False)

    def _key(self, name: str) -> str:
        wanted = name.lower()
        for candidate in (wanted, f"v({wanted})"):
            if candidate in self.vectors:
                return candidate
        raise KeyError(
            f"no vector {name!r} in the result; available: {', '.join(sorted(self.vectors))}"
        )

    def __getitem__(self, name: str) -> np.ndarray:
        return self.vectors[self._key(name)]

    def __contains__(self, name: str) -> bool:
        try:
            self._key(name)
        except KeyError:
            return False
        return True

    @property
    def names(self) -> list[str]:
        return sorted(self.vectors)

    def at(self, name: str, t: np.ndarray) -> np.ndarray:
        """Vector ``name`` linearly interpolated at times ``t`` (s)."""
        return np.interp(np.asarray(t, dtype=float), self.time, self[name])


def _ngspice_executable() -> str:
    exe = os.environ.get("SPICEGRAD_NGSPICE") or shutil.which("ngspice")
    if not exe or not Path(exe).exists():
        raise NgspiceNotFound()
    return exe


#: the ngspice major release spicegrad's models, cases and tolerances are tested with
TESTED_NGSPICE_MAJOR = 39


class NgspiceVersionWarning(UserWarning):
    """ngspice is not the major release spicegrad is tested with."""


def check_ngspice_major(version: str, exe: str = "ngspice") -> None:
    """Warn (once per executable, see :func:`_version_of`) when ``version`` is not ngspice-39:
    other releases changed defaults and device code, so validated tolerances may not hold."""
    major = version.split(".")[0].split("+")[0]
    if major != str(TESTED_NGSPICE_MAJOR):
        warnings.warn(
            f"{exe} is ngspice-{version}; spicegrad is tested with ngspice-{TESTED_NGSPICE_MAJOR}, so "
            "validation results and certificates may differ (set SPICEGRAD_NGSPICE to an "
            f"ngspice-{TESTED_NGSPICE_MAJOR} executable to match)",
            NgspiceVersionWarning,
            stacklevel=3,
        )


@functools.cache
def _version_of(exe: str) -> str:
    out = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=30).stdout
    m = re.search(r"ngspice-(\S+)", out)
    version = m.group(1) if m else "unknown"
    check_ngspice_major(version, exe)
    return version


def ngspice_version() -> str:
    """Version of the ngspice on PATH (e.g. '39'); raises NgspiceNotFound when there is none."""
    return _version_of(_ngspice_executable())


_LINE_RE = re.compile(r"(?:Error on line|Netlist line no\.)\s*(\d+)", re.IGNORECASE)
_NODE_RE = re.compile(r'trouble with node "([^"]+)"')
_ERROR_MARKERS = (
    "error",
    "timestep too small",
    "simulation interrupted",
    "aborted",
    "undefined parameter",
    "unknown subckt",
)


def _is_error_text(text: str) -> bool:
    low = text.lower()
    return any(marker in low for marker in _ERROR_MARKERS)


def _diagnose(text: str, netlist: str) -> SpiceError:
    """Turn ngspice's complaint into a SpiceError naming the netlist line involved."""
    lines = netlist.splitlines()
    kept = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("Note:")]
    message = "\n".join(ln for ln in kept if _is_error_text(ln) or not ln.startswith(" ")) or text
    m = _LINE_RE.search(text)
    if m:
        number = int(m.group(1))
        if 1 <= number <= len(lines):
            return SpiceError(message, lines[number - 1].strip(), number)
    m = _NODE_RE.search(text)
    if m:
        node = m.group(1).lower()
        leaf = node.split(".")[-1]
        for number, ln in enumerate(lines[1:], start=2):
            tokens = ln.lower().split()
            if tokens and not tokens[0].startswith((".", "*")) and (node in tokens or leaf in tokens):
                return SpiceError(message, ln.strip(), number)
    m = re.search(r"unknown subckt:\s*(.+)", text, re.IGNORECASE)
    if m:
        target = m.group(1).strip().lower()
        for number, ln in enumerate(lines, start=1):
            if ln.strip().lower() == target:
                return SpiceError(message, ln.strip(), number)
    return SpiceError(message)


def _netlist_text(netlist: str | Path) -> str:
    if isinstance(netlist, Path) or ("\n" not in netlist and Path(netlist).suffix in (".cir", ".sp", ".net", ".spice")):
        return Path(netlist).read_text()
    return netlist


def run(
    netlist: str | Path,
    *,
    backend: str = "subprocess",
    timeout: float = 600.0,
    raw_format: str = "binary",
) -> Result:
    """Simulate ``netlist`` (text, or a path to a .cir/.sp/.net file) and return its last plot.

    Raises :class:`SpiceError` with ngspice's message and the offending netlist line when
    ngspice rejects the netlist or the analysis fails, :class:`NgspiceNotFound` when ngspice is
    missing, and ``ValueError`` for an unknown ``backend`` or ``raw_format``.
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend = {backend!r}: must be one of {BACKENDS}")
    if raw_format not in RAW_FORMATS:
        raise ValueError(f"raw_format = {raw_format!r}: must be one of {RAW_FORMATS}")
    if not (isinstance(timeout, (int, float)) and timeout > 0):
        raise ValueError(f"timeout = {timeout!r}: must be a positive number of seconds")
    text = _netlist_text(netlist)
    if not text.rstrip().lower().endswith(".end"):
        text = text.rstrip("\n") + "\n.end\n"
    if backend == "shared":
        return _run_shared(text)
    return _run_subprocess(text, timeout, raw_format)


def _run_subprocess(text: str, timeout: float, raw_format: str) -> Result:
    exe = _ngspice_executable()
    env = dict(os.environ)
    env.pop("SPICE_ASCIIRAWFILE", None)
    if raw_format == "ascii":
        env["SPICE_ASCIIRAWFILE"] = "1"
    with tempfile.TemporaryDirectory(prefix="spicegrad-") as tmp:
        cir = Path(tmp) / "netlist.cir"
        raw = Path(tmp) / "out.raw"
        cir.write_text(text)
        try:
            proc = subprocess.run(
                [exe, "-b", "-n", "-r", str(raw), str(cir)],  # -n: never read a .spiceinit
                cwd=tmp,
                capture_output=True,
                text=True,
                timeout=timeout,
                env=env,
            )
        except subprocess.TimeoutExpired as exc:
            raise SpiceError(f"ngspice did not finish within {timeout:g} s (timeout)") from exc
        output = proc.stdout + proc.stderr
        log.debug("ngspice output:\n%s", output)
        if proc.returncode < 0:  # ended by a signal: its own message (if any) says nothing of that
            name = signal.Signals(-proc.returncode).name if -proc.returncode in signal.valid_signals() else "?"
            raise SpiceError(f"ngspice was killed by signal {-proc.returncode} ({name}) before it finished "
                             "(out of memory, or stopped from outside)")
        if proc.returncode != 0 or _is_error_text(proc.stderr):
            raise _diagnose(proc.stderr or proc.stdout, text)
        if not raw.exists() or raw.stat().st_size == 0:
            if _is_error_text(output):
                raise _diagnose(output, text)
            raise SpiceError("ngspice ran no analysis and wrote no results: the netlist needs an analysis "
                             "line (.tran, .op, .dc, .ac, ...) and at least one element")
        plots = parse_raw(raw)
    if not plots:
        raise SpiceError("ngspice wrote an empty raw file (is there an analysis line?)")
    plot = plots[-1]
    vectors = {k.lower(): v for k, v in plot.vectors.items()}
    axis = "time" if "time" in vectors else next(iter(vectors))
    return Result(vectors[axis].real, vectors, _version_of(exe), plot.plotname, output)


# --- shared-library backend -------------------------------------------------------------

_shared_lock = threading.Lock()


class _DemoteToDebug(logging.Filter):
    """Hold PySpice's records (version warnings, ngspice chatter) back from PySpice's handlers
    and re-log them at DEBUG on our logger."""

    def filter(self, record: logging.LogRecord) -> bool:
        log.debug("PySpice: %s", record.getMessage())
        return False


_DEMOTE = _DemoteToDebug()


@contextlib.contextmanager
def _pyspice_demoted():
    """While a shared-backend call runs, PySpice's records go to DEBUG on ``spicegrad.spice``.
    The filter sits on PySpice's own loggers (a logger's filters see the records it creates) and
    is taken off afterwards: handlers, levels and propagation stay as the user set them."""
    loggers = [lg for name, lg in list(logging.Logger.manager.loggerDict.items())
               if (name == "PySpice" or name.startswith("PySpice.")) and isinstance(lg, logging.Logger)]
    for lg in loggers:
        lg.addFilter(_DEMOTE)
    try:
        yield
    finally:
        for lg in loggers:
            lg.removeFilter(_DEMOTE)


def _spiceinit_files() -> list[Path]:
    """The init files libngspice-39 would source on start (it has no switch to skip them)."""
    import pwd

    candidates = [Path.cwd() / ".spiceinit", Path(pwd.getpwuid(os.getuid()).pw_dir) / ".spiceinit"]
    return [p for p in candidates if p.is_file()]


@functools.lru_cache(maxsize=1)
def _shared_instance():
    found_init = _spiceinit_files()
    if found_init:
        raise SpiceError(
            f"the shared-library backend would run {found_init[0]} (libngspice reads .spiceinit on start and "
            "ngspice-39 cannot skip it); use backend='subprocess' (started with -n) or remove the file"
        )
    NgSpiceShared = require("shared").NgSpiceShared

    if not os.environ.get("NGSPICE_LIBRARY_PATH"):
        found = ctypes.util.find_library("ngspice")
        if found is None:
            raise NgspiceNotFound("libngspice (ngspice shared library)")
        NgSpiceShared.LIBRARY_PATH = found
    try:
        return NgSpiceShared.new_instance()
    except OSError as exc:
        raise NgspiceNotFound("libngspice (ngspice shared library)") from exc


def _shared_vector_name(name: str) -> str:
    low = name.lower()
    if low.endswith("#branch"):
        return f"i({low[: -len('#branch')]})"
    if low in ("time", "frequency") or "(" in low:
        return low
    return f"v({low})"


def _run_shared(text: str) -> Result:
    ffi = require("shared").ffi

    with _shared_lock, _pyspice_demoted():
        ng = _shared_instance()
        ng.remove_circuit() if ng.plot_names and ng.plot_names != ["const"] else None
        ng.destroy()
        try:
            ng.load_circuit(text)
        except Exception:  # PySpice raises on any stderr output; judge ngspice's text ourselves
            pass
        output = ng.stdout + "\n" + ng.stderr
        if _is_error_text(ng.stderr) or "circuit not parsed" in output.lower():
            raise _diagnose(ng.stderr or output, text)
        try:
            ng.run()
        except Exception:
            pass
        output += "\n" + ng.stdout + "\n" + ng.stderr
        if _is_error_text(ng.stderr):
            raise _diagnose(ng.stderr, text)
        plot = ng.last_plot
        if plot == "const":
            raise _diagnose(output or "ngspice produced no plot (is there an analysis line?)", text)
        lib = ng._ngspice_shared
        vectors: dict[str, np.ndarray] = {}
        names = lib.ngSpice_AllVecs(plot.encode())
        i = 0
        while names[i] != ffi.NULL:
            name = ffi.string(names[i]).decode()
            info = lib.ngGet_Vec_Info(f"{plot}.{name}".encode())
            n = info.v_length
            if info.v_compdata == ffi.NULL:
                arr = np.frombuffer(ffi.buffer(info.v_realdata, n * 8), dtype=np.float64).copy()
            else:
                pairs = np.frombuffer(ffi.buffer(info.v_compdata, n * 16), dtype=np.float64)
                arr = pairs[0::2] + 1j * pairs[1::2]
            vectors[_shared_vector_name(name)] = arr
            i += 1
        ng.destroy()
    log.debug("ngspice (shared) output:\n%s", output)
    axis = "time" if "time" in vectors else next(iter(vectors))
    return Result(vectors[axis].real, vectors, ngspice_version(), plot, output)
