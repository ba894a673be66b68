"""Device-level STDP: the pair window in the twin and in ngspice, its validator cases, the
winner-take-all learner on four letters, ``spicegrad train stdp`` and its bad-input errors."""

import json

import numpy as np
import pytest

from spicegrad.cli import main
from spicegrad.compare.stdp_protocol import PairProtocol, as_delta_t, pwl_step_means, schedule
from spicegrad.stdp.learner import LearnerConfig, WindowRule, letter_patterns, train
from spicegrad.stdp.window import WINDOW_TOLERANCE_DX, measure_window, twin_traces
from spicegrad.validate import CaseError, load_cases, run_case
from spicegrad.validate.cases import make_case

#: learner accuracy pinned by the tests (4 letters, noise 0.1, seed 0; measured 99.75 %)
LEARNER_ACCURACY = 0.95


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SPICEGRAD_CACHE", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def pair_traces():
    """Twin traces for Δt = -2, -0.4, +0.4, +2 ms at dt = 1 µs."""
    return twin_traces([-2e-3, -0.4e-3, 0.4e-3, 2e-3], PairProtocol(), dt=1e-6)


@pytest.fixture(scope="module")
def twin_window():
    d = np.round(np.linspace(-2e-3, 2e-3, 41), 12)
    return measure_window(d, dt=1e-6, spice=False)


# --- the pair protocol and the twin's window -------------------------------------------------


def test_each_neuron_fires_exactly_once_per_current_pulse(pair_traces):
    v = np.concatenate([pair_traces["v_pre"][:, None], pair_traces["v_post"]], axis=1)
    crossings = ((v[:-1] < 0.07) & (v[1:] >= 0.07)).sum(axis=0)
    assert crossings.tolist() == [1, 1, 1, 1, 1]


def test_pre_before_post_potentiates_and_post_before_pre_depresses(pair_traces):
    dx = pair_traces["x"][-1] - PairProtocol().x0
    assert dx[2] > 0.03 and dx[1] < -0.03  # Δt = +0.4 ms potentiates, -0.4 ms depresses
    assert abs(dx[1] + dx[2]) < 1e-3  # the symmetric device from x0 = 0.5 gives an odd window
    assert np.all(np.abs(dx[[0, 3]]) < 0.1 * dx[2])  # spikes 2 ms apart barely interact


def test_a_lone_spike_stays_below_the_mss_threshold_and_the_overlap_exceeds_it(pair_traces):
    syn = PairProtocol().synapse_params()
    v_syn = np.abs(pair_traces["v_syn"])
    lone = v_syn[:, [0, 3]].max()  # Δt = ±2 ms: each spike meets the other neuron at rest
    overlap = v_syn[:, [1, 2]].max()
    assert lone < syn.v_on - 3 * syn.v_t
    assert overlap > lone + 0.03


def test_pulse_step_means_keep_the_pulse_charge():
    proto = PairProtocol()
    times, values = proto.pulse_knots(0.2e-3 + 0.3e-6)
    means = pwl_step_means(times, values, 1e-6, 1000)
    assert means.sum() * 1e-6 == pytest.approx(proto.i_pulse * (proto.t_pulse + proto.t_edge), rel=1e-12)


# --- twin against ngspice (real ngspice runs) ------------------------------------------------


def test_twin_window_matches_ngspice_within_stated_tolerance():
    window = measure_window([-0.4e-3, 0.1e-3, 0.4e-3], dt=0.5e-6, spice=True, use_cache=False)
    agree = window.agreement()
    assert agree["within_tolerance"], agree
    assert agree["max_abs_dx"] <= WINDOW_TOLERANCE_DX
    assert window.dx["ngspice"][2] > 0.05 and window.dx["ngspice"][0] < -0.05


@pytest.mark.slow  # 7.6 s; the full validation suite runs this case too
def test_validator_stdp_case_passes_with_negligible_model_error():
    case = make_case({
        "name": "stdp-two-pairs", "model": "stdp", "preset": "zhou-tonic-knowm",
        "stimulus": {"kind": "pairs", "delta_t": [-0.4e-3, 0.4e-3]}, "t_stop": 3.5e-3, "dt": 0.5e-6,
        "integrator": "exp-euler", "spice": {"max_step": 1e-7}, "tolerance": {"x": {"max_abs": WINDOW_TOLERANCE_DX}},
    })
    r = run_case(case, use_cache=False)
    assert r["status"] == "passed", r["broken"]
    assert r["model_error"]["x"]["max_abs"] < 1e-5  # reference ODE and ngspice: the same circuit
    assert r["traces"]["A"]["x"].shape == (7001, 2)


def test_shipped_stdp_cases_load_with_their_tolerance():
    cases = [c for c in load_cases() if c.model == "stdp"]
    assert {c.expect for c in cases} == {"pass", "fail"}
    assert all(c.tolerance["x"]["max_abs"] == WINDOW_TOLERANCE_DX for c in cases)


