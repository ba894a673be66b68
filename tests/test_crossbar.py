"""Crossbar twin vs ngspice: DC column currents with wire resistance, MSS transient, gradients."""

import numpy as np
import pytest
import torch

from spicegrad.compare.crossbar import (
    compare_dc,
    compare_neurons,
    compare_transient,
    random_conductances,
    transient_case,
)
from spicegrad.crossbar import CrossbarSpec, crossbar_netlist, map_weights
from spicegrad.crossbar.devices import get_device
from spicegrad.crossbar.generator import DC
from spicegrad.crossbar.layers import CrossbarLayer, CrossbarSolver, row_samples, simulate_crossbar
from spicegrad.crossbar.nodal import NodalSystem
from spicegrad.devices import MIF, MIFParams, MSSParams
from spicegrad.devices.mss import mss_step
from spicegrad.spice import run
from spicegrad.stimuli import Sine


@pytest.mark.parametrize("size", [16, 32])
@pytest.mark.parametrize("r_wire", [1.0, 2.5])
def test_dc_column_currents_match_ngspice_op_within_1e3(size, r_wire):
    spec = CrossbarSpec(size, size, r_wire=r_wire, r_driver=r_wire, r_sense=r_wire)
    g = random_conductances(spec, 1 / 1500, 1 / 500, seed=size)
    v = np.random.default_rng(1).uniform(0.05, 0.2, size)
    c = compare_dc(spec, g, v)
    # the wires must matter, or the comparison says nothing about the nodal solve
    assert np.max(np.abs(v @ g - c["i_spice"])) > 0.05 * np.max(np.abs(c["i_spice"]))
    assert c["rel_error"] <= 1e-3


def test_mss_crossbar_dc_read_matches_ngspice_short_transient():
    spec = CrossbarSpec(16, 16, r_wire=1.0)
    p = MSSParams()
    g = random_conductances(spec, 1 / p.r_off, 1 / p.r_on, seed=3)
    v = np.random.default_rng(2).uniform(0.05, 0.15, spec.rows)
    dt, steps = 1e-6, 3
    res = run(crossbar_netlist(spec, "mss", g, stimuli=[DC(x) for x in v], dt=dt, t_stop=steps * dt, max_step=dt / 10))
    t = np.arange(steps + 1) * dt
    i_spice = np.stack([res.at(f"i(vsense_{j})", t) for j in range(spec.physical_cols)], -1)
    twin = simulate_crossbar(spec, "mss", torch.tensor(g), torch.tensor(v).expand(steps, -1), dt)
    i_twin = twin["i"][:, 0].numpy()
    assert np.max(np.abs(i_twin - i_spice)) / np.max(np.abs(i_spice)) <= 1e-3


@pytest.fixture(scope="module")
def transient_8x8():
    spec, g0, stimuli, dt, t_stop = transient_case(8, r_wire=2.5)
    return compare_transient(spec, g0, stimuli, dt, t_stop)


def test_mss_crossbar_transient_switches_devices(transient_8x8):
    x = transient_8x8.spice["x"]
    assert (x.max(axis=0) > 0.8).all()  # every device switches ON in the positive half-wave
    assert (x[-1] < 0.1).all()  # and OFF again in the negative one
    assert (x.max(axis=0) - x.min(axis=0) > 0.5).all()


def test_mss_crossbar_transient_state_matches_ngspice_within_2e3(transient_8x8):
    assert transient_8x8.error("x")["max_abs"] <= 2e-3


def test_exp_euler_with_midpoint_samples_is_20x_closer_than_euler(transient_8x8):
    # exp-euler (default) at dt = 1 µs: measured 2.5e-5 vs ngspice (max step dt/10); euler 1.8e-3
    c = transient_8x8
    assert c.meta["integrator"] == "exp-euler" and c.error("x")["max_abs"] <= 1e-4
    spec, g0, stimuli, dt, t_stop = transient_case(8, r_wire=2.5)
    v = row_samples(stimuli, dt, c.t.size - 1)
    euler = simulate_crossbar(spec, "mss", torch.tensor(g0), v, dt, integrator="euler")["state"][:, 0].numpy()
    assert 20 * c.error("x")["max_abs"] < np.max(np.abs(euler - c.spice["x"])) <= 2e-3


