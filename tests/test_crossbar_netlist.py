"""Crossbar netlists: CLI output runs in ngspice unchanged, graph checks, safety, bad input, tiling."""


import numpy as np
import pytest

from spicegrad.cli import main
from spicegrad.crossbar import CrossbarSpec, crossbar_netlist
from spicegrad.crossbar.generator import DC, NetlistTooLarge, parse_stimulus
from spicegrad.crossbar.tiling import plan_tiles
from spicegrad.spice import run
from spicegrad.spice.circuit import CAPACITOR, RESISTOR, VSOURCE, Circuit, CircuitError
from spicegrad.stimuli import Sine

CRAFTED = "1\n.control\nshell touch {}\n.endc"


def netlist_cli(*argv: str) -> int:
    return main(["netlist", "crossbar", *argv])


# --- the CLI's netlist runs in ngspice ------------------------------------------------------


def test_cli_netlist_runs_in_ngspice_unchanged(tmp_path, capsys):
    w = np.random.default_rng(0).normal(size=(4, 3))
    np.save(tmp_path / "w.npy", w)
    out = tmp_path / "xbar.cir"
    rc = netlist_cli("--rows", "4", "--cols", "3", "--r-wire", "1", "--weights", str(tmp_path / "w.npy"),
                     "--stimulus", "sine:0.6,1e4", "--save-states", "-o", str(out))
    assert rc == 0
    assert "S per weight unit" in capsys.readouterr().out
    res = run(out)
    assert res.time[-1] == pytest.approx(1e-4)
    assert "i(vsense_5)" in res and "v(xd_3_5.x)" in res


def test_cli_reports_clipped_weights(tmp_path, capsys):
    np.save(tmp_path / "w.npy", np.array([[0.5, 3.0], [-2.0, 0.1]]))
    rc = netlist_cli("--rows", "2", "--cols", "2", "--weights", str(tmp_path / "w.npy"), "--w-max", "1",
                     "-o", str(tmp_path / "x.cir"))
    assert rc == 0
    assert "2 weight(s) outside the representable range were clipped" in capsys.readouterr().out


@pytest.mark.parametrize("stimulus", ["dc:0.2", "pulse:0,0.5,2e-5,1e-5", "pwl:{}"])
def test_cli_stimuli_render_and_run(tmp_path, stimulus):
    np.save(tmp_path / "s.npy", np.array([[0, 0], [1e-5, 0.3], [2e-5, -0.3]]))
    out = tmp_path / "x.cir"
    assert netlist_cli("--rows", "2", "--cols", "1", "--stimulus", stimulus.format(tmp_path / "s.npy"),
                       "--t-stop", "2e-5", "-o", str(out)) == 0
    assert run(out).time[-1] == pytest.approx(2e-5)


def test_cli_pcm_with_mif_neurons_runs(tmp_path):
    out = tmp_path / "x.cir"
    assert netlist_cli("--rows", "3", "--cols", "2", "--device", "pcm", "--neurons", "mif",
                       "--inline-models", "-o", str(out)) == 0
    text = out.read_text()
    assert ".include" not in text and ".subckt pcm" in text
    assert "v(n_1)" in run(out)


def test_netlist_passes_the_untrusted_netlist_policy(tmp_path):
    from spicegrad.spice.policy import check_untrusted

    for spec in (CrossbarSpec(2, 2, r_wire=1), CrossbarSpec(2, 2)):
        text = crossbar_netlist(spec)
        check_untrusted(text, tmp_path / "x.cir")
        assert ".control" not in text


# --- safety ------------------------------------------------------------------------------------


@pytest.mark.parametrize("flag", ["--r-wire", "--r-driver", "--dt", "--t-stop", "--w-max", "--rows", "--stimulus"])
def test_crafted_value_is_rejected_by_every_cli_option(tmp_path, capsys, flag):
    marker = tmp_path / "pwned"
    value = CRAFTED.format(marker)
    if flag == "--stimulus":
        value = "dc:" + value
    argv = {"--rows": "2", "--cols": "2", flag: value}
    if flag == "--w-max":
        np.save(tmp_path / "w.npy", np.ones((2, 2)))
        argv["--weights"] = str(tmp_path / "w.npy")
    out = tmp_path / "x.cir"
    rc = netlist_cli(*[x for kv in argv.items() for x in kv], "-o", str(out))
    assert rc == 2
    assert "must be" in capsys.readouterr().err
    assert not out.exists() and not marker.exists()


