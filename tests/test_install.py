"""The built wheel installs and runs outside the checkout: into a fresh virtualenv (with its
dependencies resolved from the wheel's metadata), with ``pip install --user`` and with
``pip install --target``. From a temporary folder, each install runs ``spicegrad demo``,
``netlist crossbar``, ``simulate`` and ``validate --quick --model mss`` — which read the
subcircuits and case files shipped as package data.

Slow (CI's second stage): it builds the wheel and installs torch into a new virtualenv.
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

import spicegrad

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
#: the torch that scripts/setup.sh installs (the CPU build here; an unpinned torch is the CUDA one)
TORCH = "torch==2.13.0"
BASE_PYTHON = getattr(sys, "_base_executable", sys.executable)


def _run(cmd, cwd, env=None, timeout=900, expect=0):
    proc = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)
    assert proc.returncode == expect, (
        f"{' '.join(map(str, cmd))} exited {proc.returncode}, expected {expect}\n"
        f"--- stdout\n{proc.stdout[-3000:]}\n--- stderr\n{proc.stderr[-3000:]}"
    )
    return proc


def _clean_env(tmp: Path, **extra) -> dict:
    """The caller's environment without anything that points back into the checkout."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONUSERBASE", "SPICEGRAD_MODELS", "SPICEGRAD_CASES")}
    env["SPICEGRAD_CACHE"] = str(tmp / "cache")
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if ".venv" not in p)
    env.update({k: str(v) for k, v in extra.items()})
    return env


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", out, REPO], cwd=out)
    (built,) = out.glob("spicegrad-*.whl")
    assert built.name.startswith(f"spicegrad-{spicegrad.__version__}-")
    return built


@pytest.fixture(scope="module")
def venv(tmp_path_factory, wheel) -> Path:
    """A fresh virtualenv with the wheel and its dependencies (no extras)."""
    root = tmp_path_factory.mktemp("venv") / "v"
    _run([BASE_PYTHON, "-m", "venv", root], cwd=root.parent)
    _run([root / "bin" / "python", "-m", "pip", "install", "-q", wheel, TORCH], cwd=root.parent)
    return root


def _site_packages(venv: Path) -> Path:
    return venv / "lib" / f"python{sysconfig.get_python_version()}" / "site-packages"


def _exercise(python: Path, where: Path, env: dict, installed_under: Path) -> None:
    """The four commands through ``python -m spicegrad``, from ``where`` (outside the checkout);
    the spicegrad they import is the one installed under ``installed_under``."""
    located = _run([python, "-c", "import spicegrad; print(spicegrad.__file__)"], where, env)
    assert Path(located.stdout.strip()).is_relative_to(installed_under), located.stdout
    sg = [python, "-m", "spicegrad"]
    demo = _run([*sg, "demo", "--model", "mss", "--out", "demo"], where, env)
    assert (where / "demo" / "summary.json").is_file(), demo.stdout
    _run([*sg, "netlist", "crossbar", "--rows", "4", "--cols", "2", "--stimulus", "sine:0.5,1e3",
          "-o", "xbar.cir"], where, env)
    _run([*sg, "simulate", "xbar.cir", "-o", "xbar.npz"], where, env)
    assert (where / "xbar.npz").stat().st_size > 0
    report = _run([*sg, "validate", "--quick", "--model", "mss", "--report", "report"], where, env)
    assert "validation PASSED" in report.stdout + report.stderr
    assert (where / "report" / "index.html").is_file()


def test_wheel_in_a_fresh_virtualenv(venv, tmp_path):
    env = _clean_env(tmp_path)
    _exercise(venv / "bin" / "python", tmp_path, env, _site_packages(venv))
    # the console script is installed too, and --help does not import torch
    _run([venv / "bin" / "spicegrad", "--help"], tmp_path, env)
    probe = _run([venv / "bin" / "python", "-c",
                  "import sys; from spicegrad.cli import main\n"
                  "try: main(['--help'])\nexcept SystemExit: pass\nprint('torch' in sys.modules)"], tmp_path, env)
    assert probe.stdout.strip().endswith("False")
    # no extras installed: a command that needs one names it
    fanout = _run([venv / "bin" / "spicegrad", "validate", "--quick", "--model", "mss", "--workers", "2",
                   "--report", "r2"], tmp_path, env, expect=2)
    assert 'spicegrad[dask]' in fanout.stderr + fanout.stdout


def test_wheel_with_pip_target(venv, wheel, tmp_path):
    target = tmp_path / "target"
    python = venv / "bin" / "python"
    _run([python, "-m", "pip", "install", "-q", "--no-deps", "--target", target, wheel], tmp_path)
    work = tmp_path / "work"
    work.mkdir()
    # the venv supplies the dependencies; its own spicegrad is shadowed by the target folder
    env = _clean_env(tmp_path, PYTHONPATH=target)
    _exercise(python, work, env, target)


def test_wheel_with_pip_user(venv, wheel, tmp_path):
    userbase = tmp_path / "userbase"
    deps = tmp_path / "deps"
    # the dependencies come from the venv's site-packages, without the venv's own spicegrad
    deps.mkdir()
    for entry in _site_packages(venv).iterdir():
        if not entry.name.startswith("spicegrad"):
            (deps / entry.name).symlink_to(entry)
    env = _clean_env(tmp_path, PYTHONUSERBASE=userbase, PYTHONPATH=deps)
    _run([BASE_PYTHON, "-m", "pip", "install", "-q", "--user", "--no-deps", "--no-warn-script-location", wheel],
         tmp_path, env)
    work = tmp_path / "work"
    work.mkdir()
    user_site = _run([BASE_PYTHON, "-m", "site", "--user-site"], work, env).stdout.strip()
    _exercise(Path(BASE_PYTHON), work, env, Path(user_site))
    _run([userbase / "bin" / "spicegrad", "--help"], work, env)
