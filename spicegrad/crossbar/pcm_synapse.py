r"""PCM synapse crossbars for e-prop: differential pairs of validated ``PCMArray`` cells.

A synapse (row r, column c) holds ``n_per_side`` PCM devices on its positive side G⁺ and as many
on its negative side G⁻ (array shape [2, N, rows, cols]; side 0 = G⁺). Its weight is

    w = (mean_N G⁺_read − mean_N G⁻_read) / xbar_scale          (µS per weight unit)

Devices are programmed only by partial-SET pulses (conductance only grows) and by RESET: a
pulse on G⁺ raises w, a pulse on G⁻ lowers it. Every forward read is a device READ at its own
device time t (drift from the device's last programming time, fresh i.i.d. read noise), so a
sequence of T steps of dt presented from t_s reads at t_s + k·dt. Training writes once per
sequence at a fixed period (38.6 s, the seed's T0), after the sequence's reads.

Reads cost what the array would spend: at step k only the columns driven at k are read (their
2·N·rows devices, each at t_s + k·dt with its own drift and a fresh noise sample). An undriven
column adds nothing to any current, so skipping its read changes no current and no
distribution. Inputs and the readout's spikes are known for the whole sequence, so their reads
are one vectorised call (:meth:`PCMCrossbar.read_currents`); the recurrent layer's inputs are
the spikes of the step, so :class:`SequenceReader` reads their columns step by step. Spikes
are sparse (≈ 1-10 % of columns per step), which makes a PCM epoch cost about what an fp32
one does; :meth:`PCMCrossbar.read_weights` is the dense read (every device, every step).

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
G_max/2^res (clipped), a RESET returns exactly G0, reads are G with no drift and no noise; the
array starts from the same spread RESET as the PCM array (the seed's perf mode does too).

Seed defects (docs/device-models.md §3) and other choices:

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

import torch

from .._checks import require_positive, require_range
from ..devices.pcm import (
    PCMArray,
    PCMParams,
    pcm_clip,
    pcm_mean_field_curve,
    pcm_read,
    pcm_reset_value,
    pcm_set,
)
from .choices import METHODS

_OWNER = "PCMCrossbar"
PCM_STEP_US = 0.75  # seed's estimated minimum achievable conductance jump (µS)
PCM_METHODS = METHODS[1:]
READ_CHUNK_ELEMENTS = 1 << 25  # elements per vectorised dense-read chunk (memory bound)


class IdealPCM:
    """Perf-mode device array: SET adds exactly ``step_us``; RESET returns G0; no noise, no drift.

    Same interface as :class:`PCMArray` (write/reset/state/load_state, g_us/n/t_p). The array
    starts as the PCM array does, freshly RESET with the G0 spread (``pcm_reset_value``, drawn
    from ``generator``), as the seed's perf mode; an exactly-G0 start would make every weight 0,
    every neuron silent and, with the pseudo-derivative 0 at v = 0, every gradient 0.
    """

    def __init__(self, params: PCMParams, shape, step_us: float, dtype=torch.float32, device=None,
                 generator: torch.Generator | None = None):
        self.params, self.shape, self.step_us = params, torch.Size(shape), step_us
        self.dtype, self.device = dtype, torch.device("cpu") if device is None else torch.device(device)
        xi = torch.randn(self.shape, generator=generator, dtype=dtype, device=self.device)
        self.g_us = pcm_reset_value(xi, params)
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
    if n == 1:
        return pulses[:, None]
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
            self.devices = IdealPCM(self.params, shape, self.step_us, dtype, self.device, generator)
        else:
            self.step_us = PCM_STEP_US
            self.devices = PCMArray(self.params, shape, generator=generator, dtype=dtype, device=self.device)
        self.pointer = torch.zeros(2, rows, cols, dtype=torch.long, device=self.device)
        self.frozen = (torch.zeros(rows, cols, dtype=torch.bool, device=self.device) if frozen is None
                       else frozen.to(self.device, torch.bool))
        self.set_pulses = 0
        self.reset_pulses = 0
        self.last_event_t = 0.0
        self._columns = None  # cache of the column-major device state for reads
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

    def _check_times(self, first: float) -> None:
        if first < self.last_event_t:
            raise ValueError(f"{_OWNER}: read at t = {first:g} s is before the last programming event at "
                             f"t = {self.last_event_t:g} s; device time must not run backwards")

    def _column_state(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(G, age) per column, [cols, 2 (G, age), 2, N, rows], and keep [cols, rows].

        age = t_ref − t_p (s, ≥ 0) with t_ref = the last programming event. A forward pass reads
        at t_ref + t_rel with t_rel of a few s (float32: exact to µs); an age of 3·10^4 s (a
        device untouched for a 250-epoch run) is exact to 2 ms, which moves its drift factor by
        ν·2 ms/age ≈ 3e-9. Column-major so that reading a set of columns is one contiguous
        gather. Rebuilt only when the devices changed (new tensors or an in-place edit)."""
        g, t_p = self.devices.g_us, self.devices.t_p
        key = (id(g), g._version, id(t_p), t_p._version, self.last_event_t)
        if self._columns is None or self._columns[0] != key:
            order = (3, 0, 1, 2)  # [2, N, R, C] -> [C, 2, N, R]
            age = (self.last_event_t - t_p).to(self.dtype)
            both = torch.stack([g.permute(order), age.permute(order)], dim=1).contiguous()
            keep = ((~self.frozen).to(self.dtype) / self.xbar_scale).t().contiguous()
            self._columns = (key, both, keep)
        return self._columns[1], self._columns[2]

    def _read_columns(self, cols: torch.Tensor, t_rel: torch.Tensor) -> torch.Tensor:
        """READ of columns ``cols`` [P] at times t_ref + ``t_rel`` ([P] or scalar, s) -> the
        weights W[:, cols[p]] as [P, rows]: each device drifts from its own t_p and gets a
        fresh read-noise sample (``pcm_read``, the validated model), sides are averaged over
        their N devices and differenced."""
        both, keep = self._column_state()
        picked = both.index_select(0, cols)  # [P, 2 (G, age), 2, N, R]
        g, age = picked[:, 0], picked[:, 1]
        if t_rel.dim():
            t_rel = t_rel.view(-1, 1, 1, 1)
        xi = torch.randn(g.shape, generator=self.generator, dtype=self.dtype, device=self.device)
        g_r = pcm_read(g, -age, t_rel, xi, self.params).mean(dim=2)  # [P, 2, R]
        return (g_r[:, 0] - g_r[:, 1]) * keep[cols]

    def read_weights(self, times: torch.Tensor) -> torch.Tensor:
        """Weights read at each of ``times`` (s, [T]) -> [T, rows, cols]: per read, drift from
        each device's t_p and a fresh read-noise sample (perf mode: the ideal weight). Dense:
        every device at every time (for tests and plots; training reads only driven columns)."""
        times = torch.as_tensor(times, dtype=torch.float64, device=self.device)
        self._check_times(float(times.min()))
        if self.perf:
            return self.ideal_weight().expand(times.shape[0], -1, -1)
        t_rel = (times - self.last_event_t).to(self.dtype)
        cols = torch.arange(self.cols, device=self.device)
        per_step = 2 * self.n * self.rows * self.cols
        chunk = max(1, READ_CHUNK_ELEMENTS // per_step)
        out = []
        for start in range(0, times.shape[0], chunk):
            t = t_rel[start:start + chunk]
            idx = cols.repeat(t.shape[0])
            w = self._read_columns(idx, t.repeat_interleave(self.cols))  # [t·C, R]
            out.append(w.view(t.shape[0], self.cols, self.rows).transpose(1, 2))
        return torch.cat(out)

    def read_currents(self, x: torch.Tensor, times: torch.Tensor) -> torch.Tensor:
        """Σ_c W[t][:, c]·x[b, t, c] for x [B, T, cols] -> [B, T, rows], each W[t] a READ at
        times[t] — reading only the columns driven at t (a column with no input voltage is not
        read, as in the array): the same distribution as :meth:`read_weights`, ~1/sparsity
        cheaper for spike inputs."""
        times = torch.as_tensor(times, dtype=torch.float64, device=self.device)
        self._check_times(float(times.min()))
        if self.perf:
            return x @ self.ideal_weight().t()
        active = x.ne(0).any(dim=0).nonzero()
        t_idx, col = active[:, 0], active[:, 1]
        t_rel = (times - self.last_event_t).to(self.dtype)[t_idx]
        w = self._read_columns(col, t_rel)  # [P, rows]
        contrib = x[:, t_idx, col][:, :, None] * w[None]
        out = torch.zeros(x.shape[0], x.shape[1], self.rows, dtype=x.dtype, device=x.device)
        return out.index_add_(1, t_idx, contrib)

    def sequence_reader(self, times: torch.Tensor) -> SequenceReader:
        """Reads for one forward pass at ``times`` (s, [T]); see :class:`SequenceReader`."""
        return SequenceReader(self, times)

    # -- programming ------------------------------------------------------------------------

    def _advance(self, t: float) -> None:
        if t < self.last_event_t:
            raise ValueError(f"{_OWNER}: programming at t = {t:g} s is before the last event at "
                             f"t = {self.last_event_t:g} s")
        self.last_event_t = float(t)

    def _pulse_devices(self, counts: torch.Tensor, t: float) -> None:
        """Apply counts [2, N, R, C] SET pulses at time t: pulse k (k = 1, 2, ...) reaches the
        devices with count ≥ k, each pulse one application of the device's WRITE step
        (``pcm_set``, or the ideal step in perf mode) with a fresh noise sample. Only the
        pulsed devices are gathered and stepped: an update touches a small part of the array."""
        counts = counts.masked_fill(self.frozen, 0)
        flat = counts.flatten()
        idx = flat.nonzero().squeeze(1)
        if idx.numel() == 0:
            return
        todo = flat[idx]
        dev = self.devices
        g, n = dev.g_us.flatten()[idx], dev.n.flatten()[idx]
        for k in range(int(todo.max())):
            hit = todo > k
            if self.perf:
                g_new = pcm_clip(g + self.step_us, self.params)
            else:
                xi = torch.randn(g.shape, generator=self.generator, dtype=g.dtype, device=g.device)
                g_new = pcm_set(g, n + 1.0, xi, self.params)
            g, n = torch.where(hit, g_new, g), torch.where(hit, n + 1.0, n)
        shape = dev.g_us.shape
        dev.g_us = dev.g_us.flatten().index_put((idx,), g).view(shape)
        dev.n = dev.n.flatten().index_put((idx,), n).view(shape)
        dev.t_p = dev.t_p.flatten().index_put((idx,), torch.full_like(n, float(t))).view(shape)
        self.set_pulses += int(todo.sum())

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
            return pcm_clip(p.g0_us + k * self.step_us, p)
        return pcm_mean_field_curve(max_pulses + 1, p)

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
            k = torch.zeros(diff.shape, dtype=torch.long, device=self.device)
            k[mask] = self.pulses_for(diff.abs()[mask])
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
        self._columns = None


class SequenceReader:
    """The reads of one crossbar during one forward pass at ``times`` (s, [T]), step by step.

    :meth:`currents` (t, x_t) returns W[t]·x_t for x_t [B, cols], reading only the columns that
    x_t drives, at times[t] — for the recurrent layer, whose input (the spikes) is only known
    step by step; each read is as :meth:`PCMCrossbar.read_weights` (drift at times[t], fresh
    read noise) but costs ~ active columns instead of all 2·N·rows·cols devices. Perf mode: the
    fixed ideal matrix. The crossbar must not be programmed while a reader is in use.
    """

    def __init__(self, xbar: PCMCrossbar, times: torch.Tensor) -> None:
        times = torch.as_tensor(times, dtype=torch.float64)
        xbar._check_times(float(times.min()))
        self.xbar = xbar
        self.fixed = xbar.ideal_weight().t() if xbar.perf else None
        rel = (times - xbar.last_event_t).to(xbar.dtype)
        self.t_rel = [rel[k] for k in range(rel.shape[0])]

    def currents(self, t: int, x_t: torch.Tensor) -> torch.Tensor:
        if self.fixed is not None:
            return x_t @ self.fixed
        cols = x_t.ne(0).any(dim=0).nonzero().squeeze(1)
        if cols.numel() == 0:
            return x_t.new_zeros(x_t.shape[0], self.xbar.rows)
        return x_t[:, cols] @ self.xbar._read_columns(cols, self.t_rel[t])


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
