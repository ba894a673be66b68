"""Devices of the Manhattan-rule crossbar: measured or simulated pulse-response curves, the pulse
protocol of any pulse-programmable registered cell (:class:`CellPulses`; the MSS study's own in
:class:`MSSPulses`), device-to-device variation, pulsed device arrays and the input checks.

See :mod:`spicegrad.manhattan.model` for the model these serve and the modelling choices.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .._checks import require_choice, require_positive, require_range
from ..devices import pulses as _pulses
from ..devices.mss import MSSParams
from ..devices.pcm import S_PER_US, PCMArray, PCMParams, pcm_mean_field_curve
from ..devices.pulses import pulse_response, read_limit
from ..errors import InputError
from ..validate import require_certified
from .tasks import REFERENCE_RANGE, SEED_G0, SEED_SHIFT_SCALE

SHIFT_KINDS = ("exponential", "normal", "none")
#: (choice) largest read amplitude for a PCM cell or a curve without its own threshold (V)
DEFAULT_V_READ_MAX = 0.5
_OWNER = "CrossbarPerceptron"


# --- device curves -------------------------------------------------------------------------


def curve_reversals(g: np.ndarray) -> np.ndarray:
    """Pulse indices m where G(m) < G(m − 1) (a SET pulse lowered the measured conductance)."""
    return np.flatnonzero(np.diff(g) < 0) + 1


def describe_reversals(g: np.ndarray, name: str = "curve") -> str | None:
    """One line on the reversals of ``g`` (how many, the largest drop in S and where), or None."""
    where = curve_reversals(g)
    if where.size == 0:
        return None
    drops = g[where - 1] - g[where]
    k = int(np.argmax(drops))
    m = int(where[k])
    return (f"{name}: not monotone: {where.size} reversal(s) in {g.size - 1} steps; largest drop "
            f"{drops[k]:.4g} S at pulse {m} (G({m}) = {g[m]:.6g} S < G({m - 1}) = {g[m - 1]:.6g} S"
            + (f", {100 * drops[k] / (g[-1] - g[0]):.3g} % of the range G(M) − G(0))" if g[-1] > g[0] else ")"))


def check_curve(g: object, name: str = "curve") -> np.ndarray:
    """A conductance curve G(m), m = 0..M, as measured, checked for what the model needs.

    The model looks G up by pulse count (a device that has taken m pulses has G(m); past M it
    stays at G(M)), and carries a task's K and shift spread by the range G(M) − G(0). So a
    curve must have >= 2 points, every G finite and > 0 S (a conductance, not a resistance or a
    log), and must rise overall: G(M) > G(0). A curve that ends at or below its start is
    refused: identical SET pulses that leave the device where it began (flat) or lower it (a
    RESET curve, or columns swapped) cannot train, and the range the task is scaled by would be
    <= 0. Steps where G falls in between (measurement noise: the seed study's measured curve has
    G(28) < G(27)) are accepted as measured, with a :class:`RuntimeWarning` that names how many
    there are, the largest drop in S and its pulse index; :func:`running_maximum` (CLI
    ``--monotone``) removes them instead.
    """
    arr = np.asarray(g, dtype=float)
    if arr.ndim != 1 or arr.size < 2:
        raise ValueError(f"{name}: a device curve needs at least 2 points G(0), G(1), ... (S), got shape {arr.shape}")
    if not np.isfinite(arr).all() or (arr <= 0).any():
        bad = int(np.flatnonzero(~np.isfinite(arr) | (arr <= 0))[0])
        raise ValueError(f"{name}: G({bad}) = {float(arr[bad])!r} S: every conductance must be finite and > 0 S")
    last = arr.size - 1
    if arr[-1] == arr[0]:
        raise ValueError(
            f"{name}: flat curve: G({last}) = G(0) = {arr[0]:.6g} S: pulses would not program (a curve must "
            "end above G(0))")
    if arr[-1] < arr[0]:
        raise ValueError(
            f"{name}: falls overall: G({last}) = {arr[-1]:.6g} S is below G(0) = {arr[0]:.6g} S; a SET "
            "curve must end above where it starts (steps that fall in between are accepted as noise)")
    message = describe_reversals(arr, name)
    if message is not None:
        warnings.warn(message + "; pulses are applied to the curve as measured", RuntimeWarning, stacklevel=2)
    return arr


def running_maximum(g: object) -> np.ndarray:
    """max(G(0), ..., G(m)) for every m: the curve with its reversals removed."""
    return np.maximum.accumulate(np.asarray(g, dtype=float))


def seed_shaped_curve(points: int = 51) -> np.ndarray:
    """A curve shaped like the seed's measured one (which is not public), in S.

    51 points from 7.07e-4 S to 9.76e-4 S; the first step 2.0e-4 S; the later steps start at
    1e-5 S and shrink geometrically so that they add up to the remaining 6.9e-5 S (choice: the
    issue gives only the end points and the step sizes).
    """
    g0, first, total, later = SEED_G0, 2.0e-4, REFERENCE_RANGE, 1e-5
    n = points - 2
    rest = total - first
    lo, hi = 1e-9, 1.0 - 1e-12
    for _ in range(200):  # bisection for the ratio r: later·(1 − r^n)/(1 − r) = rest
        r = 0.5 * (lo + hi)
        lo, hi = (r, hi) if later * (1 - r**n) / (1 - r) < rest else (lo, r)
    steps = later * r ** np.arange(n)
    return np.concatenate([[g0, g0 + first], g0 + first + np.cumsum(steps)])


@dataclass(frozen=True)
class CellPulses:
    """How a pulse-programmable cell of the registry is programmed and read (SI units).

    ``device``: the registered cell's name; ``amplitude`` (V, a magnitude: the polarity is the
    device's, :func:`~spicegrad.devices.pulses.potentiating_voltage`; negative for a device such
    as VTEAM) and ``width`` (s) of one identical potentiating pulse, followed by ``gap`` s at 0 V;
    ``read_time`` (s) that a pattern is held on the rows; ``dt`` (s) and ``integrator`` of the
    twin (its certificate is looked up for this configuration). A pulse is a rectangle held for
    ``width`` (choice); durations are whole numbers of ``dt``. In a crossbar the selected device
    sees the full amplitude and half-selected devices half of it (V/2 scheme), which must stay
    below the device's threshold |v_up|; reads must stay below
    :func:`~spicegrad.devices.pulses.read_limit`. :func:`cell_pulses` gives a device's defaults.
    """

    device: str
    amplitude: float
    width: float
    gap: float
    read_time: float
    dt: float
    integrator: str = "exp-euler"

    def __post_init__(self) -> None:
        owner = type(self).__name__
        for name in ("amplitude", "width", "read_time", "dt"):
            require_positive(owner, name, getattr(self, name))
        require_range(owner, "gap", self.gap, 0.0, math.inf)
        for name in ("width", "gap", "read_time"):
            self.steps(name)

    @property
    def kind(self):
        """The registered :class:`~spicegrad.devices.registry.DeviceKind` of ``device``."""
        from ..devices import registry

        return registry.get(self.device)

    def steps(self, name: str) -> int:
        """``name`` (a duration) in whole twin steps; a duration off the dt grid is an error."""
        value = getattr(self, name)
        n = round(value / self.dt)
        if abs(n * self.dt - value) > 1e-9 * self.dt or (n < 1 and name != "gap"):
            raise InputError(f"{type(self).__name__}.{name} = {value!r} s: must be a whole number (>= 1) of "
                             f"dt = {self.dt!r} s")
        return n

    def voltage(self, params) -> float:
        """The signed potentiating voltage (V): ``amplitude`` with the polarity of the device's
        v_up; an amplitude that does not pass |v_up| is refused (the pulse would not program)."""
        kind = self.kind
        try:
            return _pulses.potentiating_voltage(kind, params, self.amplitude)
        except InputError as exc:
            if "switching threshold" not in str(exc):
                raise
            v_up = float(kind.switching(params)[0])
            raise InputError(
                f"{type(self).__name__}.amplitude = {self.amplitude!r} V does not exceed the {kind.name.upper()} "
                f"threshold |v_up| = {abs(v_up):g} V: such pulses would not program the device") from None

    def check_device(self, params, half_select: bool = False) -> None:
        """The pulse must switch the device (amplitude > |v_up|); with ``half_select`` (the V/2
        scheme) half of it must not."""
        self.voltage(params)
        v_up = abs(float(self.kind.switching(params)[0]))
        if half_select and self.amplitude / 2 >= v_up:
            raise InputError(
                f"{type(self).__name__}.amplitude = {self.amplitude!r} V: half of it ({self.amplitude / 2:g} V) "
                f"reaches the {self.kind.name.upper()} threshold |v_up| = {v_up:g} V, so the V/2 scheme would "
                "program half-selected devices")


@dataclass(frozen=True)
class MSSPulses(CellPulses):
    """The MSS protocol of the study (choice): 0.4 V × 5 µs SET pulses, 5 µs gaps, 4 µs reads,
    the twin at dt = 1 µs with exp-euler.

    For a single device a pulse moves the state by the exact solution of the MSS ODE under that
    voltage, x <- x∞ + (x − x∞)·e^{−width·(P_on + P_off)/τ}: a pulse of 0.4 V, 5 µs on the
    knowm-default device closes 4.9 % of the remaining gap to x = 1. Half of 0.4 V stays below
    v_on = 0.27 V.
    """

    device: str = field(default="mss", init=False)
    amplitude: float = 0.4
    width: float = 5e-6
    gap: float = 5e-6
    read_time: float = 4e-6
    dt: float = 1e-6
    integrator: str = "exp-euler"


#: pulse protocols of devices whose defaults are a study's, not derived (:func:`cell_pulses`)
PRESETS: dict[str, type[CellPulses]] = {"mss": MSSPulses}
#: a derived default dt is at most width / DT_DIVISIONS; a read lasts READ_STEPS steps (choice)
DT_DIVISIONS, READ_STEPS = 5, 4
#: pulses in a device curve (the seed's measured curve has 50)
CURVE_PULSES = 50


def round_125(value: float) -> float:
    """The largest number of the 1-2-5 series (1, 2, 5 × 10^n) at or below ``value`` (> 0)."""
    exponent = math.floor(math.log10(value))
    for e in (exponent, exponent - 1):
        for m in (5, 2, 1):
            if m * 10.0**e <= value * (1 + 1e-9):
                return float(f"{m}e{e}")
    raise AssertionError(value)  # unreachable: 1·10^(exponent-1) < value


def cell_pulses(kind, params, n_pulses: int = CURVE_PULSES, amplitude: float | None = None,
                width: float | None = None, integrator: str = "exp-euler") -> CellPulses:
    """The pulse protocol of a registered pulse-programmable cell ``kind`` (a name or a kind) with
    ``params`` (default: the kind's defaults).

    A device in :data:`PRESETS` (MSS) keeps its study's protocol, with ``amplitude`` / ``width``
    (gap = width) replacing its values when given. Any other device gets defaults derived from
    its own switching and twin (choice): amplitude :data:`~spicegrad.devices.pulses.OVERDRIVE`
    × |v_up| (its half stays below the threshold, for the V/2 scheme); width the time a held pulse
    takes to fill 95 % of the conductance range (:func:`~spicegrad.devices.pulses.fill_time`)
    divided by ``n_pulses`` (the most pulses one device can take in a run), so the run's pulses
    cover the range; dt the largest 1-2-5 value at most width/5, with the width rounded to a whole
    number of dt; gap = width; a read held for 4·dt. A width the user gives keeps its value: dt is
    then the largest 1-2-5 value at most width/5 that divides it.
    """
    from ..devices import registry

    kind = registry.get(kind) if isinstance(kind, str) else kind
    _pulses.check_pulsable(kind)
    params = kind.params() if params is None else params
    preset = PRESETS.get(kind.name)
    if preset is not None:
        given = {"amplitude": amplitude, "width": width, "gap": width, "integrator": integrator}
        return preset(**{k: v for k, v in given.items() if v is not None})
    voltage = _pulses.potentiating_voltage(kind, params, amplitude)
    if width is None:
        if isinstance(n_pulses, bool) or not isinstance(n_pulses, int) or n_pulses < 1:
            raise InputError(f"cell_pulses: n_pulses = {n_pulses!r}: must be an integer >= 1")
        raw = _pulses.fill_time(kind, params, voltage, integrator=integrator) / n_pulses
        dt = round_125(raw / DT_DIVISIONS)
        width = round(raw / dt) * dt
    else:
        require_positive(f"{kind.name} pulse", "width", width)
        dt = round_125(width / DT_DIVISIONS)
        for _ in range(12):  # four decades down the series
            if abs(round(width / dt) * dt - width) <= 1e-9 * dt:
                break
            dt = round_125(dt * (1 - 1e-6))
        else:
            raise InputError(f"{kind.name} pulse width = {width!r} s: not a whole multiple of a 1-2-5 step "
                             f"(1, 2, 5 × 10^n s) at or below width/{DT_DIVISIONS}; give e.g. "
                             f"{round_125(width):g} s")
    return CellPulses(kind.name, abs(voltage), width, width, READ_STEPS * dt, dt, integrator)


def certify_cell(kind, params, pulses: CellPulses, allow_unvalidated: bool = False) -> dict:
    """The validator's certificate for the twin of ``kind`` at the programming dt and integrator."""
    return require_certified(kind.name, params, pulses.dt, pulses.integrator, allow_unvalidated=allow_unvalidated)


@dataclass(frozen=True, eq=False)
class DeviceCurve:
    """G(m) in S after m = 0..M identical SET pulses, and the largest safe read amplitude (V)."""

    g: np.ndarray
    name: str = "curve"
    v_read_max: float = DEFAULT_V_READ_MAX
    source: str = ""
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "g", check_curve(self.g, self.name))
        require_positive("DeviceCurve", "v_read_max", self.v_read_max)

    @property
    def range(self) -> float:
        """G(M) − G(0) (S)."""
        return float(self.g[-1] - self.g[0])

    @classmethod
    def seed(cls) -> DeviceCurve:
        return cls(seed_shaped_curve(), "seed", source="seed-shaped curve (issue 6)")

    @classmethod
    def from_file(cls, path: str | Path, v_read_max: float = DEFAULT_V_READ_MAX, monotone: bool = False) -> DeviceCurve:
        """Two columns (pulse number 0, 1, 2, ..., conductance in S); '#' comments, ',' or blanks.

        The conductances are checked by :func:`check_curve`: a curve with reversals is used as
        measured (with a RuntimeWarning); ``monotone=True`` uses its :func:`running_maximum`
        instead (the reversals are still reported, in ``meta``). ``meta["curve_monotone"]`` is
        ``"as measured"`` or ``"running maximum"``, ``meta["reversals"]`` the count in the file.
        """
        p = Path(path)
        if not p.is_file():
            raise ValueError(f"device curve file {str(p)!r} does not exist (expected two columns: pulse number, conductance in S)")
        try:
            data = np.loadtxt(p, delimiter="," if p.suffix == ".csv" else None, ndmin=2)
        except ValueError as exc:
            raise ValueError(f"device curve file {str(p)!r}: not two numeric columns ({exc})") from None
        if data.shape[1] != 2:
            raise ValueError(f"device curve file {str(p)!r}: expected two columns (pulse number, conductance), got {data.shape[1]}")
        pulses = data[:, 0]
        if not np.array_equal(pulses, np.arange(len(pulses))):
            row = int(np.flatnonzero(pulses != np.arange(len(pulses)))[0])
            raise ValueError(
                f"device curve file {str(p)!r}: row {row + 1} has pulse number {pulses[row]:g}; "
                "pulse numbers must run 0, 1, 2, ... without gaps"
            )
        g = data[:, 1]
        if not monotone:
            return cls(g, p.stem, v_read_max, source=str(p), meta={
                "curve_monotone": "as measured", "reversals": int(curve_reversals(g).size)})
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            g = check_curve(g, p.stem)  # refuse first what a running maximum could hide (G <= 0, G(M) < G(0))
        meta = {"curve_monotone": "running maximum", "reversals": int(curve_reversals(g).size),
                "reversals_detail": describe_reversals(g, p.stem)}
        return cls(running_maximum(g), p.stem, v_read_max, source=f"{p} (running maximum)", meta=meta)

    @classmethod
    def from_cell(cls, kind, params=None, pulses: CellPulses | None = None, n_pulses: int = CURVE_PULSES,
                  allow_unvalidated: bool = False) -> DeviceCurve:
        """G(m) of one twin of the registered pulse-programmable cell ``kind`` (a name or a kind),
        from its g_min state, under ``n_pulses`` identical potentiating pulses
        (:func:`~spicegrad.devices.pulses.pulse_response`), at a certified twin configuration.
        ``params`` defaults to the kind's defaults, ``pulses`` to :func:`cell_pulses`; the curve's
        read limit is the device's :func:`~spicegrad.devices.pulses.read_limit`."""
        from ..devices import registry

        kind = registry.get(kind) if isinstance(kind, str) else kind
        params = kind.params() if params is None else params
        pulses = cell_pulses(kind, params, n_pulses) if pulses is None else pulses
        if pulses.device != kind.name:
            raise InputError(f"DeviceCurve.from_cell: pulses are for device {pulses.device!r}, not {kind.name!r}")
        voltage = pulses.voltage(params)
        cert = certify_cell(kind, params, pulses, allow_unvalidated)
        x = pulse_response(kind, params, voltage, pulses.width, n_pulses, dt=pulses.dt, gap=pulses.gap,
                           integrator=pulses.integrator)
        g = torch.as_tensor(kind.conductance(x, params)).numpy()
        return cls(g, kind.name, read_limit(kind, params),
                   source=f"{kind.name.upper()} twin, {voltage:g} V × {pulses.width:g} s pulses",
                   meta={"certificate": cert.get("key"), "validated": cert.get("validated")})

    @classmethod
    def from_mss(cls, params: MSSParams | None = None, pulses: MSSPulses | None = None, n_pulses: int = CURVE_PULSES,
                 allow_unvalidated: bool = False) -> DeviceCurve:
        """:meth:`from_cell` for the MSS (x0 = 0), with the study's pulses by default."""
        return cls.from_cell("mss", params, MSSPulses() if pulses is None else pulses, n_pulses, allow_unvalidated)

    @classmethod
    def from_pcm(cls, params: PCMParams | None = None, n_pulses: int = 50) -> DeviceCurve:
        """Mean-field cumulative SET of the PCM twin (ξ = 0, from G0), in S."""
        g_us = pcm_mean_field_curve(n_pulses + 1, PCMParams() if params is None else params)
        return cls(g_us.numpy() * S_PER_US, "pcm", DEFAULT_V_READ_MAX, source="PCM twin, mean-field cumulative SET")


