"""Crossbar twin with non-linear cells (I = f(v, x)) against real ngspice.

The test cell is the made-up relaxation memristor of examples/06_bring_your_own_device.py with
a sinh I-V: I = G(x)·sinh(b·v)/b (b = 3 /V), declared by a ``current`` hook and carried by the
same expression in its .lib's Bd element. dI/dv at v = 0 is G(x), so ``conductance`` stays the
small-signal conductance, as the registry requires. At 0.6 V the current is 1.5x G·v: the linear
formula would be far off.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from example_device import EXAMPLE

from spicegrad.crossbar import CrossbarSpec, crossbar_netlist, nodal
from spicegrad.crossbar.devices import get_device
from spicegrad.crossbar.generator import DC
from spicegrad.crossbar.layers import row_samples, simulate_crossbar
from spicegrad.devices import MSSParams, registry
from spicegrad.errors import CheckFailed
from spicegrad.spice import run
from spicegrad.stimuli import Sine

#: the sinh steepness of the test cell (1/V)
B_SINH = 3.0
#: 3x2 differential: G+ and G- per weight (S), every value inside the toy's 1e-4..1e-3 S
G0 = [[4e-4, 2e-4, 6e-4, 1.5e-4], [9e-4, 3e-4, 1.2e-4, 5e-4], [2.5e-4, 7e-4, 8e-4, 1e-4]]
DT, STEPS = 1e-6, 300  # s


LINEAR_BD = "Bd te be I={v(te,be)*(v(x)/r_on + (1 - v(x))/r_off)}"
SINH_BD = f"Bd te be I={{(v(x)/r_on + (1 - v(x))/r_off)*sinh({B_SINH}*v(te,be))/{B_SINH}}}"


def sinh_current(v, x, p):
    return EXAMPLE.toy_conductance(x, p) * torch.sinh(B_SINH * v) / B_SINH


def reference_sinh_current(v, y, p):
    """The same I-V in numpy, for the validator's independent reference (B)."""
    return (y[0] / p.r_on + (1 - y[0]) / p.r_off) * np.sinh(B_SINH * v) / B_SINH


@pytest.fixture
def sinh_toy(tmp_path, monkeypatch):
    """The toy cell with the sinh I-V, registered for the test and removed after it."""
    monkeypatch.setenv("SPICEGRAD_CACHE", str(tmp_path / "cache"))
    assert LINEAR_BD in EXAMPLE.TOY_LIB
    lib, cases = tmp_path / "toy.lib", tmp_path / "toy.toml"
    lib.write_text(EXAMPLE.TOY_LIB.replace(LINEAR_BD, SINH_BD))
    cases.write_text(EXAMPLE.TOY_CASES)
    kind = registry.register(EXAMPLE.toy_kind(lib, cases, current=sinh_current,
                                              reference_current=reference_sinh_current))
    yield kind
    registry.unregister(kind.name)


def _spice_vs_twin(spec, g0, stimuli, steps=STEPS):
    """ngspice and the twin on one 3x2 array of the test cell: states [T+1, R, Cp], the
    ngspice ammeter currents at the grid points and at the step midpoints, the twin's."""
    net = crossbar_netlist(spec, "toy", g0.numpy(), stimuli=stimuli, t_stop=steps * DT, dt=DT, save_states=True,
                           max_step=DT / 10)
    spice = run(net)
    stats = {}
    twin = simulate_crossbar(spec, "toy", g0, row_samples(stimuli, DT, steps), DT, stats=stats)
    t = np.arange(steps + 1) * DT
    cols = range(spec.physical_cols)
    x = np.stack([np.stack([spice.at(f"xd_{i}_{j}.x", t) for j in cols], -1) for i in range(spec.rows)], 1)
    return {"x": x, "i": np.stack([spice.at(f"i(vsense_{j})", t) for j in cols], -1),
            "i_mid": np.stack([spice.at(f"i(vsense_{j})", t[:-1] + DT / 2) for j in cols], -1),
            "twin_x": twin["state"][:, 0].numpy(), "twin_i": twin["i"][:, 0].numpy(),
            "v_dev": twin["v_dev"][:, 0].numpy(), "stats": stats}


def _linear_reading(kind, x, v_dev):
    """Σ_rows v·G(x) (A): what the linear code path reads at states x and device voltages v_dev."""
    return (v_dev * kind.conductance(torch.as_tensor(x), kind.params()).numpy()).sum(-2)


STIMULI = [Sine(amplitude=0.4 + 0.1 * r, freq=2.5e3) for r in range(3)]  # V, Hz: 0.4..0.6 V
DC_ROWS = [DC(0.6), DC(-0.5), DC(0.3)]  # V


