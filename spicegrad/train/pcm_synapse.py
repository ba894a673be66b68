r"""PCM synapse crossbars for e-prop: differential pairs of validated ``PCMArray`` cells.

A synapse (row r, column c) holds ``n_per_side`` PCM devices on its positive side G⁺ and as many
on its negative side G⁻ (array shape [2, N, rows, cols]; side 0 = G⁺). Its weight is

    w = (mean_N G⁺_read − mean_N G⁻_read) / xbar_scale          (µS per weight unit)

Devices are programmed only by partial-SET pulses (conductance only grows) and by RESET: a
pulse on G⁺ raises w, a pulse on G⁻ lowers it. Every forward read is a device READ at its own
device time t (drift from the device's last programming time, fresh i.i.d. read noise), so a
sequence of T steps of dt presented from t_s reads at t_s + k·dt. Training writes once per
sequence at a fixed period (38.6 s, the seed's T0), after the sequence's reads.

Update rules (seed 000, ``xbar.py``/``srnn.py``; ΔG = −lr·grad·xbar_scale is the wanted change
of the synapse's differential conductance in µS, positive -> pulses on G⁺, negative -> on G⁻):

* ``sign``: one pulse where |grad| > grad_thr (the band |grad| ≤ grad_thr stops learning).
* ``stochastic``: one pulse with probability min(1, |ΔG|/prob_scale).
* ``multi-mem``: trunc(|ΔG|/(ε/N)) pulses — each pulse moves the synapse's mean by ≈ ε/N.
* ``mixed-precision``: a digital accumulator χ (µS) per synapse collects ΔG; the update applies
  p = sign(χ)·floor(|χ|/(ε/N)) pulses (explicit floor division of the magnitude, i.e. truncation
  toward zero) and keeps the remainder χ − p·ε/N (Nandakumar et al. 2020 mixed precision).

ε is the device's nominal step: 0.75 µS for PCM (seed), G_max/2^res in perf mode.

Pulses go round-robin over a side's N devices (a pointer per synapse side), for every rule.
Refresh: after each update, a synapse with max(mean G⁺, mean G⁻) > refresh_frac·G_max whose
|mean G⁺ − mean G⁻| < refresh_frac·G_max/2 has all 2N devices RESET at the update time and its
difference re-programmed on one side with the number of pulses whose mean-field conductance
from RESET is nearest to it. Perf mode (``perf=True``): ideal devices — a SET adds exactly
G_max/2^res (clipped), a RESET returns exactly G0, reads are G with no drift and no noise.

Seed defects (DEVICE-MODELS.md §3) and other choices:

* (fix) One convention for N > 1: the forward weight and the update both use the *mean* of a
  side's N devices (the seed's forward summed them while updates targeted the mean). The
  weight range is then ±(G_max − G_min)/xbar_scale for every N, and N only refines the step.
* (fix) Refresh RESETs at the update time through ``PCMArray.reset(mask, t)`` (the seed's
  multi-memristor refresh called ``reset()`` without time and crashed; its other refreshes ran
  only in two hard-coded windows of device time). Here refresh runs for every PCM rule after
  every update unless disabled (``refresh_frac=None``).
* (fix) Reads at t = t_p are finite and reads within t0 = 38.6 s of programming return G
  itself: ``PCMArray``'s drift floor (see ``spicegrad.devices.pcm``). The seed read 0-1 s after
  each write with the literal power law, 16-57 % high. A read time before the crossbar's last
  programming event is refused (ValueError): device time only moves forward.
* (fix) The mixed-precision accumulator uses ``torch.div(|χ|, ε, rounding_mode="floor")``; the
  seed's ``floor_divide`` relied on its old truncating semantics (floor today would pulse on
  every small negative χ). The seed's second quantisation (0.125 weight units before the
  0.75 µS one, which discarded sub-pulse remainders) is not kept: one accumulator, one step.
* (choice) Sign updates pulse one device (round-robin) rather than all N of a side at once.
* (choice) Initial state: every device freshly RESET at t = 0 (G0 = 0.1 µS ± 10 %), as the
  seed's ``XBar(G0=w_init_gain=0.1)``; ``w_init_gain`` does not change the PCM preset (the
  preset is what validation certified).
* (choice) Self-connections: synapses masked by ``frozen`` (the recurrent diagonal) read as 0
  and are never programmed (the seed RESET the diagonal before every sequence).
* (choice) Stochastic probabilities are capped at 1 (one pulse per update at most, as the seed).
"""

from __future__ import annotations

