"""spicegrad as a guest in someone else's process: it never switches matplotlib's backend, never
reconfigures another library's loggers, and draws progress bars only on a terminal."""

from __future__ import annotations

import ast
import io
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

import spicegrad
from spicegrad import _progress
from spicegrad._figure import new_figure, subplots
from spicegrad._io import atomic_savefig
from spicegrad._progress import announce, progress

PACKAGE = Path(spicegrad.__file__).parent
ROOT = PACKAGE.parent


def _calls(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            yield node, ast.unparse(node.func)


def _imports(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level:
            yield node.module or ""


def test_no_module_switches_the_backend_uses_pyplot_or_imports_tqdm_directly():
    wrong = []
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text())
        name = path.relative_to(ROOT)
        wrong += [f"{name}: {f}()" for _, f in _calls(tree) if f in ("matplotlib.use", "plt.switch_backend")]
        wrong += [f"{name}: import {m}" for m in _imports(tree) if m == "matplotlib.pyplot"]
        if path.name != "_progress.py":
            wrong += [f"{name}: import {m} (use spicegrad._progress.progress)" for m in _imports(tree)
                      if m.split(".")[0] == "tqdm"]
    assert not wrong, "\n".join(wrong)


def test_no_module_configures_a_logger_it_does_not_own():
    """Handlers, levels and propagation are set on ``spicegrad`` loggers only (or not at all);
    ``logging.basicConfig`` belongs to the application (``spicegrad.cli.main``, the command);
    dask's logs are not silenced by us."""
    wrong = []
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text())
        name = path.relative_to(ROOT)
        for call, func in _calls(tree):
            if func in ("logging.basicConfig", "logging.disable", "logging.captureWarnings") \
                    and name != Path("spicegrad/cli.py"):
                wrong.append(f"{name}: {func}()")
            if func == "logging.getLogger" and call.args and isinstance(call.args[0], ast.Constant) \
                    and not str(call.args[0].value).startswith("spicegrad"):
                parent = next((p for p in ast.walk(tree) for c in ast.iter_child_nodes(p) if c is call), None)
                if isinstance(parent, ast.Attribute) and parent.attr in ("setLevel", "addHandler", "handlers",
                                                                          "propagate"):
                    wrong.append(f"{name}: getLogger({call.args[0].value!r}).{parent.attr}")
            wrong += [f"{name}: {func}(silence_logs=...)" for kw in call.keywords if kw.arg == "silence_logs"]
        for node in ast.walk(tree):
            if isinstance(node, ast.Assign) and any(isinstance(t, ast.Attribute) and t.attr == "propagate"
                                                    or isinstance(t, ast.Subscript)
                                                    and ast.unparse(t.value).endswith(".handlers")
                                                    for t in node.targets):
                wrong.append(f"{name}:{node.lineno}: {ast.unparse(node)}")
    assert not wrong, "\n".join(wrong)


def test_figures_are_drawn_outside_pyplot_and_saved_in_the_format_of_the_suffix(tmp_path):
    import matplotlib

    backend = matplotlib.rcParams["backend"]  # the raw setting: reading it resolves nothing
    fig, axes = subplots(1, 2, figsize=(4, 2), sharey=True)
    axes[0].plot([0, 1], [1, 0])
    fig.tight_layout()
    png, svg = atomic_savefig(fig, tmp_path / "a.png", dpi=50), atomic_savefig(fig, tmp_path / "a.svg")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert b"<svg" in svg.read_bytes()[:400]
    three_d = new_figure(figsize=(3, 3)).add_subplot(projection="3d")
    three_d.bar3d([0], [0], [0], 1, 1, [1])
    assert atomic_savefig(three_d.figure, tmp_path / "b.png").stat().st_size > 0
    assert matplotlib.rcParams["backend"] == backend
    if "matplotlib.pyplot" in sys.modules:
        assert sys.modules["matplotlib.pyplot"].get_fignums() == []


