"""Devices and neurons a crossbar can hold, behind one interface, built from the device registry.

A :class:`CrossbarDevice` says how its cells are written into a circuit (subcircuit, library,
per-instance parameters), what conductance range it offers for weights, how a target
conductance becomes its programmed state, and - for the twin - its conductance and state step.
Every ``cell`` of :mod:`spicegrad.devices.registry` is a crossbar device (:class:`RegistryCell`),
every ``neuron`` can terminate the columns (:class:`Neuron`); the one device that is not in the
registry is ``resistor``, an ideal linear conductance with no state (lets ``.op`` check the array).

* ``mss``: the state x moves under the read voltages (switching above v_on, below -v_off); the
  twin integrates it with the registered step.
* ``pcm``: programmed conductance g_ic_us = G·1e6 (µS). A crossbar read ties the grounded pins
  (prog, rst, xi) to ground (no programming pulses, deterministic read), and reads within t0 of
  programming are not drifted, so G stays constant in a transient.

A cell whose kind declares a ``current`` hook (I = f(v, x), non-linear in v) is read through
:meth:`CrossbarDevice.current`; :meth:`CrossbarDevice.is_linear` tells the twin whether the
linear code path (I = v·G(x)) is exact for a run, so that linear kinds keep it unchanged.

Stateful subcircuits start from their state only under ``.tran ... uic``; ``.op`` would put
every state at its DC equilibrium, so only ``resistor`` arrays take ``.op``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..devices import registry
from ..devices.ohmic import is_ohmic
from ..devices.registry import DeviceKind
from ..errors import InputError
from ..spice.circuit import RESISTOR, Circuit, ElementKind, subcircuit
from . import choices
from .choices import device_names, neuron_names

#: probe voltages of :meth:`RegistryCell.is_linear`, in units of the run's largest row voltage
_PROBE_V = (-1.0, -0.5, -0.1, 0.1, 0.5, 1.0)


def non_default_params(params) -> dict[str, float]:
    """Subcircuit parameters that differ from the library defaults (= the dataclass defaults).

    Writing only these keeps a 2 M-device netlist small; the library defaults and the twin's
    defaults are one record (tests/test_lib_values.py compares every value, and fails when a
    .lib default is changed).
    """
    defaults = type(params)().spice_params()
    return {k: v for k, v in params.spice_params().items() if v != defaults[k]}


@dataclass(frozen=True)
class CrossbarDevice:
    """Base: subclasses set ``name`` and override the methods below."""

    name: str = "device"
    stateful: bool = False
    #: internal node holding the state (probe as v(xd_i_j.<state_node>)), or None
    state_node: str | None = None

    def default_params(self):
        return None

    def g_range(self, params) -> tuple[float, float]:
        """(g_min, g_max) in S that a weight can be mapped onto."""
        raise NotImplementedError(f"{type(self).__name__} must define g_range")

    def add_cells(self, circuit: Circuit, prefix: str, te: np.ndarray, be: np.ndarray, g: np.ndarray, params) -> None:
        """Add one cell per entry of ``g`` (S) between nets ``te`` and ``be`` (same shape)."""
        raise NotImplementedError(f"{type(self).__name__} must define add_cells")

    def state_from_conductance(self, g: torch.Tensor, params) -> torch.Tensor:
        return g

    def conductance(self, state: torch.Tensor, params) -> torch.Tensor:
        return state

    def step(self, v: torch.Tensor, state: torch.Tensor, params, dt: float, integrator: str) -> torch.Tensor:
        return state

    def current(self, v: torch.Tensor, state: torch.Tensor, params) -> torch.Tensor:
        """Cell current te -> be (A) at device voltage ``v`` (V): v·conductance(state) here."""
        return v * self.conductance(state, params)

    def is_linear(self, params, states: torch.Tensor, v_max: float) -> bool:
        """Whether I = v·conductance(state) is this cell's current for states like ``states`` at
        voltages up to ``v_max`` (V): then the twin takes the linear code path."""
        return True

    def affine_step(self, v: torch.Tensor, params, dt: float, integrator: str):
        """(alpha, beta) with step(v, s) = alpha·s + beta for every state s, or None when the
        state update is not affine in the state (then the transient loops step by step)."""
        return None

    def conductance_line(self, params) -> tuple[float, float, float, float] | None:
        """(c0, c1, lo, hi) with conductance(s) = c0 + c1·s (S) for lo <= s <= hi, or None."""
        return None


@dataclass(frozen=True)
class Resistor(CrossbarDevice):
    name: str = choices.RESISTOR

    def g_range(self, params) -> tuple[float, float]:
        # any positive conductance is a resistor; a read-out range typical of RRAM (1 µS..1 mS)
        return 1e-6, 1e-3

    def add_cells(self, circuit, prefix, te, be, g, params):
        circuit.add_block(RESISTOR, (prefix, g.shape), np.stack([te.ravel(), be.ravel()], 1), 1.0 / g.ravel())


@dataclass(frozen=True)
class RegistryCell(CrossbarDevice):
    """A registered ``cell`` device as crossbar cells: its subcircuit between te and be, the
    grounded pins on ground, started at the conductance a weight maps to."""

    kind: DeviceKind | None = None

    @classmethod
    def of(cls, kind: DeviceKind) -> RegistryCell:
        """The cell of ``kind``: stateful (and its first state probed) when reads move it."""
        moves = kind.read_disturbs and bool(kind.states)
        return cls(name=kind.name, stateful=moves, state_node=kind.states[0] if moves else None, kind=kind)

    def default_params(self):
        return self.kind.params()

    def element_kind(self) -> ElementKind:
        pins = self.kind.pins
        grounded = tuple(pins.index(p) for p in self.kind.grounded_pins)
        return subcircuit(self.kind.subckt, pins, dc_links=((0, 1),), dc_ground=grounded)

    def g_range(self, params) -> tuple[float, float]:
        if self.kind.conductance_range is None:
            raise InputError(f"device {self.name!r} declares no conductance_range: it cannot hold weights")
        return self.kind.conductance_range(params)

    def add_cells(self, circuit, prefix, te, be, g, params):
        if self.kind.program is None:
            raise InputError(f"device {self.name!r} declares no program(g, params): cells cannot be set to a weight")
        circuit.use_library(self.kind.lib_path())
        zeros = np.zeros(te.size, dtype=np.int64)
        nodes = [zeros if pin in self.kind.grounded_pins else None for pin in self.kind.pins]
        nodes[0], nodes[1] = te.ravel(), be.ravel()
        circuit.add_block(self.element_kind(), (prefix, g.shape), np.stack(nodes, 1),
                          params={**non_default_params(params), **self.kind.program(g, params)})

    def state_from_conductance(self, g, params):
        return self.kind.state_from_conductance(g, params)

    def conductance(self, state, params):
        return self.kind.conductance(state, params)

    def step(self, v, state, params, dt, integrator):
        return self.kind.step(v, state, params, dt, integrator)

    def affine_step(self, v, params, dt, integrator):
        return None if self.kind.affine_step is None else self.kind.affine_step(v, params, dt, integrator)

    def conductance_line(self, params):
        """From the kind's ``affine_conductance`` interval: the line through its conductance at
        the two ends (evaluated, so the conductance is written once, in the kind)."""
        if self.kind.affine_conductance is None:
            return None
        lo, hi = (float(s) for s in self.kind.affine_conductance)
        probes = torch.linspace(lo, hi, 5, dtype=torch.float64)
        g = self.kind.conductance(probes, params)
        c1 = float(g[-1] - g[0]) / (hi - lo)
        line = float(g[0]) - c1 * lo + c1 * probes
        if not torch.allclose(g, line, rtol=1e-9, atol=0.0):  # a declaration the conductance does not keep
            raise InputError(f"device {self.name!r}: affine_conductance = {self.kind.affine_conductance!r}, but its "
                             f"conductance at {probes.tolist()} is {g.tolist()} S, not on one line: declare the "
                             "interval on which conductance(state) is affine")
        return float(g[0]) - c1 * lo, c1, lo, hi

    def current(self, v, state, params):
        return self.kind.cell_current(v, state, params)

    def is_linear(self, params, states, v_max):
        """Whether the cell reads ohmically (:func:`spicegrad.devices.ohmic.is_ohmic`) at
        ±(0.1, 0.5, 1)·``v_max`` for the given states; for meta states (no values) whether the
        kind declares no ``current`` of its own."""
        if states.device.type == "meta":
            return not self.kind.declares("current")
        return is_ohmic(self.kind, params, [u * (float(v_max) or 1.0) for u in _PROBE_V], states)


RESISTOR_DEVICE = Resistor()


def get_device(name: str) -> CrossbarDevice:
    if name == RESISTOR_DEVICE.name:
        return RESISTOR_DEVICE
    if name not in registry.names("cell"):
        raise InputError(f"device = {name!r}: must be one of {', '.join(map(repr, device_names()))}")
    return RegistryCell.of(registry.get(name))


def resolve_params(device: CrossbarDevice, params):
    """``params`` or the device's defaults; rejects a record of the wrong device."""
    if params is None:
        return device.default_params()
    expected = device.default_params()
    if expected is not None and type(params) is not type(expected):
        raise InputError(f"device {device.name!r} takes {type(expected).__name__}, got {type(params).__name__}")
    return params


