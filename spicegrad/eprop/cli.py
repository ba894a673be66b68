"""``spicegrad train eprop``: e-prop on fp32 weights or PCM crossbars (seed 000, SRNN-PCM).

``spicegrad/cli.py`` owns the ``train`` group and calls :func:`add_eprop_parser` with its
sub-parsers. Exit codes: 0 success, 2 bad input (options, checkpoint, a PCM configuration that
fails validation), 3 training diverged (non-finite loss; the last checkpoint is kept).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .._argtypes import torch_device
from ..errors import InputError


def _bool(text: str) -> bool:
    """Seed-style ``--xbar true`` as well as a bare ``--xbar``."""
    if text.lower() in ("1", "true", "yes", "on"):
        return True
    if text.lower() in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"{text!r}: expected true or false")


def add_eprop_parser(train_subparsers) -> argparse.ArgumentParser:
    """Register ``eprop`` under ``spicegrad train``."""
    from ..crossbar.choices import METHODS
    from .presets import HPARAM_SETS

    p = train_subparsers.add_parser(
        "eprop", help="e-prop training of a spiking RNN on PCM crossbars (seed 000)",
        description="e-prop (Bellec et al. 2020) on a 100-100-1 LIF network regressing a sum of "
                    "sinusoids; weights in fp32 or on differential PCM crossbars (Nandakumar 2018). "
                    "Hyper-parameters start from a per-method preset (--hparams).")
    p.add_argument("--method", default="vanilla", help=f"one of {', '.join(METHODS)} (default vanilla)")
    p.add_argument("--hparams", choices=HPARAM_SETS, default="tuned",
                   help="starting hyper-parameters for the method: 'tuned' (default; presets that train "
                        "on this PCM model) or 'seed' (the SRNN-PCM README's example); options given "
                        "below override them (spicegrad/eprop/presets.py says where each comes from)")
    p.add_argument("--xbar", nargs="?", const=True, default=False, type=_bool,
                   help="weights on PCM crossbars (implied by the PCM methods)")
    p.add_argument("--perf", nargs="?", const=True, default=False, type=_bool,
                   help="ideal devices: xbar_res-bit steps, no write/read noise, no drift")
    unset = " (default: the method's preset)"
    p.add_argument("--xbar-res", type=int, default=None, help="bits per device in perf mode" + unset)
    p.add_argument("--xbar-n", type=int, default=None, help="PCM devices per side of a synapse" + unset)
    p.add_argument("--xbar-scale", type=float, default=None, help="µS per weight unit" + unset)
    p.add_argument("--grad-thr", type=float, default=None, help="sign method: stop-learning band" + unset)
    p.add_argument("--prob-scale", type=float, default=None,
                   help="stochastic method: µS of wanted change per unit pulse probability" + unset)
    p.add_argument("--no-refresh", action="store_true", help="never RESET and re-program saturating pairs")
    p.add_argument("--feedback", choices=["random", "symmetric"], default="random")
    for name in ("lr-inp", "lr-rec", "lr-out", "thr", "w-init-gain", "reg", "f0", "gamma"):
        p.add_argument(f"--{name}", type=float, default=None, help=unset.strip())
    p.add_argument("--epochs", type=int, default=250)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--batch-size", type=int, default=1)
    p.add_argument("--checkpoint-every", type=int, default=10, metavar="EPOCHS")
    p.add_argument("--out", "-o", required=True, metavar="DIR", help="checkpoint, metrics.json and plots")
    p.add_argument("--resume", action="store_true", help="continue from DIR/checkpoint.pt if it exists")
    p.add_argument("--allow-unvalidated", action="store_true",
                   help="train even if the PCM configuration fails validation (recorded)")
    p.add_argument("--threads", type=int, default=1,
                   help="torch intra-op threads (default 1: the work is many small ops; a second thread "
                        "gains little and, on a busy machine, waits for a descheduled worker at every op)")
    p.add_argument("--device", type=torch_device, default="cpu", help="torch device (default cpu)")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=run_eprop)
    return p


def configs_from_args(args: argparse.Namespace):
    from .presets import make_configs

    return make_configs(
        args.method, args.hparams, thr=args.thr, gamma=args.gamma, reg=args.reg, f0=args.f0,
        lr_inp=args.lr_inp, lr_rec=args.lr_rec, lr_out=args.lr_out, w_init_gain=args.w_init_gain,
        feedback=args.feedback, xbar=args.xbar, perf=args.perf, xbar_res=args.xbar_res,
        xbar_n=args.xbar_n, xbar_scale=args.xbar_scale, grad_thr=args.grad_thr,
        prob_scale=args.prob_scale, refresh=not args.no_refresh, epochs=args.epochs, seed=args.seed,
        batch_size=args.batch_size, checkpoint_every=args.checkpoint_every,
        allow_unvalidated=args.allow_unvalidated, device=args.device)


def run_eprop(args: argparse.Namespace) -> int:
    import torch

    from .train import Trainer

    cfg, tcfg = configs_from_args(args)
    if tcfg.epochs < 1:
        raise InputError(f"--epochs {tcfg.epochs}: must be >= 1")
    if args.threads < 1:
        raise InputError(f"--threads {args.threads}: must be >= 1")
    torch.set_num_threads(args.threads)
    trainer = Trainer(cfg, tcfg, args.out)
    ckpt = Path(args.out) / "checkpoint.pt"
    if args.resume and ckpt.is_file():
        trainer.restore(ckpt)
        print(f"resuming {ckpt} at epoch {trainer.state.epoch}", file=sys.stderr)
    elif ckpt.is_file() and not args.resume:
        raise InputError(f"{ckpt} exists: pass --resume to continue it or choose another --out")
    summary = trainer.run(progress=not args.no_progress)
    trainer.write_outputs(summary)
    untrained = summary.get("initial_train_mse")
    print(f"{tcfg.method}: train MSE {untrained if untrained is not None else float('nan'):.4f} untrained -> "
          f"{summary['final_train_mse']:.4f} (last epoch), test MSE "
          f"{summary.get('test_mse', float('nan')):.4f}, SET pulses {summary['set_pulses']}, "
          f"{summary['seconds_per_epoch']:.2f} s/epoch -> {Path(args.out).resolve()}")
    return 0
