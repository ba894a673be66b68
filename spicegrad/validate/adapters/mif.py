"""MIF neuron in the validator: alpha-train and constant-current cases.

Reference (B): the neuron ODE written again here from docs/device-models.md §2 (numpy, no code
shared with the twin; :func:`reference_neuron_rhs` and its pieces are the validator's one MIF
reference, which the STDP reference imports), driven by the analytic alpha current
I(t) = Σ w·((t − t_k)/τ_α)·exp(1 − (t − t_k)/τ_α), and integrated by scipy's DOP853 at
rtol 1e-9 (atol 1e-12), restarted at every spike time (the current's slope jumps there).
The membrane is stiff (C·R_on = 0.1 µs), so DOP853 takes sub-µs steps: a 10 ms case costs a
few seconds.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy.special import expit

from ...compare.mif import (
    UNITS,
    alpha_train_netlist,
    constant_current_netlist,
    spikes_on_grid,
)
from ...devices.alpha import AlphaCurrent, AlphaParams
from ...devices.mif import MIF, MIFParams, input_samples
from . import Adapter, piecewise_dop853

# --- the reference neuron: numpy, elementwise (scalars or arrays of neurons alike) ---------


def reference_volatility(p: MIFParams) -> tuple[float, float]:
    """(ν_off, ν_leak): form A (vol_form 0) scales the OFF rate by ν, form B (1) adds a leak ν·x."""
    return (p.nu if p.vol_form == 0 else 1.0), (p.nu if p.vol_form == 1 else 0.0)


def reference_conductance(x, p: MIFParams):
    """G(x) = x/r_on + (1 - x)/r_off (S) of either device."""
    return x / p.r_on + (1.0 - x) / p.r_off


def reference_switch_rate(x, vd, v_on: float, v_off: float, tau: float, p: MIFParams):
    """dx/dt = [(1 - x)·σ((vd - v_on)/v_t) - ν_off·x·σ(-(vd + v_off)/v_t) - ν_leak·x]/tau of a
    device at voltage ``vd`` (V)."""
    nu_off, nu_leak = reference_volatility(p)
    on = expit((vd - v_on) / p.v_t)
    off = expit(-(vd + v_off) / p.v_t)
    return ((1.0 - x) * on - nu_off * x * off - nu_leak * x) / tau


def reference_neuron_rhs(v, x1, x2, i_in, p: MIFParams):
    """(dV/dt, dx1/dt, dx2/dt) of the neuron at membrane ``v`` (V), states x1, x2 and input
    current ``i_in`` (A) into the membrane: c_mem·dV/dt = I_in - G1·(V - v1) - G2·(V - v2),
    vd1 = V - v1, vd2 = v2 - V (pol2 < 0) or V - v2."""
    g1, g2 = reference_conductance(x1, p), reference_conductance(x2, p)
    dv = (i_in - g1 * (v - p.v1) - g2 * (v - p.v2)) / p.c_mem
    vd1 = v - p.v1
    vd2 = (p.v2 - v) if p.pol2 < 0 else (v - p.v2)
    return (dv, reference_switch_rate(x1, vd1, p.v_on1, p.v_off1, p.tau1, p),
            reference_switch_rate(x2, vd2, p.v_on2, p.v_off2, p.tau2, p))


def _rhs_factory(p: MIFParams, current):
    def rhs(t, y):
        v, x1, x2 = y
        return list(reference_neuron_rhs(v, x1, x2, current(t), p))

    return rhs


class MIFAdapter(Adapter):
    model = "mif"
    params_cls = MIFParams
    units = UNITS
    stimuli = ("alpha", "constant")
    sweep_dts = (1e-7, 2e-7, 5e-7, 1e-6, 2e-6, 5e-6, 1e-5, 2e-5, 5e-5)
    spice_cost = 1.5
    provenance = (
        "Kang et al., IEEE TCAS-I 2021, via MEMprop (seed 002) Table III as reconstructed in "
        "docs/device-models.md §2 (memprop); tonic: same topology, parameters from a search"
    )

    def stimulus(self, case) -> dict:
        spec = dict(case.stimulus)
        kind = spec.pop("kind", None)
        if kind == "constant":
            if set(spec) != {"current"}:
                raise ValueError(f"stimulus 'constant' takes exactly: current (A); got {sorted(spec)}")
            return {"kind": kind, "current": float(spec["current"])}
        if kind == "alpha":
            allowed = {"spike_times", "w", "tau_alpha"}
            if set(spec) - allowed or not {"spike_times", "w"} <= set(spec):
                raise ValueError(f"stimulus 'alpha' takes spike_times (s), w (A, one peak or one per spike), "
                                 f"optional tau_alpha (s); got {sorted(spec)}")
            # w: one peak for every spike, or a signed peak per spike (the MEMprop network's
            # neurons see mixed-sign synaptic currents) carried as spike weights with w = 1 A.
            per_spike = isinstance(spec["w"], (list, tuple))
            weights = [float(w) for w in spec["w"]] if per_spike else None
            w = 1.0 if per_spike else float(spec["w"])
            alpha = AlphaParams(w=w, tau_alpha=float(spec.get("tau_alpha", AlphaParams().tau_alpha)))
            _, on_grid = spikes_on_grid(spec["spike_times"], case.steps, case.dt, weights)
            return {"kind": kind, "alpha": alpha, "spike_times": on_grid, "weights": weights}
        raise ValueError(f"stimulus kind {kind!r}: MIF cases take 'alpha' or 'constant'")

    def _rest(self, case):
        return MIF(self.params(case)).rest_state(like=torch.zeros((), dtype=torch.float64))

    def netlist(self, case) -> str:
        p, s, rest = self.params(case), self.stimulus(case), self._rest(case)
        if s["kind"] == "constant":
            return constant_current_netlist(p, s["current"], case.t_stop, case.dt, rest, case.max_step, case.method)
        return alpha_train_netlist(p, s["alpha"], s["spike_times"], case.t_stop, case.dt, rest, case.max_step,
                                   case.method, spike_weights=s["weights"])

    def spice_traces(self, case, result, t):
        s = self.stimulus(case)
        i_in = np.full_like(t, s["current"]) if s["kind"] == "constant" else result.at("xa.i", t)
        return {"v": result.at("m", t), "x1": result.at("xn.x1", t), "x2": result.at("xn.x2", t), "i_in": i_in}

    def _current(self, s):
        if s["kind"] == "constant":
            return lambda t: s["current"]
        tau, times = s["alpha"].tau_alpha, s["spike_times"]
        peaks = [s["alpha"].w * wk for wk in (s["weights"] or [1.0] * len(times))]  # A, per spike

        def current(t):
            total = 0.0
            for tk, peak in zip(times, peaks, strict=True):
                if t > tk:
                    u = (t - tk) / tau
                    total += peak * u * math.exp(1.0 - u)
            return total

        return current

    def reference(self, case):
        p, s = self.model_params(case), self.stimulus(case)
        current = self._current(s)
        rhs = _rhs_factory(p, current)
        rest = self._rest(case)
        y = [float(rest.v), float(rest.x1), float(rest.x2)]
        corners = sorted(tk for tk in s.get("spike_times", []) if 0 < tk < case.t_stop)
        edges = [0.0, *corners, case.t_stop]
        states = piecewise_dop853(rhs, edges, y, case.name)

        def at(t):
            t = np.atleast_1d(np.asarray(t, dtype=float))
            out = states(t)
            i_in = np.array([current(tt) for tt in t])
            return {"v": out[0], "x1": out[1], "x2": out[2], "i_in": i_in}

        return at

    def twin(self, case, **_):
        p, s = self.model_params(case), self.stimulus(case)
        if s["kind"] == "constant":
            drive = torch.full((case.steps,), s["current"], dtype=torch.float64)
            i_in = np.full(case.steps + 1, s["current"])
        else:
            spikes, _ = spikes_on_grid(s["spike_times"], case.steps, case.dt, s["weights"])
            alpha = AlphaCurrent(s["alpha"]).simulate(spikes, case.dt)
            drive, i_in = input_samples(alpha["i"]), alpha["i"].numpy()
        out = MIF(p).simulate(drive, case.dt, integrator=case.integrator, state0=self._rest(case))
        return {**{k: v.detach().numpy() for k, v in out.items()}, "i_in": i_in}


ADAPTER = MIFAdapter()
