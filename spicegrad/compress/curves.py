r"""Trade-off curves: accuracy (MEMprop) or MSE (e-prop) against sparsity and against device levels.

Every point starts from the checkpoint afresh and applies one compression: magnitude pruning to
a sparsity (``scope`` global or per layer), or quantisation to N levels of one device curve
(``uniform``, ``mss-pulse``, ``pcm-set``; see :mod:`.levels`). MEMprop points are scored on the
test subset before and, with ``finetune_epochs`` > 0, after fine-tuning on the twin on a
training subset (masks held; levels through the straight-through estimator). Each point records
what the hardware would need: existing synapse pairs, devices, T×T tiles after compaction and
packing, their utilisation, and the dense tile count (:mod:`.mapping`).

:func:`write_curves` writes ``curves.json`` (the points, the settings and the baseline),
``curves.csv`` (one row per point) and ``curves.png`` (four panels with units).
"""

from __future__ import annotations

import csv
import dataclasses
import io
import time
from pathlib import Path
from typing import Any

from .. import __version__
from .._io import atomic_write_json, atomic_write_text
from .choices import DEFAULT_CURVES, sources
from .levels import device_levels, require_levels
from .mapping import map_layers, memprop_layers, require_tile
from .network import CompressedMemPropNet, CompressError, load_compressed
from .pruning import GRANULARITIES, SCOPES, require_sparsity
from .quantization import RANGES

DEFAULT_SPARSITIES = (0.0, 0.5, 0.7, 0.8, 0.9, 0.95, 0.98)
DEFAULT_LEVELS = (2, 3, 4, 8, 16, 32)


@dataclasses.dataclass(frozen=True)
class CurveSettings:
    """What a trade-off sweep tries and how it scores (subsets: first N samples; None = all)."""

    sparsities: tuple[float, ...] = DEFAULT_SPARSITIES
    levels: tuple[int, ...] = DEFAULT_LEVELS
    curves: tuple[str, ...] = DEFAULT_CURVES
    scope: str = "global"
    granularities: tuple[str, ...] = ("synapse",)
    tile: int = 128
    finetune_epochs: int = 0
    train_subset: int | None = 1000
    test_subset: int | None = 1000
    batch_size: int = 64
    lr: float = 1e-4
    seed: int = 0
    pulse_amplitude: float | None = None
    pulse_width: float | None = None
    pcm_preset: str = "nandakumar2018"
    range_mode: str = "mse"

    def __post_init__(self) -> None:
        object.__setattr__(self, "sparsities", tuple(require_sparsity(s) for s in self.sparsities))
        object.__setattr__(self, "levels", tuple(require_levels(n) for n in self.levels))
        for c in self.curves:
            if c not in sources():
                raise CompressError(f"device curve {c!r}: must be one of {', '.join(sources())}")
        if self.range_mode not in RANGES:
            raise CompressError(f"range = {self.range_mode!r}: must be one of {', '.join(RANGES)}")
        for g in self.granularities:
            if g not in GRANULARITIES:
                raise CompressError(f"granularity {g!r}: must be one of {', '.join(GRANULARITIES)}")
        if self.scope not in SCOPES:
            raise CompressError(f"scope = {self.scope!r}: must be 'global' or 'layer'")
        require_tile(self.tile)
        if isinstance(self.finetune_epochs, bool) or not isinstance(self.finetune_epochs, int) or self.finetune_epochs < 0:
            raise CompressError(f"finetune_epochs = {self.finetune_epochs!r}: must be an integer >= 0")
        for name in ("train_subset", "test_subset"):
            v = getattr(self, name)
            if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
                raise CompressError(f"{name} = {v!r}: must be a number of samples >= 1 (or None for all)")


def _pruning_curve(granularity: str, scope: str) -> str:
    return f"magnitude ({scope})" if granularity == "synapse" else f"rows ({scope})"


def _counts(mapping) -> dict[str, Any]:
    tot = mapping.summary()["total"]
    return {"pairs": tot["pairs"], "devices": tot["devices"], "tiles": tot["tiles"],
            "utilisation": tot["utilisation"], "dense_tiles": tot["dense_tiles"],
            "tiles_per_layer": [row["tiles"] for row in mapping.per_layer]}


