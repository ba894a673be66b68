"""PCM cell in the validator: SET/RESET schedules, deterministic, CRN and stochastic.

The PCM model is an event model: its grid is the pulse slot (the case's dt is the slot period)
and there is no integrator, so the twin's only error against the reference is arithmetic.
Reference (B): the Nandakumar 2018 recursion written again here in numpy from
docs/device-models.md §3. Modes:

* ``deterministic``: the mean-field device (every ξ = 0).
* ``crn`` (common random numbers): one device whose write, reset and read noise samples ξ are
  drawn from ``seed`` and fed to all three — ngspice through its ``xi`` input, the reference and
  the twin as explicit samples — so the stochastic device is compared trace for trace, under the
  deterministic tolerances.
* ``stochastic``: the reference draws 200,000 devices (seeded), the twin's ensemble is judged
  against it within 3 standard errors per pulse (ngspice runs the mean field beside it).

Stimulus ``{ kind = "set_pulses", resets = [k, ...] }``: one SET per slot from a fresh RESET;
the slots listed in ``resets`` (optional) RESET before their SET, as a refresh does.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ...compare.pcm import PulseTiming, pcm_netlist, pcm_spice_traces
from ...devices.pcm import PCMArray, PCMParams
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


def numpy_schedule(p: PCMParams, dt: float, rst: np.ndarray, xi: np.ndarray, xi_read: np.ndarray) -> dict:
    """One device, a SET in every slot k (after a RESET where ``rst[k]``), samples given:
    ``xi[k]`` serves slot k's RESET and SET, ``xi_read[k]`` the read at the slot boundary t_k.
    Returns g_us, g_read_us and n at t_k = k·dt, k = 0..T (index 0: the initial state G0, n = 0,
    programmed at t = 0). Each read at t_k comes dt after the write of slot k−1."""
    g, n = p.g0_us, 0
    gs, ns = [g], [n]
    for k in range(len(xi)):
        if rst[k]:
            g, n = min(max(p.g0_us * (1 + p.g0_spread * xi[k]), p.g_min_us), p.g_max_us), 0
        n += 1
        decay = math.exp(-n / p.a)
        mu = p.m1 * g + p.c1_us + p.a1_us * decay
        sigma = p.m2 * g + p.c2_us + p.a2_us * decay
        g = min(max(g + mu + sigma * xi[k], p.g_min_us), p.g_max_us)
        gs.append(g)
        ns.append(n)
    elapsed = np.full(len(gs), dt)
    elapsed[0] = 0.0
    g = np.array(gs)
    g_d = g * (np.maximum(elapsed, p.t0) / p.t0) ** (-p.nu_d)
    g_read = np.clip(g_d + (p.m3 * g_d + p.c3_us) * xi_read, p.g_min_us, p.g_max_us)
    return {"g_us": g, "g_read_us": g_read, "n": np.array(ns, dtype=float)}


class PCMAdapter(Adapter):
    model = "pcm"
    crn = True  # supports mode = "crn"
    params_cls = PCMParams
    units = UNITS
    stimuli = ("set_pulses",)
    integrators = ("event",)
    sweep_dts = ()
    provenance = "Nandakumar et al., J. Appl. Phys. 124, 152135 (2018); SRNN-PCM code (MIT)"

    def stimulus(self, case) -> int:
        spec = dict(case.stimulus)
        if spec.pop("kind", None) != "set_pulses" or set(spec) - {"n", "resets"}:
            raise ValueError("PCM cases take stimulus = { kind = \"set_pulses\", resets = [slot, ...] } "
                             "(one SET per slot from a fresh RESET; resets optional)")
        n = spec.get("n", case.steps)
        if n != case.steps:
            raise ValueError(f"stimulus.n = {n!r}: one SET per slot means n = t_stop/dt = {case.steps}")
        resets = spec.get("resets", [])
        if not isinstance(resets, list) or not all(isinstance(k, int) and 0 <= k < n for k in resets):
            raise ValueError(f"stimulus.resets = {resets!r}: must be a list of slot indices in [0, {n})")
        PulseTiming(period=case.dt)  # checks that the slot holds the pulses
        return case.steps

    def schedule(self, case) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(rst [T], xi [T], xi_read [T+1]): zero samples unless the case is ``crn``."""
        n = self.stimulus(case)
        rst = np.zeros(n)
        rst[case.stimulus.get("resets", [])] = 1.0
        if case.mode != "crn":
            return rst, np.zeros(n), np.zeros(n + 1)
        rng = np.random.default_rng(case.seed)
        return rst, rng.standard_normal(n), rng.standard_normal(n + 1)

    def netlist(self, case) -> str:
        rst, xi, xi_read = self.schedule(case)
        return pcm_netlist(self.params(case), np.ones(len(xi)), rst, xi, xi_read,
                           PulseTiming(period=case.dt), case.method)

    def spice_traces(self, case, result, t):
        return pcm_spice_traces(result, t, PulseTiming(period=case.dt))

    def reference(self, case):
        ref = numpy_schedule(self.model_params(case), case.dt, *self.schedule(case))
        return lambda t: ref

    def twin(self, case, **_):
        rst, xi, xi_read = (torch.from_numpy(a) for a in self.schedule(case))
        array = PCMArray(self.model_params(case), (), deterministic=True, dtype=torch.float64)
        out = array.simulate(torch.ones(len(xi)), dt=case.dt, rst=rst, xi=xi, xi_read=xi_read)
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
