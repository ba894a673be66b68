"""``spicegrad train memprop``: argument parsing and exit codes for the MEMprop trainer.

``spicegrad/cli.py`` owns the ``train`` group and calls :func:`add_memprop_parser` with its
sub-parsers. Exit codes: 0 success, 2 bad input (data, checkpoint, configuration, a twin that
fails validation), 3 training diverged (non-finite loss; the last good checkpoint is kept).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from .._argtypes import comma_floats, comma_ints


def _read_scale(text: str) -> float | str:
    if text == "auto":
        return text
    try:
        value = float(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r}: expected 'auto' or a number in (0, 1]") from exc
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"{text!r}: the read scale must lie in (0, 1]")
    return value


def add_memprop_parser(train_subparsers) -> argparse.ArgumentParser:
    """Register ``memprop`` under ``spicegrad train``."""
    p = train_subparsers.add_parser(
        "memprop",
        help="train a fully memristive SNN (MIF neurons, MSS synapses) by BPTT (seed 002)",
        description="MEMprop: BPTT through the validated MIF/MSS twins. Defaults are the seed's "
                    "(784-100-10, 1000 steps of 10 µs, batch 128, lr 1e-4, 50 epochs).",
    )
    p.add_argument("--dataset", choices=["fashion-mnist", "mnist"], default="fashion-mnist")
    p.add_argument("--data", metavar="DIR", help="directory with the IDX files (default: $SPICEGRAD_DATA, "
                   "/usr/share/datasets/<dataset>, ~/.cache/spicegrad/datasets/<dataset>)")
    p.add_argument("--out", "-o", required=True, metavar="DIR", help="checkpoint, metrics.json and plots go here")
    p.add_argument("--train-subset", type=int, metavar="N", help="first N training samples only")
    p.add_argument("--test-subset", type=int, metavar="N", help="first N test samples only")
    p.add_argument("--image-size", type=int, default=28, metavar="PX", help="downsample to PX x PX (e.g. 14)")
    p.add_argument("--epochs", type=int, default=50)
    p.add_argument("--steps", type=int, default=1000, help="time steps per sample")
    p.add_argument("--dt", type=float, default=1e-5, help="time step (s)")
    p.add_argument("--integrator", choices=["exp-euler", "euler"], default="exp-euler",
                   help="MIF integrator (forward Euler diverges at dt = 10 µs and is refused by validation)")
    p.add_argument("--hidden", type=comma_ints, default=(100,), metavar="N[,N...]", help="hidden layer sizes")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--lr-milestones", type=comma_ints, default=(), metavar="E[,E...]",
                   help="multiply lr by --lr-gamma after each of these epochs (step decay; default none)")
    p.add_argument("--lr-gamma", type=float, default=0.1, help="decay factor at each milestone (default 0.1)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--inject-every", type=int, default=100, metavar="STEPS", help="alpha re-injection period")
    p.add_argument("--input-amplitude", type=float, default=0.1, metavar="V", help="word-line peak for a white pixel")
    p.add_argument("--current-scale", type=comma_floats, default=(), metavar="S[,S...]",
                   help="current-scaling factor per synapse layer (default 1 each)")
    p.add_argument("--logit-volt", type=float, default=0.01, metavar="V", help="membrane volts per logit unit")
    p.add_argument("--mif-preset", choices=["memprop", "tonic"], default="memprop")
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt if it exists")
    p.add_argument("--allow-unvalidated", action="store_true",
                   help="train even if the twin configuration fails validation (recorded in the checkpoint)")
    p.add_argument("--no-compile", action="store_true", help="run the step eagerly (no torch.compile)")
    p.add_argument("--threads", type=int, default=1,
                   help="torch intra-op threads (default 1: the per-step tensors are small)")
    p.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda (default cpu)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=run_memprop)
    return p


def config_from_args(args: argparse.Namespace):
    from .memprop import MemPropConfig
    from .memprop_train import TrainConfig

    classes = 10
    net = MemPropConfig(
        layers=(args.image_size**2, *args.hidden, classes), steps=args.steps, dt=args.dt,
        integrator=args.integrator, inject_every=args.inject_every, input_amplitude=args.input_amplitude,
        current_scale=args.current_scale, logit_volt=args.logit_volt, mif_preset=args.mif_preset,
    )
    return TrainConfig(
        net=net, dataset=args.dataset, image_size=args.image_size, train_subset=args.train_subset,
        test_subset=args.test_subset, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
        lr_milestones=args.lr_milestones, lr_gamma=args.lr_gamma, seed=args.seed, allow_unvalidated=args.allow_unvalidated,
    )


def run_memprop(args: argparse.Namespace) -> int:
    import torch

    from ..datasets import DatasetError
    from ..validate import UnvalidatedConfigError
    from .memprop_train import CheckpointError, TrainingDiverged, train_memprop

    torch.set_num_threads(max(1, args.threads))
    try:
        cfg = config_from_args(args)
        metrics = train_memprop(cfg, Path(args.out), data=args.data or os.environ.get("SPICEGRAD_DATA"),
                                resume=args.resume, compile=not args.no_compile, progress=not args.no_progress,
                                device=args.device)
    except (DatasetError, CheckpointError, UnvalidatedConfigError, ValueError) as exc:
        print(f"spicegrad train memprop: {exc}", file=sys.stderr)
        return 2
    except TrainingDiverged as exc:
        print(f"spicegrad train memprop: training stopped: {exc}", file=sys.stderr)
        return 3
    if metrics:
        print(f"test accuracy per epoch: {', '.join(f'{a * 100:.2f}' for a in metrics['test_accuracy'])} %; "
              f"{metrics['samples_per_s']:.1f} training samples/s; written to {Path(args.out).resolve()}")
    return 0


def add_export_parser(subparsers) -> argparse.ArgumentParser:
    """Register ``spicegrad export CHECKPOINT -o net.cir --sample K [--static-synapses] [--verify N]``."""
    p = subparsers.add_parser(
        "export",
        help="write a trained MEMprop network as an ngspice netlist (and verify it against the twin)",
        description="Netlist of the trained network for one test sample: MIF subcircuits, alpha input, "
                    "MSS synapse pairs (or fixed conductances), current scaling as controlled sources.",
    )
    p.add_argument("checkpoint", help="checkpoint.pt written by `spicegrad train memprop`")
    p.add_argument("-o", "--output", required=True, metavar="FILE.cir")
    p.add_argument("--sample", type=int, default=0, metavar="K", help="test sample driving the input (default 0)")
    p.add_argument("--data", metavar="DIR", help="dataset directory (as for training)")
    p.add_argument("--static-synapses", action="store_true",
                   help="fixed conductances instead of MSS devices (valid while synapse voltages stay below threshold)")
    p.add_argument("--read-scale", type=_read_scale, default="auto", metavar="R|auto",
                   help="scale word-line voltages by R in (0, 1] and current gains by 1/R (same neuron currents, "
                        "smaller device voltages); default auto: the largest R that keeps every synapse's state "
                        "drift over the sample below 1 %% of its range")
    p.add_argument("--verify", type=int, metavar="N", help="simulate test samples 0..N-1 in ngspice and compare")
    fan = p.add_mutually_exclusive_group()
    fan.add_argument("--workers", type=int, metavar="N", help="fan ngspice runs out on a local Dask cluster")
    fan.add_argument("--scheduler", metavar="tcp://HOST:PORT", help="use an existing Dask scheduler")
    p.set_defaults(func=run_export)
    return p


def run_export(args: argparse.Namespace) -> int:
    import json

    import torch

    from .._io import atomic_write_json, atomic_write_text
    from ..datasets import DatasetError, load_dataset
    from ..export import compression_masks, export_netlist, static_check, verify
    from .memprop_train import CheckpointError, TrainConfig, load_net

    torch.set_num_threads(1)
    data = args.data or os.environ.get("SPICEGRAD_DATA")
    try:
        net, state = load_net(args.checkpoint)
        cfg = TrainConfig.from_dict(state["config"])
        if args.sample < 0:
            raise ValueError(f"--sample {args.sample}: must be >= 0")
        test = load_dataset(cfg.dataset, "test", data, args.sample + 1, cfg.image_size if cfg.image_size != 28 else None)
        if args.sample >= len(test):
            raise ValueError(f"--sample {args.sample}: the test set has {len(test)} samples")
        image = test.flat()[args.sample]
        check = static_check(net, image[None], read_scale=args.read_scale)
        atomic_write_text(args.output, export_netlist(net, image, static=args.static_synapses,
                                                      title=f"MEMprop {cfg.dataset} test sample {args.sample}",
                                                      read_scale=check["read_scale"], masks=compression_masks(state)))
        print(f"netlist for test sample {args.sample} (label {int(test.labels[args.sample])}) -> {args.output}")
        print(f"read scale {check['read_scale']:g}: largest synapse voltage {check['v_max_V'] * 1e3:.1f} mV (MSS thresholds ±{check['v_on_V'] * 1e3:.0f} mV); "
              f"bound on a device's state drift over the sample {check['drift_bound']:.3g} (per layer "
              f"{', '.join(f'{b:.3g}' for b in check['drift_bound_per_layer'])}): "
              + ("static synapses are a fair reading" if check["static_fair"]
                 else f"above {check['tolerance']:g}: the devices would drift; fixed conductances are an approximation"
                      + (" (--static-synapses)" if args.static_synapses else "")
                      + (f"; --read-scale {check['suggested_read_scale']:g} would make it fair"
                         if check["suggested_read_scale"] else "")))
        if args.verify:
            report = verify(args.checkpoint, args.verify, data, static=args.static_synapses, read_scale=args.read_scale,
                            workers=args.workers, scheduler=args.scheduler)
            out = Path(args.output).with_suffix(".verify.json")
            atomic_write_json(out, report)
            print(f"ngspice vs twin: class agrees on {report['agree']}/{report['samples']} samples; output membrane "
                  f"RMS difference max {report['rms_V_max'] * 1e3:.3f} mV; ngspice {report['ngspice_wall_s']:.1f} s "
                  f"-> {out}")
            print(json.dumps({k: report[k] for k in ("pred_twin", "pred_spice", "labels")}))
    except (DatasetError, CheckpointError, ValueError) as exc:
        print(f"spicegrad export: {exc}", file=sys.stderr)
        return 2
    return 0