def _memprop_point(net: CompressedMemPropNet, x, y, settings: CurveSettings, **fields) -> dict[str, Any]:
    from ..memprop.train import evaluate

    t0 = time.perf_counter()
    ev = evaluate(net, x, y, min(256, int(y.shape[0])))
    mapping = map_layers(memprop_layers(net), settings.tile)
    counts = net.synapse_counts()
    return {**fields, "accuracy": ev["accuracy"], "loss": ev["loss"], "sparsity_reached": counts["sparsity"],
            **_counts(mapping), "eval_s": time.perf_counter() - t0}


def memprop_curves(checkpoint: str | Path, settings: CurveSettings, data: str | Path | None = None,
                   progress: bool = True, log=print) -> dict[str, Any]:
    """The MEMprop trade-off sweep of ``checkpoint`` (see the module docstring)."""
    from .._progress import progress as progress_bar
    from ..datasets import load_dataset
    from ..memprop.train import MemPropTrainConfig
    from .finetune import finetune
    from .pruning import prune
    from .quantization import quantize

    base, state = load_compressed(checkpoint)
    cfg = MemPropTrainConfig.from_dict(state["config"])
    size = cfg.image_size if cfg.image_size != 28 else None
    test = load_dataset(cfg.dataset, "test", data, settings.test_subset, size)
    x_test, y_test = test.flat(), test.labels
    train = None
    if settings.finetune_epochs:
        train = load_dataset(cfg.dataset, "train", data, settings.train_subset, size)
    synapse = base.cfg.synapse_params

    def tune(net):
        return finetune(net, train.flat(), train.labels, epochs=settings.finetune_epochs,
                        batch_size=settings.batch_size, lr=settings.lr, seed=settings.seed)

    jobs: list[tuple[str, Any]] = [("dense", None)]
    jobs += [("sparsity", (g, s)) for g in settings.granularities for s in settings.sparsities]
    jobs += [("levels", (c, n)) for c in settings.curves for n in settings.levels]
    points: list[dict[str, Any]] = []
    t_start = time.perf_counter()
    bar = progress_bar(jobs, enabled=progress, desc="compress curves", unit="point")
    for kind, arg in bar:
        net = CompressedMemPropNet.from_net(base)
        if kind == "dense":
            points.append(_memprop_point(net, x_test, y_test, settings, sweep="dense", curve="dense",
                                         sparsity=0.0, levels=None, finetuned=False))
            continue
        if kind == "sparsity":
            granularity, sparsity = arg
            prune(net, sparsity=sparsity, scope=settings.scope, granularity=granularity)
            fields = {"sweep": "sparsity", "curve": _pruning_curve(granularity, settings.scope), "sparsity": sparsity,
                      "levels": None}
        else:
            source, n = arg
            levels = device_levels(source, n, synapse, amplitude=settings.pulse_amplitude,
                                   width=settings.pulse_width, pcm_preset=settings.pcm_preset)
            quantize(net, levels, range_mode=settings.range_mode)
            fields = {"sweep": "levels", "curve": source, "sparsity": 0.0, "levels": n}
        points.append(_memprop_point(net, x_test, y_test, settings, finetuned=False, **fields))
        bar.set_postfix(acc=f"{points[-1]['accuracy'] * 100:.1f}%")
        if settings.finetune_epochs:
            record = tune(net)
            points.append(_memprop_point(net, x_test, y_test, settings, finetuned=True,
                                         finetune_s=record["wall_s"], **fields))
            bar.set_postfix(acc=f"{points[-1]['accuracy'] * 100:.1f}%")
    bar.close()
    return {
        "network": "memprop", "checkpoint": str(checkpoint), "epoch": state.get("epoch"),
        "layers": list(base.cfg.layers), "dataset": cfg.dataset, "image_size": cfg.image_size,
        "test_samples": int(y_test.shape[0]), "train_samples": None if train is None else len(train),
        "metric": "accuracy", "settings": dataclasses.asdict(settings), "points": points,
        "wall_s": time.perf_counter() - t_start, "spicegrad_version": __version__,
    }


