"""``spicegrad train memprop``: argument parsing and exit codes for the MEMprop trainer.

``spicegrad/cli.py`` owns the ``train`` group and calls :func:`add_memprop_parser` with its
sub-parsers. Exit codes: 0 success, 2 bad input (data, checkpoint, configuration, a twin that
fails validation), 3 training diverged (non-finite loss; the last good checkpoint is kept).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from .._argtypes import comma_floats, comma_ints, comma_names, name_range, torch_device
from .choices import DEFAULT_LEARNED, DEFAULT_SYNAPSE, SHARING, synapse_names


def add_memprop_parser(train_subparsers) -> argparse.ArgumentParser:
    """Register ``memprop`` under ``spicegrad train``."""
    p = train_subparsers.add_parser(
        "memprop",
        help="train a fully memristive SNN (MIF neurons, memristor synapse pairs) by BPTT (seed 002)",
        description="MEMprop: BPTT through the validated MIF/MSS twins. Defaults are the seed's "
                    "(784-100-10, 1000 steps of 10 µs, batch 128, lr 1e-4, 50 epochs).",
    )
    p.add_argument("--dataset", choices=["fashion-mnist", "mnist"], default="fashion-mnist")
    p.add_argument("--data", metavar="DIR", help="directory with the IDX files (default: $SPICEGRAD_DATA, "
                   "/usr/share/datasets/<dataset>, <cache>/datasets/<dataset>; see spicegrad cache info)")
    p.add_argument("--out", "-o", required=True, metavar="DIR", help="checkpoint, metrics.json and plots go here")
    p.add_argument("--train-subset", type=int, metavar="N", help="first N training samples only")
    p.add_argument("--test-subset", type=int, metavar="N", help="first N test samples only")
    p.add_argument("--validation", type=int, metavar="N",
                   help="hold out the last N training images for validation (epoch selection); default 5000 of the "
                        "full 60000, a twelfth of a --train-subset")
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
    p.add_argument("--synapse", choices=synapse_names(), default=DEFAULT_SYNAPSE,
                   help=f"registered cell device of the synapse pairs (default {DEFAULT_SYNAPSE}: Knowm MSS, 1 kΩ-100 kΩ); "
                        "its read must be ohmic, and a non-MSS device takes its default parameters")
    p.add_argument("--learn-mif", type=comma_names, default=None, metavar="NAME[,NAME...]",
                   help="co-design: learn these MIF device parameters with the synapses, inside physical bounds, "
                        f"certified against ngspice after every epoch (e.g. {','.join(DEFAULT_LEARNED)}; default none: "
                        "the seed neuron)")
    p.add_argument("--mif-sharing", choices=SHARING, default=None,
                   help="learned MIF parameters: one value per layer (default) or per neuron (every distinct set is "
                        "certified after each epoch, about 20 s each: up to one per neuron)")
    p.add_argument("--mif-bound", type=name_range, action="append", default=[], metavar="NAME=LO:HI",
                   help="replace the default bound of a learned MIF parameter (SI units; repeatable)")
    p.add_argument("--mif-lr", type=float, default=None,
                   help="Adam learning rate of the learned MIF parameters (unconstrained; default 1e-2)")
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt if it exists")
    p.add_argument("--allow-unvalidated", action="store_true",
                   help="train even if the twin configuration fails validation (recorded in the checkpoint)")
    p.add_argument("--no-compile", action="store_true", help="run the step eagerly (no torch.compile)")
    p.add_argument("--threads", type=int, default=1,
                   help="torch intra-op threads (default 1: the per-step tensors are small)")
    p.add_argument("--device", type=torch_device, default="cpu", help="torch device, e.g. cpu or cuda (default cpu)")
    p.add_argument("--force", action="store_true",
                   help="train even when the memory estimate exceeds this machine's memory")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=run_memprop)
    return p


def config_from_args(args: argparse.Namespace):
    from ..errors import InputError
    from .model import MemPropConfig
    from .train import MemPropTrainConfig

    if args.learn_mif == ():
        raise InputError("--learn-mif: no parameter named; give e.g. " + ",".join(DEFAULT_LEARNED))
    if not args.learn_mif:
        given = [flag for flag, value in (("--mif-sharing", args.mif_sharing), ("--mif-lr", args.mif_lr),
                                          ("--mif-bound", args.mif_bound or None)) if value is not None]
        if given:
            raise InputError(f"{', '.join(given)}: apply to learned MIF parameters; name them with --learn-mif "
                             f"(e.g. {','.join(DEFAULT_LEARNED)})")

    classes = 10
    net = MemPropConfig(
        layers=(args.image_size**2, *args.hidden, classes), steps=args.steps, dt=args.dt,
        integrator=args.integrator, inject_every=args.inject_every, input_amplitude=args.input_amplitude,
        current_scale=args.current_scale, logit_volt=args.logit_volt, mif_preset=args.mif_preset,
        synapse=args.synapse, learn_mif=args.learn_mif or (), mif_bounds=tuple(args.mif_bound),
        **({"mif_sharing": args.mif_sharing} if args.mif_sharing else {}),
    )
    return MemPropTrainConfig(
        net=net, dataset=args.dataset, image_size=args.image_size, train_subset=args.train_subset,
        test_subset=args.test_subset, validation=args.validation, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
        lr_milestones=args.lr_milestones, lr_gamma=args.lr_gamma, seed=args.seed, allow_unvalidated=args.allow_unvalidated,
        **({"mif_lr": args.mif_lr} if args.mif_lr is not None else {}),
    )


def run_memprop(args: argparse.Namespace) -> int:
    import torch

    from .train import check_memory, train_memprop

    torch.set_num_threads(max(1, args.threads))
    cfg = config_from_args(args)
    check_memory(cfg, args.force)
    metrics = train_memprop(cfg, Path(args.out), data=args.data or os.environ.get("SPICEGRAD_DATA"),
                            resume=args.resume, compile=not args.no_compile, progress=not args.no_progress,
                            device=args.device)
    if metrics:
        test = (f"test accuracy {metrics['test_accuracy'] * 100:.2f} % (the network of epoch {metrics['selected_epoch']}, "
                "selected on validation)" if metrics["test_accuracy"] is not None else "not tested yet")
        print(f"validation accuracy per epoch: {', '.join(f'{a * 100:.2f}' for a in metrics['val_accuracy'])} %; "
              f"{test}; " + (f"{metrics['samples_per_s']:.1f} training samples/s; " if metrics["samples_per_s"] else "")
              + f"written to {Path(args.out).resolve()}")
    return 0
