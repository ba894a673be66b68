r"""Yakopcic memristor: differentiable twin of ``spicegrad/models/yakopcic.lib``.

C. Yakopcic, T. M. Taha, G. Subramanyam, R. E. Pino, S. Rogers, "A Memristor Device Model",
IEEE Electron Device Letters 32(10), 1436-1438, 2011 (the model and its fit to the Oblea et al.
Ag-chalcogenide device), and its generalized form, C. Yakopcic, T. M. Taha, G. Subramanyam,
R. E. Pino, "Generalized Memristive Device SPICE Model and its Application in Circuit Design",
IEEE TCAD 32(8), 1201-1214, 2013, whose windows (x_p, x_n, alpha_p, alpha_n, eta) are the ones
written here.

State x (dimensionless, nominally [0, 1]); v = V(te) - V(be); current te -> be::

    I(v, x)  = a1·x·sinh(b·v)                      v >= 0
               a2·x·sinh(b·v)                      v <  0
    g(v)     =  ap·(e^{v/v_exp} - e^{vp/v_exp})    v >  vp
               -an·(e^{-v/v_exp} - e^{vn/v_exp})   v < -vn
                0                                  otherwise
    f(v, x)  = e^{-alphap·(x - xp)}·wp(x)          eta·v >  0 and x >= xp
               e^{alphan·(x + xn - 1)}·wn(x)       eta·v <= 0 and x <= 1 - xn
               1                                   otherwise
    wp(x)    = (xp - x)/(1 - xp) + 1,   wn(x) = x/(1 - xn)
    dx/dt    = eta·g(v)·f(v, x)

The windows are the papers' (EDL 2011 eqs. for f, wp, wn; TCAD 2013 keeps them); Yakopcic's own
published SPICE subcircuit states the same branches, which is the form checked here. wp vanishes
at x = 1 and wn at x = 0, and both change sign beyond, so x = 1 (under a programming voltage of
the raising polarity) and x = 0 (lowering polarity) are attracting: x stays in [0, 1] without a
clamp for any stable step. f is continuous at x = xp and x = 1 - xn (both branches give 1).

**Dimensional quirk.** The papers write e^V and e^{V_p} with V in volts: the exponent is
dimensionless only with an implicit 1 V scale. It is the explicit field ``v_exp`` (default 1 V,
which reproduces the papers' numbers); ap and an are then rates in 1/s.

Discretisation (twin): the rate r(v, x) = eta·g·f is not in relaxation form, so its
linearisation is frozen over the step: b = max(-∂r/∂x, 0) and a = r + b·x, then
``integrators.get_integrator(name).relax(x, a, b, dt)``. For ``euler`` this is exactly
x + dt·r (the linearisation cancels); ``exp-euler`` gives x + dt·r·φ1(b·dt), which damps the
approach to the window edges (b > 0 only where the window pulls x back toward 0 or 1). Both are
certified at dt = 10 µs; the validator's dt sweep keeps exp-euler within tolerance up to 50 µs
and euler up to 10 µs (docs/device-models.md §6).

Gradients are those of a piecewise definition and are non-smooth at the switches:

* at v = vp and v = -vn, g is continuous but ∂g/∂v jumps from 0 to ap·e^{vp/v_exp}/v_exp (and
  an·e^{vn/v_exp}/v_exp); ``torch.where`` with strict inequalities gives the sub-threshold branch
  (0) exactly at the threshold. Below threshold no gradient reaches vp, vn, ap, an;
* at x = xp and x = 1 - xn, f is continuous but ∂f/∂x jumps (from 0 to -alphap - 1/(1-xp) and
  to alphan + 1/(1-xn)); at eta·v = 0 the branch switch is harmless because g = 0 there;
* the frozen b = max(-∂r/∂x, 0) has a kink where ∂r/∂x changes sign (only exp-euler sees it);
* the current's ∂I/∂v is continuous at v = 0 only when a1 = a2.

Modelling choices (the papers leave these open):

* (choice) ``conductance(x)`` is the small-signal dI/dv at v -> 0+, G = a1·b·x: the v >= 0
  branch, the one the I-V assigns to v = 0 itself. With a1 != a2 a read at a negative voltage
  sees a2/a1 times this conductance; weights are mapped with the positive branch.
* (choice) Weights map onto x in [x_g_min, 1] (x_g_min = 0.1 by default): x = 0 conducts nothing
  (G = 0) and cannot be a weight's low end, x = 1 is where the raising window stops the state.
  ``x_g_min`` is a twin-only field (not a subcircuit parameter).
* (choice) eta must be +1 or -1 (the papers' use: the direction of motion relative to the
  voltage's polarity); the threshold magnitudes vp, vn are positive, vn acting at v = -vn.
* (choice) x is not clamped anywhere (state equation or current): the windows keep it in
  [0, 1] and a clamp would zero gradients.
* (choice) The window branch is chosen by eta·v > 0 (raising side) vs <= 0, as in the brief's
  statement of the generalized model; at v = 0 the choice does not matter (g = 0).
* (choice) Time grid t_k = k·dt; v_k acts on [t_k, t_k+1); currents i_k = I(v_k, x_k) for k < T
  and i_T = I(v_{T-1}, x_T), as for every twin (docs/device-models.md §0).
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
    non_negative,
    positive,
    require_dt,
    require_finite_tensor,
    require_range,
)
from ._base import DeviceParams, Twin, param
from .integrators import get_integrator

EDL2011 = "Yakopcic et al., IEEE EDL 32(10) 1436 (2011), fit to Oblea et al.'s Ag-chalcogenide device"


def _window_point(owner, name, value):
    require_range(owner, name, value, 0.0, 1.0, hi_open=True)


def _unit_sign(owner, name, value):
    if isinstance(value, bool) or value not in (1, -1, 1.0, -1.0):
        raise ValueError(f"{owner}.{name} = {value!r}: must be +1 or -1 (direction of state motion "
                         "relative to the voltage's polarity)")


@dataclasses.dataclass(frozen=True)
class YakopcicParams(DeviceParams):
    """Parameters of one Yakopcic memristor.

    Defaults are the ``oblea-edl2011`` preset: the fit of Yakopcic, Taha, Subramanyam, Pino and
    Rogers, IEEE EDL 32(10), 1436-1438 (2011) to the Ag-chalcogenide device of Oblea et al.
    (IJCNN 2010): a1 = a2 = 0.17 A, b = 0.05 /V, vp = 0.16 V, vn = 0.15 V, ap = an = 4000 /s,
    xp = 0.3, xn = 0.5, alphap = 1, alphan = 5, x0 = 0.11, eta = 1. (The same numbers appear
    in Yakopcic's published SPICE model and in Xyce's Yakopcic memristor tests.) The fits of the
    2013 TCAD paper to other devices are not included: their values could not be checked here.
    """

    a1: float = param(0.17, "A", f"I-V prefactor for v >= 0 ({EDL2011})")
    a2: float = param(0.17, "A", f"I-V prefactor for v < 0 ({EDL2011})")
    b: float = param(0.05, "1/V", f"I-V sinh exponent ({EDL2011})")
    vp: float = param(0.16, "V", f"positive threshold (> 0) ({EDL2011})")
    vn: float = param(0.15, "V", f"negative threshold magnitude (> 0; acts at v = -vn) ({EDL2011})")
    ap: float = param(4000.0, "1/s", f"state-motion magnitude above vp ({EDL2011})")
    an: float = param(4000.0, "1/s", f"state-motion magnitude below -vn ({EDL2011})")
    xp: float = param(0.3, "1", f"state beyond which raising motion is damped, in [0, 1) ({EDL2011})")
    xn: float = param(0.5, "1", f"lowering motion is damped below x = 1 - xn; xn in [0, 1) ({EDL2011})")
    alphap: float = param(1.0, "1", f"decay rate of the raising window (>= 0) ({EDL2011})")
    alphan: float = param(5.0, "1", f"decay rate of the lowering window (>= 0) ({EDL2011})")
    eta: float = param(1.0, "1", f"direction of state motion relative to v: +1 or -1 ({EDL2011})")
    v_exp: float = param(1.0, "V", "(choice) voltage scale of the threshold exponentials e^{v/v_exp}; "
                                   "the papers write e^V with V in volts, i.e. 1 V")
    x0: float = param(0.11, "1", f"initial state, in [0, 1] ({EDL2011})")
    x_g_min: float = param(0.1, "1", "(choice) lowest state weights map onto, in (0, 1) (twin only)")

    TWIN_ONLY: ClassVar[tuple[str, ...]] = ("x_g_min",)
    PRESETS: ClassVar[dict[str, dict]] = {
        # Yakopcic et al., IEEE EDL 2011: fit to the Oblea et al. Ag-chalcogenide device.
        "oblea-edl2011": {},
    }

    def __post_init__(self) -> None:
        check_fields(self, {
            "a1": positive, "a2": positive, "b": positive, "vp": positive, "vn": positive,
            "ap": positive, "an": positive, "xp": _window_point, "xn": _window_point,
            "alphap": non_negative, "alphan": non_negative, "eta": _unit_sign, "v_exp": positive,
            "x0": lambda o, n, v: require_range(o, n, v, 0.0, 1.0),
            "x_g_min": lambda o, n, v: require_range(o, n, v, 0.0, 1.0, lo_open=True, hi_open=True),
        })


# -- the twin -----------------------------------------------------------------------------------

def yakopcic_threshold(v: torch.Tensor, p: YakopcicParams) -> torch.Tensor:
    """g(v) in 1/s: zero between -vn and vp, exponential beyond."""
    up = p.ap * (torch.exp(v / p.v_exp) - math.exp(p.vp / p.v_exp))
    down = -p.an * (torch.exp(-v / p.v_exp) - math.exp(p.vn / p.v_exp))
    return torch.where(v > p.vp, up, torch.where(v < -p.vn, down, torch.zeros_like(v)))


def yakopcic_rate(v: torch.Tensor, x: torch.Tensor, p: YakopcicParams) -> tuple[torch.Tensor, torch.Tensor]:
    """(r, ∂r/∂x): the state derivative dx/dt = eta·g(v)·f(v, x) and its slope in x."""
    one = torch.ones_like(x)
    e_p = torch.exp(-p.alphap * (x - p.xp))
    w_p = (1.0 - x) / (1.0 - p.xp)  # = (xp - x)/(1 - xp) + 1
    raising = x >= p.xp
    f_p = torch.where(raising, e_p * w_p, one)
    df_p = torch.where(raising, -e_p * (p.alphap * w_p + 1.0 / (1.0 - p.xp)), 0.0 * x)
    e_n = torch.exp(p.alphan * (x + p.xn - 1.0))
    w_n = x / (1.0 - p.xn)
    lowering = x <= 1.0 - p.xn
    f_n = torch.where(lowering, e_n * w_n, one)
    df_n = torch.where(lowering, e_n * (p.alphan * w_n + 1.0 / (1.0 - p.xn)), 0.0 * x)
    side = (p.eta * v) > 0
    eg = p.eta * yakopcic_threshold(v, p)
    return eg * torch.where(side, f_p, f_n), eg * torch.where(side, df_p, df_n)


def yakopcic_step(v: torch.Tensor, x: torch.Tensor, p: YakopcicParams, dt: float,
                  integrator: str = "exp-euler") -> torch.Tensor:
    """x_{k+1} from x_k under v_k held for dt: the rate linearised and frozen over the step,
    b = max(-∂r/∂x, 0), a = r + b·x, advanced by the named integrator's ``relax``."""
    r, drdx = yakopcic_rate(v, x, p)
    b = (-drdx).clamp_min(0.0)
    return get_integrator(integrator).relax(x, r + b * x, b, dt)


