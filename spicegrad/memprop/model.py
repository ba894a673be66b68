r"""MEMprop network: a fully memristive spiking network trained by BPTT through the device twins.

Seed 002 (MEMprop, §III-B, §IV): alpha-current inputs weighted by pixel intensity and re-injected
every 100 steps drive a crossbar of differential MSS synapse pairs, whose bit-line currents
(attenuated by a per-layer current-scaling factor) drive a layer of MIF neurons; their membrane
voltages drive the next crossbar, and so on up to the output MIF layer. No surrogate gradient:
the MIF "spike" is an analog, differentiable response of the validated twin
(:mod:`spicegrad.devices.mif`). The loss is the negative log-likelihood of the output membrane
potentials, summed over time steps; Adam; defaults 1000 steps of 10 µs, batch 128, lr 1e-4.

Network equations (time grid t_k = k·dt, k = 0..T-1; every input sample acts on [t_k, t_k+1))::

    alpha envelope  a_k  = Σ_j α(t_k+1 - j·P·dt),  α(t) = (t/τ_α)·exp(1 - t/τ_α)
                           (unit peak, P = inject_every = 100 steps; the AlphaCurrent twin)
    word lines      u_i(t) = A_in · p_i · a(t)           p_i in [0, 1] pixel intensity (V)
    synapse pair    G±_ij = g_min + (g_max - g_min)·u±_ij,   u± in [0, 1] (trained)
                    (g_min, g_max) = kind.conductance_range(params) of the synapse device;
                    for MSS u is the state x: G = x/r_on + (1 - x)/r_off
    layer 1 input   I_j(t_k) = s_1 · a_k · Σ_i (G+_ij - G-_ij)·A_in·p_i
    layer l > 1     I_j(t_k) = s_l · Σ_i (G+_ij - G-_ij)·(V_i^{l-1}(t_k) - v_ref)
    every layer     (V, x1, x2) <- MIF step (exp-euler, Strang split) under I held on [t_k, t_k+1)
    logits          z_k = V^L(t_k+1) / logit_volt
    loss            Σ_k NLL(log_softmax(z_k), y)     (summed over steps, mean over the batch)
    prediction      argmax_c Σ_k V_c^L(t_k+1)

Modelling choices (the seed's equations and tables lost their symbols; see docs/device-models.md):

* (choice) **Weights are device states.** Each synapse is a differential pair of memristors of
  one registered ``cell`` device (``MemPropConfig.synapse``, default ``"mss"``). The trained
  parameters are the pair's normalised conductances u± in [0, 1], G = g_min + (g_max - g_min)·u
  with (g_min, g_max) = ``kind.conductance_range(params)``; the device state that realises G is
  ``kind.state_from_conductance(G)``, which the export programs through ``kind.program``. For
  MSS, G is linear in the state x over that same range, so u *is* x, the physical programming
  target (and the export writes the trained x itself as x0, not x taken through G and back,
  which would round its last bit). After every optimiser step u± are projected back onto
  [0, 1] (projected Adam), so each conductance stays in [g_min, g_max]. Training u (not G in
  siemens) keeps Adam's step size (lr in units of the device's full range) meaningful: lr 1e-4
  is 0.01 % of the range per step. (The parameters keep the names ``x_pos``/``x_neg``.)
* (choice) **Ohmic reads only.** The network's crossbar computes I = Σ_i G_ij·v_i. A device
  whose read current is not linear in v (a ``current`` that differs from v·conductance(x) at
  the probe voltages :data:`OHMIC_PROBE_V`, e.g. Yakopcic's sinh I-V, or MSS with a Schottky
  channel, phi < 1) would read I = Σ_i I(v_i, x_ij) instead; modelling that exactly costs a
  [batch, n_in, n_out] current per time step (the input crossbar's product could no longer be
  taken once per sample), so such a device is refused for MEMprop with an error saying why
  (:func:`synapse_kind`), not approximated.
* (choice) **Synapse parameters:** MSS takes ``synapse_r_on``/``synapse_r_off`` on top of
  :data:`SYNAPSE_PARAMS`; any other device takes its ``Params`` defaults (the checkpoint records
  them, and loading checks the registered device still has them).
* (choice) **Synapse devices:** the MSS ``knowm-default`` model with r_on = 1 kΩ, r_off = 100 kΩ,
  the range seed 002 §V-A quotes for its network ("R_off = 100 kΩ, R_on = 1 kΩ, average 50.5 kΩ").
  The synapses are *static* during a sample (their programmed conductance is read). That holds
  only while the word-line voltages stay well below the MSS thresholds (±0.27 V, sigmoids of
  width V_T ≈ 26 mV): a trained network's hidden membranes reach ~0.5 V, so the physical
  crossbar reads at a reduced voltage — word lines scaled by r ≤ 1 and the current gains by
  1/r, the same function — and :func:`spicegrad.memprop.drift.static_check` picks r from the actual
  traces so that every device drifts by < 1 % of its range per sample (metrics.json
  ``synapse_drift``); the check is computed, not hoped for. For any other device it steps the
  device's own twin (``kind.step``) along the read voltages: a device with hard thresholds read
  inside them does not move at all.
* (choice) **Inputs as word-line voltages.** Seed 002 injects "an alpha current weighted by the
  pixel intensity" and passes it through memristive synapses; a crossbar multiplies voltages
  (I = G·V, its Eq. 1), so the alpha generator's current is read as a voltage (into 1 Ω in the
  exported netlist): peak ``input_amplitude`` A_in = 0.1 V for a white pixel (below the
  synapses' 0.27 V threshold). Because the envelope a(t) is shared by every pixel, the first
  crossbar's matrix product is computed once per sample, not once per step.
* (choice) **Hidden layers drive the next crossbar with their membrane voltage** (minus
  ``v_ref``, default 0 V: bit lines held at virtual ground, Eq. 1-2 of the seed); the rest
  voltage (25 mV) then gives each output a learned constant bias Σ ΔG·25 mV.
* (choice) **Current scaling** s_l (seed: "the current injected to each MIF layer is attenuated
  by a scaling factor"): a fixed hyperparameter per synapse layer, default 1 for the first and
  second layer, chosen so that a freshly initialised 784-100-10 network gets input currents of
  tens of µA, where the ``memprop`` MIF responds (20 µA alpha -> 106 mV peak).
* (choice) **Layers update simultaneously:** layer l's input during [t_k, t_k+1) uses layer
  l-1's membrane voltage at t_k (one step of delay per layer, 10 µs against a 10 ms window), so
  all layers advance in one fused elementwise step on one concatenated state.
* (choice) **Logits** are output membrane voltages in units of ``logit_volt`` (10 mV): the
  seed's NLL of membrane potentials in volts would give near-uniform soft-max (differences of
  tens of mV); the scale is a temperature, documented and configurable.
* (choice) **Initialisation:** w = x+ - x- ~ U(-1/√fan_in, 1/√fan_in) around x± = 0.5
  (seeded), the usual fan-in scaling, in units of the device range.
* (choice) The MIF neurons start at the ``memprop`` rest state (V ≈ 25 mV) at every sample.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import torch
import torch.nn.functional as F

from ..devices import registry
from ..devices.alpha import AlphaCurrent, AlphaParams
from ..devices.mif import MIFParams, MIFState, input_samples, mif_rest_state, mif_step
from ..devices.mss import MSSParams
from ..devices.ohmic import OHMIC_RTOL, ohmic_deviation
from ..errors import InputError, TrainingDiverged
from .choices import DEFAULT_SYNAPSE, SYNAPSE_FIELDS
from .neurons import SHARING, LearnedNeurons, resolve_bounds

#: MSS synapse devices (choice, seed 002 §V-A): Knowm's model with the network's 1 kΩ-100 kΩ range.
SYNAPSE_PARAMS = MSSParams.preset("knowm-default").replace(r_on=1e3, r_off=1e5)
#: voltages (V) at which a synapse device that declares a ``current`` is checked to read ohmically
#: (choice: the word-line range of the network, read scale 1 down to 10 mV, both polarities)
OHMIC_PROBE_V = (-1.0, -0.3, -0.1, -0.01, 0.01, 0.1, 0.3, 1.0)


def synapse_kind(name: str, params=None) -> registry.DeviceKind:
    """The registered cell ``name`` checked for use as MEMprop synapses (``params``: its Params
    record for the ohmic check, or a callable returning it once the name is known to be good;
    default the kind's defaults). Raises :class:`InputError` naming what is wrong: not a
    registered ``cell``, a field of :data:`SYNAPSE_FIELDS` missing, a read that is not ohmic."""
    if not isinstance(name, str):
        raise InputError(f"MemPropConfig.synapse = {name!r}: the name of a registered cell device")
    cells = registry.names("cell")
    if name not in cells:
        raise InputError(f"MemPropConfig.synapse = {name!r}: not a registered cell device; registered cells are "
                         f"{', '.join(map(repr, cells))}")
    kind = registry.get(name)
    missing = [f for f in SYNAPSE_FIELDS if not kind.declares(f)]
    if missing:
        raise InputError(f"MemPropConfig.synapse = {name!r}: a MEMprop synapse device needs {', '.join(SYNAPSE_FIELDS)}; "
                         f"{name!r} declares no {', '.join(missing)}")
    if kind.declares("current"):
        _require_ohmic(kind, kind.params() if params is None else params() if callable(params) else params)
    return kind


def _require_ohmic(kind: registry.DeviceKind, params) -> None:
    """Refuse a device whose read current is not v·conductance(x) (see the module docstring)."""
    err = ohmic_deviation(kind, params, OHMIC_PROBE_V)
    if not err <= OHMIC_RTOL:
        raise InputError(
            f"MemPropConfig.synapse = {kind.name!r}: its read current is not ohmic (I differs from v·G(x) by "
            f"{err:.3g} of the largest current between {min(OHMIC_PROBE_V):g} and {max(OHMIC_PROBE_V):g} V). A MEMprop "
            "crossbar computes I = Σ G·v, and spicegrad does not model a non-linear read I = Σ I(v, x) in the network; "
            "use a device with a linear I-V")


@dataclasses.dataclass(frozen=True)
class MemPropConfig:
    """Everything that defines a MEMprop network (what a checkpoint must agree on)."""

    layers: tuple[int, ...] = (784, 100, 10)  # input features, hidden sizes..., classes
    steps: int = 1000  # time steps per sample
    dt: float = 1e-5  # s
    integrator: str = "exp-euler"
    inject_every: int = 100  # steps between alpha injections
    tau_alpha: float = AlphaParams().tau_alpha  # s (Table II/III as reconstructed)
    input_amplitude: float = 0.1  # V, word-line peak for a white pixel
    current_scale: tuple[float, ...] = ()  # per synapse layer (1); empty -> all 1.0
    v_ref: float = 0.0  # V subtracted from presynaptic membranes
    logit_volt: float = 0.01  # V per unit logit
    mif_preset: str = "memprop"
    synapse_r_on: float = SYNAPSE_PARAMS.r_on  # Ω (mss synapses only)
    synapse_r_off: float = SYNAPSE_PARAMS.r_off  # Ω (mss synapses only)
    synapse: str = DEFAULT_SYNAPSE  # a registered cell device (spicegrad.devices.registry)
    learn_mif: tuple[str, ...] = ()  # MIF fields learned with the synapses (spicegrad.memprop.neurons)
    mif_sharing: str = "layer"  # learned fields: one value per layer or per neuron
    mif_bounds: tuple[tuple[str, float, float], ...] = ()  # (name, lo, hi) replacing neurons.BOUNDS

    def __post_init__(self) -> None:
        if len(self.layers) < 2 or any(int(n) < 1 for n in self.layers):
            raise ValueError(f"MemPropConfig.layers = {self.layers!r}: need >= 2 positive sizes (inputs, ..., classes)")
        object.__setattr__(self, "layers", tuple(int(n) for n in self.layers))
        scale = tuple(float(s) for s in self.current_scale) or (1.0,) * (len(self.layers) - 1)
        if len(scale) == 1 and len(self.layers) > 2:
            scale = scale * (len(self.layers) - 1)
        if len(scale) != len(self.layers) - 1 or not all(math.isfinite(s) and s > 0 for s in scale):
            raise ValueError(
                f"MemPropConfig.current_scale = {self.current_scale!r}: need one positive factor per "
                f"synapse layer ({len(self.layers) - 1}) or a single one"
            )
        object.__setattr__(self, "current_scale", scale)
        for name in ("steps", "inject_every"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"MemPropConfig.{name} = {getattr(self, name)!r}: must be >= 1")
        for name in ("dt", "tau_alpha", "input_amplitude", "logit_volt", "synapse_r_on", "synapse_r_off"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
                raise ValueError(f"MemPropConfig.{name} = {v!r}: must be a finite number > 0")
        if self.synapse_r_on >= self.synapse_r_off:
            raise ValueError(f"MemPropConfig.synapse_r_on = {self.synapse_r_on}: must be below synapse_r_off = {self.synapse_r_off}")
        MIFParams.preset(self.mif_preset)  # raises on an unknown preset
        if isinstance(self.learn_mif, str) or isinstance(self.mif_bounds, str):
            raise InputError("MemPropConfig.learn_mif / mif_bounds: need a sequence of names / of (name, lo, hi)")
        object.__setattr__(self, "learn_mif", tuple(self.learn_mif))
        object.__setattr__(self, "mif_bounds", tuple(tuple(b) for b in self.mif_bounds))
        if self.mif_sharing not in SHARING:
            raise InputError(f"MemPropConfig.mif_sharing = {self.mif_sharing!r}: one of {', '.join(SHARING)}")
        if self.mif_bounds and not self.learn_mif:
            raise InputError("MemPropConfig.mif_bounds: bounds given, but no MIF parameter is learned (learn_mif)")
        resolve_bounds(self.learn_mif, self.mif_bounds, self.mif_params, self.mif_preset)
        synapse_kind(self.synapse, lambda: self.synapse_params)
        if self.synapse != DEFAULT_SYNAPSE:
            for name in ("synapse_r_on", "synapse_r_off"):
                if getattr(self, name) != getattr(SYNAPSE_PARAMS, name[len("synapse_"):]):
                    raise InputError(f"MemPropConfig.{name} = {getattr(self, name)!r}: applies to {DEFAULT_SYNAPSE!r} "
                                     f"synapses only; {self.synapse!r} synapses take their device's parameters")

    @property
    def mif_params(self) -> MIFParams:
        return MIFParams.preset(self.mif_preset)

    @property
    def synapse_kind(self) -> registry.DeviceKind:
        """The registry entry of the synapse device."""
        return registry.get(self.synapse)

    @property
    def synapse_params(self):
        """The synapse device's Params record: MSS with ``synapse_r_on``/``synapse_r_off`` on
        :data:`SYNAPSE_PARAMS`, any other device its defaults."""
        if self.synapse == DEFAULT_SYNAPSE:
            return SYNAPSE_PARAMS.replace(r_on=self.synapse_r_on, r_off=self.synapse_r_off)
        return registry.get(self.synapse).params()

    @property
    def synapse_range(self) -> tuple[float, float]:
        """(g_min, g_max) in S: the conductances of u = 0 and u = 1."""
        g_min, g_max = self.synapse_kind.conductance_range(self.synapse_params)
        return float(g_min), float(g_max)

    @property
    def synapse_integrator(self) -> str:
        """The integrator the synapse twin is stepped (and certified) with: exp-euler where the
        device has it, else its first."""
        integrators = self.synapse_kind.integrators
        return "exp-euler" if "exp-euler" in integrators else integrators[0]

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["mif_bounds"] = [list(b) for b in self.mif_bounds]
        return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> MemPropConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"MemPropConfig: unknown field(s) {sorted(unknown)}")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})


def alpha_envelope(cfg: MemPropConfig, dtype=torch.float32, device=None) -> torch.Tensor:
    """Unit-peak alpha train a_k [T], sampled as the MIF twin takes its input
    (:func:`spicegrad.devices.mif.input_samples`: the value at the end of each step)."""
    spikes = torch.zeros(cfg.steps, dtype=torch.float64)
    spikes[:: cfg.inject_every] = 1.0
    trace = AlphaCurrent(AlphaParams(tau_alpha=cfg.tau_alpha, w=1.0)).simulate(spikes, cfg.dt)["i"]
    return input_samples(trace).to(dtype=dtype, device=device)


# --- the fused MIF step ------------------------------------------------------------------------

#: largest |log c| of a switch-sigmoid constant for the one-exponential form (FusedMIFStep)
SHARED_EXP_LOG_MAX = 24.0
#: clamp of that exponential's exponent: c·E stays below e^(24 + 64) = e^88, float32's largest
SHARED_EXP_CLAMP = 64.0


class FusedMIFStep:
    """One exp-euler (Strang-split) MIF step with the parameters baked in as constants.

    The same equations as :func:`spicegrad.devices.mif.mif_step` with ``integrator="exp-euler"``
    (a test pins them together, rtol 1e-10). It is a deliberate fused copy of the device
    equations (G = 1/r_off + dG·x, the switch sigmoids, ν_off and ν_leak, the membrane's
    exponential relaxation), kept as such for ``torch.compile`` rather than built from
    :mod:`spicegrad.devices.mif`'s functions; its four switch sigmoids are computed from an
    exponential of the membrane voltage and its inverse (:meth:`_sigmoids`; four separate sigmoids where the
    parameters would overflow that form), so its last bits differ from theirs (~1e-16 relative at
    float64, tests/test_memprop_pin.py). It is written as a closed expression per state,
    y <- y_inf + (y - y_inf)·exp(-b·h) with y_inf = a/b (b > 0: σ_on + ν_off·σ_off never vanishes
    for thresholds a few V_T apart), a handful of elementwise ops that ``torch.compile`` fuses
    (with the crossbar products, in :meth:`MemPropNet._network_steps`) into a few kernels for the
    forward and the backward pass. Only ``exp-euler`` is written out; other integrators call
    :func:`mif_step`.

    The device half-step's coefficients (x_inf, exp(-b·dt/2)) depend on V only, and the half-step
    that ends step k and the one that starts step k+1 are both taken at V_k+1: :meth:`advance`
    takes them from the previous step and returns the new ones (the *carry*), so each step
    evaluates the sigmoids and exponentials of the devices once, not twice — the same numbers,
    about half the transcendental functions in the hot loop. Calling the object,
    ``fused(i, v, x1, x2)``, is the stand-alone form (it computes the carry at ``v`` first).
    """

    def __init__(self, p: MIFParams, dt: float, integrator: str = "exp-euler", shared_exp: bool = True):
        self.p, self.dt, self.integrator = p, float(dt), integrator
        self.c = self.constants(p)
        self.exact = integrator == "exp-euler"
        self.shared = self._shared_exponential() if shared_exp else None

    def constants(self, p) -> dict:
        """The step's constants from parameters ``p`` (:class:`MIFParams`, or :class:`MIFCoeffs`
        whose fields may be tensors, e.g. one value per neuron: learned neurons pass them to
        :meth:`advance` as ``c``; such a step is built with ``shared_exp=False``)."""
        dt = self.dt
        return dict(
            v1=p.v1, v2=p.v2, pol2=p.pol2, inv_vt=1.0 / p.v_t, v_on1=p.v_on1, v_off1=p.v_off1,
            v_on2=p.v_on2, v_off2=p.v_off2, nu_off=p.vol_form + (1.0 - p.vol_form) * p.nu, nu_leak=p.vol_form * p.nu,
            k1=-0.5 * dt / p.tau1, k2=-0.5 * dt / p.tau2, dg=1.0 / p.r_on - 1.0 / p.r_off,
            g_off=1.0 / p.r_off, km=-dt / p.c_mem, params=p,
        )

    def _shared_exponential(self) -> dict | None:
        """Constants for the four switch sigmoids from one exponential and its inverse, or None where a constant
        would leave the float range (thresholds far beyond ``SHARED_EXP_LOG_MAX``·V_T).

        With E = exp(-vd1/V_T) every sigmoid argument is ±vd1/V_T plus a constant (vd2 = pol2·(V -
        v2) = -pol2·vd1 + pol2·(v1 - v2), pol2 = ±1), so σ(w) = 1/(1 + exp(-w)) = 1/(1 + c·E^s)
        with c = exp(constant) and s = ±1: two exps per neuron (E and 1/E) where four sigmoids took four."""
        p, iv = self.p, 1.0 / self.p.v_t
        d21 = (p.v2 - p.v1) * iv
        if p.pol2 > 0:  # vd2 = V - v2: exp(-vd2/V_T) = E·exp(d21)
            logs = {"on2": p.v_on2 * iv + d21, "off2": p.v_off2 * iv - d21}
            powers = {"on2": 1, "off2": -1}
        else:  # vd2 = v2 - V: exp(-vd2/V_T) = exp(-d21)/E
            logs = {"on2": p.v_on2 * iv - d21, "off2": p.v_off2 * iv + d21}
            powers = {"on2": -1, "off2": 1}
        logs.update(on1=p.v_on1 * iv, off1=p.v_off1 * iv)
        powers.update(on1=1, off1=-1)
        if max(abs(x) for x in logs.values()) > SHARED_EXP_LOG_MAX:
            return None
        return {k: (math.exp(logs[k]), powers[k]) for k in ("on1", "off1", "on2", "off2")}

    def _sigmoids(self, v, c):
        """(σ_on1, σ_off1, σ_on2, σ_off2) at membrane ``v``."""
        if self.shared is not None:
            # E = exp(-vd1/V_T) and 1/E = exp(+vd1/V_T), the exponent clamped to ±SHARED_EXP_CLAMP so
            # that c·E and c/E stay finite: the clamp acts only where every sigmoid is within
            # exp(-(SHARED_EXP_CLAMP - SHARED_EXP_LOG_MAX)) = e^-40 of 0 or 1. 1/E is an exponential
            # of its own, not c/E by division: the division's gradient, -c/E², underflows E² to 0
            # in float32 beyond |vd1| ≈ 44·V_T and gave NaN gradients (a 784-100-10 network whose
            # output membrane reached 1.23 V at lr 1e-3, seed 2); two exponentials still replace four sigmoids.
            a = ((c["v1"] - v) * c["inv_vt"]).clamp(-SHARED_EXP_CLAMP, SHARED_EXP_CLAMP)
            e, e_inv = torch.exp(a), torch.exp(-a)
            return tuple(1.0 / (1.0 + k * (e if power > 0 else e_inv)) for k, power in
                         (self.shared[name] for name in ("on1", "off1", "on2", "off2")))
        vd1 = v - c["v1"]
        vd2 = c["pol2"] * (v - c["v2"])
        return (torch.sigmoid((vd1 - c["v_on1"]) * c["inv_vt"]), torch.sigmoid(-(vd1 + c["v_off1"]) * c["inv_vt"]),
                torch.sigmoid((vd2 - c["v_on2"]) * c["inv_vt"]), torch.sigmoid(-(vd2 + c["v_off2"]) * c["inv_vt"]))

    def carry(self, v, c: dict | None = None):
        """Half-step device coefficients at membrane ``v``: (x1_inf, e1, x2_inf, e2); () for the
        generic integrators, which carry nothing. ``c``: :meth:`constants` (default the step's own)."""
        if not self.exact:
            return ()
        c = self.c if c is None else c
        on1, off1, on2, off2 = self._sigmoids(v, c)
        b1 = on1 + c["nu_off"] * off1 + c["nu_leak"]
        b2 = on2 + c["nu_off"] * off2 + c["nu_leak"]
        return on1 / b1, torch.exp(c["k1"] * b1), on2 / b2, torch.exp(c["k2"] * b2)

    @staticmethod
    def _relax(x1, x2, carry):
        inf1, e1, inf2, e2 = carry
        return inf1 + (x1 - inf1) * e1, inf2 + (x2 - inf2) * e2

    def advance(self, i_in, v, x1, x2, carry, c: dict | None = None):
        """One step from (v, x1, x2) with ``carry`` = :meth:`carry` (v); returns the new state
        and the carry at the new membrane voltage. ``c``: :meth:`constants` (default the step's own)."""
        c = self.c if c is None else c
        if not self.exact:
            return (*mif_step(i_in, MIFState(v, x1, x2), c["params"], self.dt, self.integrator), ())
        x1, x2 = self._relax(x1, x2, carry)
        g1 = c["g_off"] + c["dg"] * x1
        g2 = c["g_off"] + c["dg"] * x2
        gt = g1 + g2
        v_inf = (i_in + g1 * c["v1"] + g2 * c["v2"]) / gt
        v = v_inf + (v - v_inf) * torch.exp(c["km"] * gt)
        carry = self.carry(v, c)
        x1, x2 = self._relax(x1, x2, carry)
        return v, x1, x2, carry

    def __call__(self, i_in, v, x1, x2):
        return self.advance(i_in, v, x1, x2, self.carry(v))[:3]


# --- the network -------------------------------------------------------------------------------


def pair_conductance(u, g_range: tuple[float, float]):
    """G = g_min + (g_max - g_min)·u in S for normalised conductances ``u`` (tensor, array or
    float; not clamped). For MSS the same arithmetic as
    :func:`spicegrad.devices.mss.mss_conductance_unclamped`, so the same bits."""
    g_min, g_max = g_range
    return g_min + (g_max - g_min) * u


class NonFiniteError(TrainingDiverged, FloatingPointError):
    """The forward pass produced a non-finite state; says which layer and step."""


class MemPropNet(torch.nn.Module):
    """The MEMprop network of :class:`MemPropConfig`; parameters are the synapse pairs'
    normalised conductances u± in [0, 1] (``x_pos``/``x_neg``; the MSS states x± for MSS).

    ``forward(images [B, F]) -> V_out [T, B, classes]`` (volts, at t_1..t_T); with
    ``record=True`` it returns a dict that also holds every layer's membrane trace.
    """

    def __init__(self, cfg: MemPropConfig, generator: torch.Generator | None = None, compile: bool = False,
                 chunk: int = 10):
        super().__init__()
        if isinstance(chunk, bool) or not isinstance(chunk, int) or chunk < 1:
            raise ValueError(f"MemPropNet: chunk = {chunk!r}: the number of time steps per compiled call, an integer >= 1")
        self.cfg = cfg
        self.chunk = chunk
        self.g_range = cfg.synapse_range
        self.x_pos = torch.nn.ParameterList()
        self.x_neg = torch.nn.ParameterList()
        for n_in, n_out in zip(cfg.layers[:-1], cfg.layers[1:], strict=True):
            bound = 1.0 / math.sqrt(n_in)
            w = (torch.rand(n_in, n_out, generator=generator, dtype=torch.float64) * 2 - 1) * bound
            self.x_pos.append(torch.nn.Parameter((0.5 + 0.5 * w).float()))
            self.x_neg.append(torch.nn.Parameter((0.5 - 0.5 * w).float()))
        self.register_buffer("envelope", alpha_envelope(cfg), persistent=False)
        # co-designed neurons (cfg.learn_mif): their constants are per-neuron tensors, rebuilt
        # every forward from the learned values, so the step takes them as an argument
        self.neurons = (LearnedNeurons(cfg.mif_params, cfg.mif_preset, cfg.learn_mif, cfg.mif_sharing, cfg.mif_bounds,
                                       list(cfg.layers[1:])) if cfg.learn_mif else None)
        self.step = FusedMIFStep(cfg.mif_params, cfg.dt, cfg.integrator, shared_exp=self.neurons is None)
        # torch.compile fuses ``chunk`` network steps (matmuls, concatenation, MIF updates) into one
        # graph: a few kernels per step for the forward and the backward pass, but one Python call,
        # one guard check and one autograd node per chunk instead of per step (at batch 128 and a
        # few hundred neurons that per-call overhead, not the arithmetic, is what a one-step graph
        # costs), and the partitioner keeps only the chunk's boundary and its crossbar inputs for
        # the backward pass, recomputing the elementwise rest. Eager is the reference.
        self._compiled_steps = torch.compile(self._network_steps, dynamic=False, fullgraph=True) if compile else None
        rest = mif_rest_state(cfg.mif_params)
        self.rest = tuple(float(t) for t in rest)
        self.sizes = list(cfg.layers[1:])
        self.offsets = [0]
        for n in self.sizes:
            self.offsets.append(self.offsets[-1] + n)

    @property
    def n_layers(self) -> int:
        return len(self.x_pos)

    def conductances(self, layer: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(G+, G-) of synapse layer ``layer`` in S, shaped [n_in, n_out]."""
        return pair_conductance(self.x_pos[layer], self.g_range), pair_conductance(self.x_neg[layer], self.g_range)

    def weights(self, layer: int) -> torch.Tensor:
        """Effective transconductance s_l·(G+ - G-) (A/V), shaped [n_in, n_out]."""
        g_pos, g_neg = self.conductances(layer)
        return self.cfg.current_scale[layer] * (g_pos - g_neg)

    def synapse_parameters(self) -> list[torch.nn.Parameter]:
        """The synapse pairs' normalised conductances (projected onto [0, 1] after each step)."""
        return list(self.x_pos) + list(self.x_neg)

    def neuron_parameters(self) -> list[torch.nn.Parameter]:
        """The learned neurons' unconstrained parameters θ (none for the seed neuron)."""
        return [] if self.neurons is None else list(self.neurons.parameters())

    @torch.no_grad()
    def project_(self) -> None:
        """Put every u± back into [0, 1] (conductance into [g_min, g_max])."""
        for p in self.synapse_parameters():
            p.clamp_(0.0, 1.0)

    def neuron_params(self, layer: int) -> list[MIFParams]:
        """The MIF parameters of every neuron of MIF layer ``layer`` (0-based), as floats."""
        if self.neurons is None:
            return [self.cfg.mif_params] * self.sizes[layer]
        return self.neurons.layer_params(layer)

    def _mif_constants(self, like: torch.Tensor):
        """(step constants, rest state) of the network's neurons: the step's own and the seed's
        rest for the seed neuron; per-neuron tensors, rebuilt from the learned values (so the
        gradient reaches them, the rest state's through its implicit function), when learned."""
        if self.neurons is None:
            return None, tuple(torch.full((), r, dtype=like.dtype, device=like.device) for r in self.rest)
        coeffs = self.neurons.coeffs(like.dtype)
        return self.step.constants(coeffs), tuple(mif_rest_state(coeffs, like=like))

    def _network_step(self, env_k, u, v, x1, x2, carry, c, *ws):
        """All layers one step: inputs from the envelope (layer 1) and from the previous
        layer's membrane at t_k (layers > 1), then the fused MIF step on the joint state
        (``carry``: :meth:`FusedMIFStep.carry` at ``v``; the new one is returned last;
        ``c``: the learned neurons' step constants, None for the seed neuron's)."""
        currents = [env_k * u]
        for layer, w in enumerate(ws, start=1):
            pre = v[:, self.offsets[layer - 1]: self.offsets[layer]]
            currents.append((pre - self.cfg.v_ref) @ w)
        i_in = currents[0] if len(currents) == 1 else torch.cat(currents, dim=1)
        return self.step.advance(i_in, v, x1, x2, carry, c)

    def _network_steps(self, envs, u, v, x1, x2, carry, c, *ws):
        """``len(envs)`` network steps (:meth:`_network_step`) in a row; returns the output
        layer's membranes after each, stacked [len(envs), B, classes], then the final state."""
        lo_out = self.offsets[-2]
        outs = []
        for k in range(envs.shape[0]):
            v, x1, x2, carry = self._network_step(envs[k], u, v, x1, x2, carry, c, *ws)
            outs.append(v[:, lo_out:])
        return torch.stack(outs), v, x1, x2, carry

    def forward(self, images: torch.Tensor, record: bool = False, check_finite: bool = False, eager: bool = False):
        """``eager=True`` bypasses the compiled steps (e.g. for a one-off batch of another shape);
        ``record`` and ``check_finite`` run eagerly, one step at a time."""
        c = self.cfg
        b = images.shape[0]
        x = images.reshape(b, -1).to(self.x_pos[0].dtype)
        if x.shape[1] != c.layers[0]:
            raise ValueError(f"MemPropNet: images have {x.shape[1]} features, the network expects {c.layers[0]}")
        weights = [self.weights(layer) for layer in range(self.n_layers)]
        # The input envelope is shared by every pixel: one matrix product per sample.
        u = (c.input_amplitude * x) @ weights[0]  # A at unit envelope, [B, n_1]
        n_total = self.offsets[-1]
        consts, rest = self._mif_constants(x)
        v, x1, x2 = (r.expand(b, n_total).contiguous() for r in rest)
        env = self.envelope.to(device=x.device, dtype=x.dtype)
        lo_out = self.offsets[-2]
        carry = self.step.carry(v, consts)
        if self._compiled_steps is not None and not (eager or check_finite or record):
            outs = []
            for k in range(0, c.steps, self.chunk):
                out, v, x1, x2, carry = self._compiled_steps(env[k: k + self.chunk], u, v, x1, x2, carry, consts,
                                                             *weights[1:])
                outs.append(out)
            return torch.cat(outs)
        outs, trace = [], []
        for k in range(c.steps):
            v, x1, x2, carry = self._network_step(env[k], u, v, x1, x2, carry, consts, *weights[1:])
            if check_finite:
                self._check_finite(k, v, x1, x2)
            outs.append(v[:, lo_out:])
            if record:
                trace.append(v.detach())
        v_out = torch.stack(outs)
        if not record:
            return v_out
        full = torch.stack(trace)
        return {
            "v_out": v_out,
            "layers": [full[:, :, self.offsets[i]: self.offsets[i + 1]] for i in range(len(self.sizes))],
            "input_current": (env[:, None, None] * u[None]).detach(),
        }

    def _check_finite(self, k: int, *states: torch.Tensor) -> None:
        for name, s in zip(("V", "x1", "x2"), states, strict=True):
            bad = ~torch.isfinite(s)
            if bad.any():
                col = int(bad.nonzero()[0, 1])
                layer = max(i for i in range(len(self.sizes)) if self.offsets[i] <= col)
                raise NonFiniteError(
                    f"MIF layer {layer + 1} of {len(self.sizes)} ({'output' if layer == len(self.sizes) - 1 else 'hidden'}), "
                    f"neuron {col - self.offsets[layer]}: state {name} became non-finite at step {k} "
                    f"(t = {(k + 1) * self.cfg.dt:.6g} s)"
                )


def memprop_loss(v_out: torch.Tensor, labels: torch.Tensor, logit_volt: float) -> torch.Tensor:
    """Σ_k NLL(log_softmax(V_k / logit_volt), y), averaged over the batch (seed 002 §IV-C)."""
    t, b, n = v_out.shape
    logits = (v_out / logit_volt).reshape(t * b, n)
    return F.cross_entropy(logits, labels.repeat(t), reduction="sum") / b


def predict(v_out: torch.Tensor) -> torch.Tensor:
    """Class with the largest time-summed output membrane potential."""
    return v_out.sum(0).argmax(-1)
