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
device does not move). G(m) comes from a two-column file, from the validated twin of any
pulse-programmable registered cell (the MSS, another built-in cell, or a device a user
registered: one that declares step, switching and the conductance maps) driven by identical
pulses (:meth:`DeviceCurve.from_cell`), or from the PCM twin's mean-field cumulative SET
(:meth:`DeviceCurve.from_pcm`).

Device physics (``backend="twin"`` / ``"spice"``): with ``device="pcm"`` and the twin backend
each device is a :class:`~spicegrad.devices.PCMArray` cell, so every pulse draws its own
increment (cycle-to-cycle noise) and reads carry read noise; with a pulse-programmable registered
cell (``"mss"``, ...) the read pass and the programming pulses are transients of the crossbar
circuit of that cell, on its twin or in ngspice (:mod:`spicegrad.manhattan.circuit`), with the
pulse protocol of :func:`~spicegrad.manhattan.devices.cell_pulses` unless given (MSS: the
study's; another device: derived from its switching threshold and twin, over ``epochs`` − 1
pulses, the most one device can take in a run).

(choice) Carrying the task's hyperparameters to another curve: β, K and the shift spread of a
task are stated for the seed's curve, whose range G(M) − G(0) is 2.69e-4 S. With ``k=None`` /
``shift_scale=None`` (the default for device curves) :func:`scale_to_curve` uses
K = K_task·2.69e-4 S / range and shift scale = scale_task·range / 2.69e-4 S, so that K·range and
the shifts relative to the range are the seed's; the seed-shaped curve gets the task's values.

(choice) Reads must stay below the device's switching threshold: |V| < ``v_read_max`` of the
curve (a registered cell: :func:`~spicegrad.devices.pulses.read_limit`, min(|v_up|, |v_down|),
for the MSS min(v_on, v_off); PCM: 0.5 V, the low end of the threshold-switching voltage of a
RESET cell, which Nandakumar's pulse model does not contain; a file or the seed-shaped curve:
0.5 V unless given).