import dataclasses
import math
import os
import warnings

import torch

from .._checks import require_positive, require_range
from ..devices.pcm import PCMArray, PCMParams, pcm_clip, pcm_read, pcm_set

_OWNER = "PCMCrossbar"
PCM_STEP_US = 0.75  # seed's estimated minimum achievable conductance jump (µS)
METHODS = ("vanilla", "sign", "stochastic", "multi-mem", "mixed-precision")
PCM_METHODS = METHODS[1:]
READ_CHUNK_ELEMENTS = 1 << 25  # elements per vectorised read chunk (memory bound)


def _read_weights_eager(g_us, t_p_rel, t, xi, params: PCMParams, keep: torch.Tensor) -> torch.Tensor:
    """keep·(mean_N G⁺_r − mean_N G⁻_r) at times t [T] for devices [2, N, R, C] -> [T, R, C]
    (``keep`` = 1/xbar_scale on live synapses, 0 on frozen ones)."""
    g = pcm_read(g_us, t_p_rel, t.view(-1, 1, 1, 1, 1), xi, params).mean(dim=2)
    return (g[:, 0] - g[:, 1]) * keep


_READER = {"fn": None}


def _read_weights(*args) -> torch.Tensor:
    """The read kernel, fused by ``torch.compile`` (≈8x faster on CPU) unless it is unavailable
    or ``SPICEGRAD_NO_COMPILE`` is set; then the eager function (identical arithmetic)."""
    if _READER["fn"] is None:
        _READER["fn"] = _read_weights_eager
        if not os.environ.get("SPICEGRAD_NO_COMPILE"):
            try:
                compiled = torch.compile(_read_weights_eager, dynamic=False)
                compiled(*args)
                _READER["fn"] = compiled
            except Exception as exc:  # no C++ toolchain, unsupported device, ...
                warnings.warn(f"torch.compile unavailable for PCM reads ({exc}); running eagerly",
                              RuntimeWarning, stacklevel=2)
    return _READER["fn"](*args)


class IdealPCM:
    """Perf-mode device array: SET adds exactly ``step_us``; RESET returns G0; no noise, no drift.

    Same interface as :class:`PCMArray` (write/reset/state/load_state, g_us/n/t_p).
    """

    def __init__(self, params: PCMParams, shape, step_us: float, dtype=torch.float32, device=None):
        self.params, self.shape, self.step_us = params, torch.Size(shape), step_us
        self.dtype, self.device = dtype, torch.device("cpu") if device is None else torch.device(device)
        self.g_us = torch.full(self.shape, params.g0_us, dtype=dtype, device=self.device)
        self.n = torch.zeros(self.shape, dtype=torch.float64, device=self.device)
        self.t_p = torch.zeros_like(self.n)

    def write(self, mask, t, xi=None) -> None:
        self.g_us = torch.where(mask, pcm_clip(self.g_us + self.step_us, self.params), self.g_us)
        self.n = torch.where(mask, self.n + 1, self.n)
        self.t_p = torch.where(mask, torch.tensor(float(t), dtype=torch.float64, device=self.device), self.t_p)

    def reset(self, mask, t, xi=None) -> None:
        self.g_us = torch.where(mask, torch.full_like(self.g_us, self.params.g0_us), self.g_us)
        self.n = torch.where(mask, torch.zeros_like(self.n), self.n)
        self.t_p = torch.where(mask, torch.tensor(float(t), dtype=torch.float64, device=self.device), self.t_p)

    def state(self) -> dict[str, torch.Tensor]:
        return {"g_us": self.g_us.clone(), "n": self.n.clone(), "t_p": self.t_p.clone()}

    def load_state(self, state: dict[str, torch.Tensor]) -> None:
        self.g_us = state["g_us"].to(self.device, self.dtype).clone()
        self.n = state["n"].to(self.device, torch.float64).clone()
        self.t_p = state["t_p"].to(self.device, torch.float64).clone()


def round_robin_counts(pulses: torch.Tensor, pointer: torch.Tensor, n: int) -> torch.Tensor:
    """Spread ``pulses`` [2, R, C] (≥ 0) over N devices starting at ``pointer`` [2, R, C]:
    device j gets the pulses k < P with (pointer + k) mod N = j. Returns [2, N, R, C]."""
    j = torch.arange(n, device=pulses.device).view(1, n, 1, 1)
    d = (j - pointer[:, None]) % n
    p = pulses[:, None]
    return torch.where(p > d, 1 + torch.div(p - 1 - d, n, rounding_mode="floor"), torch.zeros_like(p))


