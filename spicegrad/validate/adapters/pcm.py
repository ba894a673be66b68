"""PCM cell in the validator: SET/RESET schedules, deterministic and stochastic.

The PCM model is an event model: its grid is the pulse slot (the case's dt is the slot period)
and there is no integrator, so the twin's only error against the reference is arithmetic.
Reference (B): the Nandakumar 2018 recursion written again here in numpy from
DEVICE-MODELS.md §3; the stochastic reference draws 200,000 devices (seeded), the twin's
ensemble is judged against it within 3 standard errors per pulse.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ...devices.pcm import PCMArray, PCMParams
from ...spice.benches.pcm import PulseTiming, pcm_netlist
from ..metrics import ensemble_stats
from . import Adapter

UNITS = {"g_us": "µS", "g_read_us": "µS", "n": "1"}
REFERENCE_DEVICES = 200_000


def numpy_reference(n_devices: int, n_pulses: int, seed: int | None, p: PCMParams) -> np.ndarray:
    """G (µS) after each SET pulse from a fresh RESET, [n_pulses + 1, n_devices].

    ``seed=None`` is the mean field (ξ = 0, reset exactly to G0)."""
    rng = np.random.default_rng(seed) if seed is not None else None
    draw = (lambda: rng.standard_normal(n_devices)) if rng is not None else (lambda: np.zeros(n_devices))
    g = np.clip(p.g0_us * (1 + p.g0_spread * draw()), p.g_min_us, p.g_max_us)
    out = [g]
    for n in range(1, n_pulses + 1):
        decay = math.exp(-n / p.a)
        mu = p.m1 * g + p.c1_us + p.a1_us * decay
        sigma = p.m2 * g + p.c2_us + p.a2_us * decay
        g = np.clip(g + mu + sigma * draw(), p.g_min_us, p.g_max_us)
        out.append(g)
    return np.stack(out)


class PCMAdapter(Adapter):
    model = "pcm"
    params_cls = PCMParams
    units = UNITS
    stimuli = ("set_pulses",)
    integrators = ("event",)
    sweep_dts = ()
    provenance = "Nandakumar et al., J. Appl. Phys. 124, 152135 (2018); SRNN-PCM code (MIT)"

    def stimulus(self, case) -> int:
        spec = dict(case.stimulus)
        if spec.pop("kind", None) != "set_pulses" or set(spec) - {"n"}:
            raise ValueError("PCM cases take stimulus = { kind = \"set_pulses\" } (one SET per slot from a fresh RESET)")
        n = spec.get("n", case.steps)
        if n != case.steps:
            raise ValueError(f"stimulus.n = {n!r}: one SET per slot means n = t_stop/dt = {case.steps}")
        PulseTiming(period=case.dt)  # checks that the slot holds the pulses
        return case.steps

    def netlist(self, case) -> str:
        n = self.stimulus(case)
        zeros = np.zeros(n)
        return pcm_netlist(self.params(case), np.ones(n), zeros, zeros, np.zeros(n + 1),
                           PulseTiming(period=case.dt), case.method)

    def spice_traces(self, case, result, t):
        timing = PulseTiming(period=case.dt)
        g_read = -result.at("i(vte)", t) / timing.v_read * 1e6  # A -> µS; source current sign
        return {"g_us": result.at("xp.g", t), "g_read_us": g_read, "n": result.at("xp.n", t)}

    def reference(self, case):
        p, n = self.model_params(case), self.stimulus(case)
        g = numpy_reference(1, n, None, p)[:, 0]
        # reads at slot boundaries, at most one slot after the write: within t0, so G itself
        elapsed = np.maximum(case.dt, p.t0)
        g_read = np.clip(g * (elapsed / p.t0) ** (-p.nu_d), p.g_min_us, p.g_max_us)
        return lambda t: {"g_us": g, "g_read_us": g_read, "n": np.arange(n + 1, dtype=float)}

    def twin(self, case, **_):
        array = PCMArray(self.model_params(case), (), deterministic=True, dtype=torch.float64)
        out = array.simulate(torch.ones(self.stimulus(case)), dt=case.dt)
        return {k: out[k].numpy() for k in UNITS}

    def ensembles(self, case):
        p, n = self.model_params(case), self.stimulus(case)
        ref = numpy_reference(REFERENCE_DEVICES, n, case.seed + 1_000_003, p)
        gen = torch.Generator().manual_seed(case.seed)
        array = PCMArray(p, (case.ensemble,), generator=gen, dtype=torch.float64)
        twin = array.simulate(torch.ones(n), dt=case.dt, read=False)["g_us"].numpy()
        valid = np.ones(n + 1, dtype=bool)
        valid[0] = False  # the fresh RESET: clipped at G_min for half the devices
        return {"g_us": ensemble_stats(ref)}, {"g_us": ensemble_stats(twin)}, valid


ADAPTER = PCMAdapter()
