"""The device registry: every device kind is declared once here (or by a user's ``register``),
and every consumer reads it — the netlist and crossbar writers, the crossbar twin, the validator
(adapters, cases, certificates), the CLI's choices and the demo.

A :class:`DeviceKind` ties the two halves of a device together: its ``Params`` record, its twin,
its ngspice subcircuit (library file, subcircuit name, pins, the internal nodes that hold its
states) and, where the device has them, its conductance map and the validator adapter that
cross-checks the twin against ngspice. Adding a device is: the twin module, the ``.lib``, a cases
file and one :func:`register` call (docs/adding-a-device.md walks through it).

Higher layers are named by ``"module:attribute"`` strings (the validator adapter, the demo
comparison) and imported only when used. The built-in kinds name their twin halves the same way
(``params``, ``twin`` and the maps are imported on first access), so listing the registry's names
and roles, as the command line's choices do, imports neither torch nor numpy.
Packages can also register devices through the ``spicegrad.devices`` entry-point group: each
entry point names a :class:`DeviceKind` (or a callable returning one or several).
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from .._lazy import import_ref
from ..errors import InputError

ROLES = ("cell", "neuron", "source")
ENTRY_POINT_GROUP = "spicegrad.devices"
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_REFERENCE = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")


@dataclasses.dataclass(frozen=True)
class DeviceKind:
    """One device, both halves. Pin and node names are the subcircuit's; states are probed as
    ``v(x<instance>.<state>)``.

    * ``role``: ``"cell"`` (a two-terminal crossbar cell: its first two pins are te and be),
      ``"neuron"`` (its first pin receives the input current) or ``"source"``.
    * ``library``: a file name in the package's model library (``"mss.lib"``) or the path of a
      user's ``.lib``.
    * ``conductance(state, params)`` -> S, ``state_from_conductance(g, params)`` its inverse,
      ``conductance_range(params)`` -> (g_min, g_max) in S: the maps weights are written with.
    * ``program(g, params)`` -> instance parameters that start a cell at conductance ``g``
      (numpy, S); ``rest(params)`` -> instance parameters that start a neuron at rest.
    * ``step(v, state, params, dt, integrator)`` -> next state: the twin's cell update in a
      crossbar transient; ``affine_step(v, params, dt, integrator)`` -> (alpha, beta) when that
      update is affine in the state (the transient then runs as one scan); ``affine_conductance``
      (lo, hi): a state interval on which ``conductance(state)`` is affine in the state (MSS:
      (0, 1)), which lets an ideal crossbar transient sum the column currents as matrix products
      without forming every state; ``read_disturbs``:
      whether a read voltage moves the state (False for a pulse-programmed cell such as PCM).
    * ``adapter``: the validator adapter, ``"module:attribute"`` or a callable ``kind -> Adapter``;
      ``cases``: the kind's validation cases file (.toml) when it is not in the shipped folder.
    * ``current(v, x, params)`` -> A: the cell's current te -> be at voltage ``v`` (V) and first
      state ``x``, for a device whose I-V is not linear in v (VTEAM's is, Yakopcic's sinh is not);
      when absent the current is ``v·conductance(x)``. :meth:`cell_current` applies the default.
      With a ``current``, ``conductance(x)`` is the small-signal conductance dI/dv at v = 0 (what
      weights are mapped onto and a read at a small voltage sees).
    * ``switching(params)`` -> (v_up, v_down) in V, signed: the state moves toward higher
      conductance beyond ``v_up`` (v >= v_up when it is positive, v <= v_up when negative) and
      toward lower conductance beyond ``v_down``; between them a read does not program the cell
      (a soft threshold such as the MSS sigmoid names its nominal voltage). Pulse programming
      (Manhattan rule, compression levels) takes its pulse polarity and read limit from it.
    * ``reference_rhs(t, v, state, params)`` / ``reference_current(v, state, params)``: an
      independent numpy statement of the cell's ODE for the generic cell adapter
      (:mod:`spicegrad.validate.adapters.cell`); written apart from the twin on purpose.

    ``params``, ``twin`` and every map above may also be given as a ``"module:attribute"``
    string: it is imported when the field is first read (and ``params`` checked then).
    """

    name: str
    params: type | str
    library: str | Path
    subckt: str
    pins: tuple[str, ...]
    role: str = "cell"
    twin: type | str | None = None
    states: tuple[str, ...] = ()
    initial_state: str | None = None
    grounded_pins: tuple[str, ...] = ()
    conductance: Callable | str | None = None
    state_from_conductance: Callable | str | None = None
    conductance_range: Callable | str | None = None
    program: Callable | str | None = None
    rest: Callable | str | None = None
    step: Callable | str | None = None
    affine_step: Callable | str | None = None
    affine_conductance: tuple[float, float] | None = None
    current: Callable | str | None = None
    switching: Callable | str | None = None
    adapter: str | Callable | None = None
    cases: str | Path | None = None
    demo: str | None = None
    reference_rhs: Callable | str | None = None
    reference_current: Callable | str | None = None
    integrators: tuple[str, ...] = ("euler", "exp-euler")
    read_disturbs: bool = True
    provenance: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME.match(self.name):
            raise InputError(f"DeviceKind.name = {self.name!r}: use lower-case letters, digits and '_', "
                             "starting with a letter")
        if self.role not in ROLES:
            raise InputError(f"DeviceKind {self.name!r}: role = {self.role!r}, must be one of {ROLES}")
        for field in _REFERENCES:
            ref = object.__getattribute__(self, field)
            if isinstance(ref, str) and not _REFERENCE.match(ref):
                raise InputError(f"DeviceKind {self.name!r}: {field} = {ref!r}: a string must be a "
                                 "'module:attribute' reference")
        params = object.__getattribute__(self, "params")
        if not isinstance(params, str):
            _check_params(self.name, params)
        if self.role == "cell" and len(self.pins) < 2:
            raise InputError(f"DeviceKind {self.name!r}: a cell needs at least two pins (te, be), got {self.pins}")
        interval = self.affine_conductance
        if interval is not None and not (isinstance(interval, tuple) and len(interval) == 2
                                         and all(isinstance(u, (int, float)) and math.isfinite(u) for u in interval)
                                         and interval[0] < interval[1]):
            raise InputError(f"DeviceKind {self.name!r}: affine_conductance = {interval!r}: need a (lo, hi) pair of "
                             "finite states with lo < hi, or None")
        missing = set(self.grounded_pins) - set(self.pins)
        if missing:
            raise InputError(f"DeviceKind {self.name!r}: grounded_pins {sorted(missing)} are not pins of {self.pins}")

    def __getattribute__(self, name: str) -> Any:
        value = object.__getattribute__(self, name)
        if type(value) is str and name in _REFERENCES:  # a "module:attribute" not imported yet
            value = import_ref(value)
            if name == "params":
                _check_params(self.name, value)
            object.__setattr__(self, name, value)
        return value

    # -- the ngspice half ---------------------------------------------------------------------
    def lib_path(self) -> Path:
        """The ``.lib`` holding this kind's subcircuit (checked to exist)."""
        if isinstance(self.library, Path) or "/" in str(self.library) or "\\" in str(self.library):
            path = Path(self.library)
            if not path.is_file():
                raise InputError(f"device {self.name!r}: library {path} does not exist")
            return path.resolve()
        from ..spice.library import lib_path

        return lib_path(Path(self.library).stem)

    def probe(self, instance: str, state: str) -> str:
        """The ngspice vector of ``state`` in subcircuit instance ``instance`` (without the X)."""
        if state not in self.states:
            raise InputError(f"device {self.name!r} has states {self.states}, not {state!r}")
        return f"v(x{instance}.{state})"

    def declares(self, field: str) -> bool:
        """Whether ``field`` is set, without importing a "module:attribute" reference (listing
        what a kind offers, as the command line's choices do, must not import torch)."""
        return object.__getattribute__(self, field) is not None

    def missing_for_pulses(self) -> list[str]:
        """What this kind lacks to be pulse-programmed (:mod:`spicegrad.devices.pulses`): empty
        for a cell declaring every one of :data:`PULSE_FIELDS`; read without importing them."""
        return [f for f in PULSE_FIELDS if not self.declares(f)] + ([] if self.role == "cell" else ["role 'cell'"])

    def cell_current(self, v, x, params):
        """Current te -> be (A) at voltage ``v`` (V) and first state ``x``: ``current`` when the
        kind declares one, else ``v·conductance(x)``."""
        if self.current is not None:
            return self.current(v, x, params)
        if self.conductance is None:
            raise InputError(f"device {self.name!r} declares neither current nor conductance")
        return v * self.conductance(x, params)

    def cases_path(self) -> Path | None:
        return None if self.cases is None else Path(self.cases)


