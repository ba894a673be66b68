"""A device registered from outside the package reaches every consumer: netlist writer, crossbar
twin, validator (with its own cases file), certificates and the CLI — with no other file edited.

The throwaway device is a relaxation memristor: dx/dt = (s(v) - x)/tau with
s(v) = (1 + tanh(v/v_s))/2, G(x) = x/r_on + (1 - x)/r_off.
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

import spicegrad as sg
from spicegrad.cli import main
from spicegrad.crossbar import CrossbarSpec
from spicegrad.crossbar.layers import row_samples, simulate_crossbar
from spicegrad.devices import DeviceParams, get_integrator, param, registry
from spicegrad.devices.registry import DeviceKind
from spicegrad.errors import InputError
from spicegrad.spice import run
from spicegrad.stimuli import Sine

TOY_LIB = """* toy relaxation memristor (test device)
.subckt toy te be params: r_on=1000 r_off=10000 v_s=0.2 tau=0.001 x0=0
Cx x 0 1 IC={x0}
Rx x 0 1e12
Bx 0 x I={(0.5*(1 + tanh(v(te,be)/v_s)) - v(x))/tau}
Bd te be I={v(te,be)*(v(x)/r_on + (1 - v(x))/r_off)}
.ends toy
"""

TOY_CASES = """
[[case]]
name = "toy-sine"
model = "toy"
dt = 1e-5
t_stop = 4e-3
integrator = "exp-euler"
stimulus = { kind = "sine", amplitude = 0.5, freq = 500.0 }
tolerance = { x = { max_abs = 2e-3 }, i = { nrmse = 2.5e-3 } }

