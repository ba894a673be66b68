"""STDP pair: MIF pre and post neurons, ideal buffers, one MSS synapse per Δt, in ngspice and in the twin.

The netlist is built from :class:`~spicegrad.compare.stdp_protocol.PairProtocol` (the twin reads the
same record). One shared pre neuron ``xpre`` (membrane ``mpre``) and, for each Δt_i, a post
neuron ``xpost<i>`` (membrane ``mpost<i>``); ideal VCVS buffers ``Epre`` (node ``bpre`` =
gain·V(mpre)) and ``Epost<i>`` (``bpost<i>`` = gain·V(mpost<i>)); synapse ``xsyn<i>`` with te on
``bpost<i>`` and be on ``bpre``, so v_syn = gain·(V_post − V_pre) (pre-before-post
potentiates, see the protocol). Current pulses are PWL sources into each membrane. All
neurons start at the twin's rest state, the synapses at x0 (``.tran ... uic``); ngspice runs
with the cross-check tolerances (:data:`~spicegrad.spice.options.SPICE_OPTIONS`); traces are
sampled at the twin's grid t_k = k·dt.

(choice) :func:`spice_traces` caps ngspice's step at :data:`SPICE_MAX_STEP` = 0.1 µs whatever
the twin's dt: there, ngspice and the validator's DOP853 reference (rtol 1e-9) agree to
2.4e-7 in x and 5 µV in v_syn (6 pairs, measured), so a finer ngspice step would only cost
time (41 pairs over 6.7 ms: 51 s at 0.1 µs, 120 s at 0.05 µs).
"""

from __future__ import annotations

import numpy as np
import torch

from ..devices.mif import MIF
from ..devices.mss import MSS
from ..spice.cache import cached_run
from ..spice.library import lib_path
from ..spice.netlist import Netlist, number, pwl
from ..spice.options import SPICE_OPTIONS
from ..spice.runner import Result
from ..stimuli import grid
from .choices import DEFAULT_DT
from .stdp_protocol import PairProtocol, Schedule, pwl_step_means, schedule

UNITS = {"v_pre": "V", "v_post": "V", "v_syn": "V", "x": "1"}

#: ngspice's maximum step for the STDP bench (s); see the module docstring
SPICE_MAX_STEP = 1e-7
#: ngspice seconds per (Δt pair × max step) of the bench, measured on a 2-core machine: the
#: 41-pair window (6.7 ms at 0.1 µs, 2.7 M pair-steps) took 70 s; for a time estimate only
SPICE_SECONDS_PER_PAIR_STEP = 2.6e-5


def spice_seconds_estimate(delta_t, proto: PairProtocol | None = None) -> float:
    """About how long ngspice takes for the window at these Δt (s), from the measured rate."""
    sched = schedule(delta_t, proto or PairProtocol())
    return len(sched.delta_t) * sched.t_stop / SPICE_MAX_STEP * SPICE_SECONDS_PER_PAIR_STEP


class _Netlist(Netlist):
    """Netlist plus the ideal buffer (tokens checked as in :class:`Netlist`)."""

    def vcvs(self, name: str, plus: str, minus: str, cplus: str, cminus: str, gain: float) -> None:
        self._element("E" + name, (plus, minus, cplus, cminus), [number(gain, f"E{name} gain")])


def pair_netlist(
    delta_t,
    proto: PairProtocol,
    dt: float,
    t_stop: float | None = None,
    max_step: float | None = None,
    method: str = "trap",
) -> str:
    """Testbench for every Δt in ``delta_t`` (s) at once; saves membranes, v_syn nodes and x."""
    sched = schedule(delta_t, proto, t_stop)
    neuron, synapse = proto.neuron_params(), proto.synapse_params()
    rest = MIF(neuron).rest_state(like=torch.zeros((), dtype=torch.float64))
    ic = {"v0": float(rest.v), "x10": float(rest.x1), "x20": float(rest.x2)}
    net = _Netlist(f"STDP pair testbench, {len(sched.delta_t)} delta_t, gain {proto.gain:g}")
    net.include(lib_path("mif"))
    net.include(lib_path("mss"))
    saves = ["v(mpre)", "v(bpre)"]
    net.isource("pre", "0", "mpre", pwl(*proto.pulse_knots(sched.t_pre)))
    net.subckt("pre", ["mpre"], "mif", {**neuron.spice_params(), **ic})
    net.vcvs("pre", "bpre", "0", "mpre", "0", proto.gain)
    for i, t_on in enumerate(sched.t_post):
        m, b = f"mpost{i}", f"bpost{i}"
        net.isource(f"post{i}", "0", m, pwl(*proto.pulse_knots(float(t_on))))
        net.subckt(f"post{i}", [m], "mif", {**neuron.spice_params(), **ic})
        net.vcvs(f"post{i}", b, "0", m, "0", proto.gain)
        net.subckt(f"syn{i}", [b, "bpre"], "mss", {**synapse.spice_params(), "x0": proto.x0})
        saves += [f"v({m})", f"v({b})", f"v(xsyn{i}.x)"]
    net.options(**SPICE_OPTIONS, method=method)
    net.tran(dt, sched.t_stop, max_step=dt / 10 if max_step is None else max_step)
    net.save(*saves)
    return net.render()


