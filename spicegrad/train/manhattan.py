r"""In-situ training of a memristor crossbar perceptron with the Manhattan rule (seed 001, Prezioso 2015).

A single-layer perceptron on a crossbar of R inputs × N neurons, each neuron a differential pair
of physical columns (2k = G⁺, 2k+1 = G⁻). For a pattern of read voltages V_j (V)::

    I_i = Σ_j (G⁺_ij − G⁻_ij)·V_j            f_i = tanh(β·I_i)                 (β in 1/A)
    δ_i(n) = (f_i^target(n) − f_i(n))·β·(1 − f_i(n)²)                         (tanh derivative)
    ΔW_ij = sgn Σ_n δ_i(n)·V_j(n)          ΔW > 0: one SET pulse on G⁺_ij;  < 0: one on G⁻_ij

A pattern counts when every neuron is strictly beyond its target (f > t⁺ for label 1, f < t⁻
for label 0); training stops at the first epoch in which every pattern counts. The total error of
an epoch is Σ max(t⁺ − f, 0) over label-1 outputs plus Σ max(f − t⁻, 0) over label-0 outputs.
Epoch numbering is the seed's: epoch 0 is the initial state; epochs 1 .. ``epochs``−1 each read
the training set and, unless it converged, apply one update (``epochs`` = 48 -> at most 47
reads). A run that converges at epoch 1 needed no update.

Conductances (the seed's model, ``backend="curve"``): every device follows one measured curve
G(m) of conductance vs number of identical SET pulses m, and the logic sees

    G_ij = K·[(G(m_ij) − G(0)) + shift_ij]

with device-to-device shifts from a :class:`ShiftDistribution` (the seed: Exponential of scale
1/55845 S, centred to mean 0 over the array), K a read-out gain (1). A pulse past the curve's
last point leaves G there (choice: the seed's code indexes past the end and fails; a saturated
device does not move). G(m) comes from a two-column file, from the validated MSS twin driven by
identical pulses (:meth:`DeviceCurve.from_mss`), or from the PCM twin's mean-field cumulative SET
(:meth:`DeviceCurve.from_pcm`).

Device physics (``backend="twin"`` / ``"spice"``): with ``device="pcm"`` and the twin backend
each device is a :class:`~spicegrad.devices.PCMArray` cell, so every pulse draws its own
increment (cycle-to-cycle noise) and reads carry read noise; with ``device="mss"`` the read pass
and the programming pulses are transients of the MSS crossbar circuit, on the twin or in ngspice
(:mod:`spicegrad.train.manhattan_spice`).

(choice) Carrying the task's hyperparameters to another curve: β, K and the shift spread of a
task are stated for the seed's curve, whose range G(M) − G(0) is 2.69e-4 S. With ``k=None`` /
``shift_scale=None`` (the default for device curves) :func:`scale_to_curve` uses
K = K_task·2.69e-4 S / range and shift scale = scale_task·range / 2.69e-4 S, so that K·range and
the shifts relative to the range are the seed's; the seed-shaped curve gets the task's values.

(choice) Reads must stay below the device's switching threshold: |V| < ``v_read_max`` of the
curve (MSS: min(v_on, v_off); PCM: 0.5 V, the low end of the threshold-switching voltage of a
RESET cell, which Nandakumar's pulse model does not contain; a file or the seed-shaped curve:
0.5 V unless given).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .._checks import require_choice, require_positive, require_range
from ..devices.mss import MSS, MSSParams, mss_conductance
from ..devices.pcm import PCMArray, PCMParams
from .manhattan_tasks import REFERENCE_RANGE, SEED_K, SEED_SHIFT_SCALE

BACKENDS = ("curve", "twin", "spice")
SHIFT_KINDS = ("exponential", "normal", "none")
#: (choice) largest read amplitude for a PCM cell or a curve without its own threshold (V)
DEFAULT_V_READ_MAX = 0.5
_OWNER = "CrossbarPerceptron"


# --- device curves -------------------------------------------------------------------------


def check_curve(g: object, name: str = "curve") -> np.ndarray:
    """A conductance curve G(m), m = 0..M: >= 2 finite points > 0 S, non-decreasing, rising."""
    arr = np.asarray(g, dtype=float)
    if arr.ndim != 1 or arr.size < 2:
        raise ValueError(f"{name}: a device curve needs at least 2 points G(0), G(1), ... (S), got shape {arr.shape}")
    if not np.isfinite(arr).all() or (arr <= 0).any():
        bad = int(np.flatnonzero(~np.isfinite(arr) | (arr <= 0))[0])
        raise ValueError(f"{name}: G({bad}) = {arr[bad]!r}: every conductance must be finite and > 0 S")
    steps = np.diff(arr)
    if (steps < 0).any():
        m = int(np.flatnonzero(steps < 0)[0])
        raise ValueError(
            f"{name}: not monotone: G({m + 1}) = {arr[m + 1]:.6g} S < G({m}) = {arr[m]:.6g} S; "
            "SET pulses must not lower the conductance"
        )
    if arr[-1] == arr[0]:
        raise ValueError(f"{name}: flat curve (G = {arr[0]:.6g} S at every pulse): pulses would not program")
    return arr


def seed_shaped_curve(points: int = 51) -> np.ndarray:
    """A curve shaped like the seed's measured one (which is not public), in S.

    51 points from 7.07e-4 S to 9.76e-4 S; the first step 2.0e-4 S; the later steps start at
    1e-5 S and shrink geometrically so that they add up to the remaining 6.9e-5 S (choice: the
    issue gives only the end points and the step sizes).
    """
    g0, first, total, later = 7.07e-4, 2.0e-4, 9.76e-4 - 7.07e-4, 1e-5
    n = points - 2
    rest = total - first
    lo, hi = 1e-9, 1.0 - 1e-12
    for _ in range(200):  # bisection for the ratio r: later·(1 − r^n)/(1 − r) = rest
        r = 0.5 * (lo + hi)
        lo, hi = (r, hi) if later * (1 - r**n) / (1 - r) < rest else (lo, r)
    steps = later * r ** np.arange(n)
    return np.concatenate([[g0, g0 + first], g0 + first + np.cumsum(steps)])


@dataclass(frozen=True)
class MSSPulses:
    """How the MSS is programmed and read (SI units).

    ``amplitude`` (V) and ``width`` (s) of one identical SET pulse; ``read_time`` (s) that a
    pattern is held on the rows; ``dt`` (s) and ``integrator`` of the twin (its certificate is
    looked up for this configuration). (choice) A pulse is a rectangle held for ``width`` and
    followed by ``gap`` s at 0 V; for a single device it moves the state by the exact solution
    of the MSS ODE under that voltage, x <- x∞ + (x − x∞)·e^{−width·(P_on + P_off)/τ}: a pulse
    of 0.4 V, 5 µs on the knowm-default device closes 4.9 % of the remaining gap to x = 1.
    In a crossbar the selected device sees the full amplitude and half-selected devices half of
    it (V/2 scheme), which must stay below v_on.
    """

    amplitude: float = 0.4
    width: float = 5e-6
    gap: float = 5e-6
    read_time: float = 4e-6
    dt: float = 1e-6
    integrator: str = "exp-euler"

    def __post_init__(self) -> None:
        for name in ("amplitude", "width", "read_time", "dt"):
            require_positive("MSSPulses", name, getattr(self, name))
        require_range("MSSPulses", "gap", self.gap, 0.0, math.inf)
        for name in ("width", "gap", "read_time"):
            self.steps(name)

    def steps(self, name: str) -> int:
        """``name`` (a duration) in whole twin steps; a duration off the dt grid is an error."""
        value = getattr(self, name)
        n = round(value / self.dt)
        if abs(n * self.dt - value) > 1e-9 * self.dt or (n < 1 and name != "gap"):
            raise ValueError(f"MSSPulses.{name} = {value!r} s: must be a whole number (>= 1) of dt = {self.dt!r} s")
        return n

    def check_device(self, params: MSSParams, half_select: bool = False) -> None:
        """The pulse must switch the device (amplitude > v_on), half of it must not (V/2)."""
        if self.amplitude <= params.v_on:
            raise ValueError(
                f"MSSPulses.amplitude = {self.amplitude!r} V does not exceed the MSS threshold "
                f"v_on = {params.v_on!r} V: such pulses would not program the device"
            )
        if half_select and self.amplitude / 2 >= params.v_on:
            raise ValueError(
                f"MSSPulses.amplitude = {self.amplitude!r} V: half of it ({self.amplitude / 2:g} V) "
                f"reaches v_on = {params.v_on!r} V, so the V/2 scheme would program half-selected devices"
            )


def certify_mss(params: MSSParams, pulses: MSSPulses, allow_unvalidated: bool = False) -> dict:
    """The validator's certificate for the MSS twin at the programming dt and integrator."""
    from ..validate import require_certified

    return require_certified("mss", params, pulses.dt, pulses.integrator, allow_unvalidated=allow_unvalidated)


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
    def from_file(cls, path: str | Path, v_read_max: float = DEFAULT_V_READ_MAX) -> DeviceCurve:
        """Two columns (pulse number 0, 1, 2, ..., conductance in S); '#' comments, ',' or blanks."""
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
        return cls(data[:, 1], p.stem, v_read_max, source=str(p))

    @classmethod
    def from_mss(
        cls,
        params: MSSParams | None = None,
        pulses: MSSPulses | None = None,
        n_pulses: int = 50,
        allow_unvalidated: bool = False,
    ) -> DeviceCurve:
        """G(m) of one MSS twin (x0 = 0) under ``n_pulses`` identical pulses (certified config)."""
        params = MSSParams() if params is None else params
        pulses = MSSPulses() if pulses is None else pulses
        pulses.check_device(params)
        cert = certify_mss(params, pulses, allow_unvalidated)
        on, period = pulses.steps("width"), pulses.steps("width") + pulses.steps("gap")
        one = torch.zeros(period, dtype=torch.float64)
        one[:on] = pulses.amplitude
        out = MSS(params).simulate(one.repeat(n_pulses), pulses.dt, x0=0.0, integrator=pulses.integrator)
        x = out["x"][::period]
        g = mss_conductance(x, params).numpy()
        return cls(g, "mss", min(params.v_on, params.v_off),
                   source=f"MSS twin, {pulses.amplitude:g} V × {pulses.width:g} s pulses",
                   meta={"certificate": cert.get("key"), "validated": cert.get("validated")})

    @classmethod
    def from_pcm(cls, params: PCMParams | None = None, n_pulses: int = 50) -> DeviceCurve:
        """Mean-field cumulative SET of the PCM twin (ξ = 0, from G0), in S."""
        array = PCMArray(params, (), deterministic=True, dtype=torch.float64)
        g = [array.g_us.item()]
        for m in range(n_pulses):
            array.write(True, float(m))
            g.append(array.g_us.item())
        return cls(np.array(g) * 1e-6, "pcm", DEFAULT_V_READ_MAX, source="PCM twin, mean-field cumulative SET")


