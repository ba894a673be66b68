"""MEMprop synapse pairs of any registered cell: the toy device of examples/06 (registered here,
with switching thresholds) trained, checked for read drift and exported to ngspice; the MSS path
unchanged; devices MEMprop cannot read refused."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest
import torch
from test_datasets import write_fake_dataset
from test_registry import EXAMPLE, toy_kind

from spicegrad.devices import registry
from spicegrad.devices.mss import mss_conductance_unclamped
from spicegrad.errors import InputError
from spicegrad.export.netlist import export_netlist
from spicegrad.memprop import train as memprop_train
from spicegrad.memprop.choices import synapse_names
from spicegrad.memprop.drift import static_check
from spicegrad.memprop.model import MemPropConfig, MemPropNet
from spicegrad.memprop.train import (
    CheckpointError,
    MemPropTrainConfig,
    load_checkpoint,
    load_net,
    train_memprop,
)
from spicegrad.spice import run

NO_CERT = {"mif": {"validated": "skipped in tests"}}
ToyParams = EXAMPLE.ToyParams

pytestmark = pytest.mark.usefixtures("one_thread")


def _toy_switching(p):
    """The toy's nominal thresholds: it has none (it relaxes toward 1/2 at 0 V), ±v_s named."""
    return p.v_s, -p.v_s


@pytest.fixture
def toy(tmp_path):
    kind = registry.register(toy_kind(tmp_path, switching=_toy_switching))
    yield kind
    registry.unregister("toy")


@pytest.fixture
def toy_hard(tmp_path):
    """The toy with a hard threshold: it moves only where |v| > v_s, and then as the toy does."""

    def step(v, x, p, dt, integrator="exp-euler"):
        return torch.where(v.abs() > p.v_s, EXAMPLE.toy_step(v, x, p, dt, integrator), x)

    kind = registry.register(toy_kind(tmp_path, name="toy_hard", step=step, switching=_toy_switching))
    yield kind
    registry.unregister("toy_hard")


def test_a_registered_cell_is_a_synapse_choice_and_bad_ones_are_refused(toy):
    assert {"mss", "toy"} <= set(synapse_names()) and "mif" not in synapse_names()
    with pytest.raises(InputError, match=r"synapse = 'nope': not a registered cell device; registered cells are .*'toy'"):
        MemPropConfig(synapse="nope")
    with pytest.raises(InputError, match="synapse = 'mif': not a registered cell"):
        MemPropConfig(synapse="mif")
    with pytest.raises(InputError, match="synapse_r_on = 500.0: applies to 'mss' synapses only"):
        MemPropConfig(synapse="toy", synapse_r_on=500.0)
    # Yakopcic's sinh I-V: a crossbar of it reads I = Σ I(v, x), not Σ G·v; refused, saying why
    with pytest.raises(InputError, match=r"'yakopcic': its read current is not ohmic .* Σ I\(v, x\)"):
        MemPropConfig(synapse="yakopcic")


def test_toy_pairs_span_the_toy_conductance_range_and_mss_stays_the_mss_map(toy):
    net = MemPropNet(MemPropConfig(layers=(8, 3, 10), steps=10, synapse="toy"), torch.Generator().manual_seed(0))
    p = ToyParams()
    assert net.g_range == (1 / p.r_off, 1 / p.r_on)
    u = net.x_pos[0].detach()
    torch.testing.assert_close(net.conductances(0)[0], 1 / p.r_off + (1 / p.r_on - 1 / p.r_off) * u, rtol=1e-6, atol=0)
    mss = MemPropNet(MemPropConfig(layers=(8, 3, 10), steps=10), torch.Generator().manual_seed(0))
    assert mss.cfg.synapse == "mss"
    for layer in range(2):  # the MSS conductances, bit for bit, and the same initial states
        assert torch.equal(mss.conductances(layer)[1], mss_conductance_unclamped(mss.x_neg[layer], mss.cfg.synapse_params))
        assert torch.equal(mss.x_pos[layer], net.x_pos[layer])


