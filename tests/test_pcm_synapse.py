"""PCM crossbar synapses: reads at device time, SET-only programming, refresh, update rules."""

from __future__ import annotations

import math

import pytest
import torch

from spicegrad.crossbar.pcm_synapse import (
    PCM_STEP_US,
    MixedPrecisionRule,
    MultiMemRule,
    PCMCrossbar,
    SignRule,
    StochasticRule,
    make_rule,
    round_robin_counts,
)
from spicegrad.devices.pcm import PCMParams

QUIET = PCMParams(m3=0.0, c3_us=0.0)  # no read noise: reads are exact functions of the state


def _xbar(rows=1, cols=3, **kw):
    kw.setdefault("generator", torch.Generator().manual_seed(0))
    return PCMCrossbar(rows, cols, **kw)


def test_round_robin_spreads_pulses_from_the_pointer():
    counts = round_robin_counts(torch.tensor([[[5]], [[2]]]), torch.tensor([[[3]], [[0]]]), 4)
    assert counts[0, :, 0, 0].tolist() == [1, 1, 1, 2]  # devices 3,0,1,2,3
    assert counts[1, :, 0, 0].tolist() == [1, 1, 0, 0]


def test_sign_rule_pulses_once_outside_the_stop_learning_band():
    xb = _xbar(perf=True, res_bits=3)
    before = xb.pair_us().clone()  # a spread RESET around G0
    assert torch.all((before - xb.params.g0_us).abs() < 0.05)
    grad = torch.tensor([[-2.0, 0.5, 2.0]])
    xb.apply_pulses(SignRule(grad_thr=0.9).pulses(xb, grad, lr=1.0), t=1.0)
    step = xb.params.g_max_us / 8
    assert torch.allclose(xb.pair_us() - before, torch.tensor([[[step, 0, 0]], [[0, 0, step]]]))
    assert xb.set_pulses == 2


def test_stochastic_rule_pulses_with_probability_dg_over_prob_scale():
    xb = _xbar(rows=200, cols=200, perf=True)
    rule = StochasticRule(prob_scale=2.0, generator=torch.Generator().manual_seed(1))
    grad = torch.full((200, 200), -0.5)  # ΔG = +0.5 µS -> p = 0.25 on G+
    pulses = rule.pulses(xb, grad, lr=1.0)
    frac = pulses[0].double().mean().item()
    assert abs(frac - 0.25) < 3 * math.sqrt(0.25 * 0.75 / 40000)
    assert pulses[1].sum() == 0
    assert rule.pulses(xb, torch.zeros(200, 200), 1.0).sum() == 0
    with pytest.raises(ValueError, match="prob_scale"):
        make_rule("stochastic", prob_scale=0.0)


def test_multi_mem_rule_gives_eps_over_n_steps_round_robin():
    xb = _xbar(cols=1, n_per_side=4)
    pulses = MultiMemRule().pulses(xb, torch.tensor([[-1.0]]), lr=PCM_STEP_US * 1.01)  # ΔG = 1.01 ε
    assert pulses[:, 0, 0].tolist() == [4, 0]
    xb.apply_pulses(pulses, t=1.0)
    assert xb.devices.n[0, :, 0, 0].tolist() == [1, 1, 1, 1]  # one pulse per device
    assert xb.pointer[0, 0, 0] == 0
    with pytest.raises(ValueError, match="xbar_n"):
        PCMCrossbar(1, 1, n_per_side=0)


def test_mixed_precision_accumulates_and_truncates_toward_zero():
    xb = _xbar(cols=2)
    rule = MixedPrecisionRule()
    # ΔG = -lr·grad: +0.5 ε and -0.4 ε -> no pulse (floor semantics would pulse the negative one)
    p = rule.pulses(xb, torch.tensor([[-0.5, 0.4]]) * PCM_STEP_US, lr=1.0)
    assert p.sum() == 0
    torch.testing.assert_close(rule.accumulator, torch.tensor([[0.5, -0.4]]) * PCM_STEP_US)
    p = rule.pulses(xb, torch.tensor([[-0.7, 0.7]]) * PCM_STEP_US, lr=1.0)  # 1.2 ε, -1.1 ε
    assert p[:, 0, 0].tolist() == [1, 0] and p[:, 0, 1].tolist() == [0, 1]
    torch.testing.assert_close(rule.accumulator, torch.tensor([[0.2, -0.1]]) * PCM_STEP_US)


