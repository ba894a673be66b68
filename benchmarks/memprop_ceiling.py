"""How much nonlinearity does the MEMprop hidden layer have? Reference points for its accuracy.

    .venv/bin/python benchmarks/memprop_ceiling.py [--epochs 20] [--data DIR]
        [--json benchmarks/results/memprop_ceiling.json] [--plot benchmarks/results/memprop_ceiling.png]

Two measurements, one run:

1. **Static response of the MEMprop neuron in the network.** A ``memprop`` MIF twin (the fused
   exp-euler step the network trains, dt = 10 µs, T = 1000) is driven by a bit-line current
   I·a(t), a(t) the network's alpha envelope (unit peak, re-injected every 100 steps); the
   time-mean membrane voltage over the sample, V̄(I), is what the next layer and the
   time-summed prediction see when the input is steady. Reported: V̄(I) over ±``--i-max``, the
   best straight-line fit over the currents a trained network reaches (±300 µA, its
   metrics.json ``operating_range``) and the largest deviation from it, as a fraction of the
   span — how far from a linear map the neuron is.
2. **Conventional networks on the same data** (Fashion-MNIST, pixels in [0, 1], Adam lr 1e-3,
   batch 128, ``--epochs`` epochs, one run per ``--seeds``), under MEMprop's protocol (the last
   5,000 training images held out, the epoch chosen on them, the test set scored once with that
   epoch's network): a linear soft-max classifier 784-10, a
   784-100-10 network without a nonlinearity (still linear), and a 784-100-10 tanh MLP. A network
   whose hidden units are linear cannot beat the first two; the tanh MLP is what a strongly
   nonlinear hidden layer of the same size reaches.

Writes a JSON file and a two-panel plot (V̄ against I with the linear fit, in mV and µA;
validation accuracy per epoch of the reference networks).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from torch import nn

from spicegrad._io import atomic_savefig, atomic_write_json
from spicegrad.datasets import load_dataset
from spicegrad.memprop.model import MemPropConfig
from spicegrad.memprop.response import OPERATING_CURRENT, linearity, time_mean_response
from spicegrad.memprop.train import validation_size


def reference_networks(data: str | None, epochs: int, seeds: list[int]) -> dict[str, dict]:
    """The three conventional networks (see the module docstring) under MEMprop's protocol: the
    last 5,000 training images held out (:func:`spicegrad.memprop.train.validation_size`), the
    epoch picked by validation accuracy (earliest of ties), the test set scored once with that
    epoch's network; one run per seed."""
    from tqdm import tqdm

    tr, te = load_dataset("fashion-mnist", "train", data), load_dataset("fashion-mnist", "test", data)
    x_all, y_all = tr.images.reshape(len(tr.labels), -1), tr.labels
    n_val = validation_size(len(y_all))
    x, y, xv, yv = x_all[:-n_val], y_all[:-n_val], x_all[-n_val:], y_all[-n_val:]
    xt, yt = te.images.reshape(len(te.labels), -1), te.labels
    nets = {
        "linear 784-10": lambda: nn.Linear(784, 10),
        "linear 784-100-10 (no nonlinearity)": lambda: nn.Sequential(nn.Linear(784, 100), nn.Linear(100, 10)),
        "tanh MLP 784-100-10": lambda: nn.Sequential(nn.Linear(784, 100), nn.Tanh(), nn.Linear(100, 10)),
    }
    results: dict[str, dict] = {}
    for name, make in nets.items():
        runs = []
        for seed in seeds:
            torch.manual_seed(seed)
            model = make()
            opt = torch.optim.Adam(model.parameters(), lr=1e-3)
            val, best = [], None
            for epoch in tqdm(range(epochs), desc=f"{name}, seed {seed}", leave=False):
                perm = torch.randperm(len(y))
                for i in range(0, len(y), 128):
                    idx = perm[i: i + 128]
                    opt.zero_grad(set_to_none=True)
                    nn.functional.cross_entropy(model(x[idx]), y[idx]).backward()
                    opt.step()
                with torch.no_grad():
                    val.append(float((model(xv).argmax(1) == yv).float().mean()))
                if best is None or val[-1] > best[1]:
                    best = (epoch + 1, val[-1], {k: v.clone() for k, v in model.state_dict().items()})
            model.load_state_dict(best[2])
            with torch.no_grad():
                test = float((model(xt).argmax(1) == yt).float().mean())
            runs.append({"seed": seed, "val_accuracy": val, "selected_epoch": best[0], "test_accuracy": test})
        tests = np.array([r["test_accuracy"] for r in runs])
        results[name] = {"runs": runs, "test_mean": float(tests.mean()),
                         "test_std": float(tests.std(ddof=1)) if len(tests) > 1 else 0.0}
    return results


