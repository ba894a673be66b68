"""MSS memristor in the validator: testbench, reference ODE, twin, stochastic ensembles.

Reference (B): the mean-field ODE written again here from Molter & Nugent 2016 in numpy and
integrated by scipy's DOP853 (rtol 1e-9, atol 1e-12), restarted at every stimulus corner. Its
pieces (:func:`reference_rates`, :func:`reference_conductance` and its range and inverse, k and
q) are the validator's one MSS reference: the crossbar and STDP references import them.
Stochastic reference: the jspice finite-N process with *exact* binomial draws (numpy), against
which the twin's reparameterised Gaussian approximation is judged by ensemble statistics.
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit

from ...compare.mss import UNITS, mss_netlist, mss_spice_traces, mss_twin
from ...devices.mss import MSSParams
from ...stimuli import from_spec, step_samples
from ..metrics import ensemble_stats
from . import Adapter, piecewise_dop853

#: Boltzmann constant (J/K) and elementary charge (C), exact in the SI since 2019
K_B, Q_E = 1.380649e-23, 1.602176634e-19


def reference_rates(v, p: MSSParams):
    """(a, b) of dx/dt = (1 - x)·a - x·b: P_on/tau and P_off/tau at device voltage ``v`` (V),
    V_T = k·T/q."""
    vt = K_B * p.temperature / Q_E
    return expit((v - p.v_on) / vt) / p.tau, expit(-(v + p.v_off) / vt) / p.tau


def reference_conductance(x, p: MSSParams):
    """G(x) = x/r_on + (1 - x)/r_off (S), x clipped to [0, 1]."""
    xc = np.clip(x, 0.0, 1.0)
    return xc / p.r_on + (1.0 - xc) / p.r_off


def reference_conductance_range(p: MSSParams) -> tuple[float, float]:
    """(G(0), G(1)) = (1/r_off, 1/r_on) in S."""
    return 1 / p.r_off, 1 / p.r_on


def reference_state_from_conductance(g, p: MSSParams):
    """The state x with G(x) = ``g`` (S): (g - 1/r_off)/(1/r_on - 1/r_off)."""
    g_min, g_max = reference_conductance_range(p)
    return (g - g_min) / (g_max - g_min)


def _current(v, x, p: MSSParams):
    g = reference_conductance(x, p)
    schottky = p.alpha_f * np.exp(p.beta_f * v) - p.alpha_r * np.exp(-p.beta_r * v)
    return p.phi * v * g + (1.0 - p.phi) * schottky


class MSSAdapter(Adapter):
    model = "mss"
    params_cls = MSSParams
    units = UNITS
    stimuli = ("sine", "triangle", "pulse", "pwl")
    provenance = "Molter & Nugent, CNNA 2016 (arXiv:1608.04659); Knowm public models"

    def stimulus(self, case):
        return from_spec(case.stimulus, self.base_dir(case))

    def netlist(self, case) -> str:
        return mss_netlist(self.params(case), self.stimulus(case), case.dt, case.t_stop,
                           0.0, case.method, case.max_step)

    def spice_traces(self, case, result, t):
        return mss_spice_traces(result, t)

    def reference(self, case):
        p, stim = self.model_params(case), self.stimulus(case)

        def rhs(t, x):
            a, b = reference_rates(stim.sample(t), p)
            return (1.0 - x) * a - x * b

        corners = stim.breakpoints(case.t_stop) if hasattr(stim, "breakpoints") else np.array([])
        edges = np.concatenate([[0.0], corners, [case.t_stop]])
        states = piecewise_dop853(rhs, edges, [0.0], case.name)

        def at(t):
            t = np.atleast_1d(np.asarray(t, dtype=float))
            out = states(t)[0]
            return {"x": out, "i": _current(stim.sample(t), out, p)}

        return at

    def twin(self, case, **kwargs):
        return mss_twin(self.model_params(case), self.stimulus(case), case.dt, case.t_stop, 0.0,
                        case.integrator, **kwargs)

    #: the twin's Gaussian stands in for a binomial only where both counts are large enough:
    #: the textbook rule N·p >= 10 for the switches in the minority state.
    MIN_MINORITY_SWITCHES = 10.0

    def ensembles(self, case):
        """Reference: exact-binomial jspice process, 4x the twin's ensemble; twin: Gaussian.

        Also returns the grid points where the comparison is meaningful: where the expected
        number of switches in the minority state is at least ``MIN_MINORITY_SWITCHES``. Near
        saturation (a fraction of a switch ON or OFF per device) the binomial is discrete and
        skewed, the Gaussian is not, and normal-theory standard errors do not apply.
        """
        p, stim = self.model_params(case), self.stimulus(case)
        steps = case.steps
        v = step_samples(stim, case.dt, steps)
        rng = np.random.default_rng(case.seed + 1_000_003)
        n_ref, n_sw = 4 * case.ensemble, p.n_switches
        on = np.zeros(n_ref, dtype=np.int64)  # switches ON per device
        xs = [on / n_sw]
        for k in range(steps):
            a, b = reference_rates(v[k], p)
            on = on + rng.binomial(n_sw - on, min(a * case.dt, 1.0)) - rng.binomial(on, min(b * case.dt, 1.0))
            xs.append(on / n_sw)
        ref = np.stack(xs)
        import torch

        twin = self.twin(case, stochastic=True, ensemble=case.ensemble,
                         generator=torch.Generator().manual_seed(case.seed))["x"]
        ref_stats = ensemble_stats(ref)
        mean = ref_stats["mean"]
        valid = n_sw * np.minimum(mean, 1.0 - mean) >= self.MIN_MINORITY_SWITCHES
        return {"x": ref_stats}, {"x": ensemble_stats(twin)}, valid


ADAPTER = MSSAdapter()
