"""Co-designed MIF neurons: bounds, parameterisation, gradients, checkpoints, export and the
certification gate (the certification tests run ngspice and are slow)."""

from __future__ import annotations

import json
import math
import re

import pytest
import torch
from test_datasets import write_fake_dataset

from spicegrad.cli import main as spicegrad_main
from spicegrad.devices.mif import MIFParams, mif_rest_state
from spicegrad.errors import InputError, UnvalidatedConfigError
from spicegrad.memprop.model import MemPropConfig, MemPropNet, memprop_loss
from spicegrad.memprop.neuron_certs import certify_neurons
from spicegrad.memprop.neurons import BOUNDS, resolve_bounds
from spicegrad.memprop.train import MemPropTrainConfig, load_net, train_memprop

pytestmark = pytest.mark.usefixtures("one_thread")

LEARN = ("v_on1", "v_on2", "v1", "v2")
SMALL = dict(layers=(196, 16, 10), steps=30)
SEED = MIFParams.preset("memprop")


def _net(sharing="layer", learn=LEARN, seed=0, **kw):
    cfg = MemPropConfig(**SMALL, learn_mif=learn, mif_sharing=sharing, **kw)
    return MemPropNet(cfg, torch.Generator().manual_seed(seed))


# --- bounds and bad input ----------------------------------------------------------------------


@pytest.mark.parametrize("learn, bounds, message", [
    (("v_onn",), (), r"'v_onn': not an MIF field; the MIF fields are r_on, r_off, v_on1"),
    (("v_t",), (), r"'v_t': not learnable \(a thermal voltage"),
    (("pol2",), (), r"'pol2': not learnable \(circuit topology"),
    (("v_on1",), (("v_on1", 0.2, 0.4),), r"v_on1 = \[0.2, 0.4\] V excludes the seed value 0.11 V of preset 'memprop'"),
    (("v_on1",), (("v_on1", 0.3, 0.1),), r"v_on1 = \[0.3, 0.1\] V: need finite lo < hi"),
    (("tau1",), (("tau1", 0.0, 1e-2),), r"tau1 = \[0, 0.01\] s: tau1 is a positive scale; lo must be > 0"),
    (("nu",), (("nu", 0.1, 1.5),), r"nu = \[0.1, 1.5\]: the volatility constant lies in \(0, 1\]"),
    (("v_on1",), (("v2", -0.1, 0.1),), r"bound for 'v2': not a learned parameter \(learned: v_on1\)"),
    (("r_on", "r_off"), (("r_on", 500.0, 5e4),), r"r_on may reach 50000 Ω and r_off fall to 20000 Ω"),
    (("v_on1", "v_on1"), (), r"a field is named twice"),
])
def test_bad_learned_sets_and_bounds_name_the_parameter_and_the_bound(learn, bounds, message):
    with pytest.raises(InputError, match=message):
        MemPropConfig(**SMALL, learn_mif=learn, mif_bounds=bounds)


def test_bad_sharing_and_bounds_without_learning_are_refused():
    with pytest.raises(InputError, match=r"mif_sharing = 'column': one of layer, neuron"):
        MemPropConfig(**SMALL, learn_mif=LEARN, mif_sharing="column")
    with pytest.raises(InputError, match="no MIF parameter is learned"):
        MemPropConfig(**SMALL, mif_bounds=(("v_on1", 0.05, 0.3),))


def test_every_default_bound_contains_the_seed_and_is_a_valid_mif_parameter_range():
    bounds = resolve_bounds(tuple(BOUNDS), (), SEED, "memprop")
    for name, b in bounds.items():
        assert b.lo < getattr(SEED, name) < b.hi and b.source
        SEED.replace(**{name: b.lo})  # each end passes MIFParams' own checks
        SEED.replace(**{name: b.hi})


def test_command_line_refuses_a_bad_bound_and_a_non_mif_name(capsys, tmp_path):
    with pytest.raises(SystemExit) as exit_:
        spicegrad_main(["train", "memprop", "--out", str(tmp_path / "a"), "--learn-mif", "v_on1", "--mif-bound", "v_on1:0.1"])
    assert exit_.value.code == 2 and "'v_on1:0.1': expected NAME=LO:HI" in capsys.readouterr().err
    assert spicegrad_main(["train", "memprop", "--out", str(tmp_path / "b"), "--learn-mif", "c_mem,bogus"]) == 2
    assert "'bogus': not an MIF field" in capsys.readouterr().err
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


