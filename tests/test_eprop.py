"""e-prop: gradients against BPTT and the online form, training, checkpoints, CLI errors."""

from __future__ import annotations

import argparse
import dataclasses

import pytest
import torch

from spicegrad.cli import main
from spicegrad.eprop.cli import add_eprop_parser
from spicegrad.eprop.model import (
    EpropConfig,
    OnlineEprop,
    Weights,
    bptt_gradients,
    cosine,
    eprop_gradients,
    kaiming_weights,
    lif_forward,
)
from spicegrad.eprop.task import make_task
from spicegrad.eprop.train import EpropTrainConfig, Trainer


def _tiny(feedback="symmetric", reg=0.0, gain=5.0):
    torch.manual_seed(0)
    cfg = EpropConfig(n_in=10, n_rec=8, n_out=2, reg=reg, feedback=feedback)
    x = (torch.rand(2, 200, 10) < 0.1).double()
    y = torch.randn(2, 200, 2).double()
    w = {k: v.double() * gain for k, v in kaiming_weights(cfg, torch.Generator().manual_seed(1)).items()}
    out = lif_forward(x, Weights(w["w_in"], w["w_rec"], w["w_out"]), cfg)
    return cfg, x, y, w, out


def test_eprop_readout_gradient_equals_bptt_on_tiny_network():
    cfg, x, y, w, out = _tiny()
    assert 0.05 < float(out["z"].mean()) < 0.9  # the network spikes
    g = eprop_gradients(x, out, y, w["w_out"], cfg, clip=False)
    b = bptt_gradients(x, y, w, cfg)
    torch.testing.assert_close(g["grad_out"], b["grad_out"], rtol=1e-10, atol=1e-9)


def test_eprop_recurrent_and_input_gradients_align_with_bptt(capsys):
    cfg, x, y, w, out = _tiny()
    g = eprop_gradients(x, out, y, w["w_out"], cfg, clip=False)
    b = bptt_gradients(x, y, w, cfg)
    c_rec, c_in = cosine(g["grad_rec"], b["grad_rec"]), cosine(g["grad_in"], b["grad_in"])
    with capsys.disabled():
        print(f"\ne-prop vs BPTT cosine (symmetric feedback): recurrent {c_rec:.4f}, input {c_in:.4f}")
    assert c_rec > 0.8 and c_in > 0.8


def test_online_eprop_equals_vectorised_sums():
    cfg, x, y, w, out = _tiny(reg=1e-3)
    g = eprop_gradients(x, out, y, w["w_fb"], cfg, clip=False)
    online = OnlineEprop(cfg, w["w_fb"], 2, rate_hz=out["z"].mean(dim=(0, 1)) / cfg.dt)
    err = out["y"] - y
    for t in range(x.shape[1]):
        online.step(x[:, t], out["v"][:, t], out["z"][:, t], err[:, t])
    for k in g:
        torch.testing.assert_close(online.grads[k], g[k], rtol=1e-9, atol=1e-9)


def test_recurrent_gradient_has_no_self_connections():
    cfg, x, y, w, out = _tiny()
    g = eprop_gradients(x, out, y, w["w_out"], cfg)
    assert torch.all(torch.diagonal(g["grad_rec"]) == 0)
    assert torch.all(torch.diagonal(w["w_rec"]) == 0)


@pytest.mark.parametrize("bad", [{"feedback": "mirror"}, {"n_rec": 0}, {"tau_rec": 0.0}, {"lr_rec": -1.0}])
def test_eprop_config_refuses_bad_values(bad):
    with pytest.raises(ValueError):
        EpropConfig(**bad)


def test_task_target_is_normalised_and_inputs_fire_at_50_hz():
    task = make_task(3)
    assert task.y.abs().amax(dim=1).allclose(torch.ones(6, 1))
    assert abs(float(task.x.mean()) / 1e-3 - 50.0) < 2.0
    assert torch.equal(make_task(3).x, task.x)


@pytest.mark.slow
def test_vanilla_training_lowers_the_loss():
    tr = Trainer(EpropConfig(lr_inp=2e-4, lr_rec=5e-4, lr_out=2e-4), EpropTrainConfig(epochs=8, seed=1))
    s = tr.run(progress=False)
    assert s["history"][-1]["train_mse"] < s["history"][0]["train_mse"]


@pytest.mark.slow
@pytest.mark.parametrize("method", ["mixed-precision", "stochastic"])
def test_checkpoint_resume_continues_the_same_run(tmp_path, method):
    cfg = EpropConfig()
    tcfg = EpropTrainConfig(method=method, perf=True, xbar_res=4, xbar_scale=5.0, epochs=2, seed=3,
                       prob_scale=1e-3)
    full = Trainer(cfg, tcfg, tmp_path / "full").run(progress=False)
    first = Trainer(cfg, EpropTrainConfig(**{**tcfg.__dict__, "epochs": 1}), tmp_path / "part")
    first.run(progress=False)
    resumed = Trainer(cfg, tcfg, tmp_path / "part")
    resumed.restore(tmp_path / "part" / "checkpoint.pt")
    again = resumed.run(progress=False)
    assert [h["train_mse"] for h in again["history"]] == [h["train_mse"] for h in full["history"]]
    assert again["set_pulses"] == full["set_pulses"]