class PCMCrossbar:
    """A [rows, cols] weight matrix on differential PCM pairs, ``n_per_side`` devices per side."""

    def __init__(self, rows: int, cols: int, params: PCMParams | None = None, n_per_side: int = 1,
                 xbar_scale: float = 1.0, perf: bool = False, res_bits: int = 3,
                 refresh_frac: float | None = 0.75, frozen: torch.Tensor | None = None,
                 generator: torch.Generator | None = None, device=None,
                 dtype: torch.dtype = torch.float32) -> None:
        if not isinstance(n_per_side, int) or isinstance(n_per_side, bool) or n_per_side < 1:
            raise ValueError(f"{_OWNER}.n_per_side (xbar_n) = {n_per_side!r}: must be an integer >= 1")
        if not isinstance(res_bits, int) or isinstance(res_bits, bool) or not 1 <= res_bits <= 24:
            raise ValueError(f"{_OWNER}.res_bits (xbar_res) = {res_bits!r}: must be an integer in [1, 24]")
        require_positive(_OWNER, "xbar_scale", xbar_scale)
        if refresh_frac is not None:
            require_range(_OWNER, "refresh_frac", refresh_frac, 0.0, 1.0, lo_open=True)
        self.params = PCMParams() if params is None else params
        self.rows, self.cols, self.n = rows, cols, n_per_side
        self.xbar_scale, self.perf, self.res_bits = float(xbar_scale), bool(perf), res_bits
        self.refresh_frac = refresh_frac
        self.device = torch.device("cpu") if device is None else torch.device(device)
        self.dtype = dtype
        self.generator = generator
        shape = (2, n_per_side, rows, cols)
        if self.perf:
            self.step_us = self.params.g_max_us / 2 ** res_bits
            self.devices = IdealPCM(self.params, shape, self.step_us, dtype, self.device)
        else:
            self.step_us = PCM_STEP_US
            self.devices = PCMArray(self.params, shape, generator=generator, dtype=dtype, device=self.device)
        self.pointer = torch.zeros(2, rows, cols, dtype=torch.long, device=self.device)
        self.frozen = (torch.zeros(rows, cols, dtype=torch.bool, device=self.device) if frozen is None
                       else frozen.to(self.device, torch.bool))
        self.set_pulses = 0
        self.reset_pulses = 0
        self.last_event_t = 0.0
        self._curve = self._mean_field_curve()

    # -- reading ----------------------------------------------------------------------------

    def pair_us(self) -> torch.Tensor:
        """Programmed mean conductance per side (no drift, no noise), [2, rows, cols] µS: the
        controller's estimate of the state (the seed's "perfect estimation")."""
        return self.devices.g_us.mean(dim=1)

    def ideal_weight(self) -> torch.Tensor:
        """Weight from the programmed conductances (no drift, no read noise)."""
        pair = self.pair_us()
        return ((pair[0] - pair[1]) / self.xbar_scale).masked_fill(self.frozen, 0.0)

    def _check_times(self, times: torch.Tensor) -> None:
        first = float(times.min())
        if first < self.last_event_t:
            raise ValueError(f"{_OWNER}: read at t = {first:g} s is before the last programming event at "
                             f"t = {self.last_event_t:g} s; device time must not run backwards")

    def read_weights(self, times: torch.Tensor) -> torch.Tensor:
        """Weights read at each of ``times`` (s, [T]) -> [T, rows, cols]: per read, drift from
        each device's t_p and a fresh read-noise sample (perf mode: the ideal weight)."""
        times = torch.as_tensor(times, dtype=torch.float64, device=self.device)
        self._check_times(times)
        if self.perf:
            return self.ideal_weight().expand(times.shape[0], -1, -1)
        t_ref = float(times[0])
        # times relative to the first read keep float32 exact to < 1 ms over 10^4 s of training
        t_p_rel = (self.devices.t_p - t_ref).to(self.dtype)
        offsets = (times - t_ref).to(self.dtype)
        steps = offsets.shape[0]
        per_step = 2 * self.n * self.rows * self.cols
        pieces = math.ceil(steps * per_step / READ_CHUNK_ELEMENTS)
        chunk = math.ceil(steps / pieces)  # equal chunks: one compiled shape per layer
        keep = (~self.frozen).to(self.dtype) / self.xbar_scale
        out = []
        for start in range(0, steps, chunk):
            t = offsets[start:start + chunk]
            xi = torch.randn((t.shape[0], *self.devices.shape), generator=self.generator,
                             dtype=self.dtype, device=self.device)
            out.append(_read_weights(self.devices.g_us, t_p_rel, t, xi, self.params, keep))
        return out[0] if len(out) == 1 else torch.cat(out)

    def read_currents(self, x: torch.Tensor, times: torch.Tensor) -> torch.Tensor:
        """Σ_c W[t][:, c]·x[b, t, c] for x [B, T, cols] -> [B, T, rows], each W[t] a READ at
        times[t] — reading only the columns driven at t (a column with no input voltage is not
        read, as in the array): the same distribution as :meth:`read_weights`, ~1/sparsity
        cheaper for spike inputs."""
        times = torch.as_tensor(times, dtype=torch.float64, device=self.device)
        self._check_times(times)
        if self.perf:
            return x @ self.ideal_weight().t()
        active = x.ne(0).any(dim=0).nonzero()
        t_idx, col = active[:, 0], active[:, 1]
        t_ref = float(times[0])
        t_p = (self.devices.t_p[..., col] - t_ref).to(self.dtype)
        g = self.devices.g_us[..., col]
        xi = torch.randn(g.shape, generator=self.generator, dtype=self.dtype, device=self.device)
        g_r = pcm_read(g, t_p, (times[t_idx] - t_ref).to(self.dtype), xi, self.params).mean(dim=1)
        w = ((g_r[0] - g_r[1]) * (~self.frozen[:, col]).to(self.dtype) / self.xbar_scale).t()
        contrib = x[:, t_idx, col][:, :, None] * w[None]
        out = torch.zeros(x.shape[0], x.shape[1], self.rows, dtype=x.dtype, device=x.device)
        return out.index_add_(1, t_idx, contrib)

    # -- programming ------------------------------------------------------------------------

    def _advance(self, t: float) -> None:
        if t < self.last_event_t:
            raise ValueError(f"{_OWNER}: programming at t = {t:g} s is before the last event at "
                             f"t = {self.last_event_t:g} s")
        self.last_event_t = float(t)

    def _pulse_devices(self, counts: torch.Tensor, t: float) -> None:
        """Apply counts [2, N, R, C] SET pulses at time t (each pulse one masked write)."""
        counts = counts.masked_fill(self.frozen, 0)
        for k in range(int(counts.max()) if counts.numel() else 0):
            self.devices.write(counts > k, t)
        self.set_pulses += int(counts.sum())

    def apply_pulses(self, pulses: torch.Tensor, t: float) -> None:
        """``pulses`` [2, R, C] (≥ 0) SET pulses per synapse side, round-robin over its devices."""
        self._advance(t)
        pulses = pulses.to(torch.long).clamp(min=0).masked_fill(self.frozen, 0)
        self._pulse_devices(round_robin_counts(pulses, self.pointer, self.n), t)
        self.pointer = (self.pointer + pulses) % self.n

    def _mean_field_curve(self, max_pulses: int = 400) -> torch.Tensor:
        """Mean-field G (µS) after k = 0..K pulses from RESET (ideal: G0 + k·step)."""
        p = self.params
        if self.perf:
            k = torch.arange(max_pulses + 1, dtype=torch.float64)
            return (p.g0_us + k * self.step_us).clamp(p.g_min_us, p.g_max_us)
        g = torch.tensor(p.g0_us, dtype=torch.float64)
        curve = [g]
        for k in range(1, max_pulses + 1):
            g = pcm_set(g, torch.tensor(float(k), dtype=torch.float64), torch.zeros((), dtype=torch.float64), p)
            curve.append(g)
        return torch.stack(curve)

    def pulses_for(self, target_us: torch.Tensor) -> torch.Tensor:
        """Pulses from RESET whose mean-field conductance is nearest to ``target_us``."""
        curve = self._curve.to(self.device, self.dtype)
        return (curve.view(-1, *[1] * target_us.dim()) - target_us).abs().argmin(dim=0)

    def refresh(self, t: float) -> torch.Tensor:
        """RESET and re-program the synapses that near saturation; returns their mask [R, C]."""
        if self.refresh_frac is None:
            return torch.zeros(self.rows, self.cols, dtype=torch.bool, device=self.device)
        self._advance(t)
        pair = self.pair_us()
        level = self.refresh_frac * self.params.g_max_us
        diff = pair[0] - pair[1]
        mask = (pair.amax(dim=0) > level) & (diff.abs() < level / 2) & ~self.frozen
        if bool(mask.any()):
            self.devices.reset(mask.expand(2, self.n, -1, -1), t)
            self.reset_pulses += int(mask.sum()) * 2 * self.n
            k = self.pulses_for(diff.abs()) * mask
            side = torch.stack([(diff > 0) & mask, (diff <= 0) & mask])
            counts = (k * side)[:, None].expand(-1, self.n, -1, -1)
            self._pulse_devices(counts, t)
        return mask

    # -- checkpoints ------------------------------------------------------------------------

    def state_dict(self) -> dict:
        return {"devices": self.devices.state(), "pointer": self.pointer.clone(),
                "set_pulses": self.set_pulses, "reset_pulses": self.reset_pulses,
                "last_event_t": self.last_event_t}

    def load_state_dict(self, state: dict) -> None:
        self.devices.load_state({k: v.to(self.device) for k, v in state["devices"].items()})
        self.pointer = state["pointer"].to(self.device)
        self.set_pulses, self.reset_pulses = int(state["set_pulses"]), int(state["reset_pulses"])
        self.last_event_t = float(state["last_event_t"])


