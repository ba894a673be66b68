r"""Device levels: the conductances a synapse device can actually hold, as states x in [0, 1].

A MEMprop synapse device has state x in [0, 1] and conductance G = 1/r_off + (1/r_on - 1/r_off)·x,
so a set of levels is a sorted tuple of states. Three sources:

* ``uniform``: N evenly spaced states x_k = k/(N-1) (an ideal N-level device).
* ``mss-pulse``: the MSS pulse response from the twin (:class:`spicegrad.devices.MSS`): the state
  after k = 0..N-1 identical programming pulses of ``amplitude`` volts and ``width`` seconds from
  the OFF state x = 0. Under a held voltage the MSS relaxes exponentially,
  x_k = x_∞·(1 - e^{-k·w·b}) with b = (P_on + P_off)/tau, so the levels crowd towards x_∞: the
  non-uniform grid a pulse-programmed memristor offers. (choice) The pulses are integrated with
  ``exp-euler`` over one step per pulse, which is exact for a held voltage; the zero-volt gaps
  between pulses are left out (at 0 V the MSS moves by P_on(0)/tau ≈ 0.3 /s, i.e. < 1e-6 of the
  range per µs of gap). (choice) The default width puts the last level at ≈ 95 % of the range:
  w = 3·tau/(N-1).
* ``pcm-set``: the PCM cumulative SET curve in mean field
  (:func:`spicegrad.devices.pcm.pcm_mean_field_curve`): G_k after k = 0..N-1 partial-SET pulses from RESET (µS), which
  saturates near G* = -c1/m1 (10.5 µS for ``nandakumar2018``). (choice) The curve is put onto the
  synapse's device range by its own span, x_k = (G_k - G_0)/(G_{N-1} - G_0): the MEMprop weight
  is linear in x, so this is a PCM differential pair whose current scale absorbs the ratio of
  the two conductance ranges.

Every :class:`DeviceLevels` keeps the physical conductances (S) and pulse counts next to the
states, so a quantised network can be written back as programming targets.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import torch

from ..devices.mss import MSS, MSSParams, mss_conductance
from ..devices.pcm import S_PER_US, PCMParams, pcm_mean_field_curve
from .choices import SOURCES

#: default MSS programming pulse amplitude (V): well above v_on = 0.27 V, so P_on ≈ 1, P_off ≈ 0
MSS_PULSE_AMPLITUDE = 0.5
#: default span of the MSS pulse train in units of tau (last level at 1 - e^-3 ≈ 95 % of the range)
MSS_PULSE_SPAN_TAU = 3.0


def require_levels(n: object) -> int:
    """A number of levels >= 2 (a device with one level stores nothing)."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 2:
        raise ValueError(f"levels = {n!r}: a device needs an integer number of levels >= 2 "
                         "(2 = binary ON/OFF; 1 level cannot store a weight)")
    return int(n)


