"""``spicegrad netlist crossbar`` (a crossbar netlist that ngspice runs unchanged) and
``spicegrad netlist tiles`` (a weight matrix on T x T tiles, and any one tile's netlist).

Registered on the main parser by :func:`add_netlist_parser`; every value a user gives is parsed
and checked here or in the generator, and a bad one ends with a message on stderr and exit 2.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from .._argtypes import conductance_range
from .._io import atomic_write_text, load_npy
from ..spice.provenance import add_include_options, command_line
from .choices import PAIRS, device_names, neuron_names
from .periphery import add_periphery_options, periphery_from_args

if TYPE_CHECKING:
    import numpy as np

EXAMPLE = "spicegrad netlist crossbar --rows 8 --cols 4 --r-wire 1 --stimulus sine:0.6,1e3 -o xbar.cir"
TILES_EXAMPLE = "spicegrad netlist tiles --weights W.npy --tile 128 --tile-index 0 -o tile0.cir"


def _count(text: str, flag: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value <= 0:
        raise ValueError(f"{flag} {text!r}: must be a positive integer")
    return value


def _number(text: str | None, flag: str) -> float | None:
    if text is None:
        return None
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"{flag} {text!r}: must be a number") from None


def _load_weights(path: str, shape: tuple[int, int] | None) -> np.ndarray:
    from .mapping import require_weights

    data = load_npy(path, "--weights", f"a weight array of shape {shape}" if shape else "a weight array [inputs, outputs]")
    return require_weights(data, shape)


def build_crossbar(args: argparse.Namespace):
    """(circuit, messages) from parsed arguments; raises ValueError on bad input."""
    from .devices import get_device, resolve_params
    from .generator import check_size, crossbar_circuit, parse_stimulus
    from .mapping import map_weights
    from .topology import CrossbarSpec, require_resistance

    rows, cols = _count(args.rows, "--rows"), _count(args.cols, "--cols")
    resist = {name: require_resistance("crossbar", flag, _number(getattr(args, name), flag))
              for name, flag in (("r_wire", "--r-wire"), ("r_driver", "--r-driver"), ("r_sense", "--r-sense"))}
    spec = CrossbarSpec(rows, cols, args.pairs, **resist)
    device = get_device(args.device)
    params = resolve_params(device, None)
    stimuli = parse_stimulus(args.stimulus, rows)
    points = sum(len(getattr(s, "times", ())) for s in stimuli)
    est = check_size(spec, args.device, args.force, stimulus_points=points)  # before anything is allocated
    messages = [f"{rows}x{cols} {args.pairs} {args.device} crossbar: {est.describe()}"]
    kind = getattr(device, "kind", None)
    if kind is not None and kind.declares("switching"):
        limit = min(abs(float(v)) for v in kind.switching(params))
        peak = max(_peak(s) for s in stimuli)
        if peak >= limit:
            messages.append(f"warning: the rows reach {peak:g} V, not below the {args.device} switching threshold "
                            f"{limit:g} V (min |v_up|, |v_down|): the transient programs the cells; read below it "
                            "to keep the weights")
    periphery = periphery_from_args(args)
    if not periphery.empty:
        messages.append(f"periphery: {periphery.describe()}")
    g = None
    if args.weights:
        mapping = map_weights(_load_weights(args.weights, (rows, cols)), *_g_range(args, device, params),
                              pairs=args.pairs, w_max=_number(args.w_max, "--w-max"))
        g = mapping.g
        messages.append(mapping.report())
    circuit = crossbar_circuit(
        spec, args.device, g, params=params, stimuli=stimuli,
        neurons=args.neurons, analysis=args.analysis, dt=_number(args.dt, "--dt"),
        t_stop=_number(args.t_stop, "--t-stop"), max_step=_number(args.max_step, "--max-step"),
        save_states=args.save_states, periphery=periphery, inline_models=not args.absolute_includes, force=args.force,
        source=command_line(getattr(args, "argv", None)),
    )
    return circuit, messages


def _g_range(args: argparse.Namespace, device, params) -> tuple[float, float]:
    """The conductances weights map onto: ``--g-range`` for resistor cells, else the device's own."""
    if args.g_range is None:
        return device.g_range(params)
    if args.device != "resistor":
        raise ValueError(f"--g-range: {args.device} cells map weights onto their own conductance range "
                         f"{device.g_range(params)} S; the option is for resistor cells")
    return args.g_range


