"""The ``spicegrad`` command: one command, subcommands, ``--help`` on each; exit 0 on success."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from pathlib import Path

from . import __version__
from .errors import InputError


def _cmd_demo(args: argparse.Namespace) -> int:
    from .demo import format_table, run_demo

    summary = run_demo(Path(args.out), tuple(args.model) if args.model else None)
    print(format_table(summary))
    print(f"plots and summary.json written to {Path(args.out).resolve()}")
    return 0


def _cmd_simulate(args: argparse.Namespace) -> int:
    import numpy as np

    from ._io import atomic_write_bytes, check_output_path
    from .spice import run
    from .spice.policy import flatten

    path = Path(args.netlist)
    if not path.is_file():
        raise InputError(f"no such netlist file: {path}")
    out = check_output_path(path.with_suffix(".npz") if args.output is None else args.output)
    text = path.read_text(errors="replace")
    if args.trusted:
        result = run(text, backend=args.backend, timeout=args.timeout)  # as written
    else:
        try:
            text = flatten(text, path)
        except InputError as exc:
            raise InputError(f"refusing {exc}; pass --trusted only if you trust this file and everything it "
                             "includes (docs/security.md)") from None
        result = run(text, backend=args.backend, timeout=args.timeout)
    import io

    buf = io.BytesIO()
    np.savez(buf, time=result.time, **{k: v for k, v in result.vectors.items() if k != "time"})
    atomic_write_bytes(out, buf.getvalue())
    print(f"{len(result.time)} timepoints, vectors: {', '.join(result.names)} -> {out}")
    return 0


def _cmd_characterize(args: argparse.Namespace) -> int:
    from .characterize.mif import characterize

    result = characterize(Path(args.out))
    print("memprop: response to one alpha input (times from the spike)")
    print(f"{'source':8} {'input µA':>9} {'peak mV':>8} {'at ms':>6} {'undershoot mV':>14} {'at ms':>6} {'recovery ms':>12}")
    for r in result["memprop_response"]:
        print(f"{r['source']:8} {r['amplitude_uA']:9.1f} {r['peak_mV']:8.2f} {r['t_peak_ms']:6.2f} "
              f"{r['undershoot_mV']:14.2f} {r['t_undershoot_ms']:6.2f} {r['recovery_ms']:12.2f}")
    print("tonic: f–I curve")
    for r in result["tonic_fi"]:
        print(f"{r['source']:8} {r['current_uA']:6.2f} µA  {r['rate_hz']:7.1f} Hz  ({r['n_spikes']} spikes)")
    for name, d in result["max_reduced_divergence_per_s"].items():
        print(f"max divergence of the reduced (x1, x2) flow, {name}: {d:.3g} /s")
    print(f"tables and plots written to {Path(args.out).resolve()}")
    return 0


def _cmd_validate(args: argparse.Namespace) -> int:
    from .validate.suite import run_validation

    run = run_validation(args.model, quick=args.quick, cases=args.cases, report=args.report, sweep=not args.no_sweep,
                         workers=args.workers, scheduler=args.scheduler, use_cache=not args.no_cache)
    results, swept = run.results, run.sweeps
    width = max(len(r["name"]) for r in results)
    for r in results:
        mark = "ok " if r["as_expected"] else "BAD"
        expect = "" if r["expect"] == "pass" else f" (expected {r['expect']})"
        print(f"{mark} {r['name']:{width}} {r['status']}{expect} {', '.join(r['broken'])}")
    for s in swept:
        for integ, adv in s["advice"].items():
            ok, bad = adv["largest_dt_within_tolerance"], adv["smallest_dt_diverged"]
            print(f"dt advice {s['case']} [{integ}]: largest dt within tolerance "
                  f"{'none of those swept' if ok is None else f'{ok:g} s'}, smallest dt that diverged "
                  f"{'none of those swept' if bad is None else f'{bad:g} s'}")
    passed = run.passed
    if run.report is not None:
        print(f"report: {Path(args.report).resolve() / 'index.html'}")
    print("validation " + ("PASSED" if passed else "FAILED"))
    return 0 if passed else 1


def _add_demo(sub, help: str) -> None:
    from .demo import demo_models

    demo = sub.add_parser("demo", help=help)
    demo.add_argument("--out", "-o", default="out/demo", help="output folder (default: out/demo)")
    demo.add_argument("--model", action="append", choices=demo_models(), help="only this device (repeatable)")
    demo.set_defaults(func=_cmd_demo)


def _add_validate(sub, help: str) -> None:
    from .validate.choices import validated_models

    val = sub.add_parser("validate", help=help)
    val.add_argument("--model", choices=[*validated_models(), "all"], default="all")
    val.add_argument("--quick", action="store_true", help="only the cases marked quick, no dt sweeps (36 s cold on 2 idle cores)")
    val.add_argument("--report", metavar="DIR", help="write DIR/index.html and DIR/summary.json")
    fan = val.add_mutually_exclusive_group()
    fan.add_argument("--workers", type=int, metavar="N", help="fan out on a local Dask cluster of N processes")
    fan.add_argument("--scheduler", metavar="tcp://HOST:PORT", help="fan out on an existing Dask scheduler")
    val.add_argument("--cases", nargs="+", metavar="PATH", help="case files or folders (default: the shipped cases in spicegrad/cases)")
    val.add_argument("--no-cache", action="store_true", help="rerun ngspice even where a cached result exists")
    val.add_argument("--no-sweep", action="store_true", help="skip the dt sweeps")
    val.set_defaults(func=_cmd_validate)


def _add_characterize(sub, help: str) -> None:
    char = sub.add_parser("characterize", help=help)
    char.add_argument("--out", "-o", default="out/characterize", help="output folder")
    char.set_defaults(func=_cmd_characterize)


def _add_simulate(sub, help: str) -> None:
    sim = sub.add_parser("simulate", help=help)
    sim.add_argument("netlist", help="netlist file (.cir)")
    sim.add_argument("-o", "--output", help="output .npz (default: beside the netlist)")
    sim.add_argument("--backend", choices=["subprocess", "shared"], default="subprocess")
    sim.add_argument("--timeout", type=float, default=600.0, help="seconds (default 600)")
    sim.add_argument("--trusted", "--allow-shell", dest="trusted", action="store_true",
                     help="run the file as it is, control blocks included (they can run programs and write "
                          "files); by default .control/.exec blocks, *ng_script files, backticks and includes "
                          "that break these rules are refused")
    sim.set_defaults(func=_cmd_simulate)


def _add_train(sub, help: str) -> None:
    from .compress.cli import add_compress_parser
    from .eprop.cli import add_eprop_parser
    from .manhattan.cli import add_manhattan_parser
    from .memprop.cli import add_memprop_parser
    from .spiceloop.cli import add_spiceloop_parser
    from .stdp.cli import add_stdp_parser

    train = sub.add_parser("train", help=help)
    methods = train.add_subparsers(dest="train_command", required=True, metavar="METHOD")
    add_memprop_parser(methods)
    add_manhattan_parser(methods)
    add_eprop_parser(methods)
    add_stdp_parser(methods)
    add_spiceloop_parser(methods)
    add_compress_parser(methods, help=COMMANDS["compress"][0])


#: every command: its one-line help, and where its parser is built ("module:function" taking
#: (subparsers, help)); only the command being run is imported, so `spicegrad --help` and light
#: commands do not load torch
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("simulate each device in twin and ngspice and plot them", "spicegrad.cli:_add_demo"),
    "validate": ("twin vs ngspice vs reference: report, dt advice, certificates", "spicegrad.cli:_add_validate"),
    "characterize": ("MIF response table, tonic f–I curve, Bendixson check", "spicegrad.cli:_add_characterize"),
    "netlist": ("write SPICE netlists (crossbar arrays, tiles)", "spicegrad.crossbar.cli:add_netlist_parser"),
    "pcm": ("PCM model replications (Nandakumar 2018; SRNN-PCM)", "spicegrad.pcm_replicate.cli:add_pcm_parser"),
    "export": ("write a trained MEMprop network as an ngspice netlist (and verify it against the twin)",
               "spicegrad.export.cli:add_export_parser"),
    "compress": ("prune, quantise to device levels, map onto crossbar tiles, draw, trade-off curves",
                 "spicegrad.compress.cli:add_compress_parser"),
    "train": ("train networks on validated twins", "spicegrad.cli:_add_train"),
    "simulate": ("run a netlist in ngspice and save its vectors as .npz", "spicegrad.cli:_add_simulate"),
    "cache": ("show or clear the cache (ngspice results, case results, certificates, datasets)",
              "spicegrad.spice.cache_cli:add_cache_parser"),
}


def _command_of(argv: list[str]) -> str | None:
    return next((a for a in argv if not a.startswith("-")), None)


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The ``spicegrad`` parser. With ``argv``, only the command it names is built in full (the
    others are listed with their help); without, every command is built."""
    import importlib

    parser = argparse.ArgumentParser(
        prog="spicegrad",
        description="ngspice subcircuits and differentiable PyTorch twins of memristive devices.",
    )
    parser.add_argument("--version", action="version", version=f"spicegrad {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log ngspice's output (debug level)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    wanted = None if argv is None else _command_of(argv)
    for name, (help, where) in COMMANDS.items():
        if argv is None or name == wanted:
            module, _, function = where.partition(":")
            getattr(importlib.import_module(module), function)(sub, help=help)
        else:
            sub.add_parser(name, help=help)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command; every error class maps to its exit status in :data:`spicegrad.errors.EXIT_CODES`."""
    from .errors import SpicegradError, exit_code

    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser(argv).parse_args(argv)
    args.argv = argv  # the command line, for the headers of the files a command writes
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING, format="%(name)s: %(message)s")
    name = " ".join(filter(None, [args.command, *(v for k, v in sorted(vars(args).items())
                                                   if k.endswith("_command") and isinstance(v, str))]))
    previous = _terminate_as_interrupt()
    try:
        status = args.func(args)
        sys.stdout.flush()  # a closed pipe shows here, not as a traceback at interpreter exit
        return status
    except BrokenPipeError as exc:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # nothing more to say to the reader
        return exit_code(exc)
    except KeyboardInterrupt as exc:
        hint = "; resume with --resume" if getattr(args, "resume", None) is not None else ""
        print(f"spicegrad {name}: interrupted{hint}", file=sys.stderr)
        return exit_code(exc)
    except (SpicegradError, ValueError, FileNotFoundError) as exc:
        print(f"spicegrad {name}: {exc}", file=sys.stderr)
        return exit_code(exc)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def _terminate_as_interrupt():
    """SIGTERM unwinds like Ctrl-C while a command runs, so that temporary folders (ngspice raw
    files) are removed and a child ngspice is stopped; returns the handler to restore."""
    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGTERM, _raise_interrupt)


if __name__ == "__main__":
    sys.exit(main())