# --- update rules --------------------------------------------------------------------------


def _split(delta_us: torch.Tensor, magnitude: torch.Tensor) -> torch.Tensor:
    """[2, R, C] pulse counts: ``magnitude`` on G⁺ where delta > 0, on G⁻ where delta < 0."""
    return torch.stack([magnitude * (delta_us > 0), magnitude * (delta_us < 0)]).to(torch.long)


@dataclasses.dataclass
class SignRule:
    """One pulse on the side of −sign(grad) where |grad| > grad_thr."""

    grad_thr: float = 0.0

    def pulses(self, xbar: PCMCrossbar, grad: torch.Tensor, lr: float) -> torch.Tensor:
        delta = -grad * (grad.abs() > self.grad_thr)
        return _split(delta, torch.ones_like(grad))


@dataclasses.dataclass
class StochasticRule:
    """One pulse with probability min(1, |ΔG|/prob_scale), ΔG = −lr·grad·xbar_scale (µS)."""

    prob_scale: float = 1.0
    generator: torch.Generator | None = None

    def pulses(self, xbar: PCMCrossbar, grad: torch.Tensor, lr: float) -> torch.Tensor:
        delta = -lr * grad * xbar.xbar_scale
        prob = (delta.abs() / self.prob_scale).clamp(max=1.0)
        draw = torch.rand(grad.shape, generator=self.generator, dtype=grad.dtype, device=grad.device)
        return _split(delta, (draw < prob).to(grad.dtype))


