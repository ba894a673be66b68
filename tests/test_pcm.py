"""PCM cell: twin (spicegrad.devices.pcm) against the paper's recursion, an independent numpy
reference, and ngspice (spicegrad/models/pcm.lib) — real ngspice, no mocks."""

from __future__ import annotations

import dataclasses
import math
import re

import numpy as np
import pytest
import torch

from spicegrad.compare.pcm import PulseTiming, compare_pcm, demo_comparison
from spicegrad.devices.pcm import PCMArray, PCMParams
from spicegrad.validate.adapters.pcm import numpy_reference

P = PCMParams()
N_PULSES = 20
N_DEVICES = 400


# --- independent numpy reference of the Nandakumar recursion (shipped with the validator) ---


@pytest.fixture(scope="module")
def reference_stats():
    g = numpy_reference(200_000, N_PULSES, seed=12345, p=P)
    return g.mean(axis=1), g.std(axis=1)


@pytest.fixture(scope="module")
def twin_stats():
    gen = torch.Generator().manual_seed(2024)
    array = PCMArray(P, (N_DEVICES,), generator=gen, dtype=torch.float64)
    g = array.simulate(torch.ones(N_PULSES), dt=1.0, read=False)["g_us"].numpy()
    return g.mean(axis=1), g.std(axis=1)


# --- mean field and ngspice -------------------------------------------------------------------


def test_pcm_deterministic_twin_reproduces_mean_field_recursion_values():
    out = PCMArray(P, (), deterministic=True, dtype=torch.float64).simulate(torch.ones(20), dt=1.0)
    g = out["g_us"].numpy()
    assert g[0] == pytest.approx(0.1)
    assert np.round(g[1:6], 3).tolist() == [1.925, 3.292, 4.337, 5.153, 5.805]
    assert round(float(g[20]), 3) == 9.380


def test_pcm_ngspice_matches_twin_within_0p01_us_per_pulse_for_20_deterministic_pulses():
    c = demo_comparison()
    assert len(c.t) == 21
    err = np.abs(c.twin["g_us"] - c.spice["g_us"])
    assert err.max() < 0.01, f"max |Δg| = {err.max():.3g} µS"
    assert np.abs(c.twin["n"] - c.spice["n"]).max() < 0.01


def test_pcm_ngspice_matches_twin_with_common_random_numbers_resets_and_read_noise():
    rng = np.random.default_rng(7)
    prog = np.array([1] * 6 + [0] + [1] * 5, dtype=float)
    rst = np.zeros(12)
    rst[[6, 9]] = 1  # a plain RESET slot and a RESET-then-SET (refresh) slot
    c = compare_pcm(P, prog, rst, xi=rng.standard_normal(12), xi_read=rng.standard_normal(13))
    for name in ("g_us", "g_read_us", "n"):
        assert c.error(name)["max_abs"] < 0.01, (name, c.error(name))
    assert c.twin["n"][7] == 0 and c.twin["n"][10] == 1


def test_pcm_ngspice_read_current_follows_drift_beyond_t0():
    # t0 scaled to the slot so that drift shows in a short transient; the law is scale-free.
    timing = PulseTiming(period=1e-3)
    p = P.replace(t0=1e-4)
    c = compare_pcm(p, np.ones(5), timing=timing)
    assert c.error("g_read_us")["max_abs"] < 0.01
    ratio = c.spice["g_read_us"][1:] / c.spice["g_us"][1:]
    assert ratio == pytest.approx((1e-3 / 1e-4) ** -0.04, rel=1e-3)


# --- stochastic statistics ---------------------------------------------------------------------


@pytest.mark.parametrize("k", range(1, N_PULSES + 1))
def test_pcm_stochastic_twin_mean_and_std_within_3_standard_errors_of_numpy_reference(
    k, twin_stats, reference_stats
):
    (mean, std), (ref_mean, ref_std) = twin_stats, reference_stats
    se_mean = ref_std[k] / math.sqrt(N_DEVICES)
    se_std = ref_std[k] / math.sqrt(2 * N_DEVICES)
    assert abs(mean[k] - ref_mean[k]) < 3 * se_mean
    assert abs(std[k] - ref_std[k]) < 3 * se_std


