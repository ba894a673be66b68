"""The validator for any registered two-terminal cell that declares an independent reference.

A :class:`~spicegrad.devices.registry.DeviceKind` with ``role="cell"``, a twin ``step`` and a
``reference_rhs`` is validated without a hand-written adapter: the testbench drives te with the
case's voltage stimulus (be and the grounded pins on ground) and probes every declared state and
the device current; the twin advances the registered step on the step-held samples; the
reference integrates the kind's own numpy statement of the ODE by DOP853 (steps at most the
case's dt, so a fast response after a quiet start is not stepped over). The reference is the
user's second, independent statement of the model: the validator never derives it from the twin.

Waveforms: each state (unit "1") and ``i`` (A). The initial state is the params' own
``initial_state`` instance parameter (its dataclass default when it is a field, else 0).
"""

from __future__ import annotations

import numpy as np
import torch

from ...devices.registry import DeviceKind
from ...errors import InputError
from ...spice.netlist import Netlist
from ...spice.options import SPICE_OPTIONS
from ...stimuli import from_spec, step_samples
from . import Adapter, piecewise_dop853

#: the dt sweep of a cell case, in units of the case's dt
SWEEP_MULTIPLES = (0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0)


class CellAdapter(Adapter):
    """Adapter built from a registered cell kind (see the module docstring)."""

    stimuli = ("sine", "triangle", "pulse", "pwl")

    def __init__(self, kind: DeviceKind):
        missing = [f for f in ("step", "reference_rhs") if getattr(kind, f) is None]
        if kind.role != "cell" or missing or not kind.states:
            raise InputError(f"device {kind.name!r}: the generic cell validator needs role='cell', at least one "
                             f"state and both step and reference_rhs (missing: {missing or 'none'})")
        self.kind = kind
        self.model = kind.name
        self.params_cls = kind.params
        self.integrators = kind.integrators
        self.provenance = kind.provenance
        self.units = {**{s: "1" for s in kind.states}, "i": "A"}

    def sweep_dts_for(self, case) -> tuple[float, ...]:
        """A 1-2-5 ladder around the case's own dt (a registered cell may live on any time
        scale: µs for the MSS, ns for VTEAM's default rates)."""
        return tuple(case.dt * m for m in SWEEP_MULTIPLES)

    def x0(self, params) -> float:
        name = self.kind.initial_state
        return float(getattr(params, name, 0.0)) if name else 0.0

    def stimulus(self, case):
        return from_spec(case.stimulus, self.base_dir(case))

    def netlist(self, case) -> str:
        kind, params = self.kind, self.params(case)
        net = Netlist(f"spicegrad {kind.name} testbench")
        net.include(kind.lib_path())
        net.vsource("s", "te", "0", self.stimulus(case).to_spice())
        pins = ["te", *("0" for _ in kind.pins[1:])]
        instance = dict(params.spice_params())
        if kind.initial_state:
            instance[kind.initial_state] = self.x0(params)
        net.subckt("m", pins, kind.subckt, instance)
        net.options(**SPICE_OPTIONS, method=case.method)
        net.tran(case.dt, case.t_stop, max_step=case.max_step if case.max_step is not None else case.dt / 10)
        net.save("v(te)", "i(vs)", *(kind.probe("m", s) for s in kind.states))
        return net.render()

    def spice_traces(self, case, result, t):
        # SPICE's branch current runs + -> - through the source: minus the device current
        out = {s: result.at(f"xm.{s}", t) for s in self.kind.states}
        out["i"] = -result.at("i(vs)", t)
        return out

    def reference(self, case):
        kind, p, stim = self.kind, self.model_params(case), self.stimulus(case)
        n = len(kind.states)

        def rhs(t, y):
            return np.asarray(kind.reference_rhs(t, stim.sample(t), y, p), dtype=float).reshape(n)

        corners = stim.breakpoints(case.t_stop) if hasattr(stim, "breakpoints") else np.array([])
        edges = np.concatenate([[0.0], corners, [case.t_stop]])
        y0 = np.full(n, self.x0(p))
        states = piecewise_dop853(rhs, edges, y0, case.name, max_step=case.dt)

        def at(t):
            t = np.atleast_1d(np.asarray(t, dtype=float))
            y = states(t)
            out = {s: y[j] for j, s in enumerate(kind.states)}
            if kind.reference_current is not None:
                out["i"] = np.asarray(kind.reference_current(stim.sample(t), y, p), dtype=float)
            return out

        return at

    def twin(self, case):
        kind, p = self.kind, self.model_params(case)
        v = torch.tensor(step_samples(self.stimulus(case), case.dt, case.steps), dtype=torch.float64)
        x = torch.full((len(kind.states),), self.x0(p), dtype=torch.float64)
        xs = [x]
        for k in range(case.steps):
            x = kind.step(v[k], x, p, case.dt, case.integrator)
            xs.append(x)
        traj = torch.stack(xs)  # [T+1, n_states]
        out = {s: traj[:, j].numpy() for j, s in enumerate(kind.states)}
        if kind.current is not None or kind.conductance is not None:  # the current at t_k: I(v(t_k), x_k)
            v_grid = torch.tensor(self.stimulus(case).sample(self.grid(case)), dtype=torch.float64)
            out["i"] = kind.cell_current(v_grid, traj[:, 0], p).numpy()
        return out
