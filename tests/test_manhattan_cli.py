"""``spicegrad train manhattan``: statistics files, replay, plots, exit codes."""

from __future__ import annotations

import json

import numpy as np
import pytest

from spicegrad.cli import main


def run_cli(argv: list[str]) -> int:
    return main(["train", "manhattan", *argv])


def test_statistics_write_summary_and_separate_shifts(tmp_path, capsys):
    out = tmp_path / "run"
    assert run_cli(["--task", "seed4", "--device", "seed", "--runs", "40", "--seed", "2", "--out", str(out)]) == 0
    s = json.loads((out / "summary.json").read_text())
    assert {"runs", "convergence_rate", "median_epochs"} <= set(s)
    assert s["runs"] == 40 and 0 < s["convergence_rate"] < 1
    conv, non = np.load(out / "shifts_converged.npy"), np.load(out / "shifts_not_converged.npy")
    assert conv.shape[1:] == (4, 4) and len(conv) + len(non) == 40 == s["runs"]
    assert len(conv) == s["converged_runs"]
    for name in ("conductances", "weights", "activations", "error", "final_weights_3d"):
        assert (out / "run0" / f"{name}.png").stat().st_size > 0
    assert (out / "epochs_histogram.png").is_file()
    assert "runs converged" in capsys.readouterr().out

    replay = tmp_path / "replay"
    assert run_cli(["--device", "seed", "--shifts", str(out / "shifts_converged.npy"), "--out", str(replay), "--no-plots"]) == 0
    r = json.loads((replay / "summary.json").read_text())
    assert r["convergence_rate"] == 1.0 and r["runs"] == len(conv)
    done = [e for e in s["epochs"] if e > 0]
    assert sorted(r["epochs"]) == sorted(done)


def test_letters_with_a_curve_file(tmp_path):
    curve = tmp_path / "curve.txt"
    g = 1e-4 + 3e-4 * (1 - np.exp(-np.arange(51) / 15))
    np.savetxt(curve, np.column_stack([np.arange(51), g]))
    out = tmp_path / "letters"
    assert run_cli(["--task", "letters", "--device", str(curve), "--runs", "30", "--out", str(out), "--no-plots"]) == 0
    s = json.loads((out / "summary.json").read_text())
    assert s["device"] == "curve" and s["curve"]["points"] == 51 and s["test_accuracy"] is not None


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--beta", "0"], "beta"),
        (["--beta", "-5"], "beta"),
        (["--runs", "0"], "--runs"),
        (["--device", "/nonexistent/curve.txt"], "does not exist"),
        (["--device", "mss", "--pulse-amplitude", "0.2"], "does not exceed the MSS threshold"),
        (["--device", "mss", "--backend", "spice", "--pulse-amplitude", "0.6"], "half of it"),
        (["--device", "seed", "--backend", "twin"], "device must be 'mss' or 'pcm'"),
        (["--shifts", "/nonexistent.npy"], "no such file"),
        (["--read-scale", "1.5"], "--read-scale '1.5': must be 'auto' or a number in (0, 1]"),
        (["--read-scale", "fast"], "--read-scale 'fast'"),
    ],
)
def test_bad_input_exits_2_with_a_message(argv, message, tmp_path, capsys):
    assert run_cli([*argv, "--out", str(tmp_path / "x"), "--no-plots"]) == 2
    assert message in capsys.readouterr().err


def test_non_monotone_curve_file_is_used_with_a_warning_and_a_falling_one_exits_2(tmp_path, capsys):
    curve = tmp_path / "noisy.csv"
    curve.write_text("0,1e-4\n1,3e-4\n2,2e-4\n")
    assert run_cli(["--device", str(curve), "--epochs", "3", "--no-plots", "--out", str(tmp_path / "x")]) == 0
    assert "not monotone: 1 reversal(s)" in capsys.readouterr().err
    falling = tmp_path / "falling.csv"
    falling.write_text("0,3e-4\n1,2e-4\n2,1e-4\n")
    assert run_cli(["--device", str(falling), "--out", str(tmp_path / "y")]) == 2
    assert "falls overall: G(2)" in capsys.readouterr().err


def test_wrongly_shaped_shifts_exit_2(tmp_path, capsys):
    bad = tmp_path / "s.npy"
    np.save(bad, np.zeros((3, 3)))
    assert run_cli(["--shifts", str(bad), "--out", str(tmp_path / "x")]) == 2
    assert "do not fit the crossbar" in capsys.readouterr().err


@pytest.mark.parametrize("task", ["seed4", "letters"])
@pytest.mark.parametrize("device", [pytest.param("mss", marks=pytest.mark.slow), "pcm", "seed"])  # mss: 6 s each
def test_hundred_runs_per_task_and_device(task, device, tmp_path):
    """The issue's statistics command for every task × device (batched: about 1 s each)."""
    out = tmp_path / f"{task}-{device}"
    assert run_cli(["--task", task, "--device", device, "--runs", "100", "--out", str(out), "--no-plots"]) == 0
    s = json.loads((out / "summary.json").read_text())
    assert s["runs"] == 100 and s["converged_runs"] > 0