@dataclasses.dataclass(frozen=True)
class DeviceLevels:
    """Sorted device states x_k in [0, 1] a device can be programmed to, and where they come from.

    ``conductance_s``: G_k of the physical device (S); ``pulses``: programming pulses per level
    (None for ``uniform``); ``params``: how the levels were produced (for the record).
    """

    states: tuple[float, ...]
    source: str
    conductance_s: tuple[float, ...]
    pulses: tuple[int, ...] | None = None
    params: dict[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise ValueError(f"DeviceLevels.source = {self.source!r}: must be one of {SOURCES}")
        s = tuple(float(v) for v in self.states)
        require_levels(len(s))
        if any(not (math.isfinite(v) and -1e-12 <= v <= 1 + 1e-12) for v in s):
            raise ValueError(f"DeviceLevels.states = {s}: every state must lie in [0, 1]")
        if any(b <= a for a, b in zip(s, s[1:], strict=False)):
            raise ValueError(f"DeviceLevels.states = {s}: levels must be strictly increasing (distinct)")
        object.__setattr__(self, "states", tuple(min(max(v, 0.0), 1.0) for v in s))
        if len(self.conductance_s) != len(s):
            raise ValueError("DeviceLevels.conductance_s: need one conductance per level")

    @property
    def n(self) -> int:
        return len(self.states)

    def tensor(self, dtype=torch.float32, device=None) -> torch.Tensor:
        return torch.tensor(self.states, dtype=dtype, device=device)

    def describe(self) -> str:
        extra = ", ".join(f"{k}={v}" for k, v in self.params.items())
        return f"{self.n} {self.source} levels" + (f" ({extra})" if extra else "")

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["states"], d["conductance_s"] = list(self.states), list(self.conductance_s)
        d["pulses"] = None if self.pulses is None else list(self.pulses)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DeviceLevels:
        return cls(states=tuple(d["states"]), source=d["source"], conductance_s=tuple(d["conductance_s"]),
                   pulses=None if d.get("pulses") is None else tuple(d["pulses"]), params=dict(d.get("params", {})))


def uniform_levels(n: int, synapse: MSSParams | None = None) -> DeviceLevels:
    """N evenly spaced states x_k = k/(N-1); conductances on ``synapse``'s range (default MSS)."""
    n = require_levels(n)
    p = synapse or MSSParams()
    x = torch.linspace(0.0, 1.0, n, dtype=torch.float64)
    return DeviceLevels(tuple(x.tolist()), "uniform", tuple(mss_conductance(x, p).tolist()))


def mss_pulse_levels(n: int, synapse: MSSParams, amplitude: float = MSS_PULSE_AMPLITUDE,
                     width: float | None = None) -> DeviceLevels:
    """States after k = 0..N-1 identical pulses (``amplitude`` V, ``width`` s) from x = 0 (MSS twin)."""
    n = require_levels(n)
    if not (isinstance(amplitude, (int, float)) and math.isfinite(amplitude) and amplitude > 0):
        raise ValueError(f"pulse amplitude = {amplitude!r} V: must be a finite voltage > 0 (a SET pulse)")
    if width is None:
        width = MSS_PULSE_SPAN_TAU * synapse.tau / (n - 1)
    if not (isinstance(width, (int, float)) and math.isfinite(width) and width > 0):
        raise ValueError(f"pulse width = {width!r} s: must be a finite duration > 0")
    v = torch.full((n - 1,), float(amplitude), dtype=torch.float64)
    x = MSS(synapse).simulate(v, dt=float(width), x0=0.0, integrator="exp-euler")["x"]
    if float(x[-1] - x[0]) < 1e-6 or bool((x[1:] - x[:-1] <= 0).any()):
        raise ValueError(
            f"MSS pulses of {amplitude} V x {width:g} s move the state by only {float(x[-1] - x[0]):.3g} "
            f"after {n - 1} pulses: levels do not separate (the switching threshold is v_on = {synapse.v_on} V; "
            "use a larger amplitude or a longer width)")
    return DeviceLevels(tuple(x.tolist()), "mss-pulse", tuple(mss_conductance(x, synapse).tolist()),
                        tuple(range(n)), {"amplitude_V": float(amplitude), "width_s": float(width)})


def pcm_set_levels(n: int, preset: str = "nandakumar2018") -> DeviceLevels:
    """States from the PCM cumulative SET curve G_0..G_{N-1} (µS), normalised by its span."""
    n = require_levels(n)
    params = PCMParams.preset(preset)
    g = pcm_mean_field_curve(n, params)
    span = float(g[-1] - g[0])
    if span <= 0 or bool((g[1:] - g[:-1] <= 0).any()):
        raise ValueError(f"PCM preset {preset!r}: the cumulative SET curve is not increasing over {n} pulses")
    x = (g - g[0]) / span
    return DeviceLevels(tuple(x.tolist()), "pcm-set", tuple((g * S_PER_US).tolist()), tuple(range(n)),
                        {"preset": preset})


def device_levels(source: str, n: int, synapse: MSSParams | None = None, *, amplitude: float | None = None,
                  width: float | None = None, pcm_preset: str = "nandakumar2018") -> DeviceLevels:
    """Levels by name: ``uniform``, ``mss-pulse`` (needs ``synapse``) or ``pcm-set``."""
    if source == "uniform":
        return uniform_levels(n, synapse)
    if source == "mss-pulse":
        return mss_pulse_levels(n, synapse or MSSParams(),
                                MSS_PULSE_AMPLITUDE if amplitude is None else amplitude, width)
    if source == "pcm-set":
        return pcm_set_levels(n, pcm_preset)
    raise ValueError(f"device curve {source!r}: must be one of {', '.join(SOURCES)}")
