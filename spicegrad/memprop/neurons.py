r"""Co-designed MIF neurons: device parameters learned with the synapses, inside physical bounds.

The seed's ``memprop`` neuron answers the network's alpha drive almost linearly (its time-mean
membrane is within 1 % of a straight line over ±300 µA, ``benchmarks/memprop_ceiling.py``), so a
784-100-10 MEMprop network is close to a linear classifier. The thresholds of its two
memristors are what bend that line: at v_on = 110 mV both devices are ON over most of the range
(a near-linear ~1.6 kΩ load); raising v_on leaves small inputs on the OFF branch and clamps
large ones, a saturating response (time-mean deviation from a line 12 % at v_on = 0.3 V); the
bias sources v1, v2 shift and tilt it. Time constants and c_mem barely change the time-mean
response (1 ms -> 50 µs: 1.0 -> 1.5 %; c_mem ×100: none). Hence the default learned set
:data:`spicegrad.memprop.choices.DEFAULT_LEARNED`: both thresholds and both bias voltages.

Parameterisation (choice): each learned field p of each layer (``sharing="layer"``) or each
neuron (``"neuron"``) is p = lo + (hi - lo)·σ(θ) with θ unconstrained and trained by Adam
(``mif_lr``); fields that are positive scales (time constants, resistances, capacitance) use
the same map on log p. So every value stays strictly inside its bounds whatever the optimiser
or a checkpoint file does, and θ starts where p equals the seed preset's value (bounds must
contain it, strictly). :data:`BOUNDS` holds the default bounds with their provenance;
``mif_bounds`` may narrow or move them, within :data:`HARD_LIMITS`.

Bounds keep the devices physical; they do not prove the twin accurate there. That is the
certificates' job: training certifies every distinct learned parameter set at the training dt
and integrator against ngspice after each epoch (:func:`spicegrad.memprop.train.certify_neurons`)
and stops, naming the layer, the values and their bounds, when one fails.
"""

from __future__ import annotations

import dataclasses
import math
from typing import NamedTuple

import torch

from ..devices.mif import MIFCoeffs, MIFParams
from ..errors import InputError
from .choices import SHARING


class Bound(NamedTuple):
    """Physical range of one MIF field: [lo, hi] in the field's unit, on a log scale or not."""

    lo: float
    hi: float
    unit: str
    log: bool
    source: str


_THRESHOLD = Bound(0.05, 0.40, "V", False,
                   "above 2·V_T (an OFF state at rest) and up to about 1.5x the 0.27 V threshold of Knowm's public MSS "
                   "model; Table III's 110 mV in between")
_OFF_THRESHOLD = Bound(-0.05, 0.27, "V", False,
                       "Table III's 5 mV and the tonic preset's -48.5 mV inside; at most Knowm's 0.27 V")
_BIAS = Bound(-0.25, 0.25, "V", False,
              "bias sources within half the membrane swing the certification cases cover (-520...+620 mV); "
              "Table III's 0 and 50 mV inside")
_TAU = Bound(0.25e-3, 10e-3, "s", True,
             "from where the twin at dt = 10 µs still meets the 1 mV tolerance of the bipolar alpha train "
             "(0.99 mV measured at 0.2 ms) up to 10x Table III's 1 ms")

