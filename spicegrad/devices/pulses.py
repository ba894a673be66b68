r"""Identical programming pulses on one cell twin: the pulse response that pulse-programmed
consumers read (the Manhattan rule's device curve, compression's device levels), for any
registered ``cell`` that declares a ``step``, a conductance map and ``switching``.

A potentiating pulse has the polarity of the kind's ``v_up`` (``switching(params)``): positive
for MSS and Yakopcic, negative for VTEAM, whose positive voltages drive the state toward R_off.
A pulse is a rectangle of ``amplitude`` (V, a magnitude; the sign comes from the device) held for
``width`` s, then ``gap`` s at 0 V, integrated by the kind's own step at ``dt``.

(choice) Defaults when a consumer does not set the pulse: the amplitude is
:data:`OVERDRIVE` = 1.5 times |v_up| — above the threshold, and its half stays below it, so the
V/2 scheme leaves half-selected cells alone — and :func:`fill_time` gives the time a held pulse
of that amplitude takes to bring a cell from g_min to :data:`FILL` = 95 % of its conductance
range, which a consumer divides among its pulses.
"""

from __future__ import annotations

import math

import torch

from .._checks import require_positive, require_range
from ..errors import InputError
from .registry import DeviceKind

#: default pulse amplitude in units of |v_up| (see the module docstring)
OVERDRIVE = 1.5
#: fraction of the conductance range a default pulse train covers
FILL = 0.95
#: steps per time constant when :func:`fill_time` integrates a held pulse
_STEPS_PER_TAU = 200
_MAX_STEPS = 20_000


def check_pulsable(kind: DeviceKind) -> None:
    """InputError naming what ``kind`` lacks for pulse programming."""
    missing = kind.missing_for_pulses()
    if missing:
        raise InputError(f"device {kind.name!r} cannot be pulse-programmed: it needs role 'cell' and "
                         f"step, switching and conductance maps (missing: {', '.join(missing)})")


def potentiating_voltage(kind: DeviceKind, params, amplitude: float | None = None) -> float:
    """The signed voltage of a pulse that raises the conductance: ``amplitude`` (V, > 0) with the
    polarity of v_up, or OVERDRIVE·v_up when ``amplitude`` is None. An amplitude that does not
    pass the threshold is refused (the pulse would not program)."""
    check_pulsable(kind)
    v_up = float(kind.switching(params)[0])
    if amplitude is None:
        return OVERDRIVE * v_up
    require_positive(f"{kind.name} pulse", "amplitude", amplitude)
    if amplitude <= abs(v_up):
        raise InputError(f"{kind.name} pulse amplitude = {amplitude!r} V does not pass the device's switching "
                         f"threshold |v_up| = {abs(v_up):g} V: such pulses would not program it")
    return math.copysign(float(amplitude), v_up)


def read_limit(kind: DeviceKind, params) -> float:
    """The largest read amplitude (V) that stays inside both thresholds: min(|v_up|, |v_down|)."""
    check_pulsable(kind)
    v_up, v_down = kind.switching(params)
    return min(abs(float(v_up)), abs(float(v_down)))


def low_state(kind: DeviceKind, params) -> torch.Tensor:
    """The state of the lowest conductance g_min (float64 scalar)."""
    g_min, _ = kind.conductance_range(params)
    return torch.as_tensor(kind.state_from_conductance(torch.tensor(float(g_min), dtype=torch.float64), params),
                           dtype=torch.float64)


def pulse_response(kind: DeviceKind, params, voltage: float, width: float, n_pulses: int, *, dt: float,
                   gap: float = 0.0, integrator: str = "exp-euler", x0: torch.Tensor | None = None) -> torch.Tensor:
    """States [n_pulses + 1] (float64) after k = 0..n_pulses identical pulses of ``voltage`` (V,
    signed) held ``width`` s and followed by ``gap`` s at 0 V, from ``x0`` (default: the g_min
    state). ``width`` and ``gap`` must be whole numbers of ``dt``."""
    check_pulsable(kind)
    on, off = (_whole_steps(kind, name, value, dt) for name, value in (("width", width), ("gap", gap)))
    if on < 1:
        raise InputError(f"{kind.name} pulse width = {width!r} s: must be at least one dt = {dt!r} s")
    x = low_state(kind, params) if x0 is None else torch.as_tensor(x0, dtype=torch.float64)
    v_on, v_off = torch.tensor(float(voltage), dtype=torch.float64), torch.zeros((), dtype=torch.float64)
    states = [x]
    for _ in range(int(n_pulses)):
        for _ in range(on):
            x = kind.step(v_on, x, params, dt, integrator)
        for _ in range(off):
            x = kind.step(v_off, x, params, dt, integrator)
        states.append(x)
    return torch.stack(states)


def fill_time(kind: DeviceKind, params, voltage: float, fill: float = FILL, integrator: str = "exp-euler") -> float:
    """Time (s) a held ``voltage`` takes to bring a cell from g_min to g_min + fill·(g_max - g_min).

    The step is 1/200 of the initial time constant 1/|dx/dt| at g_min (the state is normalised,
    so 1/|dx/dt| is the time to cross the range at the starting rate); raises InputError when the
    voltage does not move the state or the range is not reached in 20,000 steps (100 initial
    time constants)."""
    check_pulsable(kind)
    require_range(f"{kind.name} pulse", "fill", fill, 0.0, 1.0, lo_open=True, hi_open=True)
    g_min, g_max = (float(g) for g in kind.conductance_range(params))
    target = g_min + fill * (g_max - g_min)
    x = low_state(kind, params)
    v = torch.tensor(float(voltage), dtype=torch.float64)
    probe = 1e-15
    rate = abs(float(kind.step(v, x, params, probe, integrator) - x)) / probe
    if not rate > 0:
        raise InputError(f"{kind.name}: a held {voltage:g} V does not move the state from g_min")
    dt = 1.0 / rate / _STEPS_PER_TAU
    for k in range(1, _MAX_STEPS + 1):
        x = kind.step(v, x, params, dt, integrator)
        if float(kind.conductance(x, params)) >= target:
            return k * dt
    raise InputError(f"{kind.name}: a held {voltage:g} V does not reach {fill:.0%} of the conductance range "
                     f"in {_MAX_STEPS * dt:.3g} s")


def _whole_steps(kind: DeviceKind, name: str, value: float, dt: float) -> int:
    require_positive(f"{kind.name} pulse", "dt", dt)
    require_range(f"{kind.name} pulse", name, value, 0.0, math.inf)
    n = round(value / dt)
    if abs(n * dt - value) > 1e-9 * dt:
        raise InputError(f"{kind.name} pulse {name} = {value!r} s: must be a whole number of dt = {dt!r} s")
    return n


__all__ = ["FILL", "OVERDRIVE", "check_pulsable", "fill_time", "low_state", "potentiating_voltage",
           "pulse_response", "read_limit"]
