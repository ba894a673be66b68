"""Devices and neurons a crossbar can hold, behind one interface (pick them by name).

A :class:`CrossbarDevice` says how its cells are written into a circuit (element kind, model
library, per-instance parameters), what conductance range it offers for weights, how a target
conductance becomes its programmed state, and - for the twin - its conductance and state step.

* ``resistor``: an ideal linear conductance (no state); lets ``.op`` check the array itself.
* ``mss``: Knowm MSS memristor (``models/mss.lib``); state x in [0, 1], G = x/r_on + (1-x)/r_off,
  so x0 = (G - 1/r_off)/(1/r_on - 1/r_off). The state moves under the read voltages
  (switching above v_on, below -v_off): the twin integrates it with :func:`mss_step`.
* ``pcm``: Nandakumar PCM cell (``models/pcm.lib``), programmed conductance g_ic_us = G·1e6 (µS).
  A crossbar read ties prog, rst and xi to ground (no programming pulses, deterministic read),
  and reads within t0 of programming are not drifted, so G stays constant in a transient.

Stateful subcircuits start from their state only under ``.tran ... uic``; ``.op`` would put
every state at its DC equilibrium, so only ``resistor`` arrays take ``.op``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..devices.integrators import get_integrator
from ..devices.mss import MSSParams, mss_conductance, mss_rates, mss_step
from ..spice.circuit import RESISTOR, Circuit, ElementKind, subcircuit
from ..spice.library import lib_path


def _non_default(params) -> dict[str, float]:
    """Subcircuit parameters that differ from the library defaults (= the dataclass defaults).

    Writing only these keeps a 2 M-device netlist small; the library defaults and the twin's
    defaults are one record (a test in the device suite keeps them in step).
    """
    defaults = type(params)()
    full = params.spice_params()
    return {k: v for k, v in full.items() if v != defaults.spice_params()[k]}


def _require_library(model: str):
    path = lib_path(model)
    if not path.exists():
        raise FileNotFoundError(
            f"the {model} subcircuit library {path} is missing: the {model} crossbar needs "
            f"models/{model}.lib (`.subckt {model} ...`)"
        )
    return path


@dataclass(frozen=True)
class CrossbarDevice:
    """Base: subclasses set ``name``, ``library`` and override the methods below."""

    name: str = "device"
    library: str | None = None
    stateful: bool = False
    #: internal node holding the state (probe as v(xd_i_j.<state_node>)), or None
    state_node: str | None = None

    def default_params(self):
        return None

    def g_range(self, params) -> tuple[float, float]:
        """(g_min, g_max) in S that a weight can be mapped onto."""
        raise NotImplementedError

    def add_cells(self, circuit: Circuit, prefix: str, te: np.ndarray, be: np.ndarray, g: np.ndarray, params) -> None:
        """Add one cell per entry of ``g`` (S) between nets ``te`` and ``be`` (same shape)."""
        raise NotImplementedError

    def state_from_conductance(self, g: torch.Tensor, params) -> torch.Tensor:
        return g

    def conductance(self, state: torch.Tensor, params) -> torch.Tensor:
        return state

    def step(self, v: torch.Tensor, state: torch.Tensor, params, dt: float, integrator: str) -> torch.Tensor:
        return state

    def affine_step(self, v: torch.Tensor, params, dt: float, integrator: str):
        """(alpha, beta) with step(v, s) = alpha·s + beta for every state s, or None when the
        state update is not affine in the state (then the transient loops step by step)."""
        return None


@dataclass(frozen=True)
class Resistor(CrossbarDevice):
    name: str = "resistor"

    def g_range(self, params) -> tuple[float, float]:
        # any positive conductance is a resistor; a read-out range typical of RRAM (1 µS..1 mS)
        return 1e-6, 1e-3

    def add_cells(self, circuit, prefix, te, be, g, params):
        circuit.add_block(RESISTOR, (prefix, g.shape), np.stack([te.ravel(), be.ravel()], 1), 1.0 / g.ravel())


@dataclass(frozen=True)
class MSSDevice(CrossbarDevice):
    name: str = "mss"
    library: str | None = "mss"
    stateful: bool = True
    state_node: str | None = "x"

    def default_params(self):
        return MSSParams()

    def kind(self) -> ElementKind:
        return subcircuit("mss", ("te", "be"), dc_links=((0, 1),))

    def g_range(self, params) -> tuple[float, float]:
        return 1.0 / params.r_off, 1.0 / params.r_on

    def x_from_g(self, g, params):
        g_min, g_max = self.g_range(params)
        return (g - g_min) / (g_max - g_min)

    def add_cells(self, circuit, prefix, te, be, g, params):
        circuit.use_library(_require_library("mss"))
        x0 = self.x_from_g(np.asarray(g, dtype=float).ravel(), params)
        circuit.add_block(self.kind(), (prefix, g.shape), np.stack([te.ravel(), be.ravel()], 1),
                          params={**_non_default(params), "x0": x0})

    def state_from_conductance(self, g, params):
        return self.x_from_g(g, params)

    def conductance(self, state, params):
        return mss_conductance(state, params)

    def step(self, v, state, params, dt, integrator):
        return mss_step(v, state, params, dt, integrator)

    def affine_step(self, v, params, dt, integrator):
        # dx/dt = a - b·x with a, b functions of v only: both integrators are affine in x
        relax = get_integrator(integrator).relax
        p_on, _, b = mss_rates(v, params)
        beta = relax(torch.zeros_like(v), p_on / params.tau, b, dt)
        return relax(torch.ones_like(v), torch.zeros_like(v), b, dt), beta


@dataclass(frozen=True)
class PCMDevice(CrossbarDevice):
    name: str = "pcm"
    library: str | None = "pcm"

    def default_params(self):
        from ..devices.pcm import PCMParams

        return PCMParams()

    def kind(self) -> ElementKind:
        # prog, rst and xi reach ground through the subcircuit's own 1e12 Ω resistors
        return subcircuit("pcm", ("te", "be", "prog", "rst", "xi"), dc_links=((0, 1),), dc_ground=(2, 3, 4))

    def g_range(self, params) -> tuple[float, float]:
        return params.g_min_us * 1e-6, params.g_max_us * 1e-6

    def add_cells(self, circuit, prefix, te, be, g, params):
        circuit.use_library(_require_library("pcm"))
        zeros = np.zeros(te.size, dtype=np.int64)  # prog, rst, xi on ground: a plain read
        nodes = np.stack([te.ravel(), be.ravel(), zeros, zeros, zeros], 1)
        circuit.add_block(self.kind(), (prefix, g.shape), nodes,
                          params={**_non_default(params), "g_ic_us": self.g_us(g, params)})

    def g_us(self, g, params) -> np.ndarray:
        # S -> µS; the clip only removes rounding (1e-7 S * 1e6 = 0.09999999999999999)
        return np.clip(np.asarray(g, dtype=float).ravel() * 1e6, params.g_min_us, params.g_max_us)


DEVICES: dict[str, CrossbarDevice] = {d.name: d for d in (MSSDevice(), PCMDevice(), Resistor())}


def get_device(name: str) -> CrossbarDevice:
    if name not in DEVICES:
        raise ValueError(f"device = {name!r}: must be one of {', '.join(map(repr, DEVICES))}")
    return DEVICES[name]


def resolve_params(device: CrossbarDevice, params):
    """``params`` or the device's defaults; rejects a record of the wrong device."""
    if params is None:
        return device.default_params()
    expected = device.default_params()
    if expected is not None and type(params) is not type(expected):
        raise ValueError(f"device {device.name!r} takes {type(expected).__name__}, got {type(params).__name__}")
    return params