def yakopcic_current(v, x, p: YakopcicParams):
    """Device current te -> be (A): a·x·sinh(b·v), a = a1 for v >= 0, a2 below."""
    if torch.is_tensor(v) or torch.is_tensor(x):
        v = torch.as_tensor(v)
        return torch.where(v >= 0, p.a1, p.a2) * x * torch.sinh(p.b * v)
    v = np.asarray(v, dtype=float)
    return np.where(v >= 0, p.a1, p.a2) * x * np.sinh(p.b * v)


def yakopcic_conductance(x, p: YakopcicParams):
    """Small-signal conductance dI/dv at v -> 0+ (S): a1·b·x (choice: the v >= 0 branch).
    Plain arithmetic: numpy arrays, tensors and floats alike."""
    return p.a1 * p.b * x


def yakopcic_state_from_conductance(g, p: YakopcicParams):
    """The state x whose :func:`yakopcic_conductance` is ``g`` (S)."""
    return g / (p.a1 * p.b)


def yakopcic_conductance_range(p: YakopcicParams) -> tuple[float, float]:
    """(g_min, g_max) in S: the conductances of x = x_g_min and x = 1 (choice: the weight range)."""
    return float(yakopcic_conductance(p.x_g_min, p)), float(yakopcic_conductance(1.0, p))


