"""Crossbar cases in the validator: shipped cases load, DC read passes, a wrong twin fails."""

from pathlib import Path

import numpy as np
import pytest

from spicegrad.validate import load_cases, run_case
from spicegrad.validate.cases import CaseError, make_case
from spicegrad.validate.report import plot_case

CASES = Path(__file__).resolve().parents[1] / "spicegrad" / "cases" / "crossbar.toml"


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SPICEGRAD_CACHE", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def cases():
    return {c.name: c for c in load_cases([CASES])}


def test_shipped_crossbar_cases(cases):
    assert {"crossbar-dc-16x16-1ohm", "crossbar-mss-8x8-transient"} <= set(cases)
    assert [c.name for c in cases.values() if c.quick] == ["crossbar-dc-16x16-1ohm"]


def test_dc_16x16_with_1_ohm_wires_within_1e3_relative(cases, tmp_path):
    r = run_case(cases["crossbar-dc-16x16-1ohm"], use_cache=False)
    assert r["passed"] and r["as_expected"]
    i_a = np.asarray(r["traces"]["A"]["i"])
    assert i_a.shape == (3, 32)
    assert r["metrics"]["i"]["max_abs"] <= 1e-3 * np.abs(i_a).max()
    assert r["model_error"]["i"]["max_abs"] <= 1e-3 * np.abs(i_a).max()  # the reference agrees too
    assert plot_case(r, tmp_path / "dc.png").stat().st_size > 0


def test_wrong_twin_v_on_fails_as_model_error(cases):
    r = run_case(cases["crossbar-mss-4x4-wrong-von-control"], use_cache=False)
    assert not r["passed"] and r["as_expected"] and "model" in r["causes"]
    assert r["integration_error"]["x"]["max_abs"] < 2e-3 < r["model_error"]["x"]["max_abs"]


@pytest.mark.slow
def test_8x8_mss_transient_case_passes_with_twin_closer_than_tolerance(cases):
    r = run_case(cases["crossbar-mss-8x8-transient"], use_cache=False)
    assert r["passed"] and r["metrics"]["x"]["max_abs"] <= 1e-4  # measured 2.5e-5


@pytest.mark.parametrize(("change", "message"), [
    ({"rows": 0}, "positive integer"),
    ({"device": "pcm"}, "device"),
    ({"r_wire": 1.0, "r_driver": 0.0}, "all > 0"),
    ({"sine": None, "dc": {"low": 0.1, "high": 0.2}}, "sine"),
    ({"colour": 1}, "unknown"),
])
def test_bad_crossbar_case_is_rejected_naming_the_field(change, message):
    stimulus = {"kind": "crossbar", "rows": 2, "cols": 2, "r_wire": 1.0, "r_driver": 1.0, "r_sense": 1.0,
                "device": "mss", "sine": {"low": 0.6, "high": 1.0, "freq": 1e3}}
    stimulus = {k: v for k, v in {**stimulus, **change}.items() if v is not None}
    raw = {"name": "bad", "model": "crossbar", "stimulus": stimulus, "t_stop": 1e-5, "dt": 1e-6,
           "tolerance": {"x": {"max_abs": 2e-3}}}
    with pytest.raises(CaseError, match=message):
        make_case(raw)