def get_curve(device: str | Path | DeviceCurve, pulses: CellPulses | None = None, allow_unvalidated: bool = False,
              params=None) -> DeviceCurve:
    """``"seed"``, ``"pcm"``, a registered pulse-programmable cell (``"mss"``, or any cell that
    declares step, switching and the conductance maps: :meth:`DeviceCurve.from_cell`), a
    DeviceCurve, or a path to a two-column file."""
    from ..devices import registry

    if isinstance(device, DeviceCurve):
        return device
    if device == "seed":
        return DeviceCurve.seed()
    if device == "pcm":
        return DeviceCurve.from_pcm()
    if isinstance(device, str) and device in registry.names("cell"):
        return DeviceCurve.from_cell(device, params, pulses, allow_unvalidated=allow_unvalidated)
    return DeviceCurve.from_file(device)




def scale_to_curve(k: float, shift_scale: float, curve: DeviceCurve) -> tuple[float, float]:
    """(K, shift scale) for ``curve`` from a task's values stated for the seed's curve."""
    ratio = REFERENCE_RANGE / curve.range
    return k * ratio, shift_scale / ratio


# --- device-to-device variation ------------------------------------------------------------


@dataclass(frozen=True)
class ShiftDistribution:
    """Device-to-device shifts (S), centred to mean 0 over each array (the seed's recipe).

    ``exponential``: Exponential(scale) − its array mean; ``normal``: N(0, scale²) − mean;
    ``none``: zeros.
    """

    kind: str = "exponential"
    scale: float = SEED_SHIFT_SCALE

    def __post_init__(self) -> None:
        require_choice("ShiftDistribution", "kind", self.kind, SHIFT_KINDS)
        require_range("ShiftDistribution", "scale", self.scale, 0.0, math.inf)

    def sample(self, batch: int, shape: tuple[int, int], generator: torch.Generator) -> torch.Tensor:
        """Shifts [batch, *shape] (S), float64."""
        size = (batch, *shape)
        if self.kind == "none":
            return torch.zeros(size, dtype=torch.float64)
        if self.kind == "exponential":
            u = torch.rand(size, generator=generator, dtype=torch.float64)
            raw = -self.scale * torch.log1p(-u)
        else:
            raw = self.scale * torch.randn(size, generator=generator, dtype=torch.float64)
        return raw - raw.mean(dim=(1, 2), keepdim=True)