def test_crafted_value_is_rejected_by_the_circuit_writer(tmp_path):
    value = CRAFTED.format(tmp_path / "pwned")
    c = Circuit("t")
    with pytest.raises(ValueError):
        c.net(value)
    with pytest.raises(ValueError):
        c.add(RESISTOR, value, ["a", "0"], 1.0)
    with pytest.raises(ValueError):
        c.nets(value, (2,))
    c.add(RESISTOR, "a", ["a", "0"], 1.0)
    c.add(VSOURCE, "s", ["a", "0"], 1.0)
    with pytest.raises(ValueError, match="finite real"):
        c.add_block(RESISTOR, ["bad"], [["a", "0"]], [value])
    with pytest.raises(ValueError, match="finite real"):
        c.add(VSOURCE, "bad", ["a", "0"], value)
        c.render()
    with pytest.raises(ValueError):
        Sine(amplitude=value, freq=1.0)
    with pytest.raises(ValueError):
        parse_stimulus("sine:" + value, 2)


def test_crafted_values_in_weights_are_rejected(tmp_path, capsys):
    np.save(tmp_path / "w.npy", np.array([[CRAFTED, "1"], ["1", "1"]]))
    assert netlist_cli("--rows", "2", "--cols", "2", "--weights", str(tmp_path / "w.npy"), "-o", str(tmp_path / "x.cir")) == 2
    assert "numeric" in capsys.readouterr().err


# --- bad input ---------------------------------------------------------------------------------


@pytest.mark.parametrize("rows", ["0", "-3", "2.5", "abc"])
def test_bad_row_counts_are_rejected(tmp_path, capsys, rows):
    assert netlist_cli("--rows", rows, "--cols", "2", "-o", str(tmp_path / "x.cir")) == 2
    err = capsys.readouterr().err
    assert "--rows" in err and "positive integer" in err


def test_bad_inputs_name_the_problem(tmp_path, capsys):
    cases = {
        "shape": (np.ones((3, 2)), "does not match"),
        "nan": (np.array([[1.0, np.nan], [0, 0]]), "finite"),
        "inf": (np.array([[1.0, 0], [np.inf, 0]]), "finite"),
    }
    for name, (w, message) in cases.items():
        np.save(tmp_path / f"{name}.npy", w)
        assert netlist_cli("--rows", "2", "--cols", "2", "--weights", str(tmp_path / f"{name}.npy"), "-o", str(tmp_path / "x.cir")) == 2
        assert message in capsys.readouterr().err, name
    assert netlist_cli("--rows", "2", "--cols", "2", "--r-wire", "-1", "-o", str(tmp_path / "x.cir")) == 2
    assert ">= 0" in capsys.readouterr().err
    assert netlist_cli("--rows", "0", "--cols", "2", "-o", str(tmp_path / "x.cir")) == 2
    assert "--rows '0': must be a positive integer" in capsys.readouterr().err


def test_too_large_netlist_needs_force_and_prints_an_estimate(tmp_path, capsys):
    assert netlist_cli("--rows", "1024", "--cols", "1024", "-o", str(tmp_path / "x.cir")) == 2
    err = capsys.readouterr().err
    assert "--force" in err and "2,097,152 devices" in err and "MiB" in err
    with pytest.raises(NetlistTooLarge):
        crossbar_netlist(CrossbarSpec(1024, 1024))


def test_spec_rejects_bad_geometry():
    for kwargs in ({"rows": 0, "cols": 2}, {"rows": 2.0, "cols": 2}, {"rows": 2, "cols": True},
                   {"rows": 2, "cols": 2, "r_wire": -1.0}, {"rows": 2, "cols": 2, "r_wire": float("nan")},
                   {"rows": 2, "cols": 2, "pairs": "triple"}):
        with pytest.raises(ValueError):
            CrossbarSpec(**kwargs)


# --- circuit graph checks ----------------------------------------------------------------------


def test_floating_net_is_named():
    c = Circuit("t")
    c.add(VSOURCE, "in", ["a", "0"], 1.0)
    c.add(RESISTOR, "load", ["a", "dangling"], 1e3)
    with pytest.raises(CircuitError, match="'dangling' is floating.*Rload"):
        c.render()


def test_net_without_dc_path_is_named():
    c = Circuit("t")
    c.add(VSOURCE, "in", ["a", "0"], 1.0)
    c.add(CAPACITOR, "c1", ["a", "mid"], 1e-9)
    c.add(CAPACITOR, "c2", ["mid", "0"], 1e-9)
    with pytest.raises(CircuitError, match="no DC path to ground from net.*'mid'"):
        c.render()


