"""MIF neuron twin against spicegrad/models/mif.lib in ngspice: accuracy, gradients, stability, input checks."""

from __future__ import annotations

import math
import re
import warnings

import numpy as np
import pytest
import torch
from scipy.signal import find_peaks

from spicegrad.characterize.mif import SPIKE_THRESHOLD, reduced_divergence
from spicegrad.compare.mif import alpha_train, constant_current, demo_comparison, spike_times
from spicegrad.devices.alpha import AlphaCurrent, AlphaParams
from spicegrad.devices.mif import MIF, MIFParams, input_samples, mif_simulate

DT = 1e-6
TRAIN = [0.5e-3, 1.5e-3, 2.0e-3, 4.0e-3, 6.5e-3, 7.0e-3]


def _alpha_drive(times, w, n_steps, dt=DT, shape=()):
    spikes = torch.zeros(n_steps, *shape, dtype=torch.float64)
    for t in times:
        spikes[int(round(t / dt))] += 1.0
    return input_samples(AlphaCurrent(AlphaParams(w=w)).simulate(spikes, dt)["i"])


# --- agreement with ngspice ---------------------------------------------------------------


def test_memprop_single_alpha_input_tracks_ngspice_within_1mV_rms():
    cmp = demo_comparison()
    assert cmp.error("v")["rms"] <= 1e-3, cmp.error("v")
    assert cmp.twin["v"].max() > cmp.twin["v"][0] + 0.03  # a real response, not a flat line


def test_memprop_alpha_input_train_over_10ms_tracks_ngspice_within_1mV_rms():
    cmp = alpha_train(MIF.preset("memprop"), TRAIN, w=15e-6, t_stop=10e-3, dt=DT)
    assert cmp.error("v")["rms"] <= 1e-3, cmp.error("v")


@pytest.mark.slow  # 16-18 s of ngspice; CI runs it in the slow stage
def test_tonic_constant_current_gives_ngspice_spike_count_and_times_within_20us():
    # dt = 0.25 µs: at 1 µs the twin gains ≈9 µs per period on ngspice (≈100 µs by 10 ms).
    cmp = constant_current(MIF.preset("tonic"), 3e-6, t_stop=10e-3, dt=0.25e-6)
    twin = spike_times(cmp.t, cmp.twin["v"], SPIKE_THRESHOLD)
    spice = spike_times(cmp.t, cmp.spice["v"], SPIKE_THRESHOLD)
    assert len(twin) == len(spice) >= 10
    assert np.max(np.abs(twin - spice)) <= 20e-6, (twin - spice)


# --- twin behaviour ---------------------------------------------------------------------


@pytest.mark.parametrize("preset", ["memprop", "tonic"])
def test_default_initial_state_is_the_zero_input_equilibrium(preset):
    out = MIF(MIF.preset(preset)).simulate(torch.zeros(2000, dtype=torch.float64), DT)
    for name in ("v", "x1", "x2"):
        assert torch.allclose(out[name], out[name][0].expand_as(out[name]), atol=1e-9), name


def test_memprop_rest_is_25mV_between_the_bias_sources():
    rest = MIF().rest_state()
    assert rest.v.item() == pytest.approx(0.025, abs=1e-9)


def test_memprop_cannot_fire_repeatedly_its_reduced_flow_has_negative_divergence():
    currents = [0.0, 1e-6, 5e-6, 10e-6, 20e-6, 50e-6, 100e-6, 200e-6]
    assert reduced_divergence(MIF.preset("memprop"), currents) < 0.0
    currents = torch.tensor([5e-6, 20e-6, 60e-6], dtype=torch.float64)
    v = MIF().simulate(currents.expand(10000, 3).contiguous(), DT)["v"].numpy()
    for j in range(3):
        peaks, _ = find_peaks(v[:, j], prominence=1e-3)
        assert len(peaks) <= 1, (currents[j].item(), peaks)


def test_simulate_is_batched_over_trailing_shape_and_follows_input_dtype():
    drive = _alpha_drive([0.1e-3], 20e-6, 400, shape=(2, 3)).float()
    out = MIF().simulate(drive, DT)
    assert out["v"].shape == (401, 2, 3) and out["v"].dtype == torch.float32
    single = MIF().simulate(drive[:, 1, 2].double(), DT)["v"]
    assert torch.allclose(out["v"][:, 1, 2].double(), single, atol=1e-6)


