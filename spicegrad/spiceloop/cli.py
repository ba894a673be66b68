"""``spicegrad train spice-loop``: the SPICE-in-the-loop experiment, one or more seeds.

Writes ``OUT/s<seed>/`` per seed (checkpoint.pt, metrics.json, accuracy.png, mismatch.png) and,
for several seeds, ``OUT/summary.json`` and ``OUT/summary.png`` (mean ± std over the seeds).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .._argtypes import seed_list
from ..crossbar.periphery import add_periphery_options

EXAMPLE = "spicegrad train spice-loop --seeds 0,1,2 --out out/spice-loop"


def add_spiceloop_parser(train_subparsers) -> argparse.ArgumentParser:
    """Add ``spice-loop`` to the ``train`` subcommands."""
    from .config import DEFAULT_PERIPHERY, ExperimentConfig

    d = ExperimentConfig()
    p = train_subparsers.add_parser(
        "spice-loop", help="train through crossbars with periphery in ngspice (physics-aware training)",
        description="Train a two-layer crossbar network three ways and measure each in ngspice: on the ideal "
                    "twin then deployed, with SPICE in the loop (ngspice forward, twin backward), and the "
                    f"twin's own accuracy. Example: {EXAMPLE}")
    p.add_argument("--out", "-o", default="out/spice-loop", help="output folder (default out/spice-loop)")
    p.add_argument("--seeds", type=seed_list, default=(0,), metavar="S[,S...]", help="seeds (default 0)")
    p.add_argument("--dataset", default=d.dataset, help=f"fashion-mnist, mnist or bars (default {d.dataset})")
    p.add_argument("--data", metavar="DIR", help="folder of the dataset's IDX files (default: searched)")
    p.add_argument("--image-size", type=int, default=d.image_size, help=f"pixels per side (default {d.image_size})")
    p.add_argument("--train", type=int, default=d.train, help=f"training images, the first of the file (default {d.train})")
    p.add_argument("--validation", type=int, default=d.validation,
                   help=f"validation images, the last of the training file (default {d.validation})")
    p.add_argument("--test", type=int, help="test images, the first of the test file (default: all)")
    p.add_argument("--hidden", type=int, default=d.hidden, help=f"hidden units (default {d.hidden})")
    p.add_argument("--epochs", type=int, default=d.epochs, help=f"epochs per phase (default {d.epochs})")
    p.add_argument("--batch", type=int, default=d.batch, help=f"minibatch (default {d.batch})")
    p.add_argument("--lr", type=float, default=d.lr, help=f"Adam learning rate (default {d.lr:g})")
    p.add_argument("--v-read", type=float, default=d.v_read, help=f"row voltage of a unit pixel, V (default {d.v_read:g})")
    p.add_argument("--hidden-scale", type=float, default=d.hidden_scale,
                   help=f"layer-1 output (V) that the DAC maps to --v-read on layer 2 (default {d.hidden_scale:g})")
    p.add_argument("--temperature", type=float, default=d.temperature,
                   help=f"layer-2 output (V) per logit unit (default {d.temperature:g})")
    p.add_argument("--r-wire", type=float, default=d.r_wire, help="wire resistance per segment, Ω (default 0)")
    add_periphery_options(p, DEFAULT_PERIPHERY)
    p.add_argument("--workers", type=int, metavar="N", help="run each batch's ngspice chunks on a local Dask cluster of N processes")
    p.add_argument("--scheduler", metavar="tcp://HOST:PORT", help="... or on an existing Dask scheduler")
    p.add_argument("--resume", action="store_true", help="continue the runs in --out from their checkpoints")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_spiceloop)
    return p


def config_from_args(args, seed: int):
    from ..crossbar.periphery import periphery_from_args
    from .config import ExperimentConfig

    return ExperimentConfig(dataset=args.dataset, image_size=args.image_size, train=args.train,
                            validation=args.validation, test=args.test, hidden=args.hidden, epochs=args.epochs,
                            batch=args.batch, lr=args.lr, r_wire=args.r_wire, v_read=args.v_read,
                            hidden_scale=args.hidden_scale, temperature=args.temperature,
                            periphery=periphery_from_args(args).to_dict(), seed=seed)


def cmd_spiceloop(args: argparse.Namespace) -> int:
    from .._io import atomic_write_json
    from ..validate.fanout import dask_client
    from .experiment import run_seed, summarize
    from .plots import plot_summary

    configs = [config_from_args(args, seed) for seed in args.seeds]  # every option checked before any work
    out = Path(args.out)
    _check_out(out, args.seeds, args.resume)
    client = cluster = None
    if args.workers is not None or args.scheduler:
        client, cluster = dask_client(args.workers, args.scheduler)
    try:
        runs = []
        for cfg in configs:
            print(f"seed {cfg.seed}: {cfg.periph.describe()}", flush=True)
            m = run_seed(cfg, out / f"s{cfg.seed}", args.data, resume=args.resume, client=client,
                         show_progress=not args.no_progress, log=lambda line: print(line, flush=True))
            runs.append(m)
            t = m["test_accuracy"]
            print(f"seed {cfg.seed}: test accuracy (a) twin-trained in ngspice {100 * t['twin_trained_in_circuit']:.2f} %, "
                  f"(b) SPICE in the loop {100 * t['spice_trained_in_circuit']:.2f} %, (c) twin on twin "
                  f"{100 * t['twin_trained_on_twin']:.2f} %", flush=True)
    finally:
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()
    if len(runs) > 1:
        s = summarize(runs)
        atomic_write_json(out / "summary.json", s)
        plot_summary(s, out / "summary.png")
        rec = s["gap_recovered_of_means"]
        print(f"mean ± std over seeds {s['seeds']}: (a) {_pm(s['twin_trained_in_circuit'])}, "
              f"(b) {_pm(s['spice_trained_in_circuit'])}, (c) {_pm(s['twin_trained_on_twin'])}; gap recovered "
              f"{'n/a' if rec is None else f'{100 * rec:.0f} %'}")
    print(f"results in {out.resolve()}", file=sys.stderr)
    return 0


def _check_out(out: Path, seeds, resume: bool) -> None:
    """Before any work: --out is a folder, no seed's run is overwritten without --resume, and a
    summary.json there is one this command wrote."""
    import json

    from ..errors import InputError
    from .experiment import CHECKPOINT_NAME

    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out}: a file; give a folder")
    if not resume:
        taken = [str(out / f"s{s}" / CHECKPOINT_NAME) for s in seeds if (out / f"s{s}" / CHECKPOINT_NAME).exists()]
        if taken:
            raise InputError(f"{', '.join(taken)} exist(s): pass --resume to continue, or choose another --out")
    summary = out / "summary.json"
    if len(seeds) > 1 and summary.exists():
        try:
            ours = "gap_recovered_of_means" in json.loads(summary.read_text())
        except (ValueError, TypeError, OSError, UnicodeDecodeError):
            ours = False
        if not ours:
            raise InputError(f"{summary} exists and was not written by spice-loop: move it, or choose another --out")


def _pm(stat: dict) -> str:
    return f"{100 * stat['mean']:.2f} ± {100 * stat['std']:.2f} %"