def test_ideal_transient_scan_equals_stepping_every_device():
    spec, g0, stimuli, dt, _ = transient_case(3, r_wire=0.0)
    v = row_samples(stimuli, dt, 300)
    p = MSSParams()
    for integrator in ("euler", "exp-euler"):
        out = simulate_crossbar(spec, "mss", torch.tensor(g0), v, dt, integrator=integrator)["state"][:, 0]
        x = torch.tensor((g0 - 1 / p.r_off) / (1 / p.r_on - 1 / p.r_off))
        for k in range(v.shape[0]):
            x = mss_step(v[k][:, None], x, p, dt, integrator)
        assert torch.allclose(out[-1], x, rtol=0, atol=1e-12)


def test_wired_transient_reuses_factorisations_and_matches_direct_solves():
    spec, g0, stimuli, dt, _ = transient_case(6, r_wire=2.5)
    v = row_samples(stimuli, dt, 400)
    stats = {}
    fast = simulate_crossbar(spec, "mss", torch.tensor(g0), v, dt, stats=stats)
    assert stats["solves"] == 401 and stats["factorisations"] < 401 / 5
    system = NodalSystem(spec)
    x, previous = fast["state"][0, 0], fast["state"][0, 0]
    for k in range(v.shape[0]):  # the same scheme with a fresh sparse LU every step
        g = get_device("mss").conductance(x + 0.5 * (x - previous), p := MSSParams())
        out = system.solve(g, v[k][None])
        previous, x = x, mss_step(out["v_dev"][0], x, p, dt, "exp-euler")
        assert torch.allclose(out["i"][0], fast["i"][k, 0], rtol=1e-9, atol=0)
    assert torch.allclose(x, fast["state"][-1, 0], atol=1e-10, rtol=0)


@pytest.mark.parametrize("r_wire", [0.0, 3.0])
def test_transient_gradients_match_finite_differences(r_wire):
    # ideal: the affine scan; wired: CG with a reused LU, forward and backward
    spec = CrossbarSpec(2, 1, r_wire=r_wire, r_driver=2 * r_wire, r_sense=r_wire)
    g0 = torch.tensor(random_conductances(spec, 1 / 1500, 1 / 500, seed=4), requires_grad=True)
    v = torch.tensor([[0.5, 0.4], [0.7, 0.6], [0.9, 0.8], [0.6, 0.7]], dtype=torch.float64, requires_grad=True)

    def run(g0, v):
        out = simulate_crossbar(spec, "mss", g0, v, 2e-6)
        return out["i"].sum(-1), out["state"][-1]

    assert torch.autograd.gradcheck(run, (g0, v), atol=1e-7)


def test_crossbar_into_mif_neurons_matches_ngspice_membranes_within_1mv():
    # outputs of ±40 µA peak drive the memprop membranes to -94..+162 mV, past M1's 110 mV
    # threshold; measured max |ΔV| 0.29 mV at dt = 1 µs (0.08 mV at 0.5 µs): the twin holds the
    # input current over each step, ngspice follows it continuously (MIF tolerance: 1 mV)
    w = np.array([[1.0, -0.5], [0.8, -1.0], [0.6, 0.2], [1.0, -0.7]])
    spec = CrossbarSpec(4, 2, r_wire=1.0)
    c = compare_neurons(spec, "resistor", map_weights(w, 1e-7, 4e-5).g, [Sine(0.5, 1e3)] * 4, 1e-6, 3e-3)
    assert c.spice["v"].max() > MIFParams().v_on1 and c.spice["v"].min() < -0.05
    assert c.error("v")["max_abs"] <= 1e-3


def test_mif_neurons_take_the_output_currents_and_bad_neuron_input_is_rejected():
    spec = CrossbarSpec(3, 2)
    g = torch.tensor(random_conductances(spec, 1e-6, 2e-5, seed=2))
    v = torch.full((50, 3), 0.3, dtype=torch.float64)
    out = simulate_crossbar(spec, "resistor", g, v, 1e-6, neurons="mif")
    assert out["v_mem"].shape == (51, 1, 2)
    drive = (out["i"][:-1, 0, 0::2] - out["i"][:-1, 0, 1::2])
    alone = MIF(MIFParams()).simulate(drive, 1e-6)["v"]
    assert torch.allclose(out["v_mem"][:, 0], alone)
    with pytest.raises(ValueError, match="neurons"):
        simulate_crossbar(spec, "resistor", g, v, 1e-6, neurons="lif")
    with pytest.raises(ValueError, match="MIFParams"):
        simulate_crossbar(spec, "resistor", g, v, 1e-6, neurons="mif", neuron_params=MSSParams())


