"""The package's layering, checked over the import graph (deferred imports inside functions count).

Layers, lowest first (docs/architecture.md explains each):

0. ``errors`` (below everything), then ``_io``, ``_checks``, ``_argtypes``, ``_figure``, ``_progress``, ``_extras``,
   ``_lazy`` — shared internals
1. ``spice`` — ngspice I/O only (no torch)
2. ``devices``, ``stimuli``, ``datasets`` — physics, waveforms, data
3. ``crossbar`` — arrays of devices: topology, netlists, twin layers
4. ``compare`` — twin-vs-ngspice pairings (single devices, crossbars, the STDP pair)
5. ``validate`` — cases, references, reports, certificates
6. workflows — ``memprop``, ``eprop``, ``manhattan``, ``stdp``, ``compress``, ``export``,
   ``pcm_replicate``, ``characterize``, ``demo`` (the main job)
7. ``cli`` — the command; 8. ``__main__`` — ``python -m spicegrad``

A module imports only from its own layer's package or from lower layers (the names a package
exports lazily, through ``_lazy.lazy_exports``, count as imports: its ``if TYPE_CHECKING:`` block); the workflows that
build on another workflow say so in ``WORKFLOW_USES``. No import cycles, no private names
imported across packages.
"""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

import spicegrad

PACKAGE = Path(spicegrad.__file__).parent
LAYERS = {
    "errors": -1, "_io": 0, "_checks": 0, "_argtypes": 0, "_figure": 0, "_progress": 0, "_extras": 0, "_lazy": 0,
    "spice": 1,
    "devices": 2, "stimuli": 2, "datasets": 2,
    "crossbar": 3,
    "compare": 4,
    "validate": 5,
    "memprop": 6, "eprop": 6, "manhattan": 6, "stdp": 6, "compress": 6, "export": 6, "pcm_replicate": 6,
    "spiceloop": 6,
    "characterize": 6, "demo": 6,
    "cli": 7,
    "__main__": 8,
}
#: same-layer dependencies that are part of the design
WORKFLOW_USES = {("compress", "memprop"), ("compress", "eprop"), ("export", "memprop"), ("stimuli", "spice")}
#: private modules of the root package that every layer may use
SHARED_PRIVATE = {"_io", "_checks", "_argtypes", "_figure", "_progress", "_extras", "_lazy"}


def _module_name(path: Path) -> tuple[str, bool]:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    is_pkg = parts[-1] == "__init__"
    return ".".join(parts[:-1] if is_pkg else parts), is_pkg


def _exports_lazily(tree: ast.AST) -> bool:
    """A package that calls ``lazy_exports``: its ``if TYPE_CHECKING:`` imports are its public
    names, imported on first use, so they count as run-time imports here."""
    return any(isinstance(n, ast.Call) and getattr(n.func, "id", None) == "lazy_exports" for n in ast.walk(tree))


def import_graph() -> list[tuple[str, str, tuple[str, ...]]]:
    """(importer, imported module, imported names) for every spicegrad-internal import that runs."""
    edges = []
    for path in sorted(PACKAGE.rglob("*.py")):
        module, is_pkg = _module_name(path)
        tree = ast.parse(path.read_text())
        typing_only = set() if _exports_lazily(tree) else {
            id(n) for block in ast.walk(tree) if isinstance(block, ast.If)
            and getattr(block.test, "id", None) == "TYPE_CHECKING" for n in ast.walk(block)}
        for node in ast.walk(tree):
            if id(node) in typing_only:  # annotations only: never imported at run time
                continue
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = module.split(".") if is_pkg else module.split(".")[:-1]
                    base = base[: len(base) - (node.level - 1)]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                names = tuple(a.name for a in node.names)
                if target == "spicegrad":  # `from . import x` names submodules or root attributes
                    for name in names:
                        sub = PACKAGE / name
                        if sub.is_dir() or sub.with_suffix(".py").exists():
                            edges.append((module, f"spicegrad.{name}", ()))
                        else:
                            edges.append((module, "spicegrad", (name,)))
                elif target.startswith("spicegrad"):
                    edges.append((module, target, names))
            elif isinstance(node, ast.Import):
                edges += [(module, a.name, ()) for a in node.names if a.name.startswith("spicegrad")]
    return edges


