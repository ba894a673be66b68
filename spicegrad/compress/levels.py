r"""Device levels: the conductances a synapse device can actually hold, as states x in [0, 1].

A MEMprop synapse device has state x in [0, 1] and conductance G = 1/r_off + (1/r_on - 1/r_off)·x,
so a set of levels is a sorted tuple of states. The sources (:func:`~.choices.sources`):

* ``uniform``: N evenly spaced states x_k = k/(N-1) (an ideal N-level device).
* ``<device>-pulse``, for every pulse-programmable registered cell
  (:func:`spicegrad.devices.pulses.check_pulsable`: a step, ``switching`` and conductance maps):
  the device's conductance G_k after k = 0..N-1 identical potentiating pulses from g_min, from
  its twin (:func:`spicegrad.devices.pulses.pulse_response`, ``exp-euler``); ``conductance_s``
  are the device's own G_k. (choice) The states are the curve normalised by its own span,
  x_k = (G_k - G_0)/(G_{N-1} - G_0), as ``pcm-set``: a differential pair of that device whose
  current scale absorbs the ratio of its range to the synapse's. (choice) Default pulse: the
  amplitude :data:`~spicegrad.devices.pulses.OVERDRIVE`·|v_up| with v_up's polarity, the width
  fill_time/(N-1) (:func:`~spicegrad.devices.pulses.fill_time`: the train then ends near 95 % of
  the range) rounded to a whole number of a round step dt = 10^floor(log10(w/100)), so at least
  100 steps per pulse; ``amplitude``/``width`` override them. (choice) A kind whose update is
  affine in the state (``affine_step``) is integrated with one ``exp-euler`` step per pulse,
  exact for a held voltage; any other with that round dt (a given width w: dt = w/ceil(w/dt)).
  The zero-volt gaps between pulses are left out.
* ``mss-pulse`` is that source for the MSS with the defaults it always had (:data:`PULSE_DEFAULTS`):
  0.5 V (well above v_on = 0.27 V, so P_on ≈ 1, P_off ≈ 0) and w = 3·tau/(N-1), which puts the
  last level at 1 - e^-3 ≈ 95 % of the range; and its states are the MSS's own x (the MEMprop
  synapse is an MSS: its levels are its states, not re-normalised). Under a held voltage the MSS
  relaxes exponentially, x_k = x_∞·(1 - e^{-k·w·b}) with b = (P_on + P_off)/tau, so the levels
  crowd towards x_∞: the non-uniform grid a pulse-programmed memristor offers. At 0 V the MSS
  moves by P_on(0)/tau ≈ 0.3 /s, i.e. < 1e-6 of the range per µs of gap.
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

from ..devices import pulses, registry
from ..devices.mss import MSSParams, mss_conductance
from ..devices.pcm import S_PER_US, PCMParams, pcm_mean_field_curve
from ..errors import InputError
from .choices import PCM_SET, PULSE_SUFFIX, UNIFORM, pulse_device, sources

#: default MSS programming pulse amplitude (V): well above v_on = 0.27 V, so P_on ≈ 1, P_off ≈ 0
MSS_PULSE_AMPLITUDE = 0.5
#: default span of the MSS pulse train in units of tau (last level at 1 - e^-3 ≈ 95 % of the range)
MSS_PULSE_SPAN_TAU = 3.0
#: steps per pulse at least, for a kind whose update is not affine in the state (choice, see above)
MIN_STEPS_PER_PULSE = 100


@dataclasses.dataclass(frozen=True)
class PulseDefaults:
    """A device's own pulse-train defaults, where they predate the generic ones: ``amplitude(p)``
    (V, a magnitude), ``width(p, n)`` (s) and whether its levels are its own states."""

    amplitude: Any
    width: Any
    own_states: bool = False


#: per-device defaults of ``<device>-pulse`` (others take the generic ones of the module docstring)
PULSE_DEFAULTS: dict[str, PulseDefaults] = {
    "mss": PulseDefaults(amplitude=lambda p: MSS_PULSE_AMPLITUDE,
                         width=lambda p, n: MSS_PULSE_SPAN_TAU * p.tau / (n - 1), own_states=True),
}


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
        if self.source not in sources():
            raise ValueError(f"DeviceLevels.source = {self.source!r}: must be one of {sources()}")
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


def _decade(width: float) -> int:
    return math.floor(math.log10(width / MIN_STEPS_PER_PULSE))


def round_dt(width: float) -> float:
    """The round step of a pulse of ``width`` s: 10^floor(log10(width/100)) (at least 100 steps)."""
    return float(f"1e{_decade(width)}")


def _step(kind, width: float) -> float:
    """The integration step of one pulse of ``width`` (see the module docstring)."""
    if kind.declares("affine_step"):
        return width
    dt = round_dt(width)
    return dt if abs(round(width / dt) * dt - width) <= 1e-9 * dt else width / math.ceil(width / dt)


def _require_duration(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} = {value!r} s: must be a finite duration > 0")
    return float(value)


def pulse_levels(device: str, n: int, params=None, amplitude: float | None = None,
                 width: float | None = None) -> DeviceLevels:
    """``<device>-pulse`` levels: G_k after k = 0..N-1 identical potentiating pulses of a
    registered cell from g_min (its twin), ``amplitude`` (V, a magnitude) and ``width`` (s) or
    the defaults of the module docstring; ``params`` default to the device's."""
    n = require_levels(n)
    kind = registry.get(device)
    pulses.check_pulsable(kind)
    params = kind.params() if params is None else params
    if not isinstance(params, kind.params):
        raise InputError(f"{device}-pulse levels take {kind.params.__name__}, got {type(params).__name__}")
    own = PULSE_DEFAULTS.get(device)
    if amplitude is not None and (isinstance(amplitude, bool) or not isinstance(amplitude, (int, float))
                                  or not (math.isfinite(amplitude) and amplitude > 0)):
        raise ValueError(f"pulse amplitude = {amplitude!r} V: must be a finite voltage > 0 (a SET pulse)")
    if amplitude is None and own is not None:
        amplitude = own.amplitude(params)
    v = pulses.potentiating_voltage(kind, params, amplitude)
    if width is None:
        if own is not None:
            width = own.width(params, n)
        else:
            raw = pulses.fill_time(kind, params, v) / (n - 1)
            width = float(f"{max(round(raw / round_dt(raw)), MIN_STEPS_PER_PULSE)}e{_decade(raw)}")  # k·dt, exact decimal
    width = _require_duration("pulse width", width)
    x = pulses.pulse_response(kind, params, v, width, n - 1, dt=_step(kind, width), integrator="exp-euler")
    g = torch.as_tensor(kind.conductance(x, params), dtype=torch.float64)
    span = float(g[-1] - g[0])
    if abs(span) < 1e-6 * float(g[0]):
        v_up = kind.switching(params)[0]
        raise ValueError(
            f"{device} pulses of {abs(v):g} V x {width:g} s change the conductance by only {span:.3g} S "
            f"after {n - 1} pulses: levels do not separate (the switching threshold is v_up = {v_up:g} V; "
            "use a larger amplitude or a longer width)")
    flat = torch.nonzero(g[1:] - g[:-1] <= 0)
    if flat.numel():
        k = int(flat[0]) + 1
        raise ValueError(
            f"{device} pulses of {abs(v):g} V x {width:g} s saturate the device: pulse {k} leaves the conductance "
            f"at {float(g[k]):.6g} S, no higher than after pulse {k - 1}, so levels {k - 1} and {k} coincide "
            f"(use a shorter width or a smaller amplitude, or fewer levels)")
    states = x if own is not None and own.own_states else (g - g[0]) / span
    return DeviceLevels(tuple(states.tolist()), f"{device}{PULSE_SUFFIX}", tuple(g.tolist()), tuple(range(n)),
                        {"amplitude_V": abs(float(v)), "width_s": width})


def mss_pulse_levels(n: int, synapse: MSSParams, amplitude: float = MSS_PULSE_AMPLITUDE,
                     width: float | None = None) -> DeviceLevels:
    """States after k = 0..N-1 identical pulses (``amplitude`` V, ``width`` s) from x = 0 (MSS
    twin): :func:`pulse_levels` of ``mss``."""
    return pulse_levels("mss", n, synapse, amplitude, width)


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
    """Levels by name: ``uniform``, ``<device>-pulse`` or ``pcm-set``. ``synapse`` (the MEMprop
    synapse's MSS record) sets the ``uniform`` conductances and the parameters of ``mss-pulse``;
    other devices pulse with their default parameters."""
    if source == UNIFORM:
        return uniform_levels(n, synapse)
    if source == PCM_SET:
        return pcm_set_levels(n, pcm_preset)
    device = pulse_device(source)
    if device is None:
        raise ValueError(f"device curve {source!r}: must be one of {', '.join(sources())}")
    params = (synapse or MSSParams()) if device == "mss" else None
    return pulse_levels(device, n, params, amplitude, width)