# --- neurons terminating the columns ---------------------------------------------------------


@dataclass(frozen=True)
class Neuron:
    """A neuron subcircuit whose input pin receives one output's current."""

    name: str
    pins: tuple[str, ...]
    library: str

    def kind(self) -> ElementKind:
        # the membrane pin reaches ground through the neuron's own memristors and bias sources
        return subcircuit(self.name, self.pins, dc_ground=tuple(range(len(self.pins))))

    def default_params(self):
        from ..devices.mif import MIFParams

        return MIFParams()

    def initial_state(self, params) -> dict[str, float]:
        """Subcircuit instance parameters of the start state: the twin's rest state, so that
        netlist and twin (:func:`~spicegrad.crossbar.layers.neuron_transient`) start alike."""
        from ..devices.mif import mif_rest_state

        rest = mif_rest_state(params)
        return {"v0": float(rest.v), "x10": float(rest.x1), "x20": float(rest.x2)}

    def add(self, circuit: Circuit, prefix: str, inputs: np.ndarray, params=None) -> None:
        circuit.use_library(_require_library(self.library))
        params = self.default_params() if params is None else params
        if type(params) is not type(self.default_params()):
            raise ValueError(f"neuron_params: {self.name} neurons take {type(self.default_params()).__name__}, "
                             f"got {type(params).__name__}")
        extra = {**_non_default(params), **self.initial_state(params)}
        circuit.add_block(self.kind(), (prefix, inputs.shape), inputs.reshape(-1, 1), params=extra)


NEURONS: dict[str, Neuron | None] = {"none": None, "mif": Neuron("mif", ("in",), "mif")}


def get_neuron(name: str) -> Neuron | None:
    if name not in NEURONS:
        raise ValueError(f"neurons = {name!r}: must be one of {', '.join(map(repr, NEURONS))}")
    return NEURONS[name]


__all__ = ["DEVICES", "NEURONS", "CrossbarDevice", "Neuron", "get_device", "get_neuron", "resolve_params"]
