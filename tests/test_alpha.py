"""AlphaCurrent twin: the exact kernel, its gradients, and agreement with spicegrad/models/alpha.lib in ngspice."""

from __future__ import annotations

import math

import pytest
import torch

from spicegrad.compare.mif import alpha_train
from spicegrad.devices.alpha import AlphaCurrent, AlphaParams, step_mean
from spicegrad.devices.mif import MIF

DT = 1e-6


def _one_spike(n_steps: int = 3000, k0: int = 100) -> torch.Tensor:
    spikes = torch.zeros(n_steps, dtype=torch.float64)
    spikes[k0] = 1.0
    return spikes


def test_single_spike_peaks_at_w_exactly_tau_alpha_after_the_spike():
    params = AlphaParams(tau_alpha=0.64e-3, w=20e-6)
    i = AlphaCurrent(params).simulate(_one_spike(), DT)["i"]
    k_peak = int(torch.argmax(i))
    assert k_peak == 100 + 640
    assert i[k_peak].item() == pytest.approx(20e-6, rel=1e-6)


def test_twin_matches_the_closed_form_alpha_function_at_every_grid_point():
    params = AlphaParams(tau_alpha=0.64e-3, w=3e-6)
    i = AlphaCurrent(params).simulate(_one_spike(k0=0), DT)["i"]
    t = torch.arange(i.shape[0], dtype=torch.float64) * DT / params.tau_alpha
    exact = params.w * t * torch.exp(1 - t)
    assert torch.allclose(i, exact, rtol=1e-9, atol=1e-18)


def test_twin_alpha_current_matches_ngspice_alpha_subcircuit():
    cmp = alpha_train(MIF.preset("memprop"), [0.5e-3, 1.2e-3, 1.25e-3, 3e-3], w=10e-6, t_stop=5e-3, dt=DT)
    err = cmp.error("i_in")
    assert err["max_abs"] <= 1e-3 * 10e-6, err


def test_alpha_current_is_differentiable_in_weight_and_spikes():
    spikes = torch.zeros(15, 2, dtype=torch.float64)
    spikes[1, 0], spikes[4, 1], spikes[6, 0] = 1.0, 2.0, 0.5
    spikes.requires_grad_(True)
    w = torch.tensor([0.7, 1.3], dtype=torch.float64, requires_grad=True)
    alpha = AlphaCurrent(AlphaParams(tau_alpha=5.0, w=1.0))

    def current(spikes, w):
        return alpha.simulate(spikes, dt=1.0, w=w)["i"]

    assert torch.autograd.gradcheck(current, (spikes, w))


def test_step_mean_is_the_trapezoidal_average_of_neighbouring_samples():
    trace = torch.tensor([0.0, 2.0, 4.0, 10.0])
    assert step_mean(trace).tolist() == [1.0, 3.0, 7.0]


@pytest.mark.parametrize(
    ("field", "value"), [("tau_alpha", 0.0), ("tau_alpha", -1e-3), ("w", math.inf), ("w", math.nan)]
)
def test_bad_alpha_parameters_raise_value_error_naming_field_and_value(field, value):
    with pytest.raises(ValueError, match=rf"AlphaParams\.{field} = {value!r}"):
        AlphaParams(**{field: value})


def test_non_finite_spikes_and_non_positive_dt_are_rejected_with_their_values():
    alpha = AlphaCurrent()
    bad = torch.tensor([0.0, math.nan, 1.0])
    with pytest.raises(ValueError, match="spikes contains a non-finite value"):
        alpha.simulate(bad, DT)
    with pytest.raises(ValueError, match=r"dt = 0"):
        alpha.simulate(torch.zeros(3), 0)
    with pytest.raises(ValueError, match="unknown; known presets"):
        AlphaCurrent.preset("nope")
