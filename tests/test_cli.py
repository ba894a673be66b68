"""The `spicegrad` command as a user runs it: a real process, real ngspice, real files."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from spicegrad import __version__

ROOT = Path(__file__).resolve().parents[1]


def spicegrad(*args, cwd=None, timeout=300):
    return subprocess.run(
        [sys.executable, "-m", "spicegrad.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=timeout,
    )


def test_version_and_help_exit_zero():
    v = spicegrad("--version")
    assert v.returncode == 0 and v.stdout.strip() == f"spicegrad {__version__}"
    h = spicegrad("--help")
    assert h.returncode == 0 and "demo" in h.stdout and "simulate" in h.stdout
    for sub in ("demo", "simulate"):
        assert spicegrad(sub, "--help").returncode == 0


#: built in one process for every command and subcommand: walks COMMANDS, prints one line per
#: help (its exit status) and then the heavy modules that building the helps imported
_EVERY_HELP = """
import argparse, contextlib, io, sys
from spicegrad.cli import COMMANDS, build_parser, main

def paths(parser, path):
    yield path
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from paths(sub, [*path, name])

for command in COMMANDS:
    top = next(a for a in build_parser([command])._actions if isinstance(a, argparse._SubParsersAction))
    for path in paths(top.choices[command], [command]):
        with contextlib.redirect_stdout(io.StringIO()) as text:
            try:
                main([*path, "--help"])
                status = None
            except SystemExit as exc:
                status = exc.code
        print(" ".join(path), status, "usage: spicegrad " + " ".join(path) in text.getvalue())
print("heavy:", *sorted(m for m in ("torch", "numpy", "scipy", "matplotlib") if m in sys.modules))
"""


def test_every_commands_help_builds_without_torch_numpy_scipy_or_matplotlib():
    proc = subprocess.run([sys.executable, "-c", _EVERY_HELP], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    *helps, heavy = proc.stdout.splitlines()
    assert heavy == "heavy:", f"building every --help imported {heavy.split(':')[1]}"
    walked = {line.rsplit(" ", 2)[0] for line in helps}
    assert {"demo", "validate", "netlist crossbar", "netlist tiles", "pcm replicate", "export", "compress curves",
            "train memprop", "train eprop", "train manhattan", "train stdp", "train compress map", "cache info"} <= walked
    assert all(line.endswith(" 0 True") for line in helps), [line for line in helps if not line.endswith(" 0 True")]


def test_simulate_writes_npz_of_the_netlists_vectors(tmp_path):
    net = tmp_path / "rc.cir"
    net.write_text("rc\nV1 a 0 SIN(0 1 1000)\nR1 a b 1000\nC1 b 0 1e-6\n.tran 1e-6 2e-3\n.end\n")
    proc = spicegrad("simulate", str(net), "-o", str(tmp_path / "rc.npz"))
    assert proc.returncode == 0, proc.stderr
    data = np.load(tmp_path / "rc.npz")
    assert {"time", "v(a)", "v(b)", "i(v1)"} <= set(data.files)
    assert data["time"][-1] == pytest.approx(2e-3)


def test_simulate_refuses_shell_in_control_block_unless_allowed(tmp_path):
    marker = tmp_path / "pwned"
    net = tmp_path / "evil.cir"
    net.write_text(
        "evil\nV1 a 0 DC 1\nR1 a 0 1k\n.tran 1u 10u\n.control\nrun\n"
        f"shell touch {marker}\n.endc\n.end\n"
    )
    refused = spicegrad("simulate", str(net))
    assert refused.returncode == 2 and "--trusted" in refused.stderr and ".control" in refused.stderr
    assert not marker.exists()


def test_simulate_reports_ngspice_error_with_line(tmp_path):
    net = tmp_path / "bad.cir"
    net.write_text("bad\nV1 a 0 DC 1\nX1 a 0 nosuch\n.tran 1u 1m\n.end\n")
    proc = spicegrad("simulate", str(net))
    assert proc.returncode == 4  # ngspice failed (spicegrad.errors.EXIT_CODES)
    assert "unknown subckt" in proc.stderr and "X1 a 0 nosuch" in proc.stderr


def test_demo_writes_plot_and_summary(tmp_path):
    proc = spicegrad("demo", "--model", "mss", "--out", str(tmp_path / "demo"))
    assert proc.returncode == 0, proc.stderr
    summary = json.loads((tmp_path / "demo" / "summary.json").read_text())
    assert summary["ngspice_version"] and summary["runs"][0]["model"] == "mss"
    assert summary["runs"][0]["errors"]["x"]["max_abs"] <= 2e-3
    png = (tmp_path / "demo" / "mss.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 20_000


def test_readme_opens_with_the_two_commands_and_its_example_runs(tmp_path):
    text = (ROOT / "README.md").read_text()
    first = re.search(r"```bash\n(.*?)```", text, re.DOTALL).group(1).strip().splitlines()
    assert first[0].startswith("bash scripts/setup.sh &&") and "demo" in first[0]
    assert first[1].startswith("bash scripts/setup.sh --test &&") and "pytest" in first[1]
    assert "pytest" in (ROOT / ".ci" / "run").read_text() and first[1] in (ROOT / ".ci" / "run").read_text()
    example = re.search(r"```python\n(.*?)```", text, re.DOTALL).group(1)
    assert len(example.strip().splitlines()) <= 10
    proc = subprocess.run([sys.executable, "-c", example], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "mss.png").stat().st_size > 10_000


@pytest.mark.slow
def test_characterize_writes_response_table_fi_curve_and_divergence(tmp_path):
    proc = spicegrad("characterize", "--out", str(tmp_path), timeout=600)
    assert proc.returncode == 0, proc.stderr
    data = json.loads((tmp_path / "mif_characterization.json").read_text())
    twin = [r for r in data["memprop_response"] if r["source"] == "twin"]
    peaks = [r["peak_mV"] for r in twin]
    assert peaks == sorted(peaks)  # graded with input
    spice = {r["amplitude_uA"]: r for r in data["memprop_response"] if r["source"] == "ngspice"}
    for r in twin:
        if r["amplitude_uA"] in spice:
            assert abs(r["peak_mV"] - spice[r["amplitude_uA"]]["peak_mV"]) < 0.1
    assert data["max_reduced_divergence_per_s"]["memprop"] < 0 < data["max_reduced_divergence_per_s"]["tonic"]
    assert any(r["rate_hz"] > 900 for r in data["tonic_fi"])
    for png in ("memprop_response.png", "tonic_fi.png"):
        assert (tmp_path / png).stat().st_size > 10_000


def test_a_closed_output_pipe_ends_quietly_with_141(tmp_path):
    """`spicegrad ... | head -1` once head has gone: no traceback, the SIGPIPE status a shell
    expects. Standard output is a real pipe whose reading end is closed."""
    code = ("import os, sys\n"
            "r, w = os.pipe(); os.close(r); os.dup2(w, 1)\n"
            "from spicegrad.cli import main\n"
            "sys.exit(main(['cache', 'info']))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "SPICEGRAD_CACHE": str(tmp_path)})
    assert proc.returncode == 141 and proc.stderr == ""