def test_duplicate_names_are_rejected():
    c = Circuit("t")
    c.add(RESISTOR, "a", ["x", "0"], 1.0)
    with pytest.raises(CircuitError, match="used twice"):
        c.add(RESISTOR, "A", ["x", "0"], 1.0)
    c.add_block(RESISTOR, ("w", (2, 2)), np.array([[1, 0]] * 4), [1.0] * 4)
    with pytest.raises(CircuitError, match="used twice"):
        c.add(RESISTOR, "w_1_0", ["x", "0"], 1.0)
    with pytest.raises(CircuitError, match="clashes"):
        c.add_block(RESISTOR, ("w", (3,)), np.array([[1, 0]] * 3), [1.0] * 3)
    c.nets("r", (2, 2))
    with pytest.raises(CircuitError, match="already"):
        c.net("R_0_1")


def test_circuit_graph_is_available_as_networkx():
    c = Circuit("t")
    c.add(VSOURCE, "in", ["a", "0"], DC(1.0).to_spice())
    c.add(RESISTOR, "r", ["a", "0"], 1e3)
    g = c.to_networkx()
    assert set(g["Rr"]) == {"a", "0"} and g.nodes["a"]["kind"] == "net"


# --- the writer: vectorised, and equal to the element-by-element definition --------------------


def _one_by_one(circuit: Circuit) -> str:
    """The netlist as the writer rendered it before issue 18, one element at a time (the
    definition that the vectorised writer must reproduce byte for byte)."""
    from spicegrad.spice.netlist import Netlist, Source, number

    net = Netlist(circuit.title, header=list(circuit.header))
    for lib in circuit.libraries:
        net.library(lib, "inline" if circuit.inline_models else "absolute")
    for block in circuit._blocks:
        names, kind, n = block.names.all(), block.kind, len(block.names)
        if kind.letter in "RC":
            tails = [number(v) for v in block.values.tolist()]
        elif kind.letter in "VI":
            tails = [v.text if isinstance(v, Source) else "DC " + number(v) for v in block.values]
        elif kind.letter == "F":
            tails = [f"{src} {number(gain)}" for src, gain in block.values]
        elif block.params:
            tails = [" ".join([kind.model + " params:", *(f"{k}={number(v[i])}" for k, v in block.params.items())])
                     for i in range(n)]
        else:
            tails = [kind.model] * n
        net.lines.append("\n".join(f"{kind.letter}{names[i]} {' '.join(circuit.net_name(j) for j in block.nodes[i])} "
                                    f"{tails[i]}" for i in range(n)))
    if circuit._options:
        net.options(**circuit._options)
    for what, args in circuit._analysis:
        if what == "tran":
            net.tran(args[0], args[1], max_step=args[2], uic=args[3])
        else:
            net.op()
    if circuit._saves:
        net.save(*circuit._saves)
    if circuit._prints and circuit.analysis == "tran":
        net.print_tran(*circuit._prints)
    return net.render()


@pytest.mark.parametrize("device", ["mss", "pcm", "resistor", "yakopcic"])
@pytest.mark.parametrize("wires", [{}, {"r_wire": 1.0}, {"r_wire": 2.5, "r_driver": 10.0, "r_sense": 5.0}])
def test_rendered_crossbar_equals_the_element_by_element_definition(device, wires):
    from spicegrad.crossbar import crossbar_circuit
    from spicegrad.crossbar.devices import get_device

    dev = get_device(device)
    lo, hi = dev.g_range(dev.default_params())
    spec = CrossbarSpec(9, 7, "differential", **wires)
    g = np.random.default_rng(3).uniform(lo, hi, size=(9, 14))
    g[0, :4] = lo  # repeated values share one text
    c = crossbar_circuit(spec, device, g, save_states=device != "resistor", neurons="mif",
                         stimuli=[Sine(0.1 + 0.01 * i, 1e3) for i in range(9)])
    assert c.render() == _one_by_one(c)


