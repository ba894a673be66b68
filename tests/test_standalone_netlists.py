"""Netlists written for users run with plain ``ngspice -b FILE`` from any folder and say what wrote them.

Each file is written into one folder, copied alone into another, and run there by the ngspice
program itself (no spicegrad runner, no raw file): exit 0 and the result table on stdout.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

import spicegrad
from spicegrad.cli import main
from spicegrad.crossbar import CrossbarSpec, crossbar_netlist
from spicegrad.export.netlist import export_netlist
from spicegrad.memprop.model import MemPropConfig, MemPropNet
from spicegrad.spice import run
from spicegrad.spice.netlist import Netlist
from spicegrad.spice.policy import check_untrusted


def ngspice_batch(netlist: Path, folder: Path) -> subprocess.CompletedProcess:
    """Copy ``netlist`` alone into ``folder`` and run ``ngspice -b NAME`` there."""
    folder.mkdir(parents=True, exist_ok=True)
    copy = Path(shutil.copy(netlist, folder))
    return subprocess.run(["ngspice", "-b", copy.name], cwd=folder, capture_output=True, text=True, timeout=120)


def header_of(text: str) -> list[str]:
    """The comment lines right under the title."""
    lines = text.splitlines()[1:]
    return [ln for ln in lines[: next(i for i, ln in enumerate(lines) if "--- inlined" in ln or not ln.startswith("*"))]]


def test_cli_crossbar_netlist_runs_with_plain_ngspice_in_another_folder(tmp_path, capsys):
    out = tmp_path / "written" / "xbar.cir"
    argv = ["netlist", "crossbar", "--rows", "3", "--cols", "2", "--neurons", "mif", "--stimulus", "sine:0.6,1e5",
            "-o", str(out)]
    assert main(argv) == 0
    text = out.read_text()
    assert ".include" not in text and ".subckt mss" in text and ".subckt mif" in text and ".control" not in text
    head = header_of(text)
    assert head[0] == f"* written by spicegrad {spicegrad.__version__}"
    assert head[1] == "* by: spicegrad " + " ".join(argv)
    assert any(ln.startswith("* run: ngspice -b") for ln in head)

    proc = ngspice_batch(out, tmp_path / "elsewhere")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "no simulations run" not in proc.stdout + proc.stderr
    table = proc.stdout
    for name in ("vsense_0#branch", "vsense_3#branch", "v(n_0)", "v(n_1)"):
        assert name in table
    # the last printed time point is the end of the transient (one period of 100 kHz)
    last = [ln.split() for ln in table.splitlines() if ln[:1].isdigit() and "\t" in ln][-1]
    assert float(last[1]) == pytest.approx(1e-5)
    # spicegrad's own runner and `simulate` (untrusted policy, no --trusted) take the same file
    copy = tmp_path / "elsewhere" / "xbar.cir"
    check_untrusted(copy.read_text(), copy)
    assert run(copy).time[-1] == pytest.approx(1e-5)
    capsys.readouterr()
    assert main(["simulate", str(copy)]) == 0
    assert "v(n_1)" in capsys.readouterr().out


def test_cli_tile_netlist_runs_with_plain_ngspice_in_another_folder(tmp_path):
    np.save(tmp_path / "w.npy", np.random.default_rng(1).normal(size=(5, 3)))
    out = tmp_path / "tile0.cir"
    assert main(["netlist", "tiles", "--weights", str(tmp_path / "w.npy"), "--tile", "4", "--tile-index", "1",
                 "-o", str(out)]) == 0
    assert "* by: spicegrad netlist tiles --weights" in out.read_text()
    proc = ngspice_batch(out, tmp_path / "elsewhere")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "vsense_7#branch" in proc.stdout


def test_op_netlist_prints_its_operating_point(tmp_path):
    out = tmp_path / "op.cir"
    assert main(["netlist", "crossbar", "--rows", "2", "--cols", "1", "--device", "resistor", "--analysis", "op",
                 "--stimulus", "dc:0.2", "-o", str(out)]) == 0
    assert ".print" not in out.read_text()  # batch mode prints an .op by itself
    proc = ngspice_batch(out, tmp_path / "elsewhere")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "vsense_0#branch" in proc.stdout and "vsense_1#branch" in proc.stdout


def test_absolute_includes_only_on_request(tmp_path):
    out = tmp_path / "abs.cir"
    assert main(["netlist", "crossbar", "--rows", "2", "--cols", "1", "--absolute-includes", "-o", str(out)]) == 0
    text = out.read_text()
    includes = [ln for ln in text.splitlines() if ln.startswith(".include")]
    assert len(includes) == 1 and Path(includes[0].split('"')[1]).is_absolute()
    assert ".subckt mss" not in text and "included by absolute path" in text
    proc = ngspice_batch(out, tmp_path / "elsewhere")  # this installation is still here
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_python_netlists_name_the_call_and_run(tmp_path):
    text = crossbar_netlist(CrossbarSpec(2, 1), "pcm")
    assert "* by: Python: spicegrad.crossbar.crossbar_circuit(CrossbarSpec(rows=2, cols=1" in text
    (tmp_path / "pcm.cir").write_text(text)
    proc = ngspice_batch(tmp_path / "pcm.cir", tmp_path / "elsewhere")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "vsense_1#branch" in proc.stdout


def test_small_export_runs_with_plain_ngspice_in_another_folder(tmp_path):
    net = MemPropNet(MemPropConfig(layers=(4, 2, 3), steps=10), torch.Generator().manual_seed(0))
    text = export_netlist(net, torch.tensor([0.0, 0.5, 1.0, 0.2]), read_scale=0.5,
                          facts={"checkpoint": "/x/ckpt.pt", "checkpoint sha256": "ab" * 32})
    head = header_of(text)
    assert "* by: Python: spicegrad.export.export_netlist(" in head[1]
    assert "* checkpoint: /x/ckpt.pt" in head and f"* checkpoint sha256: {'ab' * 32}" in head
    assert any(ln.startswith("* read scale: 0.5 ") for ln in head)
    assert ".include" not in text and ".subckt mss" in text
    (tmp_path / "net.cir").write_text(text)
    proc = ngspice_batch(tmp_path / "net.cir", tmp_path / "elsewhere")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert all(f"v(m2_{j})" in proc.stdout for j in range(3))


def test_header_values_cannot_start_a_card():
    net = Netlist("t", header=["by: spicegrad netlist crossbar -o 'x\n.control\nshell touch y\n.endc'"])
    net.resistor("1", "a", "0", 1.0)
    text = net.render()
    assert not any(ln.lstrip().startswith((".control", "shell", ".endc")) for ln in text.splitlines())
    assert text.splitlines()[1].startswith("* by: ") and "?.control?shell" in text
