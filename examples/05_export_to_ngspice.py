"""Back to ngspice: export a trained MEMprop network as a netlist and verify it against the twin.

The checkpoint of examples/04_train_on_validated_twin.py (trained here first when none is
given) is written as an ngspice netlist for one test image: alpha-current sources, crossbars of
MSS devices programmed to the trained states, MIF neurons as subcircuits. Because trained
membranes can exceed the MSS switching thresholds, the export reads the crossbars at a reduced
word-line voltage (the read scale) that keeps every device's drift per sample below 1 % of its
range. ``verify`` then runs test samples through ngspice with the synapses held at their
trained conductances and compares the predicted class and the output membranes with the twin.

(A network whose synapses are live MSS devices in ngspice is much slower to simulate: minutes
per sample for this 196-16-10 network. The netlist for test image 0 is written as
OUT_DIR/net_mss.cir; ``spicegrad export CHECKPOINT -o net.cir --verify N`` runs such checks.)

Usage: python examples/05_export_to_ngspice.py [OUT_DIR] [CHECKPOINT]
       (default: a temporary folder; without CHECKPOINT, example 04 trains one into OUT_DIR/train)
Runtime: about 12 s with a CHECKPOINT, plus example 04's training without one (measured on a
2-core machine shared with other jobs, load average 3).
"""

from __future__ import annotations

import runpy
import sys
import tempfile
import time
from pathlib import Path

from spicegrad.datasets import DatasetError, find_dataset_dir, load_dataset
from spicegrad.export import export_netlist, verify
from spicegrad.memprop import MemPropTrainConfig, load_net

SAMPLES = 5  # test images run through ngspice


def main(argv: list[str]) -> int:
    out = Path(argv[0]) if argv else Path(tempfile.mkdtemp(prefix="spicegrad-example-"))
    out.mkdir(parents=True, exist_ok=True)
    if len(argv) > 1:
        checkpoint = Path(argv[1])
    else:
        print("no checkpoint given: training one with examples/04_train_on_validated_twin.py")
        example_04 = runpy.run_path(str(Path(__file__).with_name("04_train_on_validated_twin.py")))
        example_04["train"](out / "train")
        checkpoint = out / "train" / "checkpoint.pt"
    synthetic = checkpoint.parent / "synthetic-data"  # where example 04 puts its fallback data
    try:
        data = find_dataset_dir("fashion-mnist")
    except DatasetError:
        data = synthetic

    net, state = load_net(checkpoint)
    cfg = MemPropTrainConfig.from_dict(state["config"])
    image = load_dataset(cfg.dataset, "test", data, 1, cfg.image_size).flat()[0]
    for static, name in ((True, "net_static.cir"), (False, "net_mss.cir")):
        text = export_netlist(net, image, static=static)
        (out / name).write_text(text)
        kind = "fixed conductances" if static else "programmed MSS devices"
        print(f"{out / name}: test image 0 with {kind}, {len(text.splitlines())} lines, {len(text) / 1024:.0f} kiB")

    start = time.perf_counter()
    report = verify(checkpoint, SAMPLES, data=data, static=True)
    seconds = time.perf_counter() - start
    print(f"read scale {report['read_scale']:g}: word lines peak at {report['static_check']['v_max_V'] * 1e3:.0f} mV "
          f"(MSS threshold {report['static_check']['v_on_V'] * 1e3:.0f} mV), drift bound "
          f"{report['static_check']['drift_bound'] * 100:.2f} % of the range per sample")
    print(f"labels  {report['labels']}\ntwin    {report['pred_twin']}\nngspice {report['pred_spice']}")
    print(f"twin and ngspice agree on {report['agree']} of {report['samples']} test samples; output membranes "
          f"within {report['rms_V_max'] * 1e3:.2f} mV RMS; ngspice {report['ngspice_wall_s']:.1f} s, "
          f"{seconds:.1f} s in all")
    # one borderline sample may flip between two close membranes; more is a failure
    return 0 if report["agree"] >= report["samples"] - 1 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
