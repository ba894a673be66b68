"""Per-model glue for the validator: how a case becomes ngspice (A), reference (B), twin (C).

An adapter knows its model's parameter record, waveforms and units, which stimuli it takes,
the netlist of a case, an independent reference integration of the model's ODE (numpy/scipy,
written from the equations, sharing no code with the twin), and the twin run.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import numpy as np

from ...devices import registry
from ...errors import InputError
from ...spice.cache import cached_run
from ...stimuli import grid
from ..choices import CIRCUITS, validated_models


def piecewise_dop853(rhs, edges, y0, name: str, max_step: float = np.inf):
    """Integrate ``rhs`` with scipy's DOP853 (rtol 1e-9, atol 1e-12, steps at most ``max_step``),
    restarted at every edge (where the stimulus has a corner); returns ``at(t) -> [n_state, len(t)]``
    by dense output. The validator's independent reference (B) for ODE models.

    ``max_step``: a stimulus that starts where the model does not move lets DOP853's first step
    grow past a fast response (a VTEAM cell answers in ns); a cell passes its case's dt. ``at``
    takes times in [edges[0], edges[-1]], and times past the last edge by rounding only (a grid
    k·dt that overshoots t_stop by < 1e-9 of the span); others raise ValueError."""
    from scipy.integrate import solve_ivp

    pieces, y = [], np.asarray(y0, dtype=float)
    for t0, t1 in zip(edges[:-1], edges[1:], strict=True):
        sol = solve_ivp(rhs, (t0, t1), y, method="DOP853", rtol=1e-9, atol=1e-12, dense_output=True,
                        max_step=max_step)
        if not sol.success:
            raise RuntimeError(f"{name}: reference integration failed on [{t0:g}, {t1:g}] s: {sol.message}")
        pieces.append((t0, t1, sol.sol))
        y = sol.y[:, -1]
    first, last = float(edges[0]), float(edges[-1])
    slack = 1e-9 * (last - first)

    def at(t):
        t = np.atleast_1d(np.asarray(t, dtype=float))
        outside = (t < first - slack) | (t > last + slack)
        if outside.any():
            raise ValueError(f"{name}: reference asked for t = {t[outside][0]!r} s, outside [{first:g}, {last:g}] s")
        t = np.clip(t, first, last)
        out = np.empty((y.size, t.size))
        for t0, t1, sol in pieces:
            sel = (t >= t0) & (t <= t1)
            if sel.any():
                out[:, sel] = sol(t[sel])
        return out

    return at


class Adapter:
    model: str = ""
    params_cls: Any = None
    units: dict[str, str] = {}
    stimuli: tuple[str, ...] = ()
    integrators: tuple[str, ...] = ("euler", "exp-euler")
    #: twin dt values swept for dt advice (empty: the model has no integrator to advise on)
    sweep_dts: tuple[float, ...] = (5e-7, 1e-6, 2e-6, 5e-6, 1e-5, 2e-5, 5e-5, 1e-4, 2e-4, 5e-4)
    #: relative ngspice cost per timepoint (for the run-time estimate)
    spice_cost: float = 1.0
    provenance: str = ""

    # -- case checks ---------------------------------------------------------------------
    def params(self, case) -> Any:
        record = self.params_cls.preset(case.preset) if case.preset else self.params_cls()
        fields = set(record.__dataclass_fields__)
        unknown = set(case.params) - fields
        if unknown:
            raise ValueError(f"params: unknown field(s) {sorted(unknown)} for {self.model}; known: {sorted(fields)}")
        return record.replace(**case.params)

    def model_params(self, case) -> Any:
        """Parameters of the twin's model (reference B and twin C): the case's, with
        ``twin_params`` on top (a deliberate mismatch for negative controls)."""
        record = self.params(case)
        unknown = set(case.twin_params) - set(record.__dataclass_fields__)
        if unknown:
            raise ValueError(f"twin_params: unknown field(s) {sorted(unknown)} for {self.model}")
        return record.replace(**case.twin_params)

    def check(self, case) -> None:
        self.model_params(case)
        self.stimulus(case)
        if case.integrator not in self.integrators:
            raise ValueError(f"integrator = {case.integrator!r}: {self.model} twins take {self.integrators}")
        unknown = set(case.tolerance) - set(self.units)
        if unknown:
            raise ValueError(f"tolerance: unknown waveform(s) {sorted(unknown)}; {self.model} has {sorted(self.units)}")
        if case.method not in ("trap", "gear"):
            raise ValueError(f"spice.method = {case.method!r}: must be 'trap' or 'gear'")

    def stimulus(self, case) -> Any:
        raise NotImplementedError

    @staticmethod
    def base_dir(case) -> Path | None:
        return Path(case.source).parent if case.source and Path(case.source).exists() else None

    # -- the three traces ----------------------------------------------------------------
    def sweep_dts_for(self, case) -> tuple[float, ...]:
        """The twin dt values the dt sweep of ``case`` tries (default: :attr:`sweep_dts`)."""
        return self.sweep_dts

    def grid(self, case) -> np.ndarray:
        return grid(case.dt, case.t_stop)

    def netlist(self, case) -> str:
        raise NotImplementedError

    def spice_traces(self, case, result, t) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def spice(self, case, use_cache: bool = True) -> dict[str, np.ndarray]:
        return self.spice_traces(case, cached_run(self.netlist(case), use_cache=use_cache), self.grid(case))

    def reference(self, case):
        """A callable t -> {waveform: array}: the independent integration, densely evaluable."""
        raise NotImplementedError

    def twin(self, case) -> dict[str, np.ndarray]:
        raise NotImplementedError

    # -- stochastic mode -----------------------------------------------------------------
    def ensembles(self, case) -> tuple[dict, dict]:
        """(reference, twin) ensemble statistics {waveform: (mean, std, n)} on the grid."""
        raise NotImplementedError(f"{self.model} has no stochastic validation mode")


def get_adapter(model: str) -> Adapter:
    """The adapter of a registered device (its ``adapter`` entry) or of a circuit model."""
    if model in CIRCUITS:
        return importlib.import_module(f"{__name__}.{CIRCUITS[model]}").ADAPTER
    if model not in validated_models():
        raise InputError(f"model = {model!r}: must be one of {', '.join(map(repr, validated_models()))}")
    kind = registry.get(model)
    if kind.adapter is None:  # a cell that states its own reference ODE
        from .cell import CellAdapter

        return CellAdapter(kind)
    return registry.resolve(kind.adapter, kind)
