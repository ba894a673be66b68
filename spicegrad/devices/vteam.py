r"""VTEAM memristor: differentiable twin of ``spicegrad/models/vteam.lib``.

S. Kvatinsky, M. Ramadan, E. G. Friedman, A. Kolodny, "VTEAM: A General Model for
Voltage-Controlled Memristors", IEEE Trans. Circuits Syst. II 62(8), 786-790 (2015),
doi:10.1109/TCSII.2015.2433536. The window functions: Joglekar & Wolf, Eur. J. Phys. 30, 661
(2009); Biolek, Biolek & Biolková, Radioengineering 18(2), 210 (2009); the TEAM window of
Kvatinsky, Friedman, Kolodny & Weiser, IEEE TCAS-I 60(1), 211 (2013), which VTEAM adopts.

v = V(te) - V(be); the physical state w (m) lies in [w_on, w_off]. Thresholds v_on < 0 < v_off,
rate constants k_on < 0 < k_off (m/s)::

    dw/dt = k_off·(v/v_off - 1)^alpha_off·f_off(w)    v > v_off   (w -> w_off: toward R_off)
          = 0                                         v_on <= v <= v_off
          = k_on·(v/v_on - 1)^alpha_on·f_on(w)        v < v_on    (w -> w_on: toward R_on)

The twin and the subcircuit carry the normalised state x = (w - w_on)/(w_off - w_on) in [0, 1]
(x = 0: R_on, x = 1: R_off), dx/dt = (dw/dt)/(w_off - w_on); the parameters stay in the paper's
units. Windows (``window``, a number because a .lib cannot take strings), with D = w_off - w_on:

    0  none       f_on = f_off = 1
    1  Joglekar   f_on = f_off = 1 - |2x - 1|^(2p)
    2  Biolek     f_off = 1 - |x|^(2p),  f_on = 1 - |1 - x|^(2p)     (Biolek's stp(-i) read as the
                  direction of the drive: off for v > v_off, on for v < v_on)
    3  TEAM       f_off = exp(-exp((w - a_off)/w_c)),  f_on = exp(-exp(-(w - a_on)/w_c))   (default)

I-V (``iv_model``), linear in v in both cases (so the kind declares no ``current``; i = v·G(x)):

    0  linear       R(x) = R_on + (R_off - R_on)·x
    1  exponential  R(x) = R_on·exp(lambda·x),  lambda = ln(R_off/R_on)

Modelling choices (the paper leaves these open):

* (choice) The state is stored normalised (x, not w in metres): a state of 3e-9 on an ngspice
  node breaks its absolute tolerances.
* (choice) The bounds w_on <= w <= w_off are hard for every window: the drift stops at a bound it
  pushes against (ngspice: the rate times u(1 - x) going off and u(x) going on; the twin clamps
  x to [0, 1] after each step). The TEAM window only slows the state near a_on/a_off, it does
  not stop it, and Joglekar/Biolek reach zero only exactly at the bounds.
* (choice) Joglekar/Biolek take |.|^(2p) so that a non-integer p is defined (equal to the
  published form for integer p); p >= 1 is required.
* (choice) alpha_on, alpha_off >= 1: the drive is then continuous at the thresholds (and
  continuously differentiable for alpha > 1), which Newton iteration and gradients need.
* (choice) The TEAM window's a_on, a_off, w_c defaults: w_c = 107 pm, the x_c of the TEAM
  Verilog-A (Kvatinsky et al., "Verilog-A for memristor models", Technion CCIT report 801, 2011);
  a_on = w_on + 2·w_c, a_off = w_off - 2·w_c, so the window falls to exp(-e^2) = 6e-4 at the
  bound it drives toward. Not from the VTEAM paper.
* (choice) x0 = 0.5 by default: mid-range, where every window lets the state move (Joglekar's
  and Biolek's windows vanish at the bounds, so a state started there never leaves).
* (choice) G(x) uses x clamped to [0, 1] (ngspice's state may overshoot a bound by its own
  tolerance); the twin's own x never leaves [0, 1].
* (choice) Time grid t_k = k·dt; v_k acts on [t_k, t_k+1); i_k = v_k·G(x_k) for k < T and
  i_T = v_(T-1)·G(x_T), as the other twins (docs/device-models.md §0).

Integrators. The model is not in relaxation form; the step freezes its linearisation in x over
the step: with r(v, x) = dx/dt, b = max(-dr/dx, 0) and a = r + b·x,
``integrators.get_integrator(name).relax(x, a, b, dt)``; then x is clamped to [0, 1]. ``euler``
is then plain forward Euler (x + dt·r); ``exp-euler`` relaxes toward the window's linearised
stop point and never overshoots it, which matters where a window is steep (TEAM) and the drive
large (k_on·(v/v_on - 1)^alpha_on reaches 1e10 /s for the default device at -0.5 V).

Gradients. The drive is continuous but not smooth at the thresholds (for alpha = 1 its slope in v
jumps from 0 to k/v_thr/D; for alpha > 1 it is C1) and is exactly zero between them, so gradients
with respect to v and the parameters vanish inside the dead zone and grow continuously past it.
The clamp to [0, 1] cuts the gradient of a state sitting on a bound (the bound, not the history,
sets it). The TEAM window's double exponential has its exponent capped at 40 (the window is 0 to
double precision from about 6.6 on), so neither value nor gradient overflows. ``window`` and
``iv_model`` are switches, not differentiable parameters.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from typing import ClassVar

import numpy as np
import torch

from .._checks import (
    check_fields,
    has_values,
    require_dt,
    require_finite,
    require_finite_tensor,
    require_range,
)
from ._base import DeviceParams, Twin, param
from .integrators import get_integrator

#: window codes (the .lib parameter ``window``)
WINDOWS = {0: "none", 1: "joglekar", 2: "biolek", 3: "team"}
#: I-V codes (the .lib parameter ``iv_model``)
IV_MODELS = {0: "linear", 1: "exponential"}
#: cap on the TEAM window's exponent (w - a)/w_c: exp(-exp(40)) is 0 and exp(40) is finite
TEAM_Z_MAX = 40.0

_PAPER = "Kvatinsky et al., IEEE TCAS-II 62(8) 786 (2015)"
_MEMTORCH = ("MemTorch's VTEAM default (memtorch/bh/memristor/VTEAM.py, Lammie et al., Neurocomputing 485, "
             "2022), which cites the VTEAM model; not checked against the paper's own tables")


@dataclasses.dataclass(frozen=True)
class VTEAMParams(DeviceParams):
    """Parameters of one VTEAM memristor (SI units; the paper's symbols, see the module docstring).

    Presets:

    * ``memtorch-team`` (the default): the kinetic and resistance values are MemTorch's VTEAM
      defaults (memtorch/bh/memristor/VTEAM.py, Lammie et al., "MemTorch: An Open-source
      Simulation Framework for Memristive Deep Learning Systems", Neurocomputing 485, 124 (2022)),
      which implements Kvatinsky et al. 2015. They could not be checked against the VTEAM paper's
      own parameter table here: they are marked as MemTorch's, not the paper's. The window is the
      paper's TEAM window with the (choice) a_on, a_off, w_c of the module docstring.
    * ``memtorch``: the same device as MemTorch simulates it: no window (hard bounds only), linear
      I-V, started at x = 0 (w = w_on, R_on), as MemTorch's ``VTEAM.__init__`` does.
    """

    r_on: float = param(50.0, "Ω", f"resistance at w = w_on (x = 0); {_MEMTORCH}")
    r_off: float = param(1000.0, "Ω", f"resistance at w = w_off (x = 1); {_MEMTORCH}")
    v_on: float = param(-0.2, "V", f"ON threshold (< 0): w moves toward w_on below it; {_MEMTORCH}")
    v_off: float = param(0.02, "V", f"OFF threshold (> 0): w moves toward w_off above it; {_MEMTORCH}")
    k_on: float = param(-10.0, "m/s", f"ON rate constant (< 0); {_MEMTORCH}")
    k_off: float = param(5e-4, "m/s", f"OFF rate constant (> 0); {_MEMTORCH}")
    alpha_on: float = param(3.0, "1", f"ON voltage exponent (>= 1, choice); {_MEMTORCH}")
    alpha_off: float = param(1.0, "1", f"OFF voltage exponent (>= 1, choice); {_MEMTORCH}")
    w_on: float = param(0.0, "m", f"state bound at R_on; {_MEMTORCH} (x_on)")
    w_off: float = param(3e-9, "m", f"state bound at R_off (> w_on); {_MEMTORCH} (x_off = d)")
    window: float = param(3.0, "1", "window code: 0 none, 1 Joglekar, 2 Biolek, 3 TEAM (the paper's; default)")
    p_window: float = param(2.0, "1", "Joglekar/Biolek exponent p (>= 1; choice: p_coeff = 2 of Kvatinsky's "
                                      "Verilog-A, Technion CCIT report 801, 2011)")
    a_on: float = param(2.14e-10, "m", "TEAM window ON edge, in [w_on, w_off] (choice: w_on + 2·w_c)")
    a_off: float = param(2.786e-9, "m", "TEAM window OFF edge, in (a_on, w_off] (choice: w_off - 2·w_c)")
    w_c: float = param(1.07e-10, "m", "TEAM window width (> 0; choice: x_c = 107 pm of Kvatinsky's TEAM "
                                      "Verilog-A, Technion CCIT report 801, 2011)")
    iv_model: float = param(0.0, "1", f"I-V code: 0 linear R(x), 1 exponential R_on·exp(lambda·x) ({_PAPER})")
    x0: float = param(0.5, "1", "initial normalised state (w0 - w_on)/(w_off - w_on) in [0, 1] (choice)")

    PRESETS: ClassVar[dict[str, dict]] = {
        "memtorch-team": {},
        "memtorch": {"window": 0.0, "x0": 0.0},
    }

    def __post_init__(self) -> None:
        owner = type(self).__qualname__
        for f in dataclasses.fields(self):
            require_finite(owner, f.name, getattr(self, f.name))
        check_fields(self, {
            "r_on": lambda o, n, v: require_range(o, n, v, 0.0, math.inf, lo_open=True),
            "v_on": lambda o, n, v: require_range(o, n, v, -math.inf, 0.0, hi_open=True),
            "v_off": lambda o, n, v: require_range(o, n, v, 0.0, math.inf, lo_open=True),
            "k_on": lambda o, n, v: require_range(o, n, v, -math.inf, 0.0, hi_open=True),
            "k_off": lambda o, n, v: require_range(o, n, v, 0.0, math.inf, lo_open=True),
            "alpha_on": lambda o, n, v: require_range(o, n, v, 1.0, math.inf),
            "alpha_off": lambda o, n, v: require_range(o, n, v, 1.0, math.inf),
            "p_window": lambda o, n, v: require_range(o, n, v, 1.0, math.inf),
            "w_c": lambda o, n, v: require_range(o, n, v, 0.0, math.inf, lo_open=True),
            "x0": lambda o, n, v: require_range(o, n, v, 0.0, 1.0),
        })
        if self.r_off <= self.r_on:
            raise ValueError(f"{owner}.r_off = {self.r_off!r}: must be above r_on = {self.r_on!r} "
                             "(x = 1, w = w_off, is the high-resistance state)")
        if self.w_off <= self.w_on:
            raise ValueError(f"{owner}.w_off = {self.w_off!r}: must be above w_on = {self.w_on!r} (state bounds)")
        if not self.w_on <= self.a_on <= self.w_off:
            raise ValueError(f"{owner}.a_on = {self.a_on!r}: must lie in [w_on, w_off] = "
                             f"[{self.w_on:g}, {self.w_off:g}] m")
        if not self.a_on < self.a_off <= self.w_off:
            raise ValueError(f"{owner}.a_off = {self.a_off!r}: must lie in (a_on, w_off] = "
                             f"({self.a_on:g}, {self.w_off:g}] m")
        if self.window not in WINDOWS:
            raise ValueError(f"{owner}.window = {self.window!r}: must be one of "
                             + ", ".join(f"{k} ({v})" for k, v in WINDOWS.items()))
        if self.iv_model not in IV_MODELS:
            raise ValueError(f"{owner}.iv_model = {self.iv_model!r}: must be one of "
                             + ", ".join(f"{k} ({v})" for k, v in IV_MODELS.items()))

    @property
    def length(self) -> float:
        """D = w_off - w_on (m): the state range."""
        return self.w_off - self.w_on

    @property
    def lam(self) -> float:
        """lambda = ln(r_off/r_on) of the exponential I-V."""
        return math.log(self.r_off / self.r_on)


# -- the twin ---------------------------------------------------------------------------------

def _lib(x):
    return torch if torch.is_tensor(x) else np


def vteam_drives(v: torch.Tensor, p: VTEAMParams) -> tuple[torch.Tensor, torch.Tensor]:
    """(s_off, s_on) in 1/s: the window-free dx/dt beyond each threshold (each is 0 elsewhere;
    s_off >= 0, s_on <= 0, never both non-zero)."""
    d = p.length
    s_off = (p.k_off / d) * torch.clamp(v / p.v_off - 1.0, min=0.0) ** p.alpha_off
    s_on = (p.k_on / d) * torch.clamp(v / p.v_on - 1.0, min=0.0) ** p.alpha_on
    return s_off, s_on


def _team(z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """exp(-exp(z)) and its derivative in z, with z capped at TEAM_Z_MAX."""
    z = torch.clamp(z, max=TEAM_Z_MAX)
    ez = torch.exp(z)
    f = torch.exp(-ez)
    return f, -ez * f


def vteam_windows(x: torch.Tensor, p: VTEAMParams):
    """(f_off, df_off/dx, f_on, df_on/dx) at the normalised state x."""
    code = int(p.window)
    if code == 0:
        one, zero = torch.ones_like(x), torch.zeros_like(x)
        return one, zero, one, zero
    q = 2.0 * p.p_window
    if code == 1:
        u = 2.0 * x - 1.0
        f = 1.0 - u.abs() ** q
        df = -2.0 * q * u.abs() ** (q - 1.0) * torch.sign(u)
        return f, df, f, df
    if code == 2:
        f_off = 1.0 - x.abs() ** q
        df_off = -q * x.abs() ** (q - 1.0) * torch.sign(x)
        f_on = 1.0 - (1.0 - x).abs() ** q
        df_on = q * (1.0 - x).abs() ** (q - 1.0) * torch.sign(1.0 - x)
        return f_off, df_off, f_on, df_on
    d, c = p.length, p.w_c / p.length
    f_off, g_off = _team((x - (p.a_off - p.w_on) / d) / c)
    f_on, g_on = _team(-(x - (p.a_on - p.w_on) / d) / c)
    return f_off, g_off / c, f_on, -g_on / c


def vteam_rate(v: torch.Tensor, x: torch.Tensor, p: VTEAMParams) -> tuple[torch.Tensor, torch.Tensor]:
    """(r, dr/dx): dx/dt (1/s) inside the bounds and its derivative in x."""
    s_off, s_on = vteam_drives(v, p)
    f_off, df_off, f_on, df_on = vteam_windows(x, p)
    return s_off * f_off + s_on * f_on, s_off * df_off + s_on * df_on


def vteam_step(v: torch.Tensor, x: torch.Tensor, p: VTEAMParams, dt: float, integrator: str = "exp-euler"):
    """x_{k+1} from x_k under v_k held for dt: the rate linearised in x at x_k (b = max(-dr/dx, 0),
    a = r + b·x) advanced by ``integrator``, then clamped to the bounds [0, 1]."""
    r, drdx = vteam_rate(v, x, p)
    b = torch.clamp(-drdx, min=0.0)
    x_next = get_integrator(integrator).relax(x, r + b * x, b, dt)
    return torch.clamp(x_next, 0.0, 1.0)


def vteam_resistance(x, p: VTEAMParams):
    """R(x) in Ω, x clamped to [0, 1]: linear or exponential in x (``iv_model``). Numpy arrays,
    tensors and floats alike."""
    lib = _lib(x)
    xc = lib.clip(x, 0.0, 1.0) if lib is np else torch.clamp(x, 0.0, 1.0)
    if int(p.iv_model) == 0:
        return p.r_on + (p.r_off - p.r_on) * xc
    return p.r_on * lib.exp(p.lam * xc)


def vteam_conductance(x, p: VTEAMParams):
    """G(x) = 1/R(x) in S (the I-V is linear in v: i = v·G(x))."""
    return 1.0 / vteam_resistance(x, p)


def vteam_conductance_range(p: VTEAMParams) -> tuple[float, float]:
    """(g_min, g_max) = (1/r_off, 1/r_on) in S: G at x = 1 and x = 0."""
    return 1.0 / p.r_off, 1.0 / p.r_on


def vteam_state_from_conductance(g, p: VTEAMParams):
    """The state x whose G(x) is ``g`` (S), the inverse of :func:`vteam_conductance` on [0, 1]."""
    if int(p.iv_model) == 0:
        return (1.0 / g - p.r_on) / (p.r_off - p.r_on)
    return -_lib(g).log(g * p.r_on) / p.lam


def vteam_program(g, p: VTEAMParams) -> dict:
    """Instance parameters {"x0": array} that start cells at conductances ``g`` (S); a ``g``
    outside [g_min, g_max] beyond rounding (1e-9 relative) is an error."""
    g = np.asarray(g, dtype=float).ravel()
    g_min, g_max = vteam_conductance_range(p)
    if g.size and (g.min() < g_min * (1 - 1e-9) or g.max() > g_max * (1 + 1e-9)):
        raise ValueError(f"vteam program: g must lie in [1/r_off, 1/r_on] = [{g_min:g}, {g_max:g}] S, "
                         f"got {g.min():g}..{g.max():g} S")
    return {"x0": np.clip(vteam_state_from_conductance(np.clip(g, g_min, g_max), p), 0.0, 1.0)}


def vteam_switching(p: VTEAMParams) -> tuple[float, float]:
    """(v_up, v_down) = (v_on, v_off): below v_on (< 0) w moves toward w_on, the conductance rises;
    above v_off (> 0) it falls."""
    return p.v_on, p.v_off


def _stability_report(v: torch.Tensor, x0: torch.Tensor, p: VTEAMParams, dt: float, integrator: str) -> None:
    """Warn when forward Euler's dt exceeds 2/b at the largest window slope b = max(-dr/dx)
    reached (a steep window then makes the state oscillate; the clamp hides only overshoot past
    the bounds). exp-euler never warns."""
    if integrator != "euler" or not has_values(v):
        return
    with torch.no_grad():
        xs = torch.linspace(0.0, 1.0, 201, dtype=v.dtype, device=v.device)
        vv = torch.stack([v.max(), v.min()])
        _, drdx = vteam_rate(vv[:, None], xs[None, :], p)
        b_max = float(torch.clamp(-drdx, min=0.0).max())
        bound = get_integrator(integrator).stable_dt(b_max)
        if dt > bound:
            warnings.warn(f"VTEAM euler: dt = {dt:.3g} s exceeds 2/b = {bound:.3g} s at the steepest window slope "
                          "for the voltages applied; the state may oscillate near the window edges. Use a smaller "
                          "dt, or integrator='exp-euler'", RuntimeWarning, stacklevel=3)


class VTEAM(Twin):
    """VTEAM memristor twin. ``VTEAM(VTEAM.Params(...))``; :meth:`simulate` runs a voltage trace."""

    Params = VTEAMParams

    def forward(self, v: torch.Tensor, x: torch.Tensor, dt: float, integrator: str = "exp-euler"):
        """One step: returns (i_k, x_{k+1})."""
        return v * vteam_conductance(x, self.params), vteam_step(v, x, self.params, dt, integrator)

    def simulate(self, v: torch.Tensor, dt: float, x0: float | torch.Tensor | None = None,
                 integrator: str = "exp-euler") -> dict[str, torch.Tensor]:
        """Drive with voltages ``v`` (V; Tensor[T] or [T, *shape]) from state ``x0`` (default
        ``params.x0``) and return ``{"x", "i"}`` shaped [T+1, *shape] (index 0 = initial state;
        x normalised, i in A)."""
        require_dt("VTEAM.simulate", dt)
        get_integrator(integrator)
        require_finite_tensor("VTEAM.simulate", "v", v)
        if v.ndim == 0 or v.shape[0] == 0:
            raise ValueError(f"VTEAM.simulate: v must have a leading time axis of length >= 1, got shape {tuple(v.shape)}")
        x0 = self.params.x0 if x0 is None else x0
        x = torch.as_tensor(x0, dtype=v.dtype, device=v.device)
        if not torch.is_tensor(x0):
            require_range("VTEAM.simulate", "x0", float(x0), 0.0, 1.0)
        elif has_values(x) and ((x < 0) | (x > 1)).any():
            raise ValueError(f"VTEAM.simulate: x0 has values outside [0, 1] (min {x.min().item():g}, "
                             f"max {x.max().item():g})")
        x = x.expand(v.shape[1:]) if x.ndim == 0 else x
        p = self.params
        xs, currents = [x], []
        for k in range(v.shape[0]):
            currents.append(v[k] * vteam_conductance(x, p))
            x = vteam_step(v[k], x, p, dt, integrator)
            xs.append(x)
        currents.append(v[-1] * vteam_conductance(x, p))
        _stability_report(v, xs[0], p, dt, integrator)
        return {"x": torch.stack(xs), "i": torch.stack(currents)}


# -- independent reference (the validator's B) ------------------------------------------------
# A second statement of the ODE and current, in numpy, written apart from the twin above: it
# shares no function with the twin's step (registry.DeviceKind.reference_rhs/reference_current).

def reference_rhs(t, v, y, p: VTEAMParams):
    """dx/dt of the VTEAM ODE at voltage v (V) and state y = [x], bounds included."""
    x = float(y[0])
    v = float(v)
    w = p.w_on + x * (p.w_off - p.w_on)  # the physical state, metres
    code = int(p.window)
    if v > p.v_off:
        dwdt = p.k_off * (v / p.v_off - 1.0) ** p.alpha_off
        if code == 1:
            dwdt *= 1.0 - abs(2.0 * x - 1.0) ** (2.0 * p.p_window)
        elif code == 2:
            dwdt *= 1.0 - abs(x) ** (2.0 * p.p_window)
        elif code == 3:
            dwdt *= math.exp(-math.exp(min((w - p.a_off) / p.w_c, 700.0)))
        if x >= 1.0:
            dwdt = 0.0
    elif v < p.v_on:
        dwdt = p.k_on * (v / p.v_on - 1.0) ** p.alpha_on
        if code == 1:
            dwdt *= 1.0 - abs(2.0 * x - 1.0) ** (2.0 * p.p_window)
        elif code == 2:
            dwdt *= 1.0 - abs(x - 1.0) ** (2.0 * p.p_window)
        elif code == 3:
            dwdt *= math.exp(-math.exp(min((p.a_on - w) / p.w_c, 700.0)))
        if x <= 0.0:
            dwdt = 0.0
    else:
        dwdt = 0.0
    return [dwdt / (p.w_off - p.w_on)]


def reference_current(v, y, p: VTEAMParams):
    """Current te -> be (A) at voltages v (V) and states y[0] (arrays), Ohm's law with R(w)."""
    x = np.clip(np.asarray(y[0], dtype=float), 0.0, 1.0)
    if int(p.iv_model) == 0:
        r = p.r_on * (1.0 - x) + p.r_off * x
    else:
        r = p.r_on * (p.r_off / p.r_on) ** x
    return np.asarray(v, dtype=float) / r
