"""``spicegrad compress prune|quantize|map|topology|curves``: compression and mapping from the shell.

``spicegrad/cli.py`` registers :func:`add_compress_parser` twice: as the top-level ``compress``
command and as ``spicegrad train compress`` (the same parser, registered twice).
Exit codes: 0 success, 2 bad input (options, checkpoint, dataset), 3 fine-tuning diverged.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from .._argtypes import comma_floats, comma_ints
from .._io import load_tensors
from ..errors import InputError

EXAMPLES = """examples:
  spicegrad compress prune runs/fmnist/checkpoint.pt --sparsity 0.9 --finetune-epochs 1 -o pruned.pt
  spicegrad compress quantize pruned.pt --levels 8 --curve mss-pulse --finetune-epochs 1 -o q8.pt
  spicegrad compress map q8.pt --tile 64 --netlist-tile 0 -o mapped/
  spicegrad compress topology q8.pt --tile 64 -o topology.png
  spicegrad compress curves runs/fmnist/checkpoint.pt --test-subset 500 -o curves/
"""


def _names(text: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in text.split(",") if v.strip())


def _common(p: argparse.ArgumentParser, data: bool = True) -> None:
    p.add_argument("checkpoint", help="checkpoint.pt of `spicegrad train memprop` (or of a compress step)")
    if data:
        p.add_argument("--data", metavar="DIR", help="dataset directory (as for training; default $SPICEGRAD_DATA)")
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


def _finetune_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("fine-tuning on the twin (masks held, levels through the straight-through estimator)")
    g.add_argument("--finetune-epochs", type=int, default=0, metavar="E", help="epochs of fine-tuning (default 0: none)")
    g.add_argument("--train-subset", type=int, default=1000, metavar="N",
                   help="first N training samples to fine-tune on (default 1000; 0 = all)")
    g.add_argument("--batch-size", type=int, default=32, help="fine-tuning batch size (default 32)")
    g.add_argument("--lr", type=float, default=1e-4, help="fine-tuning Adam learning rate (default 1e-4)")
    g.add_argument("--seed", type=int, default=0, help="batch order seed (default 0)")
    p.add_argument("--test-subset", type=int, default=1000, metavar="N",
                   help="first N test samples to report accuracy on before and after (default 1000; 0 = all, "
                        "-1 = do not evaluate)")


def add_compress_parser(subparsers, help: str | None = None) -> argparse.ArgumentParser:
    """Register ``compress`` (with its five sub-commands) on ``subparsers``."""
    from ..spice.provenance import add_include_options
    from .choices import DEFAULT_CURVES, sources

    top = subparsers.add_parser(
        "compress", help=help,
        description="Compression and hardware mapping of a trained MEMprop network (and curves for e-prop).",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = top.add_subparsers(dest="compress_command", required=True, metavar="STEP")

    p = sub.add_parser("prune", help="magnitude pruning (global or per layer; sparsity or threshold)",
                       description="Remove synapse pairs (both devices) by |w| = s·|G+ − G−|; optionally fine-tune.")
    _common(p)
    how = p.add_mutually_exclusive_group(required=True)
    how.add_argument("--sparsity", type=float, help="fraction of synapse pairs to remove, in [0, 1)")
    how.add_argument("--threshold", type=float, metavar="A/V", help="remove pairs with |w| below this (S)")
    p.add_argument("--scope", choices=["global", "layer"], default="global",
                   help="one ranking over all layers (global) or the same sparsity in each layer")
    p.add_argument("--granularity", choices=["synapse", "row"], default="synapse",
                   help="remove single pairs (default) or whole word lines (rows: inputs of a layer), which "
                        "compaction turns into fewer tiles")
    _finetune_options(p)
    p.add_argument("-o", "--output", required=True, metavar="OUT.pt", help="compressed checkpoint (+ OUT.png)")
    p.set_defaults(func=run_prune)

    p = sub.add_parser("quantize", help="quantise every device to N levels of a device curve",
                       description="Each device of each pair to its nearest level: uniform states, the pulse "
                                   "response of a registered cell (twin; mss-pulse, ...) or the PCM cumulative SET "
                                   "curve (mean field); optionally "
                                   "quantisation-aware fine-tuning with a straight-through estimator.")
    _common(p)
    p.add_argument("--levels", type=int, required=True, metavar="N", help="levels per device (>= 2)")
    p.add_argument("--curve", choices=sources(), default="uniform",
                   help="where the levels come from (default uniform); DEVICE-pulse: the conductance after "
                        "0..N-1 identical potentiating pulses of that registered cell (its twin)")
    p.add_argument("--pulse-amplitude", type=float, metavar="V",
                   help="DEVICE-pulse: pulse amplitude (default 1.5·|v_up| of the device, polarity of v_up; "
                        "mss-pulse 0.5 V)")
    p.add_argument("--pulse-width", type=float, metavar="S",
                   help="DEVICE-pulse: pulse width (default the time a held pulse takes to fill 95 %% of the "
                        "range, divided by N−1, on a round step; mss-pulse 3·tau/(N−1))")
    p.add_argument("--pcm-preset", default="nandakumar2018", help="pcm-set: PCM parameter preset")
    p.add_argument("--range", dest="range_mode", choices=["mse", "max", "none"], default="mse",
                   help="where each layer's weights sit on the levels: clip value with the least squared error "
                        "(mse, default), largest weight on the top level (max), or unchanged current scales (none)")
    _finetune_options(p)
    p.add_argument("-o", "--output", required=True, metavar="OUT.pt", help="compressed checkpoint (+ OUT.png)")
    p.set_defaults(func=run_quantize)

    p = sub.add_parser("map", help="map onto TxT crossbar tiles: counts per layer; netlists of tiles",
                       description="Remove empty rows/columns, cut into TxT blocks, pack blocks onto tiles; print "
                                   "and save tiles, devices and utilisation per layer; write tile netlists.")
    _common(p, data=False)
    p.add_argument("--tile", type=int, default=128, metavar="T", help="tile size T (T rows x T pairs; default 128)")
    p.add_argument("--keep-zero-pairs", action="store_true", help="keep pairs with G+ = G- (default: removed)")
    p.add_argument("--no-cross-layer-packing", action="store_true", help="never share a tile between layers")
    p.add_argument("--netlist-tile", type=int, metavar="K", help="write tile K as DIR/tile_K.cir")
    p.add_argument("--netlist-all", action="store_true", help="write every tile and DIR/tiles.json")
    p.add_argument("--device", choices=["mss", "resistor"], default="mss", help="tile cells (default mss)")
    p.add_argument("--read-voltage", type=float, default=0.1, metavar="V", help="DC row voltage (default 0.1 V)")
    p.add_argument("--r-wire", type=float, default=0.0, metavar="OHM", help="wire resistance per segment")
    add_include_options(p)
    p.add_argument("--run", action="store_true", help="run the written tile netlist(s) in ngspice and compare the "
                                                     "bit-line currents with Σ V·G")
    p.add_argument("-o", "--output", required=True, metavar="DIR", help="mapping.json, mapping.csv, tiles")
    p.set_defaults(func=run_map)

    p = sub.add_parser("topology", help="draw the network layer by layer and tile by tile (PNG and SVG)")
    _common(p, data=False)
    p.add_argument("--tile", type=int, default=128, metavar="T", help="tile size T (default 128)")
    p.add_argument("--max-nodes", type=int, default=28, help="neuron groups drawn per population (default 28)")
    p.add_argument("-o", "--output", required=True, metavar="FILE.png", help="writes FILE.png and FILE.svg")
    p.set_defaults(func=run_topology)

    p = sub.add_parser("curves", help="accuracy (MEMprop) or MSE (e-prop) vs sparsity and vs device levels",
                       description="Each point from the checkpoint afresh; with --finetune-epochs also after "
                                   "fine-tuning; saves devices and tiles per point; JSON, CSV and PNG.")
    _common(p)
    p.add_argument("--sparsities", type=comma_floats, default=None, metavar="S,S,...",
                   help="default 0,0.5,0.7,0.8,0.9,0.95,0.98")
    p.add_argument("--levels", type=comma_ints, default=None, metavar="N,N,...", help="default 2,3,4,8,16,32")
    p.add_argument("--curves", type=_names, default=None, metavar="NAME,...",
                   help=f"device curves among {','.join(sources())} (default {','.join(DEFAULT_CURVES)})")
    p.add_argument("--scope", choices=["global", "layer"], default="global")
    p.add_argument("--granularity", type=_names, default=("synapse",), metavar="G[,G]",
                   help="pruning sweeps: synapse (unstructured, default), row (whole word lines), or both")
    p.add_argument("--tile", type=int, default=128, metavar="T", help="tile size for the hardware counts")
    p.add_argument("--pulse-amplitude", type=float, metavar="V", help="DEVICE-pulse curves: see `compress quantize --help`")
    p.add_argument("--pulse-width", type=float, metavar="S", help="DEVICE-pulse curves: see `compress quantize --help`")
    p.add_argument("--pcm-preset", default="nandakumar2018")
    p.add_argument("--range", dest="range_mode", choices=["mse", "max", "none"], default="mse",
                   help="quantisation range per layer (see `compress quantize --help`)")
    _finetune_options(p)
    p.add_argument("-o", "--output", required=True, metavar="DIR", help="curves.json, curves.csv, curves.png")
    p.set_defaults(func=run_curves)
    return top


# --- helpers ----------------------------------------------------------------------------------


def _subset(n: int) -> int | None:
    return None if n == 0 else n


def _setup(args) -> None:
    import torch

    if args.threads < 1:
        raise ValueError(f"--threads {args.threads}: must be >= 1")
    torch.set_num_threads(args.threads)


def _data(args):
    return getattr(args, "data", None) or os.environ.get("SPICEGRAD_DATA")


def _load_split(state, args, split: str, subset: int | None):
    from ..datasets import load_dataset
    from ..memprop.train import MemPropTrainConfig

    cfg = MemPropTrainConfig.from_dict(state["config"])
    data = load_dataset(cfg.dataset, split, _data(args), subset, cfg.image_size if cfg.image_size != 28 else None)
    return data.flat(), data.labels


def _evaluate(net, state, args) -> float | None:
    from ..memprop.train import evaluate

    if args.test_subset < 0:
        return None
    x, y = _load_split(state, args, "test", _subset(args.test_subset))
    return evaluate(net, x, y, min(256, len(y)), progress=not args.no_progress)["accuracy"]


def _maybe_finetune(net, state, args) -> None:
    from .finetune import finetune

    if args.finetune_epochs < 0:
        raise ValueError(f"--finetune-epochs {args.finetune_epochs}: must be >= 0")
    if args.finetune_epochs == 0:
        return
    x, y = _load_split(state, args, "train", _subset(args.train_subset))
    rec = finetune(net, x, y, epochs=args.finetune_epochs, batch_size=args.batch_size, lr=args.lr, seed=args.seed,
                   progress=not args.no_progress)
    print(f"fine-tuned {rec['epochs']} epoch(s) on {rec['samples']} samples ({rec['steps']} steps, "
          f"{rec['wall_s']:.1f} s); loss per epoch {', '.join(f'{v:.4g}' for v in rec['loss_per_epoch'])}")


def _guarded(name: str, fn, args) -> int:
    """Set up threads and data, then run ``fn``; errors reach the CLI's one exit-code map."""
    _setup(args)
    return fn(args)


