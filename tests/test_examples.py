"""Every script in examples/ runs to the end against real ngspice and prints the figure it
promises (CI's slow stage: each takes 6-60 s), and reaches only the public API."""

from __future__ import annotations

import importlib
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"

def run_example(name: str, *args: str | Path, timeout: float = 600) -> str:
    proc = subprocess.run([sys.executable, str(EXAMPLES / name), *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT)
    assert proc.returncode == 0, f"{name} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def figure(pattern: str, text: str) -> float:
    m = re.search(pattern, text)
    assert m, f"{pattern!r} not in the output:\n{text}"
    return float(m.group(1))


def test_every_example_is_listed_in_the_readme_and_has_a_docstring():
    listing = (EXAMPLES / "README.md").read_text()
    scripts = sorted(EXAMPLES.glob("*.py"))
    assert len(scripts) == 7
    for script in scripts:
        assert script.name in listing
        assert re.search(r"Runtime: about", script.read_text()), script.name


def test_examples_import_only_public_names():
    wrong = []
    for script in sorted(EXAMPLES.glob("*.py")):
        for line in script.read_text().splitlines():
            m = re.match(r"from (spicegrad[\w.]*) import (.+)", line)
            if m:
                public = set(getattr(importlib.import_module(m.group(1)), "__all__", ()))
                names = {n.strip() for n in m.group(2).split(",")}
                if m.group(1).count(".") > 1 or not names <= public:
                    wrong.append(f"{script.name}: {line}")
            elif re.match(r"import spicegrad\.", line):
                wrong.append(f"{script.name}: {line}")
    assert not wrong, wrong


@pytest.mark.slow
def test_device_in_both_halves(tmp_path):
    out = run_example("01_device_both_halves.py", tmp_path)
    assert figure(r"twin euler\s*: max \|dx\| = (\S+)", out) < 2e-3  # the MSS cases' tolerance
    assert figure(r"twin exp-euler: max \|dx\| = (\S+)", out) < 1e-5
    assert (tmp_path / "mss_sine.cir").read_text().rstrip().endswith(".end")


@pytest.mark.slow
def test_validation_report(tmp_path):
    out = run_example("02_validation_report.py", tmp_path)
    assert "every case as expected: True" in out
    assert re.search(r"mss-wrong-von-control\s+failed\s+\(expected: fail\) -> as expected", out)
    assert (tmp_path / "report" / "index.html").stat().st_size > 1000
    assert (tmp_path / "report" / "summary.json").exists()


@pytest.mark.slow
def test_crossbar_netlist_and_twin(tmp_path):
    out = run_example("03_crossbar_netlist_and_twin.py", tmp_path)
    assert figure(r"CrossbarLayer vs ngspice: max relative difference (\S+)", out) < 1e-6
    assert figure(r"ideal v\.W \(no wires\) vs ngspice: max relative difference (\S+)", out) > 1e-2
    assert figure(r"max \|x_twin - x_ngspice\| = (\S+)", out) < 2e-3
    assert {p.name for p in tmp_path.glob("*.cir")} == {"read.cir", "transient.cir"}


@pytest.mark.slow
def test_training_then_export(tmp_path):
    out = run_example("04_train_on_validated_twin.py", tmp_path / "train")
    assert figure(r"\(selected on validation\): (\S+) %", out) > 30  # chance is 10 %
    assert re.search(r"certificate mif: validated True", out)
    out = run_example("05_export_to_ngspice.py", tmp_path / "export", tmp_path / "train" / "checkpoint.pt")
    m = re.search(r"agree on (\d+) of (\d+) test samples", out)
    assert m and int(m.group(1)) >= int(m.group(2)) - 1, out
    assert figure(r"within (\S+) mV RMS", out) < 10
    assert (tmp_path / "export" / "net_mss.cir").exists()


@pytest.mark.slow
def test_bring_your_own_device(tmp_path):
    """A made-up device from outside the package: registered, validated (its wrong-v_s control fails),
    certified, and its crossbar agrees with ngspice (about 6 s)."""
    out = run_example("06_bring_your_own_device.py", tmp_path)
    assert "every case as expected: True" in out
    assert re.search(r"toy-wrong-v_s\s+failed\s+\(expected: fail\).*-> as expected", out)
    assert "certificate toy: validated True" in out
    assert figure(r"max \|x_twin - x_ngspice\| = (\S+)", out) < 1e-3
    assert {"toy.lib", "toy.toml", "crossbar.cir"} <= {p.name for p in tmp_path.iterdir()}


@pytest.mark.slow
def test_spice_in_the_loop(tmp_path):
    """A layer read by ngspice through 1T1R cells, TIAs and ADCs, trained through its twin (about 9 s)."""
    out = run_example("07_spice_in_the_loop.py", tmp_path)
    assert figure(r"circuit vs ideal twin differ by (\S+) mV", out) > 1  # the periphery is seen
    first = figure(r"mean squared error: (\S+) ->", out)
    assert figure(r"-> (\S+) mV² after", out) < 0.5 * first
    assert (tmp_path / "weights.npy").exists()