def eprop_curves(checkpoint: str | Path, settings: CurveSettings, progress: bool = True) -> dict[str, Any]:
    """The e-prop trade-off sweep (no fine-tuning).

    The metric is the MSE on the training sequences: the task (seed 000) is pattern generation,
    each sequence its own target, so the held-out sequences' MSE (also recorded) measures
    nothing the network was trained to do.
    """
    from .._progress import progress as progress_bar
    from ..devices.mss import MSSParams
    from .eprop_net import EpropCompression

    comp = EpropCompression.load(checkpoint)
    jobs: list[tuple[str, Any]] = [("dense", None)]
    jobs += [("sparsity", (g, s)) for g in settings.granularities for s in settings.sparsities]
    jobs += [("levels", (c, n)) for c in settings.curves for n in settings.levels]
    points = []
    t_start = time.perf_counter()
    for kind, arg in progress_bar(jobs, enabled=progress, desc="compress curves (e-prop)", unit="point"):
        trainer = comp.trainer()
        t0 = time.perf_counter()
        if kind == "dense":
            fields = {"sweep": "dense", "curve": "dense", "sparsity": 0.0, "levels": None}
        elif kind == "sparsity":
            granularity, sparsity = arg
            if granularity != "synapse":
                raise CompressError("e-prop curves prune synapses only (granularity 'synapse')")
            comp.compress(trainer, sparsity=sparsity, scope=settings.scope)
            fields = {"sweep": "sparsity", "curve": _pruning_curve(granularity, settings.scope), "sparsity": sparsity,
                      "levels": None}
        else:
            source, n = arg
            levels = device_levels(source, n, MSSParams(), amplitude=settings.pulse_amplitude,
                                   width=settings.pulse_width, pcm_preset=settings.pcm_preset)
            comp.compress(trainer, levels=levels, range_mode=settings.range_mode)
            fields = {"sweep": "levels", "curve": source, "sparsity": 0.0, "levels": n}
        ev = comp.evaluate(trainer)
        layers = comp.layers(trainer)
        pairs = sum(int(L.present.sum()) for L in layers)
        total = sum(int(m.sum()) for m in comp.possible(trainer).values())
        mapping = map_layers(layers, settings.tile)
        points.append({**fields, "finetuned": False, **ev, "sparsity_reached": 1.0 - pairs / total,
                       **_counts(mapping), "eval_s": time.perf_counter() - t0})
    return {
        "network": "eprop", "checkpoint": str(checkpoint), "method": comp.blob["train_config"].get("method"),
        "xbar": comp.xbar, "epoch": comp.blob["run"].get("epoch"), "metric": "train_mse",
        "settings": dataclasses.asdict(settings), "points": points, "wall_s": time.perf_counter() - t_start,
        "spicegrad_version": __version__,
    }


# --- output --------------------------------------------------------------------------------

CSV_FIELDS = ("sweep", "curve", "sparsity", "levels", "finetuned", "accuracy", "loss", "train_mse", "test_mse",
              "sparsity_reached", "pairs", "devices", "tiles", "utilisation", "dense_tiles")


def write_curves(result: dict[str, Any], out_dir: str | Path, title: str = "") -> list[Path]:
    """``curves.json``, ``curves.csv`` and ``curves.png`` in ``out_dir``."""
    out = Path(out_dir)
    written = [atomic_write_json(out / "curves.json", result)]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_FIELDS, extrasaction="ignore")
    writer.writeheader()
    for p in result["points"]:
        writer.writerow({k: ("" if p.get(k) is None else p.get(k)) for k in CSV_FIELDS})
    written.append(atomic_write_text(out / "curves.csv", buf.getvalue()))
    written.append(plot_curves(result, out / "curves.png", title))
    return written


_SP_COLORS = ("C0", "C4", "C5", "C6")  # pruning series
_LV_COLORS = ("C1", "C2", "C3", "C7", "C8", "C9")  # uniform, mss-pulse, pcm-set, further pulse curves


