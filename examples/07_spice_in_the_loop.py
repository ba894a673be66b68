"""SPICE in the loop: a crossbar layer whose forward pass is ngspice and whose backward is the twin.

1. One ``sg.SpiceCrossbar`` (16 rows, 4 outputs, differential pairs) with the read-out periphery
   only the circuit has (``sg.Periphery``: 1T1R access transistors, TIAs of finite gain and
   swing, 6-bit ADCs): its ngspice outputs against the ideal twin's for the same 8 input
   vectors, and one backward pass (the twin's vector-Jacobian product).
2. The same layer fitted to 8 fixed targets for 40 Adam steps with SPICE in the loop: the loss
   measured in ngspice falls although the twin never sees the transistors, the amplifiers'
   limits or the ADC.

Usage: python examples/07_spice_in_the_loop.py [OUT_DIR]   (default: a temporary folder)
Runtime: about 6 s (2 cores).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

import spicegrad as sg
from spicegrad.crossbar import ADC, TIA, AccessTransistor

STEPS = 40


def main(argv: list[str]) -> int:
    out = Path(argv[0]) if argv else Path(tempfile.mkdtemp(prefix="spicegrad-example-"))
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    periphery = sg.Periphery(access=AccessTransistor(), tia=TIA(r_f=3e3), adc=ADC(bits=6))
    layer = sg.SpiceCrossbar(sg.CrossbarSpec(16, 4), periphery, g_min=1e-6, g_max=1e-4,  # S
                             weight=torch.from_numpy(rng.uniform(-1, 1, (16, 4))))
    v = torch.from_numpy(rng.uniform(0.0, 0.2, (8, 16)))  # row voltages, V
    y_circuit = layer(v)  # ngspice; carries the twin's gradient
    y_twin = layer.twin_outputs(v).detach()
    print(f"periphery: {periphery.describe()}")
    print(f"outputs: circuit vs ideal twin differ by {1e3 * float((y_circuit.detach() - y_twin).abs().max()):.1f} mV at most "
          f"(twin outputs up to {float(y_twin.abs().max()):.3f} V)")
    y_circuit.sum().backward()
    print(f"backward (twin's vjp): weight gradient norm {float(layer.weight.grad.norm()):.3g} V per weight unit")

    target = torch.from_numpy(rng.uniform(-0.2, 0.2, (8, 4)))  # V
    opt = torch.optim.Adam(layer.parameters(), lr=0.2)
    first = None
    for _ in range(STEPS):
        loss = torch.mean((layer(v) - target) ** 2)
        first = float(loss.detach()) if first is None else first
        opt.zero_grad()
        loss.backward()
        opt.step()
    last = float(torch.mean((layer.circuit_outputs(v) - target) ** 2))
    print(f"in-circuit mean squared error: {1e6 * first:.0f} -> {1e6 * last:.0f} mV² after {STEPS} steps "
          f"({layer.circuit.timing.runs} ngspice runs, {layer.circuit.timing.ngspice_s:.1f} s)")
    np.save(out / "weights.npy", layer.weight.detach().numpy())
    return 0 if last < 0.5 * first else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
