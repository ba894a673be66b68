"""A device registered from outside the package reaches every consumer: netlist writer, crossbar
twin, validator (with its own cases file), certificates and the CLI — with no other file edited.

The throwaway device is a relaxation memristor: dx/dt = (s(v) - x)/tau with
s(v) = (1 + tanh(v/v_s))/2, G(x) = x/r_on + (1 - x)/r_off. Its definition (Params, twin step,
.lib, cases file, registry entry) is the one of examples/06_bring_your_own_device.py, imported
from there so that the example and these tests cannot drift apart.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from example_device import EXAMPLE

import spicegrad as sg
from spicegrad.cli import main
from spicegrad.crossbar import CrossbarSpec
from spicegrad.crossbar.layers import row_samples, simulate_crossbar
from spicegrad.devices import registry
from spicegrad.devices.registry import DeviceKind
from spicegrad.errors import InputError
from spicegrad.spice import run
from spicegrad.stimuli import Sine

TOY_LIB, TOY_CASES, ToyParams = EXAMPLE.TOY_LIB, EXAMPLE.TOY_CASES, EXAMPLE.ToyParams


def toy_kind(tmp_path, **changes) -> DeviceKind:
    lib = tmp_path / "toy.lib"
    if not lib.exists():
        lib.write_text(TOY_LIB)
    cases = tmp_path / "toy.toml"
    cases.write_text(TOY_CASES)
    return EXAMPLE.toy_kind(lib, cases, **changes)


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


def test_registered_device_is_in_the_demo_with_its_quick_case(toy, tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--model", "toy", "--out", str(out)]) == 0
    row, = json.loads((out / "summary.json").read_text())["runs"]
    assert row["model"] == "toy" and row["meta"]["case"] == "toy-sine" and (out / row["plot"]).stat().st_size > 10_000
    assert row["units"] == {"x": "1", "i": "A"}
    assert row["errors"]["x"]["max_abs"] < 2e-4  # 5.0e-5 measured, as in the validator
    assert "toy" in capsys.readouterr().out


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


def test_registration_refuses_a_library_that_does_not_declare_the_initial_state(tmp_path):
    # ngspice would drop x0=... from every instance without a word and start each cell at 0
    (tmp_path / "toy.lib").write_text(TOY_LIB.replace(" x0=0", "").replace("IC={x0}", "IC=0"))
    with pytest.raises(InputError, match=r"\['x0 \(the initial_state\)'\] of ToyParams not declared after params:"):
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