#: what a cell declares to be programmed by pulses (Manhattan rule, compression's device levels)
PULSE_FIELDS = ("step", "switching", "conductance", "conductance_range", "state_from_conductance")

#: the fields that take a "module:attribute" reference, imported on first access
_REFERENCES = frozenset({"params", "twin", "conductance", "state_from_conductance", "conductance_range", "program",
                         "rest", "step", "affine_step", "current", "switching", "reference_rhs",
                         "reference_current"})


def _check_params(name: str, params: Any) -> None:
    if not dataclasses.is_dataclass(params) or not hasattr(params, "spice_params"):
        raise InputError(f"DeviceKind {name!r}: params must be a DeviceParams dataclass "
                         f"(spicegrad.devices.DeviceParams), got {params!r}")


_REGISTRY: dict[str, DeviceKind] = {}
_plugins_loaded = False


def register(kind: DeviceKind, *, replace: bool = False, check_library: bool = True) -> DeviceKind:
    """Add ``kind`` to the registry; with ``check_library`` its ``.lib`` must hold
    ``.subckt <subckt> <pins...>`` with every declared state node and every parameter of its
    Params record. A name already taken needs ``replace=True``."""
    if not isinstance(kind, DeviceKind):
        raise InputError(f"register() takes a DeviceKind, got {type(kind).__name__}")
    if kind.name in _REGISTRY and not replace:
        raise InputError(f"device {kind.name!r} is already registered; pass replace=True to replace it")
    if check_library:
        check_library_matches(kind)
    _REGISTRY[kind.name] = kind
    return kind


