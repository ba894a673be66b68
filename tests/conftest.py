import os
import shutil

import pytest

# Tests run ngspice for real; without it they cannot say anything.
if shutil.which(os.environ.get("SPICEGRAD_NGSPICE", "ngspice")) is None:
    pytest.exit("ngspice is not installed: run `sudo apt-get install ngspice libngspice0`", returncode=2)


@pytest.fixture
def one_thread():
    """One torch intra-op thread: the per-step tensors of the small training tests are tiny, and
    one thread is fastest and immune to a busy machine."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="session")
def session_spice_cache(tmp_path_factory):
    """ngspice results of this test session only (content-addressed by netlist text, included
    files and ngspice version: a shared entry is the same simulation, so sharing cannot change a
    verdict). Never the user's cache."""
    return tmp_path_factory.mktemp("spicegrad-ngspice-results")


@pytest.fixture(autouse=True)
def private_cache(tmp_path_factory, monkeypatch, session_spice_cache):
    """Every test gets its own empty cache folder — case results and certificates — never the
    user's ~/.cache/spicegrad: results and certificates left by earlier runs or other tests
    cannot change a verdict. A test that needs a warm cache builds it itself."""
    folder = tmp_path_factory.mktemp("spicegrad-cache")
    monkeypatch.setenv("SPICEGRAD_CACHE", str(folder))
    monkeypatch.setenv("SPICEGRAD_SPICE_CACHE", str(session_spice_cache))
    return folder