def test_sinh_cell_is_detected_non_linear_and_linear_kinds_are_not(sinh_toy):
    states = torch.tensor([0.2, 0.7], dtype=torch.float64)
    assert not get_device("toy").is_linear(sinh_toy.params(), states, 0.6)
    assert get_device("mss").is_linear(MSSParams(), states, 1.0)  # phi = 1: v·G(x)
    assert not get_device("mss").is_linear(MSSParams.preset("knowm-schottky"), states, 1.0)


def test_sinh_cell_3x2_differential_ideal_matches_ngspice(sinh_toy):
    """Ideal wires, DC rows (the states still move): column current Σ_rows I(V_i, x_ik)."""
    out = _spice_vs_twin(CrossbarSpec(3, 2), torch.tensor(G0, dtype=torch.float64), DC_ROWS)
    peak = np.abs(out["i"]).max()
    assert np.ptp(out["x"]) > 0.5  # the states move: a transient, not a read
    linear = _linear_reading(sinh_toy, out["x"], np.array([s.level for s in DC_ROWS])[None, :, None])
    assert np.abs(linear - out["i"]).max() > 0.05 * peak  # the non-linearity matters
    # measured: currents 1.6e-5 of the peak, states 9.5e-6
    assert np.abs(out["twin_i"] - out["i"]).max() <= 1e-4 * peak
    assert np.abs(out["twin_x"] - out["x"]).max() <= 1e-4


def test_sinh_cell_3x2_differential_wired_matches_ngspice(sinh_toy):
    """20 Ω wires, drivers and senses, sine rows: chord iteration per step. The wired twin's
    current i_k is read with the states at the step midpoint (layers' documented choice), so it
    is compared with ngspice at t_k + dt/2 (k >= 1; step 0 has no previous step to extrapolate)."""
    r = 20.0
    out = _spice_vs_twin(CrossbarSpec(3, 2, r_wire=r, r_driver=r, r_sense=r), torch.tensor(G0, dtype=torch.float64),
                         STIMULI)
    peak = np.abs(out["i"]).max()
    assert np.ptp(out["x"]) > 0.5
    # the wires matter (device voltages below the row voltages) and the non-linearity does
    rows = row_samples(STIMULI, DT, STEPS).numpy()
    assert np.abs(out["v_dev"] - rows[:, :, None]).max() > 5e-3
    linear = _linear_reading(sinh_toy, out["twin_x"][:-1], out["v_dev"])
    assert np.abs(linear - out["twin_i"][:-1]).max() > 0.05 * peak
    # measured: currents 2.1e-6 of the peak, states 5.0e-6
    assert np.abs(out["twin_i"][1:-1] - out["i_mid"][1:]).max() <= 1e-5 * peak
    assert np.abs(out["twin_x"] - out["x"]).max() <= 1e-4
    assert STEPS + 1 < out["stats"]["chord_iterations"] <= 10 * (STEPS + 1)  # measured 6 per step


def test_linear_kind_takes_the_linear_path_unchanged(tmp_path, monkeypatch):
    """A kind whose declared current is v·G(x) reads bit for bit as one without a current hook,
    with no chord iteration, ideal and wired."""
    monkeypatch.setenv("SPICEGRAD_CACHE", str(tmp_path / "cache"))
    lib, cases = tmp_path / "toy.lib", tmp_path / "toy.toml"
    lib.write_text(EXAMPLE.TOY_LIB)
    cases.write_text(EXAMPLE.TOY_CASES)
    g0 = torch.tensor(G0, dtype=torch.float64)
    v = row_samples(STIMULI, DT, 50)
    results = []
    try:
        for current in (None, lambda u, x, p: u * EXAMPLE.toy_conductance(x, p)):
            registry.register(EXAMPLE.toy_kind(lib, cases, current=current), replace=True)
            for r in (0.0, 20.0):
                stats = {}
                spec = CrossbarSpec(3, 2, r_wire=r, r_driver=r, r_sense=r)
                out = simulate_crossbar(spec, "toy", g0, v, DT, stats=stats)
                assert "chord_iterations" not in stats
                results.append(out)
    finally:
        registry.unregister("toy")
    for a, b in zip(results[:2], results[2:], strict=True):
        for key in ("state", "i", "v_dev"):
            assert torch.equal(a[key], b[key])


def test_chord_iteration_cap_gives_a_clear_error(sinh_toy, monkeypatch):
    monkeypatch.setattr(nodal, "MAX_CHORD_ITERATIONS", 1)
    spec = CrossbarSpec(3, 2, r_wire=20.0, r_driver=20.0, r_sense=20.0)
    with pytest.raises(CheckFailed, match=r"did not converge in 1 iterations .* tolerance 1e-09 V"):
        simulate_crossbar(spec, "toy", torch.tensor(G0, dtype=torch.float64), row_samples(STIMULI, DT, 3), DT)