#: default bounds of the learnable MIF fields (v_t, pol2 and vol_form are not learnable: a
#: thermal voltage is set by temperature, the other two are circuit topology)
BOUNDS: dict[str, Bound] = {
    "v_on1": _THRESHOLD,
    "v_on2": _THRESHOLD,
    "v_off1": _OFF_THRESHOLD,
    "v_off2": _OFF_THRESHOLD,
    "v1": _BIAS,
    "v2": _BIAS,
    "tau1": _TAU,
    "tau2": _TAU,
    "c_mem": Bound(10e-12, 1e-9, "F", True, "on-chip membrane capacitors, 10 pF to 1 nF (Table III: 100 pF)"),
    "r_on": Bound(200.0, 1e4, "Ω", True, "Table III's 1 kΩ and Knowm's 500 Ω inside; below every r_off bound"),
    "r_off": Bound(2e4, 1e6, "Ω", True, "Table III's 100 kΩ inside; at least 2x every r_on bound"),
    "nu": Bound(0.05, 1.0, "1", False, "volatility constant in (0, 1] (Table III: 0.6)"),
}
#: the widest a bound may be made with ``mif_bounds`` (SI units): the ranges over which the MIF
#: equations stay physical and the certification cases can judge the twin (membrane swings of
#: about ±1 V); beyond :data:`BOUNDS` every value still has to pass certification
HARD_LIMITS: dict[str, tuple[float, float]] = {
    "v_on1": (-1.0, 1.0), "v_on2": (-1.0, 1.0), "v_off1": (-1.0, 1.0), "v_off2": (-1.0, 1.0),
    "v1": (-1.0, 1.0), "v2": (-1.0, 1.0), "tau1": (1e-7, 1.0), "tau2": (1e-7, 1.0), "c_mem": (1e-13, 1e-7),
    "r_on": (10.0, 1e8), "r_off": (10.0, 1e8), "nu": (1e-3, 1.0),
}
_NOT_LEARNABLE = {"v_t": "a thermal voltage, set by temperature", "pol2": "circuit topology (±1)",
                  "vol_form": "a choice of volatility form (0 or 1)"}


def resolve_bounds(learned: tuple[str, ...], overrides: tuple[tuple[str, float, float], ...], seed: MIFParams,
                   preset: str) -> dict[str, Bound]:
    """The bounds of each learned field: :data:`BOUNDS` with ``overrides`` (name, lo, hi)
    applied, checked. Raises :class:`InputError` naming the field and the bound: a name that
    is not an MIF field or not learnable, lo >= hi, a log-scale bound at or below 0, ν above 1,
    a bound that does not contain the seed preset's value strictly, r_on able to reach r_off."""
    fields = [f.name for f in dataclasses.fields(MIFParams)]
    for name in learned:
        if name not in fields:
            raise InputError(f"learned MIF parameter {name!r}: not an MIF field; the MIF fields are {', '.join(fields)}")
        if name in _NOT_LEARNABLE:
            raise InputError(f"learned MIF parameter {name!r}: not learnable ({_NOT_LEARNABLE[name]}); learnable: "
                             f"{', '.join(BOUNDS)}")
    if len(set(learned)) != len(learned):
        raise InputError(f"learned MIF parameters {list(learned)}: a field is named twice")
    bounds = {name: BOUNDS[name] for name in learned}
    named = [item[0] for item in overrides if isinstance(item, (tuple, list)) and item]
    if len(set(named)) != len(named):
        raise InputError(f"MIF bounds {named}: a parameter's bound is given twice")
    for item in overrides:
        if len(item) != 3:
            raise InputError(f"MIF bound {item!r}: need (name, lo, hi)")
        name, lo, hi = item[0], float(item[1]), float(item[2])
        if name not in bounds:
            raise InputError(f"MIF bound for {name!r}: not a learned parameter (learned: {', '.join(learned) or 'none'})")
        b = bounds[name]
        if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
            raise InputError(f"MIF bound {name} = [{lo:g}, {hi:g}] {b.unit}: need finite lo < hi")
        if b.log and lo <= 0:
            raise InputError(f"MIF bound {name} = [{lo:g}, {hi:g}] {b.unit}: {name} is a positive scale; lo must be > 0")
        if name == "nu" and (lo <= 0 or hi > 1):
            raise InputError(f"MIF bound nu = [{lo:g}, {hi:g}]: the volatility constant lies in (0, 1]")
        hard_lo, hard_hi = HARD_LIMITS[name]
        if lo < hard_lo or hi > hard_hi:
            raise InputError(f"MIF bound {name} = [{lo:g}, {hi:g}] {b.unit}: beyond the physical limits "
                             f"[{hard_lo:g}, {hard_hi:g}] {b.unit} a bound may reach (default [{b.lo:g}, {b.hi:g}])")
        bounds[name] = b._replace(lo=lo, hi=hi, source="given (mif_bounds)")
    for name, b in bounds.items():
        value = getattr(seed, name)
        if not b.lo < value < b.hi:
            raise InputError(f"MIF bound {name} = [{b.lo:g}, {b.hi:g}] {b.unit} excludes the seed value {value:g} {b.unit} of "
                             f"preset {preset!r} (every layer starts at the seed; the bound must contain it strictly)")
    r_on_hi = bounds["r_on"].hi if "r_on" in bounds else seed.r_on
    r_off_lo = bounds["r_off"].lo if "r_off" in bounds else seed.r_off
    if r_on_hi >= r_off_lo:
        raise InputError(f"MIF bounds: r_on may reach {r_on_hi:g} Ω and r_off fall to {r_off_lo:g} Ω; r_on must stay below "
                         "r_off (narrow the r_on or r_off bound)")
    return bounds


