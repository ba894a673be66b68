"""How far a read moves the MSS synapses of a MEMprop network: the static-read check.

A trained network's synapses are read by the word-line voltages; the MSS device drifts under
them. :func:`static_check` bounds that drift along the network's own traces, and picks the read
scale the export uses (:mod:`spicegrad.export`).
"""

from __future__ import annotations

from typing import Any

import torch

from ..devices.mss import mss_rates
from .model import MemPropNet

#: read scales tried (largest first) when the export picks one: ``read_scale="auto"``
READ_SCALES = (1.0, 0.5, 0.2, 0.1, 0.05, 0.02, 0.01)


def static_check(net: MemPropNet, images: torch.Tensor, tolerance: float = 0.01,
                 read_scale: float | str = 1.0) -> dict[str, Any]:
    """Are fixed conductances a fair reading of the synapses for ``images``?

    Device voltages are the word-line voltages (bit lines at 0 V): A_in·p_i·a(t) for the first
    crossbar, the presynaptic membrane for the others. The MSS has no hard threshold (its rates
    are sigmoids of width V_T ≈ 26 mV around ±0.27 V), so the check integrates the worst-case
    rate along the actual traces: |Δx| ≤ ∫ max(P_on(v), P_off(v)) dt / tau, per word line.
    Static reading is called fair when that bound stays below ``tolerance`` for every line.
    ``read_scale`` scales every word-line voltage (the export divides the current gain by it, so
    the neurons see the same currents); ``"auto"`` picks the largest of :data:`READ_SCALES` that
    makes the reading fair (1 if none does). Even at 0 V the Knowm MSS relaxes toward x = 1/2
    (rate 2·P(0)/tau ≈ 0.55 /s for the network's devices), which no read scale removes.
    """
    p = net.cfg.synapse_params
    with torch.no_grad():
        x = images.reshape(images.shape[0], -1)
        rec = net(x, record=True, eager=True)
        env = net.envelope.double()
        lines = [net.cfg.input_amplitude * x.double()[None] * env[:, None, None]]  # [T, B, n_in]
        lines += [layer.double() for layer in rec["layers"][:-1]]

        def bounds_at(scale):
            out = []
            for v in lines:
                p_on, p_off, _ = mss_rates(scale * v, p)
                rate_integral = float((torch.maximum(p_on, p_off).sum(0) * net.cfg.dt / p.tau).max())
                out.append(min(1.0, rate_integral))  # x lies in [0, 1]: no drift exceeds the range
            return out

        by_scale = {c: bounds_at(c) for c in READ_SCALES}
        suggested = next((c for c in READ_SCALES if max(by_scale[c]) < tolerance), None)
        if read_scale == "auto":
            read_scale = suggested or 1.0
        bounds = by_scale.get(read_scale) or bounds_at(read_scale)
        v_full = max(float(v.abs().max()) for v in lines)
    worst = max(bounds)
    return {"v_max_V": read_scale * v_full, "v_on_V": p.v_on, "v_off_V": p.v_off, "drift_bound_per_layer": bounds,
            "drift_bound": worst, "tolerance": tolerance, "static_fair": worst < tolerance,
            "read_scale": read_scale, "suggested_read_scale": suggested,
            "full_voltage": {"v_max_V": v_full, "drift_bound": max(by_scale[1.0])}}
