r"""Memristive integrate-and-fire (MIF) neuron: differentiable twin of ``spicegrad/models/mif.lib``.

Kang, Choi, Eshraghian, Zhou et al., "How to build a memristive integrate-and-fire model for
spiking neuronal signal generation", IEEE TCAS-I 2021, as used by MEMprop (seed 002, §III-A,
Tables I-III). **The seed's tables lost their symbols: the parameter mapping below is a
reconstruction** from the seed's prose (docs/device-models.md §2), a (choice) throughout.

Circuit: membrane node m with ``c_mem`` to ground and input current I_in flowing into m;
memristor M1 between m and bias source ``v1``, M2 between m and bias source ``v2``. Both are
metastable-switch (MSS) devices with a volatility constant ν (``nu``)::

    c_mem·dV/dt = I_in - G1·(V - v1) - G2·(V - v2)
    vd1 = V - v1,        vd2 = pol2·(V - v2)
    dx_i/dt = [(1 - x_i)·σ((vd_i - v_on_i)/v_t) - ν_off·x_i·σ(-(vd_i + v_off_i)/v_t) - ν_leak·x_i] / tau_i
    G_i = x_i/r_on + (1 - x_i)/r_off

Numeric encodings (so they pass to the subcircuit as parameters):

* ``pol2`` = -1: vd2 = v2 - V, M2 with its + terminal on the bias ("opposite polarity", memprop);
  ``pol2`` = +1: vd2 = V - v2, both devices with the + terminal on m (tonic).
* ``vol_form`` = 0 (form A): ν_off = ν, ν_leak = 0 (ν scales the ON->OFF rate);
  ``vol_form`` = 1 (form B): ν_off = 1, ν_leak = ν (ν is a leak toward OFF).

Relaxation form (every state obeys dy/dt = a - b·y with a, b frozen over a step)::

    membrane: a = (I_in + G1·v1 + G2·v2)/c_mem,      b = (G1 + G2)/c_mem       (x frozen)
    device i: a = σ_on,i/tau_i,   b = (σ_on,i + ν_off·σ_off,i + ν_leak)/tau_i    (V frozen)

``exp-euler`` (default) solves each sub-flow exactly: with x frozen the membrane is linear,
V <- V_inf + (V - V_inf)·exp(-dt·(G1+G2)/c_mem), V_inf = (I_in + G1·v1 + G2·v2)/(G1+G2); with
V frozen each x_i is linear and relaxes to a_i/b_i. The step composes them by Strang splitting
(choice): devices dt/2 at V_k, membrane dt, devices dt/2 at V_k+1 — second order in dt and no
dearer than updating all three from t_k (that simultaneous form drifts ≈4x further in spike
phase on the ``tonic`` preset, whose τ2 = 18.8 µs is stiff at dt = 1 µs).
``euler`` is plain simultaneous forward Euler (MEMprop's Table I discretisation), stable only for dt < 2·c_mem/(G1+G2) (≈10 µs with both devices
OFF, ≈0.2 µs with one ON) and dt < 2/b_i; after an ``euler`` run the bound is evaluated over the
states visited and a warning gives the numbers when dt exceeds it.

Presets (provenance):

* ``memprop`` (default): Table III as mapped in docs/device-models.md: r_on 1 kΩ, r_off 100 kΩ,
  v_on 110 mV, v_off 5 mV, tau 1 ms (both), v_t 25 mV, ν 0.6, c_mem 100 pF, v1 0, v2 50 mV,
  form A, pol2 = -1. It gives one graded analog response per input and cannot fire
  repeatedly (Bendixson: the reduced (x1, x2) flow has negative divergence everywhere).
* ``tonic``: same topology, both devices with + on m (pol2 = +1), form B, fires repeatedly
  under constant current. Starting point from docs/device-models.md §2 (a parameter search); only
  r_on, r_off, ν, c_mem, v1 and v_t are Table III's; the thresholds, tau2 and v2 are not.

Modelling choices:

* (choice) the Table III mapping above (reconstruction; see the note at the top).
* (choice) x_i is not clamped: the ODE keeps it in [0, 1] and a clamp would cut gradients.
* (choice) time grid t_k = k·dt; input sample k acts on [t_k, t_k+1) (held constant).
  A continuous input current i(t) is sampled at the *end* of each step,
  i_k = i(t_k+1) (:func:`input_samples`): the membrane (C/G ≲ 10 µs) follows its input within a
  step, so the end value makes V(t_k+1) right, where the step mean lags by dt/2. Measured
  against ngspice (case ``mif-memprop-bipolar-train``, alpha currents of −580 … +560 µA
  swinging the membrane over −520 … +615 mV, dt = 10 µs, exp-euler): RMS ΔV 0.91 mV with end
  samples, 3.65 mV with step means. At dt = 1 µs, where
  the membrane is no longer much faster than a step, the two are alike (single 20 µA alpha:
  7.7 µV end, 5.6 µV mean).
* (choice) the default initial state is the zero-input equilibrium ("rest"): each device's
  x_eq(V) = a/b, and V solves G1(x1_eq)(V - v1) + G2(x2_eq)(V - v2) = 0 by bisection on
  [min(v1, v2), max(v1, v2)] (a sign change is guaranteed there); one Newton correction with the
  parameters as tensors makes the rest state differentiable in them (implicit-function gradient).
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from types import SimpleNamespace
from typing import Any, ClassVar, NamedTuple

import torch

from .._checks import (
    check_fields,
    has_values,
    require_choice,
    require_dt,
    require_finite,
    require_finite_tensor,
    require_positive,
    require_range,
)
from ._base import DeviceParams, Twin, param
from .integrators import Integrator, get_integrator
from .mss import mss_conductance_unclamped


def _unit_interval_open_left(owner, name, value):
    require_range(owner, name, value, 0.0, 1.0, lo_open=True)


def _choice(*allowed):
    return lambda owner, name, value: require_choice(owner, name, value, allowed)


@dataclasses.dataclass(frozen=True)
class MIFParams(DeviceParams):
    """Parameters of one MIF neuron (defaults: the ``memprop`` preset, Table III as mapped)."""

    r_on: float = param(1e3, "Ω", "memristor resistance with every switch ON (x = 1)")
    r_off: float = param(1e5, "Ω", "memristor resistance with every switch OFF (x = 0)")
    v_on1: float = param(0.110, "V", "M1 switching-ON threshold")
    v_off1: float = param(0.005, "V", "M1 switching-OFF threshold (acts at vd1 = -v_off1)")
    tau1: float = param(1e-3, "s", "M1 switch time constant")
    v_on2: float = param(0.110, "V", "M2 switching-ON threshold")
    v_off2: float = param(0.005, "V", "M2 switching-OFF threshold (acts at vd2 = -v_off2)")
    tau2: float = param(1e-3, "s", "M2 switch time constant")
    v_t: float = param(0.025, "V", "thermal voltage setting the switching sharpness")
    nu: float = param(0.6, "1", "volatility constant in (0, 1] (-> 0: more retentive)")
    c_mem: float = param(100e-12, "F", "membrane capacitance")
    v1: float = param(0.0, "V", "bias source behind M1")
    v2: float = param(0.050, "V", "bias source behind M2")
    pol2: float = param(-1.0, "1", "M2 polarity: -1 -> vd2 = v2 - V (memprop), +1 -> vd2 = V - v2")
    vol_form: float = param(0.0, "1", "volatility form: 0 = A (ν scales OFF rate), 1 = B (ν·x leak)")

    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {
        # Seed 002 Table III as reconstructed in docs/device-models.md §2; form A, V1 = 0, V2 = 50 mV.
        "memprop": {},
        # Repetitive firing, same topology (docs/device-models.md §2 "a circuit ... that does fire").
        "tonic": {
            "v_on1": 0.0361,
            "v_off1": -0.0485,
            "tau1": 0.737e-3,
            "v_on2": -0.0950,
            "v_off2": 0.1296,
            "tau2": 18.8e-6,
            "v_t": 0.0257,
            "v2": 0.1913,
            "pol2": 1.0,
            "vol_form": 1.0,
        },
    }

    def __post_init__(self) -> None:
        finite = require_finite
        positive = require_positive
        check_fields(
            self,
            {
                "r_on": positive,
                "r_off": positive,
                "v_on1": finite,
                "v_off1": finite,
                "tau1": positive,
                "v_on2": finite,
                "v_off2": finite,
                "tau2": positive,
                "v_t": positive,
                "nu": _unit_interval_open_left,
                "c_mem": positive,
                "v1": finite,
                "v2": finite,
                "pol2": _choice(-1.0, 1.0),
                "vol_form": _choice(0.0, 1.0),
            },
        )
        if self.r_on >= self.r_off:
            raise ValueError(
                f"MIFParams.r_on = {self.r_on!r}: must be below r_off = {self.r_off!r} "
                "(x = 1 is the low-resistance state)"
            )

    def coeffs(self, **tensors: torch.Tensor) -> MIFCoeffs:
        """These parameters as a :class:`MIFCoeffs`, with some fields replaced by tensors
        (e.g. ``c_mem=torch.tensor(1e-10, requires_grad=True)``) to differentiate through them.
        Replaced values are not validated."""
        unknown = set(tensors) - set(MIFCoeffs._fields)
        if unknown:
            raise ValueError(f"MIFParams.coeffs: unknown field(s) {sorted(unknown)}")
        return MIFCoeffs(**{**dataclasses.asdict(self), **tensors})


#: The parameter record as a NamedTuple whose fields may be floats or tensors (same names).
MIFCoeffs = NamedTuple("MIFCoeffs", [(f.name, Any) for f in dataclasses.fields(MIFParams)])


class MIFState(NamedTuple):
    """Neuron state at t_k: membrane voltage v (V) and device states x1, x2 (1)."""

    v: torch.Tensor
    x1: torch.Tensor
    x2: torch.Tensor


class MIFRates(NamedTuple):
    """Relaxation coefficients (a, b) of dy/dt = a - b·y for V, x1 and x2 at one instant."""

    a_v: torch.Tensor
    b_v: torch.Tensor
    a_x1: torch.Tensor
    b_x1: torch.Tensor
    a_x2: torch.Tensor
    b_x2: torch.Tensor


# --- pure functions of (state, params); params may be MIFParams, MIFCoeffs or floats ---------


def device_voltages(v, p):
    """(vd1, vd2): vd1 = V - v1, vd2 = pol2·(V - v2)."""
    return v - p.v1, p.pol2 * (v - p.v2)


#: G(x) = x/r_on + (1 - x)/r_off (S), x not clamped: the MSS map, shared by both devices
conductance = mss_conductance_unclamped


def switch_coeffs(vd, v_on, v_off, tau, p):
    """(a, b) of dx/dt = a - b·x for one device at device voltage ``vd``."""
    sig_on = torch.sigmoid((vd - v_on) / p.v_t)
    sig_off = torch.sigmoid(-(vd + v_off) / p.v_t)
    nu_off = p.vol_form + (1.0 - p.vol_form) * p.nu
    nu_leak = p.vol_form * p.nu
    return sig_on / tau, (sig_on + nu_off * sig_off + nu_leak) / tau


def membrane_coeffs(i_in, x1, x2, p):
    """(a, b) of dV/dt = a - b·V with the device states frozen."""
    g1, g2 = conductance(x1, p), conductance(x2, p)
    return (i_in + g1 * p.v1 + g2 * p.v2) / p.c_mem, (g1 + g2) / p.c_mem


def device_coeffs(v, p):
    """((a1, b1), (a2, b2)) of dx_i/dt = a_i - b_i·x_i with the membrane voltage frozen."""
    vd1, vd2 = device_voltages(v, p)
    return switch_coeffs(vd1, p.v_on1, p.v_off1, p.tau1, p), switch_coeffs(vd2, p.v_on2, p.v_off2, p.tau2, p)


def mif_rates(i_in, state: MIFState, p) -> MIFRates:
    """Relaxation coefficients of the three states at (i_in, state)."""
    (a1, b1), (a2, b2) = device_coeffs(state.v, p)
    return MIFRates(*membrane_coeffs(i_in, state.x1, state.x2, p), a1, b1, a2, b2)


def _device_flow(state: MIFState, p, h: float, integ: Integrator) -> MIFState:
    """Advance x1, x2 by ``h`` with V frozen (exact under exp-euler: linear in x)."""
    (a1, b1), (a2, b2) = device_coeffs(state.v, p)
    return MIFState(state.v, integ.relax(state.x1, a1, b1, h), integ.relax(state.x2, a2, b2, h))


def _membrane_flow(i_in, state: MIFState, p, h: float, integ: Integrator) -> MIFState:
    """Advance V by ``h`` with x1, x2 frozen (exact under exp-euler: linear in V)."""
    a, b = membrane_coeffs(i_in, state.x1, state.x2, p)
    return MIFState(integ.relax(state.v, a, b, h), state.x1, state.x2)


def _step_split(i_in, state, p, dt, integ):
    """Strang splitting: devices dt/2 (V_k), membrane dt, devices dt/2 (V_k+1)."""
    state = _device_flow(state, p, 0.5 * dt, integ)
    state = _membrane_flow(i_in, state, p, dt, integ)
    return _device_flow(state, p, 0.5 * dt, integ)


def _step_simultaneous(i_in, state, p, dt, integ):
    """All three states from their coefficients at t_k (MEMprop's forward Euler, Table I)."""
    r = mif_rates(i_in, state, p)
    return MIFState(
        integ.relax(state.v, r.a_v, r.b_v, dt),
        integ.relax(state.x1, r.a_x1, r.b_x1, dt),
        integ.relax(state.x2, r.a_x2, r.b_x2, dt),
    )


#: how each integrator composes the three relaxations into one step (others: simultaneous)
_STEP_SCHEMES = {"exp-euler": _step_split, "euler": _step_simultaneous}


def mif_step(i_in, state: MIFState, p, dt: float, integrator: str | Integrator = "exp-euler") -> MIFState:
    """State at t_k+1 from ``state`` at t_k under input current ``i_in`` (A) held for ``dt``.

    ``exp-euler``: Strang splitting of the two exactly solvable sub-flows (see the module
    docstring); ``euler``: plain simultaneous forward Euler.
    """
    integ = get_integrator(integrator) if isinstance(integrator, str) else integrator
    return _STEP_SCHEMES.get(integ.name, _step_simultaneous)(i_in, state, p, dt, integ)


def _detached(p) -> SimpleNamespace:
    """The parameters as float64 tensors without gradient (floats become 0-d tensors), for the
    bracket search of the rest voltage."""

    def value(x):
        return x.detach().to(torch.float64) if torch.is_tensor(x) else torch.tensor(float(x), dtype=torch.float64)

    return SimpleNamespace(**{name: value(getattr(p, name)) for name in MIFCoeffs._fields})


def _x_eq(v, p):
    """Zero-input equilibrium of both devices at membrane voltage v: x_i = a_i/b_i."""
    (a1, b1), (a2, b2) = device_coeffs(v, p)
    return a1 / b1, a2 / b2


def _rest_current(v, p):
    """Current leaving the membrane through both devices with x at equilibrium (A)."""
    x1, x2 = _x_eq(v, p)
    return conductance(x1, p) * (v - p.v1) + conductance(x2, p) * (v - p.v2)


def _bisect_rest_voltage(pf: SimpleNamespace) -> torch.Tensor:
    """Rest voltage by bisection on [min(v1, v2), max(v1, v2)], elementwise over parameter
    tensors (float64; the shape of the parameters broadcast together, 0-d for scalars)."""
    shape = torch.broadcast_shapes(*(getattr(pf, name).shape for name in MIFCoeffs._fields))
    lo = torch.minimum(pf.v1, pf.v2).expand(shape).clone()
    hi = torch.maximum(pf.v1, pf.v2).expand(shape).clone()
    for _ in range(200):
        if not bool(((hi - lo) >= 1e-15).any()):
            break
        mid = 0.5 * (lo + hi)
        up = _rest_current(mid, pf) > 0.0  # the rest current grows with V at both ends of the bracket
        hi = torch.where(up, mid, hi)
        lo = torch.where(up, lo, mid)
    return 0.5 * (lo + hi)


def mif_rest_state(p, like: torch.Tensor | None = None) -> MIFState:
    """The zero-input equilibrium (V, x1, x2) as tensors in the dtype/device of ``like``: 0-d
    for scalar parameters, elementwise (the parameters' broadcast shape) where some are tensors,
    e.g. one value per neuron (:class:`MIFCoeffs`).

    V is found by bisection in float64, then corrected once by Newton with the parameters as
    given (floats or tensors): the value is unchanged and the gradient with respect to tensor
    parameters is the implicit-function one, -∂f/∂p / f'(V).
    """
    dtype = like.dtype if like is not None else torch.float64
    device = like.device if like is not None else None
    pf = _detached(p)
    v_star = _bisect_rest_voltage(pf)
    h = 1e-7
    slope = (_rest_current(v_star + h, pf) - _rest_current(v_star - h, pf)) / (2 * h)
    v0 = v_star.to(dtype=dtype, device=device)
    slope = slope.to(dtype=dtype, device=device)
    safe = torch.where(slope != 0.0, slope, torch.ones_like(slope))
    v = torch.where(slope != 0.0, v0 - _rest_current(v0, p) / safe, v0)
    x1, x2 = _x_eq(v, p)
    return MIFState(v, x1, x2)


# --- simulation loop -------------------------------------------------------------------------


def _forward_euler_report(states: MIFState, p, dt: float, integ: Integrator) -> None:
    """Warn when dt exceeds ``integ``'s stability bound anywhere along the visited states."""
    with torch.no_grad():
        zero = torch.zeros_like(states.v)
        r = mif_rates(zero, states, p)
        worst = {}
        for name, b, formula in (
            ("V_m", r.b_v, "2·C_mem/(G1+G2)"),
            ("x1", r.b_x1, "2·tau1/(σ_on+ν_off·σ_off+ν_leak)"),
            ("x2", r.b_x2, "2·tau2/(σ_on+ν_off·σ_off+ν_leak)"),
        ):
            finite = b[torch.isfinite(b)]  # the states visited before any divergence
            b_max = finite.max().item() if finite.numel() else math.inf
            worst[name] = (integ.stable_dt(b_max), formula)
        bad = {k: v for k, v in worst.items() if dt > v[0]}
        if bad:
            diverged = not bool(torch.isfinite(states.v).all())
            details = "; ".join(f"{k}: {formula} = {bound:.3g} s" for k, (bound, formula) in bad.items())
            warnings.warn(
                f"MIF {integ.name}: dt = {dt:.3g} s exceeds the stability bound over the states "
                f"visited ({details}); the result {'diverged' if diverged else 'may be inaccurate'}",
                RuntimeWarning,
                stacklevel=3,
            )


def input_samples(trace: torch.Tensor) -> torch.Tensor:
    """Twin input samples [T, ...] of a continuous current given on the grid [T+1, ...]:
    the value at the end of each step (see the module docstring's choice)."""
    return trace[1:]


def _initial_state(state0, p, i_in: torch.Tensor) -> MIFState:
    shape = i_in.shape[1:]
    if state0 is None:
        state0 = mif_rest_state(p, like=i_in)
    elif len(state0) != 3:
        raise ValueError(f"MIF.simulate: state0 must be (v, x1, x2), got {len(state0)} items")
    out = []
    for name, value in zip(MIFState._fields, state0, strict=True):
        t = torch.as_tensor(value, dtype=i_in.dtype, device=i_in.device)
        require_finite_tensor("MIF.simulate", f"state0.{name}", t)
        out.append(t.expand(torch.broadcast_shapes(t.shape, shape)))
    return MIFState(*out)


def mif_simulate(
    i_in: torch.Tensor,
    p,
    dt: float,
    integrator: str = "exp-euler",
    state0=None,
) -> dict[str, torch.Tensor]:
    """Loop :func:`mif_step` over ``i_in`` [T, *shape] -> {"v", "x1", "x2"} [T+1, *shape].

    ``p``: MIFParams or MIFCoeffs (tensor fields are differentiated through). No input checks
    here: :meth:`MIF.simulate` is the checked entry point.
    """
    integ = get_integrator(integrator)
    state = _initial_state(state0, p, i_in)
    trace = [state]
    for k in range(i_in.shape[0]):
        state = mif_step(i_in[k], state, p, dt, integ)
        trace.append(state)
    states = MIFState(*(torch.stack(s) for s in zip(*trace, strict=True)))
    if math.isfinite(integ.stable_dt(1.0)) and has_values(states.v):
        _forward_euler_report(states, p, dt, integ)
    return states._asdict()


class MIF(Twin):
    """MIF neuron twin. ``MIF(MIF.Params())`` (memprop) or ``MIF(MIF.preset("tonic"))``."""

    Params = MIFParams

    def rest_state(self, like: torch.Tensor | None = None) -> MIFState:
        """Zero-input equilibrium (see :func:`mif_rest_state`)."""
        return mif_rest_state(self.params, like)

    def forward(self, i_in: torch.Tensor, state: MIFState, dt: float, integrator: str = "exp-euler") -> MIFState:
        """One step of :func:`mif_step` with this neuron's parameters."""
        return mif_step(i_in, state, self.params, dt, integrator)

    def simulate(
        self,
        i_in: torch.Tensor,
        dt: float,
        integrator: str = "exp-euler",
        state0: MIFState | tuple | None = None,
    ) -> dict[str, torch.Tensor]:
        """Drive with input current ``i_in`` (A; Tensor[T] or [T, *shape]) and return traces
        ``{"v", "x1", "x2"}`` shaped [T+1, *shape] (index 0 = initial state; v in V).

        ``state0`` = (v, x1, x2), broadcast to the batch shape; default: the rest state.
        Under ``integrator="euler"`` a RuntimeWarning reports a dt above the stability bound.
        """
        require_dt("MIF.simulate", dt)
        get_integrator(integrator)
        require_finite_tensor("MIF.simulate", "i_in", i_in)
        if i_in.ndim == 0 or i_in.shape[0] == 0:
            raise ValueError(
                f"MIF.simulate: i_in must have a leading time axis of length >= 1, got shape {tuple(i_in.shape)}"
            )
        if not i_in.is_floating_point():
            raise ValueError(f"MIF.simulate: i_in must be a floating-point tensor, got {i_in.dtype}")
        return mif_simulate(i_in, self.params, dt, integrator, state0)
