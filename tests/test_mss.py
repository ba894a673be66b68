"""MSS memristor: twin vs ngspice, presets, gradients, stochastic mode, bad input."""

import numpy as np
import pytest
import torch

from spicegrad.compare.mss import compare_mss, mss_netlist, pulse_case, sine_case
from spicegrad.devices import MSS
from spicegrad.spice import run


@pytest.fixture(scope="module")
def sine_comparison():
    stimulus, dt, t_stop = sine_case()
    return compare_mss(MSS.preset("knowm-default"), stimulus, dt, t_stop)


def test_mss_sine_state_matches_ngspice_within_2e3(sine_comparison):
    c = sine_comparison
    # the sine must actually switch the device, or the comparison says little
    assert c.spice["x"].max() > 0.9 and c.spice["x"].min() < 0.1
    assert c.error("x")["max_abs"] <= 2e-3


def test_mss_sine_current_rms_error_below_half_percent_of_peak(sine_comparison):
    c = sine_comparison
    peak = np.max(np.abs(c.spice["i"]))
    assert c.error("i")["rms"] <= 0.005 * peak


@pytest.mark.parametrize("integrator", ["euler", "exp-euler"])
def test_mss_pulse_train_state_matches_ngspice(integrator):
    stimulus, dt, t_stop = pulse_case()
    c = compare_mss(MSS.preset("knowm-default"), stimulus, dt, t_stop, integrator=integrator)
    assert c.spice["x"].max() > 0.9 and c.spice["x"].min() < 0.1
    assert c.error("x")["max_abs"] <= 2e-3
    # At a grid point that coincides with a source edge the current jumps; compare elsewhere.
    t = c.t
    edge = np.zeros_like(t, dtype=bool)
    for k in range(int(t[-1] / (stimulus.period / 2)) + 1):
        t_edge = stimulus.delay + k * stimulus.period / 2
        edge |= np.abs(t - t_edge) <= 1.5e-6
    d = (c.twin["i"] - c.spice["i"])[~edge]
    assert np.sqrt(np.mean(d**2)) <= 0.005 * np.max(np.abs(c.spice["i"]))


def test_mss_schottky_preset_runs_in_both_halves():
    stimulus, dt, _ = sine_case()
    c = compare_mss(MSS.preset("knowm-schottky"), stimulus, dt, 10e-3)
    assert c.error("x")["max_abs"] <= 2e-3
    assert c.error("i")["rms"] <= 0.005 * np.max(np.abs(c.spice["i"]))


def test_mss_state_stays_in_unit_interval_for_dt_below_tau_half():
    p = MSS.preset("knowm-default")
    v = 2.0 * torch.sin(torch.linspace(0, 12, 400, dtype=torch.float64))
    x = MSS(p).simulate(v, dt=p.tau / 2, x0=0.5)["x"]
    assert x.min() >= 0.0 and x.max() <= 1.0


def test_mss_traces_are_batched_and_shaped_t_plus_one():
    v = torch.zeros(50, 3, 4) + torch.linspace(-0.6, 0.6, 4)
    out = MSS().simulate(v, dt=1e-6, x0=0.5)
    assert out["x"].shape == (51, 3, 4) and out["i"].shape == (51, 3, 4)
    assert out["x"].dtype == torch.float32
    # columns driven above v_on move up, below -v_off move down
    assert out["x"][-1, 0, -1] > 0.5 > out["x"][-1, 0, 0]


def test_mss_gradcheck_through_time_in_float64():
    p = MSS.preset("knowm-default")
    mss = MSS(p)
    v = (0.3 * torch.randn(12, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))).requires_grad_()
    x0 = torch.tensor([0.2, 0.7], dtype=torch.float64, requires_grad=True)

    def f(v, x0):
        out = mss.simulate(v, dt=2e-5, x0=x0)
        return out["x"][-1], out["i"].sum(0)

    assert torch.autograd.gradcheck(f, (v, x0))


def test_mss_stochastic_mode_mean_follows_ode_and_is_seedable():
    p = MSS.preset("knowm-default").replace(n_switches=2000)
    t = torch.arange(2000, dtype=torch.float64) * 1e-6
    v = (0.5 * torch.sin(2 * torch.pi * 250.0 * t))[:, None].expand(-1, 256)
    mss = MSS(p)
    a = mss.simulate(v, dt=1e-6, stochastic=True, generator=torch.Generator().manual_seed(1))["x"]
    b = mss.simulate(v, dt=1e-6, stochastic=True, generator=torch.Generator().manual_seed(1))["x"]
    mean_field = mss.simulate(v[:, :1], dt=1e-6)["x"][:, 0]
    assert torch.equal(a, b)
    spread = a.std(dim=1)
    assert spread.max() > 1e-3  # it is stochastic
    # The update is linear in x given v, so the ensemble mean follows the Euler mean field:
    # check it within 3 standard errors at checkpoints through switching on and off.
    for k in (250, 500, 1000, 1500, 2000):
        se = spread[k] / 256**0.5
        assert abs(a[k].mean() - mean_field[k]) <= 3 * se, k


def test_mss_x0_from_resistance_inverts_conductance():
    p = MSS.preset("knowm-default")
    x0 = p.x_from_resistance(1000.0)
    g = x0 / p.r_on + (1 - x0) / p.r_off
    assert abs(1 / g - 1000.0) < 1e-9


@pytest.mark.parametrize(
    "field,value,words",
    [
        ("r_on", 0.0, "must be > 0"),
        ("r_off", -5.0, "must be > 0"),
        ("tau", 0.0, "must be > 0"),
        ("temperature", float("nan"), "finite"),
        ("phi", 1.5, "[0, 1]"),
    ],
)
def test_mss_params_reject_bad_values_naming_field(field, value, words):
    with pytest.raises(ValueError) as err:
        MSS.Params(**{field: value})
    assert field in str(err.value) and words in str(err.value) and repr(value) in str(err.value)


def test_mss_rejects_bad_simulation_input():
    mss = MSS()
    with pytest.raises(ValueError, match=r"x0.*\[0, 1\]"):
        mss.simulate(torch.zeros(5), dt=1e-6, x0=1.5)
    with pytest.raises(ValueError, match="dt"):
        mss.simulate(torch.zeros(5), dt=0.0)
    with pytest.raises(ValueError, match="non-finite"):
        mss.simulate(torch.tensor([0.0, float("inf")]), dt=1e-6)
    with pytest.raises(ValueError, match="'nope'.*knowm-default"):
        MSS.preset("nope")
    with pytest.raises(ValueError, match="integrator"):
        mss.simulate(torch.zeros(5), dt=1e-6, integrator="rk2")


def test_mss_netlist_runs_as_written():
    stimulus, dt, _ = sine_case()
    res = run(mss_netlist(MSS.Params(), stimulus, dt, 1e-3))
    assert "v(xm.x)" in res.names and res.time[-1] == pytest.approx(1e-3)