# --- the parameterisation ----------------------------------------------------------------------


def test_learned_neurons_start_at_the_seed_and_match_the_seed_network():
    x = torch.rand(3, 196, generator=torch.Generator().manual_seed(1))
    seed_net = MemPropNet(MemPropConfig(**SMALL), torch.Generator().manual_seed(0))
    for sharing in ("layer", "neuron"):
        net = _net(sharing)
        for layer in range(2):
            for p in net.neuron_params(layer):
                for name in LEARN:
                    assert getattr(p, name) == pytest.approx(getattr(SEED, name), abs=1e-7)
        # same function as the seed neuron, up to float32 rounding of the learned constants
        torch.testing.assert_close(net(x), seed_net(x), atol=1e-6, rtol=0)


@pytest.mark.parametrize("sharing", ["layer", "neuron"])
def test_values_stay_inside_their_bounds_whatever_the_optimiser_does(sharing):
    net = _net(sharing, learn=("v_on1", "tau1", "c_mem"))
    with torch.no_grad():
        for theta in net.neurons.theta.values():
            theta.copy_(torch.linspace(-1e4, 1e4, theta.numel()))
    for layer in range(2):
        for p in net.neuron_params(layer):
            for name in ("v_on1", "tau1", "c_mem"):
                b = BOUNDS[name]
                assert b.lo <= getattr(p, name) <= b.hi
    out = net(torch.rand(2, 196))
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("sharing, shape", [("layer", (2,)), ("neuron", (26,))])
def test_gradients_reach_every_learned_parameter_of_every_layer(sharing, shape):
    net = _net(sharing)
    x, y = torch.rand(4, 196, generator=torch.Generator().manual_seed(2)), torch.tensor([0, 1, 2, 3])
    memprop_loss(net(x), y, net.cfg.logit_volt).backward()
    for name, theta in net.neurons.theta.items():
        assert theta.shape == shape and theta.grad is not None and torch.isfinite(theta.grad).all(), name
        # every layer's (every neuron's) parameter has a gradient of its own
        assert (theta.grad != 0).float().mean() > 0.5, (name, theta.grad)


def test_rest_state_per_neuron_equals_the_scalar_rest_state_of_each_neuron():
    v_on1 = torch.tensor([0.06, 0.11, 0.3], dtype=torch.float64)
    v2 = torch.tensor([-0.2, 0.05, 0.2], dtype=torch.float64)
    rest = mif_rest_state(SEED.coeffs(v_on1=v_on1, v2=v2))
    for k in range(3):
        one = mif_rest_state(SEED.replace(v_on1=float(v_on1[k]), v2=float(v2[k])))
        for a, b in zip(rest, one, strict=True):
            assert float(a[k]) == pytest.approx(float(b), abs=1e-12)


def test_the_rest_state_gradient_is_the_implicit_function_one():
    v2 = torch.tensor(0.05, dtype=torch.float64, requires_grad=True)
    rest = mif_rest_state(SEED.coeffs(v2=v2))
    (grad,) = torch.autograd.grad(rest.v, v2)
    h = 1e-6
    fd = (float(mif_rest_state(SEED.replace(v2=0.05 + h)).v) - float(mif_rest_state(SEED.replace(v2=0.05 - h)).v)) / (2 * h)
    assert float(grad) == pytest.approx(fd, rel=1e-5)


# --- training, checkpoints, export ---------------------------------------------------------------


def _tiny_train(**kw) -> MemPropTrainConfig:
    net = MemPropConfig(layers=(196, 16, 10), steps=50, learn_mif=LEARN, mif_sharing="neuron")
    return MemPropTrainConfig(**{**dict(net=net, image_size=14, epochs=2, batch_size=32, lr=1e-2, mif_lr=0.2, seed=3,
                                        train_subset=None, test_subset=None), **kw})


NO_CERT = {"mif": {"validated": None, "note": "tests: certification skipped"}}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return write_fake_dataset(tmp_path_factory.mktemp("data") / "fashion-mnist", n_train=480, n_test=40)