(choice) Read scaling: a task's read voltages (±0.1 V) may exceed a device's read limit (VTEAM's
v_off is 20 mV). ``read_scale`` r multiplies every read voltage and divides the read-out gain K,
so that for a device linear in V the logic currents K·Σ G·V, and so training, are unchanged:
1 (the default of the class: reads as given, refused above the limit) or ``"auto"`` (the
command line's default): r = 1 when max|V| is below v_read_max, else
READ_MARGIN·v_read_max/max|V| with READ_MARGIN = 0.5 (for the MSS, PCM and the curves r = 1 on
both tasks). ``read_scale_`` and ``read_gain`` = K/r record what was used.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .._checks import require_choice, require_range
from ..devices.pulses import read_limit
from .circuit import CellCircuitCrossbar
from .devices import (
    _OWNER,
    CellPulses,
    CurveDevices,
    DeviceCurve,
    FormulaCrossbar,
    PCMDevices,
    ShiftDistribution,
    cell_pulses,
    check_hyperparameters,
    check_patterns,
    check_read_voltages,
    check_shifts,
    get_curve,
    scale_to_curve,
)
from .tasks import SEED_K, SEED_SHIFT_SCALE

BACKENDS = ("curve", "twin", "spice")
#: reads scaled to fit a device's read limit peak at this fraction of it (choice; module docstring)
READ_MARGIN = 0.5


# --- the Manhattan rule (pure functions) -----------------------------------------------------


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


# --- the estimator ---------------------------------------------------------------------------


class CrossbarPerceptron:
    """A single-layer crossbar perceptron trained in situ with the Manhattan rule.

    ``device``: ``"seed"`` (the seed-shaped curve), a pulse-programmable registered cell (``"mss"``
    or any cell that declares step, switching and the conductance maps), ``"pcm"``, a path to a
    two-column file, or a :class:`DeviceCurve`. ``backend``: ``"curve"`` (G from the device curve,
    the seed's model), ``"twin"`` (PCM: one stochastic PCM twin per device; a registered cell: its
    crossbar circuit on its twin) or ``"spice"`` (a registered cell: its crossbar circuit in
    ngspice). ``pulses``: the cell's :class:`CellPulses` (default
    :func:`~spicegrad.manhattan.devices.cell_pulses`); ``params``: its Params record (default the
    kind's defaults; ``mss_params`` is the former name). ``k`` / ``shift``: ``None`` carries the
    seed task's K = 10 and Exponential(1/55845 S) shifts to this curve (:func:`scale_to_curve`;
    the seed-shaped curve gets them unchanged). ``runs`` > 1 trains that many independent arrays
    at once (batched; not with ``spice``). After :meth:`fit`: ``history_``, ``converged_``,
    ``converged_epoch_`` (0 when not converged), ``shifts_`` [runs, R, Cp] (S).
    """

    def __init__(self, device: str | Path | DeviceCurve = "seed", *, beta: float = 20000.0,
                 targets: tuple[float, float] = (-0.8, 0.8), k: float | None = None,
                 shift: ShiftDistribution | None = None, epochs: int = 48, seed: int = 0, backend: str = "curve", deterministic: bool = False,
                 pulses: CellPulses | None = None, params=None, mss_params=None,
                 allow_unvalidated: bool = False, runs: int = 1, read_scale: float | str = 1.0):
        from ..devices import registry

        self.read_scale = read_scale if read_scale == "auto" else require_range(
            _OWNER, "read_scale", read_scale, 0.0, 1.0, lo_open=True)

        self.beta, self.targets = check_hyperparameters(beta, targets, k, epochs)
        self.backend = require_choice(_OWNER, "backend", backend, BACKENDS)
        self.device, self.epochs, self.seed = device, int(epochs), int(seed)
        self.deterministic, self.allow_unvalidated = bool(deterministic), bool(allow_unvalidated)
        self.runs = int(runs)
        if self.runs < 1:
            raise ValueError(f"{_OWNER}.runs = {runs!r}: must be >= 1")
        cells = registry.pulsable()
        named = isinstance(device, str) and device not in ("seed", "pcm")
        if named and device in registry.names("cell") and device not in cells:
            from ..devices.pulses import check_pulsable

            check_pulsable(registry.get(device))  # says what the cell lacks
        self.kind = registry.get(device) if named and device in cells else None
        if self.backend != "curve" and self.kind is None and device != "pcm":
            allowed = " or ".join(repr(n) for n in registry.names("cell") if n in cells or n == "pcm")
            raise ValueError(f"{_OWNER}: backend {backend!r} simulates device physics: device must be {allowed}, "
                             f"got {device!r}")
        if self.backend == "spice" and self.kind is None:
            raise ValueError(f"{_OWNER}: backend 'spice' runs the crossbar circuit of a pulse-programmable cell: "
                             f"device must be {' or '.join(map(repr, cells))}, got {device!r}")
        if params is not None and mss_params is not None:
            raise ValueError(f"{_OWNER}: give params or its former name mss_params, not both")
        params = mss_params if params is None else params
        if self.kind is not None:
            self.params = self.kind.params() if params is None else params
            if not isinstance(self.params, self.kind.params):
                raise ValueError(f"{_OWNER}: params is a {type(self.params).__name__}; device {device!r} takes "
                                 f"{self.kind.params.__name__}")
            self.pulses = cell_pulses(self.kind, self.params, self.epochs - 1) if pulses is None else pulses
            if self.pulses.device != self.kind.name:
                raise ValueError(f"{_OWNER}: pulses are for device {self.pulses.device!r}, not {device!r}")
        else:
            self.params, self.pulses = params, pulses
        self.curve = get_curve(self.kind.name if self.kind else device, self.pulses, self.allow_unvalidated,
                               self.params)
        auto_k, auto_scale = scale_to_curve(SEED_K, SEED_SHIFT_SCALE, self.curve)
        self.k = auto_k if k is None else float(k)
        self.shift = ShiftDistribution("exponential", auto_scale) if shift is None else shift

    @property
    def mss_params(self):
        """The former name of :attr:`params`."""
        return self.params

    # -- building ------------------------------------------------------------------------

    def _crossbar(self, shifts: torch.Tensor, generator: torch.Generator):
        shape, k = tuple(shifts.shape), self.read_gain
        if self.backend == "curve":
            return FormulaCrossbar(CurveDevices(self.curve, shape), shifts, k)
        if self.device == "pcm":
            return FormulaCrossbar(PCMDevices(shape, deterministic=self.deterministic, generator=generator), shifts, k)
        return CellCircuitCrossbar(shifts, k, self.params, self.pulses, backend=self.backend,
                                   stochastic=not self.deterministic and self.backend == "twin",
                                   generator=generator, allow_unvalidated=self.allow_unvalidated, kind=self.kind)

    @property
    def device_name(self) -> str:
        return self.curve.name if isinstance(self.device, DeviceCurve) else str(self.device)

    @property
    def v_read_max(self) -> float:
        return read_limit(self.kind, self.params) if self.kind is not None else self.curve.v_read_max

    def _choose_read_scale(self, xv: np.ndarray) -> float:
        """``read_scale``, or for ``"auto"`` 1 when every |V| is below v_read_max, else
        READ_MARGIN·v_read_max/max|V| (see the module docstring)."""
        if self.read_scale != "auto":
            return self.read_scale
        peak = float(np.abs(xv).max()) if xv.size else 0.0
        return 1.0 if not np.isfinite(peak) or peak < self.v_read_max else READ_MARGIN * self.v_read_max / peak

    @property
    def read_gain(self) -> float:
        """The physical read-out gain K/r (1/r undoes the read scale r); K before :meth:`fit`."""
        return self.k / getattr(self, "read_scale_", 1.0)

    def read_voltages(self, X) -> np.ndarray:
        """The row voltages (V) a pattern set ``X`` is read with: X·r after :meth:`fit`."""
        return np.asarray(X, dtype=float) * getattr(self, "read_scale_", 1.0)

    # -- scikit-learn-like API -----------------------------------------------------------

    def fit(self, X, y, shifts=None) -> CrossbarPerceptron:
        """Train on read voltages ``X`` [P, inputs] (V) and labels ``y`` [P, neurons] (0/1).

        ``shifts`` (S; [inputs, 2·neurons] or [runs, inputs, 2·neurons]) replays given
        device-to-device shifts instead of drawing them.
        """
        self.read_scale_ = self._choose_read_scale(np.asarray(X, dtype=float))
        v, yt = check_patterns(self.read_voltages(X), y, self.v_read_max, self.device_name)
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
        MSS at |V| < v_on the device current is exactly V·G(x)), without read noise. For a cell
        whose I-V is not linear in V (a kind with ``current``) this is its small-signal read,
        G = dI/dV at 0 V; the training reads of the circuit backends use its own current.
        """
        self._fitted()
        xv = self.read_voltages(X)
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
        "pulses": None if model.kind is None else {
            "voltage_V": model.pulses.voltage(model.params), "width_s": model.pulses.width,
            "gap_s": model.pulses.gap, "read_time_s": model.pulses.read_time, "dt_s": model.pulses.dt,
            "integrator": model.pulses.integrator},
        "beta_per_A": model.beta,
        "k": model.k,
        "read_scale": model.read_scale_,
        "read_gain": model.read_gain,
        "shift": {"kind": model.shift.kind, "scale_S": model.shift.scale},
        "targets": list(model.targets),
        "seed": model.seed,
        "wall_s": wall_s,
        "epochs_run": reads,
        "wall_s_per_epoch": float(np.mean(model.history_.epoch_s)) if reads else None,
    }