def _to_unit(b: Bound, value: float) -> float:
    """Where ``value`` sits in its bound, in (0, 1)."""
    if b.log:
        return (math.log(value) - math.log(b.lo)) / (math.log(b.hi) - math.log(b.lo))
    return (value - b.lo) / (b.hi - b.lo)


def _from_unit(b: Bound, s: torch.Tensor) -> torch.Tensor:
    if b.log:
        return torch.exp(math.log(b.lo) + (math.log(b.hi) - math.log(b.lo)) * s)
    return b.lo + (b.hi - b.lo) * s


class LearnedNeurons(torch.nn.Module):
    """The learned MIF fields of every layer of a network: one unconstrained θ per field and
    layer (``sharing="layer"``) or per neuron (``"neuron"``), mapped into the bounds.

    ``sizes``: neurons per MIF layer; ``values()`` gives each learned field per neuron
    ([sum(sizes)], the network's concatenated layout); :meth:`layer_params` gives the
    :class:`MIFParams` of a layer's neurons as floats (for certification and export)."""

    def __init__(self, seed: MIFParams, preset: str, learned: tuple[str, ...], sharing: str,
                 overrides: tuple[tuple[str, float, float], ...], sizes: list[int]):
        super().__init__()
        if sharing not in SHARING:
            raise InputError(f"MIF parameter sharing {sharing!r}: one of {', '.join(SHARING)}")
        self.seed, self.sharing, self.sizes = seed, sharing, list(sizes)
        self.bounds = resolve_bounds(tuple(learned), tuple(overrides), seed, preset)
        n = len(sizes) if sharing == "layer" else sum(sizes)
        self.theta = torch.nn.ParameterDict()
        for name, b in self.bounds.items():
            u = _to_unit(b, getattr(seed, name))
            self.theta[name] = torch.nn.Parameter(torch.full((n,), math.log(u / (1.0 - u))))
        layer_of = torch.cat([torch.full((k,), i, dtype=torch.long) for i, k in enumerate(sizes)])
        self.register_buffer("layer_of", layer_of, persistent=False)

    def values(self, name: str) -> torch.Tensor:
        """Field ``name`` (learned) per neuron, [sum(sizes)], in its unit: float64 and clamped to
        its bounds, so that rounding never leaves them (a float32 0.4 is 0.40000000596)."""
        b = self.bounds[name]
        value = _from_unit(b, torch.sigmoid(self.theta[name].double())).clamp(b.lo, b.hi)
        return value[self.layer_of] if self.sharing == "layer" else value

    def coeffs(self, dtype: torch.dtype) -> MIFCoeffs:
        """The network's MIF coefficients: learned fields as per-neuron tensors, the rest floats."""
        return self.seed.coeffs(**{name: self.values(name).to(dtype) for name in self.bounds})

    @torch.no_grad()
    def layer_params(self, layer: int) -> list[MIFParams]:
        """The MIF parameters of every neuron of MIF layer ``layer`` (0-based), as floats."""
        lo = sum(self.sizes[:layer])
        columns = {name: self.values(name)[lo: lo + self.sizes[layer]].double().tolist() for name in self.bounds}
        return [self.seed.replace(**{name: col[j] for name, col in columns.items()}) for j in range(self.sizes[layer])]

    def describe(self, p: MIFParams) -> str:
        """'v_on1 = 0.213 V [0.05, 0.4]; ...' for the learned fields of ``p``."""
        return "; ".join(f"{name} = {getattr(p, name):.4g} {b.unit} [{b.lo:g}, {b.hi:g}]" for name, b in self.bounds.items())
