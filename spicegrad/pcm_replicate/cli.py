"""``spicegrad pcm replicate 2|5|7`` and ``spicegrad pcm write-stats``: PCM figure replications.

``spicegrad/cli.py`` calls :func:`add_pcm_parser` with its sub-parsers. Exit codes: 0 success,
2 bad input (message on stderr).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _ints(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(t) for t in text.split(",") if t.strip())
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r}: expected comma-separated integers, e.g. 1,8,16") from exc
    if not values:
        raise argparse.ArgumentTypeError(f"{text!r}: give at least one N")
    return values


def add_pcm_parser(subparsers, help: str | None = None) -> argparse.ArgumentParser:
    """Register ``pcm`` (with ``replicate`` and ``write-stats``)."""
    p = subparsers.add_parser("pcm", help=help)
    sub = p.add_subparsers(dest="pcm_command", required=True, metavar="ACTION")
    rep = sub.add_parser("replicate", help="Nandakumar 2018 Fig. 2, 5 or 7: PNG + CSV")
    rep.add_argument("figure", type=int, help="2, 5 or 7")
    rep.add_argument("--out", "-o", default="out/pcm", metavar="DIR")
    rep.add_argument("--seed", type=int, default=0)
    rep.add_argument("--devices", type=int, default=10_000, help="Fig. 5: number of devices (default 10000)")
    rep.set_defaults(func=run_replicate)
    ws = sub.add_parser("write-stats", help="multi-memristor WRITE statistics (seed 000 Supp. Figs. 9-11)")
    ws.add_argument("--xbar-n", type=_ints, default=(1, 8, 16), metavar="N[,N...]")
    ws.add_argument("--samples", type=int, default=100, help="synapses per (source, target) cell")
    ws.add_argument("--seed", type=int, default=0)
    ws.add_argument("--out", "-o", default="out/pcm", metavar="DIR")
    ws.set_defaults(func=run_write_stats)
    return p


def _fail(message: str) -> int:
    print(f"spicegrad pcm: {message}", file=sys.stderr)
    return 2


def run_replicate(args: argparse.Namespace) -> int:
    from .figures import replicate

    if args.figure not in (2, 5, 7):
        return _fail(f"figure {args.figure}: replicable figures are 2, 5 and 7")
    if args.devices < 2:
        return _fail(f"--devices {args.devices}: need at least 2 devices for a std")
    kw = {"seed": args.seed}
    if args.figure == 5:
        kw["n_devices"] = args.devices
    paths = replicate(args.figure, Path(args.out), **kw)
    print("\n".join(str(p) for p in paths))
    return 0


def run_write_stats(args: argparse.Namespace) -> int:
    from .figures import write_stats_files

    if min(args.xbar_n) < 1:
        return _fail(f"--xbar-n {','.join(map(str, args.xbar_n))}: every N must be >= 1")
    if args.samples < 2:
        return _fail(f"--samples {args.samples}: need at least 2 synapses per cell")
    paths = write_stats_files(args.xbar_n, Path(args.out), args.samples, args.seed)
    print("\n".join(str(p) for p in paths))
    return 0