def test_rendered_circuit_of_every_element_kind_equals_the_definition():
    """Explicit and generated names (1-D, 2-D, 0-D), an empty block, sources, CCCS, capacitors,
    subcircuits with and without parameters, repeated and awkward numbers."""
    from spicegrad.spice.circuit import CCCS, ISOURCE, subcircuit

    c = Circuit("every kind")
    c.add(VSOURCE, "in", ["a", "0"], 1.5)
    c.add(RESISTOR, "x", ["a", "b"], 1e3)
    c.add(CAPACITOR, "c1", ["b", "0"], 1e-12)
    c.add(ISOURCE, "i1", ["b", "0"], 1e-3)
    c.add_block(RESISTOR, ["q1", "Q2"], [["a", "b"], ["b", "0"]], [5e-324, 1.7976931348623157e308])
    ids = c.nets("m", (2, 3))
    c.add_block(RESISTOR, ("mm", (2, 3)), np.stack([ids.ravel(), np.zeros(6, np.int64)], 1),
                [1e16, 1e-5, 1 / 3, 0.0001, 123456789.0, 1e16])
    c.add_block(RESISTOR, ("mr", (6,)), np.stack([ids.ravel(), np.full(6, c.net("a"))], 1), [2.5] * 6)
    c.add_block(RESISTOR, ("none", (0,)), np.zeros((0, 2), np.int64), [])
    c.add_block(RESISTOR, ("one", ()), [[c.net("a"), 0]], [7.0])
    c.add(CCCS, "f", ["b", "0"], ("Vin", 2.0))
    k = subcircuit("foo", ("p", "q"), ((0, 1),))
    c.add_block(k, ("s", (2,)), [[c.net("a"), 0], [c.net("b"), 0]], params={"alpha": [1.0, -2.5e-300], "beta": 3.0})
    c.add_block(k, ["e1"], [["a", "0"]])
    c.tran(1e-9, 1e-6)
    c.save("v(a)")
    c.print_results("v(a)", "v(b)")
    text = c.render()
    assert text == _one_by_one(c)
    assert "Rone 0 7.0\n" not in text and "Rone a 0 7.0\n" in text and "Rmm_1_2 m_1_2 0 1e+16\n" in text

    from spicegrad.spice.netlist import Source

    c.add(VSOURCE, "nul", ["a", "0"], Source("DC 1\0"))  # a NUL would vanish from the text: refused
    with pytest.raises(CircuitError, match="NUL"):
        c.render()


def test_generated_names_are_the_c_order_product():
    from itertools import product

    from spicegrad.spice.circuit import _Names

    for shape in [(3,), (2, 12), (11, 1, 3), (), (0,), (2, 0)]:
        expected = ["p" + "".join(f"_{i}" for i in ix) for ix in product(*map(range, shape))]
        assert _Names("p", shape).all() == expected, shape


def test_numbers_are_number_of_each_value_and_reject_non_finite():
    from spicegrad.spice.circuit import _numbers
    from spicegrad.spice.netlist import number

    rng = np.random.default_rng(0)
    values = np.concatenate([10.0 ** rng.uniform(-300, 300, 2000) * rng.choice([-1, 1], 2000),
                             [0.1, 1e16, 9999999999999998.0, 1e-4, 9.999e-5, 5e-324, 2.0 ** 60, 1e22, 3.0, 3.0]])
    table, index = _numbers(values, "v")
    assert [t.decode() for t in table[index]] == [number(v) for v in values.tolist()]
    table, index = _numbers(np.full(5, 2.5), "v")  # one value: one text
    assert table.tolist() == [b"2.5"] and index.tolist() == [0] * 5
    for bad in (np.nan, np.inf, -np.inf):
        with pytest.raises(ValueError, match="parameter x0 .*must be a finite real number"):
            _numbers(np.array([1.0, bad, 2.0]), "parameter x0")
        with pytest.raises(ValueError, match="must be a finite real number"):
            _numbers(np.full(3, bad), "v")


def test_components_agree_with_scipy():
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    from spicegrad.spice.circuit import _components

    rng = np.random.default_rng(1)
    n = 400
    chain = rng.permutation(n)  # a path through every node in random label order
    graphs = [(chain[:-1], chain[1:]), (np.full(n - 1, n - 1), np.arange(n - 1)),  # path; star on the largest
              (np.zeros(0, np.int64), np.zeros(0, np.int64))]
    graphs += [(rng.integers(0, n, m), rng.integers(0, n, m)) for m in (50, 200, 400, 2000)]
    for a, b in graphs:
        root = _components(n, a, b)
        _, label = connected_components(coo_matrix((np.ones(a.size), (a, b)), shape=(n, n)), directed=False)
        same = label[:, None] == label[None, :]
        assert np.array_equal(root[:, None] == root[None, :], same)
        assert all(root[i] == np.flatnonzero(label == label[i]).min() for i in range(n))


# --- tiling ------------------------------------------------------------------------------------