def yakopcic_program(g, p: YakopcicParams) -> dict:
    """Instance parameters that start a cell at conductance ``g`` (S): {"x0": states}."""
    return {"x0": yakopcic_state_from_conductance(np.asarray(g, dtype=float).ravel(), p)}


def yakopcic_switching(p: YakopcicParams) -> tuple[float, float]:
    """(v_up, v_down), signed: G rises with x, and x rises beyond vp when eta = +1 and below
    -vn when eta = -1."""
    return (p.vp, -p.vn) if p.eta > 0 else (-p.vn, p.vp)


class Yakopcic(Twin):
    """Yakopcic memristor twin. ``Yakopcic(Yakopcic.Params(...))``; :meth:`simulate` runs a voltage trace."""

    Params = YakopcicParams

    def forward(self, v: torch.Tensor, x: torch.Tensor, dt: float, integrator: str = "exp-euler"):
        """One step: returns (i_k, x_{k+1})."""
        return yakopcic_current(v, x, self.params), yakopcic_step(v, x, self.params, dt, integrator)

    def simulate(self, v: torch.Tensor, dt: float, x0: float | torch.Tensor | None = None,
                 integrator: str = "exp-euler") -> dict[str, torch.Tensor]:
        """Drive with voltages ``v`` (V; Tensor[T] or [T, *shape]) and return traces ``{"x", "i"}``
        shaped [T+1, *shape] (index 0 = initial state, i in A). ``x0`` defaults to params.x0."""
        require_dt("Yakopcic.simulate", dt)
        get_integrator(integrator)
        require_finite_tensor("Yakopcic.simulate", "v", v)
        if v.ndim == 0 or v.shape[0] == 0:
            raise ValueError("Yakopcic.simulate: v must have a leading time axis of length >= 1, "
                             f"got shape {tuple(v.shape)}")
        x0 = self.params.x0 if x0 is None else x0
        x = torch.as_tensor(x0, dtype=v.dtype, device=v.device)
        if not torch.is_tensor(x0):
            require_range("Yakopcic.simulate", "x0", float(x0), 0.0, 1.0)
        elif has_values(x) and ((x < 0) | (x > 1)).any():
            raise ValueError("Yakopcic.simulate: x0 has values outside [0, 1] "
                             f"(min {x.min().item():g}, max {x.max().item():g})")
        x = x.expand(v.shape[1:]) if x.ndim == 0 else x
        xs, currents = [x], []
        for k in range(v.shape[0]):
            currents.append(yakopcic_current(v[k], x, self.params))
            x = yakopcic_step(v[k], x, self.params, dt, integrator)
            xs.append(x)
        currents.append(yakopcic_current(v[-1], x, self.params))
        out = {"x": torch.stack(xs), "i": torch.stack(currents)}
        if has_values(out["x"]):
            xs_all = out["x"].detach()
            if not bool(torch.isfinite(xs_all).all()) or bool(((xs_all < -1e-3) | (xs_all > 1 + 1e-3)).any()):
                warnings.warn(f"Yakopcic {integrator}: the state left [0, 1] (min {xs_all.min().item():.3g}, max "
                              f"{xs_all.max().item():.3g}) at dt = {dt:.3g} s: the step is too large for the rates "
                              "at these voltages; use a smaller dt or integrator='exp-euler'",
                              RuntimeWarning, stacklevel=2)
        return out


