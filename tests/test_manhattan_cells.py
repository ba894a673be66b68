"""Manhattan-rule training on a cell that is neither MSS nor built in: the toy device of
examples/06_bring_your_own_device.py, registered here with ``spicegrad.register``, and its mirror
image, whose conductance rises under NEGATIVE voltage (VTEAM's polarity). Nothing in
spicegrad/manhattan/ names either device.

The toy relaxes toward s(v) = (1 + tanh(v/v_s))/2 at rate 1/tau whatever v is, so it has no true
threshold. (choice, for these tests) Its switching is declared as (±0.25 V): s(0.25 V) = 0.92,
and the derived pulses (1.5 × 0.25 = 0.375 V, s = 0.98) fill 95 % of the range. Being volatile
(at 0 V it drifts toward x = 0.5 as fast as a pulse moves it) and without a threshold (a
half-selected cell at 0.19 V is pulled toward x = 0.87), it cannot hold weights in a V/2
crossbar: the circuit backends are checked for agreement with ngspice and for the device's
polarity, and the curve backend (a single device's pulse response) for convergence.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from example_device import EXAMPLE

from spicegrad.cli import main
from spicegrad.devices import registry
from spicegrad.manhattan.circuit import program_schedule, read_schedule, run_spice, run_twin
from spicegrad.manhattan.devices import CellPulses, DeviceCurve, MSSPulses, cell_pulses, round_125
from spicegrad.manhattan.model import CrossbarPerceptron
from spicegrad.manhattan.tasks import seed4

V_UP = 0.25  # V, the toy's declared switching threshold (see the module docstring)
#: the toy's validation tolerance on the state (its cases file): max|Δx| <= 2e-3
TOY_X_TOLERANCE = 2e-3
EPOCHS = 48  # the task's: 47 pulses -> 80 µs pulses at dt = 10 µs (the toy's own case dt)




def _mirror_step(v, x, p, dt, integrator="exp-euler"):
    return EXAMPLE.toy_step(-v, x, p, dt, integrator)


@pytest.fixture(scope="module")
def cells(tmp_path_factory):
    """'toy' (positive polarity) and 'toy_mirror' (negative), registered for this module."""
    folder = tmp_path_factory.mktemp("cells")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SPICEGRAD_CACHE", str(folder / "cache"))
        (folder / "toy.lib").write_text(EXAMPLE.TOY_LIB)
        (folder / "toy.toml").write_text(EXAMPLE.TOY_CASES)
        mirror_lib = (EXAMPLE.TOY_LIB.replace(".subckt toy ", ".subckt toy_mirror ")
                      .replace(".ends toy", ".ends toy_mirror").replace("tanh(v(te,be)/v_s)", "tanh(v(be,te)/v_s)"))
        assert mirror_lib.count("toy_mirror") == 2 and "v(be,te)/v_s" in mirror_lib
        (folder / "toy_mirror.lib").write_text(mirror_lib)
        (folder / "toy_mirror.toml").write_text(EXAMPLE.TOY_CASES.replace('"toy', '"toy_mirror'))
        toy = registry.register(EXAMPLE.toy_kind(folder / "toy.lib", folder / "toy.toml",
                                                 switching=lambda p: (V_UP, -V_UP)))
        mirror = registry.register(EXAMPLE.toy_kind(
            folder / "toy_mirror.lib", folder / "toy_mirror.toml", name="toy_mirror", subckt="toy_mirror",
            step=_mirror_step, switching=lambda p: (-V_UP, V_UP),
            reference_rhs=lambda t, v, x, p: ((1 + np.tanh(-v / p.v_s)) / 2 - x) / p.tau))
        try:
            yield toy, mirror
        finally:
            registry.unregister("toy")
            registry.unregister("toy_mirror")


def test_pulses_are_derived_from_the_device_and_mss_keeps_its_protocol(cells):
    toy, mirror = cells
    p = EXAMPLE.ToyParams()
    pulses = cell_pulses(toy, p, EPOCHS - 1)
    assert pulses.device == "toy" and pulses.amplitude == pytest.approx(1.5 * V_UP)
    assert pulses.amplitude / 2 < V_UP < pulses.amplitude  # passes the threshold, its half does not
    assert pulses.dt == round_125(pulses.dt) and pulses.dt <= pulses.width / 5
    assert pulses.steps("width") >= 5 and pulses.gap == pulses.width and pulses.steps("read_time") == 4
    assert (pulses.width, pulses.dt) == pytest.approx((8e-5, 1e-5))  # fill time 3.75 ms / 47, on the 10 µs grid
    flipped = cell_pulses(mirror, p, EPOCHS - 1)
    assert flipped.voltage(p) == -pulses.voltage(p) == pytest.approx(-0.375)
    assert (flipped.width, flipped.dt) == (pulses.width, pulses.dt)
    assert cell_pulses("mss", None, 7) == MSSPulses()  # the study's protocol, whatever the pulse count
    assert cell_pulses(toy, p, amplitude=0.4, width=3e-5).dt == 5e-6  # a given width keeps its value
    with pytest.raises(ValueError, match=r"toy pulse amplitude = 0\.2 V does not pass .* \|v_up\| = 0\.25 V"):
        cell_pulses(toy, p, amplitude=0.2)
    with pytest.raises(ValueError, match="half of it"):
        CellPulses("toy_mirror", 0.6, 8e-5, 8e-5, 4e-5, 1e-5).check_device(p, half_select=True)


def test_curve_of_either_polarity_rises_identically(cells):
    toy, mirror = cells
    a = DeviceCurve.from_cell(toy, n_pulses=EPOCHS - 1)
    b = DeviceCurve.from_cell(mirror, n_pulses=EPOCHS - 1)
    np.testing.assert_array_equal(a.g, b.g)  # step(-v) of the mirror at -V is the toy's step at +V
    g_min, g_max = toy.conductance_range(EXAMPLE.ToyParams())
    assert a.g[0] == pytest.approx(g_min) and (np.diff(a.g) > 0).all()
    # gaps at 0 V pull the volatile toy back toward x = 0.5: 47 pulses cover 73 % of the range, not 95 %
    assert 0.6 * (g_max - g_min) < a.g[-1] - a.g[0] < 0.95 * (g_max - g_min)
    assert a.v_read_max == b.v_read_max == V_UP and a.meta["validated"] is True
    assert b.source.startswith("TOY_MIRROR twin, -0.375 V")


def test_curve_backend_converges_for_both_polarities_from_the_cli(cells, tmp_path, capsys):
    summaries = {}
    for name in ("toy", "toy_mirror"):
        out = tmp_path / name
        assert main(["train", "manhattan", "--device", name, "--runs", "20", "--seed", "4", "--out", str(out),
                     "--no-plots"]) == 0
        summaries[name] = json.loads((out / "summary.json").read_text())
    s = summaries["toy"]
    assert s["device"] == "toy" and s["curve"]["v_read_max_V"] == V_UP
    assert s["convergence_rate"] >= 0.8  # 19 of 20 measured
    assert summaries["toy_mirror"]["epochs"] == s["epochs"]
    assert "toy (curve)" in capsys.readouterr().out


def test_programming_and_reads_match_ngspice_for_the_negative_polarity_cell(cells):
    """One V/2 programming transient and one read on a 2x2 array of the mirrored toy."""
    _, mirror = cells
    p = EXAMPLE.ToyParams()
    pulses = cell_pulses(mirror, p, EPOCHS - 1)
    x0 = torch.tensor([[[0.1, 0.6], [0.3, 0.2]]], dtype=torch.float64)
    prog = program_schedule(torch.tensor([[[True, False], [False, False]]]), pulses, pulses.voltage(p))
    assert float(prog.device_voltages()[0, 0, 0, 0]) == pytest.approx(-0.375)  # the selected cell: -V
    _, x_twin = run_twin(prog, x0, p, pulses.integrator, kind=mirror)
    _, x_spice = run_spice(prog, x0, p, kind=mirror)
    np.testing.assert_allclose(x_spice, x_twin, atol=TOY_X_TOLERANCE)
    selected, half = x_twin[0, 0, 0] - x0[0, 0, 0], x_twin[0, 1, 0] - x0[0, 1, 0]
    # negative pulses raise it; the toy has no threshold, so its half-selected cell (-V/2) rises too, less
    assert selected > 0.1 and 0 < half < selected
    v = torch.tensor([[0.1, -0.1], [-0.1, 0.1]], dtype=torch.float64)
    read = read_schedule(v, pulses, 1, 2)
    i_twin, _ = run_twin(read, x_twin, p, pulses.integrator, kind=mirror)
    i_spice, _ = run_spice(read, x_twin, p, kind=mirror)
    np.testing.assert_allclose(i_spice, i_twin, rtol=2e-3)


def test_twin_circuit_backend_runs_from_the_cli_and_follows_ngspice(cells, tmp_path):
    out = tmp_path / "twin"
    assert main(["train", "manhattan", "--device", "toy", "--backend", "twin", "--runs", "2", "--epochs", "6",
                 "--pulse-width", "8e-5", "--seed", "4", "--out", str(out), "--no-plots"]) == 0
    s = json.loads((out / "summary.json").read_text())
    assert (s["device"], s["backend"], s["runs"]) == ("toy", "twin", 2)
    t = seed4()
    kw = dict(epochs=4, seed=4, pulses=cell_pulses("toy", None, EPOCHS - 1))
    twin = CrossbarPerceptron("toy", backend="twin", **kw).fit(t.voltages(), t.y)  # the toy's step has no noise
    spice = CrossbarPerceptron("toy", backend="spice", **kw).fit(t.voltages(), t.y)
    np.testing.assert_array_equal(spice.converged_epoch_, twin.converged_epoch_)
    assert np.abs(spice.history_.state - twin.history_.state).max() < TOY_X_TOLERANCE
    assert np.abs(twin.history_.state[-1] - twin.history_.state[0]).max() > 0.02
    np.testing.assert_allclose(spice.history_.activations, twin.history_.activations, atol=1e-3)


def test_unsuitable_or_unknown_devices_are_refused_naming_the_allowed_ones(cells, tmp_path, capsys):
    for device, words in [("mif", "'mif': not a pulse-programmable cell; allowed: 'mss'"),
                          ("nonsense", "'nonsense': not a device name, and the curve file does not exist")]:
        assert main(["train", "manhattan", "--device", device, "--out", str(tmp_path / "x")]) == 2
        err = capsys.readouterr().err
        assert words in err and "'toy'" in err and "'toy_mirror'" in err and "'seed'" in err
    assert main(["train", "manhattan", "--device", "seed", "--pulse-amplitude", "0.3", "--out", str(tmp_path)]) == 2
    assert "apply to a pulse-programmable cell" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["train", "manhattan", "--help"])
    assert "toy, toy_mirror" in capsys.readouterr().out.replace("\n", " ").replace("  ", " ")


@pytest.mark.slow  # ngspice in the loop, 10 epochs
def test_spice_and_twin_backends_agree_on_the_toy(cells):
    t = seed4()
    kw = dict(seed=4, epochs=10)
    spice = CrossbarPerceptron("toy", backend="spice", **kw).fit(t.voltages(), t.y)
    twin = CrossbarPerceptron("toy", backend="twin", deterministic=True, **kw).fit(t.voltages(), t.y)
    assert spice.pulses == twin.pulses and spice.pulses.dt == 5e-5  # 9 pulses: 400 µs at dt = 50 µs
    np.testing.assert_array_equal(spice.converged_epoch_, twin.converged_epoch_)
    assert spice.history_.state.shape == twin.history_.state.shape
    assert np.abs(spice.history_.state - twin.history_.state).max() < TOY_X_TOLERANCE
    assert np.abs(spice.history_.state[-1] - spice.history_.state[0]).max() > 0.02
    np.testing.assert_allclose(spice.history_.activations, twin.history_.activations, atol=1e-3)


def test_level_sources_keep_their_times_increasing_at_sub_ns_steps():
    # VTEAM's derived pulses run at dt = 50 ps: a fixed 1 ns edge put breakpoints in the past
    import re

    from spicegrad.manhattan.circuit import _level_source

    for dt in (1e-6, 5e-11):
        text = _level_source(np.array([0.0, 0.3, 0.3, 0.0, -0.15]), dt).text
        times = [float(t) for t in re.findall(r"([0-9.e+-]+) [0-9.e+-]+", text.replace("\n+", " "))]
        assert len(times) == 8 and all(b > a for a, b in zip(times, times[1:], strict=False)), (dt, times)
