"""ngspice runner: both backends, both raw formats, errors people can act on."""

import subprocess
import sys

import numpy as np
import pytest

from spicegrad.compare.mss import mss_netlist, sine_case
from spicegrad.devices import MSS
from spicegrad.spice import NgspiceNotFound, SpiceError, ngspice_version, run
from spicegrad.spice.netlist import Netlist, pwl


@pytest.fixture(scope="module")
def mss_text():
    stimulus, dt, _ = sine_case()
    return mss_netlist(MSS.Params(), stimulus, dt, 2e-3)


def test_ngspice_version_is_detected():
    assert ngspice_version().split(".")[0].isdigit()


def test_shared_and_subprocess_backends_agree_to_1e9(mss_text):
    a = run(mss_text, backend="subprocess")
    b = run(mss_text, backend="shared")
    assert a.names == b.names
    assert a.time.shape == b.time.shape
    for name in a.names:
        assert np.max(np.abs(a[name] - b[name])) <= 1e-9, name


def test_ascii_and_binary_raw_files_parse_to_the_same_traces(mss_text):
    a = run(mss_text, raw_format="binary")
    b = run(mss_text, raw_format="ascii")
    assert a.names == b.names
    for name in a.names:
        # ASCII raw files print 15 significant digits
        np.testing.assert_allclose(a[name], b[name], rtol=1e-12, atol=1e-18)


def test_netlist_path_is_accepted(tmp_path, mss_text):
    f = tmp_path / "bench.cir"
    f.write_text(mss_text)
    assert run(f)["xm.x"].shape == run(mss_text)["xm.x"].shape


SYNTAX_ERROR = """syntax error bench
V1 a 0 DC 1
B1 b 0 V={v(a)*+}
R1 b 0 1k
.tran 1u 1m
.end
"""

TIMESTEP_TOO_SMALL = """runaway bench
V1 a 0 DC 1
B1 0 b I={1e30*exp(v(b)*1e3)}
R1 b 0 1
.tran 1u 1m uic
.end
"""


@pytest.mark.parametrize("backend", ["subprocess", "shared"])
def test_syntax_error_carries_ngspice_message_and_line(backend):
    with pytest.raises(SpiceError) as err:
        run(SYNTAX_ERROR, backend=backend)
    assert err.value.line == "B1 b 0 V={v(a)*+}" and err.value.line_number == 3
    assert "line 3" in err.value.message.lower()


@pytest.mark.parametrize("backend", ["subprocess", "shared"])
def test_timestep_too_small_names_the_node_and_a_line_on_it(backend):
    with pytest.raises(SpiceError) as err:
        run(TIMESTEP_TOO_SMALL, backend=backend)
    assert "Timestep too small" in err.value.message
    assert 'node "b"' in err.value.message
    assert err.value.line.startswith(("B1", "R1"))


def test_unknown_subcircuit_is_reported_with_its_line():
    with pytest.raises(SpiceError) as err:
        run("t\nV1 a 0 DC 1\nX1 a 0 nosuch\n.tran 1u 1m\n.end\n")
    assert "unknown subckt" in err.value.message and err.value.line == "X1 a 0 nosuch"


def test_missing_ngspice_gives_one_message_with_install_command(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("SPICEGRAD_NGSPICE", raising=False)
    with pytest.raises(NgspiceNotFound, match="apt-get install ngspice libngspice0"):
        run(SYNTAX_ERROR)


def test_timeout_is_reported():
    net = "slow\nV1 a 0 SIN(0 1 1e6)\nR1 a b 1k\nC1 b 0 1n\n.tran 1p 10m 0 1p\n.end\n"
    with pytest.raises(SpiceError, match="did not finish within 0.5 s"):
        run(net, timeout=0.5)


def test_bad_backend_and_format_are_rejected(mss_text):
    with pytest.raises(ValueError, match="backend = 'spectre'"):
        run(mss_text, backend="spectre")
    with pytest.raises(ValueError, match="raw_format"):
        run(mss_text, raw_format="hdf5")


def test_shared_backend_prints_no_version_noise(mss_text, tmp_path):
    f = tmp_path / "b.cir"
    f.write_text(mss_text)
    code = f"from spicegrad.spice import run; print(len(run(r'{f}', backend='shared').time))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "Unsupported" not in proc.stdout + proc.stderr
    assert proc.stderr.strip() == ""


@pytest.mark.parametrize(
    "call",
    [
        lambda n: n.resistor("1", "a", "b", "1\n.control\nshell touch /tmp/pwned\n.endc"),
        lambda n: n.resistor("1;rm", "a", "b", 1.0),
        lambda n: n.resistor("1", "a\nshell", "b", 1.0),
        lambda n: n.resistor("1", "a", "b", float("nan")),
        lambda n: n.subckt("m", ["a", "0"], "mss", {"r_on": "500\n.endc"}),
        lambda n: n.vsource("1", "a", "0", pwl([0, 1], [0, float("inf")])),
    ],
)
def test_netlist_writer_rejects_crafted_or_non_finite_values(call):
    with pytest.raises(ValueError):
        call(Netlist("t"))


def test_netlist_writer_rejects_duplicate_element_names():
    n = Netlist("t")
    n.resistor("1", "a", "0", 1.0)
    with pytest.raises(ValueError, match="used twice"):
        n.resistor("1", "b", "0", 1.0)


def test_a_netlist_without_an_analysis_says_so_not_ngspice_statistics():
    with pytest.raises(SpiceError, match=r"ran no analysis .* needs an analysis line") as err:
        run("garbage\n")
    assert "DRAM" not in str(err.value)


@pytest.mark.parametrize("offset", [0.0, 0.2])
def test_triangle_stimulus_is_the_same_wave_in_ngspice_over_several_periods(offset):
    from spicegrad.stimuli import Triangle, from_spec

    tri = from_spec({"kind": "triangle", "amplitude": 0.8, "freq": 2e3, "offset": offset})
    assert isinstance(tri, Triangle)
    net = Netlist("triangle")
    net.vsource("s", "a", "0", tri.to_spice())
    net.resistor("l", "a", "0", 1e3)
    net.tran(1e-6, 2.2e-3, max_step=1e-6)
    result = run(net.render())
    t = np.linspace(1e-6, 2.2e-3, 501)
    err = np.abs(result.at("v(a)", t) - tri.sample(t))
    # ngspice puts time points on the first period's corners only (PWL r=0): a later peak falls
    # between two points at most max_step apart, so the interpolated wave cuts it by at most
    # slope·max_step/2; everywhere else the source is the same wave
    near_corner = np.abs(t[:, None] - tri.breakpoints(2.2e-3)[None]).min(1) < 1e-6
    assert err[~near_corner].max() < 1e-9
    assert err.max() <= 4 * 0.8 * 2e3 * 1e-6 / 2 * 1.001
    assert tri.sample(np.array([1.25e-4, 3.75e-4])).tolist() == [offset + 0.8, offset - 0.8]
    assert np.allclose(tri.breakpoints(1e-3), [1.25e-4, 3.75e-4, 6.25e-4, 8.75e-4])