# --- neurons terminating the columns ---------------------------------------------------------


@dataclass(frozen=True)
class Neuron:
    """A registered ``neuron`` whose input pin receives one output's current."""

    kind: DeviceKind

    @property
    def name(self) -> str:
        return self.kind.name

    def element_kind(self) -> ElementKind:
        # the membrane pin reaches ground through the neuron's own memristors and bias sources
        return subcircuit(self.kind.subckt, self.kind.pins, dc_ground=tuple(range(len(self.kind.pins))))

    def default_params(self):
        return self.kind.params()

    def initial_state(self, params) -> dict[str, float]:
        """Subcircuit instance parameters of the start state: the twin's rest state, so that
        netlist and twin (:func:`~spicegrad.crossbar.layers.neuron_transient`) start alike."""
        return {} if self.kind.rest is None else self.kind.rest(params)

    def add(self, circuit: Circuit, prefix: str, inputs: np.ndarray, params=None) -> None:
        circuit.use_library(self.kind.lib_path())
        params = self.default_params() if params is None else params
        if type(params) is not self.kind.params:
            raise InputError(f"neuron_params: {self.name} neurons take {self.kind.params.__name__}, "
                             f"got {type(params).__name__}")
        extra = {**non_default_params(params), **self.initial_state(params)}
        nodes = np.zeros((inputs.size, len(self.kind.pins)), dtype=np.int64)
        nodes[:, 0] = inputs.ravel()
        circuit.add_block(self.element_kind(), (prefix, inputs.shape), nodes, params=extra)


def get_neuron(name: str) -> Neuron | None:
    if name == "none":
        return None
    if name not in registry.names("neuron"):
        raise InputError(f"neurons = {name!r}: must be one of {', '.join(map(repr, neuron_names()))}")
    return Neuron(registry.get(name))


__all__ = ["CrossbarDevice", "Neuron", "RegistryCell", "device_names", "get_device", "get_neuron",
           "neuron_names", "non_default_params", "resolve_params"]