def _compress_step(args, step: str) -> int:
    from .network import CompressedMemPropNet, load_compressed, save_compressed
    from .plots import plot_compression

    net, state = load_compressed(args.checkpoint)
    before = CompressedMemPropNet.from_net(net)
    acc0 = _evaluate(net, state, args)
    if step == "prune":
        from .pruning import prune

        prune(net, sparsity=args.sparsity, threshold=args.threshold, scope=args.scope, granularity=args.granularity)
        c = net.synapse_counts()
        print(f"pruned to sparsity {c['sparsity'] * 100:.2f} % ({c['kept']} of {c['synapses']} pairs kept; per layer "
              f"{', '.join(f'{s * 100:.2f} %' for s in c['sparsity_per_layer'])})")
    else:
        from .choices import pulse_device
        from .levels import device_levels
        from .quantization import quantize

        if pulse_device(args.curve) is None and (args.pulse_amplitude is not None or args.pulse_width is not None):
            raise InputError(f"--pulse-amplitude and --pulse-width apply to a <device>-pulse curve; --curve "
                             f"{args.curve!r} is not one")
        levels = device_levels(args.curve, args.levels, net.cfg.synapse_params, amplitude=args.pulse_amplitude,
                               width=args.pulse_width, pcm_preset=args.pcm_preset)
        quantize(net, levels, range_mode=args.range_mode)
        print(f"quantised every device to {levels.describe()}: states {', '.join(f'{v:.4g}' for v in levels.states)}; "
              f"current scales now {', '.join(f'{s:.4g}' for s in net.cfg.current_scale)}")
    acc1 = _evaluate(net, state, args)
    _maybe_finetune(net, state, args)
    acc2 = _evaluate(net, state, args) if args.finetune_epochs else None
    out = save_compressed(net, state, args.output)
    net.snap_()
    png = plot_compression(before, net, Path(args.output).with_suffix(".png"), f"{step}: {Path(args.checkpoint).name}")
    if acc0 is not None:
        line = f"test accuracy ({args.test_subset or 'all'} samples): before {acc0 * 100:.2f} %, after {acc1 * 100:.2f} %"
        if acc2 is not None:
            line += f", after fine-tuning {acc2 * 100:.2f} %"
        print(line)
    print(f"written {out} and {png}")
    return 0


