"""``spicegrad train manhattan``: in-situ Manhattan-rule training statistics, plots and export.

Registered by :func:`add_manhattan_parser` on the ``train`` command group. Writes into ``--out``:
``summary.json`` ({"runs", "convergence_rate", "median_epochs", ...}), ``shifts_converged.npy``
and ``shifts_not_converged.npy`` ([runs, inputs, 2·neurons], S; replay one with ``--shifts``),
``curve.csv`` (the G(m) used; with ``--monotone`` the running maximum of the file's curve, and
``summary.json``'s ``"curve_monotone"`` says ``"running maximum"`` instead of ``"as measured"``),
and plots of run 0 (plus the epoch histogram when runs > 1).
Bad input ends with a message on stderr and exit code 2; ngspice failures with exit code 1.
A curve file whose conductance falls at some pulses (measurement noise) is used as measured, with a
warning on stderr naming the reversals (:func:`~spicegrad.manhattan.devices.check_curve`).
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from .._io import atomic_write_bytes, atomic_write_json, atomic_write_text, load_npy
from .choices import PCM, SEED, device_names

if TYPE_CHECKING:
    import numpy as np

#: most independent runs in one call (each holds its own array of devices)
MAX_RUNS = 100_000
EXAMPLE = "spicegrad train manhattan --task seed4 --device mss --runs 100 --out out/manhattan-mss"


def add_manhattan_parser(train_subparsers) -> argparse.ArgumentParser:
    """Add ``manhattan`` to the ``train`` subcommands; its ``func`` returns an exit code."""
    p = train_subparsers.add_parser(
        "manhattan", help="in-situ crossbar perceptron training with the Manhattan rule",
        description=f"Train a crossbar perceptron in situ (seed 001 / Prezioso 2015). Example: {EXAMPLE}")
    p.add_argument("--task", choices=["seed4", "letters"], default="seed4")
    cells = ", ".join(n for n in device_names() if n not in (PCM, SEED))
    p.add_argument("--device", default=SEED, metavar="DEVICE|FILE",
                   help=f"device: a registered cell that takes pulses ({cells}: its twin's pulse response), "
                        "pcm (its twin's mean-field SET curve), seed (the seed-shaped curve, default), or a "
                        "two-column FILE (pulse number, conductance in S)")
    p.add_argument("--backend", choices=["curve", "twin", "spice"], default="curve",
                   help="curve: G(m) lookup (default); twin: device physics on the twin (PCM cells with "
                        "noise, or a cell device's crossbar circuit); spice: the cell device's crossbar "
                        "circuit in ngspice")
    p.add_argument("--runs", type=int, default=1, help="independent random-shift runs (default 1)")
    p.add_argument("--out", "-o", default="out/manhattan", help="output folder")
    p.add_argument("--seed", type=int, default=0, help="random seed of the shifts (and device noise)")
    p.add_argument("--shifts", metavar="FILE.npy", help="replay saved shifts ([inputs, 2·neurons] or [runs, ...], S)")
    p.add_argument("--epochs", type=int, help="maximum epochs (default: the task's, 48)")
    p.add_argument("--beta", type=float, help="tanh gain β (1/A; default: the task's)")
    p.add_argument("--target", type=float, help="activation target magnitude t: targets ±t (default 0.8)")
    p.add_argument("--k", type=float, help="read-out gain K (default: the task's, carried to the curve)")
    p.add_argument("--shift-scale", type=float, help="shift scale (S; default: the task's, carried to the curve)")
    p.add_argument("--pulse-amplitude", type=float,
                   help="cell device: programming pulse amplitude (V, a magnitude: the polarity is the device's; "
                        "default: 0.4 for mss, else 1.5 × its switching threshold |v_up|)")
    p.add_argument("--pulse-width", type=float,
                   help="cell device: programming pulse width (s; default: 5e-6 for mss, else the time a held "
                        "pulse takes to fill 95 %% of the conductance range / (epochs - 1))")
    p.add_argument("--read-scale", default="auto", metavar="auto|R",
                   help="multiply the task's read voltages by R in (0, 1] and divide K by R (the same logic); "
                        "auto (default): 1 when the reads are below the device's read limit, else half the limit "
                        "over the largest read")
    p.add_argument("--v-read-max", type=float, help="switching threshold of a FILE device (V; default 0.5)")
    p.add_argument("--monotone", action="store_true",
                   help="FILE device: use the running maximum of the curve instead of the curve as measured "
                        "(whose reversals, pulses that lower G, are otherwise kept with a warning)")
    p.add_argument("--deterministic", action="store_true", help="twin backend: no cycle-to-cycle noise")
    p.add_argument("--allow-unvalidated", action="store_true", help="use a device twin configuration that failed validation")
    p.add_argument("--no-plots", action="store_true", help="skip the plots")
    p.add_argument("--export", metavar="FILE.cir", help="write run 0's trained crossbar as an ngspice netlist")
    p.set_defaults(func=cmd_manhattan)
    return p


def _named_device(value: str) -> str | None:
    """``value`` when it names a device (a pulse-programmable registered cell, ``pcm`` or
    ``seed``); None when it is not a name (then it is a curve file); InputError for a registered
    device that cannot take pulses."""
    from ..devices import registry
    from ..errors import InputError

    if value in (SEED, PCM) or value in registry.pulsable():
        return value
    if value in registry.names():
        kind, why = registry.get(value), ""
        if kind.role == "cell":
            from ..devices.pulses import check_pulsable

            try:
                check_pulsable(kind)
            except InputError as exc:
                why = f" ({exc})"
        raise InputError(f"--device {value!r}: not a pulse-programmable cell{why}; allowed: {_allowed()}")
    return None


def _allowed() -> str:
    from ..devices import registry

    return ", ".join(map(repr, (*registry.pulsable(), PCM, SEED))) + " or a curve FILE"


def _device(args):
    from ..errors import InputError
    from .devices import DeviceCurve

    name = _named_device(args.device)
    if name is not None:
        if args.v_read_max is not None:
            raise InputError(f"--v-read-max applies to a FILE device; {args.device!r} has its own threshold")
        if args.monotone:
            raise InputError(f"--monotone applies to a FILE device (a measured curve); {args.device!r} is not one")
        return name
    if not Path(args.device).is_file():
        raise InputError(f"--device {args.device!r}: not a device name, and the curve file does not exist; "
                         f"allowed: {_allowed()} (two columns: pulse number, conductance in S)")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", RuntimeWarning)
        curve = DeviceCurve.from_file(args.device, 0.5 if args.v_read_max is None else args.v_read_max,
                                      monotone=args.monotone)
    for w in caught:
        hint = " (--monotone uses its running maximum)" if issubclass(w.category, RuntimeWarning) else ""
        print(f"spicegrad train manhattan: warning: {w.message}{hint}", file=sys.stderr)
    if curve.meta.get("reversals_detail"):
        print(f"spicegrad train manhattan: {curve.meta['reversals_detail']}; --monotone: using its running maximum",
              file=sys.stderr)
    return curve


def build_model(args, task):
    """(model, shifts or None) from parsed arguments; raises ValueError on bad input."""
    from ..devices import registry
    from ..errors import InputError
    from .devices import ShiftDistribution, cell_pulses, get_curve, scale_to_curve
    from .model import CrossbarPerceptron

    if not 1 <= args.runs <= MAX_RUNS:
        raise InputError(f"--runs {args.runs}: must lie in 1..{MAX_RUNS} (the study's statistics use 100)")
    epochs = task.epochs if args.epochs is None else args.epochs
    if epochs < 2:
        raise InputError(f"--epochs {epochs}: must be >= 2 (epoch 0 is the initial state)")
    read_scale = _read_scale(args.read_scale)  # refused before any certification runs
    device = _device(args)
    pulses = params = None
    if isinstance(device, str) and device in registry.pulsable():
        kind = registry.get(device)
        params = kind.params()
        pulses = cell_pulses(kind, params, epochs - 1, args.pulse_amplitude, args.pulse_width)
        pulses.check_device(params, half_select=args.backend != "curve")
    elif args.pulse_amplitude is not None or args.pulse_width is not None:
        raise InputError(f"--pulse-amplitude and --pulse-width apply to a pulse-programmable cell device "
                         f"({', '.join(map(repr, registry.pulsable()))}); {args.device!r} is not one")
    curve = get_curve(device, pulses, args.allow_unvalidated, params)
    k, scale = scale_to_curve(task.k, task.shift_scale, curve)
    shifts = _load_shifts(args.shifts) if args.shifts else None
    target = 0.8 if args.target is None else args.target
    model = CrossbarPerceptron(
        device,
        beta=task.beta if args.beta is None else args.beta, targets=(-target, target),
        k=k if args.k is None else args.k,
        shift=ShiftDistribution("exponential", scale if args.shift_scale is None else args.shift_scale),
        epochs=epochs, seed=args.seed, backend=args.backend,
        deterministic=args.deterministic, pulses=pulses, params=params, allow_unvalidated=args.allow_unvalidated,
        runs=args.runs, read_scale=read_scale)
    return model, shifts


def _read_scale(value: str) -> float | str:
    from ..errors import InputError

    if value == "auto":
        return value
    try:
        r = float(value)
    except ValueError:
        r = float("nan")
    if not 0.0 < r <= 1.0:
        raise InputError(f"--read-scale {value!r}: must be 'auto' or a number in (0, 1]")
    return r


def _load_shifts(path: str) -> np.ndarray:
    return load_npy(path, "--shifts", "an array of conductance shifts in S")


def _save_npy(path: Path, arr: np.ndarray) -> None:
    import io

    import numpy as np

    buf = io.BytesIO()
    np.save(buf, arr)
    atomic_write_bytes(path, buf.getvalue())


def write_outputs(model, task, out: Path, summary: dict, plots: bool) -> None:
    from .plots import plot_epoch_histogram, plot_run

    atomic_write_json(out / "summary.json", summary)
    conv = model.converged_
    _save_npy(out / "shifts_converged.npy", model.shifts_[conv])
    _save_npy(out / "shifts_not_converged.npy", model.shifts_[~conv])
    rows = "\n".join(f"{m},{g:.9e}" for m, g in enumerate(model.curve.g))
    atomic_write_text(out / "curve.csv", "# pulse number, conductance (S)\n" + rows + "\n")
    if plots:
        plot_run(model.history_.run(0), task.y, model.targets, out / "run0", task.pattern_labels)
        if summary["runs"] > 1:
            plot_epoch_histogram(model.converged_epoch_, model.epochs - 1, out / "epochs_histogram.png")


def _test_accuracy(model, task) -> float | None:
    if task.test_y is None:
        return None
    f = model.activations(task.voltages(task.test_bits))
    labels = f > 0.5 * sum(model.targets)
    return float((labels == (task.test_y != 0)[None]).all(axis=-1).mean())


def cmd_manhattan(args: argparse.Namespace) -> int:
    from .. import __version__
    from .tasks import get_task

    task = get_task(args.task)
    model, shifts = build_model(args, task)
    start = time.perf_counter()
    model.fit(task.voltages(), task.y, shifts=shifts)
    wall = time.perf_counter() - start
    out = Path(args.out)
    summary = {**summarize_model(model, wall), "task": task.name, "spicegrad_version": __version__,
               "test_accuracy": _test_accuracy(model, task),
               "curve_monotone": model.curve.meta.get("curve_monotone", "as measured"),
               "curve_reversals": model.curve.meta.get("reversals", 0)}
    write_outputs(model, task, out, summary, not args.no_plots)
    if args.export:
        from ..spice.provenance import command_line
        from .circuit import export_netlist

        export_netlist(model, task.voltages(), args.export, source=command_line(getattr(args, "argv", None)))
        print(f"trained crossbar (run 0) -> {args.export} (+ .json)")
    print(format_summary(summary))
    print(f"summary.json, shifts and plots written to {out.resolve()}")
    return 0


def summarize_model(model, wall: float) -> dict:
    from .model import summarize

    return summarize(model, wall)


def format_summary(s: dict) -> str:
    median = "—" if s["median_epochs"] is None else f"{s['median_epochs']:g}"
    text = (f"{s['task']} × {s['device']} ({s['backend']}): {s['converged_runs']}/{s['runs']} runs converged "
            f"({100 * s['convergence_rate']:.0f} %), median epochs {median}; "
            f"β = {s['beta_per_A']:g} /A, K = {s['k']:.4g}, shift scale {s['shift']['scale_S']:.3g} S; "
            f"{s['wall_s_per_epoch'] or 0:.3g} s per epoch")
    if s.get("curve_reversals") or s.get("curve_monotone") == "running maximum":
        text += (f"; curve {s.get('curve_monotone', 'as measured')} "
                 f"({s.get('curve_reversals', 0)} reversal(s) in the file)")
    return text