def get_curve(device: str | Path | DeviceCurve, pulses: MSSPulses | None = None, allow_unvalidated: bool = False) -> DeviceCurve:
    """``"seed"``, ``"mss"``, ``"pcm"``, a DeviceCurve, or a path to a two-column file."""
    if isinstance(device, DeviceCurve):
        return device
    if device == "seed":
        return DeviceCurve.seed()
    if device == "mss":
        return DeviceCurve.from_mss(pulses=pulses, allow_unvalidated=allow_unvalidated)
    if device == "pcm":
        return DeviceCurve.from_pcm()
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
    scale: float = 1.0 / 55845.0

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
        return (g_us - self.array.params.g0_us) * 1e-6

    def delta_g(self) -> torch.Tensor:
        return self._relative(self.array.g_us)

    def read_delta_g(self) -> torch.Tensor:
        return self._relative(self.array.read(self.t))

    def pulse(self, mask: torch.Tensor) -> None:
        self.t += self.period
        self.array.write(mask, self.t)

    def state(self) -> torch.Tensor:
        return self.array.g_us.clone()


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


# --- the Manhattan rule (pure functions) -----------------------------------------------------


def column_currents(v: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """I_c = Σ_j V_j·G_jc for read voltages ``v`` [P, R] (V) and conductances ``g`` [B, R, Cp] (S).

    (choice) A broadcast product and sum, not matmul/einsum: for these small float64 arrays
    BLAS took ≈30 ms per call on a busy 2-core machine against ≈10 µs here."""
    return (v[None, :, :, None] * g[:, None]).sum(dim=2)


def logic_currents(i_cols: torch.Tensor) -> torch.Tensor:
    """I⁺ − I⁻ per neuron from physical column currents [..., 2N] (A)."""
    return i_cols[..., 0::2] - i_cols[..., 1::2]


def target_values(y: torch.Tensor, targets: tuple[float, float]) -> torch.Tensor:
    return torch.where(y != 0, targets[1], targets[0]).double()


def output_errors(f: torch.Tensor, y: torch.Tensor, targets: tuple[float, float]) -> torch.Tensor:
    """Distance of each activation from the right side of its target, [..., P, N] (>= 0)."""
    return torch.where(y != 0, (targets[1] - f).clamp_min(0.0), (f - targets[0]).clamp_min(0.0))


def patterns_pass(f: torch.Tensor, y: torch.Tensor, targets: tuple[float, float]) -> torch.Tensor:
    """[..., P]: every neuron strictly beyond its target."""
    ok = torch.where(y != 0, f > targets[1], f < targets[0])
    return ok.all(dim=-1)


def manhattan_pulses(v: torch.Tensor, y: torch.Tensor, f: torch.Tensor, beta: float,
                     targets: tuple[float, float]) -> torch.Tensor:
    """SET-pulse mask [B, R, 2N]: G⁺ where sgn Σ_n δ_i V_j > 0, G⁻ where < 0."""
    delta = (target_values(y, targets) - f) * beta * (1.0 - f * f)
    dw = torch.sign((delta[:, :, None, :] * v[None, :, :, None]).sum(dim=1))
    return torch.stack([dw > 0, dw < 0], dim=-1).flatten(-2)


@dataclass
class History:
    """Training record, batched over runs (index b). Epoch e = 1..n reads; n = max reads.

    ``g`` [n+1, B, R, Cp]: logic conductances (S) after e updates (g[0] initial, g[e−1] is what
    epoch e read); ``state`` likewise (device state: pulse count, x, or G in µS);
    ``activations`` [n, B, P, N] and ``error`` [n, B] of epoch e at index e−1; ``pulses``
    [n, B, R, Cp] applied after epoch e; ``converged_epoch`` [B] (0 = did not converge);
    ``epoch_s`` wall time of each epoch (s). After a run converges its entries stay frozen.
    """

    g: np.ndarray
    state: np.ndarray
    activations: np.ndarray
    error: np.ndarray
    pulses: np.ndarray
    converged_epoch: np.ndarray
    epoch_s: list[float]

    @property
    def converged(self) -> np.ndarray:
        return self.converged_epoch > 0

    @staticmethod
    def concat(parts: list[History]) -> History:
        """Histories of separately trained runs as one batch (shorter ones padded, frozen)."""
        n = max(p.error.shape[0] for p in parts)

        def pad(arr: np.ndarray, length: int) -> np.ndarray:
            extra = np.repeat(arr[-1:], length - arr.shape[0], axis=0)
            return np.concatenate([arr, extra]) if extra.size else arr

        def cat(name: str, length: int) -> np.ndarray:
            return np.concatenate([pad(getattr(p, name), length) for p in parts], axis=1)

        pulses = np.concatenate([np.concatenate([p.pulses, np.zeros((n - p.pulses.shape[0], *p.pulses.shape[1:]), bool)])
                                 for p in parts], axis=1)
        times = [t for p in parts for t in p.epoch_s]
        return History(cat("g", n + 1), cat("state", n + 1), cat("activations", n), cat("error", n), pulses,
                       np.concatenate([p.converged_epoch for p in parts]), times)

    def run(self, b: int) -> History:
        """The record of run ``b`` cut at its last epoch (batch axis kept, length 1)."""
        n = int(self.converged_epoch[b]) or self.error.shape[0]
        return History(self.g[: n + 1, b : b + 1], self.state[: n + 1, b : b + 1],
                       self.activations[:n, b : b + 1], self.error[:n, b : b + 1],
                       self.pulses[:n, b : b + 1], self.converged_epoch[b : b + 1], self.epoch_s[:n])


def _freeze(arr: np.ndarray, converged_epoch: np.ndarray, offset: int) -> np.ndarray:
    """Repeat each converged run's entry at its final epoch over the epochs after it."""
    for b, c in enumerate(converged_epoch):
        if c > 0:
            arr[c + offset :, b] = arr[c + offset - 1, b]
    return arr


def train(crossbar, v: torch.Tensor, y: torch.Tensor, beta: float, targets: tuple[float, float],
          epochs: int) -> History:
    """Manhattan-rule training of ``crossbar`` (batched) on read voltages ``v`` [P, R]."""
    batch = crossbar.g().shape[0]
    converged = torch.zeros(batch, dtype=torch.long)
    g, state, acts, errs, pulses, times = [crossbar.g().clone()], [crossbar.state().clone()], [], [], [], []
    for epoch in range(1, epochs):
        start = time.perf_counter()
        f = torch.tanh(beta * logic_currents(crossbar.read(v)))
        acts.append(f)
        errs.append(output_errors(f, y, targets).sum(dim=(-2, -1)))
        active = converged == 0
        converged[active & patterns_pass(f, y, targets).all(dim=-1)] = epoch
        mask = manhattan_pulses(v, y, f, beta, targets) & (converged == 0)[:, None, None]
        if bool((converged == 0).any()):
            crossbar.program(mask)
        pulses.append(mask)
        g.append(crossbar.g().clone())
        state.append(crossbar.state().clone())
        times.append(time.perf_counter() - start)
        if bool((converged > 0).all()):
            break
    c = converged.numpy()

    def stack(items, offset):
        return _freeze(torch.stack(items).numpy().copy(), c, offset)

    pulse_arr = torch.stack(pulses).numpy().copy()
    for b, e in enumerate(c):
        if e > 0:
            pulse_arr[e - 1 :, b] = False
    return History(stack(g, 0), stack(state, 0), stack(acts, 0), stack(errs, 0), pulse_arr, c, times)


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
            "so they do not program the devices"
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


# --- the estimator ---------------------------------------------------------------------------


class CrossbarPerceptron:
    """A single-layer crossbar perceptron trained in situ with the Manhattan rule.

    ``device``: ``"seed"`` (the seed-shaped curve), ``"mss"``, ``"pcm"``, a path to a two-column
    file, or a :class:`DeviceCurve`. ``backend``: ``"curve"`` (G from the device curve, the
    seed's model), ``"twin"`` (PCM: one stochastic PCM twin per device; MSS: the crossbar
    circuit on the MSS twin) or ``"spice"`` (MSS: the crossbar circuit in ngspice).
    ``k`` / ``shift``: ``None`` carries the seed task's K = 10 and Exponential(1/55845 S) shifts
    to this curve (:func:`scale_to_curve`; the seed-shaped curve gets them unchanged). ``runs`` > 1 trains that many independent arrays at once
    (batched; not with ``spice``). After :meth:`fit`: ``history_``, ``converged_``,
    ``converged_epoch_`` (0 when not converged), ``shifts_`` [runs, R, Cp] (S).
    """

    def __init__(self, device: str | Path | DeviceCurve = "seed", *, beta: float = 20000.0,
                 targets: tuple[float, float] = (-0.8, 0.8), k: float | None = None,
                 shift: ShiftDistribution | None = None, epochs: int = 48, seed: int = 0, backend: str = "curve", deterministic: bool = False,
                 pulses: MSSPulses | None = None, mss_params: MSSParams | None = None,
                 allow_unvalidated: bool = False, runs: int = 1):
        self.beta, self.targets = check_hyperparameters(beta, targets, k, epochs)
        self.backend = require_choice(_OWNER, "backend", backend, BACKENDS)
        self.device, self.epochs, self.seed = device, int(epochs), int(seed)
        self.deterministic, self.allow_unvalidated = bool(deterministic), bool(allow_unvalidated)
        self.pulses = MSSPulses() if pulses is None else pulses
        self.mss_params = MSSParams() if mss_params is None else mss_params
        self.runs = int(runs)
        if self.runs < 1:
            raise ValueError(f"{_OWNER}.runs = {runs!r}: must be >= 1")
        if self.backend != "curve" and device not in ("mss", "pcm"):
            raise ValueError(f"{_OWNER}: backend {backend!r} simulates device physics: device must be 'mss' or 'pcm', got {device!r}")
        if self.backend == "spice" and device != "mss":
            raise ValueError(f"{_OWNER}: backend 'spice' runs the MSS crossbar circuit: device must be 'mss', got {device!r}")
        self.curve = get_curve(device, self.pulses, self.allow_unvalidated)
        auto_k, auto_scale = scale_to_curve(SEED_K, SEED_SHIFT_SCALE, self.curve)
        self.k = auto_k if k is None else float(k)
        self.shift = ShiftDistribution("exponential", auto_scale) if shift is None else shift

    # -- building ------------------------------------------------------------------------

    def _crossbar(self, shifts: torch.Tensor, generator: torch.Generator):
        shape = tuple(shifts.shape)
        if self.backend == "curve":
            return FormulaCrossbar(CurveDevices(self.curve, shape), shifts, self.k)
        if self.device == "pcm":
            return FormulaCrossbar(PCMDevices(shape, deterministic=self.deterministic, generator=generator), shifts, self.k)
        from .manhattan_spice import MSSCircuitCrossbar

        return MSSCircuitCrossbar(shifts, self.k, self.mss_params, self.pulses, backend=self.backend,
                                  stochastic=not self.deterministic and self.backend == "twin",
                                  generator=generator, allow_unvalidated=self.allow_unvalidated)

    @property
    def device_name(self) -> str:
        return self.curve.name if isinstance(self.device, DeviceCurve) else str(self.device)

    @property
    def v_read_max(self) -> float:
        return min(self.mss_params.v_on, self.mss_params.v_off) if self.device == "mss" else self.curve.v_read_max

    # -- scikit-learn-like API -----------------------------------------------------------

    def fit(self, X, y, shifts=None) -> CrossbarPerceptron:
        """Train on read voltages ``X`` [P, inputs] (V) and labels ``y`` [P, neurons] (0/1).

        ``shifts`` (S; [inputs, 2·neurons] or [runs, inputs, 2·neurons]) replays given
        device-to-device shifts instead of drawing them.
        """
        v, yt = check_patterns(X, y, self.v_read_max, self.device_name)
        shape = (v.shape[1], 2 * yt.shape[1])
        gen = torch.Generator().manual_seed(self.seed)
        s = self.shift.sample(self.runs, shape, gen) if shifts is None else check_shifts(shifts, shape)
        self.shifts_ = s.numpy()
        # ngspice simulates one array per netlist: the spice backend trains the runs in turn
        groups = [s[b : b + 1] for b in range(s.shape[0])] if self.backend == "spice" else [s]
        parts = []
        for group in groups:
            self.crossbar_ = self._crossbar(group, gen)
            parts.append(train(self.crossbar_, v, yt, self.beta, self.targets, self.epochs))
        self.history_ = parts[0] if len(parts) == 1 else History.concat(parts)
        self.converged_epoch_ = self.history_.converged_epoch
        self.converged_ = self.history_.converged
        self.n_inputs_, self.n_neurons_ = shape[0], yt.shape[1]
        return self

    def _fitted(self) -> None:
        if not hasattr(self, "history_"):
            raise ValueError(f"{_OWNER}: call fit(X, y) before predict(X)")

    def logic_weights(self) -> np.ndarray:
        """Final G⁺ − G⁻ per run [runs, inputs, neurons] (S)."""
        self._fitted()
        g = self.history_.g[-1]
        return g[..., 0::2] - g[..., 1::2]

    def activations(self, X) -> np.ndarray:
        """f = tanh(β·Σ_j W_ij V_j) with the final conductances, [runs, P, neurons].

        (choice) Computed from the trained conductances (a non-disturbing ideal read: for the
        MSS at |V| < v_on the device current is exactly V·G(x)), without read noise.
        """
        self._fitted()
        xv = np.asarray(X, dtype=float)
        if xv.ndim != 2 or xv.shape[1] != self.n_inputs_:
            raise ValueError(f"{_OWNER}: X must be [patterns, {self.n_inputs_}] read voltages (V), got shape {xv.shape}")
        check_read_voltages(xv, self.v_read_max, self.device_name)
        return np.tanh(self.beta * np.einsum("pr,brn->bpn", xv, self.logic_weights()))

    def predict(self, X) -> np.ndarray:
        """Labels (0/1) [P, neurons] of run 0: 1 where f lies above the middle of the targets."""
        return (self.activations(X)[0] > 0.5 * sum(self.targets)).astype(int)


# --- statistics ------------------------------------------------------------------------------


def summarize(model: CrossbarPerceptron, wall_s: float) -> dict:
    """Convergence statistics of a fitted (batched) model, JSON-ready."""
    epochs = model.converged_epoch_
    done = epochs[epochs > 0]
    runs = int(epochs.size)
    reads = len(model.history_.epoch_s)
    return {
        "runs": runs,
        "converged_runs": int(done.size),
        "convergence_rate": float(done.size / runs),
        "median_epochs": float(np.median(done)) if done.size else None,
        "mean_epochs": float(done.mean()) if done.size else None,
        "epochs_quartiles": [float(q) for q in np.percentile(done, [25, 50, 75])] if done.size else None,
        "epochs": epochs.astype(int).tolist(),
        "max_epochs": model.epochs,
        "backend": model.backend,
        "device": model.device_name,
        "curve": {"source": model.curve.source, "points": int(model.curve.g.size),
                  "g0_S": float(model.curve.g[0]), "g_last_S": float(model.curve.g[-1]),
                  "range_S": model.curve.range, "v_read_max_V": model.v_read_max},
        "beta_per_A": model.beta,
        "k": model.k,
        "shift": {"kind": model.shift.kind, "scale_S": model.shift.scale},
        "targets": list(model.targets),
        "seed": model.seed,
        "wall_s": wall_s,
        "epochs_run": reads,
        "wall_s_per_epoch": float(np.mean(model.history_.epoch_s)) if reads else None,
    }
