"""The validator: cases as data, negative controls, report, certificates, cache, bad input."""

import json
import logging
import subprocess
import sys
import warnings

import numpy as np
import pytest

from spicegrad.devices import MIF, MSS
from spicegrad.spice.cache import cache_root, cached_run, netlist_key
from spicegrad.validate import (
    CaseError,
    UnvalidatedConfigError,
    load_cases,
    require_certified,
    run_case,
)
from spicegrad.validate.cases import make_case
from spicegrad.validate.certificates import load_certificate
from spicegrad.validate.report import plot_case

SINE = {"kind": "sine", "amplitude": 0.5, "freq": 100.0}


@pytest.fixture(scope="module")
def shipped():
    return {c.name: c for c in load_cases()}


def spicegrad(*args, timeout=600):
    return subprocess.run([sys.executable, "-m", "spicegrad.cli", *args], capture_output=True, text=True, timeout=timeout)


def test_shipped_cases_cover_every_model_stimulus_integrator_and_mode(shipped):
    cases = shipped.values()
    for model in ("mss", "mif", "pcm"):
        assert len({json.dumps(c.stimulus, sort_keys=True) for c in cases if c.model == model}) >= 2 or model == "pcm"
    assert {c.integrator for c in cases if c.model == "mif"} >= {"euler", "exp-euler"}
    assert any(c.model == "mss" and c.mode == "stochastic" for c in cases)
    assert {c.mode for c in cases if c.model == "pcm"} == {"deterministic", "stochastic", "crn"}


def test_wrong_twin_fails_with_model_error_flagged(shipped):
    r = run_case(shipped["mss-wrong-von-control"])
    assert not r["passed"] and r["status"] == "failed" and r["as_expected"]
    assert "model" in r["causes"] and "integration" not in r["causes"]
    assert r["model_error"]["x"]["max_abs"] > 0.1 > r["integration_error"]["x"]["max_abs"]


def test_mif_forward_euler_at_10us_fails_as_diverged_not_as_a_small_number(shipped, tmp_path):
    r = run_case(shipped["mif-memprop-euler-10us"])
    assert r["status"] == "diverged" and not r["passed"] and "diverged" in r["causes"]
    assert r["metrics"]["v"]["rms"] == float("inf")
    assert any("stability" in w or "dt" in w for w in r["warnings"])
    with warnings.catch_warnings():  # its report panel draws without overflow or log-scale warnings
        warnings.simplefilter("error")
        # (an old matplotlib under a new pyparsing deprecates its own calls: not this test's subject)
        warnings.simplefilter("ignore", DeprecationWarning)
        assert plot_case(r, tmp_path / "diverged.png").stat().st_size > 10_000


def test_passing_case_splits_model_and_integration_error(shipped):
    r = run_case(shipped["mss-sine-100hz"])
    assert r["passed"] and r["status"] == "passed"
    x = r["metrics"]["x"]["max_abs"]
    assert x <= 2e-3
    # ngspice and the reference agree far better than the twin's Euler step does
    assert r["model_error"]["x"]["max_abs"] < 0.1 * r["integration_error"]["x"]["max_abs"]


def test_dt_sweep_gives_advice_and_catches_euler_instability(shipped):
    from spicegrad.validate import dt_sweep

    s = dt_sweep(shipped["mss-sine-100hz"], quick=True)
    assert s["advice"]["euler"]["largest_dt_within_tolerance"] == 2e-6
    assert s["advice"]["euler"]["smallest_dt_diverged"] == 5e-4  # MSS Euler: unstable past 2·tau
    assert s["advice"]["exp-euler"]["largest_dt_within_tolerance"] >= 1e-5


def base_case(**changes):
    raw = {"name": "t", "model": "mss", "stimulus": SINE, "t_stop": 1e-3, "dt": 1e-6,
           "tolerance": {"x": {"max_abs": 2e-3}}}
    raw.update(changes)
    return raw


