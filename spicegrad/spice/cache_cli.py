"""``spicegrad cache info`` and ``spicegrad cache clear``."""

from __future__ import annotations

import argparse
import json

from .cache_layout import KINDS, MAX_MB_ENV, cache_root, cache_root_source, max_cache_bytes

#: what ``clear`` removes when no --kind is given: the entries that are recomputed on demand
DEFAULT_CLEAR = ("ngspice", "cases")


def human(n: int) -> str:
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n} B"


def info() -> dict:
    from .cache_admin import root_others, scan

    cap = max_cache_bytes()
    kinds = {}
    for s in scan():
        kinds[s.kind.name] = {"label": s.kind.label, "folder": str(s.folder), "entries": s.entries, "bytes": s.bytes,
                              "partial_writes": s.partials, "other": s.other, **({"note": s.note} if s.note else {})}
    return {"root": str(cache_root()), "root_from": cache_root_source(), "cap_bytes": cap,
            "cap_applies_to": "ngspice", "kinds": kinds, "other_in_root": root_others()}


def _cmd_info(args: argparse.Namespace) -> int:
    data = info()
    if args.json:
        print(json.dumps(data, indent=2))
        return 0
    print(f"cache folder: {data['root']}  (from {data['root_from']})")
    print(f"{'kind':16} {'entries':>8} {'size':>9}  folder")
    others = [*data["other_in_root"]]
    for name, k in data["kinds"].items():
        extra = f"  (cap {human(data['cap_bytes'])})" if name == "ngspice" else ""
        extra += f"  [{k['partial_writes']} partial write(s)]" if k["partial_writes"] else ""
        extra += f"  [{k['note']}]" if "note" in k else ""
        print(f"{k['label']:16} {k['entries']:>8} {human(k['bytes']):>9}  {k['folder']}{extra}")
        others += [f"{name}: {o}" for o in k["other"]]
    total = sum(k["bytes"] for k in data["kinds"].values())
    print(f"{'total':16} {sum(k['entries'] for k in data['kinds'].values()):>8} {human(total):>9}")
    print(f"size cap: {human(data['cap_bytes'])} of ngspice results (${MAX_MB_ENV}); least recently used "
          "results are removed past it")
    if others:
        shown = ", ".join(others[:5]) + (f", ... ({len(others)} in all)" if len(others) > 5 else "")
        print(f"not spicegrad's, never removed: {shown}")
    return 0


def _cmd_clear(args: argparse.Namespace) -> int:
    from .cache_admin import clear, scan

    kinds = list(KINDS) if args.all else list(dict.fromkeys(args.kind or DEFAULT_CLEAR))
    verb = "would remove" if args.dry_run else "removed"
    for r in clear(kinds, dry_run=args.dry_run):
        kind = KINDS[r.kind]
        line = f"{verb} {r.entries} {kind.label} ({r.files} files, {human(r.bytes)}) from {kind.folder()}"
        if r.partial_kept:
            line += f"; kept {r.partial_kept} partial write(s) younger than an hour (may be in progress)"
        print(line)
        if r.entries and not kind.recomputable:
            print(f"  {kind.label}: {kind.note}")
    for s in scan([k for k in KINDS if k not in kinds]):
        if s.entries:
            print(f"kept {s.entries} {s.kind.label} ({human(s.bytes)}); remove them with --kind {s.kind.name} or "
                  f"--all ({s.kind.note})")
    return 0


def add_cache_parser(sub, help: str) -> None:
    cache = sub.add_parser("cache", help=help, description=(
        "spicegrad's cache folder: $SPICEGRAD_CACHE, else $XDG_CACHE_HOME/spicegrad, else ~/.cache/spicegrad "
        "(ngspice results: $SPICEGRAD_SPICE_CACHE, else <cache>/spice)."))
    actions = cache.add_subparsers(dest="cache_command", required=True, metavar="ACTION")
    show = actions.add_parser("info", help="location, entries and size of each kind, the size cap")
    show.add_argument("--json", action="store_true", help="print the same as JSON")
    show.set_defaults(func=_cmd_info)
    notes = "; ".join(f"{k.name}: {k.label}, {k.note}" for k in KINDS.values())
    rm = actions.add_parser("clear", help="remove spicegrad's entries (default: ngspice and case results)",
                            description="Remove the cache entries spicegrad wrote (files named as it names them, "
                                        "in its own folders; links are not followed; anything else is left "
                                        f"alone). Removing each kind means — {notes}.")
    which = rm.add_mutually_exclusive_group()
    which.add_argument("--kind", action="append", choices=list(KINDS),
                       help="remove this kind only (repeatable; default: " + ", ".join(DEFAULT_CLEAR) + ")")
    which.add_argument("--all", action="store_true",
                       help="every kind, certificates and downloaded datasets included")
    rm.add_argument("--dry-run", action="store_true", help="say what would be removed, remove nothing")
    rm.set_defaults(func=_cmd_clear)
