"""Stimulus waveforms that both halves read: sampled for the twin, rendered for ngspice.

A stimulus is a function of time. The twin samples it on its grid (sample k = value at t_k,
held over [t_k, t_k+1)); ngspice gets the same function as an independent source, so the two
halves are driven by one definition.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ._checks import require_finite, require_positive, require_range
from .spice.netlist import Source, pulse, pwl, sin


def step_samples(stimulus, dt: float, steps: int) -> np.ndarray:
    """The twin's input: ``stimulus`` at each step's midpoint t_k + dt/2, k = 0..steps-1.

    (choice) A step-held input sampled at the midpoint is second-order accurate for smooth
    stimuli, and puts a source edge inside the step it belongs to.
    """
    return stimulus.sample((np.arange(steps) + 0.5) * dt)


def n_steps(dt: float, t_stop: float) -> int:
    """Steps of the twin's grid up to ``t_stop``: round(t_stop/dt), at least 1 (else ValueError)."""
    steps = round(t_stop / dt)
    if steps < 1:
        raise ValueError(f"t_stop = {t_stop!r} s is shorter than one step dt = {dt!r} s")
    return steps


def grid_steps(dt: float, steps: int) -> np.ndarray:
    """The time grid t_k = k·dt, k = 0..steps (s): ``steps + 1`` points, float64."""
    return np.arange(steps + 1) * dt


def grid(dt: float, t_stop: float) -> np.ndarray:
    """The twin's time grid t_k = k·dt, k = 0..round(t_stop/dt) (s)."""
    return grid_steps(dt, n_steps(dt, t_stop))


@dataclass(frozen=True)
class Sine:
    """offset + amplitude·sin(2π·freq·t), in the stimulus' unit (V or A)."""

    amplitude: float
    freq: float
    offset: float = 0.0

    def __post_init__(self) -> None:
        require_finite("Sine", "amplitude", self.amplitude)
        require_positive("Sine", "freq", self.freq)
        require_finite("Sine", "offset", self.offset)

    def sample(self, t: np.ndarray) -> np.ndarray:
        return self.offset + self.amplitude * np.sin(2 * np.pi * self.freq * np.asarray(t))

    def to_spice(self) -> Source:
        return sin(self.offset, self.amplitude, self.freq)

    def describe(self) -> str:
        return f"sine {self.amplitude:g} amplitude, {self.freq:g} Hz, offset {self.offset:g}"


@dataclass(frozen=True)
class Triangle:
    """Symmetric triangle wave of period 1/freq: from ``offset`` up to offset + amplitude at a
    quarter period, down to offset - amplitude at three quarters, back at a full period.
    ngspice gets it as a periodic PWL source (``r=0``: the first period repeated). (choice) The
    source needs no stop time that way, but ngspice sets time points on the first period's corners
    only: a later peak falls between two steps and is cut by up to slope·max_step/2, so a
    testbench keeps max_step small (the validator uses dt/10)."""

    amplitude: float
    freq: float
    offset: float = 0.0

    def __post_init__(self) -> None:
        require_finite("Triangle", "amplitude", self.amplitude)
        require_positive("Triangle", "freq", self.freq)
        require_finite("Triangle", "offset", self.offset)

    def sample(self, t: np.ndarray) -> np.ndarray:
        phase = np.mod(np.asarray(t, dtype=float) * self.freq + 0.25, 1.0)  # 0 at the trough
        return self.offset + self.amplitude * (1.0 - 2.0 * np.abs(2.0 * phase - 1.0))

    def breakpoints(self, t_stop: float) -> np.ndarray:
        """The peaks and troughs inside (0, t_stop): (2k + 1)/(4·freq)."""
        corners = (2 * np.arange(int(t_stop * self.freq * 2) + 2) + 1) / (4 * self.freq)
        return corners[(corners > 0) & (corners < t_stop)]

    def to_spice(self) -> Source:
        period = 1.0 / self.freq
        times = (0.0, period / 4, 3 * period / 4, period)
        values = (self.offset, self.offset + self.amplitude, self.offset - self.amplitude, self.offset)
        return Source(pwl(times, values).text + " r=0")

    def describe(self) -> str:
        return f"triangle {self.amplitude:g} amplitude, {self.freq:g} Hz, offset {self.offset:g}"