def test_resume_refuses_a_different_configuration(tmp_path):
    Trainer(EpropConfig(), EpropTrainConfig(epochs=1), tmp_path).run(progress=False)
    other = Trainer(EpropConfig(), EpropTrainConfig(epochs=1, seed=7), tmp_path)
    with pytest.raises(ValueError, match="different configuration"):
        other.restore(tmp_path / "checkpoint.pt")


def _cli(argv):
    return main(["train", "eprop", *argv])


@pytest.mark.parametrize("argv, needle", [
    (["--method", "adam"], "method"),
    (["--method", "multi-mem", "--xbar-n", "0"], "xbar_n"),
    (["--method", "stochastic", "--prob-scale", "0"], "prob_scale"),
    (["--method", "vanilla", "--xbar"], "vanilla"),
])
def test_cli_bad_input_exits_2_with_a_message(tmp_path, capsys, argv, needle):
    assert _cli([*argv, "--out", str(tmp_path), "--epochs", "1", "--no-progress"]) == 2
    assert needle in capsys.readouterr().err


def test_cli_trains_and_writes_metrics_and_plots(tmp_path):
    assert _cli(["--method", "sign", "--perf", "--xbar-scale", "20", "--grad-thr", "1",
                 "--epochs", "2", "--out", str(tmp_path), "--no-progress"]) == 0
    for name in ("metrics.json", "checkpoint.pt", "loss.png", "target_vs_output.png", "conductances.png"):
        assert (tmp_path / name).is_file()
    assert _cli(["--method", "sign", "--perf", "--xbar-scale", "20", "--grad-thr", "1",
                 "--epochs", "3", "--out", str(tmp_path), "--no-progress", "--resume"]) == 0


def test_presets_start_from_the_tuned_values_and_options_override_them():
    from spicegrad.eprop.presets import SEED, SEED_MIXED_PRECISION, TUNED, make_configs

    for method in TUNED:
        cfg, tcfg = make_configs(method)
        for key, value in TUNED[method].items():
            assert getattr(cfg if hasattr(cfg, key) else tcfg, key) == value, (method, key)
    cfg, tcfg = make_configs("mixed-precision", "seed")
    assert tcfg.xbar_scale == SEED_MIXED_PRECISION["xbar_scale"] and cfg.thr == SEED_MIXED_PRECISION["thr"]
    assert make_configs("sign", "seed")[1].grad_thr == SEED["sign"]["grad_thr"] == 0.9
    assert make_configs("stochastic", "seed")[1].prob_scale == 780.0
    assert make_configs("multi-mem", "seed")[1].xbar_n == 4
    cfg, tcfg = make_configs("sign", grad_thr=3.0, thr=0.2, xbar_scale=None)
    assert tcfg.grad_thr == 3.0 and cfg.thr == 0.2 and tcfg.xbar_scale == make_configs("sign")[1].xbar_scale
    with pytest.raises(ValueError, match="hparams"):
        make_configs("sign", "best")


def test_cli_takes_the_method_preset_unless_an_option_is_given():
    from spicegrad.eprop.cli import configs_from_args
    from spicegrad.eprop.presets import make_configs

    parser = argparse.ArgumentParser()
    add_eprop_parser(parser.add_subparsers())
    parse = lambda *a: configs_from_args(parser.parse_args(["eprop", "--out", "x", *a]))  # noqa: E731
    assert parse("--method", "stochastic") == make_configs("stochastic", epochs=250, seed=42)
    assert parse("--method", "stochastic", "--hparams", "seed")[1].prob_scale == 780.0
    assert parse("--method", "stochastic", "--prob-scale", "2")[1].prob_scale == 2.0


def test_training_pcm_configuration_is_certified_with_deterministic_and_crn_cases(tmp_path, monkeypatch):
    from spicegrad.devices.pcm import PCMParams
    from spicegrad.eprop.train import PCM_CERT_DT
    from spicegrad.validate import load_cases, require_certified, run_case

    monkeypatch.setenv("SPICEGRAD_CACHE", str(tmp_path / "cache"))
    cert = require_certified("pcm", PCMParams.preset("nandakumar2018"), PCM_CERT_DT, "event")
    assert cert["validated"]
    names = {name.split("@")[0] for name in cert["cases"]}
    assert {"pcm-20-set-deterministic", "pcm-20-set-crn"} <= names
    assert "pcm-400x20-stochastic" not in names  # ensemble cases do not certify
    # the CRN case compares the noisy device trace for trace: a wrong write-noise slope m2, which
    # the mean-field case cannot see, fails it as model error
    crn = {c.name: c for c in load_cases()}["pcm-20-set-crn"]
    wrong = run_case(dataclasses.replace(crn, twin_params={"m2": 0.12}), use_cache=False)
    assert not wrong["passed"] and "model" in wrong["causes"]
    mean_field = {c.name: c for c in load_cases()}["pcm-20-set-deterministic"]
    assert run_case(dataclasses.replace(mean_field, twin_params={"m2": 0.12}), use_cache=False)["passed"]


def test_table_loss_curves_plot_per_method_and_device_kind(tmp_path):
    from spicegrad.eprop.plots import plot_method_curves

    records = [{"method": m, "perf": perf, "mse_curve": [0.2, 0.1 + 0.01 * s, 0.05]}
               for m in ("vanilla", "mixed-precision") for perf in (False, True) for s in range(3)]
    path = plot_method_curves(records, tmp_path / "curves.png")
    assert path.stat().st_size > 1000