_IMPORT_EVERYTHING = r"""
import importlib, json, logging, pkgutil, sys
import matplotlib
assert matplotlib.get_backend() == "svg"
# the libraries spicegrad builds on configure their own loggers when they are imported: import
# them first, so that what changes afterwards is spicegrad's doing
for dep in ("numpy", "scipy.integrate", "torch", "networkx", "tqdm", "matplotlib.figure",
            "matplotlib.backends.backend_agg", "distributed", "PySpice.Spice.NgSpice.Shared"):
    try:
        importlib.import_module(dep)
    except ImportError:
        pass

def loggers():
    out = {}
    for name, lg in list(logging.Logger.manager.loggerDict.items()):
        if isinstance(lg, logging.Logger) and name.split(".")[0] != "spicegrad":
            out[name] = [lg.level, lg.propagate, lg.disabled, [repr(h) for h in lg.handlers],
                         [repr(f) for f in lg.filters]]
    root = logging.getLogger()
    out["<root>"] = [root.level, [repr(h) for h in root.handlers], [repr(f) for f in root.filters]]
    return out

before = loggers()
import spicegrad
for info in pkgutil.walk_packages(spicegrad.__path__, "spicegrad."):
    if info.name != "spicegrad.__main__":
        importlib.import_module(info.name)
after_import = matplotlib.get_backend()
from spicegrad.eprop.plots import plot_loss
plot_loss([{"epoch": 1, "train_mse": 0.5}, {"epoch": 2, "train_mse": 0.2}], __import__("pathlib").Path(sys.argv[1]), "x")
after = loggers()
# a logger another library created while spicegrad imported it is that library's own business,
# unless it carries a level, a handler other than NullHandler, or no propagation
new = {k: v for k, v in after.items() if k not in before
       and (v[0] != 0 or not v[1] or any("NullHandler" not in h for h in v[3]))}
changed = {k: [before[k], after[k]] for k in before if before[k] != after.get(k)}
print(json.dumps({"after_import": after_import, "after_plot": matplotlib.get_backend(),
                  "pyplot": "matplotlib.pyplot" in sys.modules, "changed": changed, "new": new}))
"""


