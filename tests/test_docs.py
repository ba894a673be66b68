"""The README and docs/ hold their promises: examples use the public API only, the README's
examples run, and nothing points at a document that is not in the repository."""

from __future__ import annotations

import importlib
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def python_blocks(path: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", path.read_text(), re.DOTALL)


def test_every_python_example_imports_only_public_names():
    wrong = []
    for doc in DOCS:
        for block in python_blocks(doc):
            for line in block.splitlines():
                m = re.match(r"\s*from (spicegrad[\w.]*) import (.+)", line)
                if m:
                    module = importlib.import_module(m.group(1))
                    names = [n.strip().split(" as ")[0] for n in m.group(2).strip("() ").split(",")]
                    public = set(getattr(module, "__all__", ()))
                    if m.group(1).count(".") > 1 or not set(names) <= public:
                        wrong.append(f"{doc.name}: {line.strip()}")
                elif re.match(r"\s*import spicegrad\.", line):
                    wrong.append(f"{doc.name}: {line.strip()}")
    assert not wrong, "examples reaching past the public API:\n" + "\n".join(wrong)


# Pages whose Python examples are runnable as they stand (the README's sections moved there).
RUNNABLE = [ROOT / "README.md", *(ROOT / "docs" / f"{name}.md" for name in ("index", "getting-started", "workflows",
                                                                             "results"))]
EXAMPLES = [(path.relative_to(ROOT).as_posix(), index) for path in RUNNABLE for index in range(len(python_blocks(path)))
            if (path.name, index) != ("README.md", 0)]


def test_the_moved_readme_examples_are_still_run():
    assert ("docs/workflows.md", 0) in EXAMPLES  # the crossbar twin example


@pytest.mark.parametrize("page,index", EXAMPLES, ids=[f"{p}:{i}" for p, i in EXAMPLES])
def test_python_examples_run(page, index, tmp_path):
    """Every example of the README after the first (test_cli runs that one and checks its plot)
    and of the docs pages the README's sections moved to."""
    block = python_blocks(ROOT / page)[index]
    proc = subprocess.run([sys.executable, "-c", block], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr


def test_no_reference_to_a_document_outside_the_repository():
    pattern = re.compile(r"DEVICE-MODELS\.md|DESIGN\.md|STYLE\.md|\.\./shared")
    hits = []
    for folder in ("spicegrad", "models", "netlists", "validate", "docs", "tests", "benchmarks", "scripts", "examples"):
        for path in (ROOT / folder).rglob("*"):
            if path.is_file() and path.suffix in {".py", ".lib", ".cir", ".toml", ".md", ".sh", ".json"}:
                hits += [f"{path.relative_to(ROOT)}: {m.group(0)}" for m in pattern.finditer(path.read_text())
                         if path.name != "test_docs.py"]
    hits += [f"README.md: {m.group(0)}" for m in pattern.finditer((ROOT / "README.md").read_text())]
    assert not hits, "\n".join(hits)


def test_every_docs_page_named_in_the_code_exists():
    named = set()
    for path in [*(ROOT / "spicegrad").rglob("*.py"), *(ROOT / "spicegrad" / "models").glob("*.lib"), *DOCS]:
        named |= set(re.findall(r"docs/([\w-]+\.md)", path.read_text()))
    named |= {m for doc in DOCS for m in re.findall(r"\]\(([\w-]+\.md)\)", doc.read_text())}
    missing = sorted(n for n in named if not (ROOT / "docs" / n).exists())
    assert not missing, missing
    assert {"architecture.md", "device-models.md", "report-schema.md", "adding-a-device.md"} <= named