def test_mss_crossbar_transient_currents_rms_within_half_percent_of_peak(transient_8x8):
    c = transient_8x8
    assert c.error("i")["rms"] <= 0.005 * np.max(np.abs(c.spice["i"]))


def test_ideal_array_reads_v_times_g_and_nodal_solve_tends_to_it():
    spec = CrossbarSpec(5, 3)
    g = torch.tensor(random_conductances(spec, 1e-4, 1e-3))
    v = torch.rand(4, 5, dtype=torch.float64)
    assert torch.allclose(CrossbarSolver(spec).solve(g, v)["i"], v @ g)
    tiny = CrossbarSpec(5, 3, r_wire=1e-6, r_driver=1e-6, r_sense=1e-6)
    assert torch.allclose(CrossbarSolver(tiny).solve(g, v)["i"], v @ g, rtol=1e-6)


def test_nodal_solve_gradients_match_finite_differences():
    spec = CrossbarSpec(3, 2, r_wire=5.0, r_driver=2.0, r_sense=3.0)
    system = NodalSystem(spec)
    g = torch.tensor(random_conductances(spec, 1e-3, 1e-2), requires_grad=True)
    v = torch.rand(2, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda g, v: system.solve(g, v)["i"], (g, v))


def test_crossbar_layer_outputs_weighted_sums_on_an_ideal_array():
    w = torch.randn(6, 4, dtype=torch.float64)
    spec = CrossbarSpec(6, 4)
    layer = CrossbarLayer(spec, g_min=1e-6, g_max=1e-4, w_max=float(w.abs().max()), weight=w)
    v = torch.rand(3, 6, dtype=torch.float64)
    assert torch.allclose(layer(v), v @ w)
    layer(v).sum().backward()
    assert layer.weight.grad is not None and torch.isfinite(layer.weight.grad).all()


def test_crossbar_layer_with_wires_reads_less_than_ideal_and_backpropagates():
    w = torch.rand(32, 16, dtype=torch.float64)
    ideal = CrossbarLayer(CrossbarSpec(32, 16), 1 / 1500, 1 / 500, weight=w)
    wired = CrossbarLayer(CrossbarSpec(32, 16, r_wire=1.0), 1 / 1500, 1 / 500, weight=w)
    v = torch.full((1, 32), 0.1, dtype=torch.float64)
    out = wired(v)
    assert (out.abs().sum() < ideal(v).abs().sum()).item()
    out.sum().backward()
    assert torch.isfinite(wired.weight.grad).all()


def test_weight_mapping_round_trips_and_reports_clipping():
    w = np.array([[0.5, -1.0], [2.0, 0.0]])
    m = map_weights(w, 1e-6, 1e-4, w_max=1.0)
    assert m.clipped == 1 and m.max_clip == pytest.approx(1.0)
    read = (m.g[:, 0::2] - m.g[:, 1::2]) / m.scale
    assert np.allclose(read, np.clip(w, -1, 1))
    assert "clipped" in m.report()
    single = map_weights(w, 1e-6, 1e-4, pairs="single")
    assert single.clipped == 1 and single.g.min() == pytest.approx(1e-6)


def test_pcm_crossbar_reads_like_the_twin():
    spec = CrossbarSpec(4, 3, r_wire=2.0)
    g = random_conductances(spec, 1e-6, 10e-6, seed=5)
    v = np.full(spec.rows, 0.2)
    dt = 1e-6
    res = run(crossbar_netlist(spec, "pcm", g, stimuli=DC(0.2), dt=dt, t_stop=2 * dt))
    i_spice = np.array([res.at(f"i(vsense_{j})", dt) for j in range(spec.physical_cols)])
    i_twin = simulate_crossbar(spec, "pcm", torch.tensor(g), torch.tensor(v)[None], dt)["i"][1, 0].numpy()
    assert np.max(np.abs(i_twin - i_spice)) / np.max(np.abs(i_spice)) <= 1e-3
