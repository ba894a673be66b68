"""Manhattan-rule crossbar training: curves, tasks, the update rule, statistics and bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from spicegrad.devices.mss import MSSParams
from spicegrad.manhattan.devices import (
    DeviceCurve,
    MSSPulses,
    ShiftDistribution,
    check_curve,
    scale_to_curve,
    seed_shaped_curve,
)
from spicegrad.manhattan.model import CrossbarPerceptron, manhattan_pulses
from spicegrad.manhattan.tasks import REFERENCE_RANGE, letters, seed4


def test_seed_shaped_curve_has_the_issue_numbers():
    g = seed_shaped_curve()
    assert g.size == 51
    assert g[0] == pytest.approx(7.07e-4) and g[-1] == pytest.approx(9.76e-4)
    assert g[1] - g[0] == pytest.approx(2.0e-4)
    assert g[2] - g[1] == pytest.approx(1e-5)
    assert (np.diff(g) > 0).all()


def test_seed4_task_is_the_seeds():
    t = seed4()
    assert t.x_bits.tolist() == [[0, 0, 0, 1], [0, 0, 1, 0], [0, 1, 1, 0], [1, 0, 0, 1], [1, 1, 0, 1], [1, 1, 1, 0]]
    assert t.y.tolist() == [[0, 1], [1, 0], [1, 0], [0, 1], [0, 1], [1, 0]]
    assert t.test_bits.shape == (10, 4)
    assert set(t.voltages().ravel()) == {-0.1, 0.1}
    assert (t.beta, t.targets, t.k, t.epochs) == (20000.0, (-0.8, 0.8), 10.0, 48)
    assert t.shift_scale == pytest.approx(1 / 55845)


def test_letters_task_has_flipped_variants_and_a_bias_input():
    t = letters()
    assert t.x_bits.shape == (30, 10) and t.y.shape == (30, 3)
    assert (t.x_bits[:, -1] == 1).all()  # bias
    assert (t.y.sum(axis=1) == 1).all() and (t.y.sum(axis=0) == 10).all()
    # each variant differs from its letter in exactly one pixel
    for k in range(3):
        block = t.x_bits[10 * k : 10 * k + 10, :9]
        assert sorted(np.abs(block - block[0]).sum(axis=1).tolist()) == [0] + [1] * 9
    assert t.test_bits.shape == (108, 10)


def test_seed_curve_reproduces_the_seeds_statistics():
    """Sanity anchor: the original converged in ≈68 % of 500 runs, median epoch 2."""
    t = seed4()
    m = CrossbarPerceptron("seed", runs=500, seed=1).fit(t.voltages(), t.y)
    assert (m.k, m.shift.scale) == pytest.approx((10.0, 1 / 55845))
    rate = m.converged_.mean()
    assert 0.6 < rate < 0.8
    assert np.median(m.converged_epoch_[m.converged_]) == 2


def test_converged_runs_classify_every_training_pattern():
    t = seed4()
    m = CrossbarPerceptron("seed", runs=50, seed=3).fit(t.voltages(), t.y)
    f = m.activations(t.voltages())
    for b in np.flatnonzero(m.converged_):
        assert (np.where(t.y == 1, f[b] > 0.8, f[b] < -0.8)).all()
    first = int(np.flatnonzero(m.converged_)[0])
    h = m.history_.run(first)
    assert h.error[-1, 0] == 0.0 and h.error[0, 0] > 0.0


def test_manhattan_pulse_goes_to_g_plus_when_the_output_is_too_low():
    v = torch.tensor([[0.1, -0.1]], dtype=torch.float64)
    y = torch.tensor([[1]])
    f = torch.tensor([[[0.0]]], dtype=torch.float64)  # [B, P, N], below +0.8
    mask = manhattan_pulses(v, y, f, 100.0, (-0.8, 0.8))
    # input 0 (V > 0): raise W -> SET on G+ (column 0); input 1 (V < 0): lower W -> SET on G- (column 1)
    assert mask[0].tolist() == [[True, False], [False, True]]


def test_pulses_past_the_curve_end_saturate():
    curve = DeviceCurve(np.array([1e-4, 2e-4, 2.5e-4]))
    m = CrossbarPerceptron(curve, shift=ShiftDistribution("none"), k=1.0, beta=1.0, epochs=10)
    t = seed4()
    m.fit(t.voltages(), t.y)  # beta 1 /A: never converges, every device pulsed every epoch
    assert not m.converged_[0]
    assert np.abs(m.history_.g[-1]).max() <= 1.5e-4 + 1e-18
    assert m.history_.state[-1].max() >= 2


def test_pcm_curve_is_the_mean_field_recursion():
    g_us = DeviceCurve.from_pcm(n_pulses=5).g * 1e6
    np.testing.assert_allclose(g_us[1:], [1.925, 3.292, 4.337, 5.153, 5.805], atol=2e-3)


@pytest.mark.slow  # 8.5 s; moved to keep the default run under 5 min
def test_mss_curve_follows_the_exact_pulse_response():
    p, pulses = MSSParams(), MSSPulses()
    curve = DeviceCurve.from_mss(p, pulses, n_pulses=10)
    v_t = p.v_t
    rate = (1 / (1 + math.exp(-(pulses.amplitude - p.v_on) / v_t)) + 1 / (1 + math.exp((pulses.amplitude + p.v_off) / v_t))) / p.tau
    x_inf = 1 / (1 + math.exp(-(pulses.amplitude - p.v_on) / v_t)) / p.tau / rate
    x = x_inf * (1 - np.exp(-rate * pulses.width * np.arange(11)))
    # gaps at 0 V relax x by < 1e-5 over 10 pulses
    np.testing.assert_allclose(curve.g, x / p.r_on + (1 - x) / p.r_off, rtol=1e-4)
    assert curve.v_read_max == pytest.approx(0.27)
    assert curve.meta["validated"] is True


def test_scale_to_curve_keeps_the_seed_values_for_the_seed_range():
    curve = DeviceCurve(np.array([1e-4, 1e-4 + REFERENCE_RANGE]))
    assert scale_to_curve(10.0, 2e-5, curve) == pytest.approx((10.0, 2e-5))
    half = DeviceCurve(np.array([1e-4, 1e-4 + REFERENCE_RANGE / 2]))
    assert scale_to_curve(10.0, 2e-5, half) == pytest.approx((20.0, 1e-5))


def test_replayed_shifts_give_the_same_epochs():
    t = seed4()
    m = CrossbarPerceptron("seed", runs=20, seed=5).fit(t.voltages(), t.y)
    again = CrossbarPerceptron("seed").fit(t.voltages(), t.y, shifts=m.shifts_)
    np.testing.assert_array_equal(again.converged_epoch_, m.converged_epoch_)


def test_shifts_are_centred_per_array():
    s = ShiftDistribution().sample(7, (4, 4), torch.Generator().manual_seed(0))
    assert s.shape == (7, 4, 4)
    assert s.mean(dim=(1, 2)).abs().max() < 1e-18


def test_pcm_twin_backend_has_cycle_to_cycle_noise():
    t = seed4()
    noisy = CrossbarPerceptron("pcm", backend="twin", shift=ShiftDistribution("none"), seed=0, epochs=6, beta=1.0)
    a = noisy.fit(t.voltages(), t.y).history_.g[-1]
    b = CrossbarPerceptron("pcm", backend="twin", shift=ShiftDistribution("none"), seed=1, epochs=6, beta=1.0)
    assert not np.allclose(a, b.fit(t.voltages(), t.y).history_.g[-1])
    mean_field = CrossbarPerceptron("pcm", backend="twin", deterministic=True, shift=ShiftDistribution("none"),
                                    epochs=6, beta=1.0).fit(t.voltages(), t.y)
    curve = CrossbarPerceptron("pcm", shift=ShiftDistribution("none"), epochs=6, beta=1.0).fit(t.voltages(), t.y)
    np.testing.assert_allclose(mean_field.history_.g, curve.history_.g, atol=1e-12)


# --- bad input -------------------------------------------------------------------------------


def _model(**kw):
    return CrossbarPerceptron("seed", **kw)


def test_mismatched_patterns_and_labels_are_rejected():
    t = seed4()
    with pytest.raises(ValueError, match=r"6 patterns .* but 5 label rows"):
        _model().fit(t.voltages(), t.y[:5])
    with pytest.raises(ValueError, match="2-D"):
        _model().fit(t.voltages()[0], t.y)
    with pytest.raises(ValueError, match="0 or 1"):
        _model().fit(t.voltages(), t.y * 2)


def test_read_voltage_above_the_switching_threshold_is_rejected_with_numbers():
    t = seed4()
    x = t.voltages() * 3.0  # ±0.3 V on an MSS with v_on = 0.27 V
    with pytest.raises(ValueError, match=r"read voltage -?0\.3 V .* threshold 0\.27 V"):
        CrossbarPerceptron("mss").fit(x, t.y)


def test_bad_curves_are_rejected():
    with pytest.warns(RuntimeWarning, match=r"not monotone: 1 reversal.* at pulse 2"):
        assert check_curve([1e-4, 2e-4, 1.5e-4]).tolist() == [1e-4, 2e-4, 1.5e-4]  # noise: kept as measured
    with pytest.raises(ValueError, match=r"falls overall: G\(2\) = 5e-05 S is below G\(0\) = 0\.0001 S"):
        check_curve([1e-4, 2e-4, 0.5e-4])
    with pytest.raises(ValueError, match="at least 2 points"):
        check_curve([1e-4])
    with pytest.raises(ValueError, match="flat"):
        check_curve([1e-4, 1e-4])
    with pytest.raises(ValueError, match="> 0 S"):
        check_curve([0.0, 1e-4])


def test_curve_file_needs_consecutive_pulse_numbers(tmp_path):
    good = tmp_path / "good.txt"
    good.write_text("# pulse G\n0 1e-4\n1 2e-4\n2 2.5e-4\n")
    assert DeviceCurve.from_file(good).g.tolist() == [1e-4, 2e-4, 2.5e-4]
    gap = tmp_path / "gap.txt"
    gap.write_text("0 1e-4\n2 2e-4\n")
    with pytest.raises(ValueError, match="row 2 has pulse number 2"):
        DeviceCurve.from_file(gap)
    down = tmp_path / "down.csv"
    down.write_text("0,2e-4\n1,1e-4\n")
    with pytest.raises(ValueError, match="falls overall"):
        DeviceCurve.from_file(down)


@pytest.mark.parametrize("beta", [0.0, -1.0, float("nan")])
def test_non_positive_beta_is_rejected(beta):
    with pytest.raises(ValueError, match="beta"):
        _model(beta=beta)


def test_other_bad_settings_are_rejected():
    with pytest.raises(ValueError, match="targets"):
        _model(targets=(0.8, -0.8))
    with pytest.raises(ValueError, match="epochs"):
        _model(epochs=1)
    with pytest.raises(ValueError, match="device must be 'mss' or 'pcm'"):
        _model(backend="twin")
    with pytest.raises(ValueError, match="does not exceed the MSS threshold"):
        MSSPulses(amplitude=0.2).check_device(MSSParams())
    with pytest.raises(ValueError, match="half of it"):
        MSSPulses(amplitude=0.6).check_device(MSSParams(), half_select=True)
    with pytest.raises(ValueError, match="whole number"):
        MSSPulses(width=2.5e-6)
    with pytest.raises(ValueError, match="shifts of shape"):
        _model().fit(seed4().voltages(), seed4().y, shifts=np.zeros((3, 3)))


def test_read_scaling_fits_reads_under_a_low_read_limit_and_trains_the_same_logic():
    t = seed4()
    ample = DeviceCurve(seed_shaped_curve(), "c", v_read_max=0.5)
    tight = DeviceCurve(seed_shaped_curve(), "c", v_read_max=0.05)  # below the task's ±0.1 V reads
    with pytest.raises(ValueError, match=r"read voltage -?0\.1 V .* threshold 0\.05 V.*read_scale='auto'"):
        CrossbarPerceptron(tight, runs=8).fit(t.voltages(), t.y)
    base = CrossbarPerceptron(ample, runs=8, read_scale="auto").fit(t.voltages(), t.y)
    scaled = CrossbarPerceptron(tight, runs=8, read_scale="auto").fit(t.voltages(), t.y)
    assert base.read_scale_ == 1.0 and base.read_gain == base.k
    assert scaled.read_scale_ == pytest.approx(0.25)  # READ_MARGIN 0.5 × 0.05 V / 0.1 V
    assert scaled.read_gain == pytest.approx(4 * scaled.k)
    np.testing.assert_array_equal(scaled.converged_epoch_, base.converged_epoch_)
    np.testing.assert_allclose(scaled.activations(t.voltages()), base.activations(t.voltages()), rtol=0, atol=1e-12)
    assert np.abs(scaled.read_voltages(t.voltages())).max() == pytest.approx(0.025)
    with pytest.raises(ValueError, match="read_scale = 0: must lie in"):
        CrossbarPerceptron(ample, read_scale=0)