def test_unknown_method_is_refused():
    with pytest.raises(ValueError, match="unknown PCM update method"):
        make_rule("momentum")


def test_reads_drift_from_each_device_programming_time():
    xb = _xbar(cols=2, params=QUIET, perf=False)
    xb.apply_pulses(torch.tensor([[[1, 0]], [[0, 0]]]), t=0.0)
    g = xb.pair_us()[0, 0, 0].item()
    w = xb.read_weights(torch.tensor([0.0, 10.0, 100.0], dtype=torch.float64))[:, 0, 0]
    g0 = xb.pair_us()[1, 0, 0].item()
    expect = [g - g0, g - g0, g * (100 / 38.6) ** -0.04 - g0 * (100 / 38.6) ** -0.04]
    torch.testing.assert_close(w, torch.tensor(expect), rtol=1e-5, atol=1e-6)
    assert torch.isfinite(w).all()


def test_read_before_the_last_write_is_refused():
    xb = _xbar()
    xb.apply_pulses(torch.ones(2, 1, 3, dtype=torch.long), t=50.0)
    with pytest.raises(ValueError, match="before the last programming"):
        xb.read_weights(torch.tensor([49.0], dtype=torch.float64))
    with pytest.raises(ValueError, match="before the last event"):
        xb.apply_pulses(torch.ones(2, 1, 3, dtype=torch.long), t=10.0)


def test_read_currents_match_dense_reads_without_read_noise():
    xb = _xbar(rows=5, cols=7, params=QUIET, n_per_side=2)
    xb.apply_pulses(torch.randint(0, 3, (2, 5, 7), generator=torch.Generator().manual_seed(2)), t=0.0)
    times = 100.0 + torch.arange(20, dtype=torch.float64) * 1e-3
    x = (torch.rand(3, 20, 7, generator=torch.Generator().manual_seed(3)) < 0.3).float()
    dense = torch.einsum("tri,bti->btr", xb.read_weights(times), x)
    torch.testing.assert_close(xb.read_currents(x, times), dense, rtol=1e-5, atol=1e-5)


def test_read_noise_has_the_model_spread():
    xb = _xbar(rows=50, cols=50)
    w = xb.read_weights(torch.zeros(400, dtype=torch.float64))
    # both sides at G0 (clipped at G_min): the weight spread comes from clip(G + (m3 G + c3) ξ)
    assert 0.05 < float(w.std()) < 0.2 and abs(float(w.mean())) < 0.01


def test_refresh_resets_a_saturating_pair_and_reprograms_the_difference():
    xb = _xbar(cols=2, params=QUIET)
    xb.devices.g_us[0, 0, 0] = torch.tensor([10.0, 10.0])
    xb.devices.g_us[1, 0, 0] = torch.tensor([6.8, 1.0])  # pair 0 near saturation, pair 1 is not
    mask = xb.refresh(t=5.0)
    assert mask[0].tolist() == [True, False]
    # difference 3.2 µS: 2 pulses from RESET (mean field 3.29 µS) on G+, none on G-
    assert xb.devices.n[:, 0, 0, 0].tolist() == [2, 0] and xb.reset_pulses == 2
    assert xb.devices.t_p[:, 0, 0, 0].tolist() == [5.0, 5.0]
    assert xb.pulses_for(torch.tensor([3.2, 0.05, 1.9])).tolist() == [2, 0, 1]
    assert xb.devices.g_us[0, 0, 0, 1] == 10.0


def test_frozen_synapses_read_zero_and_are_never_programmed():
    xb = _xbar(rows=3, cols=3, frozen=torch.eye(3, dtype=torch.bool))
    xb.apply_pulses(torch.ones(2, 3, 3, dtype=torch.long), t=1.0)
    assert xb.set_pulses == 12
    assert torch.all(torch.diagonal(xb.read_weights(torch.tensor([2.0], dtype=torch.float64))[0]) == 0)
    assert torch.all(torch.diagonal(xb.devices.n[0, 0]) == 0)


