r"""Knowm metastable-switch (MSS) memristor: differentiable twin of ``spicegrad/models/mss.lib``.

Molter & Nugent, "The generalized metastable switch memristor model", CNNA 2016
(arXiv:1608.04659); the forms of Knowm's public Xyce/LTspice models and jspice.

State x in [0, 1] is the fraction of metastable switches that are ON; v = V(te) - V(be);
V_T = k·T/q with k = 1.380649e-23 J/K, q = 1.602176634e-19 C::

    P_on(v)  = σ((v - v_on)/V_T)            OFF -> ON rate factor
    P_off(v) = σ(-(v + v_off)/V_T)          ON -> OFF rate factor
    dx/dt    = [(1 - x)·P_on(v) - x·P_off(v)] / tau
    G(x)     = x/r_on + (1 - x)/r_off
    I        = phi·v·G(x) + (1 - phi)·(alpha_f·e^{beta_f·v} - alpha_r·e^{-beta_r·v})

In relaxation form dx/dt = a - b·x with a = P_on/tau and b = (P_on + P_off)/tau, so
:mod:`~spicegrad.devices.integrators` advances it: ``euler`` (default; jspice's update, stable
for dt < tau and monotone, keeping x in [0, 1] without a clamp, for dt <= tau/2) or
``exp-euler`` (exact for v held over the step).

Stochastic finite-N mode (jspice): per step the number of switches turning ON is
Binomial((1 - x)·N, p_a) and OFF is Binomial(x·N, p_b), p_a = dt·P_on/tau, p_b = dt·P_off/tau,
approximated by Gaussians and reparameterised (x + mean + std·ξ, ξ ~ N(0, 1) from a seedable
generator) so gradients flow. Its mean is exactly one forward-Euler step of the ODE.

Modelling choices (sources leave these open):

* (choice) x is clamped to [0, 1] only inside G(x): a clamp in the ODE would zero the gradient.
  The stochastic mode may leave x a hair outside [0, 1]; the binomial variances use the
  clamped x so they stay non-negative.
* (choice) Time grid t_k = k·dt; input sample v_k acts on [t_k, t_k+1); the current trace is
  i_k = I(v_k, x_k) for k < T and i_T = I(v_{T-1}, x_T) (the last sample held).
* (choice) The stochastic mode always takes the Euler (jspice) update, whatever ``integrator``.
"""

from __future__ import annotations

import dataclasses
import warnings
from typing import ClassVar

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

BOLTZMANN = 1.380649e-23  # J/K (exact, SI 2019)
ELEMENTARY_CHARGE = 1.602176634e-19  # C (exact, SI 2019)


@dataclasses.dataclass(frozen=True)
class MSSParams(DeviceParams):
    """Parameters of one MSS memristor (defaults: Knowm's public model, ``knowm-default``)."""

    r_on: float = param(500.0, "Ω", "resistance with every switch ON (x = 1)")
    r_off: float = param(1500.0, "Ω", "resistance with every switch OFF (x = 0)")
    v_on: float = param(0.27, "V", "switching-ON threshold voltage (> 0)")
    v_off: float = param(0.27, "V", "switching-OFF threshold magnitude (> 0; acts at v = -v_off)")
    tau: float = param(1e-4, "s", "switch time constant")
    temperature: float = param(298.5, "K", "device temperature, sets V_T = kT/q")
    phi: float = param(1.0, "1", "fraction of current through the memristive channel (1: no Schottky term)")
    alpha_f: float = param(0.0, "A", "forward Schottky prefactor")
    beta_f: float = param(0.0, "1/V", "forward Schottky exponent")
    alpha_r: float = param(0.0, "A", "reverse Schottky prefactor")
    beta_r: float = param(0.0, "1/V", "reverse Schottky exponent")
    n_switches: int = param(10_000, "1", "switches per device, for the stochastic mode (twin only)")

    TWIN_ONLY: ClassVar[tuple[str, ...]] = ("n_switches",)
    PRESETS: ClassVar[dict[str, dict]] = {
        # Knowm's public MSS model (LTspice/Xyce, jspice): Molter & Nugent 2016.
        "knowm-default": {},
        # Same device with a Schottky diode channel (phi = 0.8), Knowm's public model, T = 300 K.
        "knowm-schottky": {
            "temperature": 300.0,
            "phi": 0.8,
            "alpha_f": 8e-4,
            "beta_f": 4.0,
            "alpha_r": 8e-4,
            "beta_r": 4.0,
        },
    }

    def __post_init__(self) -> None:
        check_fields(
            self,
            {
                "r_on": positive,
                "r_off": positive,
                "v_on": positive,
                "v_off": positive,
                "tau": positive,
                "temperature": positive,
                "phi": lambda o, n, v: require_range(o, n, v, 0.0, 1.0),
                "alpha_f": non_negative,
                "beta_f": non_negative,
                "alpha_r": non_negative,
                "beta_r": non_negative,
            },
        )
        if self.r_on >= self.r_off:
            raise ValueError(
                f"MSSParams.r_on = {self.r_on!r} must be below r_off = {self.r_off!r} "
                "(x = 1 is the low-resistance state)"
            )
        if isinstance(self.n_switches, bool) or not isinstance(self.n_switches, int) or self.n_switches < 1:
            raise ValueError(f"MSSParams.n_switches = {self.n_switches!r}: must be an integer >= 1")

    @property
    def v_t(self) -> float:
        """Thermal voltage kT/q (V)."""
        return BOLTZMANN * self.temperature / ELEMENTARY_CHARGE

    def x_from_resistance(self, r_init: float) -> float:
        """State x0 whose resistance is ``r_init`` (Ω), which must lie in [r_on, r_off]."""
        require_range("MSSParams", "r_init", r_init, self.r_on, self.r_off)
        return self.r_on * (r_init - self.r_off) / (r_init * (self.r_on - self.r_off))


