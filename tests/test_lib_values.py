"""spicegrad/models/*.lib parameter defaults equal the twins' Params defaults (values, not just names)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from spicegrad.devices import registry
from spicegrad.devices.mif import MIFParams
from spicegrad.devices.mss import MSSParams
from spicegrad.devices.pcm import PCMParams
from spicegrad.errors import InputError
from spicegrad.spice.subckt import library_mismatches, parse_subckt, spice_number

#: every device the package ships (the registry's built-in kinds)
MODELS = registry.names()
PARAMS = {m: registry.get(m).params for m in MODELS}


def lib_path(model: str) -> Path:
    return registry.get(model).lib_path()
CHILD_ENV = "SPICEGRAD_TEST_LIB_VALUES_CHILD"


def derived(model: str) -> dict[str, float]:
    """Expected defaults of the instance / initial-state parameters, computed by the code."""
    if model == "mss":
        return {"x0": 0.0}
    if model == "mif":
        return registry.get("mif").rest(MIFParams())  # mif.lib starts at the memprop rest state
    if model == "pcm":
        from spicegrad.compare.pcm import PulseTiming

        timing = PulseTiming()
        # t_pulse: pcm.lib's default is the area of an ideal (edge-free) pulse of the testbench's
        # default width; the testbench passes t_pulse = timing.area (width + edge) explicitly.
        return {"g_ic_us": PCMParams().g0_us, "n_ic": 0.0, "tp_ic": 0.0,
                "t_pulse": timing.width, "t_track": timing.t_track}
    return {}


def mismatches(model: str, text: str | None = None) -> list[str]:
    path = lib_path(model)
    return library_mismatches(PARAMS[model], path.read_text() if text is None else text, registry.get(model).subckt,
                              derived(model), source=path.name)


@pytest.mark.parametrize("model", MODELS)
def test_shipped_library_defaults_equal_params_defaults(model):
    found = mismatches(model)
    assert not found, "\n".join(found)


def _mutate(text: str, model: str, key: str, value: str) -> str:
    """``text`` with ``key``'s default in the ``.subckt model`` header changed to ``value``."""
    start = re.search(rf"^\.subckt\s+{model}\b", text, re.I | re.M).start()
    pattern = rf"(?<![\w.]){re.escape(key)}\s*=\s*\S+"
    head, n = re.subn(pattern, f"{key}={value}", text[start:], count=1, flags=re.I)
    assert n == 1, key
    return text[:start] + head


NUMERIC_DEFAULTS = []
for _model in MODELS:
    for _key, _raw in parse_subckt(lib_path(_model).read_text(), _model).params.items():
        try:
            NUMERIC_DEFAULTS.append((_model, _key, spice_number(_raw)))
        except ValueError:
            pass  # an expression such as {g0_us}: its target's mutation covers it


@pytest.mark.parametrize("model,key,value", NUMERIC_DEFAULTS,
                         ids=[f"{m}-{k}" for m, k, _ in NUMERIC_DEFAULTS])
def test_changing_any_numeric_library_default_is_reported(model, key, value):
    changed = value * 1.5 if value != 0 else 1.0
    text = _mutate(lib_path(model).read_text(), model, key, repr(changed))
    found = mismatches(model, text)
    assert any(f": {key} = " in m for m in found), found


def test_every_library_has_numeric_defaults_under_mutation_test():
    assert {m for m, _, _ in NUMERIC_DEFAULTS} == set(MODELS)
    assert len(NUMERIC_DEFAULTS) >= sum(len(PARAMS[m]().spice_params()) for m in MODELS)


@pytest.mark.slow  # 6 s end-to-end; the per-field mutation tests stay in the default run
@pytest.mark.skipif(os.environ.get(CHILD_ENV) == "1", reason="inside the end-to-end child run")
def test_suite_fails_naming_the_field_when_a_library_default_is_edited(tmp_path):
    models = tmp_path / "models"
    shutil.copytree(lib_path("mss").parent, models)
    mif = models / "mif.lib"
    mif.write_text(_mutate(mif.read_text(), "mif", "v_on1", "0.12"))
    mss = models / "mss.lib"
    mss.write_text(_mutate(mss.read_text(), "mss", "tau", "2e-4"))
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "SPICEGRAD_MODELS": str(models), CHILD_ENV: "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", str(Path(__file__)), "-q", "-p", "no:cacheprovider",
         "-k", "shipped"],
        cwd=root, env=env, capture_output=True, text=True, timeout=300,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out
    assert f"2 failed, {len(MODELS) - 2} passed" in out, out
    assert "mif.lib .subckt mif: v_on1 = 0.12" in out and "mss.lib .subckt mss: tau = 2e-4" in out, out


# --- the parser itself -------------------------------------------------------------------------

SAMPLE = """* a comment
.SUBCKT demo a b PARAMS: r1=1k  c1 = {2*r1} ; inline comment
* a comment between continuation lines
+ g={c1 + r1} tag=3u $ another comment
R1 a n1 {r1}
C1 n1 0 {c1}
E1 out 0 a b 2
B1 0 x I={v(p, q) - v(n1)}
Xinner a out sub params: k=1
.subckt nested z w
R9 z hidden 1
.ends nested
.Ends demo
"""


def test_parse_subckt_reads_pins_raw_defaults_and_nodes_through_comments_and_continuations():
    sub = parse_subckt(SAMPLE, "DEMO")
    assert sub.name == "demo" and sub.pins == ("a", "b")
    assert sub.params == {"r1": "1k", "c1": "{2*r1}", "g": "{c1 + r1}", "tag": "3u"}
    assert sub.nodes == {"a", "b", "n1", "0", "out", "x", "p", "q"}


def test_library_mismatches_resolves_references_between_defaults():
    import dataclasses

    @dataclasses.dataclass(frozen=True)
    class P:
        r1: float = 1000.0
        c1: float = 2000.0
        g: float = 3000.0
        tag: float = 3e-6

        def spice_params(self):
            return dataclasses.asdict(self)

    assert library_mismatches(P, SAMPLE, "demo") == []
    found = library_mismatches(P, SAMPLE.replace("r1=1k", "r1=2k"), "demo")
    assert [m.split(":")[1].split("=")[0].strip() for m in found] == ["r1", "c1", "g"]


def test_missing_subckt_is_an_input_error_naming_the_file_and_subckt():
    with pytest.raises(InputError, match=r"mif\.lib: no '\.subckt nope'.*mif"):
        parse_subckt(lib_path("mif").read_text(), "nope", source="mif.lib")


def test_state_nodes_of_every_model_library_are_found():
    assert {"x1", "x2", "in", "b1", "b2"} <= parse_subckt(lib_path("mif").read_text(), "mif").nodes
    assert {"x", "te", "be"} <= parse_subckt(lib_path("mss").read_text(), "mss").nodes
    assert {"g", "gh", "n", "nh", "tp", "gd", "gr"} <= parse_subckt(lib_path("pcm").read_text(), "pcm").nodes
    assert {"s", "i", "spk", "out"} <= parse_subckt(lib_path("alpha").read_text(), "alpha").nodes


def test_unexpected_library_parameters_and_missing_fields_are_reported():
    text = lib_path("mss").read_text()
    assert any("parameter x0 = 0 is neither" in m for m in library_mismatches(MSSParams, text, "mss"))
    dropped = _mutate(text, "mss", "phi", "1").replace("phi=1 ", "", 1)
    found = library_mismatches(MSSParams, dropped, "mss", {"x0": 0.0})
    assert found == ["<text> .subckt mss: phi is missing from the library (MSSParams default 1.0)"]