def unregister(name: str) -> None:
    """Remove a registered kind (the built-in ones included: for tests and experiments)."""
    _REGISTRY.pop(name, None)


def check_library_matches(kind: DeviceKind) -> None:
    """Raise :class:`InputError` saying what is missing when ``kind``'s ``.lib`` does not declare
    its subcircuit, pins, state nodes and parameters."""
    from ..spice.subckt import parse_subckt

    path = kind.lib_path()
    sub = parse_subckt(path.read_text(), kind.subckt, source=str(path))
    problems = []
    if tuple(p.lower() for p in sub.pins) != tuple(p.lower() for p in kind.pins):
        problems.append(f"pins {sub.pins} in the .lib, {kind.pins} declared")
    missing_nodes = [s for s in kind.states if s.lower() not in {n.lower() for n in sub.nodes}]
    if missing_nodes:
        problems.append(f"state node(s) {missing_nodes} not found in the subcircuit")
    missing_params = sorted(set(kind.params().spice_params()) - {k.lower() for k in sub.params})
    if kind.initial_state and kind.initial_state.lower() not in {k.lower() for k in sub.params}:
        # ngspice drops an undeclared instance parameter without a word: every cell would start at its default
        missing_params.append(f"{kind.initial_state} (the initial_state)")
    if missing_params:
        problems.append(f"parameter(s) {missing_params} of {kind.params.__name__} not declared after params:")
    if problems:
        raise InputError(f"device {kind.name!r}: {path} .subckt {kind.subckt}: " + "; ".join(problems))


