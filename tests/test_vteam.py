"""VTEAM memristor: parameter checks, presets, step gradients, maps, twin vs the independent
reference (no ngspice), and the quick validation cases against real ngspice."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from scipy.integrate import solve_ivp

import spicegrad as sg
from spicegrad.devices import registry
from spicegrad.devices.vteam import (
    VTEAM,
    VTEAMParams,
    reference_current,
    reference_rhs,
    vteam_conductance,
    vteam_conductance_range,
    vteam_program,
    vteam_state_from_conductance,
    vteam_step,
    vteam_switching,
)
from spicegrad.errors import UnvalidatedConfigError
from spicegrad.stimuli import Sine, step_samples

F64 = torch.float64


# -- parameters -------------------------------------------------------------------------------

@pytest.mark.parametrize("changes, field, rule", [
    ({"r_on": 0.0}, "r_on", r"\(0, inf\]"),
    ({"r_off": 40.0}, "r_off", "must be above r_on"),
    ({"v_on": 0.1}, "v_on", r"\[-inf, 0\)"),
    ({"v_off": -0.02}, "v_off", r"\(0, inf\]"),
    ({"k_on": 10.0}, "k_on", r"\[-inf, 0\)"),
    ({"k_off": -5e-4}, "k_off", r"\(0, inf\]"),
    ({"alpha_on": 0.5}, "alpha_on", r"\[1, inf\]"),
    ({"alpha_off": 0.0}, "alpha_off", r"\[1, inf\]"),
    ({"p_window": 0.5}, "p_window", r"\[1, inf\]"),
    ({"w_c": 0.0}, "w_c", r"\(0, inf\]"),
    ({"w_off": 0.0}, "w_off", "must be above w_on"),
    ({"a_on": -1e-10}, "a_on", r"must lie in \[w_on, w_off\]"),
    ({"a_off": 1e-10}, "a_off", r"must lie in \(a_on, w_off\]"),
    ({"a_off": 4e-9}, "a_off", r"must lie in \(a_on, w_off\]"),
    ({"window": 4}, "window", "must be one of 0 \\(none\\), 1 \\(joglekar\\), 2 \\(biolek\\), 3 \\(team\\)"),
    ({"iv_model": 2}, "iv_model", "must be one of 0 \\(linear\\), 1 \\(exponential\\)"),
    ({"x0": 1.5}, "x0", r"\[0, 1\]"),
    ({"k_off": float("nan")}, "k_off", "finite real number"),
    ({"window": True}, "window", "finite real number"),
])
def test_params_outside_the_domain_are_refused_naming_the_field(changes, field, rule):
    with pytest.raises(ValueError, match=rf"VTEAMParams\.{field} = .*{rule}"):
        VTEAMParams(**changes)


def test_presets_hold_their_values_and_every_field_states_unit_and_source():
    assert VTEAMParams.preset("memtorch-team") == VTEAMParams()
    mt = VTEAMParams.preset("memtorch")
    assert (mt.window, mt.x0, mt.iv_model) == (0.0, 0.0, 0.0)
    p = VTEAMParams()
    # MemTorch's VTEAM defaults (memtorch/bh/memristor/VTEAM.py)
    assert (p.r_on, p.r_off, p.v_on, p.v_off, p.k_on, p.k_off) == (50.0, 1000.0, -0.2, 0.02, -10.0, 5e-4)
    assert (p.alpha_on, p.alpha_off, p.w_on, p.w_off, p.window) == (3.0, 1.0, 0.0, 3e-9, 3.0)
    for f in dataclasses.fields(VTEAMParams):
        assert f.metadata["unit"] and f.metadata["doc"], f.name
    docs = " ".join(f.metadata["doc"] for f in dataclasses.fields(VTEAMParams))
    assert "MemTorch" in docs and "choice" in docs
    assert "Neurocomputing" in VTEAMParams.__doc__ and "not the paper's" in VTEAMParams.__doc__
    assert "IEEE TCAS-II 62(8) 786 (2015)" in registry.get("vteam").provenance


# -- the step ---------------------------------------------------------------------------------

@pytest.mark.parametrize("window, integrator", [(0, "exp-euler"), (1, "exp-euler"), (2, "exp-euler"),
                                                (3, "exp-euler"), (3, "euler")])
@pytest.mark.parametrize("v0", [0.3, -0.25])  # beyond v_off, beyond v_on: both drives active
def test_step_gradcheck_away_from_thresholds_and_edges(window, integrator, v0):
    p = VTEAMParams(window=float(window))
    v = torch.tensor([v0, v0 * 1.1], dtype=F64, requires_grad=True)
    x = torch.tensor([0.35, 0.6], dtype=F64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda v, x: vteam_step(v, x, p, 2e-10, integrator), (v, x))


def test_step_does_not_move_the_state_between_the_thresholds_and_has_zero_gradient_there():
    p = VTEAMParams()
    v = torch.tensor([-0.19, 0.0, 0.019], dtype=F64, requires_grad=True)
    x = torch.full((3,), 0.4, dtype=F64)
    x1 = vteam_step(v, x, p, 1e-6, "exp-euler")
    assert torch.equal(x1, x)
    x1.sum().backward()
    assert torch.equal(v.grad, torch.zeros(3, dtype=F64))


@pytest.mark.filterwarnings("ignore:VTEAM euler")  # dt is far past Euler's bound on purpose
@pytest.mark.parametrize("integrator", ["euler", "exp-euler"])
def test_state_stays_within_its_bounds_under_large_voltages_and_steps(integrator):
    for window in (0, 1, 2, 3):
        twin = VTEAM(VTEAMParams(window=float(window)))
        v = 1.5 * torch.sin(torch.linspace(0, 20, 300, dtype=F64))
        x = twin.simulate(v, dt=1e-8, integrator=integrator)["x"]
        assert x.min() >= 0.0 and x.max() <= 1.0
        if integrator == "exp-euler":  # Euler's overshoot can land on a bound where Joglekar's f is 0
            assert x.max() > 0.6 and x.min() < 0.1, window  # it did switch both ways


def test_euler_past_its_bound_warns():
    # at -0.5 V the ON drive is 1.1e10 /s: the TEAM window's slope makes 2/b a few ps
    with pytest.warns(RuntimeWarning, match="VTEAM euler: dt = 1e-08 s exceeds 2/b"):
        VTEAM().simulate(torch.full((3,), -0.5, dtype=F64), dt=1e-8, integrator="euler")


# -- maps and switching ------------------------------------------------------------------------

@pytest.mark.parametrize("iv_model", [0, 1])
def test_conductance_maps_are_inverse_and_span_the_range(iv_model):
    p = VTEAMParams(iv_model=float(iv_model))
    g_min, g_max = vteam_conductance_range(p)
    assert (g_min, g_max) == (1 / 1000.0, 1 / 50.0)
    x = torch.linspace(0, 1, 11, dtype=F64)
    g = vteam_conductance(x, p)
    assert g[0].item() == pytest.approx(g_max, rel=1e-12) and g[-1].item() == pytest.approx(g_min, rel=1e-12)
    assert bool((g[1:] < g[:-1]).all())  # x -> w_off is toward R_off
    assert torch.allclose(vteam_state_from_conductance(g, p), x, rtol=0, atol=1e-12)
    x0 = vteam_program(g.numpy(), p)["x0"]
    np.testing.assert_allclose(x0, x.numpy(), atol=1e-12)
    mid = vteam_conductance(torch.tensor(0.5, dtype=F64), p).item()
    expected = 1 / 525.0 if iv_model == 0 else 1 / (50.0 * np.sqrt(20.0))  # R_on + ΔR/2; R_on·e^(λ/2)
    assert mid == pytest.approx(expected, rel=1e-12)


def test_program_refuses_conductances_outside_the_range():
    with pytest.raises(ValueError, match=r"g must lie in \[1/r_off, 1/r_on\]"):
        vteam_program([0.5], VTEAMParams())


def test_switching_thresholds_are_signed_by_the_conductance_they_raise():
    p = VTEAMParams()
    v_up, v_down = vteam_switching(p)
    assert (v_up, v_down) == (p.v_on, p.v_off) and v_up < 0 < v_down
    x = torch.full((1,), 0.5, dtype=F64)
    g0 = vteam_conductance(x, p)
    for v, sign in ((1.5 * v_up, 1), (1.5 * v_down, -1), (0.9 * v_up, 0), (0.9 * v_down, 0)):
        x1 = vteam_step(torch.tensor([v], dtype=F64), x, p, 1e-9, "exp-euler")
        assert torch.sign(vteam_conductance(x1, p) - g0).item() == sign, v


# -- twin vs the independent reference (no ngspice) ----------------------------------------------

def _reference(p, stim, t_stop, t):
    sol = solve_ivp(lambda tt, y: reference_rhs(tt, stim.sample(tt), y, p), (0.0, t_stop), [p.x0],
                    method="DOP853", rtol=1e-10, atol=1e-13, dense_output=True, max_step=t_stop / 1000)
    return sol.sol(t)[0]


@pytest.mark.parametrize("window, integrator", [(0, "exp-euler"), (1, "exp-euler"), (2, "exp-euler"),
                                                (3, "exp-euler"), (3, "euler")])
def test_twin_follows_the_independent_reference_on_a_sine(window, integrator):
    # The certified configuration of spicegrad/cases/vteam.toml (1 MHz, 0.27 V + 50 mV, dt = 1 ns),
    # one period; the cases' tolerance 2e-3 on x and 0.5 % of the peak on the current.
    p = VTEAMParams(window=float(window), iv_model=1.0 if window == 2 else 0.0)
    stim, dt, steps = Sine(amplitude=0.27, freq=1e6, offset=0.05), 1e-9, 1000
    v = torch.tensor(step_samples(stim, dt, steps), dtype=F64)
    out = VTEAM(p).simulate(v, dt, integrator=integrator)
    t = np.arange(steps + 1) * dt
    x_ref = _reference(p, stim, steps * dt, t)
    assert np.ptp(x_ref) > 0.3  # the device switched
    assert np.abs(out["x"].numpy() - x_ref).max() <= 2e-3
    i_twin = stim.sample(t) * vteam_conductance(out["x"], p).numpy()
    i_ref = reference_current(stim.sample(t), x_ref[None], p)
    assert np.sqrt(np.mean((i_twin - i_ref) ** 2)) <= 5e-3 * np.abs(i_ref).max()


def test_simulate_refuses_bad_input():
    twin = VTEAM()
    v = torch.zeros(5, dtype=F64)
    with pytest.raises(ValueError, match="dt"):
        twin.simulate(v, dt=0.0)
    with pytest.raises(ValueError, match="x0"):
        twin.simulate(v, dt=1e-9, x0=1.2)
    with pytest.raises(ValueError, match="integrator"):
        twin.simulate(v, dt=1e-9, integrator="rk4")
    with pytest.raises(ValueError, match="non-finite"):
        twin.simulate(torch.tensor([0.0, float("nan")], dtype=F64), dt=1e-9)
    with pytest.raises(ValueError, match="leading time axis"):
        twin.simulate(torch.zeros(0, dtype=F64), dt=1e-9)


# -- against real ngspice ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    return sg.run_validation("vteam", quick=True, sweep=False, progress=False, use_cache=False,
                             report=tmp_path_factory.mktemp("vteam-report"))


@pytest.mark.slow  # about 6 s: three quick cases against ngspice
def test_quick_cases_pass_and_the_negative_control_fails(quick_run):
    by_name = {r["name"]: r for r in quick_run.results}
    assert set(by_name) == {"vteam-sine-1mhz", "vteam-pulse-train", "vteam-wrong-v_off-control"}
    assert quick_run.passed and all(r["as_expected"] for r in quick_run.results)
    sine = by_name["vteam-sine-1mhz"]
    assert sine["status"] == "passed" and sine["metrics"]["x"]["max_abs"] <= 2e-3
    assert sine["model_error"]["x"]["max_abs"] <= 2e-3  # the .lib and the numpy reference agree
    control = by_name["vteam-wrong-v_off-control"]
    assert control["status"] == "failed" and "model" in control["causes"]
    assert control["metrics"]["x"]["max_abs"] > 0.05


@pytest.mark.slow  # about 15 s: the six default-parameter cases at dt = 0.4 ns
def test_certified_configuration_is_granted_and_a_coarser_one_refused():
    # 0.4 ns is the largest dt certified for the default device (docs/device-models.md §5); at
    # 1 ns the pulse train's state error, 3.7e-3, breaks its 2e-3 tolerance.
    cert = sg.require_certified("vteam", VTEAMParams(), 4e-10, "exp-euler", use_cache=False)
    assert cert["validated"]
    with pytest.raises(UnvalidatedConfigError, match=r"vteam-pulse-train@dt=1e-09,exp-euler: failed"):
        sg.require_certified("vteam", VTEAMParams(), 1e-9, "exp-euler", use_cache=False)
