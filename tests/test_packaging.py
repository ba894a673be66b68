"""Package metadata and run-time data: the version is written once, every shipped data file is
matched by the package-data globs, optional features name their extra, a different ngspice
major gives one clear warning. (The wheel itself is built and installed by test_install.)"""

from __future__ import annotations

import subprocess
import sys
import tomllib
import warnings
from fnmatch import fnmatch
from pathlib import Path

import pytest

import spicegrad
from spicegrad._extras import EXTRAS, MissingExtra, require
from spicegrad.errors import InputError
from spicegrad.spice import runner
from spicegrad.spice.library import lib_path, models_dir

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_version_is_written_once_in_the_package():
    project = PYPROJECT["project"]
    assert "version" not in project and "version" in project["dynamic"]
    assert PYPROJECT["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "spicegrad.__version__"}
    assert spicegrad.__version__.count(".") == 2


def test_every_data_file_in_the_package_is_shipped():
    """Each non-Python file under spicegrad/ matches a package-data glob, so a new .lib or case
    file ships without editing a list."""
    globs = PYPROJECT["tool"]["setuptools"]["package-data"]["spicegrad"]
    package = Path(spicegrad.__file__).parent
    data = [p.relative_to(package).as_posix() for p in package.rglob("*")
            if p.is_file() and p.suffix not in (".py", ".pyc")]
    assert {"models/mss.lib", "cases/mss.toml", "py.typed"} <= set(data)
    unshipped = [d for d in data if not any(fnmatch(d, g) for g in globs)]
    assert not unshipped, f"data files no package-data glob matches: {unshipped}"


def test_license_file_and_core_dependencies():
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")
    core = " ".join(PYPROJECT["project"]["dependencies"])
    assert "dask" not in core and "PySpice" not in core, "optional features must stay extras"
    extras = PYPROJECT["project"]["optional-dependencies"]
    assert set(EXTRAS) <= set(extras), "every extra _extras.require names is declared"


def test_models_come_from_the_package_or_the_override(tmp_path, monkeypatch):
    assert lib_path("mss") == (models_dir() / "mss.lib").resolve()
    assert models_dir().is_relative_to(Path(spicegrad.__file__).parent)
    monkeypatch.setenv("SPICEGRAD_MODELS", str(tmp_path))
    with pytest.raises(InputError, match=r"no mss\.lib.*SPICEGRAD_MODELS"):
        models_dir()


@pytest.mark.parametrize("extra", sorted(EXTRAS))
def test_a_missing_extra_names_the_install_command(extra):
    """Run in a fresh interpreter where the extra's top-level module cannot be imported."""
    top = EXTRAS[extra][0].split(".")[0]
    code = (f"import sys; sys.modules[{top!r}] = None\n"
            "from spicegrad._extras import require, MissingExtra\n"
            f"try: require({extra!r})\n"
            "except MissingExtra as exc: print(exc)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60).stdout
    assert f'pip install "spicegrad[{extra}]"' in out


def test_installed_extras_import():
    assert require("dask").Client is not None
    assert issubclass(MissingExtra, InputError)


def test_another_ngspice_major_warns_once_and_clearly():
    with pytest.warns(runner.NgspiceVersionWarning, match=r"ngspice-44.*tested with ngspice-39"):
        runner.check_ngspice_major("44", "/opt/ngspice-44/bin/ngspice")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        runner.check_ngspice_major("39")
        runner.check_ngspice_major("39.3")
        assert runner.ngspice_version().split(".")[0] == "39"  # the real one on this machine


def test_python_dash_m_spicegrad():
    proc = subprocess.run([sys.executable, "-m", "spicegrad", "--version"], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0 and spicegrad.__version__ in proc.stdout + proc.stderr