def _load_plugins() -> None:
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True
    from importlib.metadata import entry_points

    for ep in entry_points(group=ENTRY_POINT_GROUP):
        obj = ep.load()
        kinds = obj() if callable(obj) and not isinstance(obj, DeviceKind) else obj
        for kind in kinds if isinstance(kinds, list | tuple) else (kinds,):
            if kind.name not in _REGISTRY:
                register(kind)


def get(name: str) -> DeviceKind:
    """The registered kind called ``name``; an unknown name lists the known ones."""
    _load_plugins()
    if name not in _REGISTRY:
        raise InputError(f"device = {name!r}: known devices are {', '.join(map(repr, _REGISTRY))}")
    return _REGISTRY[name]


def kinds(role: str | None = None) -> Iterator[DeviceKind]:
    """Registered kinds in registration order, optionally only those of one ``role``."""
    _load_plugins()
    return (k for k in list(_REGISTRY.values()) if role is None or k.role == role)


def names(role: str | None = None) -> tuple[str, ...]:
    return tuple(k.name for k in kinds(role))


def pulsable() -> tuple[str, ...]:
    """Registered cells that can be pulse-programmed (every one of :data:`PULSE_FIELDS`
    declared), in registration order; imports none of their references."""
    return tuple(k.name for k in kinds("cell") if not k.missing_for_pulses())


def resolve(ref: str | Callable | None, kind: DeviceKind | None = None) -> Any:
    """Import a ``"module:attribute"`` reference (or call a factory with ``kind``)."""
    if ref is None:
        return None
    if callable(ref):
        return ref(kind) if kind is not None else ref()
    return import_ref(ref)


# -- the built-in devices ---------------------------------------------------------------------
# Their twin halves are "module:attribute" references (see DeviceKind), imported on first use.


def _mss_program(g, p) -> dict:
    import numpy as np

    from .mss import mss_state_from_conductance

    return {"x0": mss_state_from_conductance(np.asarray(g, dtype=float).ravel(), p)}


def _mss_switching(p) -> tuple[float, float]:
    return p.v_on, -p.v_off


def _pcm_program(g, p) -> dict:
    import numpy as np

    from .pcm import US

    # S -> µS; the clip only removes rounding (1e-7 S * 1e6 = 0.09999999999999999)
    return {"g_ic_us": np.clip(np.asarray(g, dtype=float).ravel() * US, p.g_min_us, p.g_max_us)}


def _pcm_conductance_range(p) -> tuple[float, float]:
    from .pcm import S_PER_US

    return p.g_min_us * S_PER_US, p.g_max_us * S_PER_US


def _mif_rest(p) -> dict[str, float]:
    from .mif import mif_rest_state

    rest = mif_rest_state(p)
    return {"v0": float(rest.v), "x10": float(rest.x1), "x20": float(rest.x2)}


