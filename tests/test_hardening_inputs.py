"""Measured device curves with reversals, and weight files the mapping cannot represent."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from spicegrad.cli import main
from spicegrad.crossbar import map_weights
from spicegrad.crossbar.mapping import require_weights
from spicegrad.errors import InputError
from spicegrad.manhattan.devices import DeviceCurve, check_curve, running_maximum


def measured_curve(tmp_path, name: str = "measured.txt") -> tuple[object, np.ndarray]:
    """51 points rising 1e-4 -> ~3.9e-4 S with G(28) 2 µS below G(27), as in the study's data."""
    g = 1e-4 + 3e-4 * (1 - np.exp(-np.arange(51) / 15))
    g[28] = g[27] - 2e-6
    path = tmp_path / name
    np.savetxt(path, np.column_stack([np.arange(51), g]))
    return path, g


# --- measured device curves ------------------------------------------------------------------


def test_a_reversal_is_accepted_with_a_warning_that_names_it(tmp_path):
    path, g = measured_curve(tmp_path)
    with pytest.warns(RuntimeWarning) as caught:
        curve = DeviceCurve.from_file(path)
    text = str(caught[0].message)
    assert "1 reversal(s)" in text and "largest drop 2e-06 S at pulse 28" in text and "G(27)" in text
    assert np.array_equal(curve.g, g) and curve.meta["curve_monotone"] == "as measured"


def test_monotone_takes_the_running_maximum(tmp_path):
    path, g = measured_curve(tmp_path)
    curve = DeviceCurve.from_file(path, monotone=True)  # no warning: the curve used has no reversal
    assert curve.g.tolist() == np.maximum.accumulate(g).tolist() and curve.g[28] == curve.g[27] == g[27]
    assert curve.meta["curve_monotone"] == "running maximum" and curve.meta["reversals"] == 1
    assert running_maximum([1e-4, 3e-4, 2e-4, 4e-4]).tolist() == [1e-4, 3e-4, 3e-4, 4e-4]


@pytest.mark.parametrize(
    ("g", "words"),
    [
        ([1e-4, np.nan, 2e-4], "G(1) = nan"),
        ([1e-4, -1e-5, 2e-4], "G(1) = -1e-05"),
        ([1e-4], "at least 2 points"),
        ([3e-4, 4e-4, 2e-4], "falls overall: G(2) = 0.0002 S is below G(0) = 0.0003 S"),
        ([2e-4, 3e-4, 2e-4], "flat curve"),
    ],
)
def test_curves_that_cannot_train_are_refused_with_the_value(g, words):
    with pytest.raises(ValueError) as info:
        check_curve(g)
    assert words in str(info.value)


def test_cli_trains_on_the_measured_curve_and_with_monotone(tmp_path, capsys):
    path, g = measured_curve(tmp_path)
    common = ["train", "manhattan", "--device", str(path), "--runs", "2", "--epochs", "4", "--no-plots"]
    assert main([*common, "--out", str(tmp_path / "raw")]) == 0
    captured = capsys.readouterr()
    assert "warning" in captured.err and "1 reversal(s)" in captured.err and "at pulse 28" in captured.err
    assert "--monotone" in captured.err and "Traceback" not in captured.err
    raw = json.loads((tmp_path / "raw" / "summary.json").read_text())
    assert raw["curve_monotone"] == "as measured" and raw["curve_reversals"] == 1
    used = np.loadtxt(tmp_path / "raw" / "curve.csv", delimiter=",")[:, 1]
    assert used[28] < used[27]

    assert main([*common, "--monotone", "--out", str(tmp_path / "mono")]) == 0
    captured = capsys.readouterr()
    assert "running maximum" in captured.err and "running maximum" in captured.out
    mono = json.loads((tmp_path / "mono" / "summary.json").read_text())
    assert mono["curve_monotone"] == "running maximum" and mono["curve_reversals"] == 1
    used = np.loadtxt(tmp_path / "mono" / "curve.csv", delimiter=",")[:, 1]
    np.testing.assert_allclose(used, np.maximum.accumulate(g), rtol=1e-8)
    assert (np.diff(used) >= 0).all()


def test_monotone_is_for_curve_files_only(tmp_path, capsys):
    assert main(["train", "manhattan", "--device", "seed", "--monotone", "--out", str(tmp_path / "x")]) == 2
    assert "--monotone applies to a FILE device" in capsys.readouterr().err


# --- weight files ----------------------------------------------------------------------------