def test_sequence_reader_reads_driven_columns_like_dense_reads_without_read_noise():
    xb = _xbar(rows=4, cols=6, params=QUIET, n_per_side=3)
    xb.apply_pulses(torch.randint(0, 4, (2, 4, 6), generator=torch.Generator().manual_seed(5)), t=0.0)
    times = 200.0 + torch.arange(30, dtype=torch.float64) * 1e-3
    dense = xb.read_weights(times)
    reader = xb.sequence_reader(times)
    spikes = (torch.rand(30, 2, 6, generator=torch.Generator().manual_seed(6)) < 0.3).float()
    for t in range(30):
        torch.testing.assert_close(reader.currents(t, spikes[t]), spikes[t] @ dense[t].t(), rtol=1e-5, atol=1e-6)
    assert torch.equal(reader.currents(0, torch.zeros(2, 6)), torch.zeros(2, 4))


def test_sequence_reader_drifts_each_read_at_its_own_device_time():
    xb = _xbar(rows=1, cols=1, params=QUIET)
    xb.apply_pulses(torch.tensor([[[2]], [[0]]]), t=0.0)
    g_pos, g_neg = xb.pair_us()[:, 0, 0].tolist()
    times = torch.tensor([10.0, 100.0, 1000.0], dtype=torch.float64)
    reader = xb.sequence_reader(times)
    got = [reader.currents(k, torch.ones(1, 1)).item() for k in range(3)]
    drift = [1.0, (100 / 38.6) ** -0.04, (1000 / 38.6) ** -0.04]  # floor: no drift within t0
    g_min = xb.params.g_min_us  # G⁻ sits at G0 = G_min: its drifted read clips there
    expect = [g_pos * d - max(g_neg * d, g_min) for d in drift]
    torch.testing.assert_close(torch.tensor(got), torch.tensor(expect), rtol=1e-5, atol=1e-6)


def test_sequence_reader_draws_fresh_read_noise_with_the_dense_spread():
    xb = _xbar(rows=50, cols=2, n_per_side=2)
    xb.apply_pulses(torch.full((2, 50, 2), 3), t=0.0)
    times = 500.0 + torch.arange(400, dtype=torch.float64) * 1e-3
    reader = xb.sequence_reader(times)
    x = torch.tensor([[1.0, 0.0]])  # only column 0 is driven
    lazy = torch.stack([reader.currents(t, x)[0] for t in range(400)])
    dense = xb.read_weights(times)[:, :, 0]
    assert not torch.equal(lazy[0], lazy[1])  # a new sample every read
    # same distribution: 20,000 samples each, means within 4 s.e., stds within 5 %
    se = float(dense.std()) / math.sqrt(lazy.numel())
    assert abs(float(lazy.mean() - dense.mean())) < 4 * math.sqrt(2) * se
    assert abs(float(lazy.std()) / float(dense.std()) - 1) < 0.05


def test_crossbar_forward_pass_equals_dense_reads_without_read_noise():
    from spicegrad.eprop.model import EpropConfig, Weights, lif_forward
    from spicegrad.eprop.train import CrossbarSynapses

    cfg = EpropConfig(n_in=8, n_rec=6, n_out=2, thr=0.05)
    gen = torch.Generator().manual_seed(9)
    shapes = {"w_in": (6, 8), "w_rec": (6, 6), "w_out": (2, 6)}
    xbars = {k: PCMCrossbar(r, c, QUIET, 2, xbar_scale=20.0, generator=gen,
                            frozen=torch.eye(6, dtype=torch.bool) if k == "w_rec" else None)
             for k, (r, c) in shapes.items()}
    for xb in xbars.values():
        xb.apply_pulses(torch.randint(0, 3, (2, xb.rows, xb.cols), generator=gen), t=0.0)
    times = 40.0 + torch.arange(300, dtype=torch.float64) * cfg.dt
    x = (torch.rand(2, 300, 8, generator=gen) < 0.2).float()
    lazy = lif_forward(x, CrossbarSynapses(xbars, times), cfg)
    dense = lif_forward(x, Weights(**{k: xb.read_weights(times) for k, xb in xbars.items()}), cfg)
    assert 0.01 < float(lazy["z"].mean()) < 0.9  # the network spikes
    for k in ("v", "z", "y"):
        torch.testing.assert_close(lazy[k], dense[k], rtol=1e-4, atol=1e-5)