def test_zero_volt_rows_use_the_small_signal_conductance_and_gradients_stay_finite(sinh_toy):
    spec = CrossbarSpec(3, 2, r_wire=20.0, r_driver=20.0, r_sense=20.0)
    g0 = torch.tensor(G0, dtype=torch.float64, requires_grad=True)
    v = torch.tensor([[0.0, 0.0, 0.0], [0.5, 0.0, -0.4], [0.0, 0.0, 0.0]], dtype=torch.float64)
    out = simulate_crossbar(spec, "toy", g0, v, DT)
    assert torch.all(out["i"][0] == 0)  # every cell at 0 V: no current, no 0/0
    out["i"].sum().backward()
    assert torch.isfinite(g0.grad).all() and g0.grad.abs().sum() > 0
    # the ideal array's current with a row at 0 V is the sinh sum of the others
    ideal = simulate_crossbar(CrossbarSpec(3, 2), "toy", g0.detach(), v, DT)
    x = ideal["state"][1, 0]
    expected = sum(sinh_current(v[1, r], x[r], sinh_toy.params()) for r in range(3))
    assert torch.allclose(ideal["i"][1, 0], expected, rtol=1e-14, atol=0)


# --- the crossbar validator with a registered cell named by the case -----------------------


def _toy_case(r: float, **extra):
    from spicegrad.validate.cases import make_case

    raw = {"name": f"toy-crossbar-3x2-{r:g}ohm", "model": "crossbar", "t_stop": 3e-4, "dt": 1e-6,
           "integrator": "exp-euler",
           "stimulus": {"kind": "crossbar", "rows": 3, "cols": 2, "r_wire": r, "r_driver": r, "r_sense": r,
                        "device": "toy", "seed": 0, "sine": {"low": 0.4, "high": 0.6, "freq": 1e3}},
           "tolerance": {"x": {"max_abs": 2e-3}, "i": {"nrmse": 2.5e-3}}, **extra}
    return make_case(raw)


@pytest.mark.parametrize("r", [0.0, pytest.param(20.0, marks=pytest.mark.slow)])  # wired: 6 s
def test_crossbar_case_names_a_registered_non_linear_cell(sinh_toy, r):
    from spicegrad.validate import run_case

    res = run_case(_toy_case(r), use_cache=False)
    assert res["passed"] and res["as_expected"]
    # measured (ideal, 20 Ω): twin vs ngspice x 5.0e-6, 5.0e-6; i nrmse 1.5e-3, 1.6e-3 (the twin's current
    # at t_k is read with the step-midpoint row sample); reference (Newton on the stamped array) vs
    # ngspice i nrmse 1.9e-6, 2.2e-6
    assert res["metrics"]["x"]["max_abs"] <= 2e-5
    assert res["model_error"]["i"]["nrmse"] <= 1e-4 and res["model_error"]["x"]["max_abs"] <= 2e-5


def test_crossbar_case_of_a_cell_with_a_wrong_twin_fails_as_model_error(sinh_toy):
    from spicegrad.validate import run_case

    res = run_case(_toy_case(0.0, twin_params={"v_s": 0.3}, expect="fail"), use_cache=False)
    assert not res["passed"] and res["as_expected"] and "model" in res["causes"]


def test_crossbar_case_device_defaults_to_mss_with_the_same_fingerprint():
    from spicegrad.validate.cases import make_case
    from spicegrad.validate.certificates import case_fingerprint

    stimulus = {"kind": "crossbar", "rows": 2, "cols": 2, "r_wire": 1.0, "r_driver": 1.0, "r_sense": 1.0,
                "seed": 3, "sine": {"low": 0.6, "high": 1.0, "freq": 1e3}}
    raw = {"name": "c", "model": "crossbar", "t_stop": 1e-5, "dt": 1e-6, "tolerance": {"x": {"max_abs": 2e-3}}}
    implicit = make_case({**raw, "stimulus": stimulus})
    explicit = make_case({**raw, "stimulus": {**stimulus, "device": "mss"}})
    assert case_fingerprint(implicit) == case_fingerprint(explicit)


def test_crossbar_case_of_a_cell_rejects_bad_fields_naming_them(sinh_toy):
    from spicegrad.validate.cases import CaseError

    with pytest.raises(CaseError, match="sine"):
        _toy_case(0.0, stimulus={"kind": "crossbar", "rows": 3, "cols": 2, "device": "toy",
                                 "dc": {"low": 0.1, "high": 0.2}})
    with pytest.raises(CaseError, match=r"unknown field\(s\) \['v_on'\]"):
        _toy_case(0.0, params={"v_on": 0.3})  # an MSS field: the toy's record has none