def plot_curves(result: dict[str, Any], path: str | Path, title: str = "") -> Path:
    """Four panels: the metric against sparsity and against levels; devices and tiles against each."""
    from .._figure import subplots
    from .._io import atomic_savefig

    memprop = result["metric"] == "accuracy"
    key = "accuracy" if memprop else "train_mse"
    scale = 100.0 if memprop else 1.0
    label = "test accuracy (%)" if memprop else "train MSE (readout vs target pattern, 1)"
    pts = result["points"]
    dense = next((p for p in pts if p["sweep"] == "dense"), None)
    tile = result["settings"]["tile"]
    fig, axes = subplots(2, 2, figsize=(12, 8.5))
    (a_sp, a_lv), (h_sp, h_lv) = axes

    def series(sweep, curve, finetuned):
        sel = [p for p in pts if p["sweep"] == sweep and p["curve"] == curve and p["finetuned"] == finetuned]
        xkey = "sparsity" if sweep == "sparsity" else "levels"
        return sorted(sel, key=lambda p: p[xkey])

    curves_sp = sorted({p["curve"] for p in pts if p["sweep"] == "sparsity"})
    curves_lv = list(dict.fromkeys(p["curve"] for p in pts if p["sweep"] == "levels"))
    for ft, style in ((False, "-o"), (True, "--s")):
        for k, c in enumerate(curves_sp):
            s = series("sparsity", c, ft)
            if s:
                a_sp.plot([p["sparsity"] * 100 for p in s], [p[key] * scale for p in s], style, color=_SP_COLORS[k % 4],
                          label=f"{c}" + (", fine-tuned" if ft else ""))
        for k, c in enumerate(curves_lv):
            s = series("levels", c, ft)
            if s:
                a_lv.plot([p["levels"] for p in s], [p[key] * scale for p in s], style, color=_LV_COLORS[k % len(_LV_COLORS)],
                          label=f"{c}" + (", fine-tuned" if ft else ""))
    for ax in (a_sp, a_lv):
        if dense is not None:
            ax.axhline(dense[key] * scale, color="0.4", ls=":", label="dense, full precision")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    a_sp.set_xlabel("sparsity (% of synapse pairs removed)")
    a_sp.set_title(f"{label.split(' (')[0]} vs sparsity")
    a_lv.set_xscale("log", base=2)
    a_lv.set_xlabel("levels per device N (conductance states)")
    a_lv.set_title(f"{label.split(' (')[0]} vs device levels")

    for ax, sweep, xkey, xs in ((h_sp, "sparsity", "sparsity", 100.0), (h_lv, "levels", "levels", 1.0)):
        twin = ax.twinx()
        for k, c in enumerate(curves_sp if sweep == "sparsity" else curves_lv):
            s = series(sweep, c, False)
            if not s:
                continue
            color = (_SP_COLORS[k % 4] if sweep == "sparsity" else _LV_COLORS[k % 3])
            ax.plot([p[xkey] * xs for p in s], [p["devices"] / 1e3 for p in s], "-o", color=color,
                    label=f"devices, {c}")
            twin.plot([p[xkey] * xs for p in s], [p["tiles"] for p in s], ":^", color=color, label=f"tiles, {c}")
        if dense is not None:
            twin.axhline(dense["dense_tiles"], color="0.4", ls=":", label="tiles, dense (no compaction)")
        ax.set_ylabel("devices (thousands)")
        twin.set_ylabel(f"tiles of {tile}x{tile} pairs (count)")
        twin.set_ylim(bottom=0)
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
        lines = ax.get_legend_handles_labels()
        more = twin.get_legend_handles_labels()
        ax.legend(lines[0] + more[0], lines[1] + more[1], fontsize=7, loc="lower left")
    h_sp.set_xlabel("sparsity (% of synapse pairs removed)")
    h_sp.set_title("hardware vs sparsity (after compaction and packing)")
    h_lv.set_xscale("log", base=2)
    level_ticks = sorted({p["levels"] for p in pts if p["levels"] is not None})
    for ax in (a_lv, h_lv):
        if level_ticks:
            ax.set_xticks(level_ticks, [str(n) for n in level_ticks])
            ax.minorticks_off()
    h_lv.set_xlabel("levels per device N (conductance states)")
    h_lv.set_title("hardware vs levels (pairs quantised to G+ = G- removed)")
    what = (f"MEMprop {'-'.join(map(str, result.get('layers', [])))} on {result.get('dataset')}, "
            f"{result.get('test_samples')} test samples" if memprop
            else f"e-prop ({result.get('method')}{', PCM crossbars' if result.get('xbar') else ', fp32'})")
    fig.suptitle((title + "\n" if title else "") + what)
    fig.tight_layout()
    out = atomic_savefig(fig, path, dpi=110)
    return out