def sample_traces(result: Result, t: np.ndarray, n: int) -> dict[str, np.ndarray]:
    """``v_pre`` [T], ``v_post``, ``v_syn``, ``x`` [T, n] from a :func:`pair_netlist` run, at ``t``."""
    v_post = np.stack([result.at(f"mpost{i}", t) for i in range(n)], axis=1)
    v_syn = np.stack([result.at(f"bpost{i}", t) - result.at("bpre", t) for i in range(n)], axis=1)
    x = np.stack([result.at(f"xsyn{i}.x", t) for i in range(n)], axis=1)
    return {"v_pre": result.at("mpre", t), "v_post": v_post, "v_syn": v_syn, "x": x}


def spice_traces(
    delta_t,
    proto: PairProtocol | None = None,
    dt: float = DEFAULT_DT,
    t_stop: float | None = None,
    method: str = "trap",
    use_cache: bool = True,
    max_step: float = SPICE_MAX_STEP,
) -> dict:
    """ngspice traces on the twin's grid t_k = k·dt (``t`` included), through the result cache."""
    proto = proto or PairProtocol()
    sched = schedule(delta_t, proto, t_stop)
    t = grid(dt, sched.t_stop)
    netlist = pair_netlist(sched.delta_t, proto, dt, sched.t_stop, max_step=max_step, method=method)
    result = cached_run(netlist, use_cache=use_cache)
    return {"t": t, **sample_traces(result, t, len(sched.delta_t)), "ngspice_version": result.ngspice_version}


def neuron_drive(sched: Schedule, proto: PairProtocol, dt: float, steps: int) -> np.ndarray:
    """Input current [steps, 1 + N] (A): column 0 the pre neuron, column 1 + i post neuron i."""
    onsets = [sched.t_pre, *sched.t_post]
    return np.stack([pwl_step_means(*proto.pulse_knots(t), dt, steps) for t in onsets], axis=1)


def twin_traces(
    delta_t,
    proto: PairProtocol | None = None,
    dt: float = DEFAULT_DT,
    integrator: str = "exp-euler",
    t_stop: float | None = None,
    twin_proto: PairProtocol | None = None,
) -> dict[str, np.ndarray]:
    """Twin traces on t_k = k·dt: ``t`` [T+1], ``v_pre`` [T+1], ``v_post``, ``v_syn``, ``x`` [T+1, N].

    ``twin_proto`` (default ``proto``) gives the devices and gain the twin uses while the
    schedule stays ``proto``'s: a deliberate mismatch for negative controls.
    """
    proto = proto or PairProtocol()
    model = twin_proto or proto
    sched = schedule(delta_t, proto, t_stop)
    t = grid(dt, sched.t_stop)
    steps = t.size - 1
    drive = torch.tensor(neuron_drive(sched, proto, dt, steps), dtype=torch.float64)
    mif = MIF(model.neuron_params())
    out = mif.simulate(drive, dt, integrator=integrator, state0=mif.rest_state(like=drive))
    v = out["v"]
    v_syn = model.gain * (v[:, 1:] - v[:, :1])
    v_mid = 0.5 * (v_syn[1:] + v_syn[:-1])
    # A neuron run past its stability bound (forward Euler, MIF warns) has no synapse voltage
    # from its first non-finite step on: x is NaN from there, so callers see the divergence.
    bad = (~torch.isfinite(v_mid)).any(dim=1).nonzero()
    k = int(bad[0]) if bad.numel() else steps
    x = torch.full((steps + 1, v_syn.shape[1]), float("nan"), dtype=torch.float64)
    if k > 0:
        x[: k + 1] = MSS(model.synapse_params()).simulate(v_mid[:k], dt, x0=model.x0, integrator=integrator)["x"]
    else:
        x[0] = model.x0
    return {
        "t": t,
        "v_pre": v[:, 0].numpy(),
        "v_post": v[:, 1:].numpy(),
        "v_syn": v_syn.numpy(),
        "x": x.numpy(),
    }