def test_pcm_numpy_reference_agrees_with_device_models_figures_within_3_standard_errors(
    reference_stats,
):
    ref_mean, ref_std = reference_stats
    se = ref_std / math.sqrt(N_DEVICES)
    se_std = ref_std / math.sqrt(2 * N_DEVICES)
    assert abs(ref_mean[1] - 2.16) < 3 * se[1]
    assert abs(ref_mean[20] - 8.89) < 3 * se[20]
    assert abs(ref_std[1] - 1.5) < 3 * se_std[1]
    assert abs(ref_std.max() - 2.2) < 3 * se_std.max()
    assert abs(ref_std[20] - 1.9) < 3 * se_std[20]


def test_pcm_explicit_xi_gives_common_random_numbers_in_any_mode():
    xi = torch.randn(5, 3, generator=torch.Generator().manual_seed(3))
    start = {"g_us": torch.full((3,), 0.1), "n": torch.zeros(3), "t_p": torch.zeros(3)}
    traces = []
    for deterministic in (True, False):
        array = PCMArray(P, (3,), deterministic=deterministic, dtype=torch.float64)
        array.load_state(start)
        traces.append(array.simulate(torch.ones(5), dt=1.0, xi=xi, read=False)["g_us"])
    assert torch.equal(traces[0], traces[1])
    assert not torch.allclose(traces[0][1:], traces[0][1:, :1])  # the samples did act


def test_pcm_seeded_generator_reproduces_a_stochastic_run():
    runs = [
        PCMArray(P, (3,), generator=torch.Generator().manual_seed(1)).simulate(torch.ones(5), 1.0)
        for _ in range(2)
    ]
    for name in ("g_us", "g_read_us"):
        assert torch.equal(runs[0][name], runs[1][name]), name


# --- read, drift, state ------------------------------------------------------------------------


def test_pcm_read_at_write_time_is_finite_and_equals_programmed_g():
    array = PCMArray(P, (4,), deterministic=True)
    array.write(True, t=2.5)
    g = array.read(2.5)
    assert torch.isfinite(g).all()
    assert torch.allclose(g, array.g_us)
    assert torch.isfinite(array.read(0.0)).all()  # before the write, too


def test_pcm_drift_lowers_g_as_power_law_of_time_since_write_over_t0():
    array = PCMArray(P, (), deterministic=True, dtype=torch.float64)
    array.write(True, t=10.0)
    for elapsed in (P.t0, 100.0, 1e4, 1e6):
        expected = array.g_us * (elapsed / P.t0) ** (-P.nu_d)
        assert array.read(10.0 + elapsed).item() == pytest.approx(expected.item(), rel=1e-12)
    assert array.read(10.0 + 1e6) < array.read(10.0 + 100.0)


