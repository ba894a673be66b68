"""Slow validator checks: the quick suite through a real Dask cluster, the report in Chromium."""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from spicegrad.validate import load_cases, run_suite

pytestmark = pytest.mark.slow

CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--allow-file-access-from-files", "--virtual-time-budget=15000", "--dump-dom",
]
CHECK_PAGE = """<!doctype html><html><body><div id="out">pending</div>
<iframe id="f" src="{src}" style="width:1200px;height:800px"></iframe>
<script>
window.addEventListener("load", () => {{
  const imgs = Array.from(document.getElementById("f").contentDocument.images);
  const bad = imgs.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.getAttribute("src"));
  document.getElementById("out").textContent = "RESULT images=" + imgs.length + " broken=" + bad.length;
}});
</script></body></html>"""


def comparable(results):
    """What a run decides: everything but wall-clock time, cache bookkeeping and plot arrays."""
    return [json.dumps({k: v for k, v in r.items() if k not in ("seconds", "traces", "from_cache")},
                       sort_keys=True, default=str)
            for r in results]


@pytest.fixture()
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SPICEGRAD_CACHE", str(tmp_path / "cache"))


def test_quick_suite_through_real_dask_scheduler_and_two_workers_matches_serial(tmp_path, private_cache):
    cases = [c for c in load_cases() if c.quick]
    sweeps = [c for c in cases if c.name in ("mss-sine-100hz",)]
    serial, serial_sweeps = run_suite(cases, sweeps, use_cache=False, progress=False, quick=True)

    dask = str(Path(sys.executable).with_name("dask"))
    info = tmp_path / "scheduler.json"
    env = {**os.environ, "SPICEGRAD_CACHE": str(tmp_path / "cache-workers")}
    procs = [subprocess.Popen([dask, "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                               "--scheduler-file", str(info)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    try:
        deadline = time.time() + 60
        while not info.exists() and time.time() < deadline:
            time.sleep(0.2)
        address = json.loads(info.read_text())["address"]
        assert address.startswith("tcp://127.0.0.1:")
        for _ in range(2):
            procs.append(subprocess.Popen([dask, "worker", address, "--nthreads", "1", "--no-dashboard"],
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env))
        from dask.distributed import Client

        with Client(address, timeout="30s") as client:
            client.wait_for_workers(2, timeout=120)
            assert len(client.scheduler_info()["workers"]) == 2
        fanned, fanned_sweeps = run_suite(cases, sweeps, scheduler=address, use_cache=False, progress=False, quick=True)
    finally:
        for p in procs[::-1]:
            p.terminate()
        for p in procs:
            p.wait(timeout=30)
    assert comparable(fanned) == comparable(serial)
    assert json.dumps(fanned_sweeps, sort_keys=True) == json.dumps(serial_sweeps, sort_keys=True)
    assert all(r["as_expected"] for r in fanned)


def test_local_cluster_workers_flag_gives_the_serial_results(private_cache):
    cases = [c for c in load_cases() if c.quick and c.model in ("pcm", "mss")]
    serial, _ = run_suite(cases, progress=False, use_cache=False)
    fanned, _ = run_suite(cases, workers=2, progress=False, use_cache=False)
    assert comparable(fanned) == comparable(serial)


@pytest.mark.skipif(shutil.which("chromium") is None, reason="Chromium is not installed (CI's slow stage installs it: apt-get install chromium)")
def test_report_renders_in_headless_chromium_with_every_image_loaded(tmp_path, private_cache):
    out = tmp_path / "report"
    proc = subprocess.run([sys.executable, "-m", "spicegrad.cli", "validate", "--quick", "--report", str(out)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr

    def render(folder: str) -> str:
        page = tmp_path / f"check-{folder}.html"
        page.write_text(CHECK_PAGE.format(src=f"{folder}/index.html"))
        dom = subprocess.run(["chromium", *CHROMIUM_FLAGS, f"--user-data-dir={tempfile.mkdtemp()}", page.as_uri()],
                             capture_output=True, text=True, timeout=120).stdout
        return dom[dom.index("RESULT"):].split("<")[0]

    n_images = len(list((out / "plots").glob("*.png")))
    assert render("report") == f"RESULT images={n_images} broken=0"
    # the check can fail: a report with a plot missing shows it
    shutil.copytree(out, tmp_path / "broken")
    next((tmp_path / "broken" / "plots").glob("*.png")).unlink()
    assert render("broken") == f"RESULT images={n_images} broken=1"