@pytest.mark.parametrize("integrator", ["exp-euler", "euler"])
def test_gradcheck_through_membrane_and_devices_wrt_input_and_c_mem(integrator):
    params = MIF.preset("tonic")
    dt = 0.1e-6 if integrator == "euler" else DT
    scale_i, scale_c = 1e-6, 1e-10

    def volts(i_in_uA, c_mem_scaled):
        p = params.coeffs(c_mem=c_mem_scaled * scale_c)
        out = mif_simulate(i_in_uA * scale_i, p, dt, integrator)
        return out["v"] * 1e3, out["x2"]

    i_in = (3.0 + torch.rand(20, 2, dtype=torch.float64)).requires_grad_(True)
    c_mem = torch.tensor(1.0, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(volts, (i_in, c_mem), eps=1e-6, atol=1e-5, rtol=1e-4)


def test_rest_state_gradient_wrt_a_bias_voltage_matches_finite_differences():
    def rest_v(v2):
        return mif_simulate(torch.zeros(1, dtype=torch.float64), MIF.preset("memprop").coeffs(v2=v2), DT)["v"][0]

    assert torch.autograd.gradcheck(rest_v, (torch.tensor(0.05, dtype=torch.float64, requires_grad=True),))


def test_forward_euler_at_10us_on_memprop_warns_with_the_stability_numbers():
    drive = _alpha_drive([0.2e-3], 20e-6, 1000, dt=10e-6)
    with pytest.warns(RuntimeWarning, match=r"dt = 1e-05 s exceeds the stability bound.*V_m: 2·C_mem/\(G1\+G2\) = [0-9.e-]+ s"):
        MIF().simulate(drive, 10e-6, integrator="euler")


def test_exp_euler_gives_no_stability_warning_at_10us():
    drive = _alpha_drive([0.2e-3], 20e-6, 1000, dt=10e-6)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = MIF().simulate(drive, 10e-6)
    assert torch.isfinite(out["v"]).all()


# --- input checks -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "allowed"),
    [
        ("r_on", 0.0, "> 0"),
        ("r_on", -5.0, "> 0"),
        ("r_off", 0.0, "> 0"),
        ("tau1", 0.0, "> 0"),
        ("tau2", -1e-3, "> 0"),
        ("c_mem", 0.0, "> 0"),
        ("v_t", 0.0, "> 0"),
        ("nu", 0.0, r"\(0, 1\]"),
        ("nu", 1.5, r"\(0, 1\]"),
        ("pol2", 0.0, "one of"),
        ("vol_form", 2.0, "one of"),
        ("v1", math.nan, "finite"),
    ],
)
def test_bad_parameters_raise_value_error_naming_field_value_and_range(field, value, allowed):
    with pytest.raises(ValueError, match=rf"MIFParams\.{field} = {re.escape(repr(value))}: .*{allowed}"):
        MIFParams(**{field: value})


def test_r_on_above_r_off_is_rejected():
    with pytest.raises(ValueError, match=r"r_on = 200000.0: must be below r_off"):
        MIFParams(r_on=2e5)


def test_unknown_preset_and_integrator_are_rejected_by_name():
    with pytest.raises(ValueError, match="preset 'bursting' is unknown; known presets: 'memprop', 'tonic'"):
        MIF.preset("bursting")
    with pytest.raises(ValueError, match="integrator = 'rk45'"):
        MIF().simulate(torch.zeros(3), DT, integrator="rk45")


@pytest.mark.parametrize("dt", [0.0, -1e-6, math.inf])
def test_non_positive_or_infinite_dt_is_rejected(dt):
    with pytest.raises(ValueError, match=rf"MIF\.simulate\.dt = {re.escape(repr(dt))}"):
        MIF().simulate(torch.zeros(3), dt)


def test_non_finite_input_current_is_rejected_with_its_index():
    i_in = torch.zeros(5)
    i_in[3] = math.inf
    with pytest.raises(ValueError, match=r"i_in contains a non-finite value \(inf at index \(3,\)\)"):
        MIF().simulate(i_in, DT)
