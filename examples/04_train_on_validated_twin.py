"""Training on a validated twin: a tiny MEMprop network on Fashion-MNIST, gated by certificates.

MEMprop is the fully memristive spiking network of spicegrad.memprop: alpha-current inputs,
differential MSS synapse pairs whose states are the trained parameters, and MIF neurons,
trained by backpropagation through time through the twins. Before the first batch,
``train_memprop`` asks the validator for a certificate of each twin configuration it uses (MIF
at the network's 10 µs step with exp-euler, the MSS synapse at read level) and runs the
certification cases that are not yet cached; training is refused if one fails.

The network here is 196-16-10 (14x14 images), 100 steps of 10 µs per sample, trained for 2
epochs on the first 1000 training images and tested on the first 500 test images. It uses
Fashion-MNIST from Debian's ``dataset-fashion-mnist`` (``bash scripts/setup.sh --test`` installs
it) or ``$SPICEGRAD_DATA``; without either it writes a small synthetic set (one bright bar per
class) into OUT_DIR and trains on that instead, and says so. The checkpoint lands in
OUT_DIR/checkpoint.pt, ready for examples/05_export_to_ngspice.py.

Usage: python examples/04_train_on_validated_twin.py [OUT_DIR]   (default: a temporary folder)
Runtime: about 47 s with an empty cache (the certification cases run; 32 s of CPU), 18 s when
the certificates are cached (measured on a 2-core machine shared with other jobs, load average 3-4).
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import torch

from spicegrad.datasets import DatasetError, find_dataset_dir, write_bars_dataset
from spicegrad.memprop import MemPropConfig, MemPropTrainConfig, train_memprop


def train(out: Path) -> dict:
    """Train the tiny network into ``out``; returns the metrics train_memprop writes."""
    try:
        data, source = find_dataset_dir("fashion-mnist"), "Fashion-MNIST"
    except DatasetError:
        data, source = write_bars_dataset(out / "synthetic-data", 1000, 500, noise=80), "a synthetic bar dataset (no Fashion-MNIST found)"
    cfg = MemPropTrainConfig(
        net=MemPropConfig(layers=(196, 16, 10), steps=100),  # 100 steps of dt = 10 µs per sample
        image_size=14, train_subset=1000, test_subset=500, epochs=2, batch_size=50, lr=1e-2, seed=0,
    )
    print(f"training 196-16-10 MEMprop on {source}: {cfg.train_subset} training and {cfg.test_subset} test images, "
          f"{cfg.epochs} epochs, {cfg.net.steps} steps of {cfg.net.dt * 1e6:g} µs per sample")
    torch.set_num_threads(1)  # the tensors are tiny: one thread is fastest
    return train_memprop(cfg, out, data=data, compile=False, progress=False, plots=False,
                         log=lambda line: print("  " + line))


def main(argv: list[str]) -> int:
    out = Path(argv[0]) if argv else Path(tempfile.mkdtemp(prefix="spicegrad-example-"))
    if (out / "checkpoint.pt").exists():
        print(f"{out / 'checkpoint.pt'} exists already: give another OUT_DIR", file=sys.stderr)
        return 2
    start = time.perf_counter()
    metrics = train(out)
    seconds = time.perf_counter() - start
    for name, cert in metrics["certificates"].items():
        cases = ", ".join(sorted(cert.get("cases", {}))) or "none"
        print(f"certificate {name}: validated {cert.get('validated')}, dt = {cert.get('dt', 0) * 1e6:g} µs, "
              f"{cert.get('integrator')}; cases {cases}")
    membranes = metrics["operating_range"]["membrane_V_per_layer"]
    print(f"membranes of the first test images: {', '.join(f'{lo * 1e3:.0f}..{hi * 1e3:.0f} mV' for lo, hi in membranes)}")
    print(f"test accuracy of the network of epoch {metrics['selected_epoch']} of {metrics['epochs_done']} (selected on "
          f"validation): {metrics['test_accuracy'] * 100:.1f} % "
          f"(chance 10 %); {metrics['samples_per_s']:.0f} training samples/s; {seconds:.1f} s in all")
    print(f"checkpoint: {out / 'checkpoint.pt'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
