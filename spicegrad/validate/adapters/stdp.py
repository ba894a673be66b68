"""Device-level STDP windows in the validator: MIF pre/post neurons and MSS synapses, one per Δt.

A case sweeps Δt inside one run, so the swept quantity rides on the existing contract as a
trailing axis (like a crossbar's devices): waveforms are traces on the grid t_k = k·dt,

* ``x`` [T+1, N]: the synapse state of pair i (Δt_i) — its last sample minus x0 *is* the
  window Δx(Δt_i), so ``x.max_abs`` bounds the window error at every Δt (and the path to it);
* ``v_syn`` [T+1, N]: gain·(V_post − V_pre) across synapse i (V);
* ``v_post`` [T+1, N], ``v_pre`` [T+1]: the membranes (V).

No extension of the Adapter base was needed. The case table::

    model = "stdp"
    preset = "zhou-tonic-knowm"              # PairProtocol preset; params = {...} overrides it
    stimulus = { kind = "pairs", delta_t = [-0.4e-3, 0.4e-3] }   # Δt = t_post − t_pre (s)
    t_stop = 3.5e-3                          # >= t_lead + span(Δt) + t_tail (checked)

``twin_params`` changes the devices, gain and x0 the twin and reference see (the pulse
schedule stays the case's): a negative control.

Reference (B), sharing no code with the twins: the whole circuit — 1 + N neurons (V, x1, x2)
and N synapses (x) — as one numpy right-hand side, the current pulses as exact trapezoids,
integrated by scipy's DOP853 (rtol 1e-9, atol 1e-12) and restarted at every pulse corner. It
reuses the validator's device references rather than restating them: the neurons are the MIF
reference's right-hand side (:func:`.mif.reference_neuron_rhs`, docs/device-models.md §2) and
the synapses the MSS reference's rates (:func:`.mss.reference_rates`, with its k, q and V_T,
§1); only the pair's wiring is written here. All three (ngspice, reference, twin) start from
the MIF twin's rest state (a common initial condition, as in the MIF adapter) and x0.
"""

from __future__ import annotations

import numpy as np
import torch

from ...compare.stdp import UNITS, pair_netlist, sample_traces, twin_traces
from ...compare.stdp_protocol import PairProtocol, as_delta_t, schedule
from ...devices.mif import MIF
from . import Adapter, piecewise_dop853
from .mif import reference_neuron_rhs
from .mss import reference_rates


def _trapezoid(t: float, t_on: np.ndarray, proto: PairProtocol) -> np.ndarray:
    """Pulse current (A) at time t for pulses starting at ``t_on``."""
    e, w = proto.t_edge, proto.t_pulse
    s = t - t_on
    return proto.i_pulse * np.clip(np.minimum(s / e, (2 * e + w - s) / e), 0.0, 1.0)


def _circuit_rhs(drive: PairProtocol, model: PairProtocol, onsets: np.ndarray):
    """d/dt of y = [V (1+N), x1 (1+N), x2 (1+N), x_syn (N)]; neuron 0 is the pre neuron.

    The neurons are the MIF reference's right-hand side, the synapses the MSS reference's
    rates: only the wiring (current pulses in, buffered membrane difference across each
    synapse) is written here."""
    n = model.neuron_params()
    s = model.synapse_params()
    m = len(onsets)

    def rhs(t, y):
        v, x1, x2, xs = y[:m], y[m:2 * m], y[2 * m:3 * m], y[3 * m:]
        dv, dx1, dx2 = reference_neuron_rhs(v, x1, x2, _trapezoid(t, onsets, drive), n)
        a, b = reference_rates(model.gain * (v[1:] - v[0]), s)
        return np.concatenate([dv, dx1, dx2, (1.0 - xs) * a - xs * b])

    return rhs


class STDPAdapter(Adapter):
    model = "stdp"
    params_cls = PairProtocol
    units = UNITS
    stimuli = ("pairs",)
    #: dt advice for the pair (each swept dt reruns one batched twin, ~1 s per µs-step run)
    sweep_dts = (2.5e-7, 5e-7, 1e-6, 2e-6, 5e-6)
    #: about 2.5 single-device timepoints per pair; a case holds ~6 pairs
    spice_cost = 15.0
    provenance = (
        "Zhou, Choi, Eshraghian, Kang, arXiv:2203.01416 (STDP from pre/post waveform overlap); "
        "MIF tonic preset (docs/device-models.md §2), Knowm MSS (Molter & Nugent 2016); buffers, gain, "
        "pulses and x0 as chosen in spicegrad.compare.stdp_protocol"
    )

    def stimulus(self, case) -> np.ndarray:
        spec = dict(case.stimulus)
        if spec.get("kind") != "pairs" or set(spec) != {"kind", "delta_t"}:
            raise ValueError(f"stdp cases take stimulus = {{kind = 'pairs', delta_t = [...] (s)}}; got {case.stimulus!r}")
        d = as_delta_t(spec["delta_t"])
        schedule(d, self.params(case), case.t_stop)  # t_stop long enough for every pair
        return d

    def netlist(self, case) -> str:
        return pair_netlist(self.stimulus(case), self.params(case), case.dt, case.t_stop, case.max_step, case.method)

    def spice_traces(self, case, result, t):
        return sample_traces(result, t, len(self.stimulus(case)))

    def reference(self, case):
        drive, model = self.params(case), self.model_params(case)
        sched = schedule(self.stimulus(case), drive, case.t_stop)
        onsets = np.array([sched.t_pre, *sched.t_post])
        m = onsets.size
        rest = MIF(model.neuron_params()).rest_state(like=torch.zeros((), dtype=torch.float64))
        y = np.concatenate([np.full(m, float(rest.v)), np.full(m, float(rest.x1)), np.full(m, float(rest.x2)),
                            np.full(m - 1, model.x0)])
        e, w = drive.t_edge, drive.t_pulse
        corners = np.unique(np.concatenate([onsets + c for c in (0.0, e, e + w, 2 * e + w)]))
        edges = [0.0, *corners[(corners > 0) & (corners < case.t_stop)], case.t_stop]
        rhs = _circuit_rhs(drive, model, onsets)
        states = piecewise_dop853(rhs, edges, y, case.name)

        def at(t):
            out = states(t)
            v = out[:m].T
            return {"v_pre": v[:, 0], "v_post": v[:, 1:], "v_syn": model.gain * (v[:, 1:] - v[:, :1]),
                    "x": out[3 * m:].T}

        return at

    def twin(self, case, **_):
        out = twin_traces(self.stimulus(case), self.params(case), case.dt, case.integrator, case.t_stop,
                          twin_proto=self.model_params(case))
        return {k: out[k] for k in UNITS}


ADAPTER = STDPAdapter()