# --- devices that take pulses (batched: [B, R, Cp]) -----------------------------------------


class CurveDevices:
    """Devices that follow G(m) exactly: state m (pulses so far), ΔG = G(min(m, M)) − G(0)."""

    def __init__(self, curve: DeviceCurve, shape: tuple[int, ...]):
        self.curve = torch.as_tensor(curve.g, dtype=torch.float64)
        self.m = torch.zeros(shape, dtype=torch.long)

    def delta_g(self) -> torch.Tensor:
        return self.curve[self.m.clamp(max=len(self.curve) - 1)] - self.curve[0]

    read_delta_g = delta_g

    def pulse(self, mask: torch.Tensor) -> None:
        self.m = self.m + mask.long()

    def state(self) -> torch.Tensor:
        return self.m.double()


class PCMDevices:
    """One PCM twin per device: each SET draws its own increment; reads drift and carry noise.

    (choice) Epoch e happens at t = e·``epoch_period`` s; with the default 1 s every read is
    within t0 = 38.6 s of its device's last write unless the device went unwritten for 38 epochs,
    so drift shows only on devices training has left alone. ΔG is relative to the nominal G0.
    """

    def __init__(self, shape: tuple[int, ...], params: PCMParams | None = None, deterministic: bool = False,
                 generator: torch.Generator | None = None, epoch_period: float = 1.0):
        self.array = PCMArray(params, shape, deterministic=deterministic, generator=generator, dtype=torch.float64)
        self.period = require_positive("PCMDevices", "epoch_period", epoch_period)
        self.t = 0.0

    def _relative(self, g_us: torch.Tensor) -> torch.Tensor:
        return (g_us - self.array.params.g0_us) * S_PER_US

    def delta_g(self) -> torch.Tensor:
        return self._relative(self.array.g_us)

    def read_delta_g(self) -> torch.Tensor:
        return self._relative(self.array.read(self.t))

    def pulse(self, mask: torch.Tensor) -> None:
        self.t += self.period
        self.array.write(mask, self.t)

    def state(self) -> torch.Tensor:
        return self.array.g_us.clone()