def netlist(tmp_path, weights: str) -> int:
    return main(["netlist", "crossbar", "--rows", "2", "--cols", "2", "--weights", weights,
                 "-o", str(tmp_path / "x.cir")])


def test_weights_of_1e308_exit_2_naming_the_value(tmp_path, capsys):
    np.save(tmp_path / "big.npy", np.array([[1e308, 1.0], [0.5, -2.0]]))
    assert netlist(tmp_path, str(tmp_path / "big.npy")) == 2
    err = capsys.readouterr().err
    assert "weights[0, 0] = 1e+308" in err and "<= 1.341e+154" in err and "Traceback" not in err
    assert not (tmp_path / "x.cir").exists()
    assert main(["netlist", "tiles", "--weights", str(tmp_path / "big.npy"), "--tile", "2"]) == 2
    assert "1e+308" in capsys.readouterr().err


def test_a_w_max_that_breaks_the_scale_exits_2(tmp_path, capsys):
    np.save(tmp_path / "w.npy", np.array([[1.0, 0.5], [0.25, -2.0]]))
    rc = main(["netlist", "crossbar", "--rows", "2", "--cols", "2", "--weights", str(tmp_path / "w.npy"),
               "--w-max", "1e308", "-o", str(tmp_path / "x.cir")])
    assert rc == 2 and "w_max = 1e+308" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("name", "save", "words"),
    [
        ("complex.npy", lambda p: np.save(p, np.array([[1 + 1j, 1.0], [0.5, -2.0]])), "complex128 is complex"),
        ("archive.npz", lambda p: np.savez(p, w=np.ones((2, 2))), "an .npz archive holding 1 array(s) ['w']"),
    ],
)
def test_weight_files_that_are_not_one_real_matrix_exit_2(tmp_path, capsys, name, save, words):
    save(tmp_path / name)
    assert netlist(tmp_path, str(tmp_path / name)) == 2
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err


def test_require_weights_raises_input_error():
    for bad in (np.ones((2, 2), dtype=complex), np.array([["a", "b"]]), np.ones((2, 2), dtype=bool), {"w": 1}):
        with pytest.raises(InputError):
            require_weights(bad)


def test_weights_below_the_resolution_are_mapped_and_reported():
    m = map_weights(np.array([[1e6, 1.0], [0.0, -2.0]]), 1e-6, 1e-4)
    assert m.unresolved == 2 and m.smallest == 1.0  # the exact zero does not count
    assert "2 non-zero weight(s) are below 2^-16 of w_max" in m.report()
    ordinary = map_weights(np.array([[1.0, -0.5], [0.25, 0.0]]), 1e-6, 1e-4)
    assert ordinary.unresolved == 0 and "below" not in ordinary.report()


@pytest.mark.parametrize("content, what", [
    (b"garbage\n", r"not a \.npy file \(no NumPy header"),
    (None, r"an \.npz archive"),
    ("object", r"holds Python objects, which are never loaded"),
    (b"\x93NUMPY\x01\x00", r"a damaged \.npy file"),
], ids=["text", "npz", "object-array", "truncated"])
def test_a_weights_file_that_is_not_a_plain_npy_array_is_named(tmp_path, capsys, content, what):
    path = tmp_path / "w.npy"
    if content is None:
        np.savez(tmp_path / "w.npz", w=np.zeros((2, 2)))
        (tmp_path / "w.npz").rename(path)
    elif content == "object":
        np.save(path, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    else:
        path.write_bytes(content)
    rc = main(["netlist", "crossbar", "--rows", "2", "--cols", "2", "--weights", str(path), "-o", str(tmp_path / "x.cir")])
    err = capsys.readouterr().err
    assert rc == 2 and str(path) in err and "--weights" in err
    assert re.search(what, err), err
    assert not (tmp_path / "x.cir").exists()


@pytest.mark.parametrize("output, what", [
    ("-", r"output '-': writing to standard output is not supported"),
    ("/proc/x.cir", r"output /proc/x.cir: cannot write in /proc"),
], ids=["dash", "unwritable-folder"])
def test_an_output_that_cannot_be_written_is_named_not_a_temporary_file(tmp_path, capsys, monkeypatch, output, what):
    monkeypatch.chdir(tmp_path)
    assert main(["netlist", "crossbar", "--rows", "2", "--cols", "2", "-o", output]) == 2
    err = capsys.readouterr().err
    assert re.search(what, err), err
    assert ".x.cir." not in err and list(tmp_path.iterdir()) == []