@pytest.mark.parametrize(
    "changes,words",
    [
        ({"model": "memristorX"}, "model = 'memristorX'"),
        ({"preset": "nope"}, "'nope'"),
        ({"params": {"r_onn": 1.0}}, "r_onn"),
        ({"params": {"tau": -1.0}}, "tau"),
        ({"tolerance": {"x": {"max_abs": 0.0}}}, "tolerance.x.max_abs = 0.0"),
        ({"tolerance": {"x": {"max_abs": -1e-3}}}, "must be a finite number > 0"),
        ({"tolerance": {"y": {"max_abs": 1e-3}}}, "unknown waveform"),
        ({"tolerance": {"x": {"closeness": 1e-3}}}, "unknown metric"),
        ({"t_stop": 100.0, "dt": 1e-6}, "more than the limit"),
        ({"colour": "red"}, "unknown field"),
        ({"stimulus": {"kind": "sawtooth"}}, "stimulus kind 'sawtooth'"),
        ({"stimulus": {"kind": "triangle", "amplitude": 0.3}}, "stimulus 'triangle': missing field(s) ['freq']"),
        ({"stimulus": {"kind": "sine", "freq": 100.0}}, "stimulus 'sine': missing field(s) ['amplitude']"),
        ({"integrator": "rk45"}, "integrator = 'rk45'"),
        ({"dt": 0}, "dt = 0"),
    ],
)
def test_bad_case_definitions_are_rejected_with_the_field_named(changes, words):
    with pytest.raises(CaseError) as err:
        make_case(base_case(**changes), "test.toml")
    assert words in str(err.value) and "test.toml" in str(err.value)


def test_long_stimulus_warns_with_an_ngspice_time_estimate(caplog):
    with caplog.at_level(logging.WARNING, logger="spicegrad.validate"):
        make_case(base_case(t_stop=1.5, dt=1e-6), "test.toml")
    assert "ngspice will take about" in caplog.text


def test_cli_bad_case_file_exits_2_and_writes_nothing(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[[case]]\nname = 'x'\nmodel = \n")
    report = tmp_path / "report"
    proc = spicegrad("validate", "--cases", str(bad), "--report", str(report))
    assert proc.returncode == 2 and "not valid TOML" in proc.stderr
    assert not report.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".report")]


@pytest.mark.slow  # a fresh process imports dask and waits out the connection: CI's slow stage
def test_cli_unreachable_scheduler_exits_2(tmp_path, monkeypatch):
    monkeypatch.setenv("SPICEGRAD_DASK_WAIT_S", "3")  # the default 30 s, shortened for the test
    proc = spicegrad("validate", "--model", "pcm", "--quick", "--scheduler", "tcp://127.0.0.1:9", "--no-sweep",
                     "--report", str(tmp_path / "r"), timeout=120)
    assert proc.returncode == 2 and "cannot reach the Dask scheduler" in proc.stderr
    assert not (tmp_path / "r").exists()


def test_cli_report_has_schema_and_plots(tmp_path):
    out = tmp_path / "report"
    proc = spicegrad("validate", "--model", "pcm", "--report", str(out))
    assert proc.returncode == 0, proc.stderr
    data = json.loads((out / "summary.json").read_text())
    assert {"spicegrad_version", "ngspice_version", "passed", "cases"} <= set(data) and data["passed"] is True
    for case in data["cases"]:
        assert {"name", "model", "params", "stimulus", "dt", "integrator", "metrics", "model_error",
                "integration_error", "tolerance", "passed"} <= set(case)
    page = (out / "index.html").read_text()
    for case in data["cases"]:
        assert case["name"] in page
    for img in (out / "plots").iterdir():
        assert img.read_bytes()[:4] == b"\x89PNG" and f"plots/{img.name}" in page


def test_cli_exit_code_is_1_when_a_case_fails(tmp_path):
    case = tmp_path / "fail.toml"
    case.write_text(
        "[[case]]\nname = 'too-tight'\nmodel = 'mss'\nstimulus = { kind = 'sine', amplitude = 0.5, freq = 100.0 }\n"
        "t_stop = 0.005\ndt = 1e-5\nintegrator = 'euler'\ntolerance = { x = { max_abs = 1e-6 } }\n")
    proc = spicegrad("validate", "--cases", str(case), "--no-sweep")
    assert proc.returncode == 1 and "validation FAILED" in proc.stdout


def test_require_certified_runs_cases_then_uses_the_certificate():
    p = MSS.preset("knowm-default")
    cert = require_certified("mss", p, 1e-6, "exp-euler")
    assert cert["validated"] and cert["cases"]
    stored = list((cache_root() / "certificates").glob("*.json"))
    assert len(stored) == 1
    again = require_certified("mss", p, 1e-6, "exp-euler")
    assert again["key"] == cert["key"]
    # A certificate made by other code, or missing a case added since, is no proof.
    path = stored[0]
    record = json.loads(path.read_text())
    path.write_text(json.dumps({**record, "code": "other"}))
    assert load_certificate("mss", p, 1e-6, "exp-euler") is None
    record["cases"].pop(next(iter(record["cases"])))
    path.write_text(json.dumps(record))
    assert load_certificate("mss", p, 1e-6, "exp-euler") is None