@pytest.fixture(scope="module")
def codesigned(tmp_path_factory, data_dir):
    """A tiny co-designed network trained without the per-epoch neuron certification (the slow
    tests below run it); its learned values moved away from the seed."""
    out = tmp_path_factory.mktemp("codesign")
    m = train_memprop(_tiny_train(), out, data=data_dir, compile=False, progress=False, plots=False,
                      certificates=NO_CERT, certify_neurons=False, log=lambda *_: None)
    return out, m


def test_training_moves_the_learned_values_and_the_checkpoint_keeps_them(codesigned):
    out, m = codesigned
    net, state = load_net(out / "checkpoint.pt")
    values = torch.stack([net.neurons.values(name) for name in LEARN])
    seed = torch.tensor([getattr(SEED, name) for name in LEARN])[:, None]
    assert (values - seed).abs().max() > 1e-3  # they were trained
    assert len({p for p in net.neuron_params(0)}) > 1  # per neuron: neurons differ
    assert m["neurons"]["learned"] == list(LEARN) and m["neurons"]["sharing"] == "neuron"
    assert m["neurons"]["certification"] == {"skipped": "certify_neurons=False"}


def test_a_tampered_learned_parameter_is_refused_on_load(codesigned, tmp_path):
    out, _ = codesigned
    state = torch.load(out / "checkpoint.pt", weights_only=False)
    state["best"]["model"]["neurons.theta.v_on1"][0] = float("nan")
    torch.save(state, tmp_path / "bad.pt")
    with pytest.raises(InputError, match=r"best.model.*neurons.theta.v_on1.*not finite|non-finite"):
        load_net(tmp_path / "bad.pt")


def test_export_writes_each_neurons_learned_parameters_into_the_netlist(codesigned, data_dir, tmp_path):
    out, _ = codesigned
    net, _ = load_net(out / "checkpoint.pt")
    path = tmp_path / "net.cir"
    assert spicegrad_main(["export", str(out / "checkpoint.pt"), "-o", str(path), "--static-synapses",
                           "--data", str(data_dir)]) == 0
    text = path.read_text()
    for layer in range(2):
        for j, p in enumerate(net.neuron_params(layer)):
            line = re.search(rf"^Xn{layer + 1}_{j} m{layer + 1}_{j} mif params: (.*)$", text, re.M)
            assert line, (layer, j)
            fields = dict(kv.split("=") for kv in line.group(1).split())
            for name in LEARN:
                assert float(fields[name]) == pytest.approx(getattr(p, name), rel=1e-9, abs=1e-12), (layer, j, name)
            assert float(fields["v0"]) == pytest.approx(float(mif_rest_state(p).v), abs=1e-9)


def test_export_verify_agrees_with_the_twin_on_9_of_10_samples(codesigned, data_dir, tmp_path):
    """Done-when: the co-designed network, exported, in ngspice, predicts what the twin does."""
    out, _ = codesigned
    assert spicegrad_main(["export", str(out / "checkpoint.pt"), "-o", str(tmp_path / "net.cir"), "--static-synapses",
                           "--data", str(data_dir), "--verify", "10"]) == 0
    report = json.loads((tmp_path / "net.verify.json").read_text())
    assert report["samples"] == 10 and report["agree"] >= 9, report
    assert report["rms_V_max"] < 5e-3, report["rms_V"]


# --- certification (ngspice) ------------------------------------------------------------------


@pytest.mark.slow
def test_a_learned_set_outside_the_certified_region_stops_training_naming_layer_parameter_and_bound(tmp_path):
    """tau1 pulled down to 20 µs (a bound the user widened) is two steps at dt = 10 µs: the twin
    misses ngspice there, and the gate says which layer, which value, which bound."""
    cfg = MemPropTrainConfig(net=MemPropConfig(layers=(196, 4, 10), steps=50, learn_mif=("tau1",),
                                               mif_bounds=(("tau1", 1e-5, 1e-2),)), image_size=14)
    net = MemPropNet(cfg.net)
    with torch.no_grad():
        net.neurons.theta["tau1"][0] = -6.0  # layer 1: near the widened lower bound
    assert net.neuron_params(0)[0].tau1 < 3e-5
    with pytest.raises(UnvalidatedConfigError) as err:
        certify_neurons(net, cfg, log=lambda *_: None)
    msg = str(err.value)
    assert "MIF layer 1 of 2 (hidden), all 4 neurons" in msg and "tau1 = " in msg and "[1e-05, 0.01]" in msg
    assert "at its lower bound" in msg and "failed validation" in msg


