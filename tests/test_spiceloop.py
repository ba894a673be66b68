"""SPICE in the loop: periphery netlists, the ngspice-forward / twin-backward layer, training, failures."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest
import torch

from spicegrad._io import load_tensors
from spicegrad.cli import main
from spicegrad.crossbar import CrossbarSpec
from spicegrad.crossbar.generator import crossbar_circuit
from spicegrad.crossbar.layers import CrossbarLayer
from spicegrad.crossbar.periphery import ADC, TIA, AccessTransistor, Periphery
from spicegrad.datasets import write_bars_dataset
from spicegrad.errors import InputError
from spicegrad.spice import run
from spicegrad.spice.errors import SpiceError
from spicegrad.spice.library import models_dir
from spicegrad.spice.raw import parse_raw
from spicegrad.spiceloop import ExperimentConfig, SpiceCrossbar, run_seed

FULL = Periphery(AccessTransistor(), TIA(), ADC())


def _layer(periphery=FULL, rows=6, cols=3, seed=0, **kwargs):
    w = torch.from_numpy(np.random.default_rng(seed).uniform(-1, 1, (rows, cols)))
    return SpiceCrossbar(CrossbarSpec(rows, cols), periphery, weight=w, **kwargs)


def _rows(n=7, rows=6, seed=1):
    return torch.from_numpy(np.random.default_rng(seed).uniform(0, 0.2, (n, rows)))


# --- periphery in the netlist ---------------------------------------------------------------


def test_forward_equals_a_plain_ngspice_run_of_the_same_netlist(tmp_path):
    layer, v = _layer(), _rows()
    y = layer(v)
    g = layer.twin.conductance().detach().numpy()
    path = tmp_path / "batch.cir"
    path.write_text(layer.circuit.netlist(g, v.numpy()))
    subprocess.run(["ngspice", "-b", "-n", "-r", str(tmp_path / "out.raw"), str(path)], check=True,
                   capture_output=True, cwd=tmp_path)
    vectors = parse_raw(tmp_path / "out.raw")[-1].vectors
    q = np.stack([vectors[f"v(q_{k})"] for k in range(3)], 1)
    np.testing.assert_array_equal(y.detach().numpy(), q)
    assert np.all(np.abs(q / ADC().lsb - np.round(q / ADC().lsb)) < 1e-9)  # ADC codes


def test_sweep_and_time_slots_give_the_same_outputs():
    """A static circuit read as a .dc sweep and as PWL slots of a transient."""
    v = _rows(5)
    sweep = _layer(Periphery(AccessTransistor(), TIA()))
    slots = _layer(Periphery(AccessTransistor(), TIA()), circuit_mode="slots")
    np.testing.assert_allclose(sweep.circuit_outputs(v).numpy(), slots.circuit_outputs(v).numpy(), rtol=0, atol=1e-9)


def test_periphery_moves_the_circuit_away_from_the_twin_as_the_physics_says():
    v = torch.full((1, 6), 0.2, dtype=torch.float64)
    near_ideal = _layer(Periphery(tia=TIA(gain=1e7, v_swing=100.0)))
    np.testing.assert_allclose(near_ideal.circuit_outputs(v).numpy(), near_ideal.twin_outputs(v).detach().numpy(),
                               rtol=1e-5, atol=1e-9)
    # the access transistor's on-resistance (≈ 3.3 kΩ) in series lowers every cell current
    spec = CrossbarSpec(1, 1, pairs="single")
    g = np.array([[1e-4]])
    res = run(crossbar_circuit(spec, "resistor", g, analysis="op", periphery=Periphery(access=AccessTransistor())).render())
    i = abs(float(res["i(vsense_0)"][0]))
    assert 0.1 / (1e4 + 5e3) < i < 0.1 / (1e4 + 2e3)  # default read 0.1 V through 10 kΩ + R_on


def test_saturated_tia_clamps_near_its_swing_and_leaves_virtual_ground():
    spec = CrossbarSpec(1, 1, pairs="single")
    circuit = crossbar_circuit(spec, "resistor", np.array([[1e-3]]), analysis="batch", batch=np.array([[0.05], [0.5]]),
                               periphery=Periphery(tia=TIA(r_f=1e4, v_swing=1.0)))
    res = run(circuit.render())
    o = res["v(o_0)"]
    # linear: 50 µA · 10 kΩ less the finite-gain error, loop gain A/(1 + R_f·G) with G = 1 mS
    assert o[0] == pytest.approx(-0.5 / (1 + (1 + 1e4 * 1e-3) / 1e4), rel=1e-6)
    assert -1.05 < o[1] < -1.0  # 5 mA would need -50 V: clamped at the swing plus the diode's drop
    column = 0.5 - res["i(vsense_0)"][1] / 1e-3  # V across the cell gives its current
    assert column > 0.3  # saturated, the column is far from virtual ground (0.36 V: (0.5 V - 1.03 V·G·R_f... ))


def test_cli_writes_a_netlist_with_periphery_that_runs(tmp_path, capsys):
    out = tmp_path / "x.cir"
    assert main(["netlist", "crossbar", "--rows", "3", "--cols", "2", "--device", "resistor",
                 "--periphery", "1t1r,tia,adc", "--adc-bits", "4", "--tia-pole", "1e7", "-o", str(out)]) == 0
    assert "periphery: 1T1R" in capsys.readouterr().out
    text = out.read_text()
    assert ".model nacc nmos level=1" in text and "Xtia_0 t_0 o_0 tia_pole" in text
    res = run(out)
    assert "v(q_1)" in res and "v(o_3)" in res


def test_cli_maps_weights_onto_a_given_conductance_range_for_resistor_cells(tmp_path, capsys):
    np.save(tmp_path / "w.npy", np.array([[1.0], [-0.5]]))
    out = tmp_path / "x.cir"
    assert main(["netlist", "crossbar", "--rows", "2", "--cols", "1", "--device", "resistor", "--weights",
                 str(tmp_path / "w.npy"), "--g-range", "1e-6:1e-4", "--periphery", "tia", "-o", str(out)]) == 0
    assert "1e-06..0.0001 S" in capsys.readouterr().out
    assert "Rd_0_0 r_0 c_0 10000.0" in out.read_text()  # w = 1 -> g_max = 100 µS
    assert main(["netlist", "crossbar", "--rows", "2", "--cols", "1", "--weights", str(tmp_path / "w.npy"),
                 "--g-range", "1e-6:1e-4", "-o", str(out)]) == 2  # mss cells have their own range
    assert "the option is for resistor cells" in capsys.readouterr().err


@pytest.mark.parametrize("argv, message", [
    (["--periphery", "adc"], "give a TIA too"),
    (["--periphery", "tia,dac"], "distinct parts out of 1t1r, tia, adc"),
    (["--periphery", "tia,adc", "--adc-bits", "40"], "ADC.bits = 40"),
    (["--periphery", "tia", "--tia-gain", "-3"], "TIA.gain"),
    (["--periphery", "1t1r", "--access-wl", "0"], "W/L"),
])
def test_cli_rejects_bad_periphery(tmp_path, capsys, argv, message):
    rc = main(["netlist", "crossbar", "--rows", "2", "--cols", "1", *argv, "-o", str(tmp_path / "x.cir")])
    assert rc == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "x.cir").exists()


# --- the layer -------------------------------------------------------------------------------


def test_backward_is_the_twins_vjp_at_the_same_inputs_and_weights():
    layer, v = _layer(), _rows().requires_grad_(True)
    grad_out = torch.from_numpy(np.random.default_rng(2).normal(size=(7, 3)))
    layer(v).backward(grad_out)
    # the twin alone: a CrossbarLayer with the same weights, read by an ideal amplifier
    twin = CrossbarLayer(CrossbarSpec(6, 3), 1e-6, 1e-4, 1.0, layer.weight.detach())
    v2 = v.detach().clone().requires_grad_(True)
    i = twin.currents(v2)
    y = TIA().r_f * (i[:, 0::2] - i[:, 1::2])
    gv, gw = torch.autograd.grad(y, (v2, twin.weight), grad_out)
    torch.testing.assert_close(v.grad, gv, rtol=1e-12, atol=0)
    torch.testing.assert_close(layer.weight.grad, gw, rtol=1e-12, atol=0)


def test_layer_follows_the_input_dtype_and_twin_mode_needs_no_ngspice():
    layer = _layer()
    v = _rows().float()
    assert layer(v).dtype == torch.float32
    layer.mode = "twin"
    y = layer(v)
    assert y.dtype == torch.float32 and layer.circuit.timing.runs == 1
    with pytest.raises(InputError, match="mode = 'hardware'"):
        layer.mode = "hardware"
    with pytest.raises(InputError, match=r"input shape \(2, 5\); need \[\*, 6\]"):
        layer(torch.zeros(2, 5))


def test_stateful_cells_are_refused():
    with pytest.raises(InputError, match="reads move its state"):
        SpiceCrossbar(CrossbarSpec(2, 1), FULL, device="mss")


@pytest.mark.slow
def test_two_dask_workers_give_the_same_outputs_as_one_process():
    distributed = pytest.importorskip("distributed")
    layer, v = _layer(), _rows(9)
    expected = layer.circuit_outputs(v)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        layer.client = client
        got = layer.circuit_outputs(v)
    np.testing.assert_array_equal(got.numpy(), expected.numpy())
    assert layer.circuit.timing.runs == 1 + 2


def test_a_few_steps_with_spice_in_the_loop_lower_the_in_circuit_loss():
    """A toy task: 3 outputs regress fixed targets through a saturating, quantising read-out."""
    torch.manual_seed(0)
    layer = _layer(rows=8, cols=3, seed=3)
    v = _rows(16, rows=8, seed=4)
    target = torch.from_numpy(np.random.default_rng(5).uniform(-0.3, 0.3, (16, 3)))
    opt = torch.optim.Adam(layer.parameters(), lr=0.2)
    losses = []
    for _ in range(20):
        loss = torch.mean((layer(v) - target) ** 2)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    final = float(torch.mean((layer.circuit_outputs(v) - target) ** 2))
    assert final < 0.5 * losses[0], losses


# --- the experiment ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bars(tmp_path_factory):
    return write_bars_dataset(tmp_path_factory.mktemp("bars"), n_train=200, n_test=60)


def _tiny(**kw):
    base = dict(dataset="fashion-mnist", image_size=4, train=96, validation=32, test=40, hidden=4, epochs=1, batch=32)
    return ExperimentConfig(**{**base, **kw})


def test_an_ngspice_failure_stops_training_with_its_message_and_keeps_the_checkpoint(tmp_path, bars, monkeypatch):
    out = tmp_path / "run"
    run_seed(_tiny(), out, bars, show_progress=False, log=lambda _: None)
    ckpt = out / "checkpoint.pt"
    # epoch 2 meets a model library that ngspice rejects (the access transistor's model is gone)
    broken = tmp_path / "models"
    shutil.copytree(models_dir(), broken)
    lib = broken / "periphery.lib"
    lib.write_text(lib.read_text().replace("M1 d g s 0 nacc", "M1 d g s 0 nowhere"))
    monkeypatch.setenv("SPICEGRAD_MODELS", str(broken))
    with pytest.raises(SpiceError) as info:
        run_seed(_tiny(epochs=2), out, bars, resume=True, show_progress=False, log=lambda _: None)
    text = str(info.value)
    assert "nowhere" in text.lower()  # ngspice's own message names the missing model
    assert "training stopped: phase spice, epoch 2, batch 1" in text and f"{ckpt} (phase at epoch 1)" in text
    state = load_tensors(ckpt)  # the last good checkpoint: readable, the spice phase at epoch 1
    assert state["phases"]["spice"]["epoch"] == 1 and state["phases"]["twin"]["epoch"] == 2
    monkeypatch.delenv("SPICEGRAD_MODELS")
    m = run_seed(_tiny(epochs=2), out, bars, resume=True, show_progress=False, log=lambda _: None)
    assert [r["epoch"] for r in m["history"]["spice"]] == [1, 2]


def test_cli_runs_resumes_and_reports_three_accuracies(tmp_path, bars, capsys):
    out = tmp_path / "loop"
    argv = ["train", "spice-loop", "--dataset", "fashion-mnist", "--data", str(bars), "--image-size", "4",
            "--train", "96", "--validation", "32", "--test", "40", "--hidden", "4", "--batch", "32",
            "--seeds", "0,1", "--no-progress", "--out", str(out)]
    assert main([*argv, "--epochs", "1"]) == 0
    said = capsys.readouterr().out
    assert "(a) twin-trained in ngspice" in said and "mean ± std over seeds [0, 1]" in said
    assert main([*argv, "--epochs", "1"]) == 2  # the run exists: refuse to overwrite it
    assert "pass --resume" in capsys.readouterr().err
    assert main([*argv, "--epochs", "2", "--resume"]) == 0
    import json

    m = json.loads((out / "s0" / "metrics.json").read_text())
    assert [r["epoch"] for r in m["history"]["spice"]] == [1, 2]
    assert set(m["test_accuracy"]) == {"twin_trained_in_circuit", "spice_trained_in_circuit", "twin_trained_on_twin"}
    assert m["split"] == {"train": 96, "validation": 32, "test": 40}
    for name in ("accuracy.png", "mismatch.png"):
        assert (out / "s0" / name).stat().st_size > 10_000
    assert (out / "summary.png").exists()
    assert main([*argv, "--epochs", "2", "--resume", "--hidden", "5"]) == 2
    assert "another configuration" in capsys.readouterr().err


@pytest.mark.parametrize("record, subckt, derived", [
    (AccessTransistor, "acc1t", None), (TIA, "tia", None), (TIA, "tia_pole", {"fp": None}), (ADC, "adc", None)])
def test_periphery_library_defaults_equal_the_records_defaults(record, subckt, derived):
    from spicegrad.spice.subckt import library_mismatches

    text = (models_dir() / "periphery.lib").read_text()
    assert not library_mismatches(record, text, subckt, derived, source="periphery.lib")


def test_a_damaged_or_hostile_checkpoint_is_refused_with_a_clear_message(tmp_path, bars):
    out = tmp_path / "run"
    run_seed(_tiny(), out, bars, show_progress=False, log=lambda _: None)
    ckpt = out / "checkpoint.pt"
    state = load_tensors(ckpt)
    bad = [({**state, "phases": {**state["phases"], "spice": {**state["phases"]["spice"],
             "weights": {"l1": torch.zeros(3, 3, dtype=torch.float64), "l2": state["phases"]["spice"]["weights"]["l2"]}}}},
            r"weights l1 is \(3, 3\), expected a real CPU tensor of shape \(16, 4\)"),
           ({**state, "phases": {**state["phases"], "twin": {**state["phases"]["twin"], "history": [{}]}}},
            "history record 1 = {}"),
           ({**state, "phases": {**state["phases"], "twin": {**state["phases"]["twin"], "best": None}}}, "best = None"),
           ({**state, "phases": {**state["phases"], "spice": {**state["phases"]["spice"], "optimizer": {
               **state["phases"]["spice"]["optimizer"], "state": {0: {"step": torch.tensor(1.0),
                                                                      "exp_avg": torch.zeros(1, 2, 3),
                                                                      "exp_avg_sq": torch.zeros(16, 4)}}}}}},
            "optimiser exp_avg of shape"),
           ({**state, "phases": {**state["phases"], "twin": {**state["phases"]["twin"], "epoch": -1}}}, "epoch = -1"),
           ({**state, "config": {**state["config"], "hidden": "4; rm -rf /"}}, "hidden = '4; rm -rf /'"),
           ({**state, "format": "something-else"}, "not a spice-loop checkpoint")]
    for damaged, message in bad:
        torch.save(damaged, ckpt)
        with pytest.raises(InputError, match=message):
            run_seed(_tiny(epochs=2), out, bars, resume=True, show_progress=False, log=lambda _: None)

    # the optimiser's settings come from the configuration, never from the file
    good = {**state, "phases": {**state["phases"], "spice": {**state["phases"]["spice"], "optimizer": {
        **state["phases"]["spice"]["optimizer"], "param_groups": [
            {**g, "lr": float("nan"), "maximize": True} for g in state["phases"]["spice"]["optimizer"]["param_groups"]]}}}}
    torch.save(good, ckpt)
    m = run_seed(_tiny(epochs=2), out, bars, resume=True, show_progress=False, log=lambda _: None)
    assert all(np.isfinite(r["train_loss"]) for r in m["history"]["spice"])
    torch.save(state, ckpt)

    class Payload:
        def __reduce__(self):
            return (print, ("a checkpoint ran code",))

    torch.save({"format": "spicegrad-spiceloop-1", "x": Payload()}, ckpt)
    with pytest.raises(InputError, match="refused"):
        run_seed(_tiny(epochs=2), out, bars, resume=True, show_progress=False, log=lambda _: None)


def test_a_diverging_run_stops_with_exit_3_and_keeps_a_resumable_checkpoint(tmp_path, bars, capsys):
    argv = ["train", "spice-loop", "--dataset", "fashion-mnist", "--data", str(bars), "--image-size", "4",
            "--train", "96", "--validation", "32", "--test", "40", "--hidden", "4", "--batch", "32",
            "--no-progress", "--out", str(tmp_path / "run")]
    assert main([*argv, "--epochs", "2", "--lr", "1e308"]) == 3
    assert "the weights left the finite numbers" in capsys.readouterr().err
    assert main([*argv, "--epochs", "2", "--lr", "1e308", "--resume"]) == 3  # the checkpoint is readable


def test_the_command_checks_its_output_folder_and_seeds_before_any_work(tmp_path, bars, capsys):
    base = ["train", "spice-loop", "--dataset", "fashion-mnist", "--data", str(bars), "--image-size", "4",
            "--train", "96", "--validation", "32", "--test", "40", "--hidden", "4", "--batch", "32", "--epochs", "1",
            "--no-progress"]
    (tmp_path / "afile").write_text("mine")
    assert main([*base, "--out", str(tmp_path / "afile")]) == 2
    assert "a file; give a folder" in capsys.readouterr().err
    (tmp_path / "own" / "s1").mkdir(parents=True)
    (tmp_path / "own" / "s1" / "checkpoint.pt").write_bytes(b"someone's run")
    assert main([*base, "--seeds", "0,1", "--out", str(tmp_path / "own")]) == 2
    assert "pass --resume" in capsys.readouterr().err and not (tmp_path / "own" / "s0").exists()
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "summary.json").write_text("my notes")
    assert main([*base, "--seeds", "0,1", "--out", str(tmp_path / "mine")]) == 2
    assert "was not written by spice-loop" in capsys.readouterr().err
    assert (tmp_path / "mine" / "summary.json").read_text() == "my notes"
    with pytest.raises(SystemExit):
        main([*base, "--seeds", "99999999999999999999", "--out", str(tmp_path / "x")])
    assert "give distinct integer seeds from 0 to 2147483647" in capsys.readouterr().err
    with pytest.raises(InputError, match="exceeds the read-out's full scale"):
        ExperimentConfig(hidden_scale=5.0)
    with pytest.raises(InputError, match="seed = 1.5"):
        ExperimentConfig(seed=1.5)
