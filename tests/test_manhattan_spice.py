"""ngspice in the training loop: twin vs spice on the MSS crossbar, and the exported netlist."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from spicegrad.manhattan.circuit import (
    classify_netlist,
    epoch_netlist,
    program_schedule,
    read_schedule,
    run_spice,
    run_twin,
)
from spicegrad.manhattan.devices import MSSPulses
from spicegrad.manhattan.model import CrossbarPerceptron
from spicegrad.manhattan.tasks import seed4

#: the MSS validation tolerance on the state (spicegrad/cases/mss.toml): max|Δx| <= 2e-3
MSS_X_TOLERANCE = 2e-3
SEED = 4  # a fixed seed whose run converges within a few epochs (epoch 5)


@pytest.fixture(scope="module")
def trained_pair():
    t = seed4()
    spice = CrossbarPerceptron("mss", backend="spice", seed=SEED).fit(t.voltages(), t.y)
    twin = CrossbarPerceptron("mss", backend="twin", deterministic=True, seed=SEED).fit(t.voltages(), t.y)
    return t, spice, twin


def test_twin_and_spice_backends_give_the_same_trajectory_and_epoch(trained_pair):
    _, spice, twin = trained_pair
    assert spice.converged_[0] and twin.converged_[0]
    assert spice.converged_epoch_[0] == twin.converged_epoch_[0]
    assert spice.history_.state.shape == twin.history_.state.shape
    dx = np.abs(spice.history_.state - twin.history_.state).max()
    assert dx < MSS_X_TOLERANCE
    # the conductances that moved did so through the circuit's pulses
    assert np.abs(spice.history_.state[-1] - spice.history_.state[0]).max() > 0.02
    np.testing.assert_allclose(spice.history_.activations, twin.history_.activations, atol=1e-3)


def test_read_currents_and_half_select_match_between_ngspice_and_twin():
    """One programming transient (V/2) and one read on a 2x2 array, states from 0.1 to 0.6."""
    pulses = MSSPulses()
    x0 = torch.tensor([[[0.1, 0.6], [0.3, 0.2]]], dtype=torch.float64)
    mask = torch.tensor([[[True, False], [False, False]]])
    prog = program_schedule(mask, pulses)
    from spicegrad.devices.mss import MSSParams

    params = MSSParams()
    _, x_twin = run_twin(prog, x0, params, pulses.integrator)
    _, x_spice = run_spice(prog, x0, params)
    np.testing.assert_allclose(x_spice, x_twin, atol=1e-4)
    assert x_twin[0, 0, 0] - x0[0, 0, 0] > 0.03  # selected: one full step
    assert 0 < x_twin[0, 1, 0] - x0[0, 1, 0] < 0.01  # half-selected (same column): small disturbance
    v = torch.tensor([[0.1, -0.1], [-0.1, 0.1]], dtype=torch.float64)
    read = read_schedule(v, pulses, 1, 2)
    i_twin, _ = run_twin(read, x_twin, params, pulses.integrator)
    i_spice, _ = run_spice(read, x_twin, params)
    np.testing.assert_allclose(i_spice, i_twin, rtol=1e-4)
    assert "Xd_0_0 r_0 c_0 mss" in epoch_netlist(read, x_twin[0].numpy(), params)


@pytest.mark.parametrize("backend", [pytest.param("curve", marks=pytest.mark.slow), "twin"])  # curve: 5.7 s
def test_exported_netlist_classifies_every_training_pattern_as_the_twin(backend, tmp_path):
    t = seed4()
    model = CrossbarPerceptron("mss", backend=backend, deterministic=True, seed=SEED).fit(t.voltages(), t.y)
    assert model.converged_[0]
    path = tmp_path / "trained.cir"
    from spicegrad.manhattan.circuit import export_netlist

    meta = export_netlist(model, t.voltages(), path)
    assert meta["device"] == ("mss" if backend == "twin" else "resistor")
    out = classify_netlist(path)
    np.testing.assert_array_equal(out["labels"], model.predict(t.voltages()))
    np.testing.assert_array_equal(out["labels"], t.y)
    np.testing.assert_allclose(out["activations"], model.activations(t.voltages())[0], atol=2e-3)


@pytest.mark.slow  # 6 s; one run in turn is covered by the trajectory test
def test_spice_backend_trains_several_runs_in_turn():
    t = seed4()
    m = CrossbarPerceptron("mss", backend="spice", runs=2, seed=SEED, epochs=4).fit(t.voltages(), t.y)
    assert m.history_.g.shape[1] == 2 and m.converged_epoch_.shape == (2,)