def test_tiling_counts_tiles_devices_and_utilisation():
    w = np.random.default_rng(0).normal(size=(300, 200))
    plan = plan_tiles(w, tile=128)
    assert plan.count == 6 and plan.grid == (3, 2)
    assert plan.devices_used == 2 * 300 * 200
    assert plan.devices_total == 6 * 2 * 128 * 128
    assert plan.utilisation == pytest.approx(60000 / (6 * 128 * 128))
    edge = plan.tile_weights(5)
    assert edge.shape == (128, 128) and np.all(edge[44:, :] == 0) and np.all(edge[:44, :72] == w[256:, 128:])


def test_tile_netlist_runs_in_ngspice():
    w = np.random.default_rng(1).normal(size=(10, 7))
    plan = plan_tiles(w, tile=4)
    res = run(plan.netlist(plan.count - 1, "resistor", analysis="op", r_wire=1.0))
    assert "i(vsense_7)" in res


# --- tiling from the command line -------------------------------------------------------------


def tiles_cli(*argv: str) -> int:
    return main(["netlist", "tiles", *argv])


def test_cli_tiles_prints_the_plan_and_writes_one_tile_that_runs(tmp_path, capsys):
    np.save(tmp_path / "w.npy", np.random.default_rng(3).normal(size=(5, 4)))
    out = tmp_path / "tile.cir"
    assert tiles_cli("--weights", str(tmp_path / "w.npy"), "--tile", "3", "--tile-index", "3", "--r-wire", "1",
                     "-o", str(out)) == 0
    text = capsys.readouterr().out
    # 5x4 on 3x3 tiles: 2 x 2 grid; 40 of 4·18 = 72 differential devices
    assert "4 tile(s) (2 x 2)" in text and "devices used 40 of 72: utilisation 55.6 %" in text
    assert "tile 3: weights -> conductances" in text and str(out) in text
    res = run(out)
    assert "i(vsense_5)" in res and "i(vsense_6)" not in res  # a full 3x3 differential tile


def test_cli_tiles_without_index_only_plans(tmp_path, capsys):
    np.save(tmp_path / "w.npy", np.ones((300, 200)))
    assert tiles_cli("--weights", str(tmp_path / "w.npy")) == 0  # default tile 128
    assert "6 tile(s) (3 x 2)" in capsys.readouterr().out
    assert not list(tmp_path.glob("*.cir"))


@pytest.mark.parametrize(("case", "message"), [
    (("--tile", "0"), "--tile '0': must be a positive integer"),
    (("--tile", "-4"), "must be a positive integer"),
    (("--tile", "2.5"), "must be a positive integer"),
    (("--tile", "2", "--tile-index", "4", "-o", "{tmp}/x.cir"), "--tile-index '4': must be an integer in 0..3"),
    (("--tile", "2", "--tile-index", "1"), "go together"),
    (("--tile", "2", "-o", "{tmp}/x.cir"), "go together"),
    (("--tile", "2", "--tile-index", "0", "--r-wire", "-1", "-o", "{tmp}/x.cir"), ">= 0"),
])
def test_cli_tiles_bad_input_exits_2(tmp_path, capsys, case, message):
    np.save(tmp_path / "w.npy", np.ones((3, 4)))
    argv = [a.format(tmp=tmp_path) for a in case]
    assert tiles_cli("--weights", str(tmp_path / "w.npy"), *argv) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "x.cir").exists()


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_cli_tiles_rejects_non_finite_weights(tmp_path, capsys, bad):
    w = np.ones((3, 3))
    w[2, 1] = bad
    np.save(tmp_path / "w.npy", w)
    assert tiles_cli("--weights", str(tmp_path / "w.npy"), "--tile", "2") == 2
    assert "weights[2, 1]" in capsys.readouterr().err
    assert tiles_cli("--weights", str(tmp_path / "missing.npy")) == 2


def test_reads_past_the_devices_switching_threshold_are_warned_about(tmp_path, capsys):
    out = tmp_path / "x.cir"
    assert netlist_cli("--rows", "2", "--cols", "1", "--device", "mss", "--stimulus", "sine:0.3,1e3", "-o", str(out)) == 0
    err = capsys.readouterr().err
    assert "warning: the rows reach 0.3 V, not below the mss switching threshold 0.27 V" in err
    assert netlist_cli("--rows", "2", "--cols", "1", "--device", "mss", "--stimulus", "dc:0.1", "-o", str(out)) == 0
    assert "warning" not in capsys.readouterr().err
