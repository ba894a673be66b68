"""Hostile and careless input: files users exchange are opened safely, nothing the program did
not write is deleted, the validation gate cannot be talked round, nothing hangs. Each probe
below misbehaved on 64b305f (ran code, lost data, forged a certificate, hung or printed a
traceback); here it gets a clear refusal."""

from __future__ import annotations

import json
import os
import socket
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from test_datasets import write_fake_dataset

from spicegrad.cli import main
from spicegrad.memprop.model import MemPropConfig
from spicegrad.memprop.train import MemPropTrainConfig, load_checkpoint, train_memprop

ROOT = Path(__file__).resolve().parents[1]
NO_CERT = {"mif": {"validated": "skipped in tests"}}
TINY = MemPropConfig(layers=(196, 12, 10), steps=60, inject_every=30)


class _RunsCommand:
    """Unpickling this object runs ``touch marker`` (what a crafted checkpoint does)."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A real tiny MEMprop run: (data folder, run folder with checkpoint.pt)."""
    root = tmp_path_factory.mktemp("memprop")
    data = write_fake_dataset(root / "fashion-mnist", n_train=64, n_test=20)
    cfg = MemPropTrainConfig(net=TINY, image_size=14, epochs=1, batch_size=32, lr=1e-2, seed=3)
    train_memprop(cfg, root / "run", data=data, compile=False, progress=False, plots=False, certificates=NO_CERT,
                  log=lambda *_: None)
    return data, root / "run"


def _evil_checkpoint(path: Path, marker: Path) -> Path:
    torch.save({"format": "spicegrad-memprop/1", "config": _RunsCommand(marker), "model": {}}, path)
    return path


# --- 1. checkpoints never run code --------------------------------------------------------------


COMMANDS = {
    "export": lambda ck, out: ["export", str(ck), "-o", str(out / "net.cir")],
    "compress prune": lambda ck, out: ["compress", "prune", str(ck), "--sparsity", "0.5", "-o", str(out / "p.pt")],
    "compress quantize": lambda ck, out: ["compress", "quantize", str(ck), "--levels", "4", "-o", str(out / "q.pt")],
    "compress map": lambda ck, out: ["compress", "map", str(ck), "-o", str(out / "map")],
    "compress topology": lambda ck, out: ["compress", "topology", str(ck), "-o", str(out / "topo")],
    "compress curves": lambda ck, out: ["compress", "curves", str(ck), "-o", str(out / "curves")],
}


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_a_checkpoint_whose_pickle_runs_a_command_is_refused(command, tmp_path, capsys):
    marker = tmp_path / "pwned"
    evil = _evil_checkpoint(tmp_path / "evil.pt", marker)
    rc = main(COMMANDS[command](evil, tmp_path))
    assert rc == 2
    err = capsys.readouterr().err
    assert "evil.pt" in err and "refused" in err and "system" in err
    assert not marker.exists()


def test_resuming_memprop_from_a_crafted_checkpoint_is_refused(tmp_path, capsys, trained):
    data, _ = trained
    marker = tmp_path / "pwned"
    run = tmp_path / "run"
    run.mkdir()
    _evil_checkpoint(run / "checkpoint.pt", marker)
    rc = main(["train", "memprop", "--out", str(run), "--resume", "--data", str(data), "--image-size", "14",
               "--hidden", "12", "--steps", "60", "--inject-every", "30", "--epochs", "2", "--no-progress", "--allow-unvalidated"])
    assert rc == 2 and not marker.exists()
    assert "checkpoint.pt" in capsys.readouterr().err


@pytest.mark.parametrize("damage, words", [
    (lambda s: s["model"]["x_pos.0"].view(-1).__setitem__(0, float("nan")), "non-finite"),
    (lambda s: s["model"]["x_pos.0"].view(-1).__setitem__(0, 1.7e38), "[0, 1]"),
    (lambda s: s["model"]["x_neg.0"].view(-1).__setitem__(3, -5.0), "[0, 1]"),
    (lambda s: s.pop("config"), "no recorded configuration"),
])
def test_a_damaged_checkpoint_is_refused_with_the_value_named(damage, words, tmp_path, trained):
    from spicegrad.memprop.train import CheckpointError

    state = load_checkpoint(trained[1] / "checkpoint.pt")
    damage(state)
    bad = tmp_path / "bad.pt"
    torch.save(state, bad)
    with pytest.raises(CheckpointError, match=words.replace("[", r"\[").replace("]", r"\]")):
        load_checkpoint(bad)


