"""``spicegrad export``: a trained MEMprop checkpoint as an ngspice netlist, optionally verified.

Exit codes: 0 success, 2 bad input (checkpoint, data, sample index, read scale).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from .._argtypes import positive_seconds, read_scale
from ..spice.provenance import add_include_options


def add_export_parser(subparsers, help: str | None = None) -> argparse.ArgumentParser:
    """Register ``spicegrad export CHECKPOINT -o net.cir --sample K [--static-synapses] [--verify N]``."""
    p = subparsers.add_parser(
        "export",
        help=help,
        description="Netlist of the trained network for one test sample: MIF subcircuits, alpha input, "
                    "synapse pairs of the network's device (MSS by default; or fixed conductances), current "
                    "scaling as controlled sources.",
    )
    p.add_argument("checkpoint", help="checkpoint.pt written by `spicegrad train memprop`")
    p.add_argument("-o", "--output", required=True, metavar="FILE.cir")
    p.add_argument("--sample", type=int, default=0, metavar="K", help="test sample driving the input (default 0)")
    p.add_argument("--data", metavar="DIR", help="dataset directory (as for training)")
    p.add_argument("--static-synapses", action="store_true",
                   help="fixed conductances instead of programmed synapse devices (valid while the reads do not move them)")
    p.add_argument("--read-scale", type=read_scale, default="auto", metavar="R|auto",
                   help="scale word-line voltages by R in (0, 1] and current gains by 1/R (same neuron currents, "
                        "smaller device voltages); default auto: the largest R that keeps every synapse's state "
                        "drift over the sample below 1 %% of its range")
    p.add_argument("--verify", type=int, metavar="N",
                   help="simulate test samples 0..N-1 in ngspice and compare with the twin; sample K is simulated "
                        "from the written file itself (and added when K >= N)")
    p.add_argument("--max-step", type=positive_seconds, metavar="S",
                   help="ngspice's largest time step (s; default a tenth of the network's dt). At dt it runs several "
                        "times faster; --verify reports the agreement either way")
    add_include_options(p)
    fan = p.add_mutually_exclusive_group()
    fan.add_argument("--workers", type=int, metavar="N", help="fan ngspice runs out on a local Dask cluster")
    fan.add_argument("--scheduler", metavar="tcp://HOST:PORT", help="use an existing Dask scheduler")
    p.set_defaults(func=run_export)
    return p


def run_export(args: argparse.Namespace) -> int:
    import json

    import torch

    from .._io import atomic_write_json, atomic_write_text
    from ..datasets import load_dataset
    from ..memprop.drift import static_check
    from ..memprop.train import MemPropTrainConfig, load_net
    from ..spice.provenance import checkpoint_facts, command_line
    from .netlist import compression_masks, export_netlist, verify

    torch.set_num_threads(1)
    data = args.data or os.environ.get("SPICEGRAD_DATA")
    net, state = load_net(args.checkpoint)
    cfg = MemPropTrainConfig.from_dict(state["config"])
    if args.sample < 0:
        raise ValueError(f"--sample {args.sample}: must be >= 0")
    test = load_dataset(cfg.dataset, "test", data, args.sample + 1, cfg.image_size if cfg.image_size != 28 else None)
    if args.sample >= len(test):
        raise ValueError(f"--sample {args.sample}: the test set has {len(test)} samples")
    image = test.flat()[args.sample]
    check = static_check(net, image[None], read_scale=args.read_scale)
    label = int(test.labels[args.sample])
    facts = {**checkpoint_facts(args.checkpoint), "test sample": f"{args.sample} of {cfg.dataset} (label {label})"}
    text = export_netlist(net, image, static=args.static_synapses, title=f"MEMprop {cfg.dataset} test sample {args.sample}",
                          read_scale=check["read_scale"], masks=compression_masks(state),
                          include="absolute" if args.absolute_includes else "inline",
                          source=command_line(getattr(args, "argv", None)), facts=facts, max_step=args.max_step)
    written = atomic_write_text(args.output, text)
    print(f"netlist for test sample {args.sample} (label {label}) -> {written}")
    drift_what = "bound on a device's state drift" if "v_on_V" in check else "largest device drift"
    if "v_on_V" in check:
        thresholds = f"MSS thresholds ±{check['v_on_V'] * 1e3:.0f} mV"
    elif check["switching_V"] is not None:
        thresholds = (f"{check['device']} thresholds {', '.join(f'{v * 1e3:+.0f}' for v in check['switching_V'])} mV, "
                      f"reads {'inside' if check['inside_read_limit'] else 'NOT inside'} them")
    else:
        thresholds = f"{check['device']} declares no switching thresholds"
    print(f"read scale {check['read_scale']:g}: largest synapse voltage {check['v_max_V'] * 1e3:.1f} mV ({thresholds}); "
          f"{drift_what} over the sample {check['drift_bound']:.3g} (per layer "
          f"{', '.join(f'{b:.3g}' for b in check['drift_bound_per_layer'])}): "
          + ("static synapses are a fair reading" if check["static_fair"]
             else f"above {check['tolerance']:g}: the devices would drift; fixed conductances are an approximation"
                  + (" (--static-synapses)" if args.static_synapses else "")
                  + (f"; --read-scale {check['suggested_read_scale']:g} would make it fair"
                     if check["suggested_read_scale"] else "")))
    if args.verify:
        report = verify(args.checkpoint, args.verify, data, static=args.static_synapses, read_scale=args.read_scale,
                        workers=args.workers, scheduler=args.scheduler, files={args.sample: written},
                        max_step=args.max_step)
        out = Path(args.output).with_suffix(".verify.json")
        atomic_write_json(out, report)
        others = report["samples"] - 1
        print(f"ngspice ran {written} itself for test sample {args.sample}"
              + (f" and fresh exports of {others} other sample(s)" if others else ""))
        print(f"ngspice vs twin: class agrees on {report['agree']}/{report['samples']} samples; output membrane "
              f"RMS difference max {report['rms_V_max'] * 1e3:.3f} mV; ngspice {report['ngspice_wall_s']:.1f} s "
              f"-> {out}")
        print(json.dumps({k: report[k] for k in ("pred_twin", "pred_spice", "labels")}))
    return 0