def test_toy_drift_at_zero_volts_is_its_relaxation_toward_one_half(toy):
    """Dark images: the first crossbar's word lines sit at 0 V for the whole sample, where the
    toy relaxes toward x = 1/2 with tau; exp-euler is exact for a held voltage, so each device
    moves by |x0 - 1/2|·(1 - exp(-T·dt/tau)) in state, which is its share of the range in G."""
    cfg = MemPropConfig(layers=(8, 3, 10), steps=50, synapse="toy")
    net = MemPropNet(cfg, torch.Generator().manual_seed(0))
    check = static_check(net, torch.zeros(2, 8))
    p = ToyParams()
    u = torch.cat([net.x_pos[0].detach(), net.x_neg[0].detach()]).double()
    want = float((u - 0.5).abs().max()) * (1 - math.exp(-cfg.steps * cfg.dt / p.tau))
    assert check["drift_bound_per_layer"][0] == pytest.approx(want, rel=1e-6)  # float32 u -> G -> state
    assert want > 0.01 and not check["static_fair"]
    assert check["v_range_V"] == (0.0, check["v_max_V"]) and check["v_max_V"] > 0  # hidden membranes at rest
    # the toy has no hard threshold: its reads are inside the named ±v_s and it drifts anyway
    assert check["inside_read_limit"] and check["inside_thresholds"] and check["read_limit_V"] == p.v_s
    auto = static_check(net, torch.zeros(2, 8), read_scale="auto")
    assert auto["suggested_read_scale"] is None and auto["read_scale"] == 1.0  # no scale stops a 0 V drift


def test_a_hard_threshold_read_inside_it_drifts_exactly_zero(toy_hard):
    net = MemPropNet(MemPropConfig(layers=(8, 3, 10), steps=50, input_amplitude=0.3, synapse="toy_hard"),
                     torch.Generator().manual_seed(0))
    image = torch.ones(1, 8)
    loud = static_check(net, image, read_scale=1.0)
    assert loud["v_max_V"] > 0.2 and not loud["inside_read_limit"] and loud["drift_bound"] > 0.01
    quiet = static_check(net, image, read_scale="auto")
    assert quiet["inside_read_limit"] and quiet["inside_thresholds"]
    assert quiet["drift_bound_per_layer"] == [0.0, 0.0] and quiet["static_fair"]
    assert quiet["read_scale"] == quiet["suggested_read_scale"] == 0.5  # 0.3 V x 0.5 < 0.2 V


def test_vteam_read_inside_its_thresholds_drifts_exactly_zero():
    pytest.importorskip("spicegrad.devices.vteam")
    net = MemPropNet(MemPropConfig(layers=(8, 3, 10), steps=50, synapse="vteam"), torch.Generator().manual_seed(0))
    check = static_check(net, torch.full((1, 8), 0.5), read_scale="auto")
    v_up, v_down = check["switching_V"]
    assert v_up < 0 < v_down  # VTEAM potentiates with negative voltage
    assert check["inside_thresholds"] and check["drift_bound_per_layer"] == [0.0, 0.0]
    assert check["full_voltage"]["drift_bound"] > 0.01  # at full read voltage it would move


def test_tiny_toy_run_records_its_device_and_refuses_another(toy, tmp_path, monkeypatch, capsys):
    from spicegrad.cli import main

    data = write_fake_dataset(tmp_path / "fashion-mnist", n_train=64, n_test=16)
    out = tmp_path / "o"
    monkeypatch.setattr(memprop_train, "certify", lambda cfg: NO_CERT)
    rc = main(["train", "memprop", "--out", str(out), "--data", str(data), "--image-size", "14", "--hidden", "16",
               "--steps", "50", "--epochs", "1", "--batch-size", "32", "--lr", "1e-2", "--synapse", "toy",
               "--no-progress", "--no-compile"])
    assert rc == 0, capsys.readouterr().err
    ck = load_checkpoint(out / "checkpoint.pt")
    assert ck["config"]["net"]["synapse"] == "toy"
    assert ck["synapse"] == {"device": "toy", "params": dataclasses.asdict(ToyParams())}
    metrics = json.loads((out / "metrics.json").read_text())
    assert math.isfinite(metrics["train_loss"][0]) and metrics["synapse_drift"]["device"] == "toy"
    assert metrics["synapse_drift"]["max_state_change_per_sample"] > 0.01  # the toy relaxes: reported, not hidden
    net, _ = load_net(out / "checkpoint.pt")
    g = torch.cat([torch.cat(net.conductances(k)).flatten() for k in range(2)]).detach()
    assert 1 / ToyParams().r_off - 1e-12 <= float(g.min()) and float(g.max()) <= 1 / ToyParams().r_on + 1e-12
    # resuming it as an MSS network is another configuration
    cfg = MemPropTrainConfig(net=MemPropConfig(layers=(196, 16, 10), steps=50), image_size=14, epochs=2,
                             batch_size=32, lr=1e-2)
    with pytest.raises(CheckpointError, match="net.synapse: checkpoint 'toy', requested 'mss'"):
        train_memprop(cfg, out, data=data, resume=True, compile=False, progress=False, plots=False,
                      certificates=NO_CERT, log=lambda *_: None)
    # a 'toy' registered with other parameters is another device
    registry.register(toy_kind(tmp_path, params=_ToyOther), replace=True)
    with pytest.raises(CheckpointError, match=r"other parameters .*\(r_off: checkpoint 10000.0, registered 20000.0\): another device"):
        load_net(out / "checkpoint.pt")
    registry.unregister("toy")  # and an unregistered one is unknown
    with pytest.raises(CheckpointError, match="synapse = 'toy': not a registered cell device"):
        load_net(out / "checkpoint.pt")