def test_real_checkpoints_load_safely(trained):
    state = load_checkpoint(trained[1] / "checkpoint.pt")
    assert state["epoch"] == 1 and "x_pos.0" in state["model"]


# --- 3./4. nothing is destroyed ---------------------------------------------------------------


def _mss_sine_case(name: str, freq: float = 1000.0, t_stop: float = 0.001, dt: float = 1e-6,
                   integrator: str = "exp-euler", tolerance: str = "x = { max_abs = 2e-3 }") -> str:
    """One [[case]] table: the knowm-default MSS under a 0.5 V sine."""
    return f'''[[case]]
name = "{name}"
model = "mss"
preset = "knowm-default"
stimulus = {{ kind = "sine", amplitude = 0.5, freq = {freq!r} }}
t_stop = {t_stop!r}
dt = {dt!r}
integrator = "{integrator}"
tolerance = {{ {tolerance} }}
'''


def _quick_case_file(tmp_path: Path, name: str = "rc-sine") -> Path:
    case = tmp_path / "cases.toml"
    case.write_text(_mss_sine_case(name))
    return case


def test_report_into_a_folder_holding_other_files_is_refused_and_nothing_is_deleted(tmp_path, capsys):
    thesis = tmp_path / "work"
    thesis.mkdir()
    (thesis / "thesis.tex").write_text("years of work")
    rc = main(["validate", "--cases", str(_quick_case_file(tmp_path)), "--no-sweep", "--report", str(thesis)])
    assert rc == 2 and "holds other files" in capsys.readouterr().err
    assert (thesis / "thesis.tex").read_text() == "years of work"
    assert sorted(p.name for p in thesis.iterdir()) == ["thesis.tex"]