@dataclass(frozen=True)
class PulseTrain:
    """Periodic rectangular pulses: ``low`` then ``high`` for ``width`` s every ``period`` s.

    ``rise`` (= fall) is the edge time ngspice uses; the twin's samples follow the same
    trapezoid. The first pulse starts at ``delay``.
    """

    low: float
    high: float
    period: float
    width: float
    delay: float = 0.0
    rise: float = 1e-9

    def __post_init__(self) -> None:
        require_finite("PulseTrain", "low", self.low)
        require_finite("PulseTrain", "high", self.high)
        require_positive("PulseTrain", "period", self.period)
        require_range("PulseTrain", "width", self.width, 0.0, self.period - 2 * self.rise, lo_open=True)
        require_range("PulseTrain", "delay", self.delay, 0.0, float("inf"))
        require_positive("PulseTrain", "rise", self.rise)

    def sample(self, t: np.ndarray) -> np.ndarray:
        t = np.asarray(t, dtype=float)
        phase = np.mod(t - self.delay, self.period)
        r = self.rise
        level = np.clip(phase / r, 0.0, 1.0)
        level = np.where(phase > r + self.width, np.clip(1.0 - (phase - r - self.width) / r, 0.0, 1.0), level)
        level = np.where(t < self.delay, 0.0, level)
        return self.low + (self.high - self.low) * level

    def breakpoints(self, t_stop: float) -> np.ndarray:
        """Corners of the trapezoid up to ``t_stop`` (where an ODE solver must restart)."""
        starts = self.delay + self.period * np.arange(int(max(t_stop - self.delay, 0) // self.period) + 1)
        corners = np.concatenate([starts + c for c in (0.0, self.rise, self.rise + self.width, 2 * self.rise + self.width)])
        return np.sort(corners[(corners > 0) & (corners < t_stop)])

    def to_spice(self) -> Source:
        return pulse(self.low, self.high, self.delay, self.rise, self.rise, self.width, self.period)

    def describe(self) -> str:
        return (
            f"pulses {self.low:g} -> {self.high:g}, width {self.width:g} s, "
            f"period {self.period:g} s"
        )


@dataclass(frozen=True)
class Samples:
    """Arbitrary samples ``values`` at times ``times`` (linear between them, as ngspice's PWL)."""

    times: tuple[float, ...]
    values: tuple[float, ...]

    def __post_init__(self) -> None:
        t = np.asarray(self.times, dtype=float)
        v = np.asarray(self.values, dtype=float)
        if t.shape != v.shape or t.ndim != 1 or len(t) < 2:
            raise ValueError(
                f"Samples: times and values must be 1-D of equal length >= 2, got {t.shape} and {v.shape}"
            )
        if not (np.isfinite(t).all() and np.isfinite(v).all()):
            raise ValueError("Samples: every time and value must be finite")
        if np.any(np.diff(t) <= 0):
            raise ValueError("Samples.times must increase strictly")

    def sample(self, t: np.ndarray) -> np.ndarray:
        return np.interp(np.asarray(t, dtype=float), self.times, self.values)

    def breakpoints(self, t_stop: float) -> np.ndarray:
        """The sample times inside (0, t_stop): the corners of the piecewise-linear wave."""
        t = np.asarray(self.times, dtype=float)
        return t[(t > 0) & (t < t_stop)]

    def to_spice(self) -> Source:
        return pwl(self.times, self.values)

    def describe(self) -> str:
        return f"piecewise-linear, {len(self.times)} points"


_KINDS = {"sine": Sine, "triangle": Triangle, "pulse": PulseTrain}


def from_spec(spec: dict, base: Path | None = None):
    """Build a stimulus from a case's table: ``{kind = "sine" | "triangle" | "pulse" | "pwl", ...}``.

    ``pwl`` reads ``file`` (two columns: time in s, value; .npy, or text/CSV), relative to
    ``base``. Unknown kinds or fields raise ``ValueError`` naming them.
    """
    spec = dict(spec)
    kind = spec.pop("kind", None)
    if kind == "pwl":
        if set(spec) != {"file"}:
            raise ValueError(f"stimulus 'pwl' takes exactly one field, file; got {sorted(spec)}")
        path = Path(spec["file"])
        path = path if path.is_absolute() or base is None else base / path
        if not path.is_file():
            raise ValueError(f"stimulus file {str(path)!r} does not exist")
        data = np.load(path) if path.suffix == ".npy" else np.loadtxt(path, delimiter="," if path.suffix == ".csv" else None)
        data = np.atleast_2d(data)
        if data.ndim != 2 or data.shape[1] != 2:
            raise ValueError(f"stimulus file {str(path)!r}: expected two columns (time, value), got shape {data.shape}")
        return Samples(tuple(data[:, 0]), tuple(data[:, 1]))
    if kind not in _KINDS:
        raise ValueError(f"stimulus kind {kind!r}: must be one of {sorted([*_KINDS, 'pwl'])}")
    cls = _KINDS[kind]
    fields = dataclasses.fields(cls)
    allowed = {f.name for f in fields}
    if set(spec) - allowed:
        raise ValueError(f"stimulus {kind!r}: unknown field(s) {sorted(set(spec) - allowed)}; allowed: {sorted(allowed)}")
    required = [f.name for f in fields if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    missing = [name for name in required if name not in spec]
    if missing:
        raise ValueError(f"stimulus {kind!r}: missing field(s) {missing}; required: {required}, "
                         f"optional: {sorted(allowed - set(required))}")
    return cls(**spec)
