"""Batched crossbar transients: what is kept, chunking, per-run initial states, dtype and device."""

import numpy as np
import pytest
import torch

from spicegrad.crossbar.devices import get_device
from spicegrad.crossbar.layers import simulate_crossbar
from spicegrad.crossbar.topology import CrossbarSpec
from spicegrad.devices import registry
from spicegrad.devices.mss import (
    MSSParams,
    mss_conductance_range,
    mss_state_from_conductance,
    mss_step,
)
from spicegrad.errors import InputError

DT = 1e-6


def batch(rows=4, cols=3, runs=5, steps=60, seed=0):
    """Per-run sines (amplitudes 0.6..1 V, random phases) and per-run initial conductances."""
    spec = CrossbarSpec(rows, cols)
    rng = np.random.default_rng(seed)
    t = (np.arange(steps) + 0.5) * DT
    v = rng.uniform(0.6, 1.0, (runs, rows)) * np.sin(2e3 * np.pi * t[:, None, None] * 25 + rng.uniform(0, 6, (runs, rows)))
    g0 = rng.uniform(*mss_conductance_range(MSSParams()), (runs, rows, spec.physical_cols))
    return spec, torch.tensor(g0), torch.tensor(v)


def stepped(g0, v, integrator="exp-euler"):
    """States [T+1, B, R, Cp] and column currents by stepping every device, no scan, no shortcut."""
    p = MSSParams()
    x = mss_state_from_conductance(g0, p)
    states = [x]
    for k in range(v.shape[0]):
        x = mss_step(v[k][:, :, None], x, p, DT, integrator)
        states.append(x)
    states = torch.stack(states)
    v_read = torch.cat([v, v[-1:]])
    g = get_device("mss").conductance(states, p)
    return states, torch.einsum("tbr,tbrc->tbc", v_read, g)


@pytest.mark.parametrize("integrator", ["exp-euler", "euler"])
def test_kept_outputs_match_stepping_every_device(integrator):
    spec, g0, v = batch()
    states, currents = stepped(g0, v, integrator)
    out = simulate_crossbar(spec, "mss", g0, v, DT, integrator=integrator, keep=("state", "i"), every=7,
                            probes=[(0, 0), (3, 5)], chunk=9)
    assert torch.equal(out["state_steps"], torch.arange(0, v.shape[0] + 1, 7))
    assert torch.allclose(out["state"], states[::7], rtol=0, atol=1e-12)
    assert torch.allclose(out["final_state"], states[-1], rtol=0, atol=1e-12)
    assert torch.allclose(out["probe"], torch.stack([states[:, :, 0, 0], states[:, :, 3, 5]], -1), rtol=0, atol=1e-12)
    assert torch.allclose(out["i"], currents, rtol=1e-12, atol=0)
    assert "v_dev" not in out


def test_currents_leaving_the_affine_interval_fall_back_to_the_states():
    # forward Euler at a long step overshoots x past 1: the clamp of G(x) acts, the matrix-product
    # shortcut (valid on [0, 1] only) must not be taken for those chunks
    spec, g0, v = batch(steps=30)
    out = simulate_crossbar(spec, "mss", g0, v, 150e-6, integrator="euler", chunk=4)
    x = out["state"]
    assert float(x.max()) > 1.4 and float(x.min()) < -0.4  # measured 1.49, -0.49
    g = get_device("mss").conductance(x, MSSParams())
    expected = torch.einsum("tbr,tbrc->tbc", torch.cat([v, v[-1:]]), g)
    assert torch.allclose(out["i"], expected, rtol=1e-12, atol=0)


def test_runs_with_their_own_initial_states_equal_separate_runs():
    spec, g0, v = batch(runs=3)
    together = simulate_crossbar(spec, "mss", g0, v, DT)
    for b in range(3):
        alone = simulate_crossbar(spec, "mss", g0[b], v[:, b], DT)
        assert torch.allclose(together["i"][:, b], alone["i"][:, 0], rtol=1e-13, atol=0)
        assert torch.allclose(together["state"][:, b], alone["state"][:, 0], rtol=0, atol=1e-14)