def _peak(stimulus) -> float:
    """The largest |V| a row stimulus reaches: a DC level, offset + amplitude, pulse levels, samples."""
    values = [getattr(stimulus, a) for a in ("level", "low", "high") if hasattr(stimulus, a)]
    values += list(getattr(stimulus, "values", ()))
    if hasattr(stimulus, "amplitude"):
        values.append(abs(stimulus.offset) + abs(stimulus.amplitude))
    return max(abs(float(v)) for v in values)


def _cmd_crossbar(args: argparse.Namespace) -> int:
    circuit, messages = build_crossbar(args)
    text = circuit.render()
    out = atomic_write_text(args.output, text)
    for line in messages:
        print(line, file=sys.stderr if line.startswith("warning:") else sys.stdout)
    print(f"{circuit.n_elements:,} elements -> {out}")
    return 0


def _cmd_tiles(args: argparse.Namespace) -> int:
    """Plan the tiles of a weight matrix; with --tile-index, write that tile's netlist."""
    from .generator import parse_stimulus
    from .tiling import plan_tiles
    from .topology import require_resistance

    plan = plan_tiles(_load_weights(args.weights, None), _count(args.tile, "--tile"), args.pairs)
    circuit = None
    if (args.tile_index is None) != (args.output is None):
        raise ValueError("--tile-index K and -o FILE.cir go together (write the netlist of tile K)")
    if args.tile_index is not None:
        index = _index(args.tile_index, plan.count)
        resist = {name: require_resistance("tiles", flag, _number(getattr(args, name), flag))
                  for name, flag in (("r_wire", "--r-wire"), ("r_driver", "--r-driver"), ("r_sense", "--r-sense"))}
        circuit = plan.circuit(index, args.device, **resist, stimuli=parse_stimulus(args.stimulus, plan.tile),
                               inline_models=not args.absolute_includes, force=args.force,
                               source=command_line(getattr(args, "argv", None)))
        text = circuit.render()
    info = plan.summary()
    print(f"weights {info['shape'][0]}x{info['shape'][1]} on {info['tile']}x{info['tile']} {args.pairs} tiles: "
          f"{info['tiles']} tile(s) ({info['grid'][0]} x {info['grid'][1]})")
    print(f"devices used {info['devices_used']:,} of {info['devices_total']:,}: utilisation {100 * info['utilisation']:.1f} %")
    if circuit is not None:
        out = atomic_write_text(args.output, text)
        print(f"tile {index}: {plan.mapping(index, args.device).report()}")
        print(f"tile {index}: {circuit.n_elements:,} elements -> {out}")
    return 0


def _index(text: str, count: int) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value < count:
        raise ValueError(f"--tile-index {text!r}: must be an integer in 0..{count - 1}")
    return value


