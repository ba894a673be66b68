"""Crossbar arrays in the validator: DC reads and cell transients, ngspice (A), reference (B), twin (C).

A case's ``stimulus`` table describes the array and its drive (SI units)::

    stimulus = { kind = "crossbar", rows = 8, cols = 8, pairs = "differential",
                 r_wire = 2.5, r_driver = 2.5, r_sense = 2.5,       # Ω; all > 0, or all 0
                 device = "mss",                                    # a cell, or "resistor" (DC read)
                 seed = 0,                                          # random conductances
                 sine = { low = 0.6, high = 1.0, freq = 1e3 } }     # row i: amplitude spread
    # or, for a DC read of a resistor array:
                 dc = { low = 0.05, high = 0.2 }                    # V, uniform random per row

``device`` (default ``"mss"``, so a case without it keeps its meaning and fingerprint) names
``resistor``, ``mss`` or any registered one-state ``cell`` that states an independent reference
(``reference_rhs`` and ``reference_current``, as the generic cell validator needs); the case's
``params``/``preset`` are then that device's Params record. Conductances are uniform random in
[g_min, g_max] (seeded): the device's conductance range for a cell (MSS: [1/r_off, 1/r_on]),
the default MSS's [1/1500, 1/500] S for ``resistor`` (override with ``g_min``/``g_max``).
Waveforms: ``i`` [T+1, Cp] the column ammeter currents (A) and, for a cell, ``x`` [T+1, R·Cp]
every device's (first) state. A DC read (``resistor``, ngspice ``.op``) has constant waveforms
on the grid.

Reference (B), written from the circuit description and sharing no code with the twin or its
topology (the device equations are the MSS reference's, :mod:`.mss`): the nodal equations of
the array are stamped here element by element (drivers, row and column wire segments, devices,
sense resistors) into a scipy sparse matrix and solved by SuperLU; for MSS arrays, the state
ODE dx/dt = [(1-x)·P_on(v) - x·P_off(v)]/tau with v the device voltages of that solve under
the exact row sines is integrated by DOP853 (rtol 1e-9, atol 1e-12), one nodal solve per
right-hand-side evaluation. Any other cell the same way with its kind's own numpy statement:
``reference_rhs`` for the state, ``reference_current`` for the I-V, called per device (scalar
voltage, state vector) as the generic cell validator calls them. Its array is solved by Newton
on the stamped equations (each cell linearised by a central difference of
``reference_current``, h = 1e-6 V; device voltages to 1e-12 V), an algorithm apart from the
twin's chord iteration; the start states are the instance parameters the netlist is given
(the kind's ``program``).
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.integrate import solve_ivp
from scipy.sparse import csc_matrix
from scipy.sparse.linalg import splu

from ...compare.crossbar import random_conductances
from ...crossbar.generator import DC, crossbar_netlist
from ...crossbar.layers import CrossbarSolver, row_samples, simulate_crossbar
from ...crossbar.topology import CrossbarSpec
from ...devices import registry
from ...devices.mss import MSSParams
from ...spice.options import SPICE_OPTIONS
from ...stimuli import Sine
from . import Adapter
from .mss import (
    reference_conductance,
    reference_conductance_range,
    reference_rates,
    reference_state_from_conductance,
)

#: the devices with their own code paths here; any other registered cell is read through its kind
MSS, RESISTOR = "mss", "resistor"
#: (choice) Newton on the reference's non-linear array: central-difference step (V), tolerance
#: on the device voltages (V) and iteration cap
NEWTON_H, NEWTON_TOL, NEWTON_MAX = 1e-6, 1e-12, 50


def cell_devices() -> tuple[str, ...]:
    """The registered cells a crossbar case can name (besides ``resistor``): MSS, and every
    one-state cell that states an independent reference."""
    return (MSS, *(k.name for k in registry.kinds("cell") if k.name != MSS and len(k.states) == 1 and k.initial_state
                   and all(k.declares(f) for f in ("reference_rhs", "reference_current", "program"))))


def _device(stimulus: dict) -> str:
    return stimulus.get("device", MSS) if isinstance(stimulus, dict) else MSS


def params_class(device: str) -> type:
    """The Params record of a case naming ``device`` (MSS's for ``mss`` and ``resistor``)."""
    return MSSParams if device in (MSS, RESISTOR) or device not in cell_devices() else registry.get(device).params
ARRAY_KEYS = {"kind", "rows", "cols", "pairs", "r_wire", "r_driver", "r_sense", "device", "seed",
              "g_min", "g_max", "sine", "dc"}


class ArrayCase:
    """The array of a case: spec, conductances [R, Cp] (S), row stimuli, device."""

    def __init__(self, stimulus: dict, params: MSSParams):
        unknown = set(stimulus) - ARRAY_KEYS
        if unknown or stimulus.get("kind") != "crossbar":
            raise ValueError(f"crossbar cases take stimulus = {{kind = 'crossbar', ...}} with keys "
                             f"{sorted(ARRAY_KEYS)}; got kind {stimulus.get('kind')!r}, unknown {sorted(unknown)}")
        self.device = _device(stimulus)
        allowed = (*cell_devices(), RESISTOR)
        if self.device not in allowed:
            raise ValueError(f"stimulus.device = {self.device!r}: must be one of {allowed} (a registered cell needs "
                             "one state, program, initial_state, reference_rhs and reference_current)")
        r = [float(stimulus.get(k, 0.0)) for k in ("r_wire", "r_driver", "r_sense")]
        if not (all(x > 0 for x in r) or all(x == 0 for x in r)):
            raise ValueError("stimulus r_wire, r_driver, r_sense: all > 0 (wired) or all 0 (ideal)")
        self.spec = CrossbarSpec(stimulus.get("rows"), stimulus.get("cols"), stimulus.get("pairs", "differential"), *r)
        if self.device == MSS:
            default = reference_conductance_range(params)
        elif self.device == RESISTOR:
            default = reference_conductance_range(MSSParams())
        else:
            default = tuple(float(g) for g in registry.get(self.device).conductance_range(params))
        g_range = (float(stimulus.get("g_min", default[0])), float(stimulus.get("g_max", default[1])))
        self.seed = int(stimulus.get("seed", 0))
        self.g = random_conductances(self.spec, *g_range, seed=self.seed)
        self.stimuli = self._rows(stimulus)

    def _rows(self, stimulus: dict) -> list:
        n = self.spec.rows
        if self.device != RESISTOR:
            sine = stimulus.get("sine")
            if not isinstance(sine, dict) or set(sine) != {"low", "high", "freq"}:
                raise ValueError(f"an {self.device} array needs stimulus.sine = {{low, high, freq}} (V, V, Hz)")
            return [Sine(float(a), float(sine["freq"])) for a in np.linspace(sine["low"], sine["high"], n)]
        dc = stimulus.get("dc")
        if not isinstance(dc, dict) or set(dc) != {"low", "high"}:
            raise ValueError("a resistor array is read at DC: stimulus.dc = {low, high} (V)")
        levels = np.random.default_rng(self.seed + 1).uniform(float(dc["low"]), float(dc["high"]), n)
        return [DC(float(v)) for v in levels]

    @property
    def v_dc(self) -> np.ndarray:
        return np.array([s.level for s in self.stimuli])


# --- reference: the array's nodal equations, stamped here -----------------------------------


class NodalReference:
    """Kirchhoff's current law for the array, element by element (independent of the twin).

    Unknowns: row net (i, j) = i·Cp + j and column net (i, j) = R·Cp + i·Cp + j on a wired
    array. The row source drives row net (i, 0) through r_driver; column j's sense resistor
    runs from column net (R-1, j) to the 0 V ammeter."""

    def __init__(self, spec: CrossbarSpec):
        self.R, self.Cp = spec.rows, spec.physical_cols
        self.spec = spec
        R, Cp = self.R, self.Cp
        self.n = 2 * R * Cp
        row = np.arange(R * Cp).reshape(R, Cp)
        col = row + R * Cp
        self.row_net, self.col_net = row, col
        gw = 1.0 / spec.r_wire
        pairs = [(row[:, :-1].ravel(), row[:, 1:].ravel()), (col[:-1, :].ravel(), col[1:, :].ravel())]
        self.wire_a = np.concatenate([a for a, _ in pairs])
        self.wire_b = np.concatenate([b for _, b in pairs])
        self.g_wire = gw
        self.driven = row[:, 0]  # through r_driver to V_i
        self.sensed = col[-1, :]  # through r_sense to 0 V

    def _matrix(self, g: np.ndarray) -> csc_matrix:
        s = self.spec
        a = np.concatenate([self.wire_a, self.row_net.ravel()])
        b = np.concatenate([self.wire_b, self.col_net.ravel()])
        w = np.concatenate([np.full(self.wire_a.size, self.g_wire), g.ravel()])
        rows = np.concatenate([a, b, a, b, self.driven, self.sensed])
        cols = np.concatenate([a, b, b, a, self.driven, self.sensed])
        vals = np.concatenate([w, w, -w, -w, np.full(self.R, 1 / s.r_driver), np.full(self.Cp, 1 / s.r_sense)])
        return csc_matrix((vals, (rows, cols)), shape=(self.n, self.n))

    def solve(self, g: np.ndarray, v_rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(device voltages [B, R, Cp], ammeter currents [B, Cp]) for v_rows [B, R]."""
        v_rows = np.atleast_2d(v_rows)
        rhs = np.zeros((self.n, v_rows.shape[0]))
        rhs[self.driven] = v_rows.T / self.spec.r_driver
        u = splu(self._matrix(g)).solve(rhs).T
        v_dev = (u[:, self.row_net.ravel()] - u[:, self.col_net.ravel()]).reshape(-1, self.R, self.Cp)
        return v_dev, u[:, self.sensed] / self.spec.r_sense

    def solve_cells(self, current, v_rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(device voltages [R, Cp], ammeter currents [Cp]) for one row drive v_rows [R] with
        non-linear cells, ``current(v [R, Cp]) -> [R, Cp]`` (A): Newton, each cell replaced by
        its tangent conductance g_d and the current source I(v) - g_d·v (te -> be)."""
        v_rows = np.asarray(v_rows, dtype=float)
        rhs0 = np.zeros(self.n)
        rhs0[self.driven] = v_rows / self.spec.r_driver
        v_dev = np.repeat(v_rows[:, None], self.Cp, axis=1)
        for _ in range(NEWTON_MAX):
            g_d = (current(v_dev + NEWTON_H) - current(v_dev - NEWTON_H)) / (2 * NEWTON_H)
            i_eq = (current(v_dev) - g_d * v_dev).ravel()
            rhs = rhs0.copy()
            np.add.at(rhs, self.row_net.ravel(), -i_eq)
            np.add.at(rhs, self.col_net.ravel(), i_eq)
            u = splu(self._matrix(g_d)).solve(rhs)
            new = (u[self.row_net] - u[self.col_net])
            change, v_dev = np.abs(new - v_dev).max(), new
            if change <= NEWTON_TOL:
                return v_dev, u[self.sensed] / self.spec.r_sense
        raise RuntimeError(f"crossbar reference: Newton did not converge in {NEWTON_MAX} iterations "
                           f"(last change {change:.3g} V)")

    def ideal(self, g: np.ndarray, v_rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        v_rows = np.atleast_2d(v_rows)
        v_dev = np.repeat(v_rows[:, :, None], self.Cp, axis=2)
        return v_dev, np.einsum("br,rc->bc", v_rows, g)


def read_array(spec: CrossbarSpec, g: np.ndarray, v_rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Reference read: (v_dev [B, R, Cp], i [B, Cp]) of an ideal or wired array."""
    ref = NodalReference(spec) if spec.r_wire > 0 else None
    if ref is None:
        v_rows = np.atleast_2d(v_rows)
        return np.repeat(v_rows[:, :, None], g.shape[1], axis=2), v_rows @ g
    return ref.solve(g, v_rows)


def mss_array_reference(spec: CrossbarSpec, g0: np.ndarray, stimuli: list, p: MSSParams, t_stop: float,
                        rtol: float = 1e-9, atol: float = 1e-12):
    """DOP853 of the MSS array's state ODE; returns t -> (x [T, R·Cp], i [T, Cp])."""
    x0 = reference_state_from_conductance(g0, p).ravel()

    def conductance(x):
        return reference_conductance(x, p).reshape(g0.shape)

    def rows_at(t):
        return np.array([s.sample(t) for s in stimuli])

    def rhs(t, x):
        v_dev, _ = read_array(spec, conductance(x), rows_at(t))
        a, b = reference_rates(v_dev[0].ravel(), p)
        return (1.0 - x) * a - x * b

    sol = solve_ivp(rhs, (0.0, t_stop), x0, method="DOP853", rtol=rtol, atol=atol, dense_output=True)

    def at(t):
        t = np.atleast_1d(np.asarray(t, dtype=float))
        x = sol.sol(t).T
        i = np.stack([read_array(spec, conductance(xk), rows_at(tk))[1][0] for tk, xk in zip(t, x, strict=True)])
        return {"x": x, "i": i}

    return at


def cell_array_reference(spec: CrossbarSpec, kind, g0: np.ndarray, stimuli: list, p, t_stop: float,
                         rtol: float = 1e-9, atol: float = 1e-12):
    """DOP853 of an array of a registered one-state cell, from the kind's ``reference_rhs`` and
    ``reference_current`` (see the module docstring); returns t -> (x [T, R·Cp], i [T, Cp])."""
    x0 = np.asarray(kind.program(g0, p)[kind.initial_state], dtype=float).ravel()
    ref = NodalReference(spec) if spec.r_wire > 0 else None

    def each(fn, v, x):  # the reference hooks take one device: a scalar voltage and its state vector
        v = np.broadcast_to(v, x.shape)
        return np.array([float(np.asarray(fn(vk, np.array([xk]))).reshape(-1)[0])
                         for vk, xk in zip(v.ravel(), x.ravel(), strict=True)]).reshape(x.shape)

    def rows_at(t):
        return np.array([s.sample(t) for s in stimuli])

    def read(t, x):
        x = x.reshape(g0.shape)

        def current(v):
            return each(lambda vk, y: kind.reference_current(vk, y, p), v, x)

        if ref is None:
            v_dev = np.repeat(rows_at(t)[:, None], g0.shape[1], axis=1)
            return v_dev, current(v_dev).sum(0)
        return ref.solve_cells(current, rows_at(t))

    def rhs(t, x):
        v_dev, _ = read(t, x)
        return each(lambda vk, y: kind.reference_rhs(t, vk, y, p), v_dev.ravel(), x)

    sol = solve_ivp(rhs, (0.0, t_stop), x0, method="DOP853", rtol=rtol, atol=atol, dense_output=True)
    if not sol.success:
        raise RuntimeError(f"crossbar reference of {kind.name}: DOP853 failed: {sol.message}")

    def at(t):
        t = np.atleast_1d(np.asarray(t, dtype=float))
        x = sol.sol(t).T
        return {"x": x, "i": np.stack([read(tk, xk)[1] for tk, xk in zip(t, x, strict=True)])}

    return at


# --- the adapter ------------------------------------------------------------------------------


class CrossbarAdapter(Adapter):
    model = "crossbar"
    params_cls = MSSParams
    units = {"x": "1", "i": "A"}
    stimuli = ("crossbar",)
    #: no dt advice: each swept dt would rerun a whole array
    sweep_dts = ()
    #: an 8x8 MSS array costs ngspice about 100x a single device per timepoint
    spice_cost = 100.0
    provenance = ("crossbar arrays of Knowm MSS devices (Molter & Nugent 2016), of any registered cell with an "
                  "independent reference, or of resistors; ngspice nodal analysis")

    def params(self, case):
        """The case's parameters as the Params record of its device (MSS's for mss and resistor)."""
        cls = params_class(_device(case.stimulus))
        record = cls.preset(case.preset) if case.preset else cls()
        unknown = set(case.params) - set(record.__dataclass_fields__)
        if unknown:
            raise ValueError(f"params: unknown field(s) {sorted(unknown)} for {self.model} of "
                             f"{_device(case.stimulus)}; known: {sorted(record.__dataclass_fields__)}")
        return record.replace(**case.params)

    def array(self, case) -> ArrayCase:
        return ArrayCase(case.stimulus, self.params(case))

    def stimulus(self, case) -> ArrayCase:
        return self.array(case)

    def check(self, case) -> None:
        super().check(case)
        arr = self.array(case)
        if arr.device == RESISTOR and "x" in case.tolerance:
            raise ValueError("tolerance.x: a resistor array has no state; judge i")
        if arr.device not in (MSS, RESISTOR) and case.integrator not in registry.get(arr.device).integrators:
            raise ValueError(f"integrator = {case.integrator!r}: {arr.device} twins take "
                             f"{registry.get(arr.device).integrators}")

    def netlist(self, case) -> str:
        arr = self.array(case)
        options = {**SPICE_OPTIONS, "method": case.method}
        if arr.device == RESISTOR:
            return crossbar_netlist(arr.spec, RESISTOR, arr.g, stimuli=arr.stimuli, analysis="op")
        return crossbar_netlist(arr.spec, arr.device, arr.g, params=self.params(case), stimuli=arr.stimuli,
                                dt=case.dt, t_stop=case.t_stop, max_step=case.max_step, options=options,
                                save_states=True)

    def spice_traces(self, case, result, t):
        arr = self.array(case)
        cp = arr.spec.physical_cols
        if arr.device == RESISTOR:
            i = np.array([result[f"i(vsense_{j})"][0] for j in range(cp)])
            return {"i": np.repeat(i[None], t.size, axis=0)}
        state = registry.get(arr.device).states[0]
        x = np.stack([result.at(f"v(xd_{r}_{c}.{state})", t) for r in range(arr.spec.rows) for c in range(cp)], -1)
        return {"x": x, "i": np.stack([result.at(f"i(vsense_{j})", t) for j in range(cp)], -1)}

    def reference(self, case):
        arr = self.array(case)
        if arr.device == RESISTOR:
            i = read_array(arr.spec, arr.g, arr.v_dc)[1][0]
            return lambda t: {"i": np.repeat(i[None], np.size(t), axis=0)}
        if arr.device == MSS:
            return mss_array_reference(arr.spec, arr.g, arr.stimuli, self.model_params(case), case.t_stop)
        return cell_array_reference(arr.spec, registry.get(arr.device), arr.g, arr.stimuli, self.model_params(case),
                                    case.t_stop)

    def twin(self, case):
        arr = self.array(case)
        t = self.grid(case)
        if arr.device == RESISTOR:
            i = CrossbarSolver(arr.spec).solve(torch.tensor(arr.g), torch.tensor(arr.v_dc)[None])["i"][0].numpy()
            return {"i": np.repeat(i[None], t.size, axis=0)}
        out = simulate_crossbar(arr.spec, arr.device, torch.tensor(arr.g), row_samples(arr.stimuli, case.dt, t.size - 1),
                                case.dt, params=self.model_params(case), integrator=case.integrator)
        return {"x": out["state"][:, 0].reshape(t.size, -1).numpy(), "i": out["i"][:, 0].numpy()}


ADAPTER = CrossbarAdapter()