@pytest.mark.parametrize("r_wire", [0.0, 2.5])
def test_float32_and_meta_batches_against_the_stored_float64_trajectory(r_wire):
    spec, g0, v = batch(runs=3, steps=40)
    spec = CrossbarSpec(4, 3, r_wire=r_wire, r_driver=r_wire, r_sense=r_wire)
    full = simulate_crossbar(spec, "mss", g0, v, DT)  # float64, every state stored
    lean = simulate_crossbar(spec, "mss", g0.float(), v.float(), DT, keep="i", every=10, chunk=8)
    assert lean["i"].dtype == torch.float32 and lean["final_state"].dtype == torch.float32
    scale = float(full["i"].abs().max())
    assert float((lean["i"] - full["i"]).abs().max()) <= 1e-5 * scale  # float32: measured 2e-7 of the largest
    assert float((lean["final_state"] - full["state"][-1]).abs().max()) <= 1e-5
    meta = simulate_crossbar(spec, "mss", g0.to("meta"), v.to("meta"), DT, keep=("i", "state", "v_dev"), every=10,
                             probes=[(1, 2)])
    assert meta["i"].device.type == "meta"
    assert {k: tuple(t.shape) for k, t in meta.items() if k != "state_steps"} == {
        "i": (41, 3, 6), "state": (5, 3, 4, 6), "v_dev": (40, 3, 4, 6), "probe": (41, 3, 1), "final_state": (3, 4, 6)}


def test_bad_record_arguments_name_the_value():
    spec, g0, v = batch(runs=2, steps=5)
    for kwargs, match in [({"keep": ("i", "x")}, "keep = 'x'"), ({"every": 0}, "every = 0"),
                          ({"probes": [(4, 0)]}, r"\(4, 0\) lies outside"), ({"probes": ["ab"]}, "not a \\(row"),
                          ({"chunk": -1}, "chunk = -1"), ({"keep": None}, "keep = None"),
                          ({"probes": [(0.5, 1)]}, "whole numbers")]:
        with pytest.raises(InputError, match=match):
            simulate_crossbar(spec, "mss", g0, v, DT, **kwargs)
    out = simulate_crossbar(spec, "mss", g0, v, DT, keep="state", every=np.int64(2), probes=np.array([[1, 2]]))
    assert out["state"].shape[0] == 3 and out["probe"].shape == (6, 2, 1)
    with pytest.raises(InputError, match=r"g0: shape \(3, 4, 6\)"):
        simulate_crossbar(spec, "mss", torch.cat([g0, g0[:1]]), v, DT)
    with pytest.raises(InputError, match="keep 'i'"):
        simulate_crossbar(spec, "mss", g0, v, DT, keep="state", neurons="mif")


@pytest.mark.parametrize("name", [k.name for k in registry.kinds() if k.declares("affine_conductance")])
def test_a_declared_affine_conductance_is_affine_on_its_interval(name):
    kind = registry.get(name)
    params, (lo, hi) = kind.params(), kind.affine_conductance
    c0, c1, _, _ = get_device(name).conductance_line(params)
    x = torch.linspace(lo, hi, 101, dtype=torch.float64)
    assert torch.allclose(kind.conductance(x, params), c0 + c1 * x, rtol=1e-13, atol=0)



def test_read_only_cells_take_each_runs_own_conductances():
    spec = CrossbarSpec(2, 2)
    g0 = torch.stack([torch.full((2, 4), 2e-4), torch.full((2, 4), 8e-4)]).double()
    v = torch.ones(3, 2, 2, dtype=torch.float64)
    for wired in (spec, CrossbarSpec(2, 2, r_wire=1.0)):
        together = simulate_crossbar(wired, "resistor", g0, v, DT, keep="i")["i"]
        for b in range(2):
            alone = simulate_crossbar(wired, "resistor", g0[b], v[:, b], DT, keep="i")["i"][:, 0]
            assert torch.allclose(together[:, b], alone, rtol=1e-13, atol=0)


def test_shared_inputs_broadcast_over_per_run_initial_states_and_half_precision_is_refused():
    spec, g0, v = batch(runs=3, steps=10)
    out = simulate_crossbar(spec, "mss", g0, v[:, 0], DT, keep="i")
    assert out["i"].shape == (11, 3, 6)
    assert torch.allclose(out["i"][:, 2], simulate_crossbar(spec, "mss", g0[2], v[:, 0], DT)["i"][:, 0], rtol=1e-13)
    with pytest.raises(InputError, match="float32 or float64"):
        simulate_crossbar(spec, "mss", g0, v.half(), DT)
    with pytest.raises(ValueError, match="g0 contains a non-finite"):
        simulate_crossbar(spec, "mss", g0 * float("nan"), v, DT)


def test_a_wrong_affine_conductance_declaration_is_refused():
    import dataclasses

    from spicegrad.crossbar.devices import RegistryCell

    kind = dataclasses.replace(registry.get("mss"), affine_conductance=(0.0, 2.0))  # MSS clamps at x = 1
    with pytest.raises(InputError, match="not on one line"):
        RegistryCell.of(kind).conductance_line(MSSParams())