def run_prune(args) -> int:
    return _guarded("prune", lambda a: _compress_step(a, "prune"), args)


def run_quantize(args) -> int:
    return _guarded("quantize", lambda a: _compress_step(a, "quantize"), args)


def _mapping_of(args, tile: int, keep_zero: bool = False, cross: bool = True):
    """(mapping, memprop net or None) for a MEMprop or e-prop checkpoint."""

    from .eprop_net import EpropCompression, is_eprop_checkpoint
    from .mapping import map_layers, memprop_layers, require_tile
    from .network import load_compressed

    require_tile(tile)
    path = Path(args.checkpoint)
    if path.is_file():
        if is_eprop_checkpoint(load_tensors(path)):
            comp = EpropCompression.load(path)
            return map_layers(comp.layers(comp.trainer()), tile, cross), None
    net, _ = load_compressed(path)
    return map_layers(memprop_layers(net, drop_zero_pairs=not keep_zero), tile, cross), net


def _map(args) -> int:
    import csv
    import io
    import json

    import numpy as np

    from .._io import atomic_write_json, atomic_write_text
    from ..spice.provenance import checkpoint_facts, command_line
    from .netlist import tile_circuit, write_mapped_network

    mapping, net = _mapping_of(args, args.tile, args.keep_zero_pairs, not args.no_cross_layer_packing)
    out = Path(args.output)
    print(mapping.table())
    atomic_write_json(out / "mapping.json", mapping.summary())
    buf = io.StringIO()
    fields = ["name", "shape", "synapses", "pairs", "devices", "rows_kept", "cols_kept", "blocks", "tiles",
              "utilisation", "dense_tiles"]
    w = csv.DictWriter(buf, fieldnames=fields, extrasaction="ignore")
    w.writeheader()
    for row in mapping.per_layer:
        w.writerow({**row, "shape": "x".join(map(str, row["shape"]))})
    tot = mapping.summary()["total"]
    w.writerow({"name": "total (packed)", "synapses": tot["synapses"], "pairs": tot["pairs"], "devices": tot["devices"],
                "tiles": tot["tiles"], "utilisation": tot["utilisation"], "dense_tiles": tot["dense_tiles"]})
    atomic_write_text(out / "mapping.csv", buf.getvalue())
    if args.netlist_tile is not None or args.netlist_all:
        if net is None:
            raise ValueError("tile netlists need device states: only MEMprop checkpoints can be written as netlists")
        kw = dict(device=args.device, read_voltage=args.read_voltage, r_wire=args.r_wire,
                  inline_models=not args.absolute_includes, source=command_line(getattr(args, "argv", None)),
                  facts=checkpoint_facts(args.checkpoint))
        synapse = net.cfg.synapse_params
        if args.netlist_all:
            files = write_mapped_network(mapping, synapse, out, **kw)
            print(f"{mapping.n_tiles} tile netlists and tiles.json -> {out}")
        else:
            tc = tile_circuit(mapping, args.netlist_tile, synapse, **kw)
            files = [atomic_write_text(out / f"tile_{args.netlist_tile}.cir", tc.render()),
                     atomic_write_text(out / f"tile_{args.netlist_tile}.json", json.dumps(tc.line_map(), indent=1))]
            print(f"tile {args.netlist_tile}: {tc.devices} devices -> {files[0]}")
        if args.run:
            from ..spice import run

            for f in (f for f in files if f.suffix == ".cir"):
                k = int(f.stem.split("_")[1])
                tc = tile_circuit(mapping, k, synapse, **kw)
                res = run(f)
                got = np.array([res[f"i(vsense_{j})"][0] for j in range(tc.g.shape[1])])
                want = tc.expected_currents()
                err = float(np.abs(got - want).max())
                print(f"ngspice {f.name}: bit-line currents vs Σ V·G: max |Δ| {err:.3g} A "
                      f"(largest current {float(np.abs(want).max()):.3g} A)")
    print(f"mapping.json and mapping.csv -> {out}")
    return 0


