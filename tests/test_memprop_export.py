"""A small trained MEMprop network (14x14 inputs, 16 hidden) checked back in ngspice."""

from __future__ import annotations

import dataclasses
import hashlib
import json

import pytest
import torch
from test_datasets import write_fake_dataset
from test_standalone_netlists import ngspice_batch

from spicegrad.cli import main
from spicegrad.export.netlist import export_netlist, static_check
from spicegrad.memprop.model import MemPropConfig, MemPropNet
from spicegrad.memprop.train import MemPropTrainConfig, train_memprop

NO_CERT = {"mif": {"validated": "skipped in tests"}}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("export")
    data = write_fake_dataset(root / "fashion-mnist", n_train=128, n_test=16)
    cfg = MemPropTrainConfig(net=MemPropConfig(layers=(196, 16, 10), steps=100), image_size=14, epochs=2,
                      batch_size=32, lr=1e-2, seed=5)
    train_memprop(cfg, root / "run", data=data, compile=False, progress=False, plots=False,
                  certificates=NO_CERT, log=lambda *_: None)
    torch.set_num_threads(n)
    return root / "run" / "checkpoint.pt", data


def test_trained_network_agrees_with_ngspice_on_at_least_9_of_10_samples(trained, tmp_path, capsys):
    ckpt, data = trained
    out = tmp_path / "net.cir"
    rc = main(["export", str(ckpt), "-o", str(out), "--sample", "3", "--data", str(data),
               "--static-synapses", "--verify", "10"])
    assert rc == 0, capsys.readouterr().err
    report = json.loads(out.with_suffix(".verify.json").read_text())
    assert report["samples"] == 10
    assert report["agree"] >= 9, report
    assert report["rms_V_max"] < 0.01  # output membranes within 10 mV RMS
    text = out.read_text()
    assert "mif params:" in text and "alpha params:" in text and text.rstrip().endswith(".end")
    # --verify ran ngspice on the written file itself (sample 3), and the file says what wrote it
    assert report["netlist_files"] == {"3": str(out)} and report["sample_indices"] == list(range(10))
    head = text.splitlines()[1:8]
    assert head[1] == "* by: spicegrad export " + " ".join([str(ckpt), "-o", str(out), "--sample", "3", "--data",
                                                             str(data), "--static-synapses", "--verify", "10"])
    assert f"* checkpoint: {ckpt.resolve()}" in head
    assert f"* checkpoint sha256: {hashlib.sha256(ckpt.read_bytes()).hexdigest()}" in head
    assert any(line.startswith("* read scale: ") for line in head)
    proc = ngspice_batch(out, tmp_path / "elsewhere")  # plain ngspice, the file alone in another folder
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert all(f"v(m2_{j})" in proc.stdout for j in range(10))


def test_export_writes_programmed_mss_devices_without_static_flag():
    net = MemPropNet(MemPropConfig(layers=(4, 2, 10), steps=10), torch.Generator().manual_seed(0))
    text = export_netlist(net, torch.tensor([0.0, 0.5, 1.0, 0.2]))
    assert "mss.lib" in text and text.count(" mss params:") == 2 * (3 * 2 + 2 * 10)
    x0 = float(net.x_pos[0][1, 0].detach())
    assert f"x0={x0!r}" in text
    # the dark pixel 0 has no word line
    assert "w0_0 " not in text


def test_export_leaves_pruned_pairs_out():
    net = MemPropNet(MemPropConfig(layers=(4, 2, 10), steps=10), torch.Generator().manual_seed(0))
    masks = [torch.ones(4, 2, dtype=torch.bool), torch.ones(2, 10, dtype=torch.bool)]
    masks[0][1, 0] = False
    masks[1][:, 3] = False
    text = export_netlist(net, torch.tensor([0.0, 0.5, 1.0, 0.2]), masks=masks)
    assert text.count(" mss params:") == 2 * (3 * 2 - 1 + 2 * 10 - 2)
    assert "Xp0_1_0 " not in text and "Xn0_1_0 " not in text and "Xp1_0_3 " not in text
    with pytest.raises(ValueError, match="mask of layer 1"):
        export_netlist(net, torch.zeros(4), masks=[torch.ones(3, 2, dtype=torch.bool), masks[1]])


def test_read_scale_auto_keeps_synapse_drift_below_tolerance_where_full_voltage_does_not():
    net = MemPropNet(MemPropConfig(layers=(4, 2, 10), steps=200), torch.Generator().manual_seed(0))
    image = torch.tensor([[1.0, 1.0, 1.0, 1.0]])
    loud = MemPropNet(dataclasses.replace(net.cfg, input_amplitude=0.3), torch.Generator().manual_seed(0))
    full = static_check(loud, image, read_scale=1.0)
    assert full["v_max_V"] >= 0.3 and not full["static_fair"]  # inputs, and hidden membranes above them
    auto = static_check(loud, image, read_scale="auto")
    assert auto["static_fair"] and auto["read_scale"] < 1.0 and auto["drift_bound"] < auto["tolerance"]
    assert auto["read_scale"] == auto["suggested_read_scale"]
    assert auto["full_voltage"] == {"v_max_V": full["v_max_V"], "drift_bound": full["drift_bound"]}
    text = export_netlist(loud, image[0], read_scale=auto["read_scale"])
    assert text == export_netlist(loud, image[0])  # the default is auto


def test_export_of_a_bad_checkpoint_exits_2(tmp_path, capsys):
    bad = tmp_path / "c.pt"
    bad.write_bytes(b"junk")
    assert main(["export", str(bad), "-o", str(tmp_path / "n.cir")]) == 2
    assert "not a readable checkpoint" in capsys.readouterr().err


@pytest.mark.slow
def test_verify_fans_out_on_dask(trained, tmp_path):
    from spicegrad.export.netlist import verify

    ckpt, data = trained
    serial = verify(ckpt, 4, data, static=True)
    fanned = verify(ckpt, 4, data, static=True, workers=2)
    assert fanned["pred_spice"] == serial["pred_spice"]
    assert fanned["rms_V"] == pytest.approx(serial["rms_V"], rel=1e-9)


@pytest.mark.slow
def test_programmed_mss_devices_agree_with_the_twin_at_the_auto_read_scale(tmp_path):
    """The default export (programmed MSS devices, read scale picked by static_check): the devices
    barely move in ngspice and the network agrees with the twin's static reading."""
    from spicegrad.export.netlist import verify

    data = write_fake_dataset(tmp_path / "fashion-mnist", n_train=64, n_test=8)
    cfg = MemPropTrainConfig(net=MemPropConfig(layers=(16, 4, 10), steps=200), image_size=4, epochs=1,
                      batch_size=16, lr=1e-2, seed=2)
    train_memprop(cfg, tmp_path / "run", data=data, compile=False, progress=False, plots=False,
                  certificates=NO_CERT, log=lambda *_: None)
    report = verify(tmp_path / "run" / "checkpoint.pt", 4, data, static=False)
    assert report["static_check"]["static_fair"] and report["static_synapses"] is False
    assert report["agree"] >= 3, report
    assert report["rms_V_max"] < 0.01