def plot(currents, v_mean, fit, curves, path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    ax1.plot(currents * 1e6, v_mean * 1e3, label="MIF twin, time-mean membrane")
    sel = np.abs(currents) <= fit["i_max_A"]
    ax1.plot(currents[sel] * 1e6, (fit["slope_ohm"] * currents[sel] + fit["offset_V"]) * 1e3, "--",
             label=f"linear fit on ±{fit['i_max_A'] * 1e6:.0f} µA")
    ax1.set_xlabel("bit-line current amplitude I (µA)")
    ax1.set_ylabel("time-mean membrane voltage (mV)")
    ax1.set_title("memprop MIF under the network's alpha envelope")
    ax1.legend()
    for name, rec in curves.items():
        for k, run in enumerate(rec["runs"]):
            acc = run["val_accuracy"]
            ax2.plot(range(1, len(acc) + 1), np.array(acc) * 100, marker=".", color=f"C{list(curves).index(name)}",
                     alpha=0.8, label=name if k == 0 else None)
    ax2.set_xlabel("epoch")
    ax2.set_ylabel("Fashion-MNIST validation accuracy (%)")
    ax2.set_title("reference networks (Adam 1e-3, batch 128; one line per seed)")
    ax2.legend()
    fig.tight_layout()
    out = atomic_savefig(fig, path)
    plt.close(fig)
    return out


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--i-max", type=float, default=1e-3, help="largest |I| of the response curve (A)")
    ap.add_argument("--data", help="Fashion-MNIST directory (default: the Debian package or $SPICEGRAD_DATA)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seeds", default="0,1,2", help="comma-separated seeds of the reference networks")
    ap.add_argument("--json", default="benchmarks/results/memprop_ceiling.json")
    ap.add_argument("--plot", default="benchmarks/results/memprop_ceiling.png")
    args = ap.parse_args(argv)
    if args.epochs < 1 or not args.i_max > 0:
        ap.error(f"--epochs {args.epochs} must be >= 1 and --i-max {args.i_max} > 0")
    torch.set_num_threads(args.threads)
    cfg = MemPropConfig()
    currents = torch.linspace(-args.i_max, args.i_max, 401, dtype=torch.float64)
    v_mean = time_mean_response(currents, cfg).numpy()
    currents = currents.numpy()
    fit = linearity(currents, v_mean, min(OPERATING_CURRENT, args.i_max))
    curves = reference_networks(args.data, args.epochs, [int(t) for t in args.seeds.split(",")])
    result = {
        "neuron": {"preset": cfg.mif_preset, "dt": cfg.dt, "steps": cfg.steps, "integrator": cfg.integrator,
                   "current_A": currents.tolist(), "time_mean_V": v_mean.tolist(), "linear_fit": fit},
        "reference_networks": curves,
        "protocol": "last 5,000 training images held out; epoch selected on validation accuracy; test scored once",
        "epochs": args.epochs,
    }
    atomic_write_json(args.json, result)
    plot(currents, v_mean, fit, curves, args.plot)
    print(f"memprop MIF, time-mean response on ±{fit['i_max_A'] * 1e6:.0f} µA: slope {fit['slope_ohm']:.0f} Ω, "
          f"largest deviation from the line {fit['max_deviation_V'] * 1e3:.1f} mV "
          f"({fit['max_deviation_fraction'] * 100:.1f} % of the {fit['span_V'] * 1e3:.0f} mV span)")
    print("| network | test accuracy, mean ± std over seeds (validation-selected epoch) |\n|---|---|")
    for name, rec in result["reference_networks"].items():
        print(f"| {name} | {rec['test_mean'] * 100:.2f} ± {rec['test_std'] * 100:.2f} % |")
    print(f"wrote {args.json} and {args.plot}")
    return result


if __name__ == "__main__":
    main()