def run_map(args) -> int:
    return _guarded("map", _map, args)


def _topology(args) -> int:
    from .topology import draw_topology, topology_graph

    mapping, _ = _mapping_of(args, args.tile)
    g = topology_graph(mapping, args.max_nodes)
    files = draw_topology(g, mapping, args.output, f"{Path(args.checkpoint).name}: {mapping.devices} devices on "
                                                   f"{mapping.n_tiles} tiles of {args.tile}x{args.tile}")
    print(f"{g.number_of_nodes()} nodes, {g.number_of_edges()} edges -> {', '.join(map(str, files))}")
    return 0


def run_topology(args) -> int:
    return _guarded("topology", _topology, args)


def _curves(args) -> int:
    from .curves import CurveSettings, eprop_curves, memprop_curves, write_curves
    from .eprop_net import is_eprop_checkpoint

    given = {k: v for k, v in (("sparsities", args.sparsities), ("levels", args.levels), ("curves", args.curves))
             if v is not None}
    settings = CurveSettings(**given, scope=args.scope, granularities=args.granularity, tile=args.tile, finetune_epochs=args.finetune_epochs,
                             train_subset=_subset(args.train_subset), test_subset=_subset(max(args.test_subset, 0)),
                             batch_size=args.batch_size, lr=args.lr, seed=args.seed,
                             pulse_amplitude=args.pulse_amplitude, pulse_width=args.pulse_width,
                             pcm_preset=args.pcm_preset, range_mode=args.range_mode)
    path = Path(args.checkpoint)
    if is_eprop_checkpoint(load_tensors(path)):
        if args.finetune_epochs:
            raise ValueError("--finetune-epochs: e-prop curves are post-training only (see spicegrad.compress.eprop_net)")
        result = eprop_curves(path, settings, progress=not args.no_progress)
        key, unit = "train_mse", ""
    else:
        result = memprop_curves(path, settings, _data(args), progress=not args.no_progress)
        key, unit = "accuracy", " %"
    files = write_curves(result, args.output, path.name)
    for p in result["points"]:
        value = p[key] * (100 if unit else 1)
        x = f"sparsity {p['sparsity'] * 100:5.1f} %" if p["sweep"] != "levels" else f"{p['levels']:3d} levels"
        print(f"{p['curve']:>18} {x:>18} {'fine-tuned' if p['finetuned'] else '          '}  {key} {value:8.4g}{unit}  "
              f"devices {p['devices']:>7}  tiles {p['tiles']:>3} (dense {p['dense_tiles']})")
    print(f"{len(result['points'])} points in {result['wall_s']:.1f} s -> {', '.join(str(f) for f in files)}")
    return 0


def run_curves(args) -> int:
    return _guarded("curves", _curves, args)
