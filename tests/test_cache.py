"""The cache: where it lives, its key (files included by quoted paths with spaces), the size cap
with least-recently-used eviction, and ``spicegrad cache info|clear`` on real folders."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pytest

from spicegrad.cli import main
from spicegrad.datasets import cache_dir as datasets_cache_dir
from spicegrad.errors import InputError
from spicegrad.spice import lib_path
from spicegrad.spice.cache import cache_root, cached_run, netlist_key, spice_cache_dir
from spicegrad.spice.cache_layout import cases_dir, certificates_dir, max_cache_bytes
from spicegrad.spice.includes import include_target
from spicegrad.validate.certificates import certificates_dir as validate_certificates_dir


def _key(i: int) -> str:
    return f"{i:064x}"


# --- location ------------------------------------------------------------------------------


def test_cache_root_honours_spicegrad_cache_then_xdg_then_home(monkeypatch, tmp_path):
    monkeypatch.delenv("SPICEGRAD_SPICE_CACHE")
    monkeypatch.setenv("SPICEGRAD_CACHE", str(tmp_path / "own"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_root() == tmp_path / "own"
    monkeypatch.delenv("SPICEGRAD_CACHE")
    assert cache_root() == tmp_path / "xdg" / "spicegrad"
    # every kind lives under the one root
    for folder in (spice_cache_dir(), cases_dir(), certificates_dir(), validate_certificates_dir(),
                   datasets_cache_dir()):
        assert folder.parent == tmp_path / "xdg" / "spicegrad"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/dir")  # the XDG rule: a relative value is ignored
    assert cache_root() == Path.home() / ".cache" / "spicegrad"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert cache_root() == Path.home() / ".cache" / "spicegrad"


def test_a_relative_cache_is_made_absolute_and_a_file_is_refused(monkeypatch, tmp_path, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SPICEGRAD_CACHE", "rel")
    assert cache_root() == tmp_path / "rel"
    (tmp_path / "afile").write_text("x")
    monkeypatch.setenv("SPICEGRAD_CACHE", str(tmp_path / "afile"))
    with pytest.raises(InputError, match=r"afile \(\$SPICEGRAD_CACHE\) is a file, not a folder"):
        cache_root()
    assert main(["cache", "info"]) == 2
    assert "is a file, not a folder" in capsys.readouterr().err
    assert (tmp_path / "afile").read_text() == "x"


@pytest.mark.parametrize("value", ["abc", "0", "-5", "nan", "inf", "1e400"])
def test_bad_size_cap_is_refused_naming_it(monkeypatch, value):
    monkeypatch.setenv("SPICEGRAD_CACHE_MAX_MB", value)
    with pytest.raises(InputError, match=rf"SPICEGRAD_CACHE_MAX_MB={value!r}: must be a positive number"):
        max_cache_bytes()


def test_size_cap_default_and_fractional(monkeypatch):
    monkeypatch.delenv("SPICEGRAD_CACHE_MAX_MB", raising=False)
    assert max_cache_bytes() == 500_000_000
    monkeypatch.setenv("SPICEGRAD_CACHE_MAX_MB", " 0.5 ")
    assert max_cache_bytes() == 500_000


# --- the key follows included files as ngspice reads them -----------------------------------


def test_include_target_reads_quotes_and_plain_tokens_like_ngspice():
    assert include_target(' "/a b/mss.lib" ; note') == "/a b/mss.lib"
    assert include_target(" '/a b/mss.lib'") == "/a b/mss.lib"
    assert include_target(" /a/mss.lib tt") == "/a/mss.lib"
    assert include_target(' "/a b/mss.lib') is None  # unterminated quote: ngspice finds no file name
    assert include_target("   ") is None


@pytest.mark.parametrize("card", ['.include "{p}"', ".INC '{p}'", '.lib "{p}" tt'])
def test_editing_a_library_in_a_folder_with_a_space_changes_the_key(tmp_path, card):
    folder = tmp_path / "my models"
    folder.mkdir()
    lib = folder / "mss.lib"
    shutil.copy(lib_path("mss"), lib)
    text = f"* quoted include\n{card.format(p=lib)}\nV1 a 0 DC 0.1\nR1 a 0 1k\n.tran 1u 10u\n.end\n"
    before = netlist_key(text)
    assert netlist_key(text) == before
    lib.write_text(lib.read_text().replace(".subckt", "* edited\n.subckt", 1))
    assert netlist_key(text) != before


def test_key_follows_nested_includes_relative_to_the_including_file(tmp_path):
    folder = tmp_path / "a b"
    folder.mkdir()
    (folder / "inner.lib").write_text("R9 x 0 1k\n")
    (folder / "outer.lib").write_text(".include inner.lib\n")
    text = f'.include "{folder / "outer.lib"}"\nV1 x 0 1\n.op\n.end\n'
    before = netlist_key(text)
    (folder / "inner.lib").write_text("R9 x 0 2k\n")
    assert netlist_key(text) != before


# --- size cap, least recently used eviction -------------------------------------------------


def _rc(tag: str) -> str:
    """The same circuit under another title: another key, the same result size."""
    return f"* rc {tag}\nV1 a 0 PULSE(0 1 0 1u 1u 5u 10u)\nR1 a b 1k\nC1 b 0 1n\n.tran 0.5u 20u\n.end\n"


def test_least_recently_used_ngspice_results_are_evicted_past_the_cap(monkeypatch, tmp_path):
    folder = tmp_path / "ngspice"
    monkeypatch.setenv("SPICEGRAD_SPICE_CACHE", str(folder))
    a, b, c = _rc("a"), _rc("b"), _rc("c")
    cached_run(a)
    cached_run(b)
    size = sum(p.stat().st_size for p in folder.iterdir()) / 2
    now = time.time()
    for text, age in ((a, 200), (b, 100)):  # a written first, b later
        for ext in ("npz", "sha256"):
            os.utime(folder / f"{netlist_key(text)}.{ext}", (now - age, now - age))
    cached_run(a)  # a hit: a is now the most recently used
    monkeypatch.setenv("SPICEGRAD_CACHE_MAX_MB", str(2.5 * size / 1e6))  # room for two entries
    cached_run(c)
    left = {p.stem for p in folder.iterdir()}
    assert left == {netlist_key(a), netlist_key(c)}  # b, the least recently used, went
    assert len(list(folder.iterdir())) == 4


def test_bad_cap_is_refused_before_ngspice_runs(monkeypatch, tmp_path):
    monkeypatch.setenv("SPICEGRAD_SPICE_CACHE", str(tmp_path / "ngspice"))
    monkeypatch.setenv("SPICEGRAD_CACHE_MAX_MB", "lots")
    with pytest.raises(InputError, match="SPICEGRAD_CACHE_MAX_MB='lots'"):
        cached_run(_rc("a"))
    assert not (tmp_path / "ngspice").exists()


# --- spicegrad cache info / clear -----------------------------------------------------------


def _populate(root: Path, outside: Path) -> dict[str, Path]:
    """A cache with two entries of every kind, a partial write, and things that are not spicegrad's."""
    files = {}
    for i in (1, 2):
        for ext in ("npz", "sha256"):
            files[f"ngspice{i}.{ext}"] = root / "spice" / f"{_key(i)}.{ext}"
        for ext in ("json", "npz", "sha256"):
            files[f"case{i}.{ext}"] = root / "cases" / f"{_key(10 + i)}.{ext}"
        files[f"cert{i}"] = root / "certificates" / f"{_key(20 + i)}.json"
    files["dataset"] = root / "datasets" / "mnist" / "t10k-labels-idx1-ubyte.gz"
    files["old partial"] = root / "spice" / f".{_key(3)}.npz.abcd1234"
    files["new partial"] = root / "spice" / f".{_key(4)}.npz.zz_9abcd"
    for path in files.values():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x" * 1000)
    old = time.time() - 7200
    os.utime(files["old partial"], (old, old))
    # not spicegrad's: a user's file, a file with a near-miss name, a link out of the cache
    outside.mkdir()
    (outside / f"{_key(5)}.npz").write_bytes(b"precious")
    (outside / f"{_key(6)}.json").write_bytes(b"precious")
    files["user note"] = root / "notes.txt"
    files["near miss"] = root / "spice" / f"{_key(0xabc).upper()}.npz"
    files["link"] = root / "spice" / f"{_key(5)}.npz"
    files["user note"].write_text("mine")
    files["near miss"].write_text("mine")
    files["link"].symlink_to(outside / f"{_key(5)}.npz")
    return files