[[case]]
name = "toy-wrong-v_s"
model = "toy"
dt = 1e-5
t_stop = 4e-3
integrator = "exp-euler"
stimulus = { kind = "sine", amplitude = 0.5, freq = 500.0 }
tolerance = { x = { max_abs = 2e-3 } }
twin_params = { v_s = 0.3 }
expect = "fail"
"""


@dataclasses.dataclass(frozen=True)
class ToyParams(DeviceParams):
    r_on: float = param(1e3, "Ω", "resistance at x = 1")
    r_off: float = param(1e4, "Ω", "resistance at x = 0")
    v_s: float = param(0.2, "V", "voltage scale of the target state")
    tau: float = param(1e-3, "s", "relaxation time")


def toy_step(v, x, p, dt, integrator="exp-euler"):
    target = 0.5 * (1 + torch.tanh(v / p.v_s))
    return get_integrator(integrator).relax(x, target / p.tau, torch.full_like(x, 1 / p.tau), dt)


def toy_conductance(x, p):
    return x / p.r_on + (1 - x) / p.r_off


def toy_kind(tmp_path, **changes) -> DeviceKind:
    lib = tmp_path / "toy.lib"
    if not lib.exists():
        lib.write_text(TOY_LIB)
    cases = tmp_path / "toy.toml"
    cases.write_text(TOY_CASES)
    fields = dict(
        name="toy", params=ToyParams, library=lib, subckt="toy", pins=("te", "be"), role="cell",
        states=("x",), initial_state="x0", step=toy_step, conductance=toy_conductance,
        state_from_conductance=lambda g, p: (g - 1 / p.r_off) / (1 / p.r_on - 1 / p.r_off),
        conductance_range=lambda p: (1 / p.r_off, 1 / p.r_on),
        program=lambda g, p: {"x0": (np.asarray(g, float).ravel() - 1 / p.r_off) / (1 / p.r_on - 1 / p.r_off)},
        cases=cases,
        # the independent reference, stated again in numpy
        reference_rhs=lambda t, v, x, p: ((1 + np.tanh(v / p.v_s)) / 2 - x) / p.tau,
        reference_current=lambda v, y, p: v * (y[0] / p.r_on + (1 - y[0]) / p.r_off),
    )
    fields.update(changes)
    return DeviceKind(**fields)


@pytest.fixture
def toy(tmp_path, monkeypatch):
    monkeypatch.setenv("SPICEGRAD_CACHE", str(tmp_path / "cache"))
    kind = registry.register(toy_kind(tmp_path))
    yield kind
    registry.unregister("toy")


def test_registered_device_is_listed_by_every_consumer(toy):
    from spicegrad.crossbar.devices import device_names
    from spicegrad.validate.adapters import validated_models

    assert "toy" in registry.names("cell") and "toy" in device_names() and "toy" in validated_models()
    assert "toy" in sg.registry.names()


def test_registered_device_validates_from_the_cli_with_its_own_cases_file(toy, tmp_path, capsys):
    report = tmp_path / "report"
    assert main(["validate", "--model", "toy", "--no-sweep", "--report", str(report)]) == 0
    out = capsys.readouterr().out
    assert "toy-sine" in out and "toy-wrong-v_s" in out and "validation PASSED" in out
    summary = json.loads((report / "summary.json").read_text())
    by_name = {c["name"]: c for c in summary["cases"]}
    assert by_name["toy-sine"]["passed"] and not by_name["toy-wrong-v_s"]["passed"]
    # the .lib and the numpy reference state one model: their difference (5e-5 measured, ngspice's
    # own step error at max_step = dt/10) is a small part of the 2e-3 tolerance
    assert by_name["toy-sine"]["model_error"]["x"]["max_abs"] < 2e-4


def test_registered_device_is_certified_for_training(toy):
    from spicegrad.validate import require_certified

    cert = require_certified("toy", ToyParams(), 1e-5, "exp-euler")
    assert cert["validated"] is True


def test_registered_device_goes_into_a_crossbar_netlist_that_ngspice_runs(toy, tmp_path):
    weights = tmp_path / "w.npy"
    np.save(weights, np.array([[0.5, -1.0], [1.0, 0.25], [-0.5, 0.0]]))
    out = tmp_path / "xbar.cir"
    assert main(["netlist", "crossbar", "--rows", "3", "--cols", "2", "--device", "toy", "--weights", str(weights),
                 "--stimulus", "sine:0.3,1e3", "--t-stop", "1e-3", "--dt", "1e-5", "--save-states", "-o", str(out)]) == 0
    text = out.read_text()
    assert "toy.lib" in text and " toy " in text
    result = run(text)
    assert any(name.endswith(".x)") for name in result.names), result.names
    assert np.all(np.isfinite(result["i(vsense_0)"]))


def test_registered_device_runs_in_the_crossbar_twin_and_agrees_with_ngspice(toy):
    from spicegrad.crossbar.generator import crossbar_netlist

    spec = CrossbarSpec(3, 2)
    g0 = torch.tensor([[[4e-4, 2e-4, 6e-4, 1.5e-4]] * 3], dtype=torch.float64)[0]
    stimuli = [Sine(amplitude=0.4 + 0.1 * r, freq=1e3) for r in range(3)]
    dt, steps = 1e-6, 1000
    twin = simulate_crossbar(spec, "toy", g0, row_samples(stimuli, dt, steps), dt)
    spice = run(crossbar_netlist(spec, device="toy", g=g0.numpy(), stimuli=stimuli, t_stop=steps * dt, dt=dt,
                                 save_states=True))
    t = np.arange(steps + 1) * dt
    x_spice = spice.at("xd_0_0.x", t)
    assert np.max(np.abs(twin["state"][:, 0, 0, 0].numpy() - x_spice)) < 1e-3


def test_registration_refuses_a_library_without_the_declared_state_node(tmp_path):
    (tmp_path / "toy.lib").write_text(TOY_LIB.replace("v(x)", "v(y)").replace("Cx x 0", "Cy y 0")
                                      .replace("Rx x 0", "Ry y 0").replace("Bx 0 x", "By 0 y"))
    with pytest.raises(InputError, match=r"state node\(s\) \['x'\]"):
        registry.register(toy_kind(tmp_path))
    assert "toy" not in registry.names()


def test_registration_refuses_a_subcircuit_name_that_is_not_in_the_library(tmp_path):
    with pytest.raises(InputError, match="toy2"):
        registry.register(toy_kind(tmp_path, subckt="toy2"))
    assert "toy" not in registry.names()


def test_registration_refuses_a_taken_name_and_a_bad_role(tmp_path):
    with pytest.raises(InputError, match="already registered"):
        registry.register(toy_kind(tmp_path, name="mss"))
    with pytest.raises(InputError, match="role"):
        toy_kind(tmp_path, role="synapse")