@pytest.mark.slow
def test_training_certifies_every_learned_set_and_keeps_the_certificates_in_the_run(tmp_path, data_dir):
    cfg = _tiny_train(epochs=1, net=MemPropConfig(layers=(196, 16, 10), steps=50, learn_mif=LEARN))
    m = train_memprop(cfg, tmp_path, data=data_dir, compile=False, progress=False, plots=False, certificates=NO_CERT,
                      log=lambda *_: None)
    layers = m["neurons"]["certification"]["layers"]
    assert [len(layer["sets"]) for layer in layers] == [1, 1]
    for layer in layers:
        rec = layer["sets"][0]
        assert rec["validated"] is True and rec["neurons"] == list(range(16 if layer["layer"] == 1 else 10))
        saved = json.loads((tmp_path / "certificates" / f"mif-layer{layer['layer']}-set0.json").read_text())
        assert saved["certificate"]["passed"] is True and saved["certificate"]["dt"] == 1e-5
        assert set(saved["certificate"]["cases"]) >= {"mif-memprop-bipolar-train"}
        assert math.isclose(saved["learned"]["v_on1"], rec["learned"]["v_on1"])


def test_the_bounds_table_in_the_docs_is_the_one_the_code_uses():
    """One source of truth: docs/device-models.md's table lists BOUNDS as the code has them."""
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "docs" / "device-models.md").read_text()
    rows = re.findall(r"^\| ((?:`\w+`(?:, )?)+) \| (\S+) \| (\S+) \| (\S+) \| (linear|log) \|", text, re.M)
    documented = {}
    for names, lo, hi, unit, scale in rows:
        for name in re.findall(r"`(\w+)`", names):
            documented[name] = (float(lo.replace("−", "-")), float(hi.replace("−", "-")), unit, scale == "log")
    assert documented == {name: (b.lo, b.hi, b.unit, b.log) for name, b in BOUNDS.items()}


# --- hostile input (a review's findings) --------------------------------------------------------


@pytest.mark.parametrize("args, message", [
    (["--learn-mif", ""], "--learn-mif: no parameter named"),
    (["--mif-lr", "0.1"], "--mif-lr: apply to learned MIF parameters"),
    (["--mif-sharing", "neuron"], "--mif-sharing: apply to learned MIF parameters"),
    (["--learn-mif", "v_on1", "--mif-bound", "v_on1=0.05:0.3", "--mif-bound", "v_on1=0.06:0.3"], "given twice"),
    (["--learn-mif", "v1", "--mif-bound", "v1=-100:100"], r"v1 = \[-100, 100\] V: beyond the physical limits \[-1, 1\]"),
])
def test_command_line_refuses_learning_options_that_would_be_ignored_or_unphysical(args, message, capsys, tmp_path):
    assert spicegrad_main(["train", "memprop", "--out", str(tmp_path / "o"), *args]) == 2
    assert re.search(message, capsys.readouterr().err)
    assert not (tmp_path / "o").exists()


def _damaged(codesigned, tmp_path, edit) -> str:
    out, _ = codesigned
    state = torch.load(out / "checkpoint.pt", weights_only=False)
    edit(state)
    torch.save(state, tmp_path / "bad.pt")
    return str(tmp_path / "bad.pt")


@pytest.mark.parametrize("edit, message", [
    (lambda s: s.pop("best"), "a test score without the validation-selected network"),
    (lambda s: s["best"].update(epoch=99), r"best.epoch = 99: the selected epoch must be an integer in 1..2"),
    (lambda s: s["best"].update(epoch=True), r"best.epoch = True"),
    (lambda s: s.update(test="oops"), r"test = oops: expected the selected epoch"),
    (lambda s: s["best"]["model"].pop("neurons.theta.v1"), "best.model does not hold the same tensors as model"),
    (lambda s: s["best"]["model"].update({"neurons.theta.v1": torch.zeros(26, dtype=torch.int64)}),
     "neurons.theta.v1 is torch.int64, expected floating point"),
    (lambda s: s["best"].update(neuron_certificates={"layers": [{"layer": 1, "sets": [
        {"neurons": [0], "learned": {"v_on1": 0.3}}]}]}), r"learned v_on1 = \S+ differs from the certified 0.3"),
])
def test_damaged_selection_records_are_refused_on_export_naming_the_entry(codesigned, tmp_path, capsys, edit, message):
    bad = _damaged(codesigned, tmp_path, edit)
    assert spicegrad_main(["export", bad, "-o", str(tmp_path / "n.cir"), "--static-synapses"]) == 2
    assert re.search(message, capsys.readouterr().err)
    assert not (tmp_path / "n.cir").exists()