def _add_tiles_parser(kinds) -> None:
    tiles = kinds.add_parser(
        "tiles",
        help="map a weight matrix onto T x T crossbar tiles: count, devices, utilisation, one tile's netlist",
        description="Tile a weight matrix onto T x T crossbars. Example: " + TILES_EXAMPLE,
    )
    tiles.add_argument("--weights", required=True, help=".npy weight matrix [inputs, outputs]")
    tiles.add_argument("--tile", default="128", help="tile size T (rows and outputs per tile), default 128")
    tiles.add_argument("--pairs", choices=list(PAIRS), default="differential", help="default differential")
    tiles.add_argument("--device", choices=device_names(), default="mss", help="cell device (default mss)")
    tiles.add_argument("--tile-index", help="write the netlist of tile K (row-major over the tile grid)")
    tiles.add_argument("--r-wire", default="0", help="wire resistance per segment, Ω (default 0)")
    tiles.add_argument("--r-driver", default="0", help="row driver resistance, Ω (default 0)")
    tiles.add_argument("--r-sense", default="0", help="column sense resistance, Ω (default 0)")
    tiles.add_argument("--stimulus", default="dc:0.1", help="row stimulus as for `netlist crossbar` (default dc:0.1)")
    add_include_options(tiles)
    tiles.add_argument("--force", action="store_true", help="write tiles above the size limit")
    tiles.add_argument("-o", "--output", help="netlist file for --tile-index (.cir)")
    tiles.set_defaults(func=_cmd_tiles)


def add_netlist_parser(subparsers, help: str | None = None) -> argparse.ArgumentParser:
    """Register ``netlist`` (with its ``crossbar`` and ``tiles`` subcommands) on ``subparsers``."""
    netlist = subparsers.add_parser("netlist", help=help)
    kinds = netlist.add_subparsers(dest="netlist_command", required=True, metavar="KIND")
    xb = kinds.add_parser(
        "crossbar",
        help="an R x C memristive crossbar read into virtual ground (or into MIF neurons)",
        description="Write an ngspice netlist of a crossbar array. Example: " + EXAMPLE,
    )
    xb.add_argument("--rows", required=True, help="rows (inputs), a positive integer")
    xb.add_argument("--cols", required=True, help="outputs (logical columns), a positive integer")
    xb.add_argument("--device", choices=device_names(), default="mss", help="cell device (default mss)")
    xb.add_argument("--pairs", choices=list(PAIRS), default="differential",
                    help="differential: G+/G- column pair per output; single: one column (default differential)")
    xb.add_argument("--r-wire", default="0", help="wire resistance per segment between cells, Ω (default 0)")
    xb.add_argument("--r-driver", default="0", help="row driver resistance, Ω (default 0)")
    xb.add_argument("--r-sense", default="0", help="column sense resistance, Ω (default 0)")
    xb.add_argument("--neurons", choices=neuron_names(), default="none", help="terminate outputs into neurons")
    xb.add_argument("--weights", help=".npy weight matrix [rows, cols] (default: all zero = g_min)")
    xb.add_argument("--g-range", type=conductance_range, metavar="LO:HI",
                    help="resistor cells: conductances the weights map onto, S (default 1e-6:1e-3)")
    xb.add_argument("--w-max", help="weight mapped to g_max; larger ones are clipped (default max|W|)")
    xb.add_argument("--stimulus", default="dc:0.1",
                    help="row stimulus: dc:V | sine:AMP,FREQ[,OFFSET] | pulse:LOW,HIGH,PERIOD,WIDTH[,DELAY[,RISE]] "
                         "| pwl:FILE.npy ([T,2] or [T,1+rows]: time, volts) (default dc:0.1)")
    xb.add_argument("--analysis", choices=["tran", "op"], default="tran", help="default tran (uic)")
    xb.add_argument("--dt", default="1e-6", help="transient step, s (default 1e-6)")
    xb.add_argument("--t-stop", help="transient end, s (default: from the stimulus)")
    xb.add_argument("--max-step", help="largest ngspice step, s (default: ngspice's choice)")
    xb.add_argument("--save-states", action="store_true", help="also save every device state v(xd_i_j.x)")
    add_periphery_options(xb)
    add_include_options(xb)
    xb.add_argument("--force", action="store_true", help="write arrays above the size limit")
    xb.add_argument("-o", "--output", required=True, help="netlist file to write (.cir)")
    xb.set_defaults(func=_cmd_crossbar)
    _add_tiles_parser(kinds)
    return netlist