def test_cache_info_counts_entries_per_kind_and_the_cap(private_cache, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("SPICEGRAD_SPICE_CACHE")
    monkeypatch.setenv("SPICEGRAD_CACHE_MAX_MB", "250")
    _populate(private_cache, tmp_path / "outside")
    assert main(["cache", "info", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["root"] == str(private_cache) and data["root_from"] == "$SPICEGRAD_CACHE"
    assert data["cap_bytes"] == 250_000_000
    got = {k: (v["entries"], v["bytes"]) for k, v in data["kinds"].items()}
    assert got == {"ngspice": (2, 6000), "cases": (2, 6000), "certificates": (2, 2000), "datasets": (1, 1000)}
    assert data["kinds"]["ngspice"]["partial_writes"] == 2
    assert sorted(data["kinds"]["ngspice"]["other"]) == sorted([f"{_key(5)}.npz", f"{_key(0xabc).upper()}.npz"])
    assert data["other_in_root"] == ["notes.txt"]
    assert main(["cache", "info"]) == 0
    out = capsys.readouterr().out
    assert f"cache folder: {private_cache}" in out and "ngspice results" in out and "certificates" in out
    assert "size cap: 250.0 MB" in out and "notes.txt" in out


def test_cache_clear_removes_only_spicegrads_entries(private_cache, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("SPICEGRAD_SPICE_CACHE")
    outside = tmp_path / "outside"
    files = _populate(private_cache, outside)
    # a kind's folder that is a link out of the cache is not entered
    shutil.rmtree(private_cache / "cases")
    (private_cache / "cases").symlink_to(outside, target_is_directory=True)

    assert main(["cache", "clear", "--dry-run"]) == 0
    assert "would remove 2 ngspice results" in capsys.readouterr().out
    mine = {k: p for k, p in files.items() if not k.startswith("case")}  # cases/ now links out
    assert all(p.exists() or p.is_symlink() for p in mine.values())

    assert main(["cache", "clear"]) == 0  # default: the recomputable results
    out = capsys.readouterr().out
    assert "removed 2 ngspice results" in out and "kept 1 partial write(s) younger than an hour" in out
    assert "kept 2 certificates" in out and "certifies it again" in out
    gone = {k for k, p in mine.items() if not (p.exists() or p.is_symlink())}
    assert gone == {"ngspice1.npz", "ngspice1.sha256", "ngspice2.npz", "ngspice2.sha256", "old partial"}
    assert sorted(p.name for p in outside.iterdir()) == [f"{_key(5)}.npz", f"{_key(6)}.json"]
    assert (outside / f"{_key(5)}.npz").read_bytes() == b"precious"

    assert main(["cache", "clear", "--kind", "certificates"]) == 0
    out = capsys.readouterr().out
    assert "removed 2 certificates" in out and "training refuses an uncertified twin" in out
    assert not (private_cache / "certificates").exists()  # emptied, so removed

    assert main(["cache", "clear", "--all"]) == 0
    capsys.readouterr()
    assert not (private_cache / "datasets").exists()
    left = sorted(str(p.relative_to(private_cache)) for p in private_cache.rglob("*"))
    assert left == sorted(["cases", "notes.txt", "spice", f"spice/.{_key(4)}.npz.zz_9abcd",
                           f"spice/{_key(5)}.npz", f"spice/{_key(0xabc).upper()}.npz"])
    assert (outside / f"{_key(5)}.npz").read_bytes() == b"precious"


def test_cache_clear_refuses_an_unknown_kind(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["cache", "clear", "--kind", "everything"])
    assert exc.value.code == 2
    assert "invalid choice: 'everything'" in capsys.readouterr().err