def test_export_refuses_a_max_step_beyond_dt(codesigned, data_dir, tmp_path, capsys):
    out, _ = codesigned
    for step in ("2e-5", "1e-300"):
        assert spicegrad_main(["export", str(out / "checkpoint.pt"), "-o", str(tmp_path / "n.cir"), "--static-synapses",
                               "--data", str(data_dir), "--max-step", step]) == 2
        assert "must lie between dt·1e-6 and dt = 1e-05 s" in capsys.readouterr().err


def test_a_run_from_before_the_protocol_is_not_resumed(codesigned, data_dir, tmp_path):
    out, _ = codesigned
    state = torch.load(out / "checkpoint.pt", weights_only=False)
    for key in ("best", "test"):
        state.pop(key)
    (tmp_path / "old").mkdir()
    torch.save(state, tmp_path / "old" / "checkpoint.pt")
    with pytest.raises(InputError, match="trained before the validation protocol"):
        train_memprop(_tiny_train(epochs=3), tmp_path / "old", data=data_dir, resume=True, compile=False,
                      progress=False, plots=False, certificates=NO_CERT, certify_neurons=False, log=lambda *_: None)


def test_a_resumed_run_takes_its_neuron_learning_rate_from_the_configuration(codesigned, data_dir, tmp_path):
    import shutil

    out, _ = codesigned
    shutil.copytree(out, tmp_path / "run")
    train_memprop(_tiny_train(epochs=3, mif_lr=0.05), tmp_path / "run", data=data_dir, resume=True, compile=False,
                  progress=False, plots=False, certificates=NO_CERT, certify_neurons=False, log=lambda *_: None)
    groups = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=False)["optimizer"]["param_groups"]
    assert [g["lr"] for g in groups] == [pytest.approx(1e-2), pytest.approx(0.05)]


def test_compression_fine_tuning_leaves_the_certified_neurons_alone(codesigned):
    from spicegrad.compress.finetune import finetune
    from spicegrad.compress.network import load_compressed

    out, _ = codesigned
    net, _ = load_compressed(out / "checkpoint.pt")
    before = {k: v.clone() for k, v in net.neurons.theta.items()}
    x, y = torch.rand(32, 196, generator=torch.Generator().manual_seed(0)), torch.arange(32) % 10
    finetune(net, x, y, epochs=1, lr=1e-2, batch_size=16, progress=False)
    for k, v in net.neurons.theta.items():
        assert torch.equal(v, before[k]), k


def test_certificates_folder_removes_only_its_own_files_and_refuses_a_link(tmp_path):
    from spicegrad.memprop.neuron_certs import write_neuron_certificates

    def records(n_sets):
        sets = [{"neurons": [k], "learned": {}, "validated": True, "certificate": {"k": k}} for k in range(n_sets)]
        return {"layers": [{"layer": 1, "sets": sets}]}

    folder = tmp_path / "certificates"
    folder.mkdir()
    mine = [folder / "mif-layer1-set0-my-notes.json", folder / "mif-layer9-set9.json"]
    for f in mine:
        f.write_text("{}")
    write_neuron_certificates(tmp_path, records(3))
    write_neuron_certificates(tmp_path, records(1))
    assert (folder / "mif-layer1-set0.json").exists() and not (folder / "mif-layer1-set2.json").exists()
    assert all(f.exists() for f in mine)  # never written by spicegrad: left alone
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "run2").mkdir()
    (tmp_path / "run2" / "certificates").symlink_to(elsewhere)
    with pytest.raises(InputError, match="not a plain folder"):
        write_neuron_certificates(tmp_path / "run2", records(1))
    assert list(elsewhere.iterdir()) == []
