r"""The pair protocol of the device-level STDP window: two MIF neurons, one MSS synapse, Δt.

One record, :class:`PairProtocol`, is read by the twin (:mod:`spicegrad.stdp.window`), the
ngspice testbench (:mod:`spicegrad.compare.stdp`) and the validator's reference
(:mod:`spicegrad.validate.adapters.stdp`): one source of truth for every choice below.

Circuit (Zhou, Choi, Eshraghian, Kang, arXiv:2203.01416: STDP from pre/post waveform overlap
across a memristive synapse)::

    I_pre  -> [MIF pre]  --V_pre-->  buffer ×gain --> be ┐
                                                         MSS synapse, v = V(te) - V(be)
    I_post -> [MIF post] --V_post--> buffer ×gain --> te ┘

so the synapse sees v_syn(t) = gain·(V_post(t) - V_pre(t)). The buffers are ideal VCVS
(ngspice ``E`` elements; the twin multiplies): the neurons are not loaded by the synapse, and
the two identical neurons' equal rest voltages cancel in v_syn.

Modelling choices (all SI; each one a **(choice)**, sources leave them open):

* **Neurons**: MIF preset ``tonic`` (:mod:`spicegrad.devices.mif`): the ``memprop`` preset
  gives one graded response and cannot fire repeatedly, ``tonic`` fires all-or-none spikes
  (rest 37.5 mV, peak ≈ 108 mV, undershoot to ≈ 18 mV about 0.4 ms after the peak, damped
  ringing until ≈ 2.5 ms). Both start at rest.
* **Pulse**: each neuron fires exactly once, driven by one trapezoidal current pulse of
  ``i_pulse`` = 5 µA with edges ``t_edge`` = 1 µs and a flat top ``t_pulse`` = 50 µs
  (charge 0.26 pC). 5 µA lies in the tonic preset's firing range (1.5–6 µA, docs/device-models.md
  §2) and 51 µs is far below its ≈ 0.9 ms inter-spike interval, so one pulse gives one spike.
* **Δt** = t_post − t_pre, the difference of the two pulse onsets (s). The neurons and pulses are
  identical and time-invariant, so this is also the difference of their spike times.
  Δt > 0: pre before post.
* **Sign convention**: the synapse's top electrode (te) is on the *post* buffer, the bottom
  (be) on the *pre* buffer. With pre before post, the post spike's peak (+70 mV over rest)
  meets the pre neuron's undershoot (−19 mV): v_syn ≈ +gain·89 mV drives OFF->ON, x grows and
  G grows: **pre-before-post potentiates**; post-before-pre gives v_syn ≈ −gain·89 mV and
  depresses. Overlapping peaks (|Δt| ≲ 0.1 ms) cancel.
* **Gain** = 2.5 V/V: one spike alone puts at most 2.5·70 mV ≈ 0.18 V across the synapse,
  3.7·V_T below the MSS threshold v_on = 0.27 V (P_on ≤ 2.5 %); the overlap reaches
  2.5·89 mV ≈ 0.22 V (P_on ≈ 13 %), five times the single-spike rate. The MSS threshold is
  a logistic of width V_T = kT/q ≈ 26 mV, not a step, so a lone spike still moves x a little:
  a lone pre spike depresses and a lone post spike potentiates by nearly the same amount, and
  from x0 = 0.5 the two cancel to second order — the window tends to ≈ 0 for |Δt| ≳ 2 ms.
  Measured in the twin (peak window |Δx| / a lone pre spike's Δx): gain 2.0: 0.013 / 0.005;
  2.5: 0.064 / 0.016; 3.0: 0.20 / 0.053; 3.5: 0.33 / 0.145 (lone spike at 0.25 V, P_on 31 %).
  2.5 is where the window is largest against a lone spike's change (≈ 4x); above it a lone
  spike nears the threshold, below it the window shrinks faster than the lone change.
* **Initial state** x0 = 0.5: with v_on = v_off (both Knowm presets) it is the MSS state that
  does not drift at v = 0, so Δx measures only what the spikes did.
* **Read-out**: Δx = x(t_stop) − x0 with t_stop = ``t_tail`` = 2.5 ms after the later onset
  (the spikes' ringing has decayed; afterwards x drifts by < 1e-4 per ms). The synapse's
  conductance change is ΔG = Δx·(1/r_on − 1/r_off) (G is linear in x): 1333 µS per unit Δx
  for the Knowm devices.
* ``t_lead`` = 0.2 ms of rest before the earlier pulse.

Presets: ``zhou-tonic-knowm`` (the defaults above) and ``zhou-tonic-schottky`` (same, with the
knowm-schottky synapse: T = 300 K instead of 298.5 K; its Schottky current does not change x,
since the synapse is driven by ideal sources).
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import numpy as np

from .._checks import check_fields, require_choice, require_positive, require_range
from ..devices import DeviceParams, param
from ..devices.mif import MIFParams
from ..devices.mss import MSSParams, mss_conductance_range
from ..stimuli import grid_steps
from .choices import PAIR_PRESETS


def _neuron(owner, name, value):
    require_choice(owner, name, value, tuple(MIFParams.PRESETS))


def _synapse(owner, name, value):
    require_choice(owner, name, value, tuple(MSSParams.PRESETS))


def _positive(owner, name, value):
    require_positive(owner, name, value)


@dataclasses.dataclass(frozen=True)
class PairProtocol(DeviceParams):
    """One pre/post spike pair across one MSS synapse (see the module docstring for each choice)."""

    neuron: str = param("tonic", "-", "MIF preset of both neurons")
    synapse: str = param("knowm-default", "-", "MSS preset of the synapse")
    gain: float = param(2.5, "V/V", "buffer gain from each membrane to its synapse terminal")
    i_pulse: float = param(5e-6, "A", "height of the current pulse that makes a neuron fire once")
    t_pulse: float = param(50e-6, "s", "flat top of the current pulse")
    t_edge: float = param(1e-6, "s", "rise and fall time of the current pulse")
    x0: float = param(0.5, "1", "initial synapse state (MSS fraction of switches ON)")
    t_lead: float = param(0.2e-3, "s", "rest before the earlier pulse onset")
    t_tail: float = param(2.5e-3, "s", "time from the later pulse onset to the read-out of Δx")

    PRESETS: ClassVar[dict[str, dict]] = PAIR_PRESETS

    def __post_init__(self) -> None:
        check_fields(
            self,
            {
                "neuron": _neuron,
                "synapse": _synapse,
                "gain": _positive,
                "i_pulse": _positive,
                "t_pulse": _positive,
                "t_edge": _positive,
                "x0": lambda o, n, v: require_range(o, n, v, 0.0, 1.0),
                "t_lead": _positive,
                "t_tail": _positive,
            },
        )
        if self.t_tail <= self.t_pulse + 2 * self.t_edge:
            raise ValueError(
                f"PairProtocol.t_tail = {self.t_tail!r} s: must outlast the pulse "
                f"({self.t_pulse + 2 * self.t_edge:g} s) and the spike it starts"
            )

    def spice_params(self) -> dict[str, float]:
        raise TypeError("PairProtocol is a testbench record, not a subcircuit: use neuron_params()/synapse_params()")

    def neuron_params(self) -> MIFParams:
        return MIFParams.preset(self.neuron)

    def synapse_params(self) -> MSSParams:
        return MSSParams.preset(self.synapse)

    @property
    def g_per_x(self) -> float:
        """dG/dx of the synapse (S): G = x/r_on + (1 - x)/r_off, so 1/r_on - 1/r_off."""
        g_min, g_max = mss_conductance_range(self.synapse_params())
        return g_max - g_min

    def pulse_knots(self, t_on: float) -> tuple[list[float], list[float]]:
        """PWL corners (times s, currents A) of one pulse starting at ``t_on`` (0 before)."""
        e, w = self.t_edge, self.t_pulse
        return [0.0, t_on, t_on + e, t_on + e + w, t_on + 2 * e + w], [0.0, 0.0, self.i_pulse, self.i_pulse, 0.0]


@dataclasses.dataclass(frozen=True)
class Schedule:
    """Pulse onsets of one run: the shared pre neuron and one post neuron per Δt (s)."""

    delta_t: np.ndarray
    t_pre: float
    t_post: np.ndarray
    t_stop: float


def as_delta_t(delta_t) -> np.ndarray:
    """Δt values (s) as a 1-D float array, checked finite and non-empty."""
    d = np.atleast_1d(np.asarray(delta_t, dtype=float))
    if d.ndim != 1 or d.size == 0:
        raise ValueError(f"delta_t: expected a non-empty list of times (s), got shape {d.shape}")
    if not np.all(np.isfinite(d)):
        raise ValueError(f"delta_t = {d.tolist()!r}: every value must be finite (s)")
    return d


def schedule(delta_t, proto: PairProtocol, t_stop: float | None = None) -> Schedule:
    """Onsets for a batch of pairs: pre at t_lead + max(0, -min Δt), post_i at t_pre + Δt_i.

    ``t_stop`` defaults to the later onset + ``t_tail``; a given one must leave at least that.
    """
    d = as_delta_t(delta_t)
    t_pre = proto.t_lead + max(0.0, -float(d.min()))
    t_post = t_pre + d
    needed = max(t_pre, float(t_post.max())) + proto.t_tail
    if t_stop is None:
        t_stop = needed
    elif t_stop < needed * (1 - 1e-9):
        raise ValueError(
            f"t_stop = {t_stop!r} s: too short for Δt in [{d.min():g}, {d.max():g}] s; needs >= {needed:g} s "
            f"(t_lead {proto.t_lead:g} s + span + t_tail {proto.t_tail:g} s)"
        )
    return Schedule(d, t_pre, t_post, float(t_stop))


def pwl_step_means(times, values, dt: float, steps: int) -> np.ndarray:
    """Exact mean of a piecewise-linear waveform over each step [k·dt, (k+1)·dt), k < steps.

    The twin holds its input over a step; giving it the step mean keeps every pulse's charge
    exact wherever its corners fall on the grid. The waveform holds its last value after the
    last corner.
    """
    ts, vs = np.asarray(times, dtype=float), np.asarray(values, dtype=float)
    cum = np.concatenate([[0.0], np.cumsum(0.5 * (vs[1:] + vs[:-1]) * np.diff(ts))])
    slope = np.diff(vs) / np.where(np.diff(ts) > 0, np.diff(ts), 1.0)

    def integral(t):
        j = np.clip(np.searchsorted(ts, t, side="right") - 1, 0, len(ts) - 1)
        h = t - ts[j]
        s = np.where(j < len(slope), slope[np.minimum(j, len(slope) - 1)], 0.0)
        return cum[j] + h * (vs[j] + 0.5 * s * h)

    edges = integral(grid_steps(dt, steps))
    return np.diff(edges) / dt