@dataclasses.dataclass(frozen=True)
class _ToyOther(ToyParams):
    r_off: float = 2e4


def test_a_checkpoint_without_a_synapse_record_is_an_mss_network(tmp_path):
    """Checkpoints written before the synapse field load and resume as MSS networks."""
    data = write_fake_dataset(tmp_path / "fashion-mnist", n_train=32, n_test=8)
    kw = dict(data=data, compile=False, progress=False, plots=False, certificates=NO_CERT, log=lambda *_: None)
    cfg = MemPropTrainConfig(net=MemPropConfig(layers=(196, 8, 10), steps=20), image_size=14, epochs=1,
                             batch_size=16, lr=1e-2)
    train_memprop(cfg, tmp_path / "run", **kw)
    path = tmp_path / "run" / "checkpoint.pt"
    state = load_checkpoint(path)
    assert state["synapse"]["device"] == "mss" and state["synapse"]["params"]["r_off"] == 1e5
    del state["synapse"], state["config"]["net"]["synapse"]
    torch.save(state, path)
    net, _ = load_net(path)
    assert net.cfg.synapse == "mss"
    train_memprop(dataclasses.replace(cfg, epochs=2), tmp_path / "run", resume=True, **kw)
    assert load_checkpoint(path)["epoch"] == 2


def test_toy_synapses_export_programmed_and_run_in_ngspice(toy):
    net = MemPropNet(MemPropConfig(layers=(4, 2, 10), steps=10, synapse="toy"), torch.Generator().manual_seed(0))
    text = export_netlist(net, torch.tensor([0.0, 0.5, 1.0, 0.2]), read_scale=1.0)
    assert ".subckt toy te be" in text and text.count(" toy params:") == 2 * (3 * 2 + 2 * 10)
    assert "* synapses: programmed toy devices" in text
    p = ToyParams()
    u = net.x_neg[1][0, 3].detach().double()
    x0 = (float(1 / p.r_off + (1 / p.r_on - 1 / p.r_off) * u) - 1 / p.r_off) / (1 / p.r_on - 1 / p.r_off)
    line = next(s for s in text.splitlines() if s.startswith("Xn1_0_3 "))
    assert line.startswith("Xn1_0_3 w1_0 bn1_3 toy params:") and f"x0={x0!r}" in line
    result = run(text)
    t = np.linspace(0, 10 * 1e-5, 11)
    v = np.stack([result.at(f"v(m2_{j})", t) for j in range(10)])
    assert np.isfinite(v).all() and np.ptp(v) > 1e-4  # output membranes respond


def test_pcm_synapses_export_with_their_grounded_pins():
    net = MemPropNet(MemPropConfig(layers=(4, 2, 10), steps=10, synapse="pcm"), torch.Generator().manual_seed(0))
    text = export_netlist(net, torch.tensor([0.0, 0.5, 1.0, 0.2]), read_scale=1.0)
    line = next(s for s in text.splitlines() if s.startswith("Xp0_1_0 "))
    assert line.startswith("Xp0_1_0 w0_1 bp0_0 0 0 0 pcm params:") and "g_ic_us=" in line