def mss_rates(v: torch.Tensor, p: MSSParams) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(P_on, P_off, ) rate factors and the relaxation coefficients a, b of dx/dt = a - b·x."""
    p_on = torch.sigmoid((v - p.v_on) / p.v_t)
    p_off = torch.sigmoid(-(v + p.v_off) / p.v_t)
    return p_on, p_off, (p_on + p_off) / p.tau


def mss_conductance_unclamped(x, p):
    """G(x) = x/r_on + (1 - x)/r_off in S, x not clamped: the one definition of the MSS
    conductance. Plain arithmetic, so numpy arrays, tensors and floats alike; ``p`` is any record
    with ``r_on`` and ``r_off`` (MSSParams, and the MIF's devices through
    :func:`spicegrad.devices.mif.conductance`). On [0, 1] it equals :func:`mss_conductance`.

    (choice) Evaluated as g_min + (g_max - g_min)·x with (g_min, g_max) =
    :func:`mss_conductance_range`: G(0) is 1/r_off exactly, the inverse
    :func:`mss_state_from_conductance` is the same algebra, and a float32 G(1) stays at or below
    1/r_on for the MEMprop synapses (float32 1e-3 itself lies above 1 mS)."""
    g_min, g_max = mss_conductance_range(p)
    return g_min + (g_max - g_min) * x


def mss_conductance(x: torch.Tensor, p: MSSParams) -> torch.Tensor:
    """G(x) in S, with x clamped to [0, 1] here only (:func:`mss_conductance_unclamped` of the
    clamped state)."""
    return mss_conductance_unclamped(x.clamp(0.0, 1.0), p)


def mss_conductance_range(p: MSSParams) -> tuple[float, float]:
    """(g_min, g_max) = (1/r_off, 1/r_on) in S: the conductances of x = 0 and x = 1 (dG/dx is
    g_max - g_min). Any record with ``r_on`` and ``r_off``."""
    return 1.0 / p.r_off, 1.0 / p.r_on


def mss_state_from_conductance(g, p: MSSParams):
    """The state x whose G(x) is ``g`` (S): x = (g - 1/r_off)/(1/r_on - 1/r_off), the inverse of
    :func:`mss_conductance` on [0, 1]. Plain arithmetic: numpy arrays, tensors and floats alike."""
    g_min, g_max = mss_conductance_range(p)
    return (g - g_min) / (g_max - g_min)


def mss_current(v: torch.Tensor, x: torch.Tensor, p: MSSParams) -> torch.Tensor:
    """Device current te -> be (A)."""
    i = p.phi * v * mss_conductance(x, p)
    if p.phi < 1.0:
        i = i + (1.0 - p.phi) * (p.alpha_f * torch.exp(p.beta_f * v) - p.alpha_r * torch.exp(-p.beta_r * v))
    return i


def mss_step(
    v: torch.Tensor,
    x: torch.Tensor,
    p: MSSParams,
    dt: float,
    integrator: str = "euler",
    noise: torch.Tensor | None = None,
) -> torch.Tensor:
    """x_{k+1} from x_k under v_k held for dt. ``noise`` (ξ ~ N(0,1), shaped like x) selects
    the stochastic finite-N update."""
    p_on, p_off, b = mss_rates(v, p)
    if noise is None:
        return get_integrator(integrator).relax(x, p_on / p.tau, b, dt)
    xc = x.clamp(0.0, 1.0)
    pa, pb = dt * p_on / p.tau, dt * p_off / p.tau
    mean = (1.0 - x) * pa - x * pb
    var = ((1.0 - xc) * pa * (1.0 - pa) + xc * pb * (1.0 - pb)) / p.n_switches
    return x + mean + torch.sqrt(var.clamp_min(0.0) + 1e-30) * noise


def mss_affine_step(v: torch.Tensor, p: MSSParams, dt: float, integrator: str = "euler"):
    """(alpha, beta) with mss_step(v, x) = alpha·x + beta for every state x: dx/dt = a - b·x has
    a and b functions of v only, and both integrators are affine in x."""
    relax = get_integrator(integrator).relax
    p_on, _, b = mss_rates(v, p)
    beta = relax(torch.zeros_like(v), p_on / p.tau, b, dt)
    return relax(torch.ones_like(v), torch.zeros_like(v), b, dt), beta


def _stability_report(v: torch.Tensor, x: torch.Tensor, p: MSSParams, dt: float, integrator: str) -> None:
    """Warn when dt exceeds the integrator's stability bound 2/b, b = (P_on + P_off)/tau, at the
    voltages applied (forward Euler; exp-euler is exact for a held voltage and never warns)."""
    integ = get_integrator(integrator)
    if not (has_values(v) and has_values(x)):
        return
    with torch.no_grad():
        b_max = float(mss_rates(v, p)[2].max())
        bound = integ.stable_dt(b_max)
        if dt > bound or not bool(torch.isfinite(x).all()):
            bad = ~torch.isfinite(x) | (x < -1e-9) | (x > 1 + 1e-9)
            what = "diverged" if bool(bad.any()) else "may be inaccurate"
            warnings.warn(
                f"MSS {integ.name}: dt = {dt:.3g} s exceeds the stability bound 2·tau/(P_on+P_off) = {bound:.3g} s at "
                f"the voltages applied; the result {what} (x left [0, 1]: {bool(bad.any())}). Use a smaller dt, "
                "or integrator='exp-euler', which is stable at any dt",
                RuntimeWarning, stacklevel=3)


class MSS(Twin):
    """MSS memristor twin. ``MSS(MSS.Params(...))``; :meth:`simulate` runs a voltage trace."""

    Params = MSSParams

    def forward(self, v: torch.Tensor, x: torch.Tensor, dt: float, integrator: str = "euler"):
        """One step: returns (i_k, x_{k+1})."""
        return mss_current(v, x, self.params), mss_step(v, x, self.params, dt, integrator)

    def simulate(
        self,
        v: torch.Tensor,
        dt: float,
        x0: float | torch.Tensor = 0.0,
        integrator: str = "euler",
        stochastic: bool = False,
        generator: torch.Generator | None = None,
    ) -> dict[str, torch.Tensor]:
        """Drive with voltages ``v`` (V; Tensor[T] or [T, *shape]) and return traces
        ``{"x", "i"}`` shaped [T+1, *shape] (index 0 = initial state, i in A).

        ``stochastic=True`` runs the finite-N mode with ``params.n_switches`` switches and
        noise drawn from ``generator`` (seed it for reproducible runs).
        """
        require_dt("MSS.simulate", dt)
        get_integrator(integrator)
        require_finite_tensor("MSS.simulate", "v", v)
        if v.ndim == 0 or v.shape[0] == 0:
            raise ValueError(f"MSS.simulate: v must have a leading time axis of length >= 1, got shape {tuple(v.shape)}")
        x = torch.as_tensor(x0, dtype=v.dtype, device=v.device)
        if not torch.is_tensor(x0):
            require_range("MSS.simulate", "x0", float(x0), 0.0, 1.0)
        elif has_values(x) and ((x < 0) | (x > 1)).any():
            raise ValueError(f"MSS.simulate: x0 has values outside [0, 1] (min {x.min().item():g}, max {x.max().item():g})")
        x = x.expand(v.shape[1:]) if x.ndim == 0 else x
        xs, currents = [x], []
        for k in range(v.shape[0]):
            noise = None
            if stochastic:
                noise = torch.randn(x.shape, generator=generator, dtype=v.dtype, device=v.device)
            currents.append(mss_current(v[k], x, self.params))
            x = mss_step(v[k], x, self.params, dt, integrator, noise)
            xs.append(x)
        currents.append(mss_current(v[-1], x, self.params))
        out = {"x": torch.stack(xs), "i": torch.stack(currents)}
        _stability_report(v, out["x"], self.params, dt, integrator)
        return out
