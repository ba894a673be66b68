"""``spicegrad train stdp``: measure the device-level STDP window and learn four letters with it.

Registered by :func:`add_stdp_parser` on the ``train`` command group. Writes into ``--out``:
``window.csv`` (Δt in ms; Δx and ΔG in µS from the twin and ngspice), ``window.png``,
``weights.png`` (each output's synapses as a 5×5 conductance image, µS), ``accuracy.png`` and
``metrics.json`` (held-out accuracy, window agreement and tolerance, every setting).
Bad input ends with a message on stderr and exit code 2; ngspice failures with exit code 1.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

from .._io import atomic_write_json, atomic_write_text
from .._progress import announce
from ..compare.choices import DEFAULT_DT, PAIR_PRESETS
from ..errors import InputError

EXAMPLE = "spicegrad train stdp --out out/stdp --seed 0 --epochs 10 --noise 0.1"


def add_stdp_parser(train_subparsers) -> argparse.ArgumentParser:
    """Add ``stdp`` to the ``train`` subcommands; its ``func`` returns an exit code."""
    p = train_subparsers.add_parser(
        "stdp", help="device-level STDP window (MIF neurons, MSS synapse) and a winner-take-all learner",
        description="Measure the weight change of one MSS synapse between two MIF neurons vs the pre/post "
                    "spike time difference (twin and ngspice), then learn four 5x5 letters without labels "
                    f"by that window (Zhou et al., arXiv:2203.01416). Example: {EXAMPLE}")
    p.add_argument("--out", "-o", default="out/stdp", metavar="DIR", help="output folder (default out/stdp)")
    p.add_argument("--seed", type=int, default=0, help="seed of the learner's noise and initial states (default 0)")
    p.add_argument("--epochs", type=int, default=10, help="training epochs (default 10)")
    p.add_argument("--noise", type=float, default=0.1, metavar="P",
                   help="probability that a pixel is flipped in a presentation, in [0, 1) (default 0.1)")
    p.add_argument("--outputs", type=int, default=4, help="winner-take-all output neurons (default 4)")
    p.add_argument("--train-per-letter", type=int, default=25, help="noisy presentations per letter per epoch (default 25)")
    p.add_argument("--test-per-letter", type=int, default=100, help="held-out noisy presentations per letter (default 100)")
    p.add_argument("--preset", default="zhou-tonic-knowm", choices=sorted(PAIR_PRESETS),
                   help="pair protocol preset (default zhou-tonic-knowm)")
    p.add_argument("--gain", type=float, help="buffer gain V/V (default: the preset's, 2.5)")
    p.add_argument("--delta-t-max", type=float, default=2e-3, metavar="S",
                   help="window measured over Δt in [-S, S] seconds (default 2e-3)")
    p.add_argument("--delta-t-points", type=int, default=41, help="Δt values in the window (default 41)")
    p.add_argument("--dt", type=float, default=DEFAULT_DT, help=f"twin time step, s (default {DEFAULT_DT:g})")
    p.add_argument("--window-source", choices=["twin", "ngspice"], default="twin",
                   help="which measured window the learner uses (default twin)")
    p.add_argument("--no-spice", action="store_true", help="measure the window in the twin only")
    p.add_argument("--no-cache", action="store_true", help="rerun ngspice even where a cached result exists")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_stdp)
    return p


def check_args(args: argparse.Namespace) -> None:
    """Raise ValueError naming the first bad option."""
    if not 0.0 <= args.noise < 1.0:
        raise ValueError(f"--noise {args.noise!r}: must lie in [0, 1) (a flip probability per pixel)")
    for name in ("epochs", "outputs", "train_per_letter", "test_per_letter"):
        value = getattr(args, name)
        if value < 1:
            raise ValueError(f"--{name.replace('_', '-')} {value}: must be >= 1")
    if args.delta_t_points < 3:
        raise ValueError(f"--delta-t-points {args.delta_t_points}: must be >= 3 (the window needs both signs of Δt)")
    if not args.delta_t_max > 0 or not math.isfinite(args.delta_t_max):
        raise ValueError(f"--delta-t-max {args.delta_t_max!r}: must be a finite time > 0 (s)")
    if not args.dt > 0 or args.dt > 2e-6:
        raise ValueError(f"--dt {args.dt!r}: must lie in (0, 2e-6] s (the tonic MIF twin fails above ≈ 2 µs)")
    if args.gain is not None and not args.gain > 0:
        raise ValueError(f"--gain {args.gain!r}: must be > 0 (V/V)")
    if args.window_source == "ngspice" and args.no_spice:
        raise ValueError("--window-source ngspice needs ngspice: drop --no-spice")


def _window_csv(window) -> str:
    rows = window.rows()
    cols = list(rows[0])
    lines = [",".join(cols)] + [",".join(f"{r[c]:.9g}" for c in cols) for r in rows]
    return "\n".join(lines) + "\n"


def cmd_stdp(args: argparse.Namespace) -> int:
    import numpy as np
    import torch

    from ..compare.stdp import SPICE_SECONDS_PER_PAIR_STEP, spice_seconds_estimate
    from ..compare.stdp_protocol import PairProtocol
    from ..devices.mss import mss_conductance
    from .learner import LearnerConfig, WindowRule, train
    from .plots import plot_accuracy, plot_weights, plot_window
    from .window import measure_window

    check_args(args)
    proto = PairProtocol.preset(args.preset)
    if args.gain is not None:
        proto = proto.replace(gain=args.gain)
    cfg = LearnerConfig(n_out=args.outputs, epochs=args.epochs, train_per_letter=args.train_per_letter,
                        test_per_letter=args.test_per_letter, noise=args.noise, seed=args.seed, x_init=proto.x0)
    out = Path(args.out)
    delta_t = np.round(np.linspace(-args.delta_t_max, args.delta_t_max, args.delta_t_points), 12)
    start = time.perf_counter()
    if not args.no_progress:
        what = f"measuring the STDP window at {len(delta_t)} Δt values (twin{'' if args.no_spice else ' and ngspice, one run'})"
        if args.no_spice:
            print(what + " ...", file=sys.stderr)
        else:
            announce(what, spice_seconds_estimate(delta_t, proto),
                     f"{len(delta_t)} pairs × {SPICE_SECONDS_PER_PAIR_STEP * 1e6:.0f} µs per pair and ngspice step, measured; "
                     "seconds if the result is cached")
    window = measure_window(delta_t, proto, dt=args.dt, spice=not args.no_spice, use_cache=not args.no_cache)
    t_window = time.perf_counter() - start
    try:
        rule = WindowRule(window.curve(args.window_source), window.delta_t, proto.x0)
    except ValueError as exc:
        raise InputError(f"{exc} (gain {proto.gain:g}); try a larger --gain") from exc
    start = time.perf_counter()
    result = train(rule, cfg, progress=not args.no_progress)
    t_train = time.perf_counter() - start

    syn = proto.synapse_params()
    atomic_write_text(out / "window.csv", _window_csv(window))
    plot_window(window, out / "window.png")
    plot_weights(result, lambda x: mss_conductance(torch.as_tensor(x), syn).numpy(), out / "weights.png")
    plot_accuracy(result, out / "accuracy.png")
    dx_twin = window.dx["twin"]
    metrics = {
        "arguments": {k: v for k, v in vars(args).items() if k != "func"},
        "accuracy": result.final_accuracy,
        "accuracy_per_epoch": result.accuracy,
        "accuracy_before_training": result.accuracy_before,
        "nearest_template_accuracy": result.template_accuracy,
        "labels": [result.letters[k] if k >= 0 else None for k in result.labels],
        "wins_per_output": result.wins.tolist(),
        "letters": result.letters,
        "window_agreement": window.agreement(),
        "window": {
            "source_used_by_learner": args.window_source,
            "peak_potentiation_dx": float(dx_twin.max()),
            "peak_potentiation_delta_t_ms": float(window.delta_t[np.argmax(dx_twin)] * 1e3),
            "peak_depression_dx": float(dx_twin.min()),
            "peak_depression_delta_t_ms": float(window.delta_t[np.argmin(dx_twin)] * 1e3),
            "g_per_x_uS": window.g_per_x * 1e6,
            **{k: v for k, v in window.meta.items() if k != "protocol"},
        },
        "protocol": window.meta["protocol"],
        "learner": {**cfg.__dict__, "t_ltp_s": rule.t_ltp, "t_ltd_s": rule.t_ltd,
                    "event_driven": True},
        "seconds": {"window": round(t_window, 2), "train": round(t_train, 2)},
    }
    atomic_write_json(out / "metrics.json", metrics)
    agree = window.agreement()
    if agree:
        verdict = "within" if agree["within_tolerance"] else "OUTSIDE"
        print(f"window: max |Δx twin − ngspice| = {agree['max_abs_dx']:.3g} ({verdict} the tolerance "
              f"{agree['tolerance_dx']:g}; peak |Δx| {agree['peak_abs_dx_ngspice']:.3g})")
    print(f"held-out accuracy {result.final_accuracy * 100:.1f} % on 4 letters at noise {args.noise:g} "
          f"(nearest template {result.template_accuracy * 100:.1f} %) -> {out.resolve()}")
    return 0
