"""Replications of Nandakumar et al. 2018 (Figs. 2, 5, 7) and SRNN-PCM's multi-memristor WRITE
statistics (seed 000, Supplementary Figs. 9-11), on the validated ``PCMArray`` twin.

Each function returns rows (a list of dicts, written as CSV) and draws a PNG with units.
Choices where the seed's ``xbar.py`` scripts are ambiguous or defective:

* Fig. 2 (one device, periodic SETs, read every second for 800 s): the seed's condition
  ``t % 38.5 == 0`` on integer seconds fires every 77 s; here the period is an argument,
  default 77 s, so that drift is visible in each interval's second half (reads within
  t0 = 38.6 s of a SET return G itself: the drift floor of ``spicegrad.devices.pcm``).
* Fig. 5 (20 SETs x many devices, G_max = 20 µS): each pulse is read t0 after it, with read
  noise, as the seed; the CSV has ``pulse,mean_us,std_us`` (pulse 1..20).
* Fig. 7 (array mean under a SET every 5 s for 100 s, then drift to 300 s): reads every second.
  The seed read 0-4 s after each write with the literal power law (16-57 % high); here those
  reads return G and the drift shows after programming stops.
* write-stats: for each (source, target) pair of differential conductances in −10..10 µS a
  synapse of N devices per side is put exactly at the source (the active side's devices at
  G0 + |source|, the other side's at G0, so G⁺ − G⁻ = source; each device's pulse count n is the
  one whose mean-field G is nearest, where the seed left n = 0) and programmed toward the target
  by the ``multi-mem`` rule plus refresh, once. Reported: mean and std over ``samples``
  synapses of the reached mean-G⁺ − mean-G⁻. (Placing at mean-field levels instead would put
  every |source| < 1 µS at 0: the first SET from RESET already moves G by ≈ 1.8 µS.)
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import torch

from .._io import atomic_savefig, atomic_write_text
from ..crossbar.pcm_synapse import MultiMemRule, PCMCrossbar
from ..devices.pcm import PCMArray, PCMParams, pcm_clip


def write_csv(path: Path, rows: list[dict]) -> Path:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return atomic_write_text(path, buf.getvalue())


def _figure(path: Path, draw) -> Path:
    from .._figure import subplots

    fig, ax = subplots(figsize=(6, 3.5))
    draw(ax)
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    atomic_savefig(fig, path, dpi=120)
    return path


def fig2(seed: int = 0, period_s: float = 77.0, duration_s: float = 800.0,
         params: PCMParams | None = None) -> list[dict]:
    """One device from RESET at 0 s, a SET every ``period_s``; programmed and read G each second."""
    params = PCMParams.preset("nandakumar2018") if params is None else params
    dev = PCMArray(params, (), generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    mean = PCMArray(params, (), deterministic=True, dtype=torch.float64)
    rows = []
    for t in range(int(duration_s) + 1):
        if t > 0 and t % period_s < 1.0:
            dev.write(True, float(t))
            mean.write(True, float(t))
        rows.append({"time_s": t, "g_us": dev.g_us.item(), "g_read_us": dev.read(float(t)).item(),
                     "mean_field_read_us": mean.read(float(t)).item(), "pulses": int(dev.n.item())})
    return rows


def fig5(n_devices: int = 10_000, pulses: int = 20, seed: int = 0, deterministic: bool = False,
         params: PCMParams | None = None, read_noise: bool = True) -> list[dict]:
    """``pulses`` SETs t0 apart on ``n_devices`` fresh devices; mean and std of G read t0 later."""
    params = PCMParams.preset("nandakumar2018-fig5") if params is None else params
    arr = PCMArray(params, (n_devices,), deterministic=deterministic,
                   generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    rows = []
    for k in range(1, pulses + 1):
        arr.write(True, (k - 1) * params.t0)
        g = arr.read(k * params.t0, noise=read_noise)
        rows.append({"pulse": k, "mean_us": g.mean().item(), "std_us": g.std().item() if n_devices > 1 else 0.0})
    return rows


def fig7(size: int = 100, seed: int = 0, every_s: int = 5, program_until_s: int = 100,
         duration_s: int = 300, params: PCMParams | None = None) -> list[dict]:
    """A size x size array SET every ``every_s`` until ``program_until_s``, read every second."""
    params = PCMParams.preset("nandakumar2018") if params is None else params
    arr = PCMArray(params, (size, size), generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    rows = []
    for t in range(1, duration_s):
        if t % every_s == 0 and t < program_until_s:
            arr.write(True, float(t))
        g = arr.read(float(t))
        rows.append({"time_s": t, "mean_us": g.mean().item(), "std_us": g.std().item(),
                     "pulses": int(arr.n.max().item())})
    return rows


def write_stats(xbar_n: int, samples: int = 100, seed: int = 0, span_us: int = 10,
                params: PCMParams | None = None) -> list[dict]:
    """Multi-memristor WRITE statistics: reached differential G per (source, target) pair."""
    params = PCMParams.preset("nandakumar2018") if params is None else params
    levels = torch.arange(-span_us, span_us + 1, dtype=torch.float32)
    src, tgt = torch.meshgrid(levels, levels, indexing="ij")
    src, tgt = src.flatten(), tgt.flatten()
    xb = PCMCrossbar(src.numel(), samples, params, xbar_n, generator=torch.Generator().manual_seed(seed))
    _place(xb, src)
    before = xb.pair_us()
    delta = (tgt[:, None] - (before[0] - before[1])).expand(-1, samples)
    xb.apply_pulses(MultiMemRule().pulses(xb, -delta, lr=1.0), t=1.0)
    xb.refresh(t=1.0)
    pair = xb.pair_us()
    reached = pair[0] - pair[1]
    return [{"xbar_n": xbar_n, "source_us": float(s), "target_us": float(t), "mean_us": float(r.mean()),
             "std_us": float(r.std())} for s, t, r in zip(src, tgt, reached, strict=True)]


def _place(xb: PCMCrossbar, source_us: torch.Tensor) -> None:
    """Put row r's synapses at G⁺ − G⁻ = source_us[r] exactly: the active side's devices at
    G0 + |source|, with n = the pulse count whose mean-field G is nearest; the other side at G0."""
    g0 = xb.params.g0_us
    g = pcm_clip(g0 + source_us.abs(), xb.params).to(xb.dtype)
    k = xb.pulses_for(g)
    state = xb.devices.state()
    side = torch.stack([source_us > 0, source_us < 0])  # [2, R]
    fill = torch.where(side, g[None], torch.full_like(side, g0, dtype=xb.dtype))
    state["g_us"] = fill[:, None, :, None].expand(state["g_us"].shape).clone()
    state["n"] = torch.where(side, k[None], 0).to(torch.float64)[:, None, :, None].expand(state["n"].shape).clone()
    xb.devices.load_state(state)


# --- files ---------------------------------------------------------------------------------


def replicate(figure: int, out: Path, **kw) -> list[Path]:
    """Write DIR/fig<N>.csv and DIR/fig<N>.png; returns their paths."""
    out = Path(out)
    if figure == 2:
        rows = fig2(**kw)

        def draw(ax):
            t = [r["time_s"] for r in rows]
            ax.plot(t, [r["g_read_us"] for r in rows], ".", ms=2, label="device: read (drift + read noise)")
            ax.step(t, [r["g_us"] for r in rows], where="post", lw=1, color="C0", alpha=0.7,
                    label="device: programmed G")
            ax.plot(t, [r["mean_field_read_us"] for r in rows], "--", color="C1",
                    label="mean-field device: read (drift, no noise)")
            ax.set(xlabel="time (s)", ylabel="conductance G (µS)",
                   title=f"Nandakumar 2018 Fig. 2: one device, SET every {kw.get('period_s', 77):g} s")
            ax.legend(fontsize=7, loc="upper left")
    elif figure == 5:
        rows = fig5(**kw)

        def draw(ax):
            from matplotlib.ticker import MaxNLocator

            ax.errorbar([r["pulse"] for r in rows], [r["mean_us"] for r in rows],
                        yerr=[r["std_us"] for r in rows], fmt="o", capsize=2, label="mean ± std over devices")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.set(xlabel="SET pulse number", ylabel="G read t0 after the SET (µS)",
                   title=f"Nandakumar 2018 Fig. 5: {kw.get('n_devices', 10_000):,} devices")
            ax.legend(fontsize=8, loc="lower right")
    elif figure == 7:
        rows = fig7(**kw)

        def draw(ax):
            t = [r["time_s"] for r in rows]
            mean = torch.tensor([r["mean_us"] for r in rows])
            std = torch.tensor([r["std_us"] for r in rows])
            ax.fill_between(t, mean - std, mean + std, alpha=0.25, label="± std over devices")
            ax.plot(t, mean, ".-", ms=3, label="array mean (read: drift + read noise)")
            ax.axvline(kw.get("program_until_s", 100), color="grey", ls=":", lw=1, label="last SET")
            ax.set(xlabel="time (s)", ylabel="conductance G (µS)",
                   title=f"Nandakumar 2018 Fig. 7: {kw.get('size', 100)}×{kw.get('size', 100)} array, "
                         f"SET every {kw.get('every_s', 5)} s")
            ax.legend(fontsize=7, loc="lower right")
    else:
        raise ValueError(f"figure {figure!r}: replicable figures are 2, 5 and 7")
    return [write_csv(out / f"fig{figure}.csv", rows), _figure(out / f"fig{figure}.png", draw)]


def write_stats_files(xbar_ns: tuple[int, ...], out: Path, samples: int = 100, seed: int = 0) -> list[Path]:
    """DIR/write_stats.csv (all N) and one heat-map PNG per N (mean and std of reached G)."""
    from .._figure import subplots

    out = Path(out)
    all_rows, paths = [], []
    for n in xbar_ns:
        rows = write_stats(n, samples, seed)
        all_rows += rows
        side = int(round(len(rows) ** 0.5))
        span = (side - 1) / 2  # levels -span..span µS, one cell per level
        extent = [-span - 0.5, span + 0.5, -span - 0.5, span + 0.5]
        target = torch.tensor([r["target_us"] for r in rows]).view(side, side)
        mean = torch.tensor([r["mean_us"] for r in rows]).view(side, side)
        rms = float(((mean - target) ** 2).mean().sqrt())
        fig, axes = subplots(1, 2, figsize=(11, 4.5))
        panels = (("mean_us", "mean", f"RMS(mean − target) = {rms:.2f} µS", "RdBu_r"),
                  ("std_us", "std", f"over {samples} synapses", "viridis"))
        for ax, (key, what, note, cmap) in zip(axes, panels, strict=True):
            grid = torch.tensor([r[key] for r in rows]).view(side, side)
            lim = float(grid.abs().max())
            scale = {"vmin": -lim, "vmax": lim} if key == "mean_us" else {"vmin": 0.0}
            im = ax.imshow(grid, origin="lower", extent=extent, cmap=cmap, **scale)
            ax.set(xlabel="target G⁺ − G⁻ (µS)", ylabel="source G⁺ − G⁻ (µS)",
                   title=f"N = {n} per side: {what} of reached G⁺ − G⁻\n({note})")
            fig.colorbar(im, ax=ax, label=f"{what} of reached G⁺ − G⁻ (µS)")
        fig.suptitle("multi-mem WRITE statistics: one update (round-robin SETs, then refresh)", fontsize=10)
        fig.tight_layout()
        paths.append(atomic_savefig(fig, out / f"write_stats_n{n}.png", dpi=110))
    return [write_csv(out / "write_stats.csv", all_rows), *paths]
