"""PCM replications against the numbers in docs/device-models.md §3 (within 3 standard errors)."""

from __future__ import annotations

import csv
import math

import pytest

from spicegrad.cli import main
from spicegrad.devices.pcm import PCMParams
from spicegrad.pcm_replicate.figures import fig2, fig5, fig7, write_stats

G12 = PCMParams.preset("nandakumar2018")


def test_fig5_mean_field_matches_device_models_numbers():
    rows = fig5(n_devices=1, deterministic=True, params=G12, read_noise=False)
    means = [r["mean_us"] for r in rows]
    for k, expect in ((1, 1.925), (2, 3.292), (3, 4.337), (4, 5.153), (5, 5.805), (20, 9.380)):
        assert abs(means[k - 1] - expect) < 1e-3


def test_fig5_stochastic_400_devices_within_3_standard_errors_of_device_models():
    n = 400
    rows = fig5(n_devices=n, params=G12, seed=11, read_noise=False)
    se_mean = lambda r: r["std_us"] / math.sqrt(n)  # noqa: E731
    se_std = lambda r: r["std_us"] / math.sqrt(2 * (n - 1))  # noqa: E731
    first, last = rows[0], rows[-1]
    assert abs(first["mean_us"] - 2.16) < 3 * se_mean(first)
    assert abs(last["mean_us"] - 8.89) < 3 * se_mean(last)
    assert abs(first["std_us"] - 1.5) < 3 * se_std(first)
    assert abs(last["std_us"] - 1.9) < 3 * se_std(last)
    peak = max(rows, key=lambda r: r["std_us"])
    assert abs(peak["std_us"] - 2.2) < 3 * se_std(peak) + 0.05  # "≈2.2" is given to 0.1 µS


def test_fig2_drift_shows_only_after_t0():
    rows = fig2(seed=1)
    mf = {r["time_s"]: r["mean_field_read_us"] for r in rows}
    assert sum(r["pulses"] > 0 for r in rows) and rows[-1]["pulses"] == 10
    g1 = mf[77]  # just after pulse 1
    assert mf[77 + 38] == pytest.approx(g1)
    assert mf[153] == pytest.approx(g1 * (76 / 38.6) ** -0.04, rel=1e-9)


def test_fig7_array_mean_drifts_as_the_power_law_after_programming():
    rows = fig7(size=40, seed=2)
    by_t = {r["time_s"]: r for r in rows}
    assert by_t[96]["pulses"] == 19
    ratio = by_t[299]["mean_us"] / by_t[100]["mean_us"]
    # reads at 100 s are within t0 of the last write: G itself; at 299 s: drift (204/38.6)^-0.04
    assert ratio == pytest.approx((204 / 38.6) ** -0.04, abs=4 * by_t[299]["std_us"] / 40 / by_t[100]["mean_us"])


def test_write_stats_more_devices_per_side_program_with_less_spread():
    one, many = write_stats(1, samples=60, seed=3, span_us=4), write_stats(8, samples=60, seed=3, span_us=4)
    spread = lambda rows: sum(r["std_us"] for r in rows) / len(rows)  # noqa: E731
    assert spread(many) < spread(one)
    still = [r for r in one if r["source_us"] == r["target_us"] == 0.0][0]
    assert abs(still["mean_us"]) < 0.05  # no change asked: no pulse


def _cli(argv):
    return main(["pcm", *argv])


def test_cli_replicate_5_writes_the_csv_contract(tmp_path):
    assert _cli(["replicate", "5", "--out", str(tmp_path), "--devices", "500"]) == 0
    with open(tmp_path / "fig5.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == ["pulse", "mean_us", "std_us"] and len(rows) == 20
    assert (tmp_path / "fig5.png").is_file()


def test_cli_refuses_bad_input(tmp_path, capsys):
    assert _cli(["replicate", "3", "--out", str(tmp_path)]) == 2
    assert _cli(["write-stats", "--xbar-n", "0,8", "--out", str(tmp_path)]) == 2
    assert "must be >= 1" in capsys.readouterr().err


def test_write_stats_sources_are_placed_exactly_so_no_change_asked_means_no_change():
    rows = write_stats(4, samples=5, seed=1, span_us=3)
    still = [r for r in rows if r["source_us"] == r["target_us"]]
    assert len(still) == 7
    for r in still:  # every level, |source| < 1 µS included (the first SET alone is ≈ 1.8 µS)
        assert r["mean_us"] == pytest.approx(r["source_us"], abs=1e-5) and r["std_us"] < 1e-5