def test_report_into_the_working_folder_and_onto_a_file_is_refused(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes.txt").write_text("keep")
    cases = _quick_case_file(tmp_path)
    assert main(["validate", "--cases", str(cases), "--no-sweep", "--report", "."]) == 2
    assert main(["validate", "--cases", str(cases), "--no-sweep", "--report", "notes.txt"]) == 2
    assert (tmp_path / "notes.txt").read_text() == "keep"
    assert not list(tmp_path.glob(".notes.txt*")) and not list(tmp_path.glob(".*.old"))


def test_an_earlier_report_is_replaced(tmp_path):
    cases = _quick_case_file(tmp_path)
    report = tmp_path / "report"
    assert main(["validate", "--cases", str(cases), "--no-sweep", "--report", str(report)]) == 0
    first = json.loads((report / "summary.json").read_text())
    assert main(["validate", "--cases", str(cases), "--no-sweep", "--report", str(report), "--no-cache"]) == 0
    assert json.loads((report / "summary.json").read_text())["cases"][0]["name"] == first["cases"][0]["name"]
    assert sorted(p.name for p in report.iterdir()) == ["index.html", "plots", "summary.json"]


@pytest.mark.parametrize("name", ["../../escape", "a/b", "x\\y", ".hidden", ""])
def test_case_names_that_are_paths_are_refused(name, tmp_path, capsys):
    rc = main(["validate", "--cases", str(_quick_case_file(tmp_path, name)), "--no-sweep",
               "--report", str(tmp_path / "r")])
    assert rc == 2 and "name" in capsys.readouterr().err
    assert not list(tmp_path.parent.glob("*.png"))


def test_memprop_refuses_to_overwrite_a_trained_checkpoint(trained, capsys):
    data, run = trained
    before = (run / "checkpoint.pt").read_bytes()
    rc = main(["train", "memprop", "--out", str(run), "--data", str(data), "--image-size", "14",
               "--hidden", "12", "--steps", "60", "--inject-every", "30", "--epochs", "1", "--no-progress", "--allow-unvalidated"])
    err = capsys.readouterr().err
    assert rc == 2 and "--resume" in err and "fresh --out" in err
    assert (run / "checkpoint.pt").read_bytes() == before


def test_resuming_a_finished_run_redraws_its_outputs(trained, tmp_path):
    import shutil

    data, run = trained
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    for name in ("metrics.json", "curves.png"):  # as if killed between checkpoint and outputs
        (copy / name).unlink(missing_ok=True)
    cfg = MemPropTrainConfig(net=TINY, image_size=14, epochs=1, batch_size=32, lr=1e-2, seed=3)
    metrics = train_memprop(cfg, copy, data=data, resume=True, compile=False, progress=False, plots=True,
                            certificates=NO_CERT, log=lambda *_: None)
    assert metrics["test_accuracy"] is not None and (copy / "metrics.json").exists() and (copy / "curves.png").exists()


# --- 5. the validation gate ----------------------------------------------------------------------


def test_a_case_file_reusing_a_certification_name_cannot_make_a_certificate(tmp_path):
    """The shipped mss-sine-100hz-exp-euler case, renamed copies with a tolerance of 1.0 at a
    dt where the twin fails: `validate` passes them, but no certificate results."""
    from spicegrad.devices.mss import MSSParams
    from spicegrad.validate.certificates import certificates_dir, load_certificate

    forged = tmp_path / "forged.toml"
    forged.write_text("".join(
        _mss_sine_case(name, freq=100.0, t_stop=0.02, dt=5e-5, integrator="euler",
                       tolerance="x = { max_abs = 1.0 }, i = { nrmse = 1.0 }")
        for name in ("mss-sine-100hz", "mss-sine-100hz-exp-euler@dt=5e-05,euler")))
    assert main(["validate", "--cases", str(forged), "--no-sweep"]) == 0
    assert load_certificate("mss", MSSParams.preset("knowm-default"), 5e-5, "euler") is None
    assert not list(certificates_dir().glob("*.json"))


@pytest.mark.slow  # three certification cases in ngspice: CI's slow stage
def test_validate_and_require_certified_share_certificates(tmp_path, monkeypatch):
    """A shipped case run by `spicegrad validate` counts for training: require_certified only
    runs the certification cases that are still missing."""
    import spicegrad.validate.certificates as certificates
    import spicegrad.validate.engine as engine
    from spicegrad.devices.mss import MSSParams
    from spicegrad.validate import load_cases, require_certified

    shipped = next(c for c in load_cases() if c.name == "mss-square-train")
    blocks = (ROOT / "spicegrad" / "cases" / "mss.toml").read_text().split("[[case]]")
    case_file = tmp_path / "one.toml"  # the shipped case, verbatim
    case_file.write_text("[[case]]" + next(b for b in blocks if 'name = "mss-square-train"' in b))
    assert main(["validate", "--cases", str(case_file), "--no-sweep"]) == 0
    ran = []
    real = engine.run_case
    monkeypatch.setattr(engine, "run_case", lambda c, **kw: ran.append(c.name) or real(c, **kw))
    cert = require_certified("mss", MSSParams.preset("knowm-default"), shipped.dt, shipped.integrator)
    assert cert["validated"] is True
    assert not any(name.startswith("mss-square-train") for name in ran)
    assert certificates.base_name("mss-square-train@dt=1e-06,exp-euler") in cert["cases"]


# --- 6. nothing hangs -----------------------------------------------------------------------------


@pytest.mark.parametrize("workers", ["0", "-1"])
def test_validate_refuses_zero_or_negative_workers(workers, tmp_path, capsys):
    rc = main(["validate", "--cases", str(_quick_case_file(tmp_path)), "--no-sweep", "--workers", workers])
    assert rc == 2 and "--workers" in capsys.readouterr().err


@pytest.mark.slow  # waits out the bound: CI's slow stage
def test_an_address_that_is_not_a_dask_scheduler_fails_in_bounded_time(tmp_path, capsys, monkeypatch):
    """A TCP listener on localhost that accepts and never answers (bounded: it closes itself)."""
    import spicegrad.validate.fanout as fanout

    monkeypatch.setattr(fanout, "WORKER_WAIT_S", 5.0)  # the default 30 s, shortened for the test
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(4)
    port = server.getsockname()[1]
    stop = threading.Event()

    def accept():
        server.settimeout(0.5)
        held = []
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue
        for conn in held:
            conn.close()
        server.close()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        rc = main(["validate", "--cases", str(_quick_case_file(tmp_path)), "--no-sweep",
                   "--scheduler", f"tcp://127.0.0.1:{port}"])
    finally:
        stop.set()
        thread.join(10)
    assert rc == 2 and "scheduler" in capsys.readouterr().err.lower()


def test_a_huge_crossbar_is_refused_before_anything_is_allocated(tmp_path, capsys):
    assert main(["netlist", "crossbar", "--rows", "100000", "--cols", "100000", "-o", str(tmp_path / "x.cir")]) == 2
    assert "--force" in capsys.readouterr().err and not (tmp_path / "x.cir").exists()
    np.save(tmp_path / "w.npy", np.ones((3, 3)))
    assert main(["netlist", "tiles", "--weights", str(tmp_path / "w.npy"), "--tile", "100000", "--tile-index", "0",
                 "-o", str(tmp_path / "t.cir")]) == 2
    assert "--force" in capsys.readouterr().err


def test_a_long_pwl_stimulus_counts_in_the_size_estimate(tmp_path, capsys):
    t = np.linspace(0, 1e-3, 200_000)
    np.save(tmp_path / "pwl.npy", np.stack([t, np.sin(t)], 1))
    rc = main(["netlist", "crossbar", "--rows", "8", "--cols", "4", "--stimulus", f"pwl:{tmp_path / 'pwl.npy'}",
               "-o", str(tmp_path / "x.cir")])
    assert rc == 2 and "MiB" in capsys.readouterr().err and not (tmp_path / "x.cir").exists()


def test_a_scheduler_without_workers_fails_in_bounded_time(tmp_path, capsys, monkeypatch):
    from dask.distributed import LocalCluster

    import spicegrad.validate.fanout as fanout

    monkeypatch.setattr(fanout, "WORKER_WAIT_S", 3.0)
    with LocalCluster(n_workers=0, processes=False, dashboard_address=None) as empty:
        rc = main(["validate", "--cases", str(_quick_case_file(tmp_path)), "--no-sweep",
                   "--scheduler", empty.scheduler_address])
    assert rc == 2 and "no worker" in capsys.readouterr().err


def test_huge_training_sizes_are_refused_before_anything_is_allocated(tmp_path, capsys):
    for flag, value in (("--steps", "100000000"), ("--batch-size", "100000000"), ("--hidden", "100000000")):
        rc = main(["train", "memprop", "--out", str(tmp_path / flag), flag, value, "--allow-unvalidated"])
        err = capsys.readouterr().err
        assert rc == 2 and "GiB" in err and "--force" in err, (flag, err)
        assert not (tmp_path / flag).exists()
    assert main(["train", "manhattan", "--runs", "1000000000", "--out", str(tmp_path / "m")]) == 2
    assert "--runs" in capsys.readouterr().err


# --- 7. silent divergence --------------------------------------------------------------------------


def test_mss_forward_euler_past_its_stability_bound_warns_and_names_the_stable_integrator():
    from spicegrad.devices import MSS

    mss = MSS()
    v = torch.full((50,), 0.5, dtype=torch.float64)
    with pytest.warns(RuntimeWarning, match="exp-euler") as caught:
        out = mss.simulate(v, dt=2.5 * mss.params.tau)
    assert "diverged" in str(caught[0].message) and out["x"][-1] < -1e6  # the issue's -6.3e8
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        mss.simulate(v, dt=1e-6)  # within the bound: silent
        mss.simulate(v, dt=1.0, integrator="exp-euler")  # exact for held inputs: silent


# --- 8. clear errors instead of tracebacks -----------------------------------------------------


def test_output_paths_that_cannot_be_files_are_clear_errors(tmp_path, capsys):
    (tmp_path / "folder").mkdir()
    (tmp_path / "file").write_text("x")
    for out, words in ((tmp_path / "folder", "is a folder"), (tmp_path / "file" / "x.cir", "is a file"), ("", "''")):
        assert main(["netlist", "crossbar", "--rows", "2", "--cols", "2", "-o", str(out)]) == 2
        assert words in capsys.readouterr().err


def test_pwl_stimulus_files_that_are_not_real_arrays_are_clear_errors(tmp_path, capsys):
    t = np.linspace(0, 1e-3, 10)
    np.save(tmp_path / "complex.npy", np.stack([t, 1j * t], 1))
    np.savez(tmp_path / "archive.npz", a=np.stack([t, t], 1))
    for name, words in (("complex.npy", "real"), ("archive.npz", ".npz")):
        rc = main(["netlist", "crossbar", "--rows", "2", "--cols", "2", "--stimulus", f"pwl:{tmp_path / name}",
                   "-o", str(tmp_path / "x.cir")])
        assert rc == 2 and words in capsys.readouterr().err


def test_wrongly_typed_case_fields_are_clear_errors(tmp_path, capsys):
    base = _quick_case_file(tmp_path).read_text()
    for line, words in (('seed = "abc"', "seed"), ("name = 42", "name"), ("spice = { max_step = 0 }", "max_step"),
                        ("ensemble = 1000000000", "ensemble"), ("spice = { max_step = 1e-15 }", "timepoints")):
        bad = tmp_path / "bad.toml"
        bad.write_text(base.replace('name = "rc-sine"', line) if line.startswith("name") else base + line + "\n")
        assert main(["validate", "--cases", str(bad), "--no-sweep"]) == 2
        assert words in capsys.readouterr().err, line


def test_bad_training_options_are_clear_errors(tmp_path, capsys):
    assert main(["train", "eprop", "--epochs", "0", "--out", str(tmp_path / "e")]) == 2
    assert "--epochs 0" in capsys.readouterr().err
    for device in ("meta", "cuda:7" if torch.cuda.is_available() else "cuda", "tpu"):
        with pytest.raises(SystemExit) as exit_info:
            main(["train", "memprop", "--out", str(tmp_path / "m"), "--device", device])
        assert exit_info.value.code == 2 and "--device" in capsys.readouterr().err


def test_an_ngspice_killed_mid_run_marks_its_case_errored_and_the_report_is_written(tmp_path, capsys):
    """A real ngspice child is killed (SIGKILL) while it runs a long case: the report names the
    signal, the next case still runs."""
    import subprocess as sp
    import time

    cases = tmp_path / "cases.toml"
    cases.write_text(_quick_case_file(tmp_path).read_text().replace('"rc-sine"', '"long-one"')
                     .replace("t_stop = 0.001", "t_stop = 0.5") + _quick_case_file(tmp_path, "short-one").read_text())
    stop = threading.Event()

    def killer():
        while not stop.is_set():
            pids = sp.run(["pgrep", "-P", str(os.getpid()), "-x", "ngspice"], capture_output=True, text=True).stdout.split()
            if pids:
                time.sleep(0.5)
                sp.run(["kill", "-9", *pids])
                return
            time.sleep(0.05)

    thread = threading.Thread(target=killer, daemon=True)
    thread.start()
    report = tmp_path / "report"
    try:
        rc = main(["validate", "--cases", str(cases), "--no-sweep", "--no-cache", "--report", str(report)])
    finally:
        stop.set()
        thread.join(10)
    assert rc == 1
    summary = json.loads((report / "summary.json").read_text())
    by_name = {c["name"]: c for c in summary["cases"]}
    assert by_name["long-one"]["status"] == "error" and "killed by signal 9" in " ".join(by_name["long-one"]["broken"])
    assert by_name["short-one"]["status"] == "passed"


@pytest.mark.slow  # a fresh process and an ngspice run: CI's slow stage
def test_sigterm_stops_the_validator_and_removes_its_temporary_files(tmp_path):
    import signal
    import subprocess as sp
    import sys
    import time

    cases = tmp_path / "cases.toml"
    cases.write_text(_quick_case_file(tmp_path).read_text().replace("t_stop = 0.001", "t_stop = 0.5"))
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    proc = sp.Popen([sys.executable, "-m", "spicegrad", "validate", "--cases", str(cases), "--no-sweep", "--no-cache"],
                    env={**os.environ, "TMPDIR": str(scratch)}, stdout=sp.PIPE, stderr=sp.PIPE, text=True)
    deadline = time.time() + 60
    while time.time() < deadline and not list(scratch.glob("spicegrad-*/netlist.cir")):
        time.sleep(0.1)
    assert list(scratch.glob("spicegrad-*")), "ngspice never started"
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "interrupted" in err
    assert not list(scratch.glob("spicegrad-*"))


CRAFTED_STATES = {
    "config-is-a-list": ({"config": [1, 2]}, "configuration"),
    "compression-is-a-list": ({"config": {}, "compression": [1]}, "compression"),
    "model-value-not-a-tensor": ({"config": {}, "model": {"x_pos.0": 5}}, "not tensors"),
    "complex-state": ({"config": {}, "model": {"x_pos.0": torch.zeros(2, 2, dtype=torch.complex64)}}, "complex"),
    "expanded-view": ({"config": {}, "model": {"x_pos.0": torch.full((1,), 0.5).expand(10**6, 10**6)}}, "expanded"),
}


@pytest.mark.parametrize("name", sorted(CRAFTED_STATES))
def test_crafted_checkpoint_contents_are_clear_errors(name, tmp_path, capsys):
    content, words = CRAFTED_STATES[name]
    path = tmp_path / f"{name}.pt"
    torch.save({"format": "spicegrad-memprop/1", "model": {"x_pos.0": torch.zeros(2, 2)}, **content}, path)
    assert main(["compress", "map", str(path), "--tile", "4", "-o", str(tmp_path / "m")]) == 2
    assert words in capsys.readouterr().err


@pytest.mark.parametrize("value", ["inf", "nan", "-1", "soon"])
def test_a_wait_that_is_not_a_finite_positive_time_is_refused(value, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("SPICEGRAD_DASK_WAIT_S", value)
    rc = main(["validate", "--cases", str(_quick_case_file(tmp_path)), "--no-sweep", "--scheduler", "tcp://127.0.0.1:9"])
    assert rc == 2 and "SPICEGRAD_DASK_WAIT_S" in capsys.readouterr().err
