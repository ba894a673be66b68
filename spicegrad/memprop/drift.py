"""How far a read moves the synapses of a MEMprop network: the static-read check.

A trained network's synapses are read by the word-line voltages; a memristor may drift under
them. :func:`static_check` measures that drift along the network's own traces, for the network's
synapse device, and picks the read scale the export uses (:mod:`spicegrad.export`).
"""

from __future__ import annotations

from typing import Any

import torch

from ..devices.mss import mss_rates
from ..devices.pulses import read_limit
from .choices import DEFAULT_SYNAPSE
from .model import MemPropNet, pair_conductance

#: read scales tried (largest first) when the export picks one: ``read_scale="auto"``
READ_SCALES = (1.0, 0.5, 0.2, 0.1, 0.05, 0.02, 0.01)


def static_check(net: MemPropNet, images: torch.Tensor, tolerance: float = 0.01,
                 read_scale: float | str = 1.0) -> dict[str, Any]:
    """Are fixed conductances a fair reading of the synapses for ``images``?

    Device voltages are the word-line voltages (bit lines at 0 V): A_in·p_i·a(t) for the first
    crossbar, the presynaptic membrane for the others. Static reading is called fair when every
    synapse's drift over the sample stays below ``tolerance`` (a fraction of the device's state
    range, of its conductance range for a non-MSS device). ``read_scale`` scales every word-line
    voltage (the export divides the current gain by it, so the neurons see the same currents);
    ``"auto"`` picks the largest of :data:`READ_SCALES` that makes the reading fair (1 if none
    does).

    * **MSS** (the default synapse): the MSS has no hard threshold (its rates are sigmoids of
      width V_T ≈ 26 mV around ±0.27 V), so the check integrates the worst-case rate along the
      actual traces: |Δx| ≤ ∫ max(P_on(v), P_off(v)) dt / tau, per word line, for any state.
      Even at 0 V the Knowm MSS relaxes toward x = 1/2 (rate 2·P(0)/tau ≈ 0.55 /s for the
      network's devices), which no read scale removes.
    * **Any other cell**: (choice) each synapse is started at its programmed state
      ``kind.state_from_conductance(G)`` and stepped with the device's own twin
      (``kind.step``, the network's dt, :attr:`MemPropConfig.synapse_integrator`) under its word
      line's voltage; its drift is the largest |G(t) - G(0)| / (g_max - g_min) over the sample,
      the reported figure the largest over synapses, pairs and images (computed, not bounded:
      the figure holds for these images). A device with hard thresholds (``switching``) whose
      reads all stay inside :func:`spicegrad.devices.pulses.read_limit` does not move: its
      drift is exactly 0. ``inside_read_limit`` says whether every |v| stayed below that limit,
      ``inside_thresholds`` whether every signed v stayed between v_up and v_down (``v_range_V``:
      the signed extremes; a network's membranes swing negative as well as positive). Both are
      statements about voltages; the drift figure is what decides, for a soft threshold too.
      Cost: batch·n_in·n_out·2 device steps per time step for each scale computed to the end
      (the full read voltage and the one returned; the ``"auto"`` search stops a scale at the
      first step past ``tolerance``, smallest layer first). Measured on one core, VTEAM,
      784-100-10, 4 random images, 1000 steps, ``read_scale="auto"``: 53 s with current scale 1
      (no scale is fair), 115 s with 0.05 (fair at 0.05); MSS's bound: 0.6 s.
    """
    cfg = net.cfg
    kind, p = cfg.synapse_kind, cfg.synapse_params
    mss = cfg.synapse == DEFAULT_SYNAPSE
    with torch.no_grad():
        x = images.reshape(images.shape[0], -1)
        rec = net(x, record=True, eager=True)
        env = net.envelope.double()
        lines = [cfg.input_amplitude * x.double()[None] * env[:, None, None]]  # [T, B, n_in]
        lines += [layer.double() for layer in rec["layers"][:-1]]

        by_scale: dict[float, list[float]] = {}  # per-layer figures, computed to the end of the sample

        def at(scale):
            if scale not in by_scale:
                if mss:
                    by_scale[scale] = [_mss_bound(scale * v, p, cfg.dt) for v in lines]
                else:
                    by_scale[scale] = [_stepped_drift(net, layer, scale * v) for layer, v in enumerate(lines)]
            return by_scale[scale]

        def fair(scale):
            """Whether every layer stays below ``tolerance``; a stepped device stops at the
            first layer and step that reaches it (the search needs no more), smallest layer first."""
            if mss or scale in by_scale:
                return max(at(scale)) < tolerance
            out = {}
            for layer in sorted(range(len(lines)), key=lambda k: net.x_pos[k].numel() * lines[k].shape[1]):
                out[layer] = _stepped_drift(net, layer, scale * lines[layer], stop_at=tolerance)
                if out[layer] >= tolerance:
                    return False
            by_scale[scale] = [out[layer] for layer in range(len(lines))]  # every layer ran to the end
            return True

        suggested = next((c for c in READ_SCALES if fair(c)), None)
        if read_scale == "auto":
            read_scale = suggested or 1.0
        bounds = at(read_scale)
        v_full = max(float(v.abs().max()) for v in lines)
        v_lo, v_hi = min(float(v.min()) for v in lines), max(float(v.max()) for v in lines)
    worst = max(bounds)
    out: dict[str, Any] = {"device": cfg.synapse}
    if mss:
        out.update({"v_on_V": p.v_on, "v_off_V": p.v_off})
    switching = tuple(float(s) for s in kind.switching(p)) if kind.declares("switching") else None
    limit = read_limit(kind, p) if switching is not None else None
    v_range = (read_scale * v_lo, read_scale * v_hi)
    out.update({
        "switching_V": switching, "read_limit_V": limit, "v_range_V": v_range,
        "inside_read_limit": None if limit is None else read_scale * v_full < limit,
        "inside_thresholds": None if switching is None else min(switching) < v_range[0] and v_range[1] < max(switching),
        "drift": "worst-case rate bound" if mss else f"{kind.name} twin stepped at the read voltages",
    })
    return {**out, "v_max_V": read_scale * v_full, "drift_bound_per_layer": bounds,
            "drift_bound": worst, "tolerance": tolerance, "static_fair": worst < tolerance,
            "read_scale": read_scale, "suggested_read_scale": suggested,
            "full_voltage": {"v_max_V": v_full, "drift_bound": max(at(1.0))}}