def top(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_every_top_level_module_has_a_layer():
    found = {p.stem if p.is_file() else p.name for p in PACKAGE.iterdir()
             if (p.suffix == ".py" and p.stem != "__init__") or (p.is_dir() and (p / "__init__.py").exists())}
    assert found == set(LAYERS), f"unassigned: {sorted(found - set(LAYERS))}, stale: {sorted(set(LAYERS) - found)}"


def test_imports_point_down_the_layers():
    wrong = []
    for src, dst, _ in import_graph():
        a, b = top(src), top(dst)
        if not a or not b or a == b:
            continue
        if LAYERS[b] > LAYERS[a] or (LAYERS[b] == LAYERS[a] and (a, b) not in WORKFLOW_USES):
            wrong.append(f"{src} -> {dst}")
    assert not wrong, "imports against the layering:\n" + "\n".join(wrong)


def test_no_import_cycles_even_through_deferred_imports():
    modules = {_module_name(p)[0] for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for src, dst, names in import_graph():
        if dst not in modules:
            continue
        # `from pkg import submodule` is an edge to the submodule, not to the package
        subs = {f"{dst}.{n}" for n in names if f"{dst}.{n}" in modules}
        graph[src] |= subs or {dst}
        if subs and set(names) - {n.rsplit(".", 1)[-1] for n in subs}:
            graph[src].add(dst)
    # a package's __init__ importing its own submodules is how packages expose names: skip that edge
    def edges(m):
        return {d for d in graph[m] if not d.startswith(m + ".")}

    state: dict[str, int] = {}
    cycles = []

    def visit(m, stack):
        state[m] = 1
        for d in edges(m):
            if state.get(d) == 1:
                cycles.append(" -> ".join(stack[stack.index(d):] + [d]))
            elif d not in state:
                visit(d, stack + [d])
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_no_private_name_is_imported_across_packages():
    wrong = []
    for src, dst, names in import_graph():
        if top(src) == top(dst):
            continue
        private_module = any(part.startswith("_") and part not in SHARED_PRIVATE and part != "__init__"
                             for part in dst.split(".")[1:])
        private_names = [n for n in names if n.startswith("_") and n != "__version__"]
        if private_module or private_names:
            wrong.append(f"{src} -> {dst} {private_names or ''}")
    assert not wrong, "private names crossing packages:\n" + "\n".join(wrong)


@pytest.mark.parametrize("module", ["spicegrad", "spicegrad.spice", "spicegrad.spice.subckt", "spicegrad.errors"])
def test_light_modules_do_not_import_torch(module):
    code = f"import sys, {module}; sys.exit(1 if 'torch' in sys.modules else 0)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0, f"importing {module} loads torch"


def test_public_api_names_resolve():
    for name in spicegrad.__all__:
        assert getattr(spicegrad, name) is not None, name
    for pkg in ("devices", "spice", "crossbar", "validate", "compare", "memprop", "eprop", "manhattan", "stdp", "spiceloop",
                "compress", "export", "pcm_replicate"):
        module = __import__(f"spicegrad.{pkg}", fromlist=["__all__"])
        assert module.__all__, pkg
        for name in module.__all__:
            assert hasattr(module, name), f"spicegrad.{pkg}.{name}"


def test_every_exception_class_of_the_package_derives_from_spicegrad_error():
    from spicegrad.errors import SpicegradError

    outside, checked = [], []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef) and any(
                    getattr(b, "id", getattr(b, "attr", "")).endswith(("Error", "Exception", "Diverged", "Found"))
                    for b in node.bases):
                module = importlib.import_module(_module_name(path)[0])
                cls = getattr(module, node.name)
                checked.append(cls)
                if not issubclass(cls, SpicegradError):
                    outside.append(f"{module.__name__}.{node.name}")
    assert not outside, outside
    assert len(checked) >= 12  # CaseError, CircuitError, SpiceError, CheckpointError, DatasetError, ...