@pytest.mark.slow
def test_shipped_stdp_cases_behave_as_expected():
    for case in (c for c in load_cases() if c.model == "stdp"):
        r = run_case(case, use_cache=False)
        assert r["as_expected"], (case.name, r["status"], r["broken"])


# --- the learner ------------------------------------------------------------------------------


def test_letters_are_four_distinct_5x5_patterns():
    names, pats = letter_patterns()
    assert pats.shape == (4, 25) and len(set(names)) == 4
    dist = np.abs(pats[:, None] - pats[None]).sum(-1)
    assert dist[~np.eye(4, dtype=bool)].min() >= 12


def test_wta_learner_recognises_noisy_letters_with_the_twin_window(twin_window):
    rule = WindowRule(twin_window.curve("twin"), twin_window.delta_t, 0.5)
    result = train(rule, LearnerConfig(noise=0.1, seed=0, epochs=10))
    assert result.final_accuracy >= LEARNER_ACCURACY
    assert result.accuracy_before < 0.75  # it learned: random synapses do not recognise
    assert sorted(result.labels.tolist()) == [0, 1, 2, 3]  # one output per letter
    again = train(rule, LearnerConfig(noise=0.1, seed=0, epochs=10))
    np.testing.assert_array_equal(result.x, again.x)  # deterministic for a seed


def test_window_rule_needs_both_signs():
    d = np.linspace(-2e-3, 2e-3, 5)
    with pytest.raises(ValueError, match="both a potentiating"):
        WindowRule(lambda t: np.abs(np.asarray(t)), d, 0.5)


# --- the command -------------------------------------------------------------------------------


def test_train_stdp_writes_window_weights_and_metrics(tmp_path):
    out = tmp_path / "stdp"
    rc = main(["train", "stdp", "--out", str(out), "--no-spice", "--dt", "1e-6", "--delta-t-points", "21",
               "--epochs", "3", "--no-progress"])
    assert rc == 0
    for name in ("window.csv", "window.png", "weights.png", "accuracy.png", "metrics.json"):
        assert (out / name).stat().st_size > 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["accuracy"] >= LEARNER_ACCURACY and len(metrics["accuracy_per_epoch"]) == 3
    assert metrics["window_agreement"] == {}  # no ngspice window with --no-spice
    header = (out / "window.csv").read_text().splitlines()[0]
    assert header == "delta_t_ms,dx_twin,dg_uS_twin"


@pytest.mark.slow
def test_train_stdp_with_ngspice_window_agrees_within_tolerance(tmp_path):
    out = tmp_path / "stdp"
    assert main(["train", "stdp", "--out", str(out), "--no-progress"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["window_agreement"]["within_tolerance"]
    assert metrics["accuracy"] >= LEARNER_ACCURACY
    assert "dx_ngspice" in (out / "window.csv").read_text().splitlines()[0]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--noise", "1.0"], "--noise 1.0: must lie in [0, 1)"),
        (["--noise", "-0.1"], "--noise -0.1: must lie in [0, 1)"),
        (["--noise", "nan"], "--noise nan"),
        (["--epochs", "0"], "--epochs 0: must be >= 1"),
        (["--outputs", "0"], "--outputs 0: must be >= 1"),
        (["--delta-t-points", "2"], "--delta-t-points 2"),
        (["--gain", "0"], "--gain 0.0: must be > 0"),
        (["--dt", "1e-5"], "--dt 1e-05"),
        (["--window-source", "ngspice", "--no-spice"], "--window-source ngspice needs ngspice"),
    ],
)
def test_train_stdp_bad_input_is_a_clear_error(tmp_path, capsys, argv, message):
    rc = main(["train", "stdp", "--out", str(tmp_path / "o"), "--no-progress", *argv])
    assert rc == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_protocol_and_schedule_reject_bad_values():
    with pytest.raises(ValueError, match="PairProtocol.gain = -1"):
        PairProtocol(gain=-1.0)
    with pytest.raises(ValueError, match="PairProtocol.neuron = 'lif'"):
        PairProtocol(neuron="lif")
    with pytest.raises(ValueError, match="non-empty"):
        as_delta_t([])
    with pytest.raises(ValueError, match="t_stop = 0.001 s: too short"):
        schedule([0.4e-3], PairProtocol(), t_stop=1e-3)
    with pytest.raises(ValueError, match="LearnerConfig.noise = 1.0"):
        LearnerConfig(noise=1.0)


def test_bad_stdp_case_is_a_case_error():
    raw = {"name": "bad", "model": "stdp", "stimulus": {"kind": "pairs", "delta_t": [0.4e-3]},
           "t_stop": 1e-3, "dt": 1e-6, "tolerance": {"x": {"max_abs": 2e-3}}, "integrator": "exp-euler"}
    with pytest.raises(CaseError, match="too short"):
        make_case(raw)
    with pytest.raises(CaseError, match="kind = 'pairs'"):
        make_case({**raw, "t_stop": 4e-3, "stimulus": {"kind": "sine", "delta_t": [0.0]}})
