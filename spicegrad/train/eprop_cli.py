"""``spicegrad train eprop``: e-prop on fp32 weights or PCM crossbars (seed 000, SRNN-PCM).

``spicegrad/cli.py`` owns the ``train`` group and calls :func:`add_eprop_parser` with its
sub-parsers. Exit codes: 0 success, 2 bad input (options, checkpoint, a PCM configuration that
fails validation), 3 training diverged (non-finite loss; the last checkpoint is kept).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _bool(text: str) -> bool:
    """Seed-style ``--xbar true`` as well as a bare ``--xbar``."""
    if text.lower() in ("1", "true", "yes", "on"):
        return True
    if text.lower() in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"{text!r}: expected true or false")


def add_eprop_parser(train_subparsers) -> argparse.ArgumentParser:
    """Register ``eprop`` under ``spicegrad train``."""
    from .pcm_synapse import METHODS

    p = train_subparsers.add_parser(
        "eprop", help="e-prop training of a spiking RNN on PCM crossbars (seed 000)",
        description="e-prop (Bellec et al. 2020) on a 100-100-1 LIF network regressing a sum of "
                    "sinusoids; weights in fp32 or on differential PCM crossbars (Nandakumar 2018). "
                    "Defaults are SRNN-PCM's.")
    p.add_argument("--method", default="vanilla", help=f"one of {', '.join(METHODS)} (default vanilla)")
    p.add_argument("--xbar", nargs="?", const=True, default=False, type=_bool,
                   help="weights on PCM crossbars (implied by the PCM methods)")
    p.add_argument("--perf", nargs="?", const=True, default=False, type=_bool,
                   help="ideal devices: xbar_res-bit steps, no write/read noise, no drift")
    p.add_argument("--xbar-res", type=int, default=3, help="bits per device in perf mode (default 3)")
    p.add_argument("--xbar-n", type=int, default=1, help="PCM devices per side of a synapse (default 1)")
    p.add_argument("--xbar-scale", type=float, default=1.0, help="µS per weight unit (default 1)")
    p.add_argument("--grad-thr", type=float, default=0.0, help="sign method: stop-learning band (default 0)")
    p.add_argument("--prob-scale", type=float, default=1.0, help="stochastic method: µS per unit probability")
    p.add_argument("--no-refresh", action="store_true", help="never RESET and re-program saturating pairs")
    p.add_argument("--feedback", choices=["random", "symmetric"], default="random")
    for name, default in (("lr-inp", 2e-5), ("lr-rec", 5e-5), ("lr-out", 2e-5), ("thr", 0.1),
                          ("w-init-gain", 0.1), ("reg", 1e-4), ("f0", 12.0), ("gamma", 0.3)):
        p.add_argument(f"--{name}", type=float, default=default, help=f"(default {default:g})")
    p.add_argument("--epochs", type=int, default=250)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--batch-size", type=int, default=1)
    p.add_argument("--checkpoint-every", type=int, default=10, metavar="EPOCHS")
    p.add_argument("--out", "-o", required=True, metavar="DIR", help="checkpoint, metrics.json and plots")
    p.add_argument("--resume", action="store_true", help="continue from DIR/checkpoint.pt if it exists")
    p.add_argument("--allow-unvalidated", action="store_true",
                   help="train even if the PCM configuration fails validation (recorded)")
    p.add_argument("--threads", type=int, default=2, help="torch intra-op threads (default 2)")
    p.add_argument("--device", default="cpu", help="torch device (default cpu)")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=run_eprop)
    return p


def configs_from_args(args: argparse.Namespace):
    from .eprop import EpropConfig
    from .eprop_train import TrainConfig

    cfg = EpropConfig(thr=args.thr, gamma=args.gamma, reg=args.reg, f0=args.f0, lr_inp=args.lr_inp,
                      lr_rec=args.lr_rec, lr_out=args.lr_out, w_init_gain=args.w_init_gain,
                      feedback=args.feedback)
    tcfg = TrainConfig(method=args.method, xbar=args.xbar, perf=args.perf, xbar_res=args.xbar_res,
                       xbar_n=args.xbar_n, xbar_scale=args.xbar_scale, grad_thr=args.grad_thr,
                       prob_scale=args.prob_scale, refresh=not args.no_refresh, epochs=args.epochs,
                       seed=args.seed, batch_size=args.batch_size, checkpoint_every=args.checkpoint_every,
                       allow_unvalidated=args.allow_unvalidated, device=args.device)
    return cfg, tcfg


def run_eprop(args: argparse.Namespace) -> int:
    import torch

    from ..validate.certificates import UnvalidatedConfigError
    from .eprop_train import Trainer, TrainingDiverged

    try:
        cfg, tcfg = configs_from_args(args)
        if args.threads < 1:
            raise ValueError(f"--threads {args.threads}: must be >= 1")
        torch.set_num_threads(args.threads)
        trainer = Trainer(cfg, tcfg, args.out)
        ckpt = Path(args.out) / "checkpoint.pt"
        if args.resume and ckpt.is_file():
            trainer.restore(ckpt)
            print(f"resuming {ckpt} at epoch {trainer.state.epoch}", file=sys.stderr)
        elif ckpt.is_file() and not args.resume:
            raise ValueError(f"{ckpt} exists: pass --resume to continue it or choose another --out")
        summary = trainer.run(progress=not args.no_progress)
    except (ValueError, UnvalidatedConfigError) as exc:
        print(f"spicegrad train eprop: {exc}", file=sys.stderr)
        return 2
    except TrainingDiverged as exc:
        print(f"spicegrad train eprop: training diverged: {exc}", file=sys.stderr)
        return 3
    trainer.write_outputs(summary)
    print(f"{tcfg.method}: final train MSE {summary['final_train_mse']:.4f}, test MSE "
          f"{summary.get('test_mse', float('nan')):.4f}, SET pulses {summary['set_pulses']}, "
          f"{summary['seconds_per_epoch']:.2f} s/epoch -> {Path(args.out).resolve()}")
    return 0