# -- independent reference (the validator's second statement of the model) -----------------------
# Written apart from the twin on purpose: numpy, the papers' literal forms, no shared helpers.

def reference_rhs(t, v, y, p: YakopcicParams):
    """dx/dt of the EDL 2011 / TCAD 2013 model, for the validator's DOP853 reference."""
    x = float(np.asarray(y, dtype=float).reshape(-1)[0])
    v = float(v)
    if v > p.vp:
        g = p.ap * (np.exp(v / p.v_exp) - np.exp(p.vp / p.v_exp))
    elif v < -p.vn:
        g = -p.an * (np.exp(-v / p.v_exp) - np.exp(p.vn / p.v_exp))
    else:
        g = 0.0
    if p.eta * v > 0:
        f = np.exp(-p.alphap * (x - p.xp)) * ((p.xp - x) / (1 - p.xp) + 1) if x >= p.xp else 1.0
    else:
        f = np.exp(p.alphan * (x + p.xn - 1)) * (x / (1 - p.xn)) if x <= 1 - p.xn else 1.0
    return np.array([p.eta * g * f])


def reference_current(v, y, p: YakopcicParams):
    """I = a1·x·sinh(b·v) for v >= 0, a2·x·sinh(b·v) for v < 0 (numpy)."""
    v = np.asarray(v, dtype=float)
    x = np.asarray(y, dtype=float)[0]
    return np.where(v < 0, p.a2 * x * np.sinh(p.b * v), p.a1 * x * np.sinh(p.b * v))