def test_require_certified_refuses_a_failing_configuration_unless_allowed():
    p = MIF.preset("memprop")
    with pytest.raises(UnvalidatedConfigError, match="diverged"):
        require_certified("mif", p, 1e-5, "euler")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        record = require_certified("mif", p, 1e-5, "euler", allow_unvalidated=True)
    assert record["validated"] is False and "diverged" in record["failures"]
    assert any("allow_unvalidated" in str(w.message) for w in caught)


def test_cache_returns_identical_results_and_recomputes_corrupt_entries(shipped, caplog, tmp_path, monkeypatch):
    from spicegrad.spice.cache import spice_cache_dir
    from spicegrad.validate.adapters import get_adapter

    monkeypatch.setenv("SPICEGRAD_SPICE_CACHE", str(tmp_path / "own"))  # this test corrupts an entry
    text = get_adapter("mss").netlist(shipped["mss-sine-100hz"])
    first = cached_run(text)
    entry = spice_cache_dir() / f"{netlist_key(text)}.npz"
    assert entry.exists()
    second = cached_run(text)
    assert second.log == "(from cache)"
    for name in first.names:
        np.testing.assert_array_equal(first[name], second[name])
    entry.write_bytes(entry.read_bytes()[:100])  # truncate: corrupt
    with caplog.at_level(logging.WARNING, logger="spicegrad.spice"):
        third = cached_run(text)
    assert "corrupt" in caplog.text and third.log != "(from cache)"
    np.testing.assert_array_equal(first["xm.x"], third["xm.x"])


def test_cache_key_changes_when_the_model_library_changes(tmp_path, monkeypatch, shipped):
    from spicegrad.spice.library import models_dir
    from spicegrad.validate.adapters import get_adapter

    text = get_adapter("mss").netlist(shipped["mss-sine-100hz"])
    key = netlist_key(text)
    copy = tmp_path / "models"
    copy.mkdir()
    for lib in models_dir().glob("*.lib"):
        (copy / lib.name).write_text(lib.read_text() + "\n* edited\n")
    assert netlist_key(text.replace(str(models_dir()), str(copy))) != key


def test_case_results_are_memoised_and_corrupt_entries_recomputed(shipped, caplog):
    from spicegrad.validate import memo

    case = shipped["pcm-20-set-deterministic"]
    first = run_case(case)
    second = run_case(case)
    assert second.get("from_cache") and not first.get("from_cache")
    assert second["metrics"] == first["metrics"]
    np.testing.assert_array_equal(second["traces"]["C"]["g_us"], first["traces"]["C"]["g_us"])
    meta = cache_root() / "cases" / f"{memo.case_key(case)}.json"
    meta.write_text(meta.read_text().replace('"passed": true', '"passed": false', 1))  # tamper
    with caplog.at_level(logging.WARNING, logger="spicegrad.validate"):
        third = run_case(case)
    assert "corrupt" in caplog.text and not third.get("from_cache") and third["passed"]


def test_code_fingerprint_changes_with_the_model_library(tmp_path, monkeypatch):
    from spicegrad.spice.library import models_dir
    from spicegrad.validate import memo

    before = memo.code_fingerprint()
    copy = tmp_path / "models"
    copy.mkdir()
    for lib in models_dir().glob("*.lib"):
        (copy / lib.name).write_text(lib.read_text() + "\n* edited\n")
    monkeypatch.setenv("SPICEGRAD_MODELS", str(copy))
    memo.code_fingerprint.cache_clear()
    try:
        assert memo.code_fingerprint() != before
    finally:
        memo.code_fingerprint.cache_clear()


def test_each_test_starts_with_an_empty_private_cache(private_cache):
    from pathlib import Path

    assert cache_root() == private_cache and cache_root() != Path.home() / ".cache" / "spicegrad"
    assert not private_cache.exists() or not any(private_cache.iterdir())


def test_every_shipped_case_has_a_fingerprint(shipped):
    """Certificates fingerprint the stimulus as built, whatever object the adapter makes."""
    from spicegrad.validate.certificates import case_fingerprint

    prints = {name: case_fingerprint(case) for name, case in shipped.items()}
    assert len(set(prints.values())) == len(prints)