def _mss_bound(v: torch.Tensor, p, dt: float) -> float:
    """∫ max(P_on, P_off) dt / tau along word-line voltages ``v`` [T, B, n_in], the largest
    over lines, capped at 1 (x lies in [0, 1]: no drift exceeds the range)."""
    p_on, p_off, _ = mss_rates(v, p)
    return min(1.0, float((torch.maximum(p_on, p_off).sum(0) * dt / p.tau).max()))


#: steps between the early-stop checks of :func:`_stepped_drift`
_CHECK_EVERY = 16


def _stepped_drift(net: MemPropNet, layer: int, v: torch.Tensor, stop_at: float = 1.0) -> float:
    """Largest |G(t) - G(0)| / (g_max - g_min) of layer ``layer``'s synapses (both of each pair)
    started at their programmed states and stepped by the device twin under word-line voltages
    ``v`` [T, B, n_in] (V, float64). Stepping stops once the figure reaches ``stop_at`` (a
    figure >= ``stop_at`` is then a lower bound); it costs B·n_in·n_out·2 device steps per time
    step."""
    cfg = net.cfg
    kind, p, integrator = cfg.synapse_kind, cfg.synapse_params, cfg.synapse_integrator
    g_min, g_max = net.g_range
    u = torch.stack([net.x_pos[layer].detach(), net.x_neg[layer].detach()], -1).double()  # [n_in, n_out, 2]
    g0 = pair_conductance(u, net.g_range)
    state = torch.as_tensor(kind.state_from_conductance(g0, p), dtype=torch.float64)
    state = state.expand(v.shape[1], *state.shape).clone()  # [B, n_in, n_out, 2]
    g_start = torch.as_tensor(kind.conductance(state, p), dtype=torch.float64)  # G(0) as the device maps it
    worst = torch.zeros_like(state)
    for k in range(v.shape[0]):
        state = kind.step(v[k][:, :, None, None].expand_as(state), state, p, cfg.dt, integrator)
        g = torch.as_tensor(kind.conductance(state, p), dtype=torch.float64)
        worst = torch.maximum(worst, (g - g_start).abs())
        if k % _CHECK_EVERY == _CHECK_EVERY - 1 and float(worst.max()) / (g_max - g_min) >= stop_at:
            break
    return min(1.0, float(worst.max()) / (g_max - g_min))