_MSS, _MIF, _PCM, _ALPHA = (f"spicegrad.devices.{m}" for m in ("mss", "mif", "pcm", "alpha"))
for _kind in (
    DeviceKind(
        name="mss", params=f"{_MSS}:MSSParams", library="mss.lib", subckt="mss", pins=("te", "be"), role="cell",
        twin=f"{_MSS}:MSS", states=("x",), initial_state="x0",
        conductance=f"{_MSS}:mss_conductance", state_from_conductance=f"{_MSS}:mss_state_from_conductance",
        conductance_range=f"{_MSS}:mss_conductance_range", program=_mss_program,
        step=f"{_MSS}:mss_step", affine_step=f"{_MSS}:mss_affine_step", affine_conductance=(0.0, 1.0),
        current=f"{_MSS}:mss_current",
        switching=_mss_switching,
        adapter="spicegrad.validate.adapters.mss:ADAPTER", demo="spicegrad.compare.mss:demo_comparison",
        provenance="Molter & Nugent, CNNA 2016 (arXiv:1608.04659); Knowm public models",
    ),
    DeviceKind(
        name="mif", params=f"{_MIF}:MIFParams", library="mif.lib", subckt="mif", pins=("in",), role="neuron",
        twin=f"{_MIF}:MIF", states=("x1", "x2"), rest=_mif_rest,
        adapter="spicegrad.validate.adapters.mif:ADAPTER", demo="spicegrad.compare.mif:demo_comparison",
        provenance="Kang et al., IEEE TCAS-I 2021, as mapped for MEMprop (see docs/device-models.md)",
    ),
    DeviceKind(
        name="pcm", params=f"{_PCM}:PCMParams", library="pcm.lib", subckt="pcm",
        pins=("te", "be", "prog", "rst", "xi"), role="cell", twin=f"{_PCM}:PCMArray", states=("g", "n", "tp"),
        initial_state="g_ic_us", grounded_pins=("prog", "rst", "xi"),
        conductance=lambda g, p: g, state_from_conductance=lambda g, p: g,
        conductance_range=_pcm_conductance_range,
        program=_pcm_program, step=lambda v, g, p, dt, integrator: g,
        integrators=("event",), read_disturbs=False,
        adapter="spicegrad.validate.adapters.pcm:ADAPTER", demo="spicegrad.compare.pcm:demo_comparison",
        provenance="Nandakumar et al., J. Appl. Phys. 124, 152135 (2018)",
    ),
    DeviceKind(
        name="alpha", params=f"{_ALPHA}:AlphaParams", library="alpha.lib", subckt="alpha", pins=("spk", "out"),
        role="source", twin=f"{_ALPHA}:AlphaCurrent", states=("s", "i"),
        provenance="alpha synaptic current of MEMprop (seed's Table II, reconstructed)",
    ),
    DeviceKind(
        name="vteam", params="spicegrad.devices.vteam:VTEAMParams", library="vteam.lib", subckt="vteam",
        pins=("te", "be"), role="cell", twin="spicegrad.devices.vteam:VTEAM", states=("x",), initial_state="x0",
        conductance="spicegrad.devices.vteam:vteam_conductance",
        state_from_conductance="spicegrad.devices.vteam:vteam_state_from_conductance",
        conductance_range="spicegrad.devices.vteam:vteam_conductance_range",
        program="spicegrad.devices.vteam:vteam_program", step="spicegrad.devices.vteam:vteam_step",
        switching="spicegrad.devices.vteam:vteam_switching",
        reference_rhs="spicegrad.devices.vteam:reference_rhs",
        reference_current="spicegrad.devices.vteam:reference_current",
        provenance="Kvatinsky, Ramadan, Friedman & Kolodny, IEEE TCAS-II 62(8) 786 (2015); default values: "
                   "MemTorch's VTEAM defaults (not checked against the paper's tables)",
    ),
    DeviceKind(
        name="yakopcic", params="spicegrad.devices.yakopcic:YakopcicParams", library="yakopcic.lib",
        subckt="yakopcic", pins=("te", "be"), role="cell", twin="spicegrad.devices.yakopcic:Yakopcic",
        states=("x",), initial_state="x0",
        conductance="spicegrad.devices.yakopcic:yakopcic_conductance",
        state_from_conductance="spicegrad.devices.yakopcic:yakopcic_state_from_conductance",
        conductance_range="spicegrad.devices.yakopcic:yakopcic_conductance_range",
        program="spicegrad.devices.yakopcic:yakopcic_program", step="spicegrad.devices.yakopcic:yakopcic_step",
        current="spicegrad.devices.yakopcic:yakopcic_current",
        switching="spicegrad.devices.yakopcic:yakopcic_switching",
        reference_rhs="spicegrad.devices.yakopcic:reference_rhs",
        reference_current="spicegrad.devices.yakopcic:reference_current",
        provenance="Yakopcic et al., IEEE EDL 32(10) 1436 (2011); generalized form, IEEE TCAD 32(8) 1201 (2013)",
    ),
):
    _REGISTRY[_kind.name] = _kind
del _kind

__all__ = ["PULSE_FIELDS", "DeviceKind", "check_library_matches", "get", "kinds", "names", "pulsable", "register", "resolve", "unregister"]