def test_a_triangle_and_a_sine_of_the_same_numbers_are_different_proofs():
    from spicegrad.validate.cases import make_case
    from spicegrad.validate.certificates import case_fingerprint

    base = {"name": "c", "model": "mss", "t_stop": 1e-3, "dt": 1e-6, "tolerance": {"x": {"max_abs": 2e-3}}}
    sine = make_case({**base, "stimulus": {"kind": "sine", "amplitude": 0.5, "freq": 1e3}})
    tri = make_case({**base, "stimulus": {"kind": "triangle", "amplitude": 0.5, "freq": 1e3}})
    assert case_fingerprint(sine) != case_fingerprint(tri)


def test_reference_steps_at_most_max_step_and_refuses_times_outside_its_span():
    from spicegrad.validate.adapters import piecewise_dop853

    def rhs(t, y):  # quiet except for a 20 ns burst at 1 µs that moves y by 2
        return 0.0 * y + (1e8 if 1e-6 < t < 1.02e-6 else 0.0)

    free = piecewise_dop853(rhs, np.array([0.0, 2e-6]), [0.0], "free")
    bounded = piecewise_dop853(rhs, np.array([0.0, 2e-6]), [0.0], "bounded", max_step=5e-9)
    assert bounded(1.5e-6)[0, 0] == pytest.approx(2.0, rel=1e-2)
    assert free(1.5e-6)[0, 0] == 0.0  # its steps grew past the burst
    end = 2e-6 * (1 + 1e-12)  # a grid point past t_stop by rounding: the last value
    assert bounded(end)[0, 0] == pytest.approx(bounded(2e-6)[0, 0])
    with pytest.raises(ValueError, match="outside"):
        bounded(2.1e-6)


# -- the quick run (issue 18): one proof per claim, no dt sweep, results on disk reused --------

def test_quick_run_covers_every_model_sweeps_nothing_and_keeps_its_negative_controls():
    from spicegrad.validate.choices import validated_models
    from spicegrad.validate.suite import plan

    cases, sweeps = plan(quick=True)
    assert sweeps == [] and len(plan(sweep=True)[1]) >= 5  # dt advice is the full run's
    passing = {c.model for c in cases if c.expect == "pass"}
    assert passing >= {"mss", "mif", "pcm", "vteam", "yakopcic", "crossbar", "stdp"} and passing >= set(validated_models())
    controls = {c.model for c in cases if c.expect != "pass"}
    assert controls >= {"mss", "mif", "vteam", "yakopcic", "stdp"}  # the quick run can fail
    # every stochastic mode and the common-random-number mode keep a quick case
    assert {(c.model, c.mode) for c in cases} >= {("mss", "stochastic"), ("pcm", "stochastic"), ("pcm", "crn")}


def _yakopcic_cases(tmp_path, **changes):
    from spicegrad.validate.cases import cases_dir

    text = (cases_dir() / "yakopcic.toml").read_text()
    head = text.rindex("[[case]]", 0, text.index('name = "yakopcic-set-pulses"'))
    block = text[head:text.index("[[case]]", head + 8)]
    for old, new in changes.items():
        assert old in block
        block = block.replace(old, new)
    path = tmp_path / "one.toml"
    path.write_text(block)
    return path


def test_quick_run_fails_when_a_twin_disagrees(tmp_path):
    from spicegrad.validate.suite import run_validation

    good = run_validation(quick=True, cases=[_yakopcic_cases(tmp_path)], progress=False)
    assert good.passed and good.results[0]["status"] == "passed"
    # the same case, quick, with the twin's vp 50 mV off the circuit's and still expected to pass
    path = _yakopcic_cases(tmp_path, **{'integrator = "exp-euler"': 'integrator = "exp-euler"\ntwin_params = { vp = 0.21 }'})
    bad = run_validation(quick=True, cases=[path], progress=False)
    r, = bad.results
    assert not bad.passed and r["status"] == "failed" and "model" in r["causes"]
    assert r["metrics"]["x"]["max_abs"] > 2e-3  # judged against the unchanged tolerance


def test_results_on_disk_are_read_here_and_never_sent_to_workers(shipped):
    from spicegrad.validate import run_suite

    case = shipped["yakopcic-set-pulses"]
    (cold,), _ = run_suite([case], progress=False, plot=True, workers="auto")  # one task: no cluster
    assert cold["plot_png"][:8] == b"\x89PNG\r\n\x1a\n" and not cold.get("from_cache")
    # warm: nothing is left to run, so an unreachable scheduler is never contacted
    (warm,), _ = run_suite([case], progress=False, plot=True, scheduler="tcp://127.0.0.1:9")
    assert warm["from_cache"] and warm["plot_png"] == cold["plot_png"]
    assert warm["metrics"] == json.loads(json.dumps(cold["metrics"]))