def column_currents(v: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """I_c = Σ_j V_j·G_jc for read voltages ``v`` [P, R] (V) and conductances ``g`` [B, R, Cp] (S).

    (choice) A broadcast product and sum, not matmul/einsum: for these small float64 arrays
    BLAS took ≈30 ms per call on a busy 2-core machine against ≈10 µs here."""
    return (v[None, :, :, None] * g[:, None]).sum(dim=2)


class FormulaCrossbar:
    """The seed's crossbar: logic conductances K·(ΔG + shift), currents I = Vᵀ·G (ideal wires)."""

    def __init__(self, devices, shifts: torch.Tensor, k: float):
        self.devices, self.shifts, self.k = devices, shifts, k

    def g(self) -> torch.Tensor:
        """Logic conductances [B, R, Cp] (S)."""
        return self.k * (self.devices.delta_g() + self.shifts)

    def read(self, v: torch.Tensor) -> torch.Tensor:
        """Physical column currents × K, [B, P, Cp] (A), for read voltages ``v`` [P, R]."""
        g = self.k * (self.devices.read_delta_g() + self.shifts)
        return column_currents(v, g)

    def program(self, mask: torch.Tensor) -> None:
        self.devices.pulse(mask)

    def state(self) -> torch.Tensor:
        return self.devices.state()


# --- input checks ----------------------------------------------------------------------------


def check_patterns(x: object, y: object, v_read_max: float, device: str = "device") -> tuple[torch.Tensor, torch.Tensor]:
    """Read voltages [P, R] (V) and labels [P, N] in {0, 1}, checked against each other and the
    device's switching threshold."""
    xv = np.asarray(x, dtype=float)
    yv = np.asarray(y)
    if xv.ndim != 2 or xv.shape[0] == 0 or xv.shape[1] == 0:
        raise ValueError(f"{_OWNER}: patterns X must be 2-D [patterns, inputs] of read voltages (V), got shape {xv.shape}")
    if yv.ndim != 2 or yv.shape[1] == 0:
        raise ValueError(f"{_OWNER}: labels y must be 2-D [patterns, neurons] of 0/1, got shape {yv.shape}")
    if xv.shape[0] != yv.shape[0]:
        raise ValueError(f"{_OWNER}: {xv.shape[0]} patterns (X shape {xv.shape}) but {yv.shape[0]} label rows (y shape {yv.shape})")
    if not np.isfinite(xv).all():
        raise ValueError(f"{_OWNER}: every read voltage in X must be finite")
    if not np.isin(yv, (0, 1)).all():
        raise ValueError(f"{_OWNER}: labels y must be 0 or 1, got values {sorted(set(np.unique(yv).tolist()))}")
    check_read_voltages(xv, v_read_max, device)
    return torch.tensor(xv, dtype=torch.float64), torch.tensor(yv.astype(np.int64))


def check_read_voltages(xv: np.ndarray, v_read_max: float, device: str) -> None:
    worst = np.unravel_index(np.argmax(np.abs(xv)), xv.shape)
    if abs(xv[worst]) >= v_read_max:
        raise ValueError(
            f"{_OWNER}: read voltage {xv[worst]:g} V (pattern {worst[0]}, input {worst[1]}) is not below the "
            f"{device} switching threshold {v_read_max:g} V: reads must satisfy |V| < {v_read_max:g} V "
            "so they do not program the devices (read_scale='auto', on the command line --read-scale auto, "
            "scales the reads into range and the read-out gain back)"
        )


def check_hyperparameters(beta: object, targets: object, k: object, epochs: object) -> tuple[float, tuple[float, float]]:
    beta = require_positive(_OWNER, "beta", beta)
    if k is not None:
        require_positive(_OWNER, "k", k)
    try:
        lo, hi = (float(t) for t in targets)
    except (TypeError, ValueError):
        raise ValueError(f"{_OWNER}.targets = {targets!r}: must be a pair (negative, positive)") from None
    if not -1.0 < lo < hi < 1.0:
        raise ValueError(f"{_OWNER}.targets = {targets!r}: need −1 < negative < positive < 1 (tanh outputs)")
    if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)) or epochs < 2:
        raise ValueError(f"{_OWNER}.epochs = {epochs!r}: must be an integer >= 2 (epoch 0 is the initial state)")
    return beta, (lo, hi)


def check_shifts(shifts: object, shape: tuple[int, int]) -> torch.Tensor:
    """User shifts (S) as [B, R, Cp] from [R, Cp] or [B, R, Cp]."""
    s = np.asarray(shifts, dtype=float)
    if s.ndim == 2:
        s = s[None]
    if s.ndim != 3 or s.shape[1:] != tuple(shape) or s.shape[0] == 0:
        raise ValueError(f"{_OWNER}: shifts of shape {np.asarray(shifts).shape} do not fit the crossbar: need {tuple(shape)} or [runs, *{tuple(shape)}] (S)")
    if not np.isfinite(s).all():
        raise ValueError(f"{_OWNER}: every shift must be finite")
    return torch.tensor(s, dtype=torch.float64)