@pytest.mark.slow  # imports all 115 modules, torch included: about 10-20 s
def test_importing_every_module_and_plotting_leaves_backend_and_foreign_loggers_alone(tmp_path):
    env = {**os.environ, "MPLBACKEND": "svg"}
    env.pop("DISPLAY", None)
    out = tmp_path / "loss.png"
    proc = subprocess.run([sys.executable, "-c", _IMPORT_EVERYTHING, str(out)], env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["after_import"] == report["after_plot"] == "svg"
    assert not report["pyplot"], "a spicegrad module imported matplotlib.pyplot"
    assert report["changed"] == {} and report["new"] == {}, report
    assert out.read_bytes()[:4] == b"\x89PNG"


_SHARED_RUN = r"""
import json, logging, sys
import PySpice.Spice.NgSpice.Shared  # noqa: F401 - its loggers exist before the snapshot

seen = []
class Keep(logging.Handler):
    def emit(self, record):
        seen.append(record.getMessage())

user = Keep(level=logging.DEBUG)
logging.getLogger("PySpice").addHandler(user)  # a user who wants PySpice's messages

def state():
    return {n: [lg.level, lg.propagate, [repr(h) for h in lg.handlers], [repr(f) for f in lg.filters]]
            for n, lg in list(logging.Logger.manager.loggerDict.items())
            if isinstance(lg, logging.Logger) and n.split(".")[0] == "PySpice"}

before = state()
from spicegrad.spice import run
n = len(run(sys.argv[1], backend="shared").time)
after = state()
logging.getLogger("PySpice").warning("after spicegrad")  # the user's own logging still reaches them
print(json.dumps({"n": n, "same": before == after, "seen": seen}))
"""


def test_the_shared_backend_leaves_pyspice_loggers_as_the_user_set_them(tmp_path):
    net = tmp_path / "rc.cir"
    net.write_text("rc\nV1 a 0 PULSE(0 1 0 1u 1u 1m 2m)\nR1 a b 1k\nC1 b 0 1u\n.tran 10u 1m\n.end\n")
    proc = subprocess.run([sys.executable, "-c", _SHARED_RUN, str(net)], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["n"] > 10
    assert report["same"], "PySpice's loggers changed"
    # ngspice chatter and the version warning were demoted during the call; afterwards PySpice's
    # logger works for the user as before
    assert report["seen"] == ["after spicegrad"]
    assert "Unsupported" not in proc.stderr


def _dask_loggers() -> dict:
    """Level, propagation and each handler's level of dask's loggers. dask's own handlers are left
    out: its scheduler adds in-memory handlers as it starts, and an earlier test's scheduler drops
    its own whenever it is garbage-collected (that is dask's business, not ours)."""
    return {n: [lg.level, lg.propagate,
                {id(h): h.level for h in lg.handlers if not type(h).__module__.startswith("distributed")}]
            for n, lg in list(logging.Logger.manager.loggerDict.items())
            if isinstance(lg, logging.Logger) and n.split(".")[0] in ("distributed", "tornado", "bokeh")}


@pytest.mark.slow  # starts a one-worker local Dask cluster: about 10 s
def test_a_local_dask_cluster_leaves_dask_loggers_as_they_were():
    pytest.importorskip("distributed")
    from spicegrad.validate.fanout import dask_client

    before = _dask_loggers()
    client, cluster = dask_client(1, None)
    try:
        assert client.submit(pow, 2, 5, pure=False).result(timeout=60) == 32
    finally:
        client.close()
        cluster.close()
    after = _dask_loggers()
    for name, (level, propagate, handlers) in before.items():
        assert after[name][:2] == [level, propagate], name
        assert {h: after[name][2][h] for h in handlers} == handlers, name


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_draws_a_bar_on_a_terminal_only(monkeypatch):
    tty = _Terminal()
    monkeypatch.setattr(sys, "stderr", tty)
    assert list(progress(range(3), desc="on a terminal")) == [0, 1, 2]
    assert "on a terminal" in tty.getvalue() and "3/3" in tty.getvalue()
    assert list(progress(range(3), desc="switched off", enabled=False)) == [0, 1, 2]
    assert list(progress([], desc="nothing to do")) == []
    assert "switched off" not in tty.getvalue() and "nothing to do" not in tty.getvalue()

    log = io.StringIO()  # a file or a pipe: no bar, and a loop shorter than the interval says nothing
    monkeypatch.setattr(sys, "stderr", log)
    bar = progress(total=4, desc="in a log")
    for _ in range(4):
        bar.update()
        bar.set_postfix(loss=1.0)
    bar.close()
    assert list(progress(range(5), desc="inner", leave=False)) == list(range(5))
    assert log.getvalue() == ""


def test_progress_writes_plain_lines_to_a_log_for_long_loops(monkeypatch):
    log = io.StringIO()
    monkeypatch.setattr(sys, "stderr", log)
    monkeypatch.setattr(_progress, "LINE_INTERVAL_S", 0.0)  # every loop counts as long
    for _ in progress(range(3), desc="validating", unit="task"):
        pass
    for _ in progress(range(3), desc="inner", leave=False):
        pass
    lines = log.getvalue().splitlines()
    assert lines and all(line.startswith("validating: ") for line in lines)
    assert "\r" not in log.getvalue() and "█" not in log.getvalue()
    assert lines[-1].startswith("validating: 3/3 ")


def test_announce_states_the_estimate_and_its_basis(monkeypatch):
    log = io.StringIO()
    monkeypatch.setattr(sys, "stderr", log)
    announce("measuring the STDP window", 250.0, "25 pairs × 10 s measured")
    got = []
    announce("compiling", 40.0, "last compile took 40 s", log=got.append)
    assert log.getvalue() == "measuring the STDP window (about 4 min: 25 pairs × 10 s measured)\n"
    assert got == ["compiling (about 40 s: last compile took 40 s)"]