def test_reads_of_a_reprogrammed_crossbar_see_the_new_state():
    xb = _xbar(rows=1, cols=1, params=QUIET)
    one = torch.ones(1, 1)
    t = torch.tensor([1.0], dtype=torch.float64)
    assert xb.sequence_reader(t).currents(0, one).item() == pytest.approx(xb.ideal_weight().item(), abs=1e-6)
    xb.apply_pulses(torch.tensor([[[3]], [[0]]]), t=2.0)
    assert xb.ideal_weight().item() > 1.0
    after = xb.sequence_reader(t + 2.0).currents(0, one).item()
    assert after == pytest.approx(xb.ideal_weight().item(), abs=1e-6)
    xb.devices.g_us[0, 0, 0, 0] = 5.0  # an in-place edit is seen too
    assert xb.read_weights(t + 2.0)[0, 0, 0].item() == pytest.approx(xb.ideal_weight().item(), abs=1e-6)


@pytest.mark.parametrize("method", ["sign", "stochastic", "multi-mem", "mixed-precision"])
def test_network_update_programs_the_side_against_the_gradient_and_never_the_diagonal(method):
    from spicegrad.eprop.model import EpropConfig
    from spicegrad.eprop.train import EpropNetwork, EpropTrainConfig

    cfg = EpropConfig(n_in=2, n_rec=2, n_out=1, lr_inp=1.0, lr_rec=1.0, lr_out=1.0)
    tcfg = EpropTrainConfig(method=method, xbar_n=2, xbar_scale=1.0, grad_thr=0.5, prob_scale=0.1, refresh=False)
    net = EpropNetwork(cfg, tcfg)
    # wanted change −grad: +2 ε on column 0, −2 ε on column 1 (all four rules pulse there)
    grad = torch.tensor([[-2.0, 2.0], [-2.0, 2.0]]) * PCM_STEP_US
    net.update({"grad_in": grad, "grad_rec": grad, "grad_out": grad[:1]}, t=1.0)
    for name, xb in net.xbars.items():
        pulses = xb.devices.n.sum(dim=1)  # [2, R, C] pulses per side
        live = ~xb.frozen
        assert torch.all((pulses[0, :, 0] > 0) == live[:, 0]) and torch.all(pulses[1, :, 0] == 0), name
        assert torch.all((pulses[1, :, 1] > 0) == live[:, 1]) and torch.all(pulses[0, :, 1] == 0), name
        expect = {"sign": 1, "stochastic": 1, "multi-mem": 4, "mixed-precision": 4}[method]
        assert torch.all(pulses.amax(dim=0)[live] == expect), (name, pulses)
    assert torch.all(net.xbars["w_rec"].devices.n[:, :, [0, 1], [0, 1]] == 0)


def test_vanilla_update_is_sgd_clipped_to_unit_weights():
    from spicegrad.eprop.model import EpropConfig
    from spicegrad.eprop.train import EpropNetwork, EpropTrainConfig

    cfg = EpropConfig(n_in=2, n_rec=2, n_out=1, lr_inp=0.1, lr_rec=0.1, lr_out=0.1)
    net = EpropNetwork(cfg, EpropTrainConfig())
    before = {k: w.clone() for k, w in net.weights.items()}
    grad = torch.tensor([[1.0, -100.0], [0.0, 2.0]])
    net.update({"grad_in": grad, "grad_rec": grad, "grad_out": grad[:1]}, t=1.0)
    torch.testing.assert_close(net.weights["w_in"], (before["w_in"] - 0.1 * grad).clamp(-1, 1))
    assert net.weights["w_in"][0, 1] == 1.0