def test_pcm_read_noise_has_the_model_std():
    array = PCMArray(P, (100_000,), generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    array.load_state({"g_us": torch.tensor(5.0), "n": torch.tensor(3.0), "t_p": torch.tensor(0.0)})
    g = array.read(P.t0)
    assert g.mean().item() == pytest.approx(5.0, abs=0.005)
    assert g.std().item() == pytest.approx(P.m3 * 5.0 + P.c3_us, rel=0.02)


def test_pcm_counts_and_write_times_stay_float64_with_float32_conductance():
    array = PCMArray(P, (2, 3), dtype=torch.float32)
    out = array.simulate(torch.ones(4), dt=1e-3)
    assert out["g_us"].dtype == torch.float32 and out["g_read_us"].dtype == torch.float32
    assert out["n"].dtype == torch.float64 and out["t_p"].dtype == torch.float64
    assert out["g_us"].shape == (5, 2, 3)
    state = array.state()
    assert state["n"].dtype == torch.float64 and state["t_p"].dtype == torch.float64


def test_pcm_masked_write_changes_only_masked_devices_and_reset_restores_g0():
    array = PCMArray(P, (4,), deterministic=True)
    mask = torch.tensor([True, False, True, False])
    array.write(mask, t=1.0)
    assert array.n.tolist() == [1, 0, 1, 0] and array.t_p.tolist() == [1, 0, 1, 0]
    assert torch.all(array.g_us[~mask] == P.g0_us) and torch.all(array.g_us[mask] > 1.0)
    array.reset(mask, t=2.0)
    assert torch.allclose(array.g_us, torch.full((4,), P.g0_us))
    assert array.n.tolist() == [0, 0, 0, 0] and array.t_p.tolist() == [2, 0, 2, 0]


def test_pcm_reset_spread_is_ten_percent_normal_clipped_at_g_min():
    array = PCMArray(P, (100_000,), generator=torch.Generator().manual_seed(9), dtype=torch.float64)
    g = array.g_us
    assert g.min().item() == P.g_min_us
    assert (g == P.g_min_us).double().mean().item() == pytest.approx(0.5, abs=0.01)
    assert g.max().item() == pytest.approx(0.14, abs=0.01)  # 4 σ of N(0.1, 0.01)


def test_pcm_read_and_write_are_differentiable_in_g():
    array = PCMArray(P, (3,), generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    g0 = torch.tensor([2.0, 5.0, 8.0], dtype=torch.float64, requires_grad=True)
    array.load_state({"g_us": g0, "n": torch.zeros(3), "t_p": torch.zeros(3)})
    array.write(True, t=0.0, xi=torch.zeros(3))
    array.read(1000.0, noise=False).sum().backward(retain_graph=True)
    drift = (1000.0 / P.t0) ** (-P.nu_d)
    assert torch.allclose(
        g0.grad, torch.full((3,), (1 + P.m1) * drift, dtype=torch.float64), rtol=1e-12
    )
    g0.grad = None
    array.read(1000.0).sum().backward()  # reparameterised read noise keeps the gradient
    assert torch.isfinite(g0.grad).all() and (g0.grad > 0).all()


def test_pcm_state_round_trips_through_load_state():
    a = PCMArray(P, (5,), generator=torch.Generator().manual_seed(4))
    a.simulate(torch.ones(3), dt=0.5)
    b = PCMArray(P, (5,), deterministic=True)
    b.load_state(a.state())
    for name, value in a.state().items():
        assert torch.equal(value, b.state()[name]), name


# --- presets and errors ------------------------------------------------------------------------


def test_pcm_presets_set_g_max():
    assert PCMParams.preset("nandakumar2018") == PCMParams()
    assert PCMArray.Params.preset("nandakumar2018-fig5").g_max_us == 20.0


@pytest.mark.parametrize(
    ("changes", "field", "value"),
    [
        ({"g_min_us": 12.0}, "g_min_us", "12.0"),
        ({"g_min_us": 0.1, "g_max_us": 0.05}, "g_min_us", "0.1"),
        ({"a": -1.0}, "a", "-1.0"),
        ({"t0": 0.0}, "t0", "0.0"),
        ({"c1_us": math.nan}, "c1_us", "nan"),
        ({"m2": math.inf}, "m2", "inf"),
        ({"nu_d": 1.5}, "nu_d", "1.5"),
        ({"g0_us": 30.0}, "g0_us", "30.0"),
        ({"g0_spread": -0.1}, "g0_spread", "-0.1"),
    ],
)
def test_pcm_bad_params_raise_value_error_naming_field_and_value(changes, field, value):
    with pytest.raises(ValueError, match=rf"{field} = {re.escape(value)}"):
        dataclasses.replace(P, **changes)


def test_pcm_unknown_preset_raises_value_error_listing_known_ones():
    with pytest.raises(ValueError, match=r"'nope'.*nandakumar2018"):
        PCMParams.preset("nope")


@pytest.mark.parametrize("dt", [0.0, -1.0, math.nan])
def test_pcm_simulate_rejects_non_positive_dt(dt):
    with pytest.raises(ValueError, match=r"dt = "):
        PCMArray(P, (2,)).simulate(torch.ones(3), dt=dt)


def test_pcm_rejects_non_finite_inputs_naming_them():
    array = PCMArray(P, (2,))
    with pytest.raises(ValueError, match=r"xi contains a non-finite value"):
        array.write(True, t=0.0, xi=torch.tensor([0.0, math.nan]))
    with pytest.raises(ValueError, match=r"\.t contains a non-finite value"):
        array.read(math.inf)
    with pytest.raises(ValueError, match=r"prog contains a non-finite value"):
        array.simulate(torch.tensor([1.0, math.nan]), dt=1.0)
    with pytest.raises(ValueError, match=r"g_us: values must lie in"):
        array.load_state({"g_us": torch.tensor(50.0), "n": 0.0, "t_p": 0.0})
