"""PCM crossbar synapses: reads at device time, SET-only programming, refresh, update rules."""

from __future__ import annotations

import math

import pytest
import torch

from spicegrad.devices.pcm import PCMParams
from spicegrad.train.pcm_synapse import (
    PCM_STEP_US,
    MixedPrecisionRule,
    MultiMemRule,
    PCMCrossbar,
    SignRule,
    StochasticRule,
    make_rule,
    round_robin_counts,
)

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
    grad = torch.tensor([[-2.0, 0.5, 2.0]])
    xb.apply_pulses(SignRule(grad_thr=0.9).pulses(xb, grad, lr=1.0), t=1.0)
    g0, step = xb.params.g0_us, xb.params.g_max_us / 8
    assert torch.allclose(xb.pair_us(), torch.tensor([[[g0 + step, g0, g0]], [[g0, g0, g0 + step]]]))
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