@dataclasses.dataclass
class MultiMemRule:
    """trunc(|ΔG|/(ε/N)) pulses, round-robin over the side's N devices."""

    def pulses(self, xbar: PCMCrossbar, grad: torch.Tensor, lr: float) -> torch.Tensor:
        delta = -lr * grad * xbar.xbar_scale
        return _split(delta, torch.div(delta.abs(), xbar.step_us / xbar.n, rounding_mode="floor"))


@dataclasses.dataclass
class MixedPrecisionRule:
    """Digital accumulator χ (µS); pulses sign(χ)·floor(|χ|/(ε/N)); the remainder is kept."""

    accumulator: torch.Tensor | None = None

    def pulses(self, xbar: PCMCrossbar, grad: torch.Tensor, lr: float) -> torch.Tensor:
        if self.accumulator is None:
            self.accumulator = torch.zeros_like(grad)
        chi = self.accumulator - lr * grad * xbar.xbar_scale
        unit = xbar.step_us / xbar.n  # one pulse moves the side's mean by ε/N
        count = torch.div(chi.abs(), unit, rounding_mode="floor").masked_fill(xbar.frozen, 0.0)
        self.accumulator = chi - torch.sign(chi) * count * unit
        return _split(chi, count)


def make_rule(method: str, *, grad_thr: float = 0.0, prob_scale: float = 1.0,
              generator: torch.Generator | None = None):
    """The update rule for a PCM ``method`` (ValueError for an unknown one)."""
    if method == "sign":
        require_range("eprop", "grad_thr", grad_thr, 0.0, math.inf)
        return SignRule(grad_thr)
    if method == "stochastic":
        require_positive("eprop", "prob_scale", prob_scale)
        return StochasticRule(prob_scale, generator)
    if method == "multi-mem":
        return MultiMemRule()
    if method == "mixed-precision":
        return MixedPrecisionRule()
    raise ValueError(f"unknown PCM update method {method!r}: choose one of {', '.join(PCM_METHODS)}")
